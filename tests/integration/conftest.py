"""The local ACME stack (Pebble, challtestsrv, nginx) and a way to run playbooks against it."""
import json
import os
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLAYBOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "acme", "playbooks")
WEB_ADDRS = ("127.0.0.1", "127.0.0.2")  # two "web hosts", each its own nginx and webroot
STACK = os.path.join(ROOT, "scripts", "stack.sh")


def _stack_env():
    out = subprocess.run(["bash", STACK, "env"], check=True, capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            name, value = line[len("export "):].split("=", 1)
            env[name] = value.strip("'\"")
    return env


@pytest.fixture(scope="session")
def stack():
    """(Re)start the stack once per session so PEBBLE_* settings of this run apply."""
    if not os.environ.get("AUTOTLS_STACK_RUNNING"):
        env = dict(os.environ, STACK_WEB_ADDRS=" ".join(WEB_ADDRS))
        env.setdefault("PEBBLE_ALTERNATE_ROOTS", "1")  # lets preferred_chain be tested
        subprocess.run(["bash", STACK, "start"], check=True, capture_output=True, text=True, env=env)
    return _stack_env()


class Runner:
    def __init__(self, stack, workdir):
        self.stack = stack
        self.workdir = workdir

    def vars(self, extra):
        base = {"acme_directory": self.stack["ACME_DIRECTORY"], "ca_bundle": self.stack["ACME_CA_BUNDLE"],
                "webroot": self.stack["ACME_WEBROOT"], "pebble_root": self.stack["PEBBLE_ROOT"],
                "workdir": str(self.workdir)}
        base.update(extra or {})
        return base

    def run(self, playbook, extra=None, check=False, expect_rc=0, inventory="localhost,", extra_args=()):
        varfile = os.path.join(str(self.workdir), "vars-%s.json" % os.path.basename(playbook))
        with open(varfile, "w") as handle:
            json.dump(self.vars(extra), handle)
        cmd = ["ansible-playbook", "-i", inventory, "-c", "local",
               playbook if os.path.isabs(playbook) else os.path.join(PLAYBOOKS, playbook), "-e", "@" + varfile]
        cmd += list(extra_args)
        if check:
            cmd += ["--check", "--diff"]
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0",
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable)
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if expect_rc is not None:
            assert proc.returncode == expect_rc, "%s exited %s\n%s\n%s" % (
                playbook, proc.returncode, proc.stdout[-8000:], proc.stderr[-3000:])
        self.last = proc
        return proc.stdout


@pytest.fixture
def play(stack, tmp_path):
    return Runner(stack, tmp_path)


def pebble_root(stack, index=0):
    return subprocess.run(["curl", "-sS", "--cacert", stack["ACME_CA_BUNDLE"],
                           "https://127.0.0.1:15000/roots/%d" % index],
                          check=True, capture_output=True, text=True).stdout


def openssl_verify(stack, fullchain_path, root_index=0):
    """Verify a fullchain file against Pebble's current root, as a TLS client would."""
    with open(fullchain_path) as handle:
        leaf, sep, chain = handle.read().partition("-----END CERTIFICATE-----\n")
    with tempfile.TemporaryDirectory() as scratch:
        paths = {}
        for name, text in (("leaf", leaf + sep), ("chain", chain), ("root", pebble_root(stack, root_index))):
            paths[name] = os.path.join(scratch, name + ".pem")
            with open(paths[name], "w") as handle:
                handle.write(text)
        return subprocess.run(["openssl", "verify", "-CAfile", paths["root"], "-untrusted", paths["chain"],
                               paths["leaf"]], capture_output=True, text=True, check=False)


def run_tasks(workdir, tasks, check=False):
    """Run tasks on localhost; return (registered results by name, stdout)."""
    registered = [task["register"] for task in tasks if "register" in task]
    results_path = os.path.join(str(workdir), "results.json")
    tasks = list(tasks) + [{
        "name": "Dump the results",
        "ansible.builtin.copy": {"dest": results_path, "mode": "0600", "content": "{{ {%s} | to_json }}"
                                 % ", ".join("'%s': %s" % (r, r) for r in registered)},
        "check_mode": False,
    }]
    playbook = os.path.join(str(workdir), "playbook.yml")
    with open(playbook, "w") as handle:
        json.dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}], handle, indent=1)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
               ANSIBLE_PIPELINING="1")
    cmd = ["ansible-playbook", "-i", "localhost,", "-c", "local", playbook] + (["--check"] if check else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, "ansible-playbook exited %s\n%s\n%s" % (
        proc.returncode, proc.stdout[-8000:], proc.stderr[-3000:])
    with open(results_path) as handle:
        return json.load(handle), proc.stdout + proc.stderr
