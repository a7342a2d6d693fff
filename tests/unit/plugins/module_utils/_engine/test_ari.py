"""ACME Renewal Information (RFC 9773): certificate ids, the window answer, when to renew (no network)."""
import datetime
import email.utils
import json
import random

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.adapters import BaseAdapter

from ansible_collections.autotls.acme.plugins.module_utils._engine import ari, keys, order
from ansible_collections.autotls.acme.plugins.module_utils._engine import client as acme_client
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import ACMEProblem, InputError

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
# RFC 9773 section 4.1, the worked example
RFC_AKI = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
RFC_SERIAL = 0x87654321
RFC_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def make_cert(serial, aki=RFC_AKI):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.com")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(serial).not_valid_before(T0).not_valid_after(T0 + datetime.timedelta(days=90)))
    if aki is not None:
        builder = builder.add_extension(x509.AuthorityKeyIdentifier(aki, None, None), critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


# ---- certificate_id ---------------------------------------------------------------------------

def test_certificate_id_is_the_rfc_example():
    # serial 0x87654321 has its high bit set: DER prepends 0x00 (two's complement), hence "AIdlQyE"
    assert ari.certificate_id(make_cert(RFC_SERIAL)) == RFC_ID


@pytest.mark.parametrize("serial, encoded", [
    (0x0123456789, "ASNFZ4k"),    # no leading zero byte when the high bit is clear
    (0x7F, "fw"),
    (0x80, "AIA"),                # one byte would read as negative
    (0xFF00, "AP8A"),
    (1, "AQ"),
])
def test_serial_is_minimal_twos_complement(serial, encoded):
    assert ari.certificate_id(make_cert(serial)) == "aYhba4dGQEHhs3uEe6CuLN4ByNQ." + encoded


def test_certificate_id_matches_the_acme_librarys_own():
    from acme.client import _renewal_info_path_component
    for _round in range(20):
        pem = make_cert(x509.random_serial_number(), aki=random.randbytes(20))
        assert ari.certificate_id(pem) == _renewal_info_path_component(x509.load_pem_x509_certificate(pem))


def test_first_certificate_of_a_fullchain_is_used():
    leaf, other = make_cert(RFC_SERIAL), make_cert(5, aki=b"\x01" * 20)
    assert ari.certificate_id(leaf + other) == RFC_ID


def test_a_certificate_without_aki_has_no_id():
    pem = make_cert(RFC_SERIAL, aki=None)
    with pytest.raises(InputError) as err:
        ari.certificate_id(pem)
    assert "Authority Key Identifier" in err.value.msg
    assert ari.try_certificate_id(pem) is None
    assert ari.try_certificate_id(b"garbage") is None


@pytest.mark.parametrize("value, expected", [(None, None), ("", None), (RFC_ID, RFC_ID), (" %s " % RFC_ID, RFC_ID)])
def test_check_certificate_id_accepts(value, expected):
    assert ari.check_certificate_id(value) == expected


@pytest.mark.parametrize("value", ["nodot", "a.b.c", "a+b.c", "../x.y", ".x", 5])
def test_check_certificate_id_refuses_and_names_the_field(value):
    with pytest.raises(InputError) as err:
        ari.check_certificate_id(value, "certificates[0].replaces")
    assert err.value.field == "certificates[0].replaces"


# ---- window, Retry-After, selection, decision ---------------------------------------------------

@pytest.mark.parametrize("seconds, expected", [
    (None, 6 * 3600), (0, 60), (30, 60), (60, 60), (3600, 3600), (7 * 86400, 7 * 86400), (10 ** 9, 7 * 86400)])
def test_retry_after_is_clamped(seconds, expected):
    assert ari.clamp_retry_after(seconds) == expected


@pytest.mark.parametrize("text, expected", [
    ("2026-03-01T12:00:00Z", T0),
    ("2026-03-01T12:00:00.123456789Z", T0.replace(microsecond=123456)),
    ("2026-03-01T14:30:00+02:30", T0),
    ("2026-03-01t12:00:00z", T0),
    ("2026-02-30T12:00:00Z", None),
    ("yesterday", None),
    (None, None),
])
def test_parse_time(text, expected):
    assert ari.parse_time(text) == expected


def test_parse_window():
    body = {"suggestedWindow": {"start": "2026-03-01T12:00:00Z", "end": "2026-03-02T12:00:00Z"},
            "explanationURL": "https://ca.test/incident"}
    window = ari.parse_window(body, retry_after=None)
    assert (window.start, window.end) == (T0, T0 + datetime.timedelta(days=1))
    assert window.explanation_url == "https://ca.test/incident" and window.retry_after_seconds == 6 * 3600
    assert ari.parse_window(body, retry_after=5).retry_after_seconds == 60


@pytest.mark.parametrize("body", [
    {}, [], {"suggestedWindow": {"start": "2026-03-01T12:00:00Z"}},
    {"suggestedWindow": {"start": "2026-03-02T12:00:00Z", "end": "2026-03-01T12:00:00Z"}},   # ends before it starts
    {"suggestedWindow": {"start": "soon", "end": "later"}},
])
def test_parse_window_refuses_what_is_not_a_window(body):
    with pytest.raises(ari.ARIError):
        ari.parse_window(body, url="https://ca.test/ri/x")


class Fixed:
    def __init__(self, fraction):
        self.fraction = fraction

    def uniform(self, low, high):
        return low + (high - low) * self.fraction


def test_select_time_stays_inside_the_window():
    window = ari.RenewalWindow(T0, T0 + datetime.timedelta(hours=48))
    assert ari.select_time(window, Fixed(0.0)) == window.start
    assert ari.select_time(window, Fixed(1.0)) == window.end
    assert ari.select_time(window, Fixed(0.25)) == T0 + datetime.timedelta(hours=12)
    rng = random.Random(7)
    picks = [ari.select_time(window, rng) for _round in range(500)]
    assert all(window.start <= pick <= window.end for pick in picks)
    assert min(picks) < T0 + datetime.timedelta(hours=6) and max(picks) > T0 + datetime.timedelta(hours=42)
    point = ari.RenewalWindow(T0, T0)
    assert ari.select_time(point) == T0


def test_decide():
    window = ari.RenewalWindow(T0, T0 + datetime.timedelta(hours=10))
    selected = T0 + datetime.timedelta(hours=4)
    assert ari.decide(window, selected, T0 - datetime.timedelta(days=1)) is False
    assert ari.decide(window, selected, T0 + datetime.timedelta(hours=3, minutes=59)) is False
    assert ari.decide(window, selected, selected) is True
    assert ari.decide(window, selected, T0 + datetime.timedelta(hours=9)) is True
    # a window that already ended is due now, even with a (stale) selection after it
    assert ari.decide(window, T0 + datetime.timedelta(days=5), T0 + datetime.timedelta(hours=11)) is True


# ---- fetch, through the client's network object ---------------------------------------------------

BASE = "https://ca.test"


class CA(BaseAdapter):
    """A directory (with or without renewalInfo) and scripted renewalInfo answers."""

    def __init__(self, answers, renewal_info=True):
        super().__init__()
        self.answers = list(answers)
        self.directory = {"newNonce": BASE + "/nonce", "newAccount": BASE + "/acct", "newOrder": BASE + "/order"}
        if renewal_info:
            self.directory["renewalInfo"] = BASE + "/renewal-info/"
        self.requests = []

    def send(self, request, **kwargs):
        self.requests.append((request.method, request.url))
        if request.url == BASE + "/dir":
            status, body, headers = 200, self.directory, {}
        else:
            status, body, headers = self.answers.pop(0)
        response = requests.Response()
        response.status_code, response.url, response.request = status, request.url, request
        response.headers.update(headers)
        response.headers["Content-Type"] = "application/problem+json" if status >= 400 else "application/json"
        response._content = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        return response

    def close(self):
        pass


def client_for(adapter):
    client = acme_client.AcmeClient(BASE + "/dir", keys.generate_private_key("ecdsa-p256"), retry_timeout=5)
    client.net.session.mount("https://", adapter)
    client.net.sleep = lambda _seconds: None
    return client


WINDOW = {"suggestedWindow": {"start": "2026-03-01T12:00:00Z", "end": "2026-03-02T12:00:00Z"}}


def test_fetch_gets_the_window_with_its_retry_after():
    adapter = CA([(200, WINDOW, {"Retry-After": "21600"})])
    window = ari.fetch(client_for(adapter), RFC_ID)
    assert window.start == T0 and window.retry_after_seconds == 21600
    assert adapter.requests == [("GET", BASE + "/dir"), ("GET", BASE + "/renewal-info/" + RFC_ID)]


def test_fetch_reads_an_http_date_retry_after_and_clamps_it():
    later = email.utils.formatdate(datetime.datetime.now(UTC).timestamp() + 30 * 86400, usegmt=True)
    assert ari.fetch(client_for(CA([(200, WINDOW, {"Retry-After": later})])), RFC_ID).retry_after_seconds == 7 * 86400
    assert ari.fetch(client_for(CA([(200, WINDOW, {})])), RFC_ID).retry_after_seconds == 6 * 3600


def test_fetch_without_renewal_info_asks_nothing_but_the_directory():
    adapter = CA([], renewal_info=False)
    assert ari.fetch(client_for(adapter), RFC_ID) is None
    assert adapter.requests == [("GET", BASE + "/dir")]


def test_fetch_retries_a_busy_ca_then_reports_its_problem():
    busy = (503, {"type": "urn:ietf:params:acme:error:serverInternal", "detail": "busy"}, {"Retry-After": "1"})
    adapter = CA([busy, (200, WINDOW, {})])
    assert ari.fetch(client_for(adapter), RFC_ID).start == T0
    adapter = CA([(404, {"type": "urn:ietf:params:acme:error:malformed", "detail": "unknown certificate"}, {})])
    with pytest.raises(ACMEProblem) as err:
        ari.fetch(client_for(adapter), RFC_ID)
    assert err.value.status == 404
    with pytest.raises(ari.ARIError):
        ari.fetch(client_for(CA([(200, "<html>not json</html>", {})])), RFC_ID)


# ---- replaces: which refusals are about it ---------------------------------------------------------

@pytest.mark.parametrize("status, code, detail, expected", [
    (409, "alreadyReplaced", "already replaced", True),
    (400, "malformed", "the certificate named in replaces is unknown", True),
    (403, "unauthorized", "cannot replace a certificate of another account", True),
    # typed, not by the words: a malformed order is placed once more without "replaces" (the retry then
    # gets the same refusal, which is raised) - the detail text is never parsed
    (400, "malformed", "identifiers: wildcard not allowed", True),
    (409, "conflict", "", True),
    (429, "rateLimited", "too many new orders (replaces ignored)", False),
    (400, "badCSR", "mentions replace", False),
    (403, "rejectedIdentifier", "policy forbids", False),
])
def test_rejects_replaces(status, code, detail, expected):
    problem = ACMEProblem("urn:ietf:params:acme:error:" + code, detail, status=status)
    assert order.rejects_replaces(problem) is expected
