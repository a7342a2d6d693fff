# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a certificate due for renewal?

Lifetime-relative by default, so 90-, 45- and 6-day certificates all behave:
renew when less than 1/3 of the lifetime remains (1/2 below 10 days of lifetime).
"""
from __future__ import annotations

import datetime
import enum
import math
from dataclasses import dataclass, field
from typing import Any, Collection

from . import keys
from .errors import InputError
from .timefmt import iso as _iso

SHORT_LIVED = datetime.timedelta(days=10)
# Issuer names of well-known test CAs: a certificate from one of them is never
# kept when production is asked for, even if we cannot tell which directory issued it.
TEST_ISSUER_MARKERS = ("staging", "fake le", "pebble", "untrusted")


class Reason(str, enum.Enum):
    """Why a certificate is (or is not) due. Results carry the value; callers branch on it, never on text.

    To add a reason (for example "profile changed"), add a member here and a check to
    _CHANGE_CHECKS (changes in what is asked for) or to decide() (time based).
    """
    NOT_DUE = "not_due"
    MISSING = "missing"
    EXPIRED = "expired"
    LIFETIME_WINDOW = "lifetime_window"
    RENEW_BEFORE_DAYS = "renew_before_days"
    ARI_WINDOW = "ari_window"
    NAMES_CHANGED = "names_changed"
    KEY_TYPE_CHANGED = "key_type_changed"
    DIRECTORY_CHANGED = "directory_changed"
    PROFILE_CHANGED = "profile_changed"
    FORCED = "forced"
    REVOKED = "revoked"
    BACKING_OFF = "backing_off"


# Reasons that come from the clock alone: the CA's renewal window (ARI) may replace them.
TIME_REASONS = (Reason.NOT_DUE, Reason.LIFETIME_WINDOW, Reason.RENEW_BEFORE_DAYS)


@dataclass
class AriWindow:
    """The CA's suggested renewal window (RFC 9773) and the moment selected inside it."""
    start: datetime.datetime
    end: datetime.datetime
    selected: datetime.datetime


@dataclass
class RenewalDecision:
    due: bool
    reason: Reason
    detail: str = ""
    renew_at: datetime.datetime | None = None
    not_after: datetime.datetime | None = None
    next_check: datetime.datetime | None = None
    warnings: list = field(default_factory=list)

    @property
    def ari_may_govern(self) -> bool:
        """Whether the CA's renewal window may replace this decision (it came from the clock alone)."""
        return self.reason in TIME_REASONS

    def to_result(self, now: datetime.datetime) -> dict:
        result: dict[str, Any] = {
            "due": self.due, "reason": self.reason.value, "reason_detail": self.detail or self.reason.value,
            "next_check": _iso(self.next_check) if self.next_check is not None else None}
        if self.not_after is not None:
            result["not_after"] = _iso(self.not_after)
            result["days_left"] = round((self.not_after - now).total_seconds() / 86400, 2)
        if self.renew_at is not None:
            result["renew_at"] = _iso(self.renew_at)
        if self.warnings:
            result["decision_warnings"] = list(self.warnings)
        return result


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def lifetime_window(lifetime: datetime.timedelta) -> datetime.timedelta:
    """The default renewal window: a third of the lifetime, half below 10 days of lifetime."""
    return lifetime / 2 if lifetime < SHORT_LIVED else lifetime / 3


def check_renew_before_days(value: float | str | None, field_name: str = "renew_before_days") -> float | None:
    """None (lifetime window) or a positive number of days; 0 means unset (roles pass variables through)."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(field_name, "must be a number of days, got %r" % (value,))
    try:
        days = float(value)
    except (TypeError, ValueError):
        raise InputError(field_name, "must be a number of days, got %r" % (value,)) from None
    if math.isnan(days) or math.isinf(days):
        raise InputError(field_name, "must be a finite number of days, got %r" % (value,))
    if days < 0:
        raise InputError(field_name, "must not be negative, got %r" % (value,))
    return days or None


def renewal_window(not_before: datetime.datetime, not_after: datetime.datetime,
                   renew_before_days: float | None = None) -> tuple[datetime.timedelta, str | None]:
    """(window, warning or None): how long before not_after renewal becomes due.

    renew_before_days replaces the lifetime window. A value at or above the
    certificate's lifetime would renew on every run: it is capped to the lifetime
    window, with a warning saying so.
    """
    lifetime = not_after - not_before
    default = lifetime_window(lifetime)
    if renew_before_days is None:
        return default, None
    window = datetime.timedelta(days=renew_before_days)
    if window >= lifetime:
        return default, ("renew_before_days %g is not below the certificate's lifetime of %.2f days (it would renew "
                         "on every run); using the lifetime window of %.2f days instead"
                         % (renew_before_days, lifetime.total_seconds() / 86400, default.total_seconds() / 86400))
    return window, None


def looks_like_test_ca(issuer: str) -> bool:
    issuer = (issuer or "").lower()
    return any(marker in issuer for marker in TEST_ISSUER_MARKERS)


def is_production_directory(directory_url: str) -> bool:
    url = (directory_url or "").lower()
    return "staging" not in url and "127.0.0.1" not in url and "localhost" not in url


def _names_changed(cert: keys.CertInfo, asked: _Asked) -> str | None:
    if asked.identifiers is None:
        return None
    wanted = frozenset(asked.identifiers)
    have = keys.identifier_set([i.value for i in cert.identifiers])
    if wanted == have:
        return None
    missing = sorted(i.value for i in wanted - have)
    extra = sorted(i.value for i in have - wanted)
    return "identifiers changed (%s)" % ", ".join(
        ["missing " + " ".join(missing)] * bool(missing) + ["no longer wanted " + " ".join(extra)] * bool(extra))


def _key_type_changed(cert: keys.CertInfo, asked: _Asked) -> str | None:
    if asked.key_type and asked.cert_key_type and asked.key_type != asked.cert_key_type:
        return "key type changed (%s, %s wanted)" % (asked.cert_key_type, asked.key_type)
    return None


def _directory_changed(cert: keys.CertInfo, asked: _Asked) -> str | None:
    if asked.directory and asked.cert_directory and asked.cert_directory.rstrip("/") != asked.directory.rstrip("/"):
        return "issued by another ACME directory (%s)" % asked.cert_directory
    if asked.directory and not asked.cert_directory and is_production_directory(asked.directory) \
            and looks_like_test_ca(cert.issuer):
        return "issued by a test CA (%s) but production was asked for" % cert.issuer
    return None


def profile_changed(wanted: str | None, recorded: str | None) -> str | None:
    """The reason to renew when another ACME profile is asked for than the certificate was issued with.

    No profile asked for means the CA's default: that never makes a certificate due by itself.
    A certificate with no recorded profile was issued with the CA's default.
    """
    if not wanted or wanted == recorded:
        return None
    return "profile changed (%s -> %s)" % (recorded or "CA default", wanted)


def _profile_changed(cert: keys.CertInfo, asked: _Asked) -> str | None:
    return profile_changed(asked.profile, asked.cert_profile)


@dataclass
class _Asked:
    identifiers: frozenset[keys.Identifier] | None
    key_type: str | None
    cert_key_type: str | None
    directory: str | None
    cert_directory: str | None
    profile: str | None = None
    cert_profile: str | None = None


# Changes in what is asked for that make a certificate due whatever its age, checked in this order.
_CHANGE_CHECKS = (
    (Reason.NAMES_CHANGED, _names_changed),
    (Reason.KEY_TYPE_CHANGED, _key_type_changed),
    (Reason.DIRECTORY_CHANGED, _directory_changed),
    (Reason.PROFILE_CHANGED, _profile_changed),
)


def decide(cert: keys.CertInfo | None, wanted_identifiers: Collection[keys.Identifier] | None = None,
           directory: str | None = None, cert_directory: str | None = None,
           renew_before_days: float | None = None, force: bool = False, now: datetime.datetime | None = None, *,
           key_type: str | None = None, cert_key_type: str | None = None, ari: AriWindow | None = None,
           backoff_until: datetime.datetime | None = None, profile: str | None = None,
           cert_profile: str | None = None) -> RenewalDecision:
    """The one renewal decision: is cert (a keys.CertInfo or None) due, why, when, and when to look again.

    wanted_identifiers: canonical Identifiers asked for (compared as a set); key_type: the
    key type asked for, cert_key_type: the stored certificate's; cert_directory: the ACME
    directory that issued cert (metadata), directory: the one asked for now; ari: the CA's
    renewal window, which replaces the lifetime window (an explicit renew_before_days can
    still make a certificate due earlier); backoff_until: failed attempts wait until then
    (force does not); profile: the ACME profile asked for, cert_profile: the one cert was
    issued with (metadata).
    """
    now = now or utcnow()
    if cert is None:
        decision = RenewalDecision(True, Reason.MISSING, "no existing certificate", next_check=now)
    else:
        asked = _Asked(None if wanted_identifiers is None else frozenset(wanted_identifiers), key_type,
                       cert_key_type or getattr(cert, "key_type", None) or None, directory, cert_directory,
                       profile, cert_profile)
        decision = _decide_existing(cert, asked, renew_before_days, now, ari)
    if force:
        decision.due, decision.reason, decision.detail, decision.next_check = True, Reason.FORCED, "forced", now
    elif decision.due and backoff_until is not None and now < backoff_until:
        decision.detail = "backing off until %s after failed attempts (%s)" % (_iso(backoff_until), decision.detail)
        decision.due, decision.reason, decision.next_check = False, Reason.BACKING_OFF, backoff_until
    return decision


def _decide_existing(cert: keys.CertInfo, asked: _Asked, renew_before_days: float | None, now: datetime.datetime,
                     ari: AriWindow | None) -> RenewalDecision:
    window, warning = renewal_window(cert.not_before, cert.not_after, renew_before_days)
    renew_at = cert.not_after - window
    decision = RenewalDecision(False, Reason.NOT_DUE, "not due", renew_at=renew_at, not_after=cert.not_after,
                               next_check=renew_at, warnings=[warning] if warning else [])
    for reason, check in _CHANGE_CHECKS:
        detail = check(cert, asked)
        if detail:
            decision.due, decision.reason, decision.detail, decision.next_check = True, reason, detail, now
            return decision
    if now >= cert.not_after:
        decision.due, decision.reason, decision.detail, decision.next_check = True, Reason.EXPIRED, "expired", now
        return decision
    explicit = renew_before_days is not None and warning is None
    time_reason = Reason.RENEW_BEFORE_DAYS if explicit else Reason.LIFETIME_WINDOW
    if ari is not None:
        if now >= ari.selected or now >= ari.end:
            decision.due, decision.reason, decision.next_check = True, Reason.ARI_WINDOW, now
            decision.renew_at = ari.selected
            decision.detail = "ARI window %s (suggested %s to %s)" % (
                "open" if now < ari.end else "passed", _iso(ari.start), _iso(ari.end))
            return decision
        if not explicit or now <= renew_at:
            decision.renew_at = ari.selected if not explicit else min(ari.selected, renew_at)
            decision.next_check = decision.renew_at
            decision.detail = "not due (ARI suggests renewal after %s; selected %s)" % (
                _iso(ari.start), _iso(ari.selected))
            return decision
    if now > renew_at:
        decision.due, decision.reason, decision.next_check = True, time_reason, now
        decision.detail = "within renewal window (%.1f of %.1f days left%s)" % (
            (cert.not_after - now).total_seconds() / 86400, (cert.not_after - cert.not_before).total_seconds() / 86400,
            ", renew_before_days %g" % renew_before_days if explicit and renew_before_days is not None else "")
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
