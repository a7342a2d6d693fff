"""Issue 11: faults must never lose an issued certificate, nor leave a lock, a key or a token behind.

Real parts only: Pebble (its own log counts orders and issuances), moto's S3 server (stopped or
SIGSTOPped between issue and store), two nginx web hosts, ansible-playbook killed with -9.
"""
import glob
import json
import os
import pathlib
import random
import signal
import subprocess
import time

import pytest

from ..role.conftest import HOSTS, SITE, new_orders
from ..storage import conftest as storage_conftest
from ..storage.conftest import S3_CREDENTIALS, boto_client
from .conftest import (challenge_files, issued_serials, private_keys_under, start_playbook,
                       wait_group_gone)

pytestmark = pytest.mark.role

SERVICES_DIR = os.path.join(os.path.dirname(SITE), "..", "build", "services")
BOUND = 60   # documented: a run against unreachable or hanging storage ends within about a minute


services = storage_conftest.services   # moto's S3 server (and redis), as the storage tests use them


def moto_pid():
    with open(os.path.join(SERVICES_DIR, "moto.pid")) as handle:
        return int(handle.read().strip())


@pytest.fixture
def s3_fleet(fleet, services):
    bucket = "autotls-faults-%d" % random.randrange(10 ** 9)
    boto_client(services["S3_ENDPOINT_URL"]).create_bucket(Bucket=bucket)
    fleet.bucket, fleet.endpoint = bucket, services["S3_ENDPOINT_URL"]
    fleet.write_inventory(certificate_storage=dict(S3_CREDENTIALS, backend="s3", s3_bucket=bucket,
                                                   s3_endpoint_url=services["S3_ENDPOINT_URL"]))
    fleet.pending = os.path.join(fleet.workdir, "pending")
    yield fleet
    pid = moto_pid()
    try:
        os.kill(pid, signal.SIGCONT)   # never leave moto stopped for the next test
    except ProcessLookupError:
        pass
    subprocess.run(["bash", os.path.join(os.path.dirname(SITE), "..", "scripts", "services.sh"), "start"],
                   check=True, capture_output=True)


def s3_pointer(fleet, name="site"):
    client = boto_client(fleet.endpoint)
    for item in client.list_objects_v2(Bucket=fleet.bucket, Prefix="certs/").get("Contents", []):
        if item["Key"].endswith("/%s/current.json" % name):
            return json.loads(client.get_object(Bucket=fleet.bucket, Key=item["Key"])["Body"].read())
    return None


def pending_entries(fleet):
    return sorted(glob.glob(os.path.join(fleet.pending, "*", "*", "order.json")))


@pytest.mark.parametrize("fault", ["stopped", "sigstopped"])
def test_storage_lost_between_issue_and_store_keeps_the_certificate(s3_fleet, fault):
    fleet = s3_fleet
    orders = new_orders()
    proc = start_playbook(fleet, SITE)
    # the moment the CA's certificate is in the pending area, storage goes away
    downloaded = os.path.join(fleet.pending, "*", "site", "cert.pem")
    deadline = time.monotonic() + 120
    while not glob.glob(downloaded) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert glob.glob(downloaded), "the run ended without downloading a certificate"
    if fault == "stopped":
        os.kill(moto_pid(), signal.SIGKILL)
    else:
        os.kill(moto_pid(), signal.SIGSTOP)
    faulted = time.monotonic()
    rc = proc.wait(timeout=300)
    took = time.monotonic() - faulted
    print("storage %s between issue and store: the run failed (rc %d) %.1f s later" % (fault, rc, took))
    assert rc != 0 and took < BOUND
    assert new_orders() == orders + 1

    # kept privately: directories 0700, files 0600, the key beside the certificate
    entry = os.path.dirname(glob.glob(downloaded)[0])
    for path in (fleet.pending, os.path.dirname(entry), entry):
        assert os.stat(path).st_mode & 0o777 == 0o700, path
    for name in ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem", "order.json"):
        assert os.stat(os.path.join(entry, name)).st_mode & 0o777 == 0o600, name
    kept_serial = json.loads(pathlib.Path(os.path.join(entry, "order.json")).read_text())["serial"]
    # what storage is owed: the failed attempt and the lock release
    journal = json.loads(pathlib.Path(os.path.dirname(entry), "journal.json").read_text())
    assert {item["kind"] for item in journal} >= {"attempt"}
    assert any(item["kind"] == "attempt" and item["failure_kind"] == "infrastructure" for item in journal)

    # storage comes back
    if fault == "stopped":   # moto keeps everything in memory: a restarted server starts empty
        subprocess.run(["bash", os.path.join(os.path.dirname(SITE), "..", "scripts", "services.sh"), "start"],
                       check=True, capture_output=True)
        boto_client(fleet.endpoint).create_bucket(Bucket=fleet.bucket)
    else:
        os.kill(moto_pid(), signal.SIGCONT)

    # the failure is recorded as an attempt once storage answers, with the infrastructure backoff
    fleet.play.run(
        os.path.join(os.path.dirname(__file__), "playbooks", "lookup.yml"),
        {"storage": dict(S3_CREDENTIALS, backend="s3", s3_bucket=fleet.bucket, s3_endpoint_url=fleet.endpoint),
         "pending_dir": fleet.pending})
    status = json.loads(pathlib.Path(os.path.join(fleet.workdir, "looked-up.json")).read_text())
    assert status["consecutive_failures"] == 1 and status["last_failure_kind"] == "infrastructure"
    assert status["backing_off"] and status["pending"] and status["pending_serial"] == kept_serial
    assert "storing failed" in status["last_error"]

    # the next run stores the kept certificate: no second order, the kept serial is served
    fleet.site()
    assert new_orders() == orders + 1, "the next run ordered again"
    assert s3_pointer(fleet)["serial"] == kept_serial
    for addr in HOSTS.values():
        assert fleet.served(addr) == kept_serial
    assert pending_entries(fleet) == []
    assert json.loads(pathlib.Path(os.path.dirname(entry), "journal.json").read_text()) == []


@pytest.mark.timeout(2700)   # 22+ runs of site.yml: about 3 minutes on an idle 2-core machine, far more in a loaded CI
def test_kill_9_twenty_times_then_a_renewal_recovers(fleet):
    seed = int(os.environ.get("AUTOTLS_KILL_SEED") or random.randrange(10 ** 6))
    rng = random.Random(seed)
    print("kill test seed %d (AUTOTLS_KILL_SEED=%d reproduces it)" % (seed, seed))
    fleet.write_inventory(certificate_challenge_max_age=3)
    fleet.site()   # a certificate to renew, and how long a whole run takes
    started = time.monotonic()
    fleet.site(certificate_force_renewal=True)
    run_time = time.monotonic() - started
    observed = {fleet.stored_serial()}
    before = set(issued_serials())
    kills = runs = 0
    while kills < 20:
        proc = start_playbook(fleet, SITE, certificate_force_renewal=True)
        runs += 1
        time.sleep(rng.uniform(0.3, run_time))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)   # the main ansible-playbook process, as `kill -9 PID` does
            kills += 1
        else:   # the run finished first (runs got faster than the first one): aim earlier next time
            run_time = max(1.0, run_time * 0.8)
        proc.wait()
        assert wait_group_gone(proc.pid)
        observed.add(fleet.stored_serial())
    print("%d runs started, %d killed" % (runs, kills))
    print("after %d kills: %d private key file(s) under the staging base, %d challenge file(s), %d pending"
          % (kills, len(private_keys_under(fleet.staging_base)), len(challenge_files(HOSTS.values())),
             len(glob.glob(os.path.join(fleet.workdir, "pending", "*", "*", "order.json")))))
    time.sleep(3)   # certificate_challenge_max_age of this test

    started = time.monotonic()
    fleet.renew(certificate_force_renewal=True)
    recovered = time.monotonic() - started
    observed.add(fleet.stored_serial())
    issued = set(issued_serials()) - before
    lost = {serial for serial in issued if serial.lstrip("0") not in {s.lstrip("0") for s in observed if s}}
    print("time to recover after 20 kills: %.1f s (a whole run: %.1f s); %d certificates issued during the kills, "
          "orders lost: %d" % (recovered, run_time, len(issued), len(lost)))
    assert recovered < 120   # certificate_lock_ttl: a dead run's lock never blocks for longer
    assert lost == set(), "issued but never stored: %s" % sorted(lost)
    assert private_keys_under(fleet.staging_base) == []
    assert challenge_files(HOSTS.values()) == []
    assert glob.glob(os.path.join(fleet.workdir, "pending", "*", "*", "order.json")) == []
    stored = fleet.stored_serial()
    for addr in HOSTS.values():
        assert fleet.served(addr) == stored
