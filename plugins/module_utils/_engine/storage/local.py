# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local directory backend.

Every file is written with fsio.write_atomic (temp file, fsync, rename) and is
mode 0600; every directory this backend creates is 0700.

Locks are JSON records {owner, expires, ...} in <root>/locks/<name>.lock. Each
check-and-replace of a record runs under an exclusive flock on
<root>/locks/.guard, so two processes can never both see a lock as free (or
as expired) and both take it. The flock is held for milliseconds and is
dropped by the kernel if its process dies; the record itself outlives the
process (a lock is taken in one Ansible task and released in a later one) and
is treated as free once its expiry has passed, so a crashed holder never
blocks renewals for longer than its TTL.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import stat
import time
from typing import Iterator, List

from .. import fsio
from ..errors import EngineError, InputError, LockError, StorageError
from .base import (RESERVED_TOP, Lock, LockState, ObjectStat, Storage, check_key, check_prefix, lock_record,
                   parse_lock_record, public_holder)

try:
    import fcntl
    HAVE_FLOCK = True
except ImportError:  # not POSIX; the backend reports it when a lock is used
    HAVE_FLOCK = False

DIR_MODE = 0o700
FILE_MODE = 0o600


class LocalStorage(Storage):
    kind = "local"

    def __init__(self, local_path: str | None = None) -> None:
        if not local_path:
            raise InputError("local_path", "is required for backend local")
        self.root = os.path.abspath(os.path.expanduser(local_path))
        # Checked now, created only by the first write: state=info and check mode create nothing.
        existing = self.root
        while not os.path.lexists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise InputError("local_path", "%s exists and is not a directory" % existing)
        if existing != self.root and not os.access(existing, os.W_OK | os.X_OK):
            raise InputError("local_path", "cannot create %s: %s is not writable by this user" % (self.root, existing))
        if existing == self.root and not os.access(self.root, os.R_OK | os.X_OK):
            raise InputError("local_path", "%s is not readable by this user" % self.root)
        self.lock_dir = os.path.join(self.root, RESERVED_TOP)

    def describe(self) -> str:
        return "local:%s" % self.root

    # ---- paths ------------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        return os.path.join(self.root, *key.split("/"))

    def _ensure_root(self) -> None:
        if os.path.isdir(self.root):
            return
        try:
            os.makedirs(os.path.dirname(self.root), exist_ok=True)
            os.mkdir(self.root, DIR_MODE)
            os.chmod(self.root, DIR_MODE)
        except FileExistsError:
            pass
        except OSError as exc:
            raise InputError("local_path", "cannot create %s: %s" % (self.root, exc.strerror)) from None

    def _makedirs(self, directory: str) -> None:
        """Create directory and its missing parents below root, each 0700 whatever the umask."""
        self._ensure_root()
        missing = []
        while directory != self.root and not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for path in reversed(missing):
            try:
                os.mkdir(path, DIR_MODE)
                os.chmod(path, DIR_MODE)
            except FileExistsError:
                pass

    def _prune_empty_dirs(self, directory: str) -> None:
        while directory.startswith(self.root + os.sep) and directory != self.lock_dir:
            try:
                os.rmdir(directory)
            except OSError:
                return
            directory = os.path.dirname(directory)

    def _write(self, path: str, data: bytes) -> None:
        for attempt in range(3):
            try:
                self._makedirs(os.path.dirname(path))
                fsio.write_atomic(fsio.FileSpec(path, data, FILE_MODE), dir_mode=DIR_MODE)
                return
            except (EngineError, OSError) as exc:
                # A concurrent delete may have pruned the (then empty) directory; recreate it once more.
                if attempt == 2 or os.path.isdir(os.path.dirname(path)):
                    raise StorageError("cannot write %s: %s" % (path, getattr(exc, "msg", None) or exc),
                                       path=path) from None

    # ---- objects ----------------------------------------------------------------------------

    def store(self, key: str, data: bytes, private: bool = False) -> None:
        check_key(key)
        self._write(self._path(key), data)

    def load(self, key: str) -> bytes | None:
        check_key(key)
        path = self._path(key)
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        except OSError as exc:
            raise StorageError("cannot read %s: %s" % (path, exc.strerror), path=path) from None

    def delete(self, key: str) -> None:
        check_key(key)
        path = self._path(key)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise StorageError("cannot delete %s: %s" % (path, exc.strerror), path=path) from None
        self._prune_empty_dirs(os.path.dirname(path))

    def delete_tree(self, prefix: str) -> None:
        check_key(prefix.rstrip("/"))
        path = self._path(prefix.rstrip("/"))
        try:
            shutil.rmtree(path)  # also removes temp files a killed writer may have left
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError("cannot delete %s: %s" % (path, exc.strerror), path=path) from None
        self._prune_empty_dirs(os.path.dirname(path))

    def list(self, prefix: str = "", recursive: bool = True) -> List[str]:
        prefix = check_prefix(prefix)
        dir_part, _slash, partial = prefix.rpartition("/")
        base = self._path(dir_part) if dir_part else self.root
        found = []
        try:
            entries = sorted(os.listdir(base))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise StorageError("cannot list %s: %s" % (base, exc.strerror), path=base) from None
        for entry in entries:
            if entry.startswith(".") or not entry.startswith(partial) or (not dir_part and entry == RESERVED_TOP):
                continue
            rel = "%s/%s" % (dir_part, entry) if dir_part else entry
            full = os.path.join(base, entry)
            if os.path.isdir(full):
                if not recursive:
                    found.append(rel + "/")
                    continue
                for dirpath, dirnames, filenames in os.walk(full):
                    dirnames[:] = [d for d in dirnames if not d.startswith(".")]
                    sub = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
                    found.extend("%s/%s" % (sub, name) for name in filenames if not name.startswith("."))
            else:
                found.append(rel)
        return sorted(found)

    def stat(self, key: str) -> ObjectStat | None:
        check_key(key)
        try:
            st = os.stat(self._path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return ObjectStat(key=key, size=st.st_size, modified=st.st_mtime)

    # ---- locks ------------------------------------------------------------------------------

    def _lock_path(self, name: str) -> str:
        return os.path.join(self.lock_dir, *name.split("/")) + ".lock"

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        if not HAVE_FLOCK:
            raise LockError("the local backend needs fcntl.flock (POSIX) for locks")
        self._makedirs(self.lock_dir)
        guard = os.path.join(self.lock_dir, ".guard")
        try:
            fd = os.open(guard, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise StorageError("cannot open %s: %s" % (guard, exc.strerror), path=guard) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the flock

    def _read_record(self, path: str) -> tuple[dict | None, float]:
        """(record, mtime) of a lock file; (None, 0.0) when there is none."""
        try:
            with open(path, "rb") as handle:
                data = handle.read()
            return parse_lock_record(data), os.stat(path).st_mtime
        except (FileNotFoundError, NotADirectoryError):
            return None, 0.0
        except OSError as exc:
            raise StorageError("cannot read %s: %s" % (path, exc.strerror), path=path) from None

    @staticmethod
    def _expiry(record: dict, mtime: float, ttl: float) -> float:
        try:
            return float(record["expires"])
        except (KeyError, TypeError, ValueError):
            return mtime + ttl  # unreadable record: treat it as a lock of the requested TTL

    def _try_lock(self, name: str, ttl: float, owner: str) -> Lock | LockState:
        path = self._lock_path(name)
        with self._guard():
            record, mtime = self._read_record(path)
            now = time.time()
            if record is not None and record.get("owner") != owner:
                expires = self._expiry(record, mtime, ttl)
                if now < expires:
                    return LockState(name, True, expires, public_holder(record), record.get("owner"))
            expires = now + ttl
            try:
                self._makedirs(os.path.dirname(path))
                fsio.write_atomic(fsio.FileSpec(path, lock_record(owner, ttl, expires), FILE_MODE),
                                  dir_mode=DIR_MODE)
            except (EngineError, OSError) as exc:
                raise StorageError("cannot write lock %s: %s" % (path, getattr(exc, "msg", None) or exc),
                                   path=path) from None
        return Lock(name=name, owner=owner, expires=expires, ttl=ttl, backend=self.kind)

    def _release(self, name: str, owner: str) -> bool:
        path = self._lock_path(name)
        with self._guard():
            record, _mtime = self._read_record(path)
            if record is None:
                return False
            if record.get("owner") != owner:
                raise LockError("lock %r on %s is held by another owner (it expired and was taken over, or the "
                                "token is wrong); not released" % (name, self.describe()),
                                lock=LockState(name, True, record.get("expires"), public_holder(record)).to_result())
            try:
                os.unlink(path)
            except FileNotFoundError:
                return False
            except OSError as exc:
                raise StorageError("cannot remove lock %s: %s" % (path, exc.strerror), path=path) from None
            self._prune_empty_dirs(os.path.dirname(path))   # under the guard: no writer is creating it now
        return True

    def lock_state(self, name: str) -> LockState:
        check_key(name, "name")
        record, mtime = self._read_record(self._lock_path(name))
        if record is None:
            return LockState(name, False)
        expires = self._expiry(record, mtime, 0)
        return LockState(name, time.time() < expires, expires, public_holder(record), record.get("owner"))
