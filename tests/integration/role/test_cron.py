"""The renewal_cron role: installed once, idempotent, removable; its crontab line runs as cron runs it."""
import json
import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import pytest

from ..pki import CA
from ..conftest import ROOT, WEB_ADDRS
from .conftest import HOSTS, new_orders, recap_changed

pytestmark = pytest.mark.role
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "cron.yml")


def cron_vars(fleet, **extra):
    """What an operator sets (absolute paths; here under the test's directory). Nothing about PATH,
    the interpreter or the collections path: the role records those from the play that applies it."""
    values = {
        "renewal_cron_inventory": fleet.inventory,
        "renewal_cron_playbook": "autotls.acme.renew",
        "renewal_cron_file": os.path.join(fleet.workdir, "cron.d", "autotls-renew"),
        "renewal_cron_script": os.path.join(fleet.workdir, "autotls-renew"),
        "renewal_cron_lock_file": os.path.join(fleet.workdir, "renew.lock"),
        "renewal_cron_log_file": os.path.join(fleet.workdir, "renew.log"),
        "renewal_cron_mailto": "ops@example.com",
        "renewal_cron_storage": {"backend": "local", "local_path": fleet.store},
        "renewal_cron_acme_directory": fleet.stack["ACME_DIRECTORY"],
    }
    values.update(extra)
    return values


def job_line(path):
    lines = [line for line in pathlib.Path(path).read_text().splitlines() if line and not line.startswith("#")]
    jobs = [line for line in lines if not line.startswith("MAILTO")]
    assert len(jobs) == 1, lines
    return lines, jobs[0]


def as_cron(command):
    """Run a crontab command the way cron does: /bin/sh -c, from /, with an empty environment."""
    return subprocess.run(["env", "-i", "/bin/sh", "-c", command], cwd="/", capture_output=True, text=True,
                          timeout=600, check=False)


def install(fleet, **extra):
    os.makedirs(os.path.join(fleet.workdir, "cron.d"), exist_ok=True)
    variables = cron_vars(fleet, **extra)
    out = fleet.play.run(PLAYBOOK, variables)
    lines, job = job_line(variables["renewal_cron_file"])
    minute, hour, user, command = re.match(r"^(\d+) (\S+) \* \* \* (\S+) (.*)$", job).groups()
    return variables, out, lines, (minute, hour, user, command)


def test_cron_install_idempotent_removable(fleet):
    fleet.site()  # a stored 5-year certificate: every 6 hours is frequent enough
    variables, first, lines, (minute, hour, user, command) = install(fleet)
    assert 'MAILTO="ops@example.com"' in lines
    assert 0 <= int(minute) <= 59 and hour == "*/6" and user == "root"
    assert command == variables["renewal_cron_script"]
    script = pathlib.Path(command).read_text()
    # the ansible-playbook that applied the role, by absolute path; a PATH with the sbin directories
    recorded = os.path.join(os.path.dirname(os.path.realpath(sys.executable)), "ansible-playbook")
    assert "flock -n -E 75 \"$lock\" %s -i %s autotls.acme.renew" % (recorded, fleet.inventory) in script
    assert "\nlock=%s\n" % variables["renewal_cron_lock_file"] in script
    assert re.search(r"^PATH=\S*/usr/sbin:\S*:/sbin:", script, re.M)
    assert "ANSIBLE_COLLECTIONS_PATH=" + os.environ["ANSIBLE_COLLECTIONS_PATH"] in script
    assert recap_changed(first)["localhost"] > 0
    again = fleet.play.run(PLAYBOOK, variables)
    assert recap_changed(again)["localhost"] == 0
    assert job_line(variables["renewal_cron_file"])[1].endswith(command)  # same line: stable per installation
    # A job that cannot even start (ansible-playbook removed) is a failure cron mails, and it is logged.
    gone = dict(variables, renewal_cron_ansible_playbook="/nonexistent/venv/bin/ansible-playbook")
    fleet.play.run(PLAYBOOK, gone)
    broken = as_cron(command)
    assert broken.returncode in (69, 127), broken
    assert broken.stdout.startswith("autotls renewal FAILED on ") and "could not start" in broken.stdout
    assert "/nonexistent/venv/bin/ansible-playbook: No such file or directory" in broken.stdout.splitlines()[1]
    assert "exit status %d" % broken.returncode in pathlib.Path(variables["renewal_cron_log_file"]).read_text()
    # Removed with the state flag.
    fleet.play.run(PLAYBOOK, dict(variables, renewal_cron_state="absent"))
    cron_file = pathlib.Path(variables["renewal_cron_file"])
    left = cron_file.read_text() if cron_file.exists() else ""
    assert "autotls" not in left and "MAILTO" not in left
    assert not os.path.exists(variables["renewal_cron_script"])


def test_installed_line_runs_as_cron_runs_it(fleet):
    """The crontab line, verbatim, under env -i from /: nothing due, one due, then the CA stopped."""
    status, metrics = os.path.join(fleet.workdir, "status.json"), os.path.join(fleet.workdir, "autotls.prom")
    fleet.write_inventory(certificate_status_file=status, certificate_metrics_file=metrics)
    fleet.site()
    variables, _out, _lines, (_m, _h, _u, command) = install(fleet)
    log = variables["renewal_cron_log_file"]

    # 1. Nothing due: exit 0, nothing on stdout (no mail), the run is in the log.
    orders = new_orders()
    quiet = as_cron(command)
    assert quiet.returncode == 0, quiet.stdout[-3000:] + quiet.stderr[-2000:] + pathlib.Path(log).read_text()[-3000:]
    assert quiet.stdout == "" and quiet.stderr == ""
    assert new_orders() == orders
    assert re.search(r"^=== autotls renewal run finished \S+, exit status 0$", pathlib.Path(log).read_text(), re.M)

    # 2. One due: renewed, nginx (found through the job's PATH) reloaded on both hosts, the new serial served.
    before = fleet.served(HOSTS["web1"])
    fleet.certificates[0]["renew_before_days"] = fleet.due_by_policy(fleet.certificates[0]["name"])
    fleet.write_inventory()
    renewed = as_cron(command)
    assert renewed.returncode == 0, renewed.stdout[-5000:]
    assert renewed.stdout == ""
    assert new_orders() == orders + 1
    run = pathlib.Path(log).read_text().rsplit("=== autotls renewal run started", 1)[1]
    assert len(re.findall(r"^changed: \[web\d\] => \(item=nginx\)", run, re.M)) == 2, run[-4000:]
    after = fleet.served(HOSTS["web1"])
    assert after != before and after == fleet.stored_serial() == fleet.served(HOSTS["web2"])

    # 3. The CA stopped (and the certificate still due): non-zero, status and metrics written by this run,
    #    the failure on stdout for cron's mail.
    ran_at = time.time()
    stop_pebble()
    try:
        failed = as_cron(command)
        served_meanwhile = fleet.served(HOSTS["web1"], verify=False)
    finally:
        restart_stack()
    assert failed.returncode != 0
    assert failed.stdout.startswith("autotls renewal FAILED on ")
    assert "14000" in failed.stdout.splitlines()[1], failed.stdout[:3000]  # the first error names the CA
    assert "PLAY RECAP" in failed.stdout
    assert os.path.getmtime(status) >= ran_at and os.path.getmtime(metrics) >= ran_at
    site = json.loads(pathlib.Path(status).read_text())["certificates"][0]
    assert site["action"] == "failed" and site["alert"] and "14000" in site["why"]
    assert 'autotls_certificate_alert{name="site"} 1' in pathlib.Path(metrics).read_text()
    assert served_meanwhile == after  # the deployed certificate is untouched


def stop_pebble():
    pid = int(pathlib.Path(os.path.join(ROOT, "build", "stack", "pebble.pid")).read_text())
    os.kill(pid, signal.SIGTERM)
    for _attempt in range(100):
        if not os.path.exists("/proc/%d" % pid) or \
                pathlib.Path("/proc/%d/stat" % pid).read_text().split(") ")[1][0] == "Z":
            return
        time.sleep(0.05)


def restart_stack():
    env = dict(os.environ, STACK_WEB_ADDRS=" ".join(WEB_ADDRS))
    env.setdefault("PEBBLE_ALTERNATE_ROOTS", "1")
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "stack.sh"), "start"], check=True, capture_output=True,
                   env=env)


def test_short_lived_certificates_get_an_hourly_job(fleet):
    key_pem, cert_pem, _chain = CA().issue(names=("short.example.com",), days=6)
    key_path, cert_path = os.path.join(fleet.workdir, "short.key"), os.path.join(fleet.workdir, "short.pem")
    with open(key_path, "wb") as handle:
        handle.write(key_pem)
    with open(cert_path, "wb") as handle:
        handle.write(cert_pem)
    store = os.path.join(fleet.workdir, "store-playbook.yml")
    with open(store, "w") as handle:
        handle.write("""---
- hosts: localhost
  gather_facts: false
  tasks:
    - autotls.acme.cert_store:
        backend: local
        local_path: %s
        acme_directory: %s
        name: short
        private_key_path: %s
        certificate_path: %s
""" % (fleet.store, fleet.stack["ACME_DIRECTORY"], key_path, cert_path))
    fleet.play.run(store)
    _variables, _out, _lines, (_minute, hour, _user, _command) = install(fleet)
    assert hour == "*"
