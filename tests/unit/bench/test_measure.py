"""bench.measure: a run's status comes from the child's exit and the contender's verify; medians of repeats."""
import sys
import types

from bench import measure
from bench.common import BenchError
from bench.verify import VerifyError


class Fake:
    key, label, kind, cheap = "fake", "fake contender", "issue", True

    def __init__(self, code="pass", problem=None, prepare_error=None):
        self.code, self.problem, self.prepare_error, self.verified = code, problem, prepare_error, 0

    def available(self, ctx):
        return None

    def prepare(self, ctx, n):
        if self.prepare_error:
            raise self.prepare_error
        return measure.Command([sys.executable, "-c", self.code], env={}, timeout=30)

    def verify(self, ctx, n, log_path):
        self.verified += 1
        if self.problem:
            raise VerifyError(self.problem)


def context(tmp_path, repeat=1):
    return types.SimpleNamespace(logs=str(tmp_path / "logs"), args=types.SimpleNamespace(repeat=repeat))


def test_ok_run_is_measured(tmp_path):
    row = measure.run_once(context(tmp_path), Fake("x = bytearray(30 * 1024 * 1024)"), 2, 0)
    assert row["status"] == "ok" and row["rc"] == 0 and not row["timed_out"]
    assert row["peak_mb"] >= 30 and row["wall"] > 0 and row["cpu"] >= 0
    with open(tmp_path / "logs" / "fake-2.log") as handle:
        assert handle.readline().startswith("$ %s -c" % sys.executable)


def test_output_that_fails_verification_does_not_count(tmp_path):
    row = measure.run_once(context(tmp_path), Fake(problem="1 of 2 certificates bad: c1: missing"), 2, 1)
    assert row["status"] == "unverified"
    assert row["note"].startswith("1 of 2 certificates bad: c1: missing; see ") and row["note"].endswith(
        "fake-2-1.log")


def test_failed_child_is_not_verified(tmp_path):
    fake = Fake("raise SystemExit(3)")
    row = measure.run_once(context(tmp_path), fake, 2, 0)
    assert (row["status"], row["rc"], fake.verified) == ("failed", 3, 0)
    assert row["note"].startswith("exit 3; see ")


def test_prepare_error(tmp_path):
    row = measure.run_once(context(tmp_path), Fake(prepare_error=BenchError("no seed")), 2, 0)
    assert row["status"] == "error" and row["note"] == "prepare failed: no seed"


def test_repeats_report_the_median_and_stop_at_the_first_bad_run(tmp_path):
    fake = Fake()
    rows = measure.run_jobs(context(tmp_path, repeat=3), [(fake, 2)])
    assert fake.verified == 3 and rows[0]["runs"] == 3 and len(rows[0]["walls"]) == 3
    assert abs(rows[0]["wall"] - sorted(rows[0]["walls"])[1]) < 1e-3
    bad = Fake(problem="changed")
    rows = measure.run_jobs(context(tmp_path, repeat=3), [(bad, 2)])
    assert bad.verified == 1 and rows[0]["status"] == "unverified"


def test_median_run():
    runs = [{"wall": 3.0, "tag": "c"}, {"wall": 1.0, "tag": "a"}, {"wall": 2.0, "tag": "b"}]
    assert measure.median_run(runs) == {"wall": 2.0, "tag": "b", "runs": 3, "walls": [3.0, 1.0, 2.0]}
    assert measure.median_run(runs[:2])["tag"] == "c"  # an even count: the upper of the two middle runs
