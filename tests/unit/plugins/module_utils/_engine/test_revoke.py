"""Revocation (RFC 8555 section 7.6) against the fake CA: who signs, which reason, idempotence, check mode."""
import base64
import json

import josepy as jose
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ansible_collections.autotls.acme.plugins.module_utils._engine import account, keys, revoke
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import ACMEProblem, InputError

from .certs import make_cert
from .fakeca import BASE, FakeCA, client_for


def _serial_of_der(der):
    return x509.load_der_x509_certificate(der).serial_number


class RevokingCA(FakeCA):
    """The fake CA plus revokeCert: the JWS is verified (by the account's key for a key ID, by the certificate's
    public key for a JWK), a certificate is revoked once and alreadyRevoked answers the second time."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.revoked = {}    # serial -> {"reason", "kid", "jwk"}

    def route(self, request, path, protected, payload):
        if path != "/revoke":
            return super().route(request, path, protected, payload)
        jws = jose.JWS.json_loads(request.body)
        der = base64.urlsafe_b64decode(payload["certificate"] + "=" * (-len(payload["certificate"]) % 4))
        cert = x509.load_der_x509_certificate(der)
        if "kid" in protected:
            assert "jwk" not in protected
            account_key = next(k for k, a in self.accounts.items() if a["url"] == protected["kid"])
            if not jws.verify(jose.JWK.from_json(json.loads(account_key))):
                return self._problem(request, 403, "unauthorized", "bad signature")
        else:
            signer = jose.JWK.from_json(protected["jwk"])
            cert_jwk = jose.JWK.load(cert.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
            if signer.thumbprint() != cert_jwk.thumbprint() or not jws.verify(signer):
                return self._problem(request, 403, "unauthorized", "not signed by the certificate's key")
        if payload.get("reason") not in (0, 1, 3, 4, 5):
            return self._problem(request, 400, "badRevocationReason", "reason %r" % payload.get("reason"))
        if cert.serial_number in self.revoked:
            return self._problem(request, 400, "alreadyRevoked", "certificate already revoked")
        self.revoked[cert.serial_number] = {"reason": payload["reason"], "kid": protected.get("kid"),
                                            "jwk": protected.get("jwk")}
        return self._answer(request, 200, None)


def wired_client(ca, key=None):
    """client_for(ca), whose with_key() clients talk to the same fake CA with the same fake clock (a client made by
    with_key() has a session of its own, which would otherwise go to the network)."""
    made = client_for(ca, key)
    original = made.with_key
    made.derived = []

    def with_key(other_key):
        other = original(other_key)
        other.net.session.mount("https://", ca)
        other.net.clock, other.net.sleep = made.net.clock, made.net.sleep
        made.derived.append(other)
        return other
    made.with_key = with_key
    return made


@pytest.fixture
def ca():
    return RevokingCA()


@pytest.fixture
def client(ca):
    made = wired_client(ca)
    account.ensure_present(made, ["mailto:ops@example.com"], True)
    return made


@pytest.fixture
def cert():
    pem, key = make_cert(names=("www.example.com", "example.com"))
    return pem, key, x509.load_pem_x509_certificate(pem).serial_number


def revoke_posts(ca):
    return [r for r in ca.requests if r.url == BASE + "/revoke"]


def test_revoke_with_account_key_signs_with_key_id(ca, client, cert):
    pem, _key, serial = cert
    result = revoke.revoke(client, pem, "superseded")
    assert result["changed"] and result["revoked"] and not result["already_revoked"]
    assert result["signed_with"] == "account key" and result["reason"] == "superseded"
    assert result["identifiers"] == ["www.example.com", "example.com"]
    assert result["serial"] == "%x" % serial
    assert ca.revoked[serial]["reason"] == 4
    assert ca.revoked[serial]["kid"] == client.account_uri and ca.revoked[serial]["jwk"] is None


def test_revoke_with_certificate_key_signs_with_its_jwk(ca, client, cert):
    pem, key, serial = cert
    result = revoke.revoke(client, pem, "keyCompromise", certificate_key=key)
    assert result["changed"] and result["signed_with"] == "certificate key"
    assert ca.revoked[serial]["reason"] == 1 and ca.revoked[serial]["kid"] is None
    assert ca.revoked[serial]["jwk"]["kty"] == "EC"
    # the signer is another client; the account client is left as it was, still signing with its key ID
    assert len(client.derived) == 1 and client.derived[0].account_uri is None
    assert client.account_uri is not None


def test_revoke_with_certificate_key_needs_no_account(ca, cert):
    pem, key, serial = cert
    fresh = wired_client(ca)     # no account registered for this key at all
    result = revoke.revoke(fresh, pem, certificate_key=key)
    assert result["revoked"] and ca.revoked[serial]["reason"] == 0 and not ca.accounts


@pytest.mark.parametrize("reason, code", [(None, 0), ("", 0), ("unspecified", 0), ("keyCompromise", 1),
                                          ("affiliationChanged", 3), ("superseded", 4),
                                          ("cessationOfOperation", 5)])
def test_reason_codes_sent(ca, client, reason, code):
    pem, _key = make_cert()
    result = revoke.revoke(client, pem, reason)
    serial = x509.load_pem_x509_certificate(pem).serial_number
    assert ca.revoked[serial]["reason"] == code
    assert result["reason"] == (reason or "unspecified")


@pytest.mark.parametrize("reason", ["certificateHold", "removeFromCRL", "KeyCompromise", "2", "privilegeWithdrawn"])
def test_unknown_reasons_refused_before_asking_the_ca(ca, client, cert, reason):
    sent = len(ca.requests)
    with pytest.raises(InputError) as err:
        revoke.revoke(client, cert[0], reason)
    assert err.value.field == "reason" and repr(reason) in err.value.msg and "keyCompromise" in err.value.msg
    assert len(ca.requests) == sent and not ca.revoked


def test_check_reason_names_the_given_field():
    assert revoke.check_reason(None) == "unspecified"
    assert revoke.check_reason("superseded", "revoke_reason") == "superseded"
    with pytest.raises(InputError) as err:
        revoke.check_reason("nope", "revoke_reason")
    assert err.value.field == "revoke_reason"


def test_already_revoked_is_reported_not_raised(ca, client, cert):
    pem, _key, serial = cert
    first = revoke.revoke(client, pem, "superseded")
    second = revoke.revoke(client, pem, "superseded")
    assert first["changed"] and not first["already_revoked"]
    assert second == dict(first, changed=False, already_revoked=True)
    assert len(revoke_posts(ca)) == 2 and ca.revoked[serial]["reason"] == 4


def test_already_revoked_via_certificate_key_too(ca, client, cert):
    pem, key, _serial = cert
    revoke.revoke(client, pem)
    again = revoke.revoke(client, pem, certificate_key=key)
    assert again["already_revoked"] and not again["changed"] and again["signed_with"] == "certificate key"


def test_other_problems_are_raised(ca, client, cert):
    ca.fail_next["/revoke"] = (403, "unauthorized", "not your certificate")
    with pytest.raises(ACMEProblem) as err:
        revoke.revoke(client, cert[0])
    assert err.value.code == "unauthorized" and "not your certificate" in err.value.msg
    assert not ca.revoked


def test_check_mode_sends_nothing(ca, client, cert):
    pem, key, _serial = cert
    sent = len(ca.requests)
    result = revoke.revoke(client, pem, "keyCompromise", certificate_key=key, check_mode=True)
    assert result["changed"] and result["revoked"] and not result["already_revoked"]
    assert result["signed_with"] == "certificate key" and result["reason"] == "keyCompromise"
    assert len(ca.requests) == sent and not ca.revoked


def test_leaf_of_a_chain_is_revoked(ca, client, cert):
    pem, _key, serial = cert
    other, _key = make_cert(names=("intermediate.example",))
    revoke.revoke(client, pem + other)
    assert list(ca.revoked) == [serial]


@pytest.mark.parametrize("text", [None, b"", b"not a certificate",
                                  b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
def test_no_certificate_is_an_input_error(ca, client, text):
    with pytest.raises(InputError) as err:
        revoke.revoke(client, text)
    assert err.value.field == "certificate" and not revoke_posts(ca)


def test_key_that_does_not_match_is_refused(ca, client, cert):
    pem, _key, _serial = cert
    with pytest.raises(InputError) as err:
        revoke.revoke(client, pem, certificate_key=keys.generate_private_key("ecdsa-p256"))
    assert err.value.field == "private_key" and "does not match" in err.value.msg
    assert not revoke_posts(ca)
