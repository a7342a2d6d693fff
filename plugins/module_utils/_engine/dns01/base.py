# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The small interface every DNS-01 provider implements.

A provider knows how to find the zone that holds a name, how to check before
anything is ordered that it may change that zone, and how to add and remove TXT
values. It changes each zone once per call (one UPDATE message, one ChangeBatch)
and removes exactly the values it added, so other values of the same name stay.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class TXTRecord:
    """One TXT value at an absolute name (no trailing dot, lower case)."""
    name: str
    value: str


def by_name(records: Iterable[TXTRecord]) -> dict[str, list[str]]:
    """{name: [values...]} keeping the first-seen order and dropping duplicates."""
    grouped: dict[str, list[str]] = {}
    for record in records:
        values = grouped.setdefault(record.name, [])
        if record.value not in values:
            values.append(record.value)
    return grouped


def in_zone(name: str, zone: str) -> bool:
    name, zone = name.lower().rstrip("."), zone.lower().rstrip(".")
    return name == zone or name.endswith("." + zone)


class Provider:
    """Base of the DNS providers. Subclasses implement the four methods below."""
    kind = "base"

    def zone_for(self, name: str) -> str:
        """The zone (apex name) that holds name, or raise InputError/DNSError."""
        raise NotImplementedError

    def preflight(self, zones: list[str]) -> None:
        """Before ordering: raise if a zone cannot be changed (unreachable, refused, no such zone)."""
        raise NotImplementedError

    def present(self, zone: str, rrsets: dict[str, list[str]]) -> None:
        """Add the TXT values {name: [values]} to zone, in one change."""
        raise NotImplementedError

    def cleanup(self, zone: str, rrsets: dict[str, list[str]]) -> None:
        """Remove exactly these TXT values from zone, in one change; absent values are fine."""
        raise NotImplementedError

    def close(self) -> None:
        return None
