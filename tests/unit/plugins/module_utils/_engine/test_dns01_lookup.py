"""dns01.lookup without a network: a fake resolver answers with real dnspython rrsets, a fake
udp_with_fallback answers with real dnspython messages, and the clock and sleep of wait_visible are injected."""
from types import SimpleNamespace

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.rrset
import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.base import TXTRecord
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.lookup import MAX_CNAME_HOPS, Lookup
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import DNSError, InputError

SOA = "ns1.example.com. hostmaster.example.com. 1 3600 600 86400 60"


def _text(name):
    return str(name).rstrip(".").lower()


class FakeResolver:
    """answers[(name, TYPE)] is an rrset, an exception (raised) or absent (NXDOMAIN)."""

    def __init__(self, answers):
        self.answers = answers
        self.asked = []

    def resolve(self, qname, rdtype, *args, **kwargs):
        name = _text(qname)
        rdtype = rdtype if isinstance(rdtype, str) else dns.rdatatype.to_text(rdtype)
        self.asked.append((name, rdtype))
        answer = self.answers.get((name, rdtype))
        if answer is None:
            raise dns.resolver.NXDOMAIN(qnames=[dns.name.from_text(name)], responses={})
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(rrset=answer)


def rrset(name, rdtype, *values):
    return dns.rrset.from_text(name + ".", 300, "IN", rdtype, *values)


def make_lookup(answers, **kwargs):
    lookup = Lookup(["192.0.2.53:5353", "[2001:db8::53]"], **kwargs)
    lookup.resolver = FakeResolver(answers)
    return lookup


def test_configured_resolvers_replace_the_system_ones():
    lookup = Lookup(["192.0.2.53:5353", "[2001:db8::53]"], nameserver_port=5300, timeout=7)
    assert lookup.resolver.nameservers == ["192.0.2.53", "2001:db8::53"]
    assert lookup.resolver.nameserver_ports == {"192.0.2.53": 5353, "2001:db8::53": 53}
    assert lookup.resolver.lifetime == 7 and lookup.resolver.timeout == 3.0 and lookup.nameserver_port == 5300
    assert lookup.resolvers_text == "192.0.2.53:5353, [2001:db8::53]"
    with pytest.raises(InputError, match="^dns.resolvers: 'ns1.example.com' is not an IP address"):
        Lookup(["ns1.example.com"])


def test_cname_chain_is_followed_to_its_end():
    lookup = make_lookup({
        ("_acme-challenge.example.com", "CNAME"): rrset("_acme-challenge.example.com", "CNAME", "Hop.Example.NET."),
        ("hop.example.net", "CNAME"): rrset("hop.example.net", "CNAME", "_acme-challenge.auth.example.org."),
    })
    assert lookup.follow_cname("_acme-challenge.example.com") == "_acme-challenge.auth.example.org"
    assert [name for name, _t in lookup.resolver.asked] == ["_acme-challenge.example.com", "hop.example.net",
                                                            "_acme-challenge.auth.example.org"]


def test_name_without_cname_is_its_own_target():
    lookup = make_lookup({("_acme-challenge.example.com", "CNAME"): rrset("_acme-challenge.example.com", "TXT",
                                                                          '"other"')})
    assert lookup.follow_cname("_acme-challenge.example.com") == "_acme-challenge.example.com"
    assert make_lookup({}).follow_cname("a.example.com") == "a.example.com"


def test_cname_loop_is_reported_with_the_chain():
    lookup = make_lookup({("a.example.com", "CNAME"): rrset("a.example.com", "CNAME", "b.example.com."),
                          ("b.example.com", "CNAME"): rrset("b.example.com", "CNAME", "a.example.com.")})
    with pytest.raises(DNSError, match=r"^CNAME loop: a.example.com -> b.example.com -> a.example.com$") as raised:
        lookup.follow_cname("a.example.com")
    assert raised.value.details["dns_name"] == "a.example.com"


def test_cname_chain_is_bounded():
    answers = {("h%d.example.com" % i, "CNAME"): rrset("h%d.example.com" % i, "CNAME", "h%d.example.com." % (i + 1))
               for i in range(MAX_CNAME_HOPS + 2)}
    lookup = make_lookup(answers)
    with pytest.raises(DNSError, match="more than %d CNAMEs from h0.example.com" % MAX_CNAME_HOPS):
        lookup.follow_cname("h0.example.com")
    assert len(lookup.resolver.asked) == MAX_CNAME_HOPS


def test_resolver_failures_name_the_resolvers_and_the_question():
    servfail = dns.resolver.NoNameservers(request=dns.message.make_query("x.example.com", "CNAME"),
                                          errors=[("192.0.2.53", False, 5353, "SERVFAIL")])
    lookup = make_lookup({("x.example.com", "CNAME"): servfail,
                          ("y.example.com", "CNAME"): dns.exception.Timeout()})
    with pytest.raises(DNSError, match=r"no resolver \(192.0.2.53:5353, \[2001:db8::53\]\) could answer "
                                       r"x.example.com CNAME: .*SERVFAIL"):
        lookup.follow_cname("x.example.com")
    with pytest.raises(DNSError, match=r"no answer from 192.0.2.53:5353, \[2001:db8::53\] for y.example.com CNAME "
                                       r"within 10.0 s") as raised:
        lookup.follow_cname("y.example.com")
    assert raised.value.details["dns_name"] == "y.example.com"


def test_refused_alone_means_no_such_name():
    refused = dns.resolver.NoNameservers(request=dns.message.make_query("x.example.com", "CNAME"),
                                         errors=[("192.0.2.53", False, 5353, "REFUSED")])
    assert make_lookup({("x.example.com", "CNAME"): refused}).follow_cname("x.example.com") == "x.example.com"


def test_zone_found_by_soa_walk():
    lookup = make_lookup({("example.com", "SOA"): rrset("example.com", "SOA", SOA)})
    assert lookup.zone_for("_acme-challenge.www.Example.com") == "example.com"
    soa_asked = [name for name, rdtype in lookup.resolver.asked if rdtype == "SOA"]
    assert soa_asked == ["_acme-challenge.www.example.com", "www.example.com", "example.com"]


def test_zone_taken_from_the_authority_section_of_nxdomain():
    qname = dns.name.from_text("_acme-challenge.www.sub.example.com.")
    response = dns.message.make_response(dns.message.make_query(qname, "SOA"))
    response.set_rcode(dns.rcode.NXDOMAIN)
    response.authority.append(rrset("sub.example.com", "SOA", SOA))
    nxdomain = dns.resolver.NXDOMAIN(qnames=[qname], responses={qname: response})
    lookup = make_lookup({("_acme-challenge.www.sub.example.com", "SOA"): nxdomain})
    assert lookup.zone_for("_acme-challenge.www.sub.example.com") == "sub.example.com"
    assert len(lookup.resolver.asked) == 1


def test_only_the_root_is_no_zone():
    lookup = make_lookup({("", "SOA"): rrset("", "SOA", SOA)})
    with pytest.raises(InputError, match=r"^dns.zone: no zone holds a.invalid \(only the root answered, asking "
                                         r"192.0.2.53:5353"):
        lookup.zone_for("a.invalid")
    with pytest.raises(InputError, match=r"^dns.zone: no zone holds a.invalid \(no SOA found up to the root"):
        make_lookup({}).zone_for("a.invalid")


@pytest.mark.parametrize("error, kind, words", [
    (dns.resolver.NoNameservers(request=dns.message.make_query("a.example.com", "SOA"),
                                errors=[("192.0.2.53", False, 5353, "REFUSED")]),
     InputError, r"dns.zone: no zone holds a.example.com: 192.0.2.53:5353, \[2001:db8::53\] answered REFUSED"),
    (dns.resolver.NoNameservers(request=dns.message.make_query("a.example.com", "SOA"),
                                errors=[("192.0.2.53", False, 5353, "SERVFAIL")]),
     DNSError, r"cannot find the zone of a.example.com: .*SERVFAIL"),
    (dns.resolver.LifetimeTimeout(timeout=1.0, errors={}),
     DNSError, r"cannot find the zone of a.example.com: 192.0.2.53:5353, \[2001:db8::53\] did not answer"),
])
def test_zone_walk_failures(error, kind, words):
    lookup = make_lookup({("a.example.com", "SOA"): error})
    with pytest.raises(kind, match="^" + words) as raised:
        lookup.zone_for("a.example.com")
    assert type(raised.value) is kind  # pylint: disable=unidiomatic-typecheck


def ns_answers():
    return {("example.com", "NS"): rrset("example.com", "NS", "NS2.example.com.", "ns1.example.com."),
            ("ns1.example.com", "A"): rrset("ns1.example.com", "A", "192.0.2.1"),
            ("ns1.example.com", "AAAA"): rrset("ns1.example.com", "AAAA", "2001:db8::1"),
            ("ns2.example.com", "A"): rrset("ns2.example.com", "A", "192.0.2.2")}


def test_every_address_of_every_name_server():
    assert make_lookup(ns_answers()).authoritative_servers("example.com") == [
        ("ns1.example.com", "192.0.2.1"), ("ns1.example.com", "2001:db8::1"), ("ns2.example.com", "192.0.2.2")]


def test_zone_without_ns_or_server_without_address():
    with pytest.raises(DNSError, match=r"^example.com has no NS records \(asking 192.0.2.53:5353") as raised:
        make_lookup({}).authoritative_servers("example.com")
    assert raised.value.details["dns_zone"] == "example.com"
    answers = ns_answers()
    del answers[("ns2.example.com", "A")]
    with pytest.raises(DNSError, match=r"^the name server ns2.example.com of example.com has no address"):
        make_lookup(answers).authoritative_servers("example.com")


class FakeServers:
    """udp_with_fallback stand-in: records[address][name] are the TXT values the server answers."""

    def __init__(self, records, rcode=dns.rcode.NOERROR, fail=None):
        self.records, self.rcode, self.fail = records, rcode, fail or {}
        self.asked = []

    def __call__(self, query, address, timeout=None, port=53, **kwargs):
        name = _text(query.question[0].name)
        self.asked.append((address, port, name, bool(query.flags & dns.flags.RD), timeout))
        if address in self.fail:
            raise self.fail[address]
        response = dns.message.make_response(query)
        response.set_rcode(self.rcode)
        values = self.records.get(address, {}).get(name)
        if values:
            response.answer.append(rrset(name, "TXT", *('"%s"' % v for v in values)))
            response.answer.append(rrset("other." + name, "TXT", '"not-this-name"'))
        return response, False


def test_txt_values_asks_the_server_directly_without_recursion(monkeypatch):
    servers = FakeServers({"192.0.2.1": {"_acme-challenge.example.com": ["v1", "v2"]}})
    monkeypatch.setattr(dns.query, "udp_with_fallback", servers)
    lookup = make_lookup({}, nameserver_port=5300, timeout=10)
    assert lookup.txt_values("_acme-challenge.example.com", "192.0.2.1") == {"v1", "v2"}
    assert lookup.txt_values("_acme-challenge.example.com", "192.0.2.2") == set()
    assert servers.asked[0] == ("192.0.2.1", 5300, "_acme-challenge.example.com", False, 3.0)


def test_txt_values_error_rcode_names_the_server(monkeypatch):
    monkeypatch.setattr(dns.query, "udp_with_fallback", FakeServers({}, rcode=dns.rcode.REFUSED))
    with pytest.raises(DNSError, match="^192.0.2.1 answered REFUSED$"):
        make_lookup({}).txt_values("_acme-challenge.example.com", "192.0.2.1")
    monkeypatch.setattr(dns.query, "udp_with_fallback", FakeServers({}, rcode=dns.rcode.NXDOMAIN))
    assert make_lookup({}).txt_values("_acme-challenge.example.com", "192.0.2.1") == set()


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_visible_asks_every_server_until_all_answer(monkeypatch):
    name = "_acme-challenge.example.com"
    servers = FakeServers({"192.0.2.1": {name: ["v1", "v2", "extra"]}, "2001:db8::1": {name: ["v1", "v2"]}},
                          fail={"192.0.2.2": dns.exception.Timeout()})
    monkeypatch.setattr(dns.query, "udp_with_fallback", servers)
    clock = Clock()

    def sleep(seconds):
        clock.sleep(seconds)
        if len(clock.sleeps) == 2:   # the lagging server catches up after two rounds
            servers.fail.clear()
            servers.records["192.0.2.2"] = {name: ["v2", "v1"]}

    lookup = make_lookup(ns_answers())
    seen = lookup.wait_visible({"example.com": [TXTRecord(name, "v1"), TXTRecord(name, "v2")]}, timeout=30,
                               sleep=sleep, clock=clock)
    assert seen == {"example.com": ["ns1.example.com (192.0.2.1)", "ns1.example.com (2001:db8::1)",
                                    "ns2.example.com (192.0.2.2)"]}
    assert clock.sleeps == [0.1, 0.2]
    asked = [address for address, _p, _n, _rd, _t in servers.asked]
    assert asked == ["192.0.2.1", "2001:db8::1", "192.0.2.2", "192.0.2.2", "192.0.2.2"]


def test_wait_visible_times_out_naming_server_record_and_last_error(monkeypatch):
    name = "_acme-challenge.example.com"
    servers = FakeServers({"192.0.2.1": {name: ["v1"]}, "2001:db8::1": {name: ["old"]}},
                          fail={"192.0.2.2": ConnectionRefusedError(111, "Connection refused")})
    monkeypatch.setattr(dns.query, "udp_with_fallback", servers)
    clock = Clock()
    lookup = make_lookup(ns_answers(), nameserver_port=5300)
    with pytest.raises(DNSError) as raised:
        lookup.wait_visible({"example.com": [TXTRecord(name, "v1")]}, timeout=5, sleep=clock.sleep, clock=clock)
    error = raised.value
    assert error.msg == ("DNS-01 records not visible after 5 s: the authoritative server ns1.example.com "
                         "(2001:db8::1 port 5300) does not answer TXT %s with 'v1'" % name)
    assert error.details["dns_server"] == "ns1.example.com" and error.details["dns_record"] == name
    assert error.details["dns_missing_servers"] == ["ns1.example.com (2001:db8::1)", "ns2.example.com (192.0.2.2)"]
    assert clock.sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 1.9]) and clock.now == pytest.approx(1005.0)
    # the server that never answered is named with its last error once it is the first one missing
    servers.records["2001:db8::1"] = {name: ["v1"]}
    with pytest.raises(DNSError, match=r"ns2.example.com \(192.0.2.2 port 5300\) does not answer TXT .* with 'v1' "
                                       r"\(last error: .*Connection refused\)"):
        lookup.wait_visible({"example.com": [TXTRecord(name, "v1")]}, timeout=1, sleep=clock.sleep, clock=clock)


@pytest.mark.parametrize("text", ["[2001:db8::1]x", "[2001:db8::1]:", "[2001:db8::1]:5x"])
def test_bracketed_address_with_a_bad_port(text):
    with pytest.raises(InputError, match=r"^dns.resolvers: '\[2001:db8::1\].*' is not address\[:port\]$"):
        Lookup([text])
