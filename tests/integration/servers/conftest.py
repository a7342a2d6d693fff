"""Apache, HAProxy, Postfix and Dovecot of scripts/servers.sh (each its own instance and configuration, on
127.0.0.3), with the stack's nginx, for the certificate role; GCS storage from scripts/services.sh."""
import os
import subprocess

import pytest

from ..conftest import ROOT

SERVERS = os.path.join(ROOT, "scripts", "servers.sh")


def script_env(script, command="env"):
    out = subprocess.run(["bash", script, command], check=True, capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            name, _equals, value = line[len("export "):].partition("=")
            env[name] = value.strip("'\"")
    return env


@pytest.fixture(scope="session")
def servers():
    """Start the servers (stopped at the end unless they were running already or KEEP_SERVICES is set)."""
    started = subprocess.run(["bash", SERVERS, "status"], capture_output=True, text=True, check=False).returncode != 0
    if started:
        proc = subprocess.run(["bash", SERVERS, "start"], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, "scripts/servers.sh start failed:\n%s\n%s" % (proc.stdout, proc.stderr)
    env = script_env(SERVERS)
    yield env
    if started and not os.environ.get("KEEP_SERVICES"):
        subprocess.run(["bash", SERVERS, "stop"], capture_output=True, text=True, check=False)
