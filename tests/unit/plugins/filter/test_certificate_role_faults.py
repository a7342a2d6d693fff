"""Issue 11 in the role's filters: pending certificates, retry-now, another run's renewal, served mismatches."""
from ansible_collections.autotls.acme.plugins.filter.certificate_role import (
    certificate_attempts, certificate_due, certificate_prometheus, certificate_renewed_elsewhere,
    certificate_run_failure, certificate_serving_problems, certificate_status)

PLAN = [{"name": name, "identifiers": ["%s.example.com" % name], "renew_before_days": None, "services": [],
         "verify": True, "verify_port": 443} for name in ("a", "b")]


def entry(name, **fields):
    base = {"name": name, "exists": True, "due": False, "identifiers": ["%s.example.com" % name],
            "serial": "01", "not_after": "2030-01-01T00:00:00Z", "renew_at": "2029-09-01T00:00:00Z"}
    base.update(fields)
    return base


def test_pending_is_due_whatever_the_backoff_and_retry_now_skips_it_for_named_ones_only():
    # the engine reports a due certificate that is backing off as not due, reason backing_off
    info = {"certificates": [entry("a", backing_off=True, reason="backing_off"),
                             entry("b", backing_off=True, reason="backing_off")]}
    assert certificate_due(PLAN, info) == []
    assert certificate_due(PLAN, info, retry_now=["a"]) == ["a"]
    info["certificates"][1]["pending"] = True
    assert certificate_due(PLAN, info) == ["b"]


def test_renewed_elsewhere_and_its_report():
    seen = {"certificates": [entry("a", serial="01"), entry("b", serial="02")]}
    now = {"certificates": [entry("a", serial="0a"), entry("b", serial="02")]}
    assert certificate_renewed_elsewhere(PLAN, ["a", "b"], now, seen) == ["a"]
    status = certificate_status(now, PLAN, elsewhere=["a"], now=1.7e9)
    assert status[0]["action"] == "renewed by another run" and "serial 0a" in status[0]["why"]
    assert not status[0]["alert"]
    metrics = certificate_prometheus(status, now=1.7e9)
    assert 'autotls_certificate_renewed_by_another_run{name="a"} 1' in metrics
    assert 'autotls_certificate_info{name="a",serial="0a",action="renewed by another run"} 1' in metrics


def test_a_serving_mismatch_is_an_alert():
    checks = [{"name": "a", "expected_serial": "0a"}, {"name": "b", "expected_serial": "02"}]
    result = {"failed": True, "msg": "differs", "served": [
        {"name": "a", "address": "127.0.0.2", "port": 443, "serial": "01", "matches": False},
        {"name": "b", "address": "127.0.0.2", "port": 443, "serial": "02", "matches": True}]}
    problems = certificate_serving_problems(result, "web2", checks)
    assert problems == [{"name": "a", "host": "web2", "address": "127.0.0.2", "port": 443, "served_serial": "01",
                         "expected_serial": "0a"}]
    info = {"certificates": [entry("a"), entry("b")]}
    status = certificate_status(info, PLAN, serving=problems, now=1.7e9)
    assert status[0]["alert"] and "web2 (127.0.0.2:443) serves 01, expected 0a" in status[0]["why"]
    assert not status[1]["alert"]
    assert 'autotls_certificate_serving_mismatch{name="a"} 1' in certificate_prometheus(status, now=1.7e9)
    unreachable = certificate_serving_problems({"failed": True, "msg": "connection refused"}, "web1", checks)
    assert [p["error"] for p in unreachable] == ["connection refused"] * 2


def test_failure_kinds_reach_the_attempt_records():
    assert certificate_attempts([{"name": "a", "msg": "down", "failure_kind": "infrastructure"}]) == [
        {"name": "a", "error": "down", "kind": "infrastructure"}]
    assert certificate_run_failure(["a"], {"msg": "cannot reach", "failure_kind": "infrastructure"}) == [
        {"name": "a", "error": "cannot reach", "kind": "infrastructure"}]
    assert certificate_run_failure(["a"], {"msg": "x"})[0]["kind"] == "ca"
