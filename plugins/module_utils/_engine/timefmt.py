# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one time format of everything the engine records and returns: UTC, whole seconds, 'Z'.

2026-11-29T20:15:00Z in results, metadata files, pointers, status and lock records.
A naive datetime is taken as UTC (the engine never works in local time).
"""
from __future__ import annotations

import datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(moment: datetime.datetime) -> str:
    """moment as 2026-11-29T20:15:00Z."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc).strftime(ISO_FORMAT)


def iso_epoch(epoch: float) -> str:
    """Epoch seconds as 2026-11-29T20:15:00Z."""
    return iso(datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc))


def parse_iso(text: object) -> datetime.datetime | None:
    """An aware UTC datetime from text written by iso(); None for anything else (None, "", garbage)."""
    if not isinstance(text, str):
        return None
    try:
        return datetime.datetime.strptime(text, ISO_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def epoch_of(text: object) -> float | None:
    """Epoch seconds of text written by iso(); None for anything else."""
    moment = parse_iso(text)
    return moment.timestamp() if moment is not None else None
