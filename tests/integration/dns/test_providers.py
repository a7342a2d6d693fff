"""The provider contract: every DNS-01 provider passes the same tests, against its real server.

rfc2136: the stack's bind9 with TSIG. route53: moto's server with real boto3, under the README's IAM policy.
"""
import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.providers import open_provider
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import DNSError, InputError

from .conftest import route53_harness


def test_zone_is_found_from_the_name(harness):
    assert harness.provider.zone_for("_acme-challenge.a.b.%s" % harness.zone) == harness.zone
    assert harness.provider.zone_for("_acme-challenge.%s" % harness.zone) == harness.zone
    with pytest.raises(InputError, match="no .*(zone|SOA).* holds|no zone holds|does not contain") as raised:
        harness.provider.zone_for("_acme-challenge.www.nowhere-%s.invalid" % harness.kind)
    assert raised.value.details["field"].startswith("dns.")


def test_one_change_per_zone_shared_name_and_exact_cleanup(harness):
    """*.example and example share one TXT name with two values; both names go in one change; cleanup
    removes exactly those values, also when run twice."""
    zone = harness.provider.zone_for(harness.name("probe"))
    harness.provider.preflight([zone])
    shared, other = harness.name("shared"), harness.name("other")
    rrsets = {shared: ["wildcard-value-1", "base-value-2"], other: ["other-value-3"]}
    before = harness.changes()
    harness.provider.present(zone, rrsets)
    assert harness.changes() == before + 1
    assert harness.read(shared) == {"wildcard-value-1", "base-value-2"}
    assert harness.read(other) == {"other-value-3"}
    harness.provider.present(zone, rrsets)                   # presenting again changes nothing visible
    assert harness.read(shared) == {"wildcard-value-1", "base-value-2"}
    harness.provider.cleanup(zone, rrsets)
    assert harness.read(shared) == set() and harness.read(other) == set()
    harness.provider.cleanup(zone, rrsets)                   # already gone: fine


def test_a_zone_that_does_not_contain_the_name_is_refused(harness):
    provider, _lookup, _conf = open_provider(dict(harness.options, zone="elsewhere.test"))
    with pytest.raises(InputError, match="dns.zone: elsewhere.test does not contain _acme-challenge.www.%s"
                       % harness.zone):
        provider.zone_for("_acme-challenge.www.%s" % harness.zone)


def test_credentials_without_rights_are_refused_with_the_servers_words(harness, request, stack):
    if harness.kind == "rfc2136":   # a key bind9 knows but does not allow to update dns.test
        options = dict(harness.options, key_name=stack["DNS_READONLY_TSIG_NAME"],
                       key_secret=stack["DNS_READONLY_TSIG_SECRET"])
        expected = "127.0.0.1 port %s answered REFUSED to an update of zone dns.test" % stack["DNS_PORT"]
    else:
        options = route53_harness(request.getfixturevalue("route53"), user="nobody").options
        expected = "Route 53 access denied: (ListHostedZonesByName|ChangeResourceRecordSets)"
    provider, _lookup, _conf = open_provider(options)
    with pytest.raises(DNSError, match=expected):
        zone = provider.zone_for("_acme-challenge.www.%s" % harness.zone)
        provider.preflight([zone])
        provider.present(zone, {"_acme-challenge.www.%s" % harness.zone: ["x"]})
    assert harness.read("_acme-challenge.www.%s" % harness.zone) == set()


def test_route53_policy_covers_the_documented_zone_only(route53):
    """The README's policy names one hosted zone: the same user is refused on another zone."""
    harness = route53_harness(route53)
    provider, _lookup, _conf = open_provider(dict(harness.options, zone="other.test"))
    name = "_acme-challenge.www.other.test"
    zone = provider.zone_for(name)                  # ListHostedZonesByName is allowed on every zone
    with pytest.raises(DNSError, match="Route 53 access denied: ChangeResourceRecordSets"):
        provider.present(zone, {name: ["x"]})


def test_route53_hosted_zone_id_is_checked_against_the_name(route53):
    harness = route53_harness(route53)
    _url, zone_id, _users, _auditor = route53
    provider, _lookup, _conf = open_provider(dict(harness.options, hosted_zone_id="/hostedzone/" + zone_id))
    assert provider.zone_for("_acme-challenge.a.r53.test") == "r53.test"
    with pytest.raises(InputError, match="dns.hosted_zone_id: the hosted zone %s does not contain "
                                         "_acme-challenge.www.other.test" % zone_id):
        provider.zone_for("_acme-challenge.www.other.test")
