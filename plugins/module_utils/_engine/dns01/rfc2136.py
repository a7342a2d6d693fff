# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""RFC 2136 dynamic updates signed with TSIG (RFC 8945), on dnspython.

One protocol for BIND, Knot, PowerDNS and Windows DNS. Each call sends one UPDATE
per zone over TCP: values are added (never replacing the name's other values) and
removed one by one, so two orders for the same name do not remove each other's.
"""
from __future__ import annotations

import base64
import binascii

from typing import TYPE_CHECKING

from ..errors import DNSError, InputError
from .base import Provider, in_zone

try:
    import dns.edns
    import dns.exception
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.tsig
    import dns.tsigkeyring
    import dns.update
except ImportError:  # reported by the module through deps.missing()
    pass

if TYPE_CHECKING:
    from .lookup import Lookup

ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha224", "hmac-sha1", "hmac-md5")
OPTIONS = ("server", "port", "key_name", "key_secret", "key_algorithm", "zone")


def check_secret(secret: str | None) -> bytes:
    try:
        decoded = base64.b64decode((secret or "").strip(), validate=True)
    except (binascii.Error, ValueError):
        raise InputError("dns.key_secret", "is not base64 (a TSIG secret as in the key's 'secret' line)") from None
    if not decoded:
        raise InputError("dns.key_secret", "is empty")
    return decoded


class RFC2136Provider(Provider):
    kind = "rfc2136"

    def __init__(self, lookup: Lookup, server: str | None = None, port: int | None = None,
                 key_name: str | None = None, key_secret: str | None = None, key_algorithm: str | None = None,
                 zone: str | None = None, ttl: int = 60, timeout: float = 10.0) -> None:
        from .lookup import parse_server
        if not server:
            raise InputError("dns.server", "is required for provider rfc2136 (the primary name server's address)")
        self.server, self.port = parse_server(server, "dns.server", default_port=port or 53)
        if port and self.port != port:
            raise InputError("dns.port", "is %d, but dns.server %r names port %d; give the port once" % (
                port, server, self.port))
        if bool(key_name) != bool(key_secret):
            raise InputError("dns.key_secret" if key_name else "dns.key_name",
                             "is required when %s is set" % ("dns.key_name" if key_name else "dns.key_secret"))
        self.keyring = None
        self.key_name = key_name
        algorithm = (key_algorithm or "hmac-sha256").lower()
        if algorithm not in ALGORITHMS:
            raise InputError("dns.key_algorithm", "%r is not one of %s" % (key_algorithm, ", ".join(ALGORITHMS)))
        if key_name:
            check_secret(key_secret)
            try:
                self.keyring = dns.tsigkeyring.from_text({key_name: (key_secret or "").strip()})
                self.key = dns.name.from_text(key_name)
            except (dns.exception.DNSException, ValueError) as exc:
                raise InputError("dns.key_name", "%r is not a usable TSIG key name (%s)" % (key_name, exc)) from None
            self.algorithm = dns.name.from_text(algorithm)
        self.zone = zone.lower().rstrip(".") if zone else None
        self.lookup = lookup
        self.ttl = ttl
        self.timeout = timeout
        self.where = "%s port %d" % (self.server, self.port)

    def zone_for(self, name: str) -> str:
        if self.zone:
            if not in_zone(name, self.zone):
                raise InputError("dns.zone", "%s does not contain %s" % (self.zone, name))
            return self.zone
        return self.lookup.zone_for(name)

    def _send(self, message: dns.message.Message, what: str) -> dns.message.Message:
        try:
            response = dns.query.tcp(message, self.server, timeout=self.timeout, port=self.port)
        except dns.tsig.PeerError as exc:
            raise DNSError("%s refused the TSIG signature of %s: NOTAUTH (%s) - check dns.key_name, dns.key_secret "
                           "and dns.key_algorithm" % (self.where, what, _tsig_words(exc)),
                           dns_server=self.where, dns_rcode="NOTAUTH") from None
        except dns.message.UnknownTSIGKey as exc:
            raise DNSError("%s answered %s with a TSIG key we do not know (%s)" % (self.where, what, exc),
                           dns_server=self.where) from None
        except dns.exception.Timeout:
            raise DNSError("the DNS server %s did not answer within %s s (%s)" % (self.where, self.timeout, what),
                           dns_server=self.where) from None
        except OSError as exc:
            raise DNSError("cannot reach the DNS server %s: %s (%s)" % (self.where, exc.strerror or exc, what),
                           dns_server=self.where) from None
        except dns.exception.DNSException as exc:
            raise DNSError("DNS error from %s for %s: %s" % (self.where, what, exc), dns_server=self.where) from None
        rcode = response.rcode()
        if rcode != dns.rcode.NOERROR:
            words = dns.rcode.to_text(rcode)
            tsig_error = getattr(response, "tsig_error", 0)
            if tsig_error:
                words += ", TSIG error %s" % dns.rcode.to_text(dns.rcode.Rcode.make(tsig_error))
            # the EDE options themselves (Message.extended_errors() is newer than the oldest dnspython supported)
            extended = ["%s%s" % (int(option.code), (": " + option.text) if option.text else "")
                        for option in getattr(response, "options", ()) if option.otype == dns.edns.OptionType.EDE]
            if extended:
                words += ", extended error " + "; ".join(str(e) for e in extended)
            raise DNSError("the DNS server %s answered %s to %s" % (self.where, words, what), dns_server=self.where,
                           dns_rcode=dns.rcode.to_text(rcode))
        return response

    def _update(self, zone: str) -> dns.update.UpdateMessage:
        update = dns.update.UpdateMessage(zone)
        if self.keyring:
            update.use_tsig(self.keyring, keyname=self.key, algorithm=self.algorithm)
        return update

    def preflight(self, zones: list[str]) -> None:
        """An UPDATE whose only content is the prerequisite "the zone's SOA exists": changes nothing, but
        the server checks that it is authoritative for the zone, the signature and the update permission."""
        for zone in zones:
            update = self._update(zone)
            update.present(zone + ".", "SOA")
            self._send(update, "an update of zone %s" % zone)

    def present(self, zone: str, rrsets: dict[str, list[str]]) -> None:
        update = self._update(zone)
        for name, values in rrsets.items():
            for value in values:
                update.add(name + ".", self.ttl, "TXT", _quoted(value))
        self._send(update, "adding TXT records to zone %s" % zone)

    def cleanup(self, zone: str, rrsets: dict[str, list[str]]) -> None:
        update = self._update(zone)
        for name, values in rrsets.items():
            for value in values:
                update.delete(name + ".", "TXT", _quoted(value))
        self._send(update, "removing TXT records from zone %s" % zone)


def _quoted(value: str) -> str:
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def _tsig_words(exc: Exception) -> str:
    names = {"PeerBadKey": "BADKEY: the server does not know this key",
             "PeerBadSignature": "BADSIG: the signature does not verify with the server's secret",
             "PeerBadTime": "BADTIME: the clocks differ too much",
             "PeerBadTruncation": "BADTRUNC"}
    return names.get(exc.__class__.__name__, str(exc) or exc.__class__.__name__)
