# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The control node's pending area: what the CA issued that storage does not hold yet.

Issued means kept. Before an order is finalized, its URL and the private key of
its CSR are written here; the downloaded certificate follows before anything
else can fail (writing outputs, storing, deploying). The next run stores what
it finds here instead of ordering again, or resumes the download from the
order URL. An entry is removed once storage holds its certificate.

The same area keeps what storage is owed when it could not be reached: failed
attempts to record and locks to release (the journal), settled by the next
run that reaches storage.

Layout, all directories 0700 and files 0600, every write atomic:
    <pending_dir>/<directory slug>/<name>/order.json     order URL, identifiers, serial when issued
    <pending_dir>/<directory slug>/<name>/privkey.pem    the key of the order's CSR
    <pending_dir>/<directory slug>/<name>/{cert,chain,fullchain}.pem   once downloaded
    <pending_dir>/<directory slug>/journal.json          owed attempt records and lock releases
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from typing import Any, Callable, Iterator

from . import layout, runs
from .errors import EngineError, InputError, StorageError
from .fsio import FileSpec, read_bytes, write_together
from .timefmt import iso_epoch
from .storage.bundles import directory_slug, validate_name

DIR_MODE = 0o700
FILE_MODE = 0o600
ORDER = "order.json"
KEY = layout.KEY_FILE
JOURNAL = "journal.json"
CERT_PARTS = ("certificate", "chain", "fullchain")
CERT_FILES = tuple(layout.FILE_OF[part] for part in CERT_PARTS)
STAGING_PREFIX = "autotls-"
_STAGING_NAME = re.compile(r"^autotls-[a-z0-9]{16}$")
MAX_JOURNAL = 1000

try:
    import fcntl
    HAVE_FLOCK = True
except ImportError:  # not POSIX
    HAVE_FLOCK = False


def _private_dir(path: str, field: str) -> str:
    path = os.path.abspath(os.path.expanduser(path))
    try:
        os.makedirs(path, mode=DIR_MODE, exist_ok=True)
        if os.path.islink(path) or not os.path.isdir(path):
            raise InputError(field, "%s is not a directory" % path)
        st = os.stat(path)
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(path, DIR_MODE)
    except OSError as exc:
        raise InputError(field, "cannot create %s: %s" % (path, exc.strerror)) from None
    return path


class PendingArea:
    """Pending certificates and the storage journal of one ACME directory under pending_dir."""

    def __init__(self, pending_dir: str, directory_url: str):
        if not pending_dir:
            raise InputError("pending_dir", "is required")
        self.root = _private_dir(pending_dir, "pending_dir")
        self.base = _private_dir(os.path.join(self.root, directory_slug(directory_url)), "pending_dir")

    def _dir(self, name: str) -> str:
        return os.path.join(self.base, validate_name(name))

    def _write(self, name: str, files: dict) -> None:
        directory = self._dir(name)
        try:
            if not os.path.isdir(directory):
                os.mkdir(directory, DIR_MODE)
            write_together([FileSpec(os.path.join(directory, fname), data, FILE_MODE) for fname, data in files.items()],
                           dir_mode=DIR_MODE)
        except (OSError, EngineError) as exc:
            raise EngineError("cannot write the pending area %s: %s" % (directory, getattr(exc, "msg", exc)),
                              path=directory) from None

    # ---- certificates ------------------------------------------------------------------------

    def save_order(self, name: str, order_url: str, key_pem: bytes | None, identifiers: list) -> None:
        """Before finalizing: the order URL and the key of its CSR (None: the caller's own CSR)."""
        record = {"order_url": order_url, "identifiers": list(identifiers), "saved_at": _now(), "issued": False}
        files = {ORDER: _json(record)}
        if key_pem is not None:
            files[KEY] = key_pem
        self._write(name, files)

    def save_issued(self, name: str, order_url: str, certificate: bytes, chain: bytes, fullchain: bytes,
                    serial: str, not_after: str, identifiers: list) -> None:
        """Right after the download, before anything else may fail."""
        record = self.order(name) or {}
        if record.get("order_url") != order_url:
            record = {"order_url": order_url, "identifiers": list(identifiers), "saved_at": _now()}
        record.update(issued=True, serial=serial, not_after=not_after, issued_at=_now())
        files = dict(zip(CERT_FILES, (certificate, chain, fullchain)))
        self._write(name, dict(files, **{ORDER: _json(record)}))

    def order(self, name: str) -> dict | None:
        raw = read_bytes(os.path.join(self._dir(name), ORDER))
        if not raw:
            return None
        try:
            record = json.loads(raw.decode())
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def key(self, name: str) -> bytes | None:
        return read_bytes(os.path.join(self._dir(name), KEY))

    def issued(self, name: str) -> dict | None:
        """{order, private_key, certificate, chain, fullchain} of a downloaded certificate, or None."""
        record = self.order(name)
        if not record or not record.get("issued"):
            return None
        parts = {part: read_bytes(os.path.join(self._dir(name), layout.FILE_OF[part])) for part in CERT_PARTS}
        key = self.key(name)
        if key is None or parts["certificate"] is None:
            return None
        return {"order": record, "private_key": key, "certificate": parts["certificate"],
                "chain": parts["chain"] or b"", "fullchain": parts["fullchain"] or parts["certificate"]}

    def names(self) -> list:
        try:
            entries = os.listdir(self.base)
        except FileNotFoundError:
            return []
        return sorted(entry for entry in entries
                      if os.path.isfile(os.path.join(self.base, entry, ORDER)) and not entry.startswith("."))

    def describe(self) -> list:
        """Public view of every entry (never key material)."""
        out = []
        for name in self.names():
            record = self.order(name) or {}
            out.append({"name": name, "order_url": record.get("order_url"), "issued": bool(record.get("issued")),
                        "serial": record.get("serial"), "not_after": record.get("not_after"),
                        "saved_at": record.get("saved_at"), "identifiers": record.get("identifiers", [])})
        return out

    def remove(self, name: str, serial: str | None = None) -> bool:
        """Remove name's entry (only if it holds serial, when given)."""
        record = self.order(name)
        if record is None:
            return False
        if serial is not None and record.get("serial") != serial:
            return False
        shutil.rmtree(self._dir(name), ignore_errors=True)
        return True

    # ---- what storage is owed ----------------------------------------------------------------

    @contextlib.contextmanager
    def _journal_lock(self) -> Iterator[None]:
        path = os.path.join(self.base, ".journal.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            if HAVE_FLOCK:
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def owed(self, where: str) -> int:
        """How many writes storage `where` is owed."""
        return len([entry for entry in self._read_journal() if entry.get("storage") == where])

    def _read_journal(self) -> list:
        raw = read_bytes(os.path.join(self.base, JOURNAL))
        try:
            entries = json.loads(raw.decode()) if raw else []
        except ValueError:
            entries = []
        return entries if isinstance(entries, list) else []

    def owe(self, entries: list) -> None:
        """Remember storage operations that could not be done (attempt records, lock releases)."""
        if not entries:
            return
        with self._journal_lock():
            journal = (self._read_journal() + [dict(entry, owed_at=_now()) for entry in entries])[-MAX_JOURNAL:]
            write_together([FileSpec(os.path.join(self.base, JOURNAL), _json(journal), FILE_MODE)], dir_mode=DIR_MODE)

    def settle(self, where: str, apply: Callable[[dict], Any]) -> dict:
        """Apply every owed entry of storage `where` with apply(entry); keep those that fail again."""
        done, kept = [], []
        with self._journal_lock():
            journal = self._read_journal()
            if not journal:
                return {"settled": [], "owed": []}
            for entry in journal:
                if entry.get("storage") != where:
                    kept.append(entry)
                    continue
                try:
                    apply(entry)
                    done.append(entry)
                except StorageError:
                    kept.append(entry)
                except EngineError:
                    done.append(dict(entry, dropped=True))   # refused for good (for example a lock taken over)
            write_together([FileSpec(os.path.join(self.base, JOURNAL), _json(kept), FILE_MODE)], dir_mode=DIR_MODE)
        return {"settled": done, "owed": [entry for entry in kept if entry.get("storage") == where]}


def stale_staging(base: str, max_age: float, now: float | None = None) -> list:
    """This collection's per-run staging directories under base (autotls-<16 chars>) that runs killed before
    their cleanup left behind (keys!): stale at once when the run named in its .run.json is gone
    (runs.is_gone), else when nothing changed in it for max_age seconds and its run is not this one."""
    now = now or time.time()
    stale: list[str] = []
    try:
        entries = os.listdir(base)
    except OSError:
        return stale
    for entry in entries:
        if not _STAGING_NAME.match(entry):
            continue
        path = os.path.join(base, entry)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if not os.path.isdir(path) or os.path.islink(path) or st.st_uid != os.getuid():
            continue
        owner = _run_of(path)
        if owner is not None and owner == runs.run_identity():
            continue   # this run's own
        if not runs.is_gone(owner) and now - _newest_mtime(path, st.st_mtime) < max_age:
            continue
        stale.append(path)
    return sorted(stale)


def sweep_staging(base: str, max_age: float, now: float | None = None) -> list:
    """Remove the stale staging directories under base (see stale_staging); rmtree never follows symlinks."""
    removed = stale_staging(base, max_age, now)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed


def _run_of(path: str) -> Any:
    raw = read_bytes(os.path.join(path, ".run.json"))
    try:
        return json.loads(raw.decode()) if raw else None
    except ValueError:
        return None


def _newest_mtime(path: str, newest: float) -> float:
    for dirpath, dirnames, filenames in os.walk(path):
        for entry in dirnames + filenames:
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, entry)).st_mtime)
            except OSError:
                pass
    return newest


def _now() -> str:
    return iso_epoch(time.time())


def _json(value: object) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True) + "\n").encode()
