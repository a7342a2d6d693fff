# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS-01 for one order: where each record goes, publish, wait until visible, remove.

prepare() runs before anything is ordered: it follows CNAME delegations
(_acme-challenge.example.com CNAME _acme-challenge.example.auth.example.net, the
acme-dns pattern), finds the zone that holds each record and asks the provider
whether it may change those zones, so bad settings fail before the CA is asked.
"""
from __future__ import annotations

from typing import Iterable

from ..challenge import ChallengeRecord, dns01_name
from ..errors import DNSError, EngineError
from ..keys import Identifier
from .providers import open_provider
from .base import TXTRecord, by_name


class DNSSolver:
    def __init__(self, dns_options: object) -> None:
        self.provider, self.lookup, self.conf = open_provider(dns_options)
        # _acme-challenge name -> (name the record is written at, zone)
        self.targets: dict[str, tuple[str, str]] = {}
        # [(zone, {name: [values]})] changed by publish(), undone by remove()
        self.published: list[tuple[str, dict[str, list[str]]]] = []

    def prepare(self, identifiers: Iterable[Identifier]) -> dict[str, dict[str, str]]:
        """{challenge name: {"target", "zone"}} for every DNS identifier; raises before anything is ordered."""
        for ident in identifiers:
            if ident.type != "dns":
                raise EngineError("%s is an IP address: DNS-01 validates DNS names only (use http-01)" % ident.value,
                                  field="identifiers")
            name = dns01_name(ident.value[2:] if ident.value.startswith("*.") else ident.value)
            if name in self.targets:
                continue
            target = self.lookup.follow_cname(name)
            self.targets[name] = (target, self.provider.zone_for(target))
        self.provider.preflight(sorted({zone for _target, zone in self.targets.values()}))
        return {name: {"target": target, "zone": zone} for name, (target, zone) in self.targets.items()}

    def _by_zone(self, challenge_records: Iterable[ChallengeRecord]) -> dict[str, list[TXTRecord]]:
        zones: dict[str, list[TXTRecord]] = {}
        for record in challenge_records:
            if record.name not in self.targets:   # an authorization for a name prepare() did not see
                target = self.lookup.follow_cname(record.name)
                self.targets[record.name] = (target, self.provider.zone_for(target))
            target, zone = self.targets[record.name]
            zones.setdefault(zone, []).append(TXTRecord(target, record.value))
        return zones

    def publish(self, challenge_records: Iterable[ChallengeRecord]) -> None:
        """Add every record, one change per zone; then wait until every authoritative server answers them."""
        zones = self._by_zone(challenge_records)
        for zone, records in sorted(zones.items()):
            rrsets = by_name(records)
            self.published.append((zone, rrsets))   # before the call: a half-applied change is still undone
            self.provider.present(zone, rrsets)
        if zones and self.conf["check_propagation"]:
            self.lookup.wait_visible(zones, self.conf["propagation_timeout"])

    def remove(self) -> list[str]:
        """Remove what publish() added; returns the errors (never raises: the caller's outcome stands)."""
        errors = []
        while self.published:
            zone, rrsets = self.published.pop()
            try:
                self.provider.cleanup(zone, rrsets)
            except (DNSError, EngineError) as error:
                errors.append("%s: %s" % (zone, error.msg))
        return errors

    def close(self) -> None:
        self.provider.close()
