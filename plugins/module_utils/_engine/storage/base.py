# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage interface every backend implements, on opaque keys.

A key is a relative path of components separated by "/" (for example
"certs/<slug>/<name>/current.json"). Each component is checked here before a
backend turns the key into a file path, an object key or a Redis key, so a
backend never sees "..", an absolute path or a control character.

The first component "locks" is reserved: every backend keeps its lock
records there (on S3 that is the only prefix the documented IAM policy lets
the backend delete under).

The lock contract (what a backend implements, what lock() adds on top):
  * _try_lock(name, ttl, owner): one attempt, atomic on the backend: create the
    record, or replace it when it is expired or already owner's (an extension);
    otherwise return the LockState of the holder, with the holder's owner token
    in LockState.owner (internal: never returned to callers).
  * _release(name, owner): remove the record only if owner holds it.
  * lock_state(name): the record as it is, owner token included.
  * the record body is lock_record(): owner token, ttl, expiry, host, pid, user
    and the identity of the ansible-playbook run holding it (runs.run_identity).
lock() waits for a held lock, and takes over at once a lock whose holding run
is gone (same machine, no process of it left: runs.is_gone) by releasing it
with the holder's token; break_lock() is the operator's way to do the same for
a lock whose holder cannot be checked from here.
Backends bound every network call (connect and read timeouts, retries within
a deadline), so no operation hangs; see each backend's TIMEOUT constants.
"""
from __future__ import annotations

import abc
import datetime
import email.utils
import getpass
import hashlib
import json
import os
import random
import re
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import List

from .. import runs
from ..errors import InputError, LockError
from ..timefmt import epoch_of, iso_epoch

RESERVED_TOP = "locks"
MAX_KEY_LENGTH = 900           # S3 allows 1024 bytes; leave room for a prefix
_COMPONENT = re.compile(r"^[A-Za-z0-9_*@+=,~][A-Za-z0-9._*@+=,~-]*$")
MIN_TTL = 1.0
MAX_TTL = 7 * 86400.0


def check_key(key: str, field_name: str = "key", allow_reserved: bool = False) -> str:
    """Return key when it is a safe relative key; raise InputError naming field_name otherwise."""
    if not isinstance(key, str) or not key:
        raise InputError(field_name, "must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InputError(field_name, "is longer than %d characters" % MAX_KEY_LENGTH)
    for component in key.split("/"):
        if not component:
            raise InputError(field_name, "%r has an empty path component (leading, trailing or double '/')" % key)
        if ".." in component:
            raise InputError(field_name, "%r contains '..'" % key)
        if not _COMPONENT.match(component):
            raise InputError(field_name, "%r contains a character that is not allowed in a storage key" % key)
    if not allow_reserved and key.split("/", 1)[0] == RESERVED_TOP:
        raise InputError(field_name, "%r is under the reserved prefix %r/" % (key, RESERVED_TOP))
    return key


def check_prefix(prefix: str, field_name: str = "prefix") -> str:
    """A listing prefix: '' (everything) or a key, optionally ending in '/'."""
    if prefix in ("", None):
        return ""
    check_key(prefix.rstrip("/"), field_name)
    return prefix


def listed(keys: List[str]) -> List[str]:
    """Keys as a listing returns them: sorted, without the reserved lock area (check_prefix never lets a
    listing start inside it, so it is never asked for)."""
    return sorted(key for key in keys if key.split("/", 1)[0] != RESERVED_TOP)


def new_token() -> str:
    """An owner token: unguessable, URL- and file-safe."""
    return secrets.token_urlsafe(18)


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return iso_epoch(epoch)


def holder_identity() -> dict:
    """Who holds a lock, for messages: host, pid and user, never the token."""
    identity = {"host": socket.gethostname(), "pid": os.getpid()}
    try:
        identity["user"] = getpass.getuser()
    except (KeyError, OSError):
        pass
    return identity


@dataclass
class Lock:
    """A held lock. owner is the token that releases it; expires is epoch seconds."""
    name: str
    owner: str
    expires: float
    ttl: float
    backend: str = ""

    def to_result(self) -> dict:
        return {"name": self.name, "token": self.owner, "expires": iso(self.expires), "ttl": self.ttl,
                "backend": self.backend}


@dataclass
class ObjectStat:
    key: str
    size: int
    modified: float | None = None  # epoch seconds, when the backend knows it
    etag: str | None = None


@dataclass
class LockState:
    """What is known about a lock record without holding it.

    owner is the holder's token: internal, so that lock() can release the lock of
    a run that is gone; to_result() never includes it (only a short fingerprint)."""
    name: str
    held: bool
    expires: float | None = None
    holder: dict = field(default_factory=dict)
    owner: str | None = field(default=None, repr=False)

    def to_result(self) -> dict:
        result = {"name": self.name, "held": self.held, "expires": iso(self.expires)}
        result.update({k: v for k, v in self.holder.items() if k in ("host", "pid", "user", "acquired")})
        run = self.holder.get("run")
        if isinstance(run, dict) and run.get("pid"):
            result["run_pid"] = run["pid"]
        acquired = epoch_of(self.holder.get("acquired"))
        if acquired is not None:
            result["age_seconds"] = max(0, int(time.time() - acquired))
        if self.owner:
            result["owner"] = owner_fingerprint(self.owner)
        return result


def owner_fingerprint(owner: str) -> str:
    """Names an owner token in messages without revealing it (the token releases the lock)."""
    return "sha256:" + hashlib.sha256(owner.encode()).hexdigest()[:12]


def check_ttl(ttl: float | str, field_name: str = "lock_ttl") -> float:
    try:
        seconds = float(ttl)
    except (TypeError, ValueError):
        raise InputError(field_name, "must be a number of seconds") from None
    if not MIN_TTL <= seconds <= MAX_TTL:
        raise InputError(field_name, "must be between %d and %d seconds" % (MIN_TTL, MAX_TTL))
    return seconds


class Storage(abc.ABC):
    """Primitive operations on opaque keys. Implementations raise StorageError for backend failures."""

    kind = "abstract"
    #: False when the backend must not delete data objects (S3 under the documented IAM policy).
    deletes_data = True
    #: how lock() waits; tests replace both with a fake clock that the fake sleep advances
    clock = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)

    # ---- objects ---------------------------------------------------------------------------

    @abc.abstractmethod
    def store(self, key: str, data: bytes, private: bool = False) -> None:
        """Write data at key atomically (a reader sees the old or the new content, never a mix)."""

    @abc.abstractmethod
    def load(self, key: str) -> bytes | None:
        """The content at key, or None when it does not exist."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove key; no error when it does not exist."""

    @abc.abstractmethod
    def list(self, prefix: str = "", recursive: bool = True) -> List[str]:
        """Keys under prefix, sorted. Not recursive: the immediate children, sub-prefixes ending in '/'."""

    @abc.abstractmethod
    def stat(self, key: str) -> ObjectStat | None:
        """Size (and, when known, modification time) of key, or None when it does not exist."""

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    # how many loads load_many runs at once (object stores: one request per key, so in parallel)
    parallel_loads = 1

    def load_many(self, keys: List[str]) -> dict[str, bytes | None]:
        """{key: content or None}, parallel_loads at a time; a backend with a batch read overrides this."""
        for key in keys:
            check_key(key)
        if self.parallel_loads <= 1 or len(keys) <= 1:
            return {key: self.load(key) for key in keys}
        with ThreadPoolExecutor(max_workers=min(self.parallel_loads, len(keys))) as pool:
            return dict(zip(keys, pool.map(self.load, keys)))

    def delete_tree(self, prefix: str) -> None:
        """Remove every key under prefix (which must end in '/')."""
        for key in self.list(prefix, recursive=True):
            self.delete(key)

    def describe(self) -> str:
        """Where the data lives, for messages and results; never contains a secret."""
        return self.kind

    def close(self) -> None:
        """Release connections and clients; backends that hold none keep this default."""
        return None

    # ---- locks -----------------------------------------------------------------------------

    @abc.abstractmethod
    def _try_lock(self, name: str, ttl: float, owner: str) -> Lock | LockState:
        """One attempt: return a Lock when acquired (or extended, if owner already holds it),
        else the LockState of the current holder."""

    @abc.abstractmethod
    def _release(self, name: str, owner: str) -> bool:
        """Remove the lock if owner holds it: True; False when there is no lock record.
        Raise LockError when another owner holds it."""

    @abc.abstractmethod
    def lock_state(self, name: str) -> LockState:
        """The current lock record of name, without changing it."""

    def lock(self, name: str, ttl: float, timeout: float = 0.0, owner: str | None = None) -> Lock:
        """Acquire the lock name for ttl seconds, waiting up to timeout seconds.

        With the owner token of a lock that is still held, the lock is extended instead.
        A lock whose holder did not release it is taken over once its TTL has passed.
        """
        check_key(name, "name")
        ttl = check_ttl(ttl)
        if timeout is None or timeout < 0:
            raise InputError("lock_timeout", "must be zero or a positive number of seconds")
        owner = owner or new_token()
        deadline = self.clock() + timeout
        delay = 0.05
        while True:
            got = self._try_lock(name, ttl, owner)
            if isinstance(got, Lock):
                return got
            if got is not None and got.owner and runs.is_gone(got.holder.get("run")):
                # the run holding it was killed (no process of it is left on this machine): take it over now
                try:
                    self._release(name, got.owner)
                except LockError:
                    pass   # someone else was faster; try again
                continue
            remaining = deadline - self.clock()
            if remaining <= 0:
                state = got
                raise LockError("lock %r on %s is held by another owner%s; gave up after %ss (break a lock whose "
                                "holder is gone with playbooks/break_lock.yml)" % (
                                    name, self.describe(), _holder_text(state), timeout),
                                lock=state.to_result() if state else None)
            self.sleep(min(remaining, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 2, 1.0)

    def break_lock(self, name: str) -> LockState:
        """Remove the lock name whoever holds it (the operator's command); returns what it was."""
        check_key(name, "name")
        state = self.lock_state(name)
        if state.owner:
            self._release(name, state.owner)
        return state

    def unlock(self, name: str, owner: str) -> bool:
        """Release the lock name held by owner. False when no lock was held (nothing to release)."""
        check_key(name, "name")
        if not owner or not isinstance(owner, str):
            raise InputError("lock_token", "the owner token returned when the lock was acquired is required")
        return self._release(name, owner)


def lock_record(owner: str, ttl: float, expires: float, acquired: str | None = None) -> bytes:
    """The JSON body of a lock record (local file, S3 lease object, Redis value)."""
    record = {"owner": owner, "ttl": ttl, "expires": expires, "acquired": acquired or iso(time.time())}
    record.update(holder_identity())
    run = runs.run_identity()
    if run is not None:
        record["run"] = run
    return json.dumps(record, sort_keys=True).encode()


def _holder_text(state: LockState | None) -> str:
    if state is None:
        return ""
    parts = []
    if state.holder.get("host"):
        parts.append("by %s%s" % (state.holder.get("user", "") + "@" if state.holder.get("user") else "",
                                  state.holder["host"]))
    run = state.holder.get("run")
    pid = run.get("pid") if isinstance(run, dict) else state.holder.get("pid")
    if pid:
        parts.append("pid %s" % pid)
    if state.holder.get("acquired"):
        parts.append("since %s" % state.holder["acquired"])
    if state.expires:
        parts.append("until %s" % iso(state.expires))
    return " (%s)" % ", ".join(parts) if parts else ""


def parse_lock_record(data: bytes | None) -> dict | None:
    if data is None:
        return None
    try:
        record = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def public_holder(record: dict) -> dict:
    return {k: record[k] for k in ("host", "pid", "user", "acquired", "run") if k in record}


LEASE_SLACK = 1.0   # object stores give modification times and Date headers to the second


def lease_state(name: str, body: bytes | None, ttl_if_unreadable: float, server_date: str | None,
                modified: datetime.datetime | None) -> tuple[dict, LockState]:
    """(record, LockState) of a lease object read from an object store. Expiry is judged by the server's
    clock (its Date header against the object's modification time), so that hosts whose clocks disagree
    agree on it; without those, by the holder's own recorded expiry."""
    record = parse_lock_record(body) or {}
    try:
        ttl = float(record["ttl"])
    except (KeyError, TypeError, ValueError):
        ttl = ttl_if_unreadable
    if server_date and modified:
        expires = modified.timestamp() + ttl + LEASE_SLACK
        held = email.utils.parsedate_to_datetime(server_date).timestamp() < expires
    else:
        try:
            expires = float(record["expires"])
        except (KeyError, TypeError, ValueError):
            expires = time.time() + ttl
        held = time.time() < expires
    return record, LockState(name, held, expires, public_holder(record), record.get("owner"))


class ConditionalLeases(Storage):
    """Locks of an object store with conditional writes (S3, GCS): a lease object created only if absent,
    taken over (expired) or extended (own) only if unchanged since it was read, and deleted only if
    unchanged. Backends supply the three conditional operations; `version` is what they read (an ETag, a
    generation), None for "must not exist"."""

    @abc.abstractmethod
    def _lease(self, name: str, ttl_if_unreadable: float = 0.0) -> tuple[dict, object, LockState] | None:
        """(record, version, LockState) of the lease, or None when there is none."""

    @abc.abstractmethod
    def _put_lease(self, name: str, body: bytes, version: object) -> bool:
        """Write the lease if it still is `version` (None: if it does not exist); False when someone else
        was faster."""

    @abc.abstractmethod
    def _delete_lease(self, name: str, version: object) -> bool:
        """Delete the lease if it still is `version`: True; False when it is gone. Raise LockError when it
        changed (taken over after expiry)."""

    def _try_lock(self, name: str, ttl: float, owner: str) -> Lock | LockState:
        state = None
        for _attempt in range(5):
            lock = Lock(name=name, owner=owner, expires=time.time() + ttl, ttl=ttl, backend=self.kind)
            body = lock_record(owner, ttl, lock.expires)
            if self._put_lease(name, body, None):
                return lock
            lease = self._lease(name, ttl)
            if lease is None:
                continue          # released between our write and the read: try to create it again
            record, version, state = lease
            if record.get("owner") != owner and state.held:
                return state
            if self._put_lease(name, body, version):
                return lock       # took over an expired lease, or extended our own
        return state or LockState(name, True)

    def _release(self, name: str, owner: str) -> bool:
        lease = self._lease(name)
        if lease is None:
            return False
        record, version, state = lease
        if record.get("owner") != owner:
            raise LockError("lock %r on %s is held by another owner (it expired and was taken over, or the token "
                            "is wrong); not released" % (name, self.describe()), lock=state.to_result())
        return self._delete_lease(name, version)

    def lock_state(self, name: str) -> LockState:
        check_key(name, "name")
        lease = self._lease(name)
        return LockState(name, False) if lease is None else lease[2]
