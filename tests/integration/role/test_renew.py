"""playbooks/renew.yml: renew exactly what is due, report truthfully, back off, never order twice."""
import http.server
import json
import os
import pathlib
import random
import re
import subprocess
import threading
import time

import pytest

from .conftest import HOSTS, RENEW, new_orders, nginx_cmd, recap_changed

pytestmark = pytest.mark.role

CERTS = [{"name": name, "identifiers": ["%s.example.com" % name], "services": ["nginx"]} for name in ("a", "b", "c")]


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook():
    Receiver.received = []
    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/alert" % server.server_address[1], Receiver.received
    server.shutdown()


@pytest.fixture
def three(fleet, webhook):
    fleet.certificates[:] = [dict(cert) for cert in CERTS]
    fleet.status = os.path.join(fleet.workdir, "status.json")
    fleet.metrics = os.path.join(fleet.workdir, "autotls.prom")
    fleet.write_inventory(certificate_status_file=fleet.status, certificate_metrics_file=fleet.metrics,
                          certificate_webhook_url=webhook[0])
    fleet.write_sites()
    fleet.site()
    fleet.received = webhook[1]
    return fleet


def served(fleet):
    return {cert["name"]: fleet.served(HOSTS["web1"], cert["identifiers"][0]) for cert in CERTS}


def reloads(output):
    return len(re.findall(r"^changed: \[web\d\] => \(item=nginx\)", output, re.M))


def test_renews_exactly_the_due_one(three):
    before = served(three)
    orders = new_orders()
    three.certificates[2]["renew_before_days"] = three.due_by_policy("c")  # c is due by policy, a and b are not
    three.write_inventory()
    out = three.renew()
    after = served(three)
    assert new_orders() == orders + 1
    assert after["a"] == before["a"] and after["b"] == before["b"] and after["c"] != before["c"]
    assert reloads(out) == 2  # nginx reloaded once on each of the two hosts
    assert re.search(r"c\s+expires \S+\s+renewed", out) and re.search(r"a\s+expires \S+\s+kept", out)


def test_nothing_due_changes_nothing_and_exits_zero(three):
    orders = new_orders()
    out = three.renew()
    assert set(recap_changed(out).values()) == {0}, out[-3000:]
    assert new_orders() == orders
    status = json.loads(pathlib.Path(three.status).read_text())["certificates"]
    assert [s["action"] for s in status] == ["kept"] * 3 and not any(s["alert"] for s in status)
    metrics = pathlib.Path(three.metrics).read_text()
    assert 'autotls_certificate_alert{name="c"} 0' in metrics
    assert three.received == []


def test_a_run_with_nothing_to_do_finds_a_host_serving_an_old_certificate_and_reloads_it(three):
    # web1 serves c's old certificate while its files hold the current one (a reload that never happened)
    deployed = pathlib.Path(three.deploy_dir("web1")) / "c"
    old = {path.name: path.read_bytes() for path in deployed.iterdir()}
    three.certificates[2]["renew_before_days"] = three.due_by_policy("c")
    three.write_inventory()
    three.renew()
    current = {path.name: path.read_bytes() for path in deployed.iterdir()}
    three.certificates[2].pop("renew_before_days")
    three.write_inventory()
    for name, data in old.items():
        (deployed / name).write_bytes(data)
    subprocess.run(nginx_cmd(HOSTS["web1"], "-s", "reload").split(), check=True)
    renewed = three.stored_serial("c")
    deadline = time.monotonic() + 20   # nginx reloads in the background: new workers take over a moment later
    while three.served(HOSTS["web1"], "c.example.com") == renewed and time.monotonic() < deadline:
        time.sleep(0.2)
    assert three.served(HOSTS["web1"], "c.example.com") != renewed
    for name, data in current.items():
        (deployed / name).write_bytes(data)
    orders = new_orders()
    out = three.renew()
    assert new_orders() == orders
    # the one TLS check of every host found it; the hosts' own checks reloaded web1's nginx, and only that one
    assert "work.yml" in out and reloads(out) == 1, out[-3000:]
    assert re.search(r"^changed: \[web1\] => \(item=nginx\)", out, re.M) and "[web2] => (item=nginx)" not in out
    assert three.served(HOSTS["web1"], "c.example.com") == renewed == three.served(HOSTS["web2"], "c.example.com")
    status = {s["name"]: s for s in json.loads(pathlib.Path(three.status).read_text())["certificates"]}
    assert not status["c"]["alert"] and three.received == []


def test_failure_alerts_keeps_the_old_certificate_and_backs_off(three, tmp_path):
    before = served(three)
    stored = three.stored_serial("c")
    # A name never validated before makes c due and needs a challenge (Pebble may reuse
    # authorizations of names it validated already, which would need none).
    three.certificates[2]["identifiers"] = ["c.example.com", "fresh-%d.example.com" % random.randrange(10 ** 9)]
    unserved = str(tmp_path / "not-served")  # HTTP-01 will find nothing there
    three.write_inventory()
    inventory = pathlib.Path(three.inventory).read_text()
    with open(three.inventory, "w") as handle:
        handle.write(re.sub(r"certificate_webroot: .*", "certificate_webroot: " + unserved, inventory))
    out = three.renew(expect_rc=2)
    assert "c: " in out and "could not validate" in out
    status = {s["name"]: s for s in json.loads(pathlib.Path(three.status).read_text())["certificates"]}
    assert status["c"]["action"] == "failed" and status["c"]["consecutive_failures"] == 1 and status["c"]["alert"]
    assert status["a"]["action"] == "kept" and not status["a"]["alert"]
    metrics = pathlib.Path(three.metrics).read_text()
    assert 'autotls_certificate_consecutive_failures{name="c"} 1' in metrics
    assert 'autotls_certificate_alert{name="c"} 1' in metrics
    assert [alert["certificate"] for alert in three.received] == ["c"]
    assert "could not validate" in three.received[0]["error"] and three.received[0]["days_left"] > 0
    assert served(three) == before and three.stored_serial("c") == stored  # nothing lost
    # Within the backoff period the CA is not contacted again, and the run still reports the failure.
    orders = new_orders()
    out = three.renew(expect_rc=2)
    assert new_orders() == orders
    assert "backing off" in out


def test_two_runs_at_the_same_moment_order_once(three):
    orders = new_orders()
    three.certificates[2]["renew_before_days"] = three.due_by_policy("c")
    three.write_inventory()
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(os.path.dirname(RENEW), "..", "build", "collections"))
    cmd = ["ansible-playbook", "-i", three.inventory, RENEW]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outputs = [first.communicate()[0], second.communicate()[0]]
    assert first.returncode == 0 and second.returncode == 0, outputs
    assert new_orders() == orders + 1
