"""dns01.solver with a recording provider and look-up: CNAME targets, one change per zone, undo on failure."""
import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.challenge import ChallengeRecord
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.base import TXTRecord
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.rfc2136 import RFC2136Provider
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.solver import DNSSolver
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import DNSError, EngineError, InputError
from ansible_collections.autotls.acme.plugins.module_utils._engine.keys import Identifier

OPTIONS = {"provider": "rfc2136", "server": "192.0.2.1", "resolvers": ["192.0.2.53"], "propagation_timeout": 33}


class FakeLookup:
    def __init__(self, cnames):
        self.cnames = cnames
        self.followed = []
        self.waits = []

    def follow_cname(self, name):
        self.followed.append(name)
        return self.cnames.get(name, name)

    def wait_visible(self, zones, timeout):
        self.waits.append((zones, timeout))


class FakeProvider:
    def __init__(self, fail_present=(), fail_cleanup=()):
        self.calls = []
        self.fail_present, self.fail_cleanup = fail_present, fail_cleanup

    def zone_for(self, name):
        if name.endswith("bad.test"):
            raise InputError("dns.zone", "no zone holds %s" % name)
        return ".".join(name.split(".")[-2:])

    def preflight(self, zones):
        self.calls.append(("preflight", zones))

    def present(self, zone, rrsets):
        self.calls.append(("present", zone, rrsets))
        if zone in self.fail_present:
            raise DNSError("%s refused the update" % zone)

    def cleanup(self, zone, rrsets):
        self.calls.append(("cleanup", zone, rrsets))
        if zone in self.fail_cleanup:
            raise DNSError("cannot reach the server of %s" % zone)

    def close(self):
        self.calls.append(("close",))


def solver(cnames=None, **provider):
    solver = DNSSolver(dict(OPTIONS))
    assert isinstance(solver.provider, RFC2136Provider) and solver.conf["propagation_timeout"] == 33
    solver.provider, solver.lookup = FakeProvider(**provider), FakeLookup(cnames or {})
    return solver


def record(name, value):
    base = name[2:] if name.startswith("*.") else name   # a wildcard and its base share one name
    return ChallengeRecord(identifier=name, name="_acme-challenge." + base, value=value, token="t-" + value)


def test_prepare_follows_cnames_and_checks_each_zone_once():
    s = solver({"_acme-challenge.example.com": "_acme-challenge.example.auth.example.net"})
    targets = s.prepare([Identifier("dns", "example.com"), Identifier("dns", "*.example.com"),
                         Identifier("dns", "www.example.org"), Identifier("dns", "a.example.org")])
    assert targets == {
        "_acme-challenge.example.com": {"target": "_acme-challenge.example.auth.example.net", "zone": "example.net"},
        "_acme-challenge.www.example.org": {"target": "_acme-challenge.www.example.org", "zone": "example.org"},
        "_acme-challenge.a.example.org": {"target": "_acme-challenge.a.example.org", "zone": "example.org"}}
    assert s.lookup.followed == ["_acme-challenge.example.com", "_acme-challenge.www.example.org",
                                 "_acme-challenge.a.example.org"]   # the wildcard shares its base's name
    assert s.provider.calls == [("preflight", ["example.net", "example.org"])]


def test_prepare_refuses_ip_addresses_and_bad_zones_before_any_change():
    s = solver()
    with pytest.raises(EngineError, match="192.0.2.7 is an IP address: DNS-01 validates DNS names only") as raised:
        s.prepare([Identifier("dns", "example.com"), Identifier("ip", "192.0.2.7")])
    assert raised.value.details["field"] == "identifiers"
    with pytest.raises(InputError, match="dns.zone: no zone holds _acme-challenge.x.bad.test"):
        solver().prepare([Identifier("dns", "x.bad.test")])
    assert s.provider.calls == []


def test_publish_one_change_per_zone_then_waits_for_all_of_them():
    s = solver({"_acme-challenge.example.com": "_acme-challenge.example.auth.example.net"})
    s.prepare([Identifier("dns", "example.com"), Identifier("dns", "www.example.org")])
    s.publish([record("example.com", "v1"), record("*.example.com", "v2"), record("www.example.org", "v3"),
               record("late.example.org", "v4")])
    assert s.provider.calls[1:] == [
        ("present", "example.net", {"_acme-challenge.example.auth.example.net": ["v1", "v2"]}),
        ("present", "example.org", {"_acme-challenge.www.example.org": ["v3"], "_acme-challenge.late.example.org":
                                    ["v4"]})]
    assert s.targets["_acme-challenge.late.example.org"] == ("_acme-challenge.late.example.org", "example.org")
    assert s.lookup.waits == [({
        "example.net": [TXTRecord("_acme-challenge.example.auth.example.net", "v1"),
                        TXTRecord("_acme-challenge.example.auth.example.net", "v2")],
        "example.org": [TXTRecord("_acme-challenge.www.example.org", "v3"),
                        TXTRecord("_acme-challenge.late.example.org", "v4")]}, 33)]
    assert s.remove() == []
    assert [call[:2] for call in s.provider.calls[3:]] == [("cleanup", "example.org"), ("cleanup", "example.net")]
    assert s.remove() == [] and len(s.provider.calls) == 5   # removed once only


def test_publish_without_propagation_check_or_records():
    s = solver()
    s.conf["check_propagation"] = False
    s.publish([record("example.com", "v1")])
    assert s.lookup.waits == [] and s.provider.calls == [("present", "example.com",
                                                          {"_acme-challenge.example.com": ["v1"]})]
    s = solver()
    s.publish([])
    assert s.lookup.waits == [] and s.provider.calls == []


def test_a_failed_change_is_still_removed_and_remove_never_raises():
    s = solver(fail_present=("example.org",), fail_cleanup=("example.com",))
    with pytest.raises(DNSError, match="example.org refused the update"):
        s.publish([record("example.com", "v1"), record("example.org", "v2"), record("example.test", "v3")])
    assert [call[:2] for call in s.provider.calls] == [("present", "example.com"), ("present", "example.org")]
    assert s.lookup.waits == []
    errors = s.remove()
    assert errors == ["example.com: cannot reach the server of example.com"]
    assert [call[:2] for call in s.provider.calls[2:]] == [("cleanup", "example.org"), ("cleanup", "example.com")]
    s.close()
    assert s.provider.calls[-1] == ("close",)
