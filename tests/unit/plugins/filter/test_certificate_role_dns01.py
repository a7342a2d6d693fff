"""The role's DNS-01 inputs: checked before anything runs, secrets never in a message or in the plan."""
from ansible_collections.autotls.acme.plugins.filter.certificate_role import (
    certificate_order_requests, certificate_plan, certificate_request_errors)

DNS = {"provider": "rfc2136", "server": "192.0.2.53", "key_name": "acme.", "key_secret": "c2VjcmV0LXNlY3JldA=="}


def errors(items, dns=None, challenge="http-01"):
    return certificate_request_errors(items, "ops@example.com", [], {}, challenge, dns)


def test_wildcards_need_dns01():
    assert errors([{"name": "w", "identifiers": ["*.example.com"]}]) == [
        "certificate_list[0].identifiers: '*.example.com' is a wildcard name; HTTP-01 cannot validate wildcards "
        "(use challenge: dns-01)"]
    assert errors([{"name": "w", "identifiers": ["*.example.com"], "challenge": "dns-01"}], DNS) == []
    assert errors([{"name": "w", "identifiers": ["*.example.com"]}], DNS, challenge="dns-01") == []


def test_missing_unknown_provider_and_bad_secret_name_the_field_not_the_value():
    item = {"name": "w", "identifiers": ["www.example.com"], "challenge": "dns-01"}
    assert errors([item]) == ["certificate_list[0].dns: challenge dns-01 needs a dns section naming a provider "
                              "(rfc2136, route53) (set certificate_dns or certificate_list[0].dns)"]
    assert "certificate_list[0].dns.provider: 'acme-dns' is not a known DNS provider" in \
        errors([dict(item, dns={"provider": "acme-dns"})])[0]
    bad = errors([item], dict(DNS, key_secret="not base64 at all!"))
    assert bad == ["certificate_list[0].dns.key_secret: is not base64 (a TSIG secret as in the key's 'secret' line)"]
    assert "not base64 at all" not in bad[0]
    assert errors([dict(item, challenge="http-01", dns=DNS)]) == [
        "certificate_list[0].dns: is only used with challenge dns-01"]


def test_the_plan_holds_no_dns_settings_and_the_requests_take_the_entrys_own():
    own = dict(DNS, server="192.0.2.99")
    items = [{"name": "a", "identifiers": ["a.example.com"], "challenge": "dns-01"},
             {"name": "b", "identifiers": ["b.example.com"], "challenge": "dns-01", "dns": own},
             {"name": "c", "identifiers": ["c.example.com"]}]
    plan = certificate_plan(items, "/tmp/s")
    assert "c2VjcmV0" not in repr(plan) and [p["challenge"] for p in plan] == ["dns-01", "dns-01", "http-01"]
    dns_requests = certificate_order_requests(plan, ["a", "b", "c"], None, "dns-01", items, DNS)
    assert [(r["name"], r["challenge"], r["dns"]["server"]) for r in dns_requests] == [
        ("a", "dns-01", "192.0.2.53"), ("b", "dns-01", "192.0.2.99")]
    assert [r["name"] for r in certificate_order_requests(plan, ["a", "b", "c"])] == ["c"]
