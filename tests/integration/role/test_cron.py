"""The renewal_cron role: installed once, idempotent, the documented command works by hand, removable."""
import os
import re
import subprocess

import pytest

from ..pki import CA
from .conftest import RENEW, recap_changed

pytestmark = pytest.mark.role
PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "playbooks", "cron.yml")


def cron_vars(fleet, **extra):
    values = {
        "renewal_cron_inventory": fleet.inventory,
        "renewal_cron_playbook": RENEW,
        "renewal_cron_file": os.path.join(fleet.workdir, "cron.d", "autotls-renew"),
        "renewal_cron_lock_file": os.path.join(fleet.workdir, "renew.lock"),
        "renewal_cron_log_file": os.path.join(fleet.workdir, "renew.log"),
        "renewal_cron_mailto": "ops@example.com",
        "renewal_cron_environment": {"ANSIBLE_COLLECTIONS_PATH": os.environ["ANSIBLE_COLLECTIONS_PATH"],
                                     "PATH": os.environ["PATH"]},
        "renewal_cron_storage": {"backend": "local", "local_path": fleet.store},
        "renewal_cron_acme_directory": fleet.stack["ACME_DIRECTORY"],
    }
    values.update(extra)
    return values


def job_line(path):
    lines = [line for line in open(path).read().splitlines() if line and not line.startswith("#")]
    jobs = [line for line in lines if not line.startswith("MAILTO")]
    assert len(jobs) == 1, lines
    return lines, jobs[0]


def test_cron_install_idempotent_runnable_removable(fleet):
    os.makedirs(os.path.join(fleet.workdir, "cron.d"))
    fleet.site()  # a stored 5-year certificate: every 6 hours is frequent enough
    variables = cron_vars(fleet)
    first = fleet.play.run(PLAYBOOK, variables)
    lines, job = job_line(variables["renewal_cron_file"])
    assert 'MAILTO="ops@example.com"' in lines
    minute, hour, user, command = re.match(r"^(\d+) (\S+) \* \* \* (\S+) (.*)$", job).groups()
    assert 0 <= int(minute) <= 59 and hour == "*/6" and user == "root"
    assert "flock -n %s" % variables["renewal_cron_lock_file"] in command
    assert ">> %s 2>&1" % variables["renewal_cron_log_file"] in command
    assert recap_changed(first)["localhost"] > 0
    again = fleet.play.run(PLAYBOOK, variables)
    assert recap_changed(again)["localhost"] == 0
    assert job_line(variables["renewal_cron_file"])[1] == job  # same minute: stable per installation
    # The command, run by hand exactly as cron would, renews nothing and succeeds.
    done = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
    assert done.returncode == 0, open(variables["renewal_cron_log_file"]).read()[-3000:]
    assert "PLAY RECAP" in open(variables["renewal_cron_log_file"]).read()
    # Removed with the state flag.
    fleet.play.run(PLAYBOOK, dict(variables, renewal_cron_state="absent"))
    left = open(variables["renewal_cron_file"]).read() if os.path.exists(variables["renewal_cron_file"]) else ""
    assert "flock" not in left and "MAILTO" not in left


def test_short_lived_certificates_get_an_hourly_job(fleet):
    os.makedirs(os.path.join(fleet.workdir, "cron.d"))
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
    variables = cron_vars(fleet)
    fleet.play.run(PLAYBOOK, variables)
    assert re.match(r"^\d+ \* \* \* \* root ", job_line(variables["renewal_cron_file"])[1])
