"""Issue 11: the pending area, owed storage writes, staging sweeps, locks of runs that are gone."""
import json
import os
import subprocess
import sys
import time

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import pending, policy, runs
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    ACMEProblem, LockError, StorageError, TransportError, failure_kind)
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.local import LocalStorage

DIRECTORY = "https://ca.test/dir"


def test_pending_area_is_private_and_keeps_order_then_certificate(tmp_path):
    keep = pending.PendingArea(str(tmp_path / "pending"), DIRECTORY)
    keep.save_order("www", "https://ca.test/order/1", b"-----BEGIN PRIVATE KEY-----\n", ["www.example.com"])
    assert keep.order("www")["order_url"] == "https://ca.test/order/1" and keep.issued("www") is None
    keep.save_issued("www", "https://ca.test/order/1", b"CERT", b"CHAIN", b"CERTCHAIN", "0abc", "2030-01-01T00:00:00Z",
                     ["www.example.com"])
    kept = keep.issued("www")
    assert kept["certificate"] == b"CERT" and kept["private_key"].startswith(b"-----BEGIN PRIVATE KEY")
    for path in (str(tmp_path / "pending"), keep.base, os.path.join(keep.base, "www")):
        assert os.stat(path).st_mode & 0o777 == 0o700
    for name in os.listdir(os.path.join(keep.base, "www")):
        assert os.stat(os.path.join(keep.base, "www", name)).st_mode & 0o777 == 0o600
    assert keep.names() == ["www"] and keep.describe()[0]["serial"] == "0abc"
    assert not keep.remove("www", serial="other")   # only the certificate that was stored
    assert keep.remove("www", serial="0abc") and keep.names() == []


def test_owed_writes_are_settled_once_storage_answers(tmp_path):
    keep = pending.PendingArea(str(tmp_path), DIRECTORY)
    keep.owe([{"kind": "attempt", "name": "a", "storage": "s3://b/"}, {"kind": "unlock", "name": "a",
                                                                       "storage": "s3://b/", "token": "t"}])
    calls = []

    def down(entry):
        raise StorageError("unreachable")
    assert keep.settle("s3://b/", down)["settled"] == []            # still owed
    assert keep.settle("local:/x", calls.append)["settled"] == []   # another storage's debts are not ours
    done = keep.settle("s3://b/", calls.append)
    assert [entry["kind"] for entry in done["settled"]] == ["attempt", "unlock"] and len(calls) == 2
    assert keep.settle("s3://b/", calls.append)["settled"] == [] and len(calls) == 2   # once


def test_infrastructure_failures_back_off_less():
    now = policy.utcnow()
    assert failure_kind(TransportError("cannot reach")) == "infrastructure"
    assert failure_kind(StorageError("down", unreachable=True)) == "infrastructure"
    assert failure_kind(ACMEProblem("urn:ietf:params:acme:error:serverInternal", "x", status=503)) == "infrastructure"
    assert failure_kind(ACMEProblem("urn:ietf:params:acme:error:rateLimited", "x", status=429)) == "ca"
    infra = policy.next_attempt(now, 1, kind="infrastructure") - now
    refused = policy.next_attempt(now, 1, kind="ca") - now
    assert infra.total_seconds() == 120 and refused.total_seconds() == 600
    assert (policy.next_attempt(now, 12, kind="infrastructure") - now).total_seconds() == 3600


def _dead_run():
    """The identity of a run (process group) that existed and is gone."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    proc.wait()
    here = runs._namespace()
    return dict(here, pid=proc.pid, pgid=proc.pid, start=0)


def test_a_run_is_gone_only_when_no_process_of_it_is_left():
    dead = _dead_run()
    assert runs.is_gone(dead)
    alive = dict(dead, pgid=os.getpgid(0))
    assert not runs.is_gone(alive)
    assert not runs.is_gone(dict(dead, host="elsewhere"))     # another machine: never judged from here
    assert not runs.is_gone(dict(dead, pidns="pid:[1]"))      # another pid namespace (container)
    assert not runs.is_gone(None)


def test_a_lock_of_a_gone_run_is_taken_over_at_once_an_unknown_one_waits(tmp_path, monkeypatch):
    store = LocalStorage(str(tmp_path / "store"))
    dead = _dead_run()
    monkeypatch.setattr(runs, "run_identity", lambda: dead)
    store.lock("www", ttl=120)
    monkeypatch.setattr(runs, "run_identity", lambda: None)
    started = time.monotonic()
    store.lock("www", ttl=120, timeout=5)   # the holder's run is gone: no wait for its 120 s
    assert time.monotonic() - started < 2
    with pytest.raises(LockError) as err:   # held by a run that cannot be judged (this one, no run identity)
        store.lock("www", ttl=120, timeout=0.2)
    assert "break_lock" in err.value.msg


def test_break_lock_shows_the_holder_without_its_token(tmp_path):
    store = LocalStorage(str(tmp_path / "store"))
    held = store.lock("www", ttl=120)
    state = store.break_lock("www")
    shown = state.to_result()
    assert shown["held"] and shown["host"] and shown["pid"] and "age_seconds" in shown
    assert shown["owner"].startswith("sha256:") and held.owner not in json.dumps(shown)
    assert not store.lock_state("www").held
    store.lock("www", ttl=120, timeout=0)


def test_stale_staging_directories_are_swept(tmp_path):
    base = str(tmp_path)
    old = os.path.join(base, "autotls-" + "a" * 16)
    fresh = os.path.join(base, "autotls-" + "b" * 16)
    gone = os.path.join(base, "autotls-" + "c" * 16)
    other = os.path.join(base, "unrelated")
    for path in (old, fresh, gone, other):
        os.makedirs(os.path.join(path, "www"))
        with open(os.path.join(path, "www", "privkey.pem"), "w") as handle:
            handle.write("-----BEGIN PRIVATE KEY-----\n")
    with open(os.path.join(gone, ".run.json"), "w") as handle:
        json.dump(_dead_run(), handle)
    past = time.time() - 1000
    for dirpath, dirs, files in os.walk(old):
        for name in dirs + files + ["."]:
            os.utime(os.path.join(dirpath, name), (past, past))
    os.utime(other, (past, past))
    assert pending.sweep_staging(base, max_age=900) == sorted([old, gone])
    assert sorted(os.listdir(base)) == ["autotls-" + "b" * 16, "unrelated"]
