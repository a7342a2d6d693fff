"""The gcs backend's requests, seen on the wire (a recording transport instead of the network).

fake-gcs-server (the integration tests' GCS) does not enforce ifGenerationMatch on deletes, so the
release precondition is proven here: the DELETE carries the generation that was read, and a 412
answer is a LockError, not a release. Lease expiry is judged by the server's Date, not our clock.
"""
import datetime
import email.utils
import io
import json
import time
import urllib.parse

import pytest
import requests
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from urllib3.response import HTTPResponse

from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError, LockError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.gcs import GCSStorage

ENDPOINT = "http://gcs.invalid"
LEASE = "p/locks/www.json"


class Recorder(requests.adapters.HTTPAdapter):
    """Answers from a script of (method, path start) -> list of (status, body, headers); records every request."""

    def __init__(self, script):
        super().__init__()
        self.script = script
        self.sent = []
        self.bodies = []

    def send(self, request, **kwargs):
        url = urllib.parse.urlsplit(request.url)
        query = dict(urllib.parse.parse_qsl(url.query))
        path = urllib.parse.unquote(url.path)
        self.sent.append((request.method, path, query))
        self.bodies.append(request.body or b"")
        for (method, start), answers in self.script.items():
            if request.method == method and path.startswith(start) and answers:
                status, body, headers = answers.pop(0) if len(answers) > 1 else answers[0]
                break
        else:
            status, body, headers = 404, b'{"error": {"code": 404, "message": "Not Found"}}', {}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        raw = HTTPResponse(body=io.BytesIO(body), headers=dict({"Content-Type": "application/json"}, **headers),
                           status=status, preload_content=False, decode_content=False)
        return self.build_response(request, raw)


def http_date(epoch):
    return email.utils.formatdate(epoch, usegmt=True)


def lease_answers(owner, generation, updated, server_now, ttl=60):
    """The metadata GET and the media GET of a lease object."""
    record = {"owner": owner, "ttl": ttl, "expires": time.time() + 3600, "host": "h", "pid": 1}
    meta = {"kind": "storage#object", "name": LEASE, "bucket": "bkt", "generation": str(generation),
            "metageneration": "1", "size": "10",
            "updated": datetime.datetime.fromtimestamp(updated, datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
    return {
        ("GET", "/storage/v1/b/bkt/o/" + LEASE): [(200, meta, {"Date": http_date(server_now)})],
        ("GET", "/download/storage/v1/b/bkt/o/" + LEASE): [(200, json.dumps(record).encode(),
                                                            {"Content-Type": "application/json",
                                                             "x-goog-generation": str(generation)})],
    }


def backend_with(script):
    session = requests.Session()
    recorder = Recorder(script)
    session.mount("http://", recorder)
    client = storage.Client(project="p", credentials=AnonymousCredentials(), _http=session,
                            client_options={"api_endpoint": ENDPOINT})
    return GCSStorage(gcs_bucket="bkt", gcs_prefix="p", gcs_endpoint_url=ENDPOINT, client=client), recorder


def deletes(recorder):
    return [(path, query) for method, path, query in recorder.sent if method == "DELETE"]


def uploads(recorder):
    return [query for method, path, query in recorder.sent if method == "POST" and path.startswith("/upload/")]


def test_release_deletes_with_the_generation_that_was_read():
    now = time.time()
    script = lease_answers("me", 1234567, now - 5, now)
    script[("DELETE", "/storage/v1/b/bkt/o/" + LEASE)] = [(204, b"", {})]
    backend, recorder = backend_with(script)
    assert backend.unlock("www", "me") is True
    [(path, query)] = deletes(recorder)
    assert path == "/storage/v1/b/bkt/o/" + LEASE and query["ifGenerationMatch"] == "1234567"


def test_release_that_loses_the_precondition_is_a_lock_error():
    now = time.time()
    script = lease_answers("me", 77, now - 5, now)
    script[("DELETE", "/storage/v1/b/bkt/o/" + LEASE)] = [
        (412, {"error": {"code": 412, "message": "Precondition Failed"}}, {})]
    backend, recorder = backend_with(script)
    with pytest.raises(LockError, match="changed while it was being released"):
        backend.unlock("www", "me")
    assert deletes(recorder)[0][1]["ifGenerationMatch"] == "77"


def test_release_of_another_owners_lease_sends_no_delete():
    now = time.time()
    backend, recorder = backend_with(lease_answers("someone-else", 5, now - 5, now))
    with pytest.raises(LockError, match="held by another owner"):
        backend.unlock("www", "me")
    assert deletes(recorder) == []


def test_acquire_creates_with_generation_zero():
    created = (200, {"name": LEASE, "generation": "9"}, {})
    backend, recorder = backend_with({("POST", "/upload/storage/v1/b/bkt/o"): [created]})
    lock = backend.lock("www", 60)
    assert lock.owner and uploads(recorder)[0]["ifGenerationMatch"] == "0"
    assert ('"name": "%s"' % LEASE).encode() in recorder.bodies[-1]


def test_expiry_is_judged_by_the_server_clock_and_takeover_names_the_generation():
    """The record says it expires in an hour (the holder's clock), but by the server's Date the lease
    was last written ttl + 5 seconds ago: it has expired and is taken over with the generation read."""
    updated = time.time() - 3 * 86400          # whatever our clock says
    script = lease_answers("crashed", 4242, updated, updated + 65, ttl=60)
    script[("POST", "/upload/storage/v1/b/bkt/o")] = [
        (412, {"error": {"code": 412, "message": "Precondition Failed"}}, {}),   # create: it exists
        (200, {"name": LEASE, "generation": "4243"}, {})]                         # takeover
    backend, recorder = backend_with(script)
    backend.lock("www", 60)
    assert [query["ifGenerationMatch"] for query in uploads(recorder)] == ["0", "4242"]


def test_a_lease_the_server_clock_says_is_fresh_is_not_taken_over():
    """Our clock is 3 days ahead of the lease; the server's says it was written 10 s ago: still held."""
    updated = time.time() - 3 * 86400
    script = lease_answers("holder", 11, updated, updated + 10, ttl=60)
    script[("POST", "/upload/storage/v1/b/bkt/o")] = [(412, {"error": {"code": 412, "message": "x"}}, {})]
    backend, recorder = backend_with(script)
    with pytest.raises(LockError, match="held by another owner"):
        backend.lock("www", 60, timeout=0)
    assert [query["ifGenerationMatch"] for query in uploads(recorder)] == ["0"]
    state = backend.lock_state("www")
    assert state.held and abs(state.expires - (updated + 61)) < 1


def test_kms_key_name_goes_with_every_upload():
    key = "projects/p/locations/eu/keyRings/r/cryptoKeys/k"
    session = requests.Session()
    recorder = Recorder({("POST", "/upload/storage/v1/b/bkt/o"): [(200, {"name": "p/x", "generation": "1"}, {})]})
    session.mount("http://", recorder)
    client = storage.Client(project="p", credentials=AnonymousCredentials(), _http=session,
                            client_options={"api_endpoint": ENDPOINT})
    backend = GCSStorage(gcs_bucket="bkt", gcs_prefix="p", gcs_kms_key_name=key, client=client)
    backend.store("x", b"data")
    assert uploads(recorder)[0]["kmsKeyName"] == key


@pytest.mark.parametrize("options, field", [
    ({}, "gcs_bucket"),
    ({"gcs_bucket": "a/b"}, "gcs_bucket"),
    ({"gcs_bucket": "bkt", "gcs_prefix": "../x"}, "gcs_prefix"),
    ({"gcs_bucket": "bkt", "gcs_kms_key_name": "my-key"}, "gcs_kms_key_name"),
    ({"gcs_bucket": "bkt", "gcs_endpoint_url": "127.0.0.1:4443"}, "gcs_endpoint_url"),
    ({"gcs_bucket": "bkt", "gcs_anonymous": True}, "gcs_anonymous"),
    ({"gcs_bucket": "bkt", "gcs_credentials_file": "/nonexistent/sa.json"}, "gcs_credentials_file"),
    ({"gcs_bucket": "bkt", "gcs_credentials_content": "{not json"}, "gcs_credentials_content"),
    ({"gcs_bucket": "bkt", "gcs_credentials_content": "{}", "gcs_credentials_file": "/x"}, "gcs_credentials_content"),
    ({"gcs_bucket": "bkt", "storage_timeout": 0}, "storage_timeout"),
])
def test_bad_values_name_the_field(options, field):
    with pytest.raises(InputError) as err:
        open_backend("gcs", options)
    assert err.value.field == field


def test_no_application_default_credentials_is_an_error_naming_the_option(monkeypatch, tmp_path):
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path))      # no gcloud application-default login
    monkeypatch.setenv("NO_GCE_CHECK", "True")                # and no metadata server is asked
    with pytest.raises(InputError) as err:
        open_backend("gcs", {"gcs_bucket": "bkt"})
    assert err.value.field == "gcs_credentials_file" and "Application Default Credentials" in err.value.msg


def service_account_json():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "sa-project", "private_key_id": "1", "private_key": pem,
            "client_email": "autotls@sa-project.iam.gserviceaccount.com", "client_id": "1",
            "token_uri": "https://oauth2.googleapis.com/token"}


def test_service_account_file_and_adc_file_are_used(monkeypatch, tmp_path):
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(service_account_json()))
    backend = open_backend("gcs", {"gcs_bucket": "bkt", "gcs_credentials_file": str(path)})
    assert backend.client.project == "sa-project"
    assert backend.client._credentials.service_account_email == "autotls@sa-project.iam.gserviceaccount.com"
    assert "devstorage.read_write" in " ".join(backend.client._credentials.scopes)
    content = open_backend("gcs", {"gcs_bucket": "bkt", "gcs_credentials_content": path.read_text()})
    assert content.client._credentials.service_account_email.startswith("autotls@")
    # Application Default Credentials: the same file named by GOOGLE_APPLICATION_CREDENTIALS
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    adc = open_backend("gcs", {"gcs_bucket": "bkt"})
    assert adc.client.project == "sa-project"
    assert adc.client._credentials.service_account_email.startswith("autotls@")
