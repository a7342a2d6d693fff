"""Keys, CSRs, identifiers and certificate parsing."""
import pytest
from cryptography import x509

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError

from .certs import make_cert


@pytest.mark.parametrize("key_type", keys.KEY_TYPES)
def test_generated_keys_round_trip_through_pem(key_type):
    key = keys.generate_private_key(key_type)
    assert keys.key_type_of(key) == key_type
    again = keys.load_private_key(keys.private_key_to_pem(key), "private_key_path")
    assert keys.public_key_sha256(again) == keys.public_key_sha256(key)


def test_unknown_key_type_names_the_field():
    with pytest.raises(InputError) as err:
        keys.generate_private_key("dsa-1024")
    assert err.value.field == "key_type"


def test_garbage_key_names_the_field():
    with pytest.raises(InputError, match="account_key_content: not a readable PEM private key"):
        keys.load_private_key(b"not a key", "account_key_content")


def test_csr_carries_every_identifier_and_verifies():
    key = keys.generate_private_key("ecdsa-p256")
    idents = keys.parse_identifiers(["WWW.Example.com.", "example.com", "192.0.2.7", "2001:db8::1"])
    csr_pem = keys.make_csr(key, idents)
    assert keys.csr_identifiers(csr_pem) == idents
    csr = x509.load_pem_x509_csr(csr_pem)
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=www.example.com"
    assert keys.csr_public_key_sha256(csr_pem) == keys.public_key_sha256(key)


def test_ip_first_csr_has_empty_subject():
    key = keys.generate_private_key("ecdsa-p256")
    csr = x509.load_pem_x509_csr(keys.make_csr(key, keys.parse_identifiers(["192.0.2.7"])))
    assert csr.subject.rfc4514_string() == ""


@pytest.mark.parametrize("bad, why", [
    ("*.example.com", "wildcard"),
    ("", "empty"),
    ("localhost", "not a valid DNS name"),
    ("exa mple.com", "not a valid DNS name"),
    ("-bad.example.com", "not a valid DNS name"),
    ("a" * 64 + ".example.com", "not a valid DNS name"),
])
def test_bad_identifiers_are_refused_with_the_field_name(bad, why):
    with pytest.raises(InputError) as err:
        keys.parse_identifiers([bad])
    assert err.value.field == "identifiers" and why in err.value.msg


def test_empty_identifier_list_is_refused():
    with pytest.raises(InputError, match="identifiers: at least one"):
        keys.parse_identifiers([])


def test_duplicates_are_dropped_keeping_order():
    assert [i.value for i in keys.parse_identifiers(["b.example.com", "a.example.com", "B.example.com"])] == [
        "b.example.com", "a.example.com"]


def test_parse_certificate_and_key_match():
    pem, key = make_cert(("www.example.com", "example.com"), issuer_cn="Pebble Intermediate CA 1")
    info = keys.parse_certificate(pem + pem)  # a bundle: the first certificate is described
    assert [i.value for i in info.identifiers] == ["www.example.com", "example.com"]
    assert info.issuer_cn == "Pebble Intermediate CA 1"
    assert info.lifetime.days == 90
    assert keys.key_matches_certificate(key, pem)
    assert not keys.key_matches_certificate(keys.generate_private_key("ecdsa-p256"), pem)


def test_split_bundle_normalises_line_endings():
    pem, _key = make_cert()
    bundle = pem.replace(b"\n", b"\r\n") + b"junk\n" + pem
    parts = keys.split_pem_certificates(bundle)
    assert parts == [pem, pem]


def test_no_certificate_is_an_input_error():
    with pytest.raises(InputError, match="certificate: no PEM certificate found"):
        keys.parse_certificate(b"hello")
