# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a certificate due for renewal?

Lifetime-relative by default, so 90-, 45- and 6-day certificates all behave:
renew when less than 1/3 of the lifetime remains (1/2 below 10 days of lifetime).
"""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Collection

from .timefmt import iso as _iso

if TYPE_CHECKING:
    from .keys import CertInfo, Identifier

SHORT_LIVED = datetime.timedelta(days=10)
# Issuer names of well-known test CAs: a certificate from one of them is never
# kept when production is asked for, even if we cannot tell which directory issued it.
TEST_ISSUER_MARKERS = ("staging", "fake le", "pebble", "untrusted")


@dataclass
class RenewalDecision:
    due: bool
    reason: str
    renew_at: datetime.datetime | None = None
    not_after: datetime.datetime | None = None

    def to_result(self, now: datetime.datetime) -> dict:
        result = {"due": self.due, "reason": self.reason}
        if self.not_after is not None:
            result["not_after"] = _iso(self.not_after)
            result["days_left"] = round((self.not_after - now).total_seconds() / 86400, 2)
        if self.renew_at is not None:
            result["renew_at"] = _iso(self.renew_at)
        return result


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def renewal_window(not_before: datetime.datetime, not_after: datetime.datetime,
                   renew_before_days: float | None = None) -> datetime.timedelta:
    """How long before not_after renewal becomes due."""
    if renew_before_days is not None:
        return datetime.timedelta(days=renew_before_days)
    lifetime = not_after - not_before
    return lifetime / 2 if lifetime < SHORT_LIVED else lifetime / 3


def looks_like_test_ca(issuer: str) -> bool:
    issuer = (issuer or "").lower()
    return any(marker in issuer for marker in TEST_ISSUER_MARKERS)


def is_production_directory(directory_url: str) -> bool:
    url = (directory_url or "").lower()
    return "staging" not in url and "127.0.0.1" not in url and "localhost" not in url


def profile_changed(wanted: str | None, recorded: str | None) -> str | None:
    """The reason to renew when another ACME profile is asked for than the certificate was issued with.

    No profile asked for means the CA's default: that never makes a certificate due by itself.
    A certificate with no recorded profile was issued with the CA's default.
    """
    if not wanted or wanted == recorded:
        return None
    return "profile changed (%s -> %s)" % (recorded or "CA default", wanted)


def decide(cert: CertInfo | None, wanted_identifiers: Collection[Identifier] | None = None,
           directory: str | None = None, cert_directory: str | None = None,
           renew_before_days: float | None = None, force: bool = False, now: datetime.datetime | None = None,
           profile: str | None = None, cert_profile: str | None = None) -> RenewalDecision:
    """Decide whether cert (a keys.CertInfo or None) must be replaced.

    cert_directory is the ACME directory that issued cert when known (metadata);
    directory is the one asked for now. profile is the ACME profile asked for now,
    cert_profile the one cert was issued with (metadata).
    """
    now = now or utcnow()
    if cert is None:
        return RenewalDecision(True, "no existing certificate")
    window = renewal_window(cert.not_before, cert.not_after, renew_before_days)
    renew_at = cert.not_after - window
    decision = RenewalDecision(False, "not due", renew_at=renew_at, not_after=cert.not_after)
    if force:
        decision.due, decision.reason = True, "forced"
    elif wanted_identifiers is not None and set(wanted_identifiers) != set(cert.identifiers):
        have = set(cert.identifiers)
        missing = sorted(i.value for i in set(wanted_identifiers) - have)
        extra = sorted(i.value for i in have - set(wanted_identifiers))
        decision.due = True
        decision.reason = "identifiers changed (%s)" % ", ".join(
            ["missing " + " ".join(missing)] * bool(missing) + ["no longer wanted " + " ".join(extra)] * bool(extra))
    elif directory and cert_directory and cert_directory.rstrip("/") != directory.rstrip("/"):
        decision.due, decision.reason = True, "issued by another ACME directory (%s)" % cert_directory
    elif directory and not cert_directory and is_production_directory(directory) and looks_like_test_ca(cert.issuer):
        decision.due, decision.reason = True, "issued by a test CA (%s) but production was asked for" % cert.issuer
    elif profile_changed(profile, cert_profile):
        decision.due, decision.reason = True, str(profile_changed(profile, cert_profile))
    elif now >= cert.not_after:
        decision.due, decision.reason = True, "expired"
    elif now > renew_at:
        decision.due = True
        decision.reason = "within renewal window (%.1f of %.1f days left)" % (
            (cert.not_after - now).total_seconds() / 86400, (cert.not_after - cert.not_before).total_seconds() / 86400)
    return decision


# After a failed renewal, wait before trying again so that a broken challenge does
# not burn the CA's failed-validation limit: 10 min, 20 min, 40 min ... capped at
# 12 hours, and never more than a tenth of the lifetime (short-lived certificates
# must keep trying). A success resets it; the CA's Retry-After (rate limits) wins.
BACKOFF_FIRST = datetime.timedelta(minutes=10)
BACKOFF_CAP = datetime.timedelta(hours=12)
# Infrastructure failures (the CA unreachable or failing with 5xx, storage down) say nothing about
# the request: retried sooner, 2 min, 4 min ... at most an hour.
INFRA_BACKOFF_FIRST = datetime.timedelta(minutes=2)
INFRA_BACKOFF_CAP = datetime.timedelta(hours=1)


def next_attempt(last_attempt: datetime.datetime | None, consecutive_failures: int,
                 lifetime: datetime.timedelta | None = None, retry_after: datetime.datetime | None = None,
                 kind: str | None = None) -> datetime.datetime | None:
    """When the next renewal attempt may contact the CA (None: any time).

    kind is the last failure's kind (errors.failure_kind): "infrastructure" backs off less."""
    if not last_attempt or not consecutive_failures:
        return None
    first, cap = (INFRA_BACKOFF_FIRST, INFRA_BACKOFF_CAP) if kind == "infrastructure" else (BACKOFF_FIRST,
                                                                                            BACKOFF_CAP)
    delay = first * (2 ** min(consecutive_failures - 1, 16))
    cap = cap if lifetime is None else min(cap, max(lifetime / 10, first))
    moment = last_attempt + min(delay, cap)
    if retry_after is not None and retry_after > moment:
        moment = retry_after
    return moment
