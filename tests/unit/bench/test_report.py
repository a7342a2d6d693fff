"""bench.report: ratios, target verdicts, the printed and markdown tables, the exit status (fabricated rows)."""
import pytest

from bench import report


def ok(key, n, wall, kind="issue", peak_mb=50.0, cpu=1.0):
    row = {"key": key, "contender": key, "kind": kind, "n": n, "status": "ok", "wall": wall, "cpu": cpu,
           "peak_mb": peak_mb, "runs": 1}
    if kind == "hosts":
        row["forks"] = 20 if key.endswith("-f20") else 5
    return row


def full_run(**walls):
    """Every row the targets read; `walls` overrides one row's wall, as key_N=value."""
    rows = [ok("site", 20, 4.0), ok("site", 100, 12.0), ok("ours-batch", 20, 3.0), ok("ours-batch", 100, 10.0),
            ok("floor", 20, 2.0), ok("floor", 100, 6.0), ok("certbot", 100, 240.0),
            ok("ansible-floor", 10, 3.0, "no-op"),
            ok("renew", 10, 4.0, "no-op"), ok("renew", 1000, 5.0, "no-op", peak_mb=120.0),
            ok("ours-batch-noop", 10, 3.0, "no-op"), ok("ours-batch-noop", 1000, 3.5, "no-op", peak_mb=90.0),
            ok("certbot-renew", 1000, 12.0, "no-op"), ok("cc-noop", 200, 400.0, "no-op"),
            ok("ansible-floor-hosts-f20", 1, 2.0, "hosts"), ok("ansible-floor-hosts-f20", 50, 4.0, "hosts"),
            ok("renew-hosts-f20", 1, 5.0, "hosts"), ok("renew-hosts-f20", 50, 14.0, "hosts", peak_mb=150.0)]
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
    assert len(result) == 13
    assert {t["status"] for t in result.values()} == {"PASS"}, result
    site = result["site.yml issue N=100 <= 0.05 x certbot N=100"]
    assert site["value"] == 12.0 and site["limit"] == pytest.approx(12.0)
    assert result["renew.yml no-op N=10 <= 1.5 x Ansible floor"]["limit"] == pytest.approx(4.5)
    assert result["renew.yml no-op 50 hosts <= 3 x 1 host (forks=20)"]["limit"] == pytest.approx(15.0)
    peak = result["peak RSS of one process < 200 MB in every run of ours"]
    assert peak["value"] == 150.0 and "renew-hosts-f20 N=50" in peak["detail"]
    slope = result["site.yml slope N=20..100 <= 3 x floor slope"]
    assert slope["value"] == pytest.approx(0.1) and slope["limit"] == pytest.approx(0.15)
    assert result["renew.yml N=1000 <= 0.02 x community.crypto no-op N=200"]["limit"] == pytest.approx(8.0)


@pytest.mark.parametrize("override, target", [
    ({"site_100": 12.0, "certbot_100": 230.0}, "site.yml issue N=100 <= 0.05 x certbot N=100"),
    ({"ours_batch_20": 0.0, "ours_batch_100": 12.0, "floor_100": 5.9},
     "acme_order batch slope N=20..100 <= 3 x floor slope [stand-in: acme_order batch]"),
    ({"renew_1000": 5.3}, "renew.yml N=1000 <= 1.3 x N=10"),
    ({"certbot_renew_1000": 9.9}, "renew.yml N=1000 <= 0.5 x certbot renew N=1000"),
    ({"cc_noop_200": 200.0}, "renew.yml N=1000 <= 0.02 x community.crypto no-op N=200"),
    ({"ansible_floor_10": 2.6}, "renew.yml no-op N=10 <= 1.5 x Ansible floor"),
    ({"renew_hosts_f20_50": 15.1}, "renew.yml no-op 50 hosts <= 3 x 1 host (forks=20)"),
])
def test_each_target_fails_alone(override, target):
    result = verdicts(full_run(**override))
    assert result[target]["status"] == "FAIL", result[target]
    assert [name for name, t in result.items() if t["status"] == "FAIL"] == [target]


def test_limit_itself_passes_for_at_most_and_fails_for_less_than():
    rows = full_run(site_100=12.0)  # exactly 0.05 x certbot: "<=" holds
    assert verdicts(rows)["site.yml issue N=100 <= 0.05 x certbot N=100"]["status"] == "PASS"
    next(r for r in rows if r["key"] == "renew" and r["n"] == 1000)["peak_mb"] = 200.0  # "< 200 MB" does not
    assert verdicts(rows)["peak RSS of one process < 200 MB in every run of ours"]["status"] == "FAIL"


def test_peak_of_other_contenders_does_not_count():
    rows = full_run()
    next(r for r in rows if r["key"] == "certbot-renew")["peak_mb"] = 500.0
    assert verdicts(rows)["peak RSS of one process < 200 MB in every run of ours"]["status"] == "PASS"


def test_targets_not_measured_are_na():
    rows = [r for r in full_run() if r["key"] != "certbot"]
    rows.append({"key": "certbot-renew", "contender": "x", "kind": "no-op", "n": 1000, "status": "skipped"})
    result = verdicts([r for r in rows if not (r["key"] == "certbot-renew" and r.get("status") == "ok")])
    assert result["site.yml issue N=100 <= 0.05 x certbot N=100"] == {
        "target": "site.yml issue N=100 <= 0.05 x certbot N=100", "status": "n/a",
        "detail": "not measured in this run"}
    assert result["renew.yml N=1000 <= 0.5 x certbot renew N=1000"]["status"] == "n/a"
    assert result["renew.yml N=1000 <= 1.3 x N=10"]["status"] == "PASS"


def test_smoke_sizes_leave_every_target_na_but_memory():
    rows = [ok("floor", 2, 1.0), ok("site", 2, 9.0), ok("ansible-floor", 3, 2.0, "no-op"), ok("renew", 3, 5.0, "no-op"),
            ok("ansible-floor-hosts", 2, 2.0, "hosts"), ok("renew-hosts", 2, 5.0, "hosts")]
    result = verdicts(rows)
    assert {t["status"] for name, t in result.items() if "peak RSS" not in name} == {"n/a"}
    assert result["peak RSS of one process < 200 MB in every run of ours"]["status"] == "PASS"


def test_no_op_and_hosts_rows_are_measured_against_the_ansible_floor():
    rows = full_run() + [ok("renew-hosts-f20", 10, 8.0, "hosts"), ok("renew-hosts", 1, 6.0, "hosts"),
                         ok("ansible-floor-hosts", 1, 1.5, "hosts")]
    report.add_ratios(rows)
    renew = next(r for r in rows if r["key"] == "renew" and r["n"] == 1000)
    assert renew["vs_floor"] == pytest.approx(5.0 / 3.0)  # the floor at N=10 (it does not depend on N)
    hosts50 = next(r for r in rows if r["key"] == "renew-hosts-f20" and r["n"] == 50)
    assert hosts50["vs_floor"] == pytest.approx(14.0 / 4.0) and hosts50["per_cert"] is None
    assert next(r for r in rows if r["key"] == "renew-hosts-f20" and r["n"] == 10)["vs_floor"] is None
    assert next(r for r in rows if r["key"] == "renew-hosts")["vs_floor"] == pytest.approx(4.0)  # forks 5 floor


def test_hosts_summary_and_table():
    rows = full_run()
    report.add_ratios(rows)
    summary = {row["key"]: row for row in report.hosts_summary(rows)}
    assert set(summary) == {"ansible-floor-hosts-f20", "renew-hosts-f20"}
    renew = summary["renew-hosts-f20"]
    assert renew["marginal"] == pytest.approx(9.0 / 49) and renew["forks"] == 20 and renew["range"] == (1, 50)
    text = report.table_text(rows, report.evaluate_targets(rows))
    line = next(line for line in text.splitlines() if line.startswith("renew.yml no-op"))
    assert line.split()[-6:] == ["20", "5.00", "14.00", "2.50", "3.50", "0.184"]
    assert report.hosts_summary([ok("site", 2, 1.0)]) == [] and report.hosts_table([]) is None


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
    assert "  n/a   site.yml issue N=100 <= 0.05 x certbot N=100  (not measured in this run)" in lines


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
    assert "| PASS | site.yml issue N=100 <= 0.05 x certbot N=100 | wall s 12.000 <= 12.000 |" in text
    assert "| renew.yml no-op | 20 | 5.00 | 14.00 | 2.50 | 3.50 | 0.184 |" in text
    assert "the same 20 certificates on each" in text
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
