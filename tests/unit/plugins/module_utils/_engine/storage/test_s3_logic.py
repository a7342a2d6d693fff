"""S3 backend logic against an in-memory fake client: retries, error mapping, leases (no network)."""
import datetime
import email.utils
import hashlib
import io

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError, LockError, StorageError

from botocore.exceptions import ClientError  # a missing test dependency fails the run, never skips it

from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.s3 import S3Storage

UTC = datetime.timezone.utc


def client_error(code, status, operation="PutObject"):
    return ClientError({"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       operation)


class FakeS3:
    """Enough of S3 for the backend: conditional PUT, conditional DELETE, paged listing, a settable clock."""

    def __init__(self):
        self.objects = {}          # key -> (body, etag, last_modified)
        self.failures = []         # (operation, exception) raised in order
        self.calls = []
        self.now = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
        self.denied_gets = False
        self.counter = 0

    def _enter(self, operation, key, kwargs):
        self.calls.append((operation, key, kwargs))
        if self.failures and self.failures[0][0] == operation:
            raise self.failures.pop(0)[1]

    def put_object(self, Bucket, Key, Body, IfNoneMatch=None, IfMatch=None, **kwargs):
        self._enter("put_object", Key, dict(kwargs, IfNoneMatch=IfNoneMatch, IfMatch=IfMatch))
        if IfNoneMatch == "*" and Key in self.objects:
            raise client_error("PreconditionFailed", 412)
        if IfMatch is not None and (Key not in self.objects or self.objects[Key][1] != IfMatch):
            raise client_error("PreconditionFailed", 412)
        self.counter += 1
        etag = '"%s"' % hashlib.md5(Body + str(self.counter).encode()).hexdigest()
        self.objects[Key] = (Body, etag, self.now.replace(microsecond=0))
        return {"ETag": etag}

    def get_object(self, Bucket, Key):
        self._enter("get_object", Key, {})
        if self.denied_gets:
            raise client_error("AccessDenied", 403, "GetObject")
        if Key not in self.objects:
            raise client_error("NoSuchKey", 404, "GetObject")
        body, etag, modified = self.objects[Key]
        return {"Body": io.BytesIO(body), "ETag": etag, "LastModified": modified,
                "ResponseMetadata": {"HTTPHeaders": {"date": email.utils.format_datetime(self.now, usegmt=True)}}}

    def head_object(self, Bucket, Key):
        self._enter("head_object", Key, {})
        if Key not in self.objects:
            raise client_error("404", 404, "HeadObject")
        body, etag, modified = self.objects[Key]
        return {"ContentLength": len(body), "ETag": etag, "LastModified": modified}

    def delete_object(self, Bucket, Key, IfMatch=None):
        self._enter("delete_object", Key, {"IfMatch": IfMatch})
        if IfMatch is not None and Key in self.objects and self.objects[Key][1] != IfMatch:
            raise client_error("PreconditionFailed", 412, "DeleteObject")
        self.objects.pop(Key, None)

    def list_objects_v2(self, Bucket, Prefix="", Delimiter=None, ContinuationToken=None, MaxKeys=1000):
        self._enter("list_objects_v2", Prefix, {})
        keys = sorted(k for k in self.objects if k.startswith(Prefix))
        start = int(ContinuationToken or 0)
        page = keys[start:start + min(MaxKeys, 2)]            # tiny pages: pagination is exercised
        response = {"Contents": [{"Key": k} for k in page], "IsTruncated": start + 2 < len(keys)}
        if response["IsTruncated"]:
            response["NextContinuationToken"] = str(start + 2)
        return response


@pytest.fixture
def fake():
    return FakeS3()


@pytest.fixture
def sleeps():
    return []


@pytest.fixture
def s3(fake, sleeps):
    return S3Storage(s3_bucket="b", s3_prefix="team", client=fake, sleep=sleeps.append)


def test_every_put_asks_for_encryption(fake, s3):
    s3.store("certs/x/current.json", b"{}")
    operation, key, kwargs = fake.calls[-1]
    assert key == "team/certs/x/current.json" and kwargs["ServerSideEncryption"] == "AES256"


def test_throttling_is_retried_with_jittered_backoff(fake, s3, sleeps):
    fake.failures = [("put_object", client_error("SlowDown", 503)), ("put_object", client_error("Throttling", 400))]
    s3.store("a", b"1")
    assert s3.load("a") == b"1" and len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.25 and 0 <= sleeps[1] <= 0.5


def test_throttling_that_does_not_stop_is_a_storage_error(fake, s3, sleeps):
    fake.failures = [("put_object", client_error("SlowDown", 503))] * 10
    with pytest.raises(StorageError, match="SlowDown"):
        s3.store("a", b"1")
    assert len(sleeps) == 4   # s3_max_attempts (5) attempts in all


def test_an_unreachable_endpoint_fails_within_the_storage_timeout_and_then_at_once(fake, sleeps):
    from botocore.exceptions import EndpointConnectionError, ReadTimeoutError
    s3 = S3Storage(s3_bucket="b", client=fake, sleep=sleeps.append, storage_timeout=10)
    fake.failures = [("put_object", EndpointConnectionError(endpoint_url="http://127.0.0.1:9")),
                     ("put_object", ReadTimeoutError(endpoint_url="http://127.0.0.1:9"))] * 5
    with pytest.raises(StorageError) as err:
        s3.store("a", b"1")
    assert err.value.details["unreachable"] and "storage_timeout=10s" in err.value.msg
    assert len(sleeps) == 4
    calls = len(fake.calls)
    with pytest.raises(StorageError, match="unreachable"):   # the same task does not wait again
        s3.load("a")
    assert len(fake.calls) == calls


def test_connection_errors_are_retried_within_the_deadline(fake, s3, sleeps):
    from botocore.exceptions import EndpointConnectionError
    fake.failures = [("put_object", EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))] * 2
    s3.store("a", b"1")
    assert s3.load("a") == b"1" and len(sleeps) == 2


def test_missing_bucket_names_the_field(fake, s3):
    fake.failures = [("get_object", client_error("NoSuchBucket", 404, "GetObject"))]
    with pytest.raises(InputError) as err:
        s3.load("a")
    assert err.value.field == "s3_bucket" and "bucket 'b' does not exist" in err.value.msg


@pytest.mark.parametrize("code, field", [("InvalidAccessKeyId", "s3_access_key"),
                                         ("SignatureDoesNotMatch", "s3_secret_key"),
                                         ("ExpiredToken", "s3_session_token")])
def test_credential_errors_name_the_field(fake, s3, code, field):
    fake.failures = [("put_object", client_error(code, 403))]
    with pytest.raises(InputError) as err:
        s3.store("a", b"1")
    assert err.value.field == field


def test_403_on_a_missing_key_is_missing_but_on_an_existing_key_is_denied(fake, s3):
    """Without s3:ListBucket in context S3 answers 403 for missing keys; the listing tells them apart."""
    s3.store("present", b"1")
    fake.denied_gets = True
    assert s3.load("absent") is None
    with pytest.raises(StorageError, match="access denied: GetObject on s3://b/team/present"):
        s3.load("present")


def test_listing_follows_pages_and_hides_locks(fake, s3):
    for key in ("a/1", "a/2", "a/3", "b/1", "c"):
        s3.store(key, b"x")
    s3.lock("n", 30)
    assert s3.list("") == ["a/1", "a/2", "a/3", "b/1", "c"]
    assert s3.list("a/") == ["a/1", "a/2", "a/3"]


def test_lease_is_created_with_if_none_match_and_taken_over_with_if_match_after_ttl(fake, s3):
    first = s3.lock("www", 10)
    put = fake.calls[-1]
    assert put[1] == "team/locks/www.json" and put[2]["IfNoneMatch"] == "*"
    old_etag = fake.objects["team/locks/www.json"][1]
    # 10 s TTL + 1 s for the one-second resolution of Last-Modified and Date
    fake.now += datetime.timedelta(seconds=10)
    with pytest.raises(LockError):
        s3.lock("www", 10)
    fake.now += datetime.timedelta(seconds=1)
    second = s3.lock("www", 10)
    assert second.owner != first.owner
    takeover = [c for c in fake.calls if c[0] == "put_object"][-1]
    assert takeover[2]["IfMatch"] == old_etag and takeover[2]["IfNoneMatch"] is None


def test_server_clock_not_local_clock_decides_expiry(fake, s3):
    s3.lock("www", 10)
    fake.now += datetime.timedelta(days=365)    # local clock unchanged; the server says a year passed
    assert not s3.lock_state("www").held


def test_takeover_race_lost_means_not_acquired(fake, s3):
    s3.lock("www", 5)
    fake.now += datetime.timedelta(seconds=30)
    real_put = fake.put_object

    def someone_else_first(**kwargs):
        if kwargs.get("IfMatch"):     # another machine replaced the expired lease just before us
            real_put(Bucket="b", Key=kwargs["Key"], Body=b'{"owner": "other", "ttl": 300}')
        return real_put(**kwargs)
    fake.put_object = someone_else_first
    with pytest.raises(LockError):
        s3.lock("www", 5)


def test_release_checks_the_owner_and_deletes_conditionally(fake, s3):
    lock = s3.lock("www", 30)
    with pytest.raises(LockError, match="another owner"):
        s3.unlock("www", "wrong")
    assert "team/locks/www.json" in fake.objects
    etag = fake.objects["team/locks/www.json"][1]
    assert s3.unlock("www", lock.owner)
    assert fake.calls[-1] == ("delete_object", "team/locks/www.json", {"IfMatch": etag})
    assert not s3.unlock("www", lock.owner)


def test_release_loses_to_a_takeover_between_read_and_delete(fake, s3):
    lock = s3.lock("www", 30)
    fake.failures = [("delete_object", client_error("PreconditionFailed", 412, "DeleteObject"))]
    with pytest.raises(LockError, match="changed while it was being released"):
        s3.unlock("www", lock.owner)


def test_release_without_conditional_delete_support_falls_back(fake, s3):
    lock = s3.lock("www", 30)
    fake.failures = [("delete_object", client_error("NotImplemented", 501, "DeleteObject"))]
    assert s3.unlock("www", lock.owner)
    assert "team/locks/www.json" not in fake.objects


def test_data_is_never_deleted_by_the_certificate_layer(s3):
    assert s3.deletes_data is False


@pytest.mark.parametrize("operation", ["load", "stat"])
def test_a_missing_bucket_is_never_mistaken_for_a_missing_certificate(fake, s3, operation):
    """GET and HEAD answer 404 for a missing bucket as for a missing key."""
    fake.failures = [("get_object", client_error("NoSuchBucket", 404, "GetObject")),
                     ("head_object", client_error("404", 404, "HeadObject")),
                     ("list_objects_v2", client_error("NoSuchBucket", 404, "ListObjectsV2"))]
    fake.failures = [f for f in fake.failures if f[0] != {"load": "head_object", "stat": "get_object"}[operation]]
    with pytest.raises(InputError) as err:
        getattr(s3, operation)("certs/x/current.json")
    assert err.value.field == "s3_bucket"


def test_other_client_and_transport_errors_are_storage_errors(fake, s3):
    from botocore.exceptions import NoCredentialsError
    from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import StorageError
    fake.failures = [("put_object", client_error("AccessDenied", 403))]
    with pytest.raises(StorageError, match="access denied: PutObject"):
        s3.store("a", b"1")
    fake.failures = [("put_object", NoCredentialsError())]
    with pytest.raises(InputError) as err:
        s3.store("a", b"1")
    assert err.value.field == "s3_access_key"
