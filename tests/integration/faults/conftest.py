"""Fault tests of issue 11 reuse the role's fleet (two nginx web hosts on the Pebble stack)."""
import json
import os
import re
import subprocess
import time

import pytest

from ..conftest import ROOT, STACK, WEB_ADDRS
from ..role import conftest as role_conftest

fleet = role_conftest.fleet   # the role's two-host fleet, for these tests too

PEBBLE_LOG = os.path.join(ROOT, "build", "stack", "pebble.log")


def restart_stack(**env):
    """Restart Pebble (and its friends) with these PEBBLE_* settings; None removes one."""
    full = dict(os.environ, STACK_WEB_ADDRS=" ".join(WEB_ADDRS))
    full.setdefault("PEBBLE_ALTERNATE_ROOTS", "1")
    for name, value in env.items():
        if value is None:
            full.pop(name, None)
        else:
            full[name] = str(value)
    subprocess.run(["bash", STACK, "start"], check=True, capture_output=True, text=True, env=full)


@pytest.fixture
def nonce_storm(stack):
    """Pebble rejecting 90% of nonces for this test; the session's setting afterwards."""
    restart_stack(PEBBLE_WFE_NONCEREJECT=90)
    yield 90
    restart_stack(PEBBLE_WFE_NONCEREJECT=os.environ.get("PEBBLE_WFE_NONCEREJECT"))


def pebble_log():
    with open(PEBBLE_LOG) as handle:
        return handle.read()


def wait_for_file(path, timeout, proc=None):
    """Poll (every 5 ms) until path exists; False when timeout passed or proc ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            return True
        if proc is not None and proc.poll() is not None:
            return os.path.exists(path)
        time.sleep(0.005)
    return False


def start_playbook(fleet, playbook, **extra_vars):
    """ansible-playbook in its own session, as cron or a login shell starts it; returns the Popen."""
    varfile = os.path.join(fleet.workdir, "vars-bg-%d.json" % time.monotonic_ns())
    with open(varfile, "w") as handle:
        json.dump(extra_vars, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0")
    log = open(os.path.join(fleet.workdir, "bg-%d.log" % time.monotonic_ns()), "w")  # noqa: SIM115 (its stdout)
    return subprocess.Popen(["ansible-playbook", "-i", fleet.inventory, playbook, "-e", "@" + varfile], env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait_group_gone(pgid, timeout=120):
    """Wait until no process of the group is left (a killed run's module may finish its step first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def private_keys_under(base):
    """Files under base that hold a private key (by content, whatever their name)."""
    found = []
    for dirpath, _dirs, files in os.walk(base):
        for name in files:
            path = os.path.join(dirpath, name)
            try:
                with open(path, "rb") as handle:
                    if b"PRIVATE KEY-----" in handle.read():
                        found.append(path)
            except OSError:
                pass
    return found


def challenge_files(addrs):
    found = []
    for addr in addrs:
        directory = os.path.join(ROOT, "build", "stack", "webroot-" + addr, ".well-known", "acme-challenge")
        if os.path.isdir(directory):
            found += [os.path.join(directory, name) for name in os.listdir(directory)]
    return found


def issued_serials():
    """Serials of every certificate Pebble issued since it started (from its own log)."""
    return re.findall(r"Issued certificate serial ([0-9a-f]+)", pebble_log())
