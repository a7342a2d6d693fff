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
    ("exa mple.com", "whitespace"),
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


# ---- issue 9: canonical identifiers and key strength --------------------------------------------------------

@pytest.mark.parametrize("raw, canonical", [
    ("I1.Example.com.", "i1.example.com"), ("  www.Example.COM ", "www.example.com"),
    ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), ("127.0.0.1", "127.0.0.1"), ("bücher.example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
])
def test_identifiers_are_made_canonical(raw, canonical):
    assert keys.parse_identifier(raw).value == canonical


@pytest.mark.parametrize("raw, message", [
    ("999.1.1.1", "looks like an IPv4 address"), ("10.0.0.300", "looks like an IPv4 address"),
    ("127.000.000.001", "looks like an IPv4 address"), ("0x7f.0.0.1", "looks like an IPv4 address"),
    ("fe80::1%eth0", "zone-scoped"), ("[::1]", "not a valid IPv6"), ("2001:db8::g", "not a valid IPv6"),
    ("www.example.123", "top-level label is all digits"), ("xn--zz.example", "invalid A-label"),
    ("a\tb.example", "whitespace"), ("bücher..example", "not a valid internationalized"), (5, "empty"),
])
def test_fake_and_unusable_identifiers_are_refused(raw, message):
    with pytest.raises(InputError) as err:
        keys.parse_identifier(raw, "certificate_list[0].identifiers")
    assert err.value.field == "certificate_list[0].identifiers" and message in err.value.msg


def test_identifier_lists_dedupe_limit_and_compare_as_sets():
    names = ["A.example.com.", "a.example.com", "b.example.com"]
    assert [i.value for i in keys.parse_identifiers(names)] == ["a.example.com", "b.example.com"]
    with pytest.raises(InputError, match="at most 1 are allowed"):
        keys.parse_identifiers(names, max_identifiers=1)
    with pytest.raises(InputError, match="max_identifiers"):
        keys.parse_identifiers(names, max_identifiers=0)
    with pytest.raises(InputError, match="must be a list"):
        keys.parse_identifiers("a.example.com")
    assert keys.identifier_set(["WWW.example.com", "www.example.com.", "*.example.com", "not valid!"]) == frozenset(
        {keys.Identifier("dns", "www.example.com"), keys.Identifier("dns", "*.example.com"),
         keys.Identifier("dns", "not valid!")})
    assert keys.canonical_identifier("*.Example.com", allow_wildcard=True).value == "*.example.com"


def test_key_strength_is_enforced_for_keys_and_csrs():
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InputError, match="private_key_path: the RSA key has 1024 bits"):
        keys.check_key_strength(weak, "private_key_path")
    with pytest.raises(InputError, match="curve secp521r1"):
        keys.check_key_strength(ec.generate_private_key(ec.SECP521R1()), "csr")
    with pytest.raises(InputError, match="only RSA"):
        keys.check_key_strength(ed25519.Ed25519PrivateKey.generate(), "csr")
    strong = keys.generate_private_key("rsa-2048")
    assert keys.check_key_strength(strong, "k") is strong and keys.key_type_of(strong.public_key()) == "rsa-2048"
    assert keys.key_type_of(ed25519.Ed25519PrivateKey.generate()) == ""
    with pytest.raises(InputError, match="csr: the RSA key has 1024 bits"):
        keys.csr_identifiers(keys.make_csr(weak, keys.parse_identifiers(["a.example.com"])))
    with pytest.raises(InputError, match="csr: not a readable PEM"):
        keys.csr_identifiers("garbage")
    with pytest.raises(InputError, match="only RSA and ECDSA"):
        from cryptography.hazmat.primitives import serialization
        keys.load_private_key(ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), "k")
    ip_csr = keys.make_csr(strong, keys.parse_identifiers(["127.0.0.1", "a.example.com"]))
    assert [i.value for i in keys.csr_identifiers(ip_csr)] == ["a.example.com", "127.0.0.1"]
    with pytest.raises(InputError, match="certificate: no PEM certificate found"):
        keys.parse_certificate(b"nothing")
    with pytest.raises(InputError, match="not a readable PEM certificate"):
        keys.parse_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
