"""RFC 2136 against the stack's bind9: propagation on every authoritative server, CNAME delegation and
the bad settings that must fail before anything is ordered."""
import base64
import uuid

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.challenge import ChallengeRecord
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.providers import open_provider, settings
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.base import TXTRecord
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.solver import DNSSolver
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import DNSError, InputError


def label():
    return "t%s" % uuid.uuid4().hex[:8]


def test_every_authoritative_server_is_asked(bind9):
    provider, lookup, _conf = open_provider(bind9)
    name = "_acme-challenge.%s.dns.test" % label()
    provider.present("dns.test", {name: ["v1"]})
    try:
        seen = lookup.wait_visible({"dns.test": [TXTRecord(name, "v1")]}, timeout=5)
        assert seen == {"dns.test": ["ns1.dns.test (127.0.0.1)", "ns2.dns.test (127.0.0.3)"]}
    finally:
        provider.cleanup("dns.test", {name: ["v1"]})


def test_a_server_that_lags_behind_times_out_naming_server_and_record(bind9, stack):
    """lag.test's second name server never gets updates: the bounded wait names it and the record."""
    provider, lookup, _conf = open_provider(bind9)
    name = "_acme-challenge.%s.lag.test" % label()
    provider.present("lag.test", {name: ["v1"]})
    try:
        assert lookup.txt_values(name, "127.0.0.1") == {"v1"}
        with pytest.raises(DNSError) as raised:
            lookup.wait_visible({"lag.test": [TXTRecord(name, "v1")]}, timeout=1.5)
        assert ("DNS-01 records not visible after 1.5 s: the authoritative server ns2.lag.test (127.0.0.3 port %s) "
                "does not answer TXT %s with 'v1'" % (stack["DNS_PORT"], name)) in raised.value.msg
        assert raised.value.details["dns_missing_servers"] == ["ns2.lag.test (127.0.0.3)"]
    finally:
        provider.cleanup("lag.test", {name: ["v1"]})


def test_cname_delegation_writes_into_the_delegated_zone_with_its_own_key(bind9, stack):
    """_acme-challenge.deleg.dns.test CNAME _acme-challenge.deleg.validation.test: the key of validation.test
    (which may not touch dns.test) is enough, and the record lands at the end of the chain."""
    delegated = dict(bind9, key_name=stack["DNS_DELEG_TSIG_NAME"], key_secret=stack["DNS_DELEG_TSIG_SECRET"])
    solver = DNSSolver(delegated)
    plan = solver.prepare(keys.parse_identifiers(["*.deleg.dns.test", "deleg.dns.test"], allow_wildcard=True))
    assert plan == {"_acme-challenge.deleg.dns.test": {"target": "_acme-challenge.deleg.validation.test",
                                                       "zone": "validation.test"}}
    records = [ChallengeRecord("*.deleg.dns.test", "_acme-challenge.deleg.dns.test", "wild", "t1"),
               ChallengeRecord("deleg.dns.test", "_acme-challenge.deleg.dns.test", "base", "t2")]
    try:
        solver.publish(records)
        assert solver.lookup.txt_values("_acme-challenge.deleg.validation.test", "127.0.0.1") == {"wild", "base"}
        assert solver.lookup.txt_values("_acme-challenge.deleg.validation.test", "127.0.0.3") == {"wild", "base"}
    finally:
        assert solver.remove() == []
    assert solver.lookup.txt_values("_acme-challenge.deleg.validation.test", "127.0.0.1") == set()
    # the key of dns.test may not write into validation.test: delegation is what keeps credentials apart
    with pytest.raises(DNSError, match="answered REFUSED to an update of zone validation.test"):
        DNSSolver(bind9).prepare([keys.parse_identifier("deleg.dns.test")])


@pytest.mark.parametrize("change, field, message", [
    ({"provider": None}, "dns.provider", "is required"),
    ({"provider": "cloudflare"}, "dns.provider", "'cloudflare' is not a known DNS provider"),
    ({"key_secret": "not base64!"}, "dns.key_secret", "is not base64"),
    ({"hosted_zone_id": "Z1"}, "dns.hosted_zone_id", "is not an option of provider rfc2136"),
    ({"server": None}, "dns.server", "is required"),
    ({"zone": "other.test"}, "dns.zone", "other.test does not contain _acme-challenge.www.dns.test"),
])
def test_bad_settings_fail_naming_the_field(bind9, change, field, message):
    options = dict(bind9, **change)
    with pytest.raises(InputError) as raised:
        DNSSolver(options).prepare([keys.parse_identifier("www.dns.test")])
    assert raised.value.details["field"] == field and message in raised.value.msg


def test_no_dns_section_at_all():
    with pytest.raises(InputError, match="dns: challenge dns-01 needs a dns section naming a provider"):
        settings(None)


def test_unreachable_server_is_named(bind9):
    options = dict(bind9, port=1, timeout=2)
    with pytest.raises(DNSError, match="cannot reach the DNS server 127.0.0.1 port 1"):
        DNSSolver(options).prepare([keys.parse_identifier("www.dns.test")])


def test_unknown_key_is_notauth_in_the_servers_words(bind9):
    options = dict(bind9, key_name="nobody-knows.", key_secret=base64.b64encode(b"x" * 32).decode())
    with pytest.raises(DNSError, match="refused the TSIG signature .*NOTAUTH.*BADKEY"):
        DNSSolver(options).prepare([keys.parse_identifier("www.dns.test")])


def test_a_zone_the_server_does_not_serve_is_notauth(bind9):
    options = dict(bind9, zone="dns.test")
    solver = DNSSolver(options)
    with pytest.raises(DNSError, match="answered NOTAUTH to an update of zone not-served.test"):
        solver.provider.preflight(["not-served.test"])


def test_ip_addresses_and_names_no_zone_holds(bind9):
    with pytest.raises(Exception, match="DNS-01 validates DNS names only"):
        DNSSolver(bind9).prepare([keys.parse_identifier("192.0.2.1")])
    with pytest.raises(InputError, match="no zone holds _acme-challenge.www.example.org"):
        DNSSolver(bind9).prepare([keys.parse_identifier("www.example.org")])
