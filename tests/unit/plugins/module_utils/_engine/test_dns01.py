"""DNS-01 pieces that need no server: record values, wildcard identifiers, settings, Route 53 change batches."""
import base64
import hashlib

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.challenge import dns01_name, dns01_value
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.providers import settings
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.base import TXTRecord, by_name
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.lookup import parse_server
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.route53 import Route53Provider
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import DNSError, InputError


def test_value_is_the_unpadded_base64url_sha256_of_the_key_authorization():
    expected = base64.urlsafe_b64encode(hashlib.sha256(b"token.thumb").digest()).rstrip(b"=").decode()
    assert dns01_value("token.thumb") == expected and "=" not in expected and len(expected) == 43


def test_wildcard_and_base_share_one_name():
    assert dns01_name("Example.com.") == "_acme-challenge.example.com"
    grouped = by_name([TXTRecord("_acme-challenge.example.com", "a"), TXTRecord("_acme-challenge.example.com", "b"),
                       TXTRecord("_acme-challenge.example.com", "a")])
    assert grouped == {"_acme-challenge.example.com": ["a", "b"]}


def test_wildcards_only_when_allowed():
    with pytest.raises(InputError, match="HTTP-01 cannot validate wildcards .use challenge: dns-01"):
        keys.parse_identifier("*.example.com")
    assert keys.parse_identifier("*.Example.com", allow_wildcard=True) == keys.Identifier("dns", "*.example.com")
    for bad in ("*.com", "*.*.example.com", "www.*.example.com", "*example.com"):
        with pytest.raises(InputError):
            keys.parse_identifier(bad, allow_wildcard=True)


@pytest.mark.parametrize("text, parsed", [("192.0.2.1", ("192.0.2.1", 53)), ("127.0.0.1:8054", ("127.0.0.1", 8054)),
                                          ("[2001:db8::1]:5353", ("2001:db8::1", 5353)),
                                          ("2001:db8::1", ("2001:db8::1", 53))])
def test_server_addresses(text, parsed):
    assert parse_server(text, "dns.server") == parsed


@pytest.mark.parametrize("text", ["ns1.example.com", "1.2.3.4:x", "1.2.3.4:70000", ""])
def test_bad_server_addresses(text):
    with pytest.raises(InputError, match="dns.server"):
        parse_server(text, "dns.server")


def test_settings_defaults_and_refusals():
    conf = settings({"provider": "rfc2136", "server": "192.0.2.1", "ttl": None})
    assert conf["propagation_timeout"] == 120 and conf["ttl"] == 60 and conf["check_propagation"] is True
    with pytest.raises(InputError, match="dns.secret_key: is not an option of provider rfc2136 .it belongs to route53"):
        settings({"provider": "rfc2136", "secret_key": "x"})
    with pytest.raises(InputError, match="dns.propagation_timeout"):
        settings({"provider": "route53", "propagation_timeout": 0})


class FakeRoute53:
    def __init__(self, statuses):
        self.calls, self.statuses = [], list(statuses)

    def change_resource_record_sets(self, **kwargs):
        self.calls.append(("change", kwargs))
        return {"ChangeInfo": {"Id": "/change/C1", "Status": self.statuses.pop(0)}}

    def get_change(self, **kwargs):
        self.calls.append(("get", kwargs))
        return {"ChangeInfo": {"Id": "/change/C1", "Status": self.statuses.pop(0)}}


def test_route53_one_batch_per_zone_then_insync():
    client = FakeRoute53(["PENDING", "PENDING", "INSYNC"])
    provider = Route53Provider(hosted_zone_id="/hostedzone/Z1", zone="example.com", client=client, sleep=lambda s: None)
    assert provider.zone_for("_acme-challenge.www.example.com") == "example.com"
    provider.present("example.com", {"_acme-challenge.example.com": ["a", "b"], "_acme-challenge.x.example.com": ["c"]})
    kinds = [kind for kind, _args in client.calls]
    assert kinds == ["change", "get", "get"]
    batch = client.calls[0][1]
    assert batch["HostedZoneId"] == "Z1"
    assert [c["ResourceRecordSet"]["ResourceRecords"] for c in batch["ChangeBatch"]["Changes"]] == [
        [{"Value": '"a"'}, {"Value": '"b"'}], [{"Value": '"c"'}]]


def test_route53_wait_is_bounded():
    now = [0.0]
    client = FakeRoute53(["PENDING"] * 50)
    provider = Route53Provider(hosted_zone_id="Z1", zone="example.com", client=client, sync_timeout=3,
                               sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])
    provider.zone_for("_acme-challenge.example.com")
    with pytest.raises(DNSError, match="Route 53 change /change/C1 is still PENDING after 3 s"):
        provider.present("example.com", {"_acme-challenge.example.com": ["a"]})
