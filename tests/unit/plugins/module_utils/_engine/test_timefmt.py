"""The one time format: UTC, whole seconds, 'Z'."""
import datetime

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, policy, timefmt
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import base

UTC = datetime.timezone.utc


def test_iso_is_utc_whole_seconds_with_z():
    moment = datetime.datetime(2026, 11, 29, 21, 15, 7, 999999, tzinfo=datetime.timezone(datetime.timedelta(hours=1)))
    assert timefmt.iso(moment) == "2026-11-29T20:15:07Z"
    assert timefmt.iso(datetime.datetime(2026, 11, 29, 20, 15, 7)) == "2026-11-29T20:15:07Z"   # naive: UTC
    assert timefmt.iso_epoch(0) == "1970-01-01T00:00:00Z"


def test_parse_iso_reads_back_what_iso_wrote_and_nothing_else():
    moment = datetime.datetime(2026, 11, 29, 20, 15, 7, tzinfo=UTC)
    assert timefmt.parse_iso(timefmt.iso(moment)) == moment
    assert timefmt.epoch_of("1970-01-01T00:01:00Z") == 60
    for text in (None, "", "2026-11-29", "2026-11-29T20:15:07+00:00", 12):
        assert timefmt.parse_iso(text) is None and timefmt.epoch_of(text) is None


def test_engine_results_use_the_one_format():
    not_before = datetime.datetime(2026, 1, 1, tzinfo=UTC)
    info = keys.CertInfo(serial="1", not_before=not_before, not_after=not_before + datetime.timedelta(days=90))
    assert info.to_result()["not_after"] == "2026-04-01T00:00:00Z"
    decision = policy.decide(info, now=not_before)
    assert decision.to_result(not_before)["renew_at"] == "2026-03-02T00:00:00Z"
    assert base.iso(60) == "1970-01-01T00:01:00Z" and base.iso(None) is None


def test_the_cron_script_stamps_its_log_in_the_same_format():
    import pathlib
    import re
    root = pathlib.Path(__file__).resolve().parents[5]
    script = (root / "roles" / "renewal_cron" / "templates" / "autotls-renew.sh.j2").read_text()
    formats = re.findall(r"date -u \+(\S+?)\)", script)
    assert formats and set(formats) == {timefmt.ISO_FORMAT}
