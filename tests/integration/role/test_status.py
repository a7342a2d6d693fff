"""playbooks/status.yml (`ansible-playbook autotls.acme.status`): one line per stored certificate, the same data as
JSON, a clear message when nothing is stored where it looked; timed over 500 certificates."""
import datetime
import json
import os
import pathlib
import subprocess
import sys
import time

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from ..conftest import ROOT
from ..pki import CA

pytestmark = pytest.mark.role
DIRECTORY = "https://acme-v02.api.letsencrypt.org/directory"
UTC = datetime.timezone.utc


def status(workdir, extra, expect_rc=0):
    """ansible-playbook autotls.acme.status as a user runs it without an inventory: (stdout, wall seconds)."""
    varfile = os.path.join(str(workdir), "status-vars.json")
    with open(varfile, "w") as handle:
        json.dump(dict({"certificate_hosts": "localhost"}, **extra), handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "autotls.acme.status", "-e", "@" + varfile], capture_output=True,
                          text=True, env=env, cwd=str(workdir), check=False)
    elapsed = time.monotonic() - started
    assert proc.returncode == expect_rc, proc.stdout[-5000:] + proc.stderr[-2000:]
    return proc.stdout, elapsed


def listing(out):
    """The table lines the debug task printed."""
    lines = []
    inside = False
    for line in out.splitlines():
        if line.strip() == '"msg": [':
            inside = True
        elif inside and line.strip() == "]":
            break
        elif inside:
            lines.append(json.loads(line.strip().rstrip(",")))
    return lines


def test_status_lists_every_certificate_as_text_and_json(tmp_path):
    ca = CA(cn="Example Issuing CA R1")
    store_path = str(tmp_path / "store")
    store = bundles.CertificateStore(open_backend("local", {"local_path": store_path}), DIRECTORY)
    now = datetime.datetime.now(UTC)
    for index in range(500):
        key, cert, chain = ca.issue(names=("host%03d.example.com" % index,), days=6.67 if index % 2 else 90,
                                    not_before=now - datetime.timedelta(days=1))
        store.put("host%03d" % index, bundles.make_bundle(key, cert, chain),
                  profile="shortlived" if index % 2 else None)
    store.record_attempt("host007", "rateLimited: too many certificates already issued")
    storage = {"backend": "local", "local_path": store_path}

    out, seconds = status(tmp_path, {"certificate_storage": storage, "certificate_acme_directory": DIRECTORY})
    lines = listing(out)
    header, rows = lines[0], lines[1:]
    for title in ("NAME", "NAMES", "ISSUER", "NOT AFTER", "DAYS LEFT", "LAST RENEWAL", "LAST ERROR", "NEXT ATTEMPT",
                  "PROFILE", "ACME DIRECTORY"):
        assert title in header
    assert len(rows) == 500
    line = next(row for row in rows if row.startswith("host007 "))
    cells = line.split()
    assert cells[:3] == ["host007", "host007.example.com", "Example"]        # issuer: its CN
    assert "rateLimited: too many certificates already issued" in line and "shortlived" in line
    assert line.endswith(DIRECTORY)
    assert "5.7" in cells                                                    # days left of a 6.67-day certificate
    print("\nstatus.yml over 500 certificates: %.2f s wall" % seconds)

    out, _seconds = status(tmp_path, {"certificate_storage": storage, "certificate_acme_directory": DIRECTORY,
                                      "certificate_status_format": "json",
                                      "certificate_status_json": str(tmp_path / "certs.json")})
    data = json.loads(pathlib.Path(tmp_path / "certs.json").read_text())
    assert data["acme_directory"] == DIRECTORY and len(data["certificates"]) == 500
    row = {r["name"]: r for r in data["certificates"]}["host007"]
    assert row["names"] == ["host007.example.com"] and row["issuer"] == "Example Issuing CA R1"
    assert row["profile"] == "shortlived" and row["last_error"] == "rateLimited: too many certificates already issued"
    assert row["next_attempt"] and row["last_renewal"] and row["not_after"] and row["days_left"] < 6
    assert '"acme_directory": "%s"' % DIRECTORY in out                       # the same data printed as JSON

    # acme_directory is required by the playbook ...
    out, _seconds = status(tmp_path, {"certificate_storage": storage}, expect_rc=2)
    assert "certificate_acme_directory (the ACME directory whose certificates to list" in out
    # ... and a directory with nothing stored says where it looked and where there are certificates
    staging = "https://acme-staging-v02.api.letsencrypt.org/directory"
    out, _seconds = status(tmp_path, {"certificate_storage": storage, "certificate_acme_directory": staging})
    assert "no certificates are stored on local:%s for the ACME directory %s" % (store_path, staging) in out or \
        "no certificates are stored on " in out, out[-3000:]
    assert "certificates are stored for: %s" % DIRECTORY in out
