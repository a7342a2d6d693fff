"""bench.report: ratios, target verdicts, the printed and markdown tables, the exit status (fabricated rows)."""
import pytest

from bench import report


def ok(key, n, wall, kind="issue", peak_mb=50.0, cpu=1.0):
    return {"key": key, "contender": key, "kind": kind, "n": n, "status": "ok", "wall": wall, "cpu": cpu,
            "peak_mb": peak_mb, "runs": 1}


def full_run(**walls):
    """Every row the targets read; `walls` overrides one row's wall, as key_N=value."""
    rows = [ok("site", 20, 4.0), ok("site", 100, 12.0), ok("ours-batch", 20, 3.0), ok("ours-batch", 100, 10.0),
            ok("floor", 20, 2.0), ok("floor", 100, 6.0), ok("certbot", 100, 240.0),
            ok("renew", 10, 4.0, "no-op"), ok("renew", 1000, 5.5, "no-op", peak_mb=120.0),
            ok("ours-batch-noop", 10, 3.0, "no-op"), ok("ours-batch-noop", 1000, 4.0, "no-op", peak_mb=90.0),
            ok("certbot-renew", 1000, 6.0, "no-op"), ok("cc-noop", 200, 400.0, "no-op")]
    for spec, value in walls.items():
        key, n = spec.rsplit("_", 1)
        key = key.replace("_", "-")
        row = next(r for r in rows if r["key"] == key and r["n"] == int(n))
        row["wall"] = value
    return rows


def verdicts(rows):
    return {t["target"]: t for t in report.evaluate_targets(rows)}


def test_ratios():
    rows = [ok("site", 100, 12.0), ok("certbot", 100, 240.0), ok("floor", 100, 6.0),
            ok("renew", 1000, 5.0, "no-op"), ok("certbot-renew", 1000, 4.0, "no-op"),
            {"key": "cc", "contender": "cc", "kind": "issue", "n": 100, "status": "failed", "note": "exit 2"}]
    report.add_ratios(rows)
    site, certbot, floor, renew, _certbot_renew, cc = rows
    assert site["per_cert"] == pytest.approx(0.12)
    assert site["vs_certbot"] == pytest.approx(0.05)
    assert site["vs_floor"] == pytest.approx(2.0)
    assert certbot["vs_certbot"] == pytest.approx(1.0) and floor["vs_floor"] == pytest.approx(1.0)
    assert renew["vs_certbot"] == pytest.approx(1.25)  # no-op runs compare with certbot renew
    assert renew["vs_floor"] is None                   # the floor only issues
    assert "vs_certbot" not in cc                      # a failed run gets no ratios


def test_ratio_missing_when_the_reference_did_not_count():
    rows = [ok("site", 20, 4.0), ok("certbot", 20, 100.0), ok("floor", 100, 1.0)]
    rows[1]["status"] = "unverified"
    report.add_ratios(rows)
    assert rows[0]["vs_certbot"] is None
    assert rows[0]["vs_floor"] is None  # the floor ran at another N


def test_targets_pass_on_a_good_run():
    result = verdicts(full_run())
    assert len(result) == 12
    assert {t["status"] for t in result.values()} == {"PASS"}
    site = result["site.yml issue N=100 <= 0.1 x certbot N=100"]
    assert site["value"] == 12.0 and site["limit"] == pytest.approx(24.0)
    slope = result["site.yml slope N=20..100 <= 3 x floor slope"]
    assert slope["value"] == pytest.approx(0.1) and slope["limit"] == pytest.approx(0.15)
    assert result["renew.yml N=1000 <= 0.02 x community.crypto no-op N=200"]["limit"] == pytest.approx(8.0)


@pytest.mark.parametrize("override, target", [
    ({"site_100": 12.0, "certbot_100": 110.0}, "site.yml issue N=100 <= 0.1 x certbot N=100"),
    ({"ours_batch_20": 0.5, "ours_batch_100": 14.0},
     "acme_order batch slope N=20..100 <= 3 x floor slope [stand-in: acme_order batch]"),
    ({"renew_10": 3.9, "renew_1000": 5.9}, "renew.yml N=1000 <= 1.5 x N=10"),
    ({"renew_10": 5.0, "renew_1000": 6.5}, "renew.yml N=1000 <= certbot renew N=1000"),
    ({"cc_noop_200": 200.0}, "renew.yml N=1000 <= 0.02 x community.crypto no-op N=200"),
])
def test_each_target_fails_alone(override, target):
    result = verdicts(full_run(**override))
    assert result[target]["status"] == "FAIL", result[target]
    assert [name for name, t in result.items() if t["status"] == "FAIL"] == [target]


def test_limit_itself_passes_for_at_most_and_fails_for_less_than():
    rows = full_run(site_100=24.0)  # exactly 0.1 x certbot: "<=" holds
    assert verdicts(rows)["site.yml issue N=100 <= 0.1 x certbot N=100"]["status"] == "PASS"
    next(r for r in rows if r["key"] == "renew" and r["n"] == 1000)["peak_mb"] = 200.0  # "< 200 MB" does not
    assert verdicts(rows)["renew.yml N=1000 peak RSS of one process < 200 MB"]["status"] == "FAIL"


def test_targets_not_measured_are_na():
    rows = [r for r in full_run() if r["key"] != "certbot"]
    rows.append({"key": "certbot-renew", "contender": "x", "kind": "no-op", "n": 1000, "status": "skipped"})
    result = verdicts([r for r in rows if not (r["key"] == "certbot-renew" and r.get("status") == "ok")])
    assert result["site.yml issue N=100 <= 0.1 x certbot N=100"] == {
        "target": "site.yml issue N=100 <= 0.1 x certbot N=100", "status": "n/a",
        "detail": "not measured in this run"}
    assert result["renew.yml N=1000 <= certbot renew N=1000"]["status"] == "n/a"
    assert result["renew.yml N=1000 <= 1.5 x N=10"]["status"] == "PASS"


def test_smoke_sizes_leave_every_target_na():
    rows = [ok("floor", 2, 1.0), ok("site", 2, 9.0), ok("renew", 3, 5.0, "no-op")]
    assert {t["status"] for t in report.evaluate_targets(rows)} == {"n/a"}


def test_table_shows_figures_of_good_rows_and_the_reason_of_bad_ones():
    rows = [ok("floor", 2, 2.234), ok("site", 2, 9.0),
            {"key": "renew", "contender": "autotls renew.yml no-op", "kind": "no-op", "n": 3, "status": "unverified",
             "note": "a no-op run changed 1 file(s): x/cert.pem changed; see build/bench/logs/renew-3.log",
             "wall": 5.0, "cpu": 1.0, "peak_mb": 60.0}]
    report.add_ratios(rows)
    targets = report.evaluate_targets(rows)
    text = report.table_text(rows, targets)
    lines = text.splitlines()
    assert lines[1].split() == ["contender", "kind", "N", "runs", "wall", "s", "CPU", "s", "peak", "MB",
                                "wall/cert", "s", "x", "certbot", "x", "floor", "result"]
    assert set(lines[2]) == {"-"} and len(lines[2]) == len(lines[1])
    floor = next(line for line in lines if line.startswith("floor"))
    assert floor.split() == ["floor", "issue", "2", "1", "2.23", "1.00", "50", "1.117", "1.0", "ok"]
    renew = next(line for line in lines if line.startswith("autotls renew.yml"))
    assert "unverified: a no-op run changed 1 file(s)" in renew
    assert "1.667" not in renew  # no per-certificate figure for a run that did not count
    assert "Targets (ratios measured in this run):" in lines
    assert "  n/a   site.yml issue N=100 <= 0.1 x certbot N=100  (not measured in this run)" in lines


def test_markdown():
    rows = full_run()
    report.add_ratios(rows)
    targets = report.evaluate_targets(rows)
    meta = {"date": "2026-11-29 20:00 UTC", "machine": "test cpu, 2 cores", "python": "3.11.7",
            "versions": {"pebble": "2.4.0-1", "acme": "4.2.0", "certbot (certbot venv)": None},
            "stack": {"PEBBLE_VA_NOSLEEP": "1"}, "command": "python3 bench/run.py --smoke", "notes": ["seeded"]}
    text = report.markdown(meta, rows, targets)
    assert "Pebble 2.4.0-1 with PEBBLE_VA_NOSLEEP=1. Command: `python3 bench/run.py --smoke`." in text
    assert "Versions: acme 4.2.0." in text  # unknown versions left out
    assert "| site | issue | 100 | 1 | 12.00 | 1.00 | 50 | 0.120 | 0.050 | 2.0 | ok |" in text
    assert "| PASS | site.yml issue N=100 <= 0.1 x certbot N=100 | wall s 12.000 <= 24.000 |" in text
    assert text.endswith("\n- seeded\n")


@pytest.mark.parametrize("status, fail_target, enforce, expected", [
    ("ok", False, False, 0),
    ("ok", True, False, 0),
    ("ok", True, True, 1),
    ("skipped", False, True, 0),
    ("failed", False, False, 1),
    ("unverified", False, False, 1),
    ("error", False, False, 1),
])
def test_exit_status(status, fail_target, enforce, expected):
    rows = [ok("site", 2, 1.0), dict(ok("renew", 3, 1.0, "no-op"), status=status)]
    targets = [{"target": "t", "status": "FAIL" if fail_target else "PASS"}, {"target": "u", "status": "n/a"}]
    assert report.exit_status(rows, targets, enforce) == expected
