# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS look-ups for DNS-01: CNAME delegation, the zone of a name (SOA walk), its
authoritative servers, and the propagation check that asks each of them directly.

Every question goes to the configured resolvers (split horizon) or the system's;
propagation is never judged by a caching resolver: the TXT values must be in the
answer of every authoritative server of the zone, asked without recursion.
"""
from __future__ import annotations

import time
from typing import Callable

from ..errors import DNSError, InputError
from .base import TXTRecord, by_name

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
except ImportError:  # reported by the module through deps.missing()
    pass

MAX_CNAME_HOPS = 8


def parse_server(text: str, field: str, default_port: int = 53) -> tuple[str, int]:
    """'192.0.2.1', '192.0.2.1:5353', '[2001:db8::1]:53' or '2001:db8::1' -> (address, port)."""
    import ipaddress
    text = (text or "").strip()
    host, port = text, default_port
    if text.startswith("["):
        host, _sep, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise InputError(field, "%r is not address[:port]" % text)
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        if not port_text.isdigit():
            raise InputError(field, "%r is not address[:port]" % text)
        port = int(port_text)
    try:
        address = str(ipaddress.ip_address(host))
    except ValueError:
        raise InputError(field, "%r is not an IP address (with an optional :port)" % text) from None
    if not 0 < port < 65536:
        raise InputError(field, "port %d of %r is out of range" % (port, text))
    return address, port


class Lookup:
    """Questions about names, asked of resolvers (or the system's) and of authoritative servers."""

    def __init__(self, resolvers: list[str] | None = None, nameserver_port: int = 53, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self.nameserver_port = nameserver_port
        self.resolver = dns.resolver.Resolver(configure=not resolvers)
        if resolvers:
            servers = [parse_server(text, "dns.resolvers") for text in resolvers]
            self.resolver.nameservers = [address for address, _port in servers]
            self.resolver.nameserver_ports = dict(servers)
            self.resolver.port = servers[0][1]
        self.resolver.lifetime = timeout
        self.resolver.timeout = min(timeout, 3.0)
        self.resolvers_text = ", ".join(resolvers) if resolvers else "the system resolver"

    def _resolve(self, name: str, rdtype: str) -> dns.rrset.RRset | None:
        """The answer's rrset or None (NXDOMAIN, no data); DNSError when nobody answers."""
        try:
            return self.resolver.resolve(name, rdtype, raise_on_no_answer=False).rrset
        except dns.resolver.NXDOMAIN:
            return None
        except dns.resolver.NoNameservers as exc:
            if "REFUSED" in str(exc) and "SERVFAIL" not in str(exc):
                return None   # an authoritative-only resolver that serves no zone holding the name
            raise DNSError("no resolver (%s) could answer %s %s: %s" % (self.resolvers_text, name, rdtype, exc),
                           dns_name=name) from None
        except dns.exception.Timeout:
            raise DNSError("no answer from %s for %s %s within %s s" % (self.resolvers_text, name, rdtype,
                                                                        self.timeout), dns_name=name) from None

    def follow_cname(self, name: str) -> str:
        """The name at the end of a CNAME chain starting at name (name itself without one)."""
        seen = [name]
        for _hop in range(MAX_CNAME_HOPS):
            rrset = self._resolve(seen[-1], "CNAME")
            if rrset is None or rrset.rdtype != dns.rdatatype.CNAME or not len(rrset):
                return seen[-1]
            target = rrset[0].target.to_text(omit_final_dot=True).lower()
            if target in seen:
                raise DNSError("CNAME loop: %s" % " -> ".join(seen + [target]), dns_name=name)
            seen.append(target)
        raise DNSError("more than %d CNAMEs from %s" % (MAX_CNAME_HOPS, name), dns_name=name)

    def zone_for(self, name: str) -> str:
        """SOA walk: the closest enclosing zone of name, as the resolvers see it."""
        try:
            zone = dns.resolver.zone_for_name(name, resolver=self.resolver, lifetime=self.timeout)
        except dns.resolver.NoRootSOA:
            raise InputError("dns.zone", "no zone holds %s (no SOA found up to the root, asking %s)"
                             % (name, self.resolvers_text)) from None
        except dns.resolver.NoNameservers as exc:
            if "REFUSED" in str(exc):
                raise InputError("dns.zone", "no zone holds %s: %s answered REFUSED (it serves no zone holding the "
                                             "name; check the name, dns.resolvers or dns.zone)"
                                 % (name, self.resolvers_text)) from None
            raise DNSError("cannot find the zone of %s: %s" % (name, exc), dns_name=name) from None
        except (dns.resolver.LifetimeTimeout, dns.exception.Timeout) as exc:
            raise DNSError("cannot find the zone of %s: %s did not answer (%s)" % (name, self.resolvers_text, exc),
                           dns_name=name) from None
        if zone == dns.name.root:   # the name's top-level domain does not exist: nobody would update the root
            raise InputError("dns.zone", "no zone holds %s (only the root answered, asking %s)"
                             % (name, self.resolvers_text))
        return zone.to_text(omit_final_dot=True).lower()

    def authoritative_servers(self, zone: str) -> list[tuple[str, str]]:
        """[(name server, address)] of every NS of zone."""
        rrset = self._resolve(zone, "NS")
        if rrset is None or rrset.rdtype != dns.rdatatype.NS:
            raise DNSError("%s has no NS records (asking %s)" % (zone, self.resolvers_text), dns_zone=zone)
        servers = []
        for record in rrset:
            ns_name = record.target.to_text(omit_final_dot=True).lower()
            addresses = []
            for rdtype in ("A", "AAAA"):
                found = self._resolve(ns_name, rdtype)
                if found is not None and found.rdtype == dns.rdatatype.from_text(rdtype):
                    addresses += [item.address for item in found]
            if not addresses:
                raise DNSError("the name server %s of %s has no address (asking %s)"
                               % (ns_name, zone, self.resolvers_text), dns_zone=zone)
            servers += [(ns_name, address) for address in addresses]
        return sorted(set(servers))

    def txt_values(self, name: str, address: str) -> set[str]:
        """TXT values of name, asked of one authoritative server directly (no recursion)."""
        query = dns.message.make_query(name, "TXT")
        query.flags &= ~dns.flags.RD
        response, _tcp = dns.query.udp_with_fallback(query, address, timeout=min(self.timeout, 3.0),
                                                     port=self.nameserver_port)
        if response.rcode() not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            raise DNSError("%s answered %s" % (address, dns.rcode.to_text(response.rcode())))
        values: set[str] = set()
        wanted = dns.name.from_text(name)
        for rrset in response.answer:
            if rrset.rdtype == dns.rdatatype.TXT and rrset.name == wanted:
                values |= {b"".join(item.strings).decode() for item in rrset}
        return values

    def wait_visible(self, zone_records: dict[str, list[TXTRecord]], timeout: float,
                     sleep: Callable[[float], None] = time.sleep,
                     clock: Callable[[], float] = time.monotonic) -> dict[str, list[str]]:
        """Wait until every authoritative server of each zone answers every TXT value of {zone: [records]}.

        Returns {zone: [servers]}; on timeout a DNSError names the first server and record still missing.
        """
        deadline = clock() + timeout
        pending: list[tuple[tuple[str, str], str, set[str]]] = []
        servers_of: dict[str, list[tuple[str, str]]] = {}
        for zone, records in zone_records.items():
            servers_of[zone] = self.authoritative_servers(zone)
            for server in servers_of[zone]:
                for name, wanted in by_name(records).items():
                    pending.append((server, name, set(wanted)))
        delay = 0.1
        last_error: dict[tuple[tuple[str, str], str], str] = {}
        while True:
            still = []
            for server, name, values in pending:
                try:
                    seen = self.txt_values(name, server[1])
                except (OSError, dns.exception.DNSException, DNSError) as exc:
                    last_error[(server, name)] = str(exc) or exc.__class__.__name__
                    still.append((server, name, values))
                    continue
                if not values <= seen:
                    still.append((server, name, values))
            pending = still
            if not pending:
                return {zone: ["%s (%s)" % server for server in servers] for zone, servers in servers_of.items()}
            if clock() >= deadline:
                (ns_name, address), name, values = pending[0]
                why = last_error.get(((ns_name, address), name))
                raise DNSError("DNS-01 records not visible after %s s: the authoritative server %s (%s port %d) "
                               "does not answer TXT %s with %s%s" % (
                                   timeout, ns_name, address, self.nameserver_port, name,
                                   ", ".join(repr(v) for v in sorted(values)),
                                   " (last error: %s)" % why if why else ""),
                               dns_server=ns_name, dns_server_address=address, dns_record=name,
                               dns_missing_servers=sorted({"%s (%s)" % server for server, _n, _v in pending}))
            sleep(min(delay, max(0.0, deadline - clock())))
            delay = min(delay * 2, 2.0)
