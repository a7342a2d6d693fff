"""RedisStorage's own logic on an in-memory stand-in for the redis client (the real server is in the
integration tests): keys, listing, batching, locks and how client errors become our errors."""
import fnmatch
import json

import pytest
import redis

from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError, LockError, StorageError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.redis_store import RedisStorage


class FakeRedis:
    def __init__(self, fail=None):
        self.data, self.ttl, self.fail = {}, {}, fail

    def _check(self):
        if self.fail:
            raise self.fail

    def register_script(self, source):
        extend = "PEXPIRE" in source.upper() or "extend" in source.lower()

        def script(keys, args):
            self._check()
            key = keys[0]
            current = self.data.get(key)
            if current is None:
                return -1
            if json.loads(current).get("owner") != args[0]:
                return 0
            if len(args) > 1:
                self.data[key] = args[1].encode() if isinstance(args[1], str) else args[1]
                self.ttl[key] = args[2]
            else:
                del self.data[key]
            return 1
        script.extend = extend
        return script

    def set(self, key, value, nx=False, px=None):
        self._check()
        if nx and key in self.data:
            return None
        self.data[key] = value.encode() if isinstance(value, str) else value
        if px:
            self.ttl[key] = px
        return True

    def get(self, key):
        self._check()
        return self.data.get(key)

    def mget(self, keys):
        self._check()
        return [self.data.get(k) for k in keys]

    def delete(self, *keys):
        self._check()
        for key in keys:
            self.data.pop(key, None)

    def scan_iter(self, match, count=None):
        self._check()
        pattern = match.replace("\\", "")
        return [k.encode() for k in sorted(self.data) if fnmatch.fnmatchcase(k, pattern)]

    def pipeline(self, transaction=False):
        fake = self

        class Pipe:
            def __init__(self):
                self.calls = []

            def __getattr__(self, name):
                return lambda key: self.calls.append((name, key))

            def execute(self):
                fake._check()
                out = []
                for name, key in self.calls:
                    value = fake.data.get(key)
                    out.append({"exists": int(value is not None), "strlen": len(value or b""), "get": value,
                                "pttl": fake.ttl.get(key, -1)}[name])
                return out
        return Pipe()

    def close(self):
        raise RuntimeError("closing never fails a task")


def test_objects_listing_and_batches():
    storage = RedisStorage("redis://127.0.0.1:6390/0", client=FakeRedis())
    for index in range(1200):   # more than one MGET/DEL batch
        storage.store("certs/s/n%04d/current.json" % index, b"{}")
    storage.store("certs/s/other/status.json", b"x")
    assert storage.load("certs/s/n0001/current.json") == b"{}" and storage.load("certs/s/none") is None
    many = storage.load_many(["certs/s/n%04d/current.json" % i for i in range(1100)] + ["certs/s/none"])
    assert len(many) == 1101 and many["certs/s/none"] is None
    assert storage.list("certs/s/", recursive=False)[:2] == ["certs/s/n0000/", "certs/s/n0001/"]
    assert storage.stat("certs/s/other/status.json").size == 1 and storage.stat("certs/s/gone") is None
    storage.delete_tree("certs/s/")
    assert storage.list("") == []
    storage.close()
    assert "redis://127.0.0.1:6390/0" in storage.describe()


def test_locks_take_extend_release_and_refuse_others():
    storage = RedisStorage("redis://:secret@127.0.0.1:6390/0", client=FakeRedis())
    assert "secret" not in storage.describe()
    lock = storage.lock("s/www", ttl=60)
    assert storage.lock_state("s/www").held
    assert storage.lock("s/www", ttl=120, owner=lock.owner).owner == lock.owner   # extended
    with pytest.raises(LockError, match="held by another owner"):
        storage.lock("s/www", ttl=60)
    with pytest.raises(LockError):
        storage.unlock("s/www", "not-the-owner")
    assert storage.unlock("s/www", lock.owner) is True
    assert storage.unlock("s/www", lock.owner) is False
    assert not storage.lock_state("s/www").held
    assert storage.list("") == []   # lock records are not objects


@pytest.mark.parametrize("error, kind, text", [
    (redis.exceptions.ConnectionError("refused"), StorageError, "cannot reach Redis"),
    (redis.exceptions.TimeoutError("slow"), StorageError, "cannot reach Redis"),
    (redis.exceptions.AuthenticationError("bad password"), InputError, "redis_url: Redis at"),
    (redis.exceptions.ResponseError("WRONGTYPE"), StorageError, "failed during GET"),
])
def test_client_errors_become_ours(error, kind, text):
    storage = RedisStorage("redis://127.0.0.1:6390/0", client=FakeRedis(fail=error))
    with pytest.raises(kind, match=text):
        storage.load("certs/x")


@pytest.mark.parametrize("args, field", [
    ({}, "redis_url"), ({"redis_url": "http://x"}, "redis_url"),
    ({"redis_url": "redis://x", "redis_prefix": "bad prefix!"}, "redis_prefix"),
    ({"redis_url": "redis://x", "storage_timeout": 0}, "storage_timeout"),
])
def test_options_are_checked(args, field):
    with pytest.raises(InputError) as err:
        RedisStorage(client=FakeRedis(), **args)
    assert err.value.field == field


def test_a_certificate_store_on_redis(tmp_path):
    from ..certs import CA
    storage = RedisStorage("redis://127.0.0.1:6390/0", client=FakeRedis())
    store = bundles.CertificateStore(storage, "https://acme.example/dir")
    ca = CA()
    store.put("www", bundles.make_bundle(*ca.issue(("www.example.com", "example.com"))))
    asked = [{"name": "www", "identifiers": ["Example.com.", "www.example.com"]}]
    info = store.info(requests=bundles.check_requests(asked))
    assert info["not_due"] == ["www"] and info["certificates"][0]["reason"] == "not_due"
    changed = store.info(requests=bundles.check_requests([{"name": "www", "identifiers": ["example.com"]}]))
    assert changed["due"] == ["www"] and changed["certificates"][0]["reason"] == "names_changed"
    rsa = store.info(requests=bundles.check_requests([{"name": "www", "identifiers": [
        "example.com", "www.example.com"], "key_type": "rsa-2048"}]))
    assert rsa["certificates"][0]["reason"] == "key_type_changed"
    bundle, pointer = store.get("www")
    assert pointer["identifiers"] == ["www.example.com", "example.com"] and bundle.private_key
    assert store.remove("www")["changed"] and store.get("www") is None
