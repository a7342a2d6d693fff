# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file writes: temp file in the target directory, fsync, rename.

A reader never sees a half-written file, and a private key is never readable by
others: the temp file is created 0600 and only then given its final mode.

Symlinks: modes and owners are only ever set on file descriptors of files this
module created (never through a path that could be a symlink). A directory
component of a target path that is a symlink is refused unless it is trusted -
owned by root or by us, in a directory only its owner may write (system links
such as /var/run) - or the caller passes follow_symlinks=True: someone who can
write a webroot must not be able to redirect our writes elsewhere.
Directories created here for private keys are 0700 (0750 when a group is given).
"""
from __future__ import annotations

import grp
import os
import pwd
import tempfile
from dataclasses import dataclass
from typing import Callable, Union

from .errors import EngineError, InputError

# a user or group: a name, a numeric id (int or digits), or None / "" for the process's own
IdValue = Union[int, str, None]
KEY_MODE = 0o600
PUBLIC_MODE = 0o644
DIR_MODE = 0o755
KEY_DIR_MODE = 0o700
KEY_DIR_GROUP_MODE = 0o750


@dataclass
class FileSpec:
    """One file to write: where, what, and with which permissions."""
    path: str
    content: bytes
    mode: int = PUBLIC_MODE
    owner: int | None = None  # uid; None keeps the process's
    group: int | None = None  # gid


def uid_of(value: IdValue, field: str = "owner") -> int | None:
    """A user name or numeric uid as a uid; None or "" keeps the default."""
    return _id_of(value, field, lambda name: pwd.getpwnam(name).pw_uid)


def gid_of(value: IdValue, field: str = "group") -> int | None:
    """A group name or numeric gid as a gid; None or "" keeps the default."""
    return _id_of(value, field, lambda name: grp.getgrnam(name).gr_gid)


def _id_of(value: IdValue, field: str, lookup: Callable[[str], int]) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    try:
        return lookup(value)
    except KeyError:
        raise InputError(field, "no such user or group %r" % value) from None


def mode_of(value: int | str | None, field: str, default: int | None = None) -> int:
    """An octal mode given as '0644' (or an int) as a number, checked."""
    if value is None or value == "":
        if default is None:
            raise InputError(field, "a file mode is required")
        return default
    try:
        mode = value if isinstance(value, int) else int(str(value), 8)
    except ValueError:
        raise InputError(field, "must be an octal mode such as '0644', got %r" % (value,)) from None
    if not 0 <= mode <= 0o7777:
        raise InputError(field, "%o is not a file mode" % mode)
    return mode


def read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (FileNotFoundError, NotADirectoryError):
        return None


def needs_write(spec: FileSpec, content_matches: Callable[[bytes], bool] | None = None) -> bool:
    """True when the file is missing or differs in content, mode or ownership.

    content_matches(data) judges the content instead of a comparison with spec.content, for a
    caller that knows only a digest of what the file must hold.
    """
    try:
        st = os.stat(spec.path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    if (st.st_mode & 0o7777) != spec.mode:
        return True
    if spec.owner is not None and st.st_uid != spec.owner:
        return True
    if spec.group is not None and st.st_gid != spec.group:
        return True
    data = read_bytes(spec.path)
    if data is None:
        return True
    return not content_matches(data) if content_matches is not None else data != spec.content


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _trusted_link(path: str) -> bool:
    """A symlink owned by root (or us) whose directory only its owner can write: part of the system's layout."""
    try:
        link = os.lstat(path)
        parent = os.stat(os.path.dirname(path) or "/")
    except OSError:
        return False
    return link.st_uid in (0, os.geteuid()) and parent.st_uid in (0, os.geteuid()) and not parent.st_mode & 0o022


def check_no_symlinks(path: str, field: str = "path", follow_symlinks: bool = False) -> None:
    """Refuse path when one of its existing components (the last one included) is an untrusted symlink."""
    if follow_symlinks:
        return
    current = "/"
    for part in os.path.abspath(path).split("/")[1:]:
        if not part:
            continue
        current = os.path.join(current, part)
        try:
            is_link = os.path.islink(current)
        except OSError:
            return
        if not is_link:
            if not os.path.lexists(current):
                return   # the rest does not exist yet: we create it
            continue
        if not _trusted_link(current):
            raise InputError(field, "%s is a symlink (to %s) that this run did not create; refusing to write through "
                                    "it (set follow_symlinks: true to allow it)" % (current, os.readlink(current)))


def ensure_dir(directory: str, mode: int = DIR_MODE, field: str = "path", follow_symlinks: bool = False) -> list:
    """Create directory and its missing parents with mode (umask aside), refusing untrusted symlinks on the way.

    Returns the directories created. Modes are set through descriptors of the directories we made.
    """
    check_no_symlinks(directory, field, follow_symlinks)
    missing = []
    current = os.path.abspath(directory)
    while not os.path.lexists(current):
        missing.append(current)
        current = os.path.dirname(current)
    if not os.path.isdir(current):
        raise InputError(field, "cannot write under %s: it is not a directory" % current)
    created = []
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            check_no_symlinks(path, field, follow_symlinks)   # another process made it meanwhile
            continue
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        created.append(path)
    return created


def _stage(spec: FileSpec, dir_mode: int, follow_symlinks: bool = False) -> str:
    """Write spec to a temp file beside its target and return the temp path."""
    directory = os.path.dirname(os.path.abspath(spec.path))
    ensure_dir(directory, dir_mode, "path", follow_symlinks)
    if os.path.islink(spec.path) and not follow_symlinks:
        raise InputError("path", "%s is a symlink; refusing to replace it (set follow_symlinks: true to allow it)"
                         % spec.path)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(spec.path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(spec.content)
            handle.flush()
            os.fsync(handle.fileno())
            # on the descriptor of the file we just created: never through a symlink
            if spec.owner is not None or spec.group is not None:
                os.fchown(handle.fileno(), -1 if spec.owner is None else spec.owner,
                          -1 if spec.group is None else spec.group)
            os.fchmod(handle.fileno(), spec.mode)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return tmp


def dir_mode_for(specs: list) -> int:
    """0700 for directories that will hold a private key (0750 when a group is given), else 0755."""
    private = [spec for spec in specs if not spec.mode & 0o044]
    if not private:
        return DIR_MODE
    return KEY_DIR_GROUP_MODE if any(spec.group is not None for spec in private) else KEY_DIR_MODE


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def write_atomic(spec: FileSpec, dir_mode: int | None = None, follow_symlinks: bool = False) -> bool:
    """Write one file atomically; return True when something changed."""
    return bool(write_together([spec], dir_mode=dir_mode, follow_symlinks=follow_symlinks))


def write_together(specs: list, dir_mode: int | None = None, follow_symlinks: bool = False) -> list:
    """Write several files as one switch; return the paths that changed.

    Every file is staged and fsynced before the first rename, so the renames
    that swap, say, a key and its certificate follow each other immediately.
    If a rename fails, the files already switched are put back as they were.
    """
    for spec in specs:
        check_no_symlinks(spec.path, "path", follow_symlinks)
    changed = [spec for spec in specs if needs_write(spec)]
    if not changed:
        return []
    if dir_mode is None:
        dir_mode = dir_mode_for(specs)
    staged = []
    try:
        for spec in changed:
            staged.append((_stage(spec, dir_mode, follow_symlinks), spec.path))
    except InputError:
        for tmp, _target in staged:
            _unlink_quietly(tmp)
        raise
    except OSError as exc:
        for tmp, _target in staged:
            _unlink_quietly(tmp)
        raise EngineError("cannot write %s: %s" % (exc.filename or "file", exc.strerror or exc),
                          path=exc.filename) from exc
    backups = []   # (backup path or None, target)
    try:
        for tmp, target in staged:
            backup = None
            if os.path.exists(target):
                backup = tmp + ".old"
                os.link(target, backup)  # keeps the old content reachable for a rollback
            backups.append((backup, target))
            os.rename(tmp, target)
    except OSError as exc:
        for backup, target in reversed(backups):
            if backup and os.path.samefile(backup, target):
                _unlink_quietly(backup)  # never replaced (rename of a hard link onto itself is a no-op)
            elif backup:
                os.rename(backup, target)
            else:
                _unlink_quietly(target)
        for tmp, _target in staged:
            _unlink_quietly(tmp)
        raise EngineError("cannot replace %s: %s" % (exc.filename or "file", exc.strerror or exc),
                          path=exc.filename) from exc
    for backup, _target in backups:
        if backup:
            _unlink_quietly(backup)
    for directory in sorted({os.path.dirname(os.path.abspath(target)) for _tmp, target in staged}):
        _fsync_dir(directory)
    return [spec.path for spec in changed]
