"""Issue 11: what the operator has at hand after faults - breaking a lock, retrying one certificate now,
being told another run renewed, being alerted when a host keeps serving another certificate."""
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys
import time

import pytest

from ..conftest import ROOT
from ..role.conftest import HOSTS, RENEW, nginx_cmd, nginx_dir, new_orders
from ..role import test_renew

pytestmark = pytest.mark.role

webhook = test_renew.webhook   # a local receiver of the role's alerts
BREAK_LOCK = os.path.join(ROOT, "playbooks", "break_lock.yml")

HOLDER = """
import sys, time
sys.path.insert(0, %r)
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.bundles import CertificateStore
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.local import LocalStorage
CertificateStore(LocalStorage(sys.argv[1]), sys.argv[2]).lock("site", ttl=600)
print("locked", flush=True)
time.sleep(600)
"""


def test_break_lock_command_shows_the_holder_and_frees_renewal(fleet):
    fleet.site()
    # a holder this control node cannot judge (not an ansible-playbook run here), alive, with a 10-minute lease
    holder = subprocess.Popen([sys.executable, "-c", HOLDER % os.path.join(ROOT, "build", "collections"),
                               fleet.store, fleet.stack["ACME_DIRECTORY"]], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        out = fleet.site(expect_rc=2, certificate_force_renewal=True, certificate_lock_timeout=1)
        assert "held by another owner" in out and "break_lock" in out
        out = fleet.play.run(BREAK_LOCK, {"certificate": "site"}, inventory=fleet.inventory)
        shown = re.search(r"lock of site broken; it was held by owner (sha256:[0-9a-f]{12}) on host (\S+) "
                          r"\(user (\S+), pid (\d+)\), taken (\S+), age (\d+) s", out)
        assert shown, out[-3000:]
        assert shown.group(4) == str(holder.pid) and int(shown.group(6)) < 600
        orders = new_orders()
        fleet.site(certificate_force_renewal=True, certificate_lock_timeout=0)   # no wait: the lock is gone
        assert new_orders() == orders + 1
        out = fleet.play.run(BREAK_LOCK, {"certificate": "site"}, inventory=fleet.inventory)
        assert "no lock held on site" in out
    finally:
        holder.kill()


def test_retry_now_skips_the_backoff_for_the_named_certificate_only(fleet, tmp_path):
    fleet.certificates[:] = [{"name": name, "identifiers": ["%s.example.com" % name], "services": ["nginx"]}
                             for name in ("ra", "rb")]
    fleet.status = os.path.join(fleet.workdir, "status.json")
    fleet.write_inventory(certificate_status_file=fleet.status)
    fleet.write_sites()
    fleet.site()
    # both become due with a name never validated before, and fail: nothing serves the challenge
    for cert in fleet.certificates:
        cert["identifiers"] = [cert["identifiers"][0], "fresh-%d.example.com" % random.randrange(10 ** 9)]
    fleet.write_inventory()
    good = pathlib.Path(fleet.inventory).read_text()
    with open(fleet.inventory, "w") as handle:
        handle.write(re.sub(r"certificate_webroot: .*", "certificate_webroot: " + str(tmp_path / "nowhere"), good))
    fleet.renew(expect_rc=2)
    with open(fleet.inventory, "w") as handle:   # fixed; both are backing off now
        handle.write(good)
    orders = new_orders()
    fleet.renew(expect_rc=2)
    assert new_orders() == orders   # the backoff holds for both
    out = fleet.renew(expect_rc=2, certificate_retry_now=["ra"])
    assert new_orders() == orders + 1   # ra only
    status = {item["name"]: item for item in json.loads(pathlib.Path(fleet.status).read_text())["certificates"]}
    assert status["ra"]["action"] == "renewed" and not status["ra"]["alert"]
    assert status["rb"]["action"] == "failed" and "backing off" in status["rb"]["why"], out[-2000:]


def test_the_run_that_lost_the_lock_race_reports_the_other_runs_renewal(fleet):
    fleet.site()
    # due by policy, for both runs
    fleet.certificates[0]["renew_before_days"] = fleet.due_by_policy(fleet.certificates[0]["name"])
    fleet.write_inventory()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"), ANSIBLE_NOCOLOR="1")
    orders = new_orders()
    procs = []
    for index in (1, 2):
        extra = json.dumps({"certificate_status_file": os.path.join(fleet.workdir, "status-%d.json" % index),
                            "certificate_metrics_file": os.path.join(fleet.workdir, "metrics-%d.prom" % index)})
        procs.append(subprocess.Popen(["ansible-playbook", "-i", fleet.inventory, RENEW, "-e", extra], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [proc.communicate()[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert new_orders() == orders + 1
    stored = fleet.stored_serial()
    statuses = [json.loads(pathlib.Path(fleet.workdir, "status-%d.json" % index).read_text())["certificates"][0]
                for index in (1, 2)]
    actions = sorted(status["action"] for status in statuses)
    assert actions == ["renewed", "renewed by another run"], outputs
    loser = [index for index, status in enumerate(statuses) if status["action"] == "renewed by another run"][0]
    status = statuses[loser]
    assert status["serial"] == stored and stored in status["why"] and status["not_after"] in status["why"]
    assert not status["alert"]
    assert re.search(r"site\s+expires \S+\s+renewed by another run", outputs[loser])
    metrics = pathlib.Path(fleet.workdir, "metrics-%d.prom" % (loser + 1)).read_text()
    assert 'autotls_certificate_renewed_by_another_run{name="site"} 1' in metrics
    assert 'autotls_certificate_info{name="site",serial="%s",action="renewed by another run"} 1' % stored in metrics


def test_a_host_still_serving_another_certificate_after_the_reload_is_an_alert(fleet, webhook):
    url, received = webhook
    fleet.status = os.path.join(fleet.workdir, "status.json")
    fleet.metrics = os.path.join(fleet.workdir, "autotls.prom")
    fleet.write_inventory(certificate_status_file=fleet.status, certificate_metrics_file=fleet.metrics,
                          certificate_webhook_url=url)
    fleet.site()
    old = fleet.stored_serial()
    # web2's server is pinned to a copy of the current files: reloads never make it serve a new certificate
    frozen = os.path.join(fleet.workdir, "frozen")
    shutil.copytree(os.path.join(fleet.deploy_dir("web2"), "site"), frozen)
    conf = os.path.join(nginx_dir(HOSTS["web2"]), "sites", "site.conf")
    text = pathlib.Path(conf).read_text().replace(os.path.join(fleet.deploy_dir("web2"), "site"), frozen)
    with open(conf, "w") as handle:
        handle.write(text)
    subprocess.run(nginx_cmd(HOSTS["web2"], "-s", "reload").split(), check=True)
    time.sleep(0.5)
    out = fleet.site(expect_rc=2, certificate_force_renewal=True)
    new = fleet.stored_serial()
    assert new != old and fleet.served(HOSTS["web1"]) == new and fleet.served(HOSTS["web2"]) == old
    assert "web2" in out and old in out
    status = json.loads(pathlib.Path(fleet.status).read_text())["certificates"][0]
    assert status["alert"] and status["serving_mismatch"][0]["host"] == "web2"
    assert status["serving_mismatch"][0]["served_serial"].lstrip("0") == old.lstrip("0")
    metrics = pathlib.Path(fleet.metrics).read_text()
    assert 'autotls_certificate_alert{name="site"} 1' in metrics
    assert 'autotls_certificate_serving_mismatch{name="site"} 1' in metrics
    assert [alert["certificate"] for alert in received] == ["site"]
    assert received[0]["serving_mismatch"][0]["host"] == "web2" and "web2" in received[0]["error"]
