"""Fault tests of issue 11 reuse the role's fleet (two nginx web hosts on the Pebble stack)."""
import os
import subprocess

import pytest

from ..conftest import ROOT, STACK, WEB_ADDRS
from ..role.conftest import fleet  # noqa: F401 (fixture)

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
