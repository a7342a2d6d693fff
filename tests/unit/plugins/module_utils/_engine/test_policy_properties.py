"""Property-based tests (Hypothesis) of the one renewal decision and of canonical identifiers."""
import datetime
import ipaddress

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, policy

from .certs import NOW, make_cert

DAY = datetime.timedelta(days=1)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
tld = st.from_regex(r"[a-z]{2,6}", fullmatch=True)
dns_name = st.builds(lambda labels, top: ".".join(labels + [top]), st.lists(label, min_size=1, max_size=3), tld)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str).filter(lambda a: "." not in a)  # no IPv4-mapped forms
name_sets = st.lists(st.one_of(dns_name, dns_name, ipv4, ipv6), min_size=1, max_size=5, unique=True).map(
    lambda names: sorted({keys.parse_identifier(n).value: n for n in names}))


@st.composite
def spelling(draw, names):
    """Another accepted spelling of names: case, trailing dots, expanded IPv6, duplicates, order."""
    out = []
    for name in names:
        variants = [name]
        if ":" in name:
            variants.append(ipaddress.ip_address(name).exploded.upper())
        elif not name.replace(".", "").isdigit():
            variants += [name.upper() + ".", "".join(c.upper() if i % 2 else c for i, c in enumerate(name))]
        out += draw(st.lists(st.sampled_from(variants), min_size=1, max_size=3))
    return draw(st.permutations(out))


def cert_for(names, lifetime_days=90.0, not_before=NOW):
    """A real certificate for the canonical names (DNS and IP SANs), parsed as the engine parses it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.IPAddress(ipaddress.ip_address(i.value)) if i.type == "ip" else x509.DNSName(i.value)
            for i in names]
    cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(not_before)
        .not_valid_after(not_before + datetime.timedelta(days=lifetime_days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=True).sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives import serialization
    return keys.parse_certificate(cert.public_bytes(serialization.Encoding.PEM))


@SETTINGS
@given(st.data(), name_sets)
def test_any_spelling_of_the_issued_names_is_not_due(data, names):
    asked = keys.parse_identifiers(data.draw(spelling(names)))
    assert sorted(i.value for i in asked) == sorted(keys.parse_identifier(n).value for n in names)
    cert = cert_for(asked)   # issued for what was asked ...
    again = keys.parse_identifiers(data.draw(spelling(names)))   # ... and asked again, spelled otherwise
    decision = policy.decide(cert, again, now=NOW + DAY, key_type="ecdsa-p256")
    assert not decision.due and decision.reason is policy.Reason.NOT_DUE


@SETTINGS
@given(name_sets, dns_name)
def test_adding_or_removing_a_name_makes_it_due(names, extra):
    asked = keys.parse_identifiers(names)
    cert = cert_for(asked)
    added = keys.parse_identifiers(names + [extra])
    if set(added) != set(asked):
        decision = policy.decide(cert, added, now=NOW + DAY)
        assert decision.due and decision.reason is policy.Reason.NAMES_CHANGED
    if len(asked) > 1:
        decision = policy.decide(cert, asked[1:], now=NOW + DAY)
        assert decision.due and decision.reason is policy.Reason.NAMES_CHANGED


lifetimes = st.floats(min_value=0.01, max_value=4000, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(lifetimes, st.floats(min_value=0, max_value=1, exclude_max=True), st.floats(min_value=0, max_value=1.2))
def test_renew_before_days_below_the_lifetime_renews_inside_the_lifetime(lifetime, fraction, when):
    cert = keys.CertInfo(serial="1", not_before=NOW, not_after=NOW + lifetime * DAY,
                         identifiers=[keys.Identifier("dns", "a.example")])
    days = lifetime * fraction
    assume(datetime.timedelta(days=days) < cert.lifetime)   # below the lifetime after microsecond rounding
    now = NOW + lifetime * when * DAY
    decision = policy.decide(cert, cert.identifiers, renew_before_days=days, now=now)
    assert cert.not_before <= decision.renew_at <= cert.not_after
    if days:   # 0 means unset: the lifetime window
        assert not decision.warnings
        assert abs((cert.not_after - decision.renew_at) - datetime.timedelta(days=days)) < datetime.timedelta(
            seconds=1)
    assert decision.due == (now > decision.renew_at or now >= cert.not_after)
    assert decision.next_check == (now if decision.due else decision.renew_at)


@settings(max_examples=200, deadline=None)
@given(lifetimes, st.floats(min_value=1, max_value=1000))
def test_renew_before_days_at_or_above_the_lifetime_never_renews_on_every_run(lifetime, factor):
    cert = keys.CertInfo(serial="1", not_before=NOW, not_after=NOW + lifetime * DAY,
                         identifiers=[keys.Identifier("dns", "a.example")])
    decision = policy.decide(cert, cert.identifiers, renew_before_days=lifetime * factor, now=NOW)
    assert not decision.due and decision.warnings
    assert decision.renew_at > cert.not_before


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(keys.KEY_TYPES), st.sampled_from(keys.KEY_TYPES), st.booleans())
def test_a_changed_key_type_is_due_and_the_same_is_not(stored, wanted, force):
    cert = keys.CertInfo(serial="1", not_before=NOW, not_after=NOW + 90 * DAY,
                         identifiers=[keys.Identifier("dns", "a.example")], key_type=stored)
    decision = policy.decide(cert, cert.identifiers, key_type=wanted, force=force, now=NOW + DAY)
    assert decision.due == (force or stored != wanted)
    if decision.due:
        assert decision.reason is (policy.Reason.FORCED if force else policy.Reason.KEY_TYPE_CHANGED)


@SETTINGS
@given(name_sets)
def test_canonical_identifiers_are_a_fixed_point(names):
    once = keys.parse_identifiers(names)
    assert keys.parse_identifiers([i.value for i in once]) == once
    assert len({i.value for i in once}) == len(once)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=999), min_size=1, max_size=6),
       st.booleans())
def test_anything_that_looks_like_ipv4_is_a_real_one_or_refused(parts, leading_zero):
    text = ".".join(("0%d" % p if leading_zero else str(p)) for p in parts)
    try:
        ident = keys.parse_identifier(text)
    except keys.InputError as error:
        assert error.field == "identifiers"
        return
    assert ident.type == "ip" and str(ipaddress.IPv4Address(ident.value)) == ident.value and text == ident.value


def test_the_test_helper_certificate_is_not_due_at_issuance():
    cert = keys.parse_certificate(make_cert(("www.example.com",), NOW, 90)[0])
    assert not policy.decide(cert, keys.parse_identifiers(["WWW.example.com."]), now=NOW).due
