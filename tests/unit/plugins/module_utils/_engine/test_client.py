"""Transport behaviour on a CA's bad days, against a scripted HTTP adapter (no network)."""
import json

import pytest
import requests
from requests.adapters import BaseAdapter

from ansible_collections.autotls.acme.plugins.module_utils._engine import client as acme_client
from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    ACMEProblem, DeadlineExceeded, TransportError)

DIRECTORY = {"newNonce": "https://ca.test/nonce", "newAccount": "https://ca.test/acct",
             "newOrder": "https://ca.test/order", "keyChange": "https://ca.test/kc"}
NONCE = "bm9uY2U"


def problem(status, code, detail="", headers=None):
    return status, {"type": "urn:ietf:params:acme:error:" + code, "detail": detail}, headers or {}


class Scripted(BaseAdapter):
    """Answers each request with the next scripted (status, json body, headers)."""

    def __init__(self, script):
        super().__init__()
        self.script = list(script)
        self.requests = []

    def send(self, request, **kwargs):
        self.requests.append(request)
        if request.method == "HEAD":
            status, body, headers = 200, None, {}
        elif request.url == DIRECTORY["newNonce"] + "/dir":
            status, body, headers = 200, DIRECTORY, {}
        else:
            step = self.script.pop(0)
            if isinstance(step, Exception):
                raise step
            status, body, headers = step
        response = requests.Response()
        response.status_code = status
        response.url = request.url
        response.headers.update({"Replay-Nonce": NONCE, **headers})
        if body is not None:
            response._content = json.dumps(body).encode()
            response.headers["Content-Type"] = "application/problem+json" if status >= 400 else "application/json"
        else:
            response._content = b""
        response.request = request
        return response

    def close(self):
        pass


class FakeClock:
    """Monotonic time that only the fake sleep advances: no test waits for real."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def make_client():
    clock = FakeClock()
    sleeps = clock.sleeps

    def build(script, retry_timeout=60, poll_timeout=120):
        client = acme_client.AcmeClient(DIRECTORY["newNonce"] + "/dir", keys.generate_private_key("ecdsa-p256"),
                                        retry_timeout=retry_timeout, poll_timeout=poll_timeout)
        adapter = Scripted(script)
        client.net.session.mount("https://", adapter)
        client.net.sleep, client.net.clock = clock.sleep, clock
        client.clock = clock
        client.adapter, client.sleeps = adapter, sleeps
        return client
    return build


def test_bad_nonce_is_retried_with_a_fresh_nonce(make_client):
    script = [problem(400, "badNonce")] * 7 + [(200, {"ok": 1}, {})]
    client = make_client(script)
    assert client.post("https://ca.test/x", {}).json() == {"ok": 1}
    posts = [r for r in client.adapter.requests if r.method == "POST"]
    assert len(posts) == 8
    # the nonce carried by each error answer is used, so no HEAD is needed between retries
    assert len([r for r in client.adapter.requests if r.method == "HEAD"]) == 1


def test_bad_nonce_storm_is_retried_until_the_deadline_not_a_count(make_client):
    # 90% rejection: 25 rejections in a row still end in success (a count of 10 gave up)
    client = make_client([problem(400, "badNonce")] * 60 + [(200, {"ok": 1}, {})])
    assert client.post("https://ca.test/x", {}).json() == {"ok": 1}
    assert len([r for r in client.adapter.requests if r.method == "POST"]) == 61
    # paced only after the free retries
    assert client.sleeps == [acme_client.NONCE_PAUSE] * (60 - acme_client.NONCE_FREE_RETRIES)


def test_endless_bad_nonce_gives_up_at_the_retry_deadline(make_client):
    client = make_client([problem(400, "badNonce", "stale")] * 500, retry_timeout=1)
    started = client.clock()   # the injected clock: the pauses advance it, nothing really sleeps
    with pytest.raises(ACMEProblem) as err:
        client.post("https://ca.test/x", {})
    assert err.value.code == "badNonce" and "retry_timeout" in err.value.msg
    assert 0.5 <= client.clock() - started <= 1.0


def test_rate_limit_is_retried_after_the_servers_delay(make_client):
    client = make_client([problem(429, "rateLimited", "slow down", {"Retry-After": "3"}),
                          problem(503, "serverInternal", "busy", {"Retry-After": "2"}), (200, {"ok": 1}, {})])
    assert client.post("https://ca.test/x", {}).json() == {"ok": 1}
    assert client.sleeps == [3.0, 2.0]


def test_retry_after_beyond_the_deadline_fails_at_once_with_the_problem(make_client):
    client = make_client([problem(429, "rateLimited", "too many certificates", {"Retry-After": "3600"})],
                         retry_timeout=30)
    with pytest.raises(ACMEProblem) as err:
        client.post("https://ca.test/order", {})
    assert client.sleeps == []
    error = err.value
    assert error.code == "rateLimited" and error.status == 429 and error.retry_after == 3600
    assert "beyond the 30 s retry deadline" in error.msg
    result = error.to_result()
    assert result["problem"]["detail"] == "too many certificates"
    assert result["http_status"] == 429 and result["http_url"] == "https://ca.test/order"


def test_client_errors_are_not_retried_and_keep_subproblems(make_client):
    body = {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "policy forbids",
            "subproblems": [{"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "bad.example",
                             "identifier": {"type": "dns", "value": "bad.example"}}]}
    client = make_client([(403, body, {})])
    with pytest.raises(ACMEProblem) as err:
        client.post("https://ca.test/order", {})
    assert err.value.subproblems[0]["identifier"]["value"] == "bad.example"
    assert len([r for r in client.adapter.requests if r.method == "POST"]) == 1


def test_connection_errors_are_retried_then_reported(make_client):
    failure = requests.exceptions.ConnectionError("connection refused")
    client = make_client([failure, (200, {"ok": 1}, {})])
    assert client.post("https://ca.test/x", {}).json() == {"ok": 1}
    client = make_client([failure] * 50, retry_timeout=2)
    with pytest.raises(TransportError, match="cannot reach the ACME server"):
        client.post("https://ca.test/x", {})


def test_tls_failure_points_at_ca_bundle(make_client):
    client = make_client([requests.exceptions.SSLError("certificate verify failed")])
    with pytest.raises(TransportError, match="ca_bundle"):
        client.post("https://ca.test/x", {})


def test_poll_grows_its_interval_and_honours_retry_after(make_client):
    pending = (200, {"status": "pending"}, {})
    slow = (200, {"status": "pending"}, {"Retry-After": "1"})
    client = make_client([pending, pending, pending, slow, (200, {"status": "valid"}, {})])
    body = client.poll("https://ca.test/authz", lambda b: b["status"] == "valid", "authorization")
    assert body["status"] == "valid"
    assert client.sleeps[:3] == [0.05, 0.1, 0.2]
    assert client.sleeps[3] == 1.0  # never faster than the CA asks


def test_poll_is_bounded_by_its_deadline(make_client):
    client = make_client([(200, {"status": "processing"}, {})] * 1000, poll_timeout=30)
    with pytest.raises(DeadlineExceeded, match="still 'processing' after 30 s"):
        client.poll("https://ca.test/order", lambda b: b["status"] == "valid", "order")
    assert sum(client.sleeps) == pytest.approx(30) and max(client.sleeps) == acme_client.POLL_MAX_INTERVAL


def test_deadline_uses_the_injected_clock():
    now = [5.0]
    deadline = acme_client.Deadline(10, clock=lambda: now[0])
    assert deadline.remaining() == 10
    now[0] = 12.0
    assert deadline.remaining() == 3
    now[0] = 100.0
    assert deadline.remaining() == 0.0


def test_connection_errors_stop_at_the_retry_deadline_in_fake_time(make_client):
    failure = requests.exceptions.ConnectionError("connection refused")
    client = make_client([failure] * 50, retry_timeout=2)
    with pytest.raises(TransportError):
        client.post("https://ca.test/x", {})
    assert client.sleeps == [0.5, 1.0] and sum(client.sleeps) <= 2


def test_invalid_contact_from_the_ca_names_the_field(make_client):
    from ansible_collections.autotls.acme.plugins.module_utils._engine import account
    from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError
    client = make_client([problem(400, "accountDoesNotExist"),
                          problem(400, "invalidContact", "contact email has forbidden domain \"example.com\"")])
    client._directory = client.directory  # fetched from the scripted directory
    with pytest.raises(InputError) as err:
        account.ensure_present(client, ["mailto:ops@example.com"], terms_agreed=True)
    assert err.value.field == "contact" and "forbidden domain" in err.value.msg
    assert err.value.details["http_status"] == 400


def test_external_account_binding_is_an_hmac_over_the_account_key(make_client):
    import base64
    import hashlib
    import hmac

    from ansible_collections.autotls.acme.plugins.module_utils._engine import account
    from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError
    client = make_client([])
    secret = b"0123456789abcdef0123456789abcdef"
    hmac_key = base64.urlsafe_b64encode(secret).rstrip(b"=").decode()
    eab = account.external_account_binding(client, {"kid": "kid-1", "hmac_key": hmac_key, "alg": "HS256"})

    def b64d(text):
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    protected = json.loads(b64d(eab["protected"]))
    assert protected == {"alg": "HS256", "kid": "kid-1", "url": DIRECTORY["newAccount"]}
    assert json.loads(b64d(eab["payload"])) == client.jwk.public_key().to_partial_json()
    expected = hmac.new(secret, ("%s.%s" % (eab["protected"], eab["payload"])).encode(), hashlib.sha256).digest()
    assert b64d(eab["signature"]) == expected
    with pytest.raises(InputError, match="external_account_binding.hmac_key: is required"):
        account.external_account_binding(client, {"kid": "kid-1"})
    with pytest.raises(InputError, match="external_account_binding.alg: must be one of"):
        account.external_account_binding(client, {"kid": "k", "hmac_key": hmac_key, "alg": "MD5"})
