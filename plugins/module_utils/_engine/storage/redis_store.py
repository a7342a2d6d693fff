# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Redis backend through redis-py.

Data key <key> is the Redis string "<prefix>:<key>"; the lock <name> is
"<prefix>:locks/<name>". A SET replaces a value atomically.

Locks: SET <lock key> <record> NX PX <ttl ms> (Redis expires the key on its own
clock, so a crashed holder's lock disappears after its TTL); extend and release
are Lua scripts that first compare the owner token stored in the record, so a
holder whose lock expired and was taken over can neither extend nor delete
the new holder's lock.
"""
from __future__ import annotations

import re
import time
import urllib.parse
from typing import Any, Callable, List, TypeVar

from ..errors import InputError, LockError, StorageError
from .base import (RESERVED_TOP, Lock, LockState, ObjectStat, Storage, check_key, check_prefix, lock_record,
                   parse_lock_record, public_holder)

try:
    import redis
except ImportError:  # reported by the module through deps.missing()
    pass

Result = TypeVar("Result")

DEFAULT_PREFIX = "autotls"
_PREFIX = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
BATCH = 500
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 10.0

# KEYS[1] lock key; ARGV[1] owner token; ARGV[2] new record; ARGV[3] ttl in ms.
_EXTEND = """
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
local ok, record = pcall(cjson.decode, current)
if ok and type(record) == 'table' and record['owner'] == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[3]))
  return 1
end
return 0
"""
# KEYS[1] lock key; ARGV[1] owner token. 1 released, 0 another owner, -1 no lock.
_RELEASE = """
local current = redis.call('GET', KEYS[1])
if not current then return -1 end
local ok, record = pcall(cjson.decode, current)
if ok and type(record) == 'table' and record['owner'] == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""


def _bytes(value: bytes | str | None) -> bytes | None:
    """A value as redis-py returns it: bytes, since this backend never asks it to decode (str only then)."""
    return value.encode() if isinstance(value, str) else value


def redact_url(url: str) -> str:
    """The URL without its password (and user), for messages."""
    try:
        parts = urllib.parse.urlsplit(url)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = "[%s]" % netloc
        if parts.port:
            netloc += ":%d" % parts.port
        if parts.password or parts.username:
            netloc = "***@" + netloc
        return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    except ValueError:
        return "<unparsable redis_url>"


class RedisStorage(Storage):
    kind = "redis"

    def __init__(self, redis_url: str | None = None, redis_prefix: str | None = None,
                 storage_timeout: float | None = None, client: redis.Redis | None = None) -> None:
        if not redis_url:
            raise InputError("redis_url", "is required for backend redis")
        if not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise InputError("redis_url", "must start with redis://, rediss:// or unix://")
        self.where = redact_url(redis_url)
        prefix = DEFAULT_PREFIX if redis_prefix is None else redis_prefix
        if not _PREFIX.match(prefix):
            raise InputError("redis_prefix", "may only contain letters, digits and _ . : - (1 to 100 characters)")
        self.prefix = prefix + ":"
        timeout = DEFAULT_TIMEOUT if storage_timeout is None else storage_timeout
        if timeout <= 0:
            raise InputError("storage_timeout", "must be a positive number of seconds")
        if client is None:
            try:
                # tight timeouts: a hanging server fails the call within seconds, not minutes
                client = redis.Redis.from_url(redis_url, socket_timeout=min(READ_TIMEOUT, timeout),
                                              socket_connect_timeout=min(CONNECT_TIMEOUT, timeout))
            except ValueError as exc:
                raise InputError("redis_url", "cannot be used: %s" % exc) from None
        self.client = client
        self._extend = client.register_script(_EXTEND)
        self._release_script = client.register_script(_RELEASE)

    def describe(self) -> str:
        return "%s (prefix %s)" % (self.where, self.prefix)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing must never fail a task
            pass

    def _run(self, what: str, func: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
        try:
            return func(*args, **kwargs)
        except redis.exceptions.AuthenticationError as exc:
            raise InputError("redis_url", "Redis at %s refused the credentials: %s" % (self.where, exc)) from None
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise StorageError("cannot reach Redis at %s during %s: %s" % (self.where, what, exc),
                               endpoint=self.where, unreachable=True) from None
        except redis.exceptions.RedisError as exc:
            raise StorageError("Redis at %s failed during %s: %s" % (self.where, what, exc),
                               endpoint=self.where) from None

    def _full(self, key: str) -> str:
        return self.prefix + key

    # ---- objects ----------------------------------------------------------------------------

    def store(self, key: str, data: bytes, private: bool = False) -> None:
        check_key(key)
        self._run("SET", self.client.set, self._full(key), data)

    def load(self, key: str) -> bytes | None:
        check_key(key)
        return _bytes(self._run("GET", self.client.get, self._full(key)))

    def load_many(self, keys: List[str]) -> dict[str, bytes | None]:
        for key in keys:
            check_key(key)
        result: dict[str, bytes | None] = {}
        for start in range(0, len(keys), BATCH):
            chunk = keys[start:start + BATCH]
            values = self._run("MGET", self.client.mget, [self._full(key) for key in chunk])
            result.update(zip(chunk, (_bytes(value) for value in values)))
        return result

    def delete(self, key: str) -> None:
        check_key(key)
        self._run("DEL", self.client.delete, self._full(key))

    def delete_tree(self, prefix: str) -> None:
        keys = self.list(prefix, recursive=True)
        for start in range(0, len(keys), BATCH):
            self._run("DEL", self.client.delete, *[self._full(key) for key in keys[start:start + BATCH]])

    def list(self, prefix: str = "", recursive: bool = True) -> List[str]:
        prefix = check_prefix(prefix)
        pattern = _GLOB_SPECIAL.sub(r"\\\1", self._full(prefix)) + "*"
        keys = self._run("SCAN", lambda: [k.decode() if isinstance(k, bytes) else k
                                          for k in self.client.scan_iter(match=pattern, count=1000)])
        found = set()
        for full in keys:
            key = full[len(self.prefix):]
            if key.split("/", 1)[0] == RESERVED_TOP:
                continue
            if not recursive:
                rest = key[len(prefix):]
                if "/" in rest:
                    key = prefix + rest.split("/", 1)[0] + "/"
            found.add(key)
        return sorted(found)

    def stat(self, key: str) -> ObjectStat | None:
        check_key(key)
        full = self._full(key)
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(full)
        pipe.strlen(full)
        exists, size = self._run("STRLEN", pipe.execute)
        return ObjectStat(key=key, size=size) if exists else None

    # ---- locks ------------------------------------------------------------------------------

    def _lock_key(self, name: str) -> str:
        return "%s%s/%s" % (self.prefix, RESERVED_TOP, name)

    def _try_lock(self, name: str, ttl: float, owner: str) -> Lock | LockState:
        key, ttl_ms = self._lock_key(name), max(1, int(ttl * 1000))
        for _attempt in range(5):
            started = time.time()
            lock = Lock(name=name, owner=owner, expires=started + ttl, ttl=ttl, backend=self.kind)
            record = lock_record(owner, ttl, lock.expires)
            if self._run("SET NX", self.client.set, key, record, nx=True, px=ttl_ms):
                return lock
            extended = self._run("EVALSHA", self._extend, keys=[key], args=[owner, record, ttl_ms])
            if extended == 1:
                return lock
            if extended == -1:
                continue      # expired or released in between: try SET NX again
            return self.lock_state(name)
        return self.lock_state(name)

    def _release(self, name: str, owner: str) -> bool:
        key = self._lock_key(name)
        released = self._run("EVALSHA", self._release_script, keys=[key], args=[owner])
        if released == 0:
            raise LockError("lock %r on %s is held by another owner (it expired and was taken over, or the "
                            "token is wrong); not released" % (name, self.describe()),
                            lock=self.lock_state(name).to_result())
        return released == 1

    def lock_state(self, name: str) -> LockState:
        check_key(name, "name")
        key = self._lock_key(name)
        pipe = self.client.pipeline(transaction=True)
        pipe.get(key)
        pipe.pttl(key)
        value, pttl = self._run("GET", pipe.execute)
        if value is None:
            return LockState(name, False)
        record = parse_lock_record(value) or {}
        expires = time.time() + pttl / 1000.0 if pttl and pttl > 0 else None
        return LockState(name, True, expires, public_holder(record), record.get("owner"))
