"""Renewal decisions over real certificate lifetimes and their boundaries."""
import datetime

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, policy

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
    got = policy.renewal_window(cert.not_before, cert.not_after)
    assert abs(got.total_seconds() - window * 86400) < 1


@pytest.mark.parametrize("lifetime, due_after_days", [(90, 60), (45, 30), (6, 3)])
def test_due_exactly_after_the_window_opens(lifetime, due_after_days):
    cert = info(lifetime)
    ids = wanted("www.example.com")
    just_before = NOW + due_after_days * DAY - datetime.timedelta(seconds=1)
    just_after = NOW + due_after_days * DAY + datetime.timedelta(seconds=1)
    assert not policy.decide(cert, ids, now=just_before).due
    late = policy.decide(cert, ids, now=just_after)
    assert late.due and late.reason.startswith("within renewal window")


def test_six_day_certificate_is_not_always_due():
    # A fixed "10 days before expiry" rule would renew a 6-day certificate on every run.
    assert not policy.decide(info(6), wanted("www.example.com"), now=NOW + DAY).due


def test_renew_before_days_overrides_the_ratio():
    cert = info(90)
    ids = wanted("www.example.com")
    assert not policy.decide(cert, ids, renew_before_days=10, now=NOW + 70 * DAY).due
    assert policy.decide(cert, ids, renew_before_days=10, now=NOW + 81 * DAY).due
    # larger than the lifetime: always due (how tests force renewal by policy)
    assert policy.decide(cert, ids, renew_before_days=100, now=NOW).due


def test_expired_and_forced():
    cert = info(90)
    ids = wanted("www.example.com")
    assert policy.decide(cert, ids, now=NOW + 91 * DAY).reason == "expired"
    assert policy.decide(cert, ids, force=True, now=NOW).reason == "forced"
    assert policy.decide(None, ids, now=NOW).reason == "no existing certificate"


def test_identifier_changes_make_it_due():
    cert = info(90, names=("www.example.com", "example.com"))
    assert not policy.decide(cert, wanted("example.com", "www.example.com"), now=NOW).due
    added = policy.decide(cert, wanted("www.example.com", "example.com", "api.example.com"), now=NOW)
    assert added.due and "missing api.example.com" in added.reason
    removed = policy.decide(cert, wanted("www.example.com"), now=NOW)
    assert removed.due and "no longer wanted example.com" in removed.reason


def test_another_directory_makes_it_due():
    cert = info(90)
    ids = wanted("www.example.com")
    assert not policy.decide(cert, ids, PRODUCTION, PRODUCTION + "/", now=NOW).due
    decision = policy.decide(cert, ids, PRODUCTION, STAGING, now=NOW)
    assert decision.due and "another ACME directory" in decision.reason


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
