"""More of the gcs backend on the recording transport of test_gcs.py: objects, listing, stat, error mapping,
bounded retries (on a fake clock: google-api-core's retry loop never really sleeps here) and lease edge cases."""
import datetime
import importlib.metadata
import json
import sys
import threading
import time
import types

import pytest
import requests
from google.api_core.retry import retry_base, retry_unary
from google.auth import exceptions as auth_exceptions

from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError, LockError, StorageError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import base
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import gcs as gcs_module
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from .test_gcs import ENDPOINT, LEASE, backend_with, lease_answers, uploads

OBJ = "/storage/v1/b/bkt/o/"
DL = "/download/storage/v1/b/bkt/o/"
UP = "/upload/storage/v1/b/bkt/o"
LIST = "/storage/v1/b/bkt/o"
# google-cloud-storage < 3 retries downloads in google-resumable-media's own loop, not google-api-core's
LEGACY_DOWNLOADS = int(importlib.metadata.version("google-cloud-storage").split(".")[0]) < 3


def error(code, message="nope"):
    return (code, {"error": {"code": code, "message": message}}, {})


def meta(name, generation=1, size=4, updated=None):
    body = {"kind": "storage#object", "name": name, "bucket": "bkt", "generation": str(generation),
            "metageneration": "1", "size": str(size), "etag": "etag-%d" % generation}
    if updated is not None:
        body["updated"] = datetime.datetime.fromtimestamp(updated, datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ")
    return body


def media(data, generation=1):
    return (200, data, {"Content-Type": "application/octet-stream", "x-goog-generation": str(generation)})


def listing(names, prefixes=(), token=None):
    body = {"kind": "storage#objects", "items": [{"name": n} for n in names]}
    if prefixes:
        body["prefixes"] = list(prefixes)
    if token:
        body["nextPageToken"] = token
    return (200, body, {})


def bucket_there(script):
    """script, then: any other object's metadata is missing (404), and the bucket's listing answers (it exists).
    (The recorder matches paths by their start: the object GETs must come before the listing's.)"""
    return {**script, ("GET", OBJ): [error(404)], ("GET", LIST): [listing([])]}


def sent(recorder, method, start):
    return [(path, query) for m, path, query in recorder.sent if m == method and path.startswith(start)]


@pytest.fixture
def fake_clock(monkeypatch):
    """google-api-core's retry loop, in the test's thread, on a fake monotonic clock that its sleeps advance.
    Other threads (google-cloud-storage >= 3.x fetches bucket metadata in a daemon thread of its own) keep
    the real clock, so that they neither spin nor count here."""
    now = [1000.0]
    slept = []
    main = threading.current_thread()

    def monotonic():
        return now[0] if threading.current_thread() is main else time.monotonic()

    def sleep(seconds):
        if threading.current_thread() is not main:
            return time.sleep(seconds)
        slept.append(seconds)
        now[0] += seconds
        return None
    clock = types.SimpleNamespace(monotonic=monotonic, sleep=sleep, time=time.time)
    monkeypatch.setattr(retry_unary, "time", clock)
    monkeypatch.setattr(retry_base, "time", clock)
    # google-cloud-storage < 3 retries downloads in google-resumable-media's own loop (its own sleeps)
    legacy = sys.modules.get("google.resumable_media.requests._request_helpers")
    if legacy is not None and hasattr(legacy, "time"):
        monkeypatch.setattr(legacy, "time", clock)
    return slept


# ---- objects -------------------------------------------------------------------------------------

def test_store_uploads_under_the_prefix_unconditionally():
    backend, recorder = backend_with({("POST", UP): [(200, meta("p/certs/a.pem"), {})]})
    backend.store("certs/a.pem", b"data", private=True)
    [query] = uploads(recorder)
    assert "ifGenerationMatch" not in query
    assert b'"name": "p/certs/a.pem"' in recorder.bodies[-1] and b"data" in recorder.bodies[-1]


def test_load_returns_the_bytes_and_none_when_missing():
    backend, recorder = backend_with(bucket_there({("GET", DL + "p/a"): [media(b"hello")]}))
    assert backend.load("a") == b"hello"
    assert backend.load("b") is None
    # the 404 was told apart from a missing bucket by one listing, remembered for later 404s
    assert backend.load("c") is None
    lists = [q for m, p, q in recorder.sent if m == "GET" and p == LIST]
    assert len(lists) == 1 and lists[0]["prefix"] == "p/" and lists[0]["maxResults"] == "1"


def test_missing_bucket_is_an_input_error_naming_it():
    backend, _recorder = backend_with({})    # every request: 404
    with pytest.raises(InputError) as err:
        backend.load("a")
    assert err.value.field == "gcs_bucket" and "'bkt' does not exist at http://gcs.invalid" in err.value.msg


def test_load_many():
    backend, recorder = backend_with(bucket_there({("GET", DL + "p/a"): [media(b"A")],
                                                   ("GET", DL + "p/b"): [media(b"B")]}))
    assert backend.load_many([]) == {}
    assert backend.load_many(["a"]) == {"a": b"A"}
    assert backend.load_many(["a", "b", "c"]) == {"a": b"A", "b": b"B", "c": None}
    with pytest.raises(InputError):
        backend.load_many(["a", "../etc"])
    assert len(sent(recorder, "GET", DL)) == 4


def test_delete_and_delete_of_a_missing_object():
    backend, recorder = backend_with(bucket_there({("DELETE", OBJ + "p/a"): [(204, b"", {})]}))
    backend.delete("a")
    backend.delete("gone")       # already gone: nothing to do
    assert [p for p, _q in sent(recorder, "DELETE", OBJ)] == [OBJ + "p/a", OBJ + "p/gone"]


def test_delete_in_a_missing_bucket_is_an_input_error():
    backend, _recorder = backend_with({})
    with pytest.raises(InputError, match="bucket 'bkt' does not exist"):
        backend.delete("a")


def test_upload_404_with_the_bucket_there_is_a_storage_error():
    backend, _recorder = backend_with(bucket_there({("POST", UP): [error(404)]}))
    with pytest.raises(StorageError) as err:
        backend.store("a", b"x")
    assert "gs://bkt/p/a" in err.value.msg and err.value.details["code"] == "404"


def test_upload_404_without_the_bucket_is_an_input_error():
    backend, _recorder = backend_with({("POST", UP): [error(404)]})
    with pytest.raises(InputError) as err:
        backend.store("a", b"x")
    assert err.value.field == "gcs_bucket"


# ---- listing and stat --------------------------------------------------------------------------------

def test_list_recursive_pages_strips_the_prefix_and_hides_locks():
    backend, recorder = backend_with({("GET", LIST): [
        listing(["p/certs/b.pem", "p/locks/www.json"], token="t2"), listing(["p/certs/a.pem", "p/x"])]})
    assert backend.list() == ["certs/a.pem", "certs/b.pem", "x"]
    queries = [q for m, p, q in recorder.sent if m == "GET" and p == LIST]
    assert len(queries) == 2 and queries[1]["pageToken"] == "t2" and "delimiter" not in queries[0]
    assert queries[0]["prefix"] == "p/"


def test_list_below_locks_is_refused():
    backend, recorder = backend_with({("GET", LIST): [listing(["p/locks/www.json"])]})
    with pytest.raises(InputError):
        backend.list("locks/")
    assert recorder.sent == []


def test_list_not_recursive_gives_prefixes():
    backend, recorder = backend_with({("GET", LIST): [listing(["p/certs/top"], prefixes=["p/certs/b/", "p/certs/a/"])]})
    assert backend.list("certs/", recursive=False) == ["certs/a/", "certs/b/", "certs/top"]
    assert [q for m, p, q in recorder.sent if p == LIST][0]["delimiter"] == "/"


def test_list_of_a_missing_bucket():
    backend, _recorder = backend_with({})
    with pytest.raises(InputError, match="bucket 'bkt' does not exist"):
        backend.list()


def test_stat_found_and_missing():
    updated = 1_800_000_000.0
    backend, _recorder = backend_with(bucket_there({("GET", OBJ + "p/a"): [(200, meta("p/a", 3, 12, updated), {})]}))
    found = backend.stat("a")
    assert (found.key, found.size, found.etag) == ("a", 12, "etag-3") and abs(found.modified - updated) < 0.01
    assert backend.stat("b") is None


# ---- errors ---------------------------------------------------------------------------------------

def test_forbidden_names_the_object_and_operation():
    backend, _recorder = backend_with({("GET", DL): [error(403, "no storage.objects.get")]})
    with pytest.raises(StorageError) as err:
        backend.load("certs/a.pem")
    assert "access denied: download on gs://bkt/p/certs/a.pem" in err.value.msg
    assert "no storage.objects.get" in err.value.msg and "\n" not in err.value.msg
    assert err.value.details["code"] == "403" and err.value.details["operation"] == "download"


def test_forbidden_listing_names_the_bucket_and_prefix():
    backend, _recorder = backend_with({("GET", LIST): [error(403)]})
    with pytest.raises(StorageError, match=r"access denied: list on gs://bkt/p/certs/"):
        backend.list("certs/")


def test_unauthorized_names_the_credentials_option():
    backend, _recorder = backend_with({("POST", UP): [error(401, "invalid token")]})
    with pytest.raises(InputError) as err:
        backend.store("a", b"x")
    assert err.value.field == "gcs_credentials_file" and "refused the credentials during upload" in err.value.msg


def test_other_client_errors_are_storage_errors_with_the_code():
    backend, recorder = backend_with({("GET", DL): [error(400, "bad request")]})
    with pytest.raises(StorageError) as err:
        backend.load("a")
    assert "GCS download on gs://bkt/p/a failed" in err.value.msg and err.value.details["code"] == "400"
    assert len(sent(recorder, "GET", DL)) == 1     # not retried


def test_transient_errors_are_retried_then_succeed(fake_clock):
    backend, recorder = backend_with({("GET", DL): [error(503), error(429), media(b"ok")]})
    assert backend.load("a") == b"ok"
    assert len(sent(recorder, "GET", DL)) == 3 and len(fake_clock) == 2


def test_retries_are_bounded_by_storage_timeout(fake_clock):
    backend, recorder = backend_with({("GET", DL): [error(503, "backend unavailable")]})
    with pytest.raises(StorageError) as err:
        backend.load("a")
    # the retry budget is storage_timeout (10 s by default); the last answer is in the message
    if LEGACY_DOWNLOADS:   # google-resumable-media stops on the same budget and raises the last answer only
        assert "GCS download on gs://bkt/p/a failed: 503" in err.value.msg
    else:                  # google-api-core says how long it tried
        assert "GCS endpoint http://gcs.invalid failed during download" in err.value.msg
        assert "10.0s exceeded" in err.value.msg and "503" in err.value.msg
    assert err.value.details["operation"] == "download"
    assert 1 < len(sent(recorder, "GET", DL)) < 50
    assert sum(fake_clock) <= gcs_module.DEFAULT_TIMEOUT


def test_unreachable_endpoint_is_a_storage_error(fake_clock, monkeypatch):
    backend, recorder = backend_with({})

    def refuse(request, **kwargs):
        if threading.current_thread() is threading.main_thread():
            recorder.sent.append((request.method, request.url.split("?")[0][len(ENDPOINT):], {}))
        raise requests.exceptions.ConnectionError("connection refused")
    monkeypatch.setattr(recorder, "send", refuse)
    with pytest.raises(StorageError) as err:
        backend.load("a")
    assert "GCS endpoint http://gcs.invalid failed during download" in err.value.msg
    assert err.value.details["unreachable"] is True
    assert 1 < len(sent(recorder, "GET", DL)) < 50 and sum(fake_clock) <= gcs_module.DEFAULT_TIMEOUT


def test_first_line_of_an_empty_message_is_the_class_name():
    assert gcs_module._first_line(ValueError("")) == "ValueError"
    assert gcs_module._first_line(ValueError(" one\ntwo ")) == "one"


def test_close_never_fails():
    backend, _recorder = backend_with({})
    backend.close()

    def broken():
        raise RuntimeError("boom")
    backend.client.close = broken
    backend.close()


# ---- client creation -------------------------------------------------------------------------------

def test_anonymous_with_an_endpoint_makes_an_anonymous_client():
    from google.auth.credentials import AnonymousCredentials
    backend = open_backend("gcs", {"gcs_bucket": "bkt", "gcs_anonymous": True, "gcs_endpoint_url": "http://x:4443"})
    assert isinstance(backend.client._credentials, AnonymousCredentials)
    assert backend.describe() == "gs://bkt/"


def test_anonymous_with_credentials_is_refused():
    with pytest.raises(InputError) as err:
        open_backend("gcs", {"gcs_bucket": "bkt", "gcs_anonymous": True, "gcs_endpoint_url": "http://x",
                             "gcs_credentials_content": "{}"})
    assert err.value.field == "gcs_anonymous"


def test_a_json_file_that_is_no_service_account_key(tmp_path):
    path = tmp_path / "sa.json"
    path.write_text("{}")
    with pytest.raises(InputError) as err:
        open_backend("gcs", {"gcs_bucket": "bkt", "gcs_credentials_file": str(path)})
    assert err.value.field == "gcs_credentials_file" and "not a service-account key file" in err.value.msg


def test_auth_library_errors_are_storage_errors(monkeypatch):
    def fail(**kwargs):
        raise auth_exceptions.GoogleAuthError("bad credentials")
    monkeypatch.setattr(gcs_module.gcs, "Client", fail)
    with pytest.raises(StorageError, match="cannot create the GCS client: bad credentials"):
        open_backend("gcs", {"gcs_bucket": "bkt", "gcs_anonymous": True, "gcs_endpoint_url": "http://x"})


# ---- leases -----------------------------------------------------------------------------------------

def test_lock_state_without_a_lease_is_free_and_release_returns_false():
    backend, recorder = backend_with(bucket_there({}))
    assert not backend.lock_state("www").held
    assert backend.unlock("www", "me") is False
    assert sent(recorder, "DELETE", OBJ) == []


def test_lease_without_date_header_falls_back_to_the_holders_expiry():
    now = time.time()
    script = lease_answers("holder", 8, now - 5, now)
    record = {"owner": "holder", "ttl": 60, "expires": now + 120}
    script[("GET", OBJ + LEASE)] = [(200, lease_answers("holder", 8, now - 5, now)[("GET", OBJ + LEASE)][0][1], {})]
    script[("GET", DL + LEASE)] = [media(json.dumps(record).encode(), 8)]
    backend, _recorder = backend_with(script)
    state = backend.lock_state("www")
    assert state.held and state.expires == pytest.approx(now + 120)
    record["expires"] = now - 1
    script[("GET", DL + LEASE)] = [media(json.dumps(record).encode(), 8)]
    assert not backend.lock_state("www").held


def test_unreadable_lease_record_uses_the_given_ttl():
    now = time.time()
    script = lease_answers("x", 8, now - 5, now)
    script[("GET", DL + LEASE)] = [media(b"not json", 8)]
    backend, recorder = backend_with(script)
    state = backend.lock_state("www")    # ttl 0 and written 5 s ago by the server's clock: expired
    assert not state.held and state.expires == pytest.approx(now - 5 + 0 + base.LEASE_SLACK, abs=0.01)
    # a lock attempt judges it by its own ttl: written 5 s ago, it holds for a ttl of 30 s ...
    script[("POST", UP)] = [error(412)]
    with pytest.raises(LockError):
        backend.lock("www", 30, timeout=0)
    assert [q["ifGenerationMatch"] for q in uploads(recorder)] == ["0"]
    # ... and is taken over, with the generation read, for a ttl of 3 s
    script[("POST", UP)] = [error(412), (200, meta(LEASE, 9), {})]
    lock = backend.lock("www", 3, timeout=0)
    assert lock.ttl == 3 and [q["ifGenerationMatch"] for q in uploads(recorder)][1:] == ["0", "8"]


def test_lease_replaced_while_reading_is_read_again_then_given_up():
    now = time.time()
    script = lease_answers("holder", 8, now - 5, now)
    script[("GET", DL + LEASE)] = [error(404)]      # the generation read is always gone by the download
    backend, recorder = backend_with(script)
    assert not backend.lock_state("www").held
    assert len(sent(recorder, "GET", DL + LEASE)) == 5
    assert all(q.get("generation") == "8" for _p, q in sent(recorder, "GET", DL + LEASE))


def test_lease_released_between_create_and_read_is_created_again():
    script = bucket_there({("POST", UP): [error(412), (200, meta(LEASE, 2), {})]})
    backend, recorder = backend_with(script)
    lock = backend.lock("www", 60, timeout=0)
    assert lock.owner and [q["ifGenerationMatch"] for q in uploads(recorder)] == ["0", "0"]


def test_lock_gives_up_after_five_lost_races():
    now = time.time()
    script = lease_answers("someone", 5, now - 600, now, ttl=60)    # expired
    script[("POST", UP)] = [error(412)]                               # every upload loses
    backend, recorder = backend_with(script)
    with pytest.raises(LockError, match="held by another owner"):
        backend.lock("www", 60, timeout=0)
    assert len(uploads(recorder)) == 10    # five rounds of create + takeover


def test_lock_in_a_missing_bucket_is_an_input_error():
    backend, _recorder = backend_with({})
    with pytest.raises(InputError, match="bucket 'bkt' does not exist"):
        backend.lock("www", 60, timeout=0)


def test_release_of_a_lease_deleted_meanwhile_returns_false():
    now = time.time()
    script = lease_answers("me", 6, now - 5, now)
    script[("DELETE", OBJ + LEASE)] = [error(404)]
    backend, recorder = backend_with(script)
    assert backend.unlock("www", "me") is False
    assert sent(recorder, "DELETE", OBJ)[0][1]["ifGenerationMatch"] == "6"


def test_lock_error_names_the_bucket():
    now = time.time()
    backend, _recorder = backend_with(lease_answers("other", 5, now - 5, now))
    with pytest.raises(LockError) as err:
        backend.unlock("www", "me")
    assert "lock 'www' on gs://bkt/p/ is held by another owner" in err.value.msg


def test_lease_without_date_or_expiry_holds_for_the_asked_ttl():
    now = time.time()
    script = lease_answers("holder", 8, now - 5, now)
    script[("GET", OBJ + LEASE)] = [(200, meta(LEASE, 8, 10, now - 5), {})]     # no Date header
    script[("GET", DL + LEASE)] = [media(json.dumps({"owner": "holder"}).encode(), 8)]
    script[("POST", UP)] = [error(412)]
    backend, recorder = backend_with(script)
    with pytest.raises(LockError, match="held by another owner"):
        backend.lock("www", 60, timeout=0)
    assert [q["ifGenerationMatch"] for q in uploads(recorder)] == ["0"]     # not taken over


def test_lease_upload_404_in_an_existing_bucket_gives_up_after_five_attempts():
    backend, recorder = backend_with(bucket_there({("POST", UP): [error(404)]}))
    with pytest.raises(LockError, match="held by another owner"):
        backend.lock("www", 60, timeout=0)
    assert [q["ifGenerationMatch"] for q in uploads(recorder)] == ["0"] * 5
