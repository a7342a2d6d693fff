"""More of the S3 backend against the in-memory fake client: client creation errors, broken bodies, parallel loads,
deletes, shallow and refused listings, HEAD answers, leases without a server clock, lost races, failed releases."""
import datetime
import json
import time

import pytest
from botocore.exceptions import BotoCoreError, NoRegionError, ReadTimeoutError

from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError, LockError, StorageError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import base
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import s3 as s3_mod
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.base import Lock, LockState, lock_record
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.s3 import S3Storage

from .test_s3_logic import FakeS3, client_error


class ShallowS3(FakeS3):
    """FakeS3 with Delimiter support (CommonPrefixes), one page."""

    def list_objects_v2(self, Bucket, Prefix="", Delimiter=None, ContinuationToken=None, MaxKeys=1000):
        if Delimiter is None:
            return super().list_objects_v2(Bucket, Prefix=Prefix, ContinuationToken=ContinuationToken,
                                           MaxKeys=MaxKeys)
        self._enter("list_objects_v2", Prefix, {"Delimiter": Delimiter})
        contents, prefixes = [], set()
        for key in sorted(k for k in self.objects if k.startswith(Prefix)):
            rest = key[len(Prefix):]
            if Delimiter in rest:
                prefixes.add(Prefix + rest.split(Delimiter, 1)[0] + Delimiter)
            else:
                contents.append({"Key": key})
        return {"Contents": contents, "CommonPrefixes": [{"Prefix": p} for p in sorted(prefixes)],
                "IsTruncated": False}


class NoDateS3(FakeS3):
    """An S3-compatible store whose GET answers carry no Date header."""

    def get_object(self, Bucket, Key):
        response = super().get_object(Bucket, Key)
        response["ResponseMetadata"] = {"HTTPHeaders": {}}
        return response


@pytest.fixture
def fake():
    return ShallowS3()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def s3(fake, sleeps):
    return S3Storage(s3_bucket="b", s3_prefix="team", client=fake, sleep=sleeps.append)


def test_client_creation_errors_name_what_to_fix(monkeypatch):
    class NoRegion:
        def __init__(self, **kwargs):
            raise NoRegionError()
    monkeypatch.setattr(s3_mod.boto3.session, "Session", NoRegion)
    with pytest.raises(InputError) as err:
        S3Storage(s3_bucket="b")
    assert err.value.field == "s3_region" and "AWS_DEFAULT_REGION" in err.value.msg

    class Broken:
        def __init__(self, **kwargs):
            raise BotoCoreError()
    monkeypatch.setattr(s3_mod.boto3.session, "Session", Broken)
    with pytest.raises(StorageError, match="cannot create the S3 client"):
        S3Storage(s3_bucket="b", s3_endpoint_url="http://127.0.0.1:9")


def test_other_transport_errors_are_not_retried(fake, s3, sleeps):
    fake.failures = [("put_object", BotoCoreError())]
    with pytest.raises(StorageError, match="S3 endpoint AWS S3 failed during put_object") as err:
        s3.store("a", b"1")
    assert err.value.details["operation"] == "put_object" and not err.value.details.get("unreachable")
    assert sleeps == [] and s3.unreachable is None
    s3.store("a", b"1")   # the endpoint is not marked unreachable over it
    assert s3.load("a") == b"1"


def test_a_body_stream_that_breaks_is_a_storage_error(fake, s3):
    s3.store("certs/x", b"data")

    class BrokenBody:
        def read(self):
            raise ReadTimeoutError(endpoint_url="http://127.0.0.1:9")
    real_get = fake.get_object

    def get(Bucket, Key):
        response = real_get(Bucket, Key)
        response["Body"] = BrokenBody()
        return response
    fake.get_object = get
    with pytest.raises(StorageError, match="failed while reading team/certs/x"):
        s3.load("certs/x")


def test_load_many_checks_every_key_and_loads_in_parallel(fake, s3):
    with pytest.raises(InputError):
        s3.load_many(["certs/a", "../etc"])
    assert fake.calls == []   # checked before anything is asked
    for name in "abc":
        s3.store("certs/" + name, name.encode())
    assert s3.load_many([]) == {}
    assert s3.load_many(["certs/a"]) == {"certs/a": b"a"}
    assert s3.load_many(["certs/c", "certs/missing", "certs/a", "certs/b"]) == {
        "certs/c": b"c", "certs/missing": None, "certs/a": b"a", "certs/b": b"b"}


def test_delete_ignores_a_missing_object_and_names_other_errors(fake, s3):
    s3.store("certs/a", b"1")
    s3.delete("certs/a")
    assert "team/certs/a" not in fake.objects
    fake.failures = [("delete_object", client_error("NoSuchKey", 404, "DeleteObject"))]
    s3.delete("certs/a")
    fake.failures = [("delete_object", client_error("AccessDenied", 403, "DeleteObject"))]
    with pytest.raises(StorageError, match="access denied: DeleteObject on s3://b/team/certs/a"):
        s3.delete("certs/a")
    fake.failures = [("delete_object", client_error("InternalError", 400, "DeleteObject"))]
    with pytest.raises(StorageError, match="S3 DeleteObject on s3://b/team/certs/a failed: InternalError"):
        s3.delete("certs/a")


def test_shallow_listing_shows_directories_and_never_the_locks(fake, s3):
    for key in ("certs/www/current.json", "certs/api/current.json", "top.json"):
        s3.store(key, b"1")
    s3.lock("www", 30)
    assert s3.list("", recursive=False) == ["certs/", "top.json"]
    assert fake.calls[-1][2] == {"Delimiter": "/"}
    assert s3.list("certs/", recursive=False) == ["certs/api/", "certs/www/"]
    with pytest.raises(InputError):
        s3.list("locks/", recursive=False)   # the reserved prefix is not listed


def test_a_refused_listing_names_the_prefix(fake, s3):
    fake.failures = [("list_objects_v2", client_error("AccessDenied", 403, "ListObjectsV2"))]
    with pytest.raises(StorageError, match="access denied: ListBucket on s3://b/team/certs/"):
        s3.list("certs/")


def test_stat_reports_size_and_etag_and_a_denied_head_on_an_existing_key(fake, s3):
    s3.store("certs/a", b"12345")
    got = s3.stat("certs/a")
    assert got.size == 5 and got.etag == fake.objects["team/certs/a"][1]
    assert got.modified == fake.objects["team/certs/a"][2].timestamp()
    assert s3.stat("certs/missing") is None
    fake.failures = [("head_object", client_error("403", 403, "HeadObject"))]
    with pytest.raises(StorageError, match="access denied: HeadObject on s3://b/team/certs/a"):
        s3.stat("certs/a")
    fake.failures = [("head_object", client_error("403", 403, "HeadObject"))]
    assert s3.stat("certs/gone") is None   # 403 for a key the listing does not show: missing


def test_a_lease_with_an_unreadable_ttl_counts_for_the_asked_ttl(fake, s3):
    fake.objects["team/locks/www.json"] = (b'{"owner": "other", "ttl": "soon"}', '"e1"', fake.now)
    got = s3._try_lock("www", 60, "me")
    assert isinstance(got, LockState) and got.held and got.owner == "other"
    assert got.expires == pytest.approx(fake.now.timestamp() + 60 + base.LEASE_SLACK)
    seen = s3.lock_state("www")             # without a requested TTL: held for the slack only
    assert seen.held and seen.expires == fake.now.timestamp() + base.LEASE_SLACK
    fake.now += datetime.timedelta(seconds=2)
    assert not s3.lock_state("www").held
    assert isinstance(s3._try_lock("www", 60, "me"), LockState)   # still within the asked 60 s
    fake.now += datetime.timedelta(seconds=60)
    assert isinstance(s3._try_lock("www", 60, "me"), Lock)        # expired: taken over


def test_without_a_server_clock_the_holders_expiry_decides(sleeps):
    fake = NoDateS3()
    s3 = S3Storage(s3_bucket="b", client=fake, sleep=sleeps.append)
    fake.objects["locks/www.json"] = (lock_record("other", 60, 4102444800.0), '"e1"', fake.now)   # 2100
    state = s3.lock_state("www")
    assert state.held and state.expires == 4102444800.0
    fake.objects["locks/www.json"] = (lock_record("other", 60, 1000.0), '"e2"', fake.now)          # 1970
    assert not s3.lock_state("www").held
    fake.objects["locks/www.json"] = (json.dumps({"owner": "other", "ttl": 3600}).encode(), '"e3"', fake.now)
    state = s3.lock_state("www")   # no expiry either: counted from now
    assert state.held and state.expires == pytest.approx(time.time() + 3600, abs=60)
    with pytest.raises(LockError, match="held by another owner"):
        s3.lock("www", 30)


def test_a_lease_released_between_put_and_get_is_created_again(fake, s3):
    fake.failures = [("put_object", client_error("PreconditionFailed", 412))]
    got = s3._try_lock("www", 30, "me")
    assert isinstance(got, Lock) and got.owner == "me"
    puts = [c for c in fake.calls if c[0] == "put_object"]
    assert [c[2]["IfNoneMatch"] for c in puts] == ["*", "*"]
    assert json.loads(fake.objects["team/locks/www.json"][0])["owner"] == "me"


def test_five_lost_races_give_up_without_the_lock(fake, s3):
    fake.failures = [("put_object", client_error("PreconditionFailed", 412))] * 5
    got = s3._try_lock("www", 30, "me")
    assert isinstance(got, LockState) and got.held and got.owner is None
    assert "team/locks/www.json" not in fake.objects
    # an expired lease that keeps changing under us: the last state seen is returned
    fake.objects["team/locks/www.json"] = (lock_record("other", 1, 0.0), '"e1"', fake.now.replace(year=2020))
    fake.failures = [("put_object", client_error("PreconditionFailed", 412))] * 10
    got = s3._try_lock("www", 30, "me")
    assert isinstance(got, LockState) and not got.held and got.owner == "other"
    assert len([c for c in fake.calls if c[0] == "put_object"]) == 5 + 10


def test_a_lease_put_refused_for_another_reason_is_named(fake, s3):
    fake.failures = [("put_object", client_error("AccessDenied", 403))]
    with pytest.raises(StorageError, match="access denied: PutObject on s3://b/team/locks/www.json"):
        s3.lock("www", 30)


def test_release_failures(fake, s3):
    lock = s3.lock("www", 30)
    fake.failures = [("delete_object", client_error("NoSuchKey", 404, "DeleteObject"))]
    assert s3.unlock("www", lock.owner) is False            # gone meanwhile: nothing released
    lock = s3.lock("www", 30, owner=lock.owner)
    fake.failures = [("delete_object", client_error("NotImplemented", 501, "DeleteObject")),
                     ("delete_object", client_error("AccessDenied", 403, "DeleteObject"))]
    with pytest.raises(StorageError, match="access denied: DeleteObject on s3://b/team/locks/www.json"):
        s3.unlock("www", lock.owner)
    fake.failures = [("delete_object", client_error("InternalError", 400, "DeleteObject"))]
    with pytest.raises(StorageError, match="S3 DeleteObject on s3://b/team/locks/www.json failed: InternalError"):
        s3.unlock("www", lock.owner)
    assert s3.lock_state("www").held and s3.unlock("www", lock.owner)
