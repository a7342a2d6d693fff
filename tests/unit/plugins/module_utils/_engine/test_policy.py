"""Renewal decisions over real certificate lifetimes and their boundaries."""
import datetime

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, policy
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError

from .certs import NOW, make_cert

DAY = datetime.timedelta(days=1)
STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"


def info(lifetime_days, names=("www.example.com",), issuer_cn="Test CA"):
    return keys.parse_certificate(make_cert(names, NOW, lifetime_days, issuer_cn)[0])


def wanted(*names):
    return keys.parse_identifiers(list(names))


@pytest.mark.parametrize("lifetime, window", [(90, 30), (45, 15), (6, 3), (9.5, 4.75), (10, 10 / 3)])
def test_window_is_a_third_or_half_of_lifetime(lifetime, window):
    cert = info(lifetime)
    got, warning = policy.renewal_window(cert.not_before, cert.not_after)
    assert warning is None
    assert abs(got.total_seconds() - window * 86400) < 1


@pytest.mark.parametrize("lifetime, due_after_days", [(90, 60), (45, 30), (6, 3)])
def test_due_exactly_after_the_window_opens(lifetime, due_after_days):
    cert = info(lifetime)
    ids = wanted("www.example.com")
    just_before = NOW + due_after_days * DAY - datetime.timedelta(seconds=1)
    just_after = NOW + due_after_days * DAY + datetime.timedelta(seconds=1)
    assert not policy.decide(cert, ids, now=just_before).due
    late = policy.decide(cert, ids, now=just_after)
    assert late.due and late.reason is policy.Reason.LIFETIME_WINDOW
    assert late.detail.startswith("within renewal window") and late.next_check == just_after


def test_six_day_certificate_is_not_always_due():
    # A fixed "10 days before expiry" rule would renew a 6-day certificate on every run.
    assert not policy.decide(info(6), wanted("www.example.com"), now=NOW + DAY).due


def test_renew_before_days_overrides_the_ratio():
    cert = info(90)
    ids = wanted("www.example.com")
    assert not policy.decide(cert, ids, renew_before_days=10, now=NOW + 70 * DAY).due
    late = policy.decide(cert, ids, renew_before_days=10, now=NOW + 81 * DAY)
    assert late.due and late.reason is policy.Reason.RENEW_BEFORE_DAYS
    # it replaces the lifetime window: a smaller value also makes renewal later than a third of the lifetime
    assert not policy.decide(cert, ids, renew_before_days=10, now=NOW + 61 * DAY).due


@pytest.mark.parametrize("days", [90, 100, 100000])
def test_renew_before_days_at_or_above_the_lifetime_is_capped_with_a_warning(days):
    cert = info(90)
    ids = wanted("www.example.com")
    decision = policy.decide(cert, ids, renew_before_days=days, now=NOW + DAY)
    assert not decision.due and decision.reason is policy.Reason.NOT_DUE
    assert decision.renew_at == cert.not_after - 30 * DAY   # the lifetime window
    assert "not below the certificate's lifetime" in decision.warnings[0]
    assert decision.to_result(NOW)["decision_warnings"] == decision.warnings
    late = policy.decide(cert, ids, renew_before_days=days, now=NOW + 61 * DAY)
    assert late.due and late.reason is policy.Reason.LIFETIME_WINDOW


@pytest.mark.parametrize("value, field", [(-1, "renew_before_days"), ("x", "renew_before_days"),
                                          (float("nan"), "renew_before_days"), (True, "renew_before_days")])
def test_check_renew_before_days_refuses_bad_values(value, field):
    with pytest.raises(InputError) as err:
        policy.check_renew_before_days(value)
    assert err.value.field == field


def test_check_renew_before_days_zero_means_unset():
    assert policy.check_renew_before_days(0) is None and policy.check_renew_before_days("7.5") == 7.5


def test_expired_and_forced():
    cert = info(90)
    ids = wanted("www.example.com")
    assert policy.decide(cert, ids, now=NOW + 91 * DAY).reason is policy.Reason.EXPIRED
    assert policy.decide(cert, ids, force=True, now=NOW).reason is policy.Reason.FORCED
    missing = policy.decide(None, ids, now=NOW)
    assert missing.due and missing.reason is policy.Reason.MISSING and missing.to_result(NOW)["reason"] == "missing"


def test_key_type_change_makes_it_due():
    cert = info(90)   # the test CA issues ecdsa-p256 certificates
    ids = wanted("www.example.com")
    assert cert.key_type == "ecdsa-p256"
    assert not policy.decide(cert, ids, key_type="ecdsa-p256", now=NOW).due
    changed = policy.decide(cert, ids, key_type="rsa-2048", now=NOW)
    assert changed.due and changed.reason is policy.Reason.KEY_TYPE_CHANGED
    # the stored metadata's key type wins over the certificate's when given
    assert policy.decide(cert, ids, key_type="rsa-2048", cert_key_type="rsa-2048", now=NOW).reason \
        is policy.Reason.NOT_DUE


def test_backing_off_holds_a_due_certificate_until_the_next_attempt_but_force_does_not():
    cert = info(90)
    ids = wanted("www.example.com")
    until = NOW + 70 * DAY
    held = policy.decide(cert, ids, now=NOW + 65 * DAY, backoff_until=until)
    assert not held.due and held.reason is policy.Reason.BACKING_OFF and held.next_check == until
    assert policy.decide(cert, ids, now=NOW + 71 * DAY, backoff_until=until).due
    assert policy.decide(cert, ids, now=NOW + 65 * DAY, backoff_until=until, force=True).due
    # a certificate that is not due is not "backing off"
    assert policy.decide(cert, ids, now=NOW, backoff_until=until).reason is policy.Reason.NOT_DUE


def test_ari_window_replaces_the_lifetime_window():
    cert = info(90)
    ids = wanted("www.example.com")
    early = policy.AriWindow(start=NOW + 10 * DAY, end=NOW + 12 * DAY, selected=NOW + 11 * DAY)
    due = policy.decide(cert, ids, now=NOW + 11 * DAY, ari=early)
    assert due.due and due.reason is policy.Reason.ARI_WINDOW and due.detail.startswith("ARI window open")
    waiting = policy.decide(cert, ids, now=NOW + 10.5 * DAY, ari=early)
    assert not waiting.due and waiting.renew_at == early.selected == waiting.next_check
    late = policy.AriWindow(start=NOW + 80 * DAY, end=NOW + 85 * DAY, selected=NOW + 82 * DAY)
    # past the lifetime window, but the CA says later: not due
    assert not policy.decide(cert, ids, now=NOW + 70 * DAY, ari=late).due
    assert policy.decide(cert, ids, now=NOW + 86 * DAY, ari=late).detail.startswith("ARI window passed")
    # an explicit renew_before_days still renews at its own moment when that comes first
    explicit = policy.decide(cert, ids, renew_before_days=25, now=NOW + 70 * DAY, ari=late)
    assert explicit.due and explicit.reason is policy.Reason.RENEW_BEFORE_DAYS
    assert policy.decide(cert, ids, renew_before_days=25, now=NOW + 60 * DAY, ari=late).renew_at == NOW + 65 * DAY
    # changes in what is asked for are not overridden by the CA's window
    assert policy.decide(cert, wanted("other.example.com"), now=NOW, ari=late).reason is policy.Reason.NAMES_CHANGED
    assert policy.decide(cert, ids, now=NOW + 95 * DAY, ari=late).reason is policy.Reason.EXPIRED


def test_identifier_changes_make_it_due():
    cert = info(90, names=("www.example.com", "example.com"))
    assert not policy.decide(cert, wanted("example.com", "www.example.com"), now=NOW).due
    added = policy.decide(cert, wanted("www.example.com", "example.com", "api.example.com"), now=NOW)
    assert added.due and added.reason is policy.Reason.NAMES_CHANGED and "missing api.example.com" in added.detail
    removed = policy.decide(cert, wanted("www.example.com"), now=NOW)
    assert removed.due and "no longer wanted example.com" in removed.detail
    # any accepted spelling of the same names is the same set
    assert not policy.decide(cert, wanted("WWW.Example.COM.", "example.com", "www.example.com"), now=NOW).due


def test_another_directory_makes_it_due():
    cert = info(90)
    ids = wanted("www.example.com")
    assert not policy.decide(cert, ids, PRODUCTION, PRODUCTION + "/", now=NOW).due
    decision = policy.decide(cert, ids, PRODUCTION, STAGING, now=NOW)
    assert decision.due and decision.reason is policy.Reason.DIRECTORY_CHANGED
    assert "another ACME directory" in decision.detail


def test_staging_certificate_without_metadata_never_survives_production():
    cert = info(90, issuer_cn="(STAGING) Counterfeit Cashew R10")
    assert policy.decide(cert, wanted("www.example.com"), PRODUCTION, None, now=NOW).due
    # ... but it is fine while staging is what is asked for
    assert not policy.decide(cert, wanted("www.example.com"), STAGING, None, now=NOW).due


def test_result_reports_days_left():
    decision = policy.decide(info(90), wanted("www.example.com"), now=NOW + 30 * DAY)
    result = decision.to_result(NOW + 30 * DAY)
    assert result["days_left"] == 60.0 and result["due"] is False
    assert result["renew_at"] == "2027-01-28T12:00:00Z"


def test_backoff_grows_is_capped_and_honours_retry_after():
    failed_at = NOW
    assert policy.next_attempt(None, 0) is None and policy.next_attempt(failed_at, 0) is None
    delays = [(policy.next_attempt(failed_at, n) - failed_at).total_seconds() / 60 for n in (1, 2, 3, 4)]
    assert delays == [10, 20, 40, 80]
    assert policy.next_attempt(failed_at, 30) - failed_at == datetime.timedelta(hours=12)  # capped
    # a 6-day certificate must keep trying: never more than a tenth of its lifetime
    assert policy.next_attempt(failed_at, 30, lifetime=3 * DAY) - failed_at == 0.3 * DAY
    # a rate limit's Retry-After wins when it is later
    assert policy.next_attempt(failed_at, 1, retry_after=failed_at + 3 * DAY) == failed_at + 3 * DAY
