"""dns01.rfc2136 without a server: dns.query.tcp is replaced by a fake primary that reads the UPDATE from its
wire form (checking the TSIG signature with its own copy of the key) and answers with a real dnspython message."""
import base64
import errno

import dns.edns
import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.tsigkeyring
import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.rfc2136 import RFC2136Provider, check_secret
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import DNSError, InputError

SECRET = base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
OTHER = base64.b64encode(b"another secret, not the server's").decode()


class FakePrimary:
    """Stands in for dns.query.tcp; keeps the UPDATE messages it received, as parsed from the wire."""

    def __init__(self, secret=SECRET, key="acme-key.", rcode=dns.rcode.NOERROR, raises=None, ede=None):
        self.keyring = dns.tsigkeyring.from_text({key: secret})
        self.rcode, self.raises, self.ede = rcode, raises, ede
        self.received = []

    def __call__(self, message, where, timeout=None, port=53, **kwargs):
        self.where = (where, port, timeout)
        if self.raises is not None:
            raise self.raises
        try:
            received = dns.message.from_wire(message.to_wire(), keyring=self.keyring)
        except dns.tsig.BadSignature:   # the server answers NOTAUTH/BADSIG, which dnspython raises as PeerBadSignature
            raise dns.tsig.PeerBadSignature() from None
        self.received.append(received)
        response = dns.message.make_response(message)
        response.set_rcode(self.rcode)
        if self.ede:
            response.use_edns(0, options=[dns.edns.EDEOption(dns.edns.EDECode.PROHIBITED, self.ede)])
        return response


def provider(**kwargs):
    options = dict(server="192.0.2.1", key_name="acme-key", key_secret=SECRET, lookup=None)
    options.update(kwargs)
    return RFC2136Provider(**options)


@pytest.fixture
def primary(monkeypatch):
    server = FakePrimary()
    monkeypatch.setattr(dns.query, "tcp", server)
    return server


def section(rrsets):
    """The records as the zone-file lines of the UPDATE (class NONE: delete this value; ANY: the rrset exists)."""
    return sorted(line for rrset in rrsets for line in rrset.to_text().splitlines())


def test_present_adds_every_value_in_one_signed_update(primary):
    provider(ttl=120, timeout=4, key_algorithm="HMAC-SHA512").present(
        "example.com", {"_acme-challenge.example.com": ["v1", 'q"uo\\te'], "_acme-challenge.www.example.com": ["v3"]})
    assert len(primary.received) == 1
    update = primary.received[0]
    assert update.had_tsig and update.keyname == dns.name.from_text("acme-key")
    assert update.keyalgorithm == dns.name.from_text("hmac-sha512")
    assert update.zone[0].name == dns.name.from_text("example.com") and update.zone[0].rdtype == dns.rdatatype.SOA
    assert section(update.update) == ['_acme-challenge.example.com. 120 IN TXT "q\\"uo\\\\te"',
                                      '_acme-challenge.example.com. 120 IN TXT "v1"',
                                      '_acme-challenge.www.example.com. 120 IN TXT "v3"']
    assert sorted(b"".join(item.strings) for rrset in update.update for item in rrset) == [b'q"uo\\te', b"v1", b"v3"]
    assert primary.where == ("192.0.2.1", 53, 4)


def test_cleanup_deletes_exactly_the_values_added(primary):
    provider(server="[2001:db8::1]:5353").cleanup("example.com", {"_acme-challenge.example.com": ["v1", "v2"]})
    # class NONE: delete these rdata only, the name's other TXT values stay
    assert section(primary.received[0].update) == ['_acme-challenge.example.com. 0 NONE TXT "v1"',
                                                   '_acme-challenge.example.com. 0 NONE TXT "v2"']
    assert primary.where[:2] == ("2001:db8::1", 5353)


def test_preflight_sends_one_soa_prerequisite_per_zone_and_changes_nothing(primary):
    provider(port=5300).preflight(["example.com", "example.net"])
    assert len(primary.received) == 2
    for update, zone in zip(primary.received, ("example.com.", "example.net.")):
        assert update.update == []
        assert section(update.prerequisite) == ["%s ANY SOA" % zone]
    assert primary.where[1] == 5300


def test_without_a_key_the_update_is_unsigned(primary):
    p = provider(key_name=None, key_secret=None)
    assert p.keyring is None
    p.present("example.com", {"_acme-challenge.example.com": ["v1"]})
    assert not primary.received[0].had_tsig


def test_the_wrong_secret_does_not_verify_at_the_server(monkeypatch):
    monkeypatch.setattr(dns.query, "tcp", FakePrimary(secret=OTHER))
    with pytest.raises(DNSError, match="192.0.2.1 port 53 refused the TSIG signature of adding TXT records to zone "
                                       "example.com: NOTAUTH .BADSIG") as raised:
        provider().present("example.com", {"_acme-challenge.example.com": ["v1"]})
    assert raised.value.details["dns_rcode"] == "NOTAUTH"


@pytest.mark.parametrize("rcode", [dns.rcode.REFUSED, dns.rcode.NOTAUTH, dns.rcode.NOTZONE, dns.rcode.SERVFAIL])
def test_error_answers_carry_the_servers_words(monkeypatch, rcode):
    monkeypatch.setattr(dns.query, "tcp", FakePrimary(rcode=rcode))
    with pytest.raises(DNSError) as raised:
        provider(server="192.0.2.1:5353").present("example.com", {"_acme-challenge.example.com": ["v1"]})
    words = dns.rcode.to_text(rcode)
    assert raised.value.msg == ("the DNS server 192.0.2.1 port 5353 answered %s to adding TXT records to zone "
                                "example.com" % words)
    assert raised.value.details == {"dns_server": "192.0.2.1 port 5353", "dns_rcode": words}


def test_extended_dns_errors_are_quoted(monkeypatch):
    monkeypatch.setattr(dns.query, "tcp", FakePrimary(rcode=dns.rcode.REFUSED, ede="update denied by policy"))
    with pytest.raises(DNSError, match=r"answered REFUSED, extended error 18: update denied by policy to an update "
                                       r"of zone example.com$"):
        provider().preflight(["example.com"])


@pytest.mark.parametrize("raised, words", [
    (dns.tsig.PeerBadSignature(), r"refused the TSIG signature of removing TXT records from zone example.com: NOTAUTH "
                                  r"\(BADSIG: the signature does not verify with the server's secret\) - check "
                                  r"dns.key_name, dns.key_secret and dns.key_algorithm"),
    (dns.tsig.PeerBadKey(), r"NOTAUTH \(BADKEY: the server does not know this key\)"),
    (dns.tsig.PeerBadTime(), r"NOTAUTH \(BADTIME: the clocks differ too much\)"),
    (dns.tsig.PeerBadTruncation(), r"NOTAUTH \(BADTRUNC\)"),
    (dns.message.UnknownTSIGKey("other-key."), r"answered removing TXT records from zone example.com with a TSIG key "
                                               r"we do not know \(other-key.\)"),
    (dns.exception.Timeout(), r"^the DNS server 192.0.2.1 port 53 did not answer within 10.0 s \(removing TXT"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
     r"^cannot reach the DNS server 192.0.2.1 port 53: Connection refused \(removing TXT records"),
    (OSError("no route"), r"^cannot reach the DNS server 192.0.2.1 port 53: no route"),
    (dns.exception.FormError("truncated"), r"^DNS error from 192.0.2.1 port 53 for removing TXT records from zone "
                                           r"example.com: truncated"),
])
def test_transport_and_signature_failures_name_the_server(monkeypatch, raised, words):
    monkeypatch.setattr(dns.query, "tcp", FakePrimary(raises=raised))
    with pytest.raises(DNSError, match=words) as error:
        provider().cleanup("example.com", {"_acme-challenge.example.com": ["v1"]})
    assert error.value.details["dns_server"] == "192.0.2.1 port 53"


def test_zone_configured_or_looked_up():
    class Lookup:
        def zone_for(self, name):
            return "found." + name

    assert provider(zone="Example.COM.").zone_for("_acme-challenge.www.example.com") == "example.com"
    assert provider(zone="example.com").zone_for("example.com") == "example.com"
    with pytest.raises(InputError, match="^dns.zone: example.com does not contain _acme-challenge.example.net$"):
        provider(zone="example.com").zone_for("_acme-challenge.example.net")
    with pytest.raises(InputError, match="dns.zone: example.com does not contain _acme-challenge.badexample.com"):
        provider(zone="example.com").zone_for("_acme-challenge.badexample.com")
    assert provider(lookup=Lookup()).zone_for("x.example.org") == "found.x.example.org"


@pytest.mark.parametrize("options, field, words", [
    ({"server": None}, "dns.server", "is required for provider rfc2136"),
    ({"server": "ns1.example.com"}, "dns.server", "is not an IP address"),
    ({"server": "192.0.2.1:99999"}, "dns.server", "port 99999 of '192.0.2.1:99999' is out of range"),
    ({"server": "192.0.2.1:5353", "port": 53}, "dns.port", "is 53, but dns.server '192.0.2.1:5353' names port 5353"),
    ({"key_secret": None}, "dns.key_secret", "is required when dns.key_name is set"),
    ({"key_name": None}, "dns.key_name", "is required when dns.key_secret is set"),
    ({"key_algorithm": "hmac-sha3"}, "dns.key_algorithm", "'hmac-sha3' is not one of hmac-sha256"),
    ({"key_secret": "not base64!"}, "dns.key_secret", "is not base64"),
    ({"key_secret": "  "}, "dns.key_secret", "is empty"),
    ({"key_name": "a..b"}, "dns.key_name", "'a..b' is not a usable TSIG key name"),
])
def test_bad_settings_name_the_field(options, field, words):
    with pytest.raises(InputError) as raised:
        provider(**options)
    assert raised.value.field == field and words in raised.value.msg


def test_check_secret_decodes():
    assert check_secret(" %s\n" % SECRET) == b"0123456789abcdef0123456789abcdef"
    with pytest.raises(InputError, match="dns.key_secret: is empty"):
        check_secret(None)
