"""6-day certificates end to end: the role orders with profile shortlived from the local stand-in CA
(Pebble 2.4 has no profiles), the renewal_cron role installs the hourly job, and that job, run verbatim
under `env -i` from /, renews the certificate once half its lifetime is gone, deploys and verifies it."""
import datetime
import os
import pathlib
import re
import ssl
import subprocess

import pytest

from ..ari.standin import StandIn
from ..pki import CA
from .conftest import HOSTS
from .test_cron import PLAYBOOK, cron_vars, job_line

pytestmark = pytest.mark.role
SHORTLIVED = datetime.timedelta(hours=160)


@pytest.fixture
def short_ca(tmp_path):
    ca = CA(cn="autotls profiles stand-in CA")
    key_pem, cert_pem = ca.leaf(names=("127.0.0.1",), days=2)
    (tmp_path / "standin.pem").write_bytes(cert_pem + ca.pem)
    (tmp_path / "standin.key").write_bytes(key_pem)
    (tmp_path / "standin-ca.pem").write_bytes(ca.pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tmp_path / "standin.pem"), str(tmp_path / "standin.key"))
    server = StandIn(renewal_info=False, ssl_context=context, ca=ca)
    server.http01_address = (HOSTS["web1"], 5002)   # really fetches the token from web1's nginx
    server.ca_file = str(tmp_path / "standin-ca.pem")
    server.test_ca = ca
    yield server
    server.close()


def stored(fleet, name="site"):
    import json
    for root, _dirs, files in os.walk(fleet.store):
        if "current.json" in files and os.path.basename(root) == name:
            return json.load(open(os.path.join(root, "current.json")))
    return None


def lifetime(pointer):
    def parse(text):
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    return parse(pointer["not_after"]) - parse(pointer["not_before"])


def test_six_day_certificates_renew_from_the_hourly_cron_job(fleet, short_ca):
    fleet.write_inventory(certificate_acme_directory=short_ca.directory_url, certificate_ca_bundle=short_ca.ca_file,
                          certificate_profile="shortlived")
    fleet.site()
    first = stored(fleet)
    assert first["profile"] == "shortlived" and abs(lifetime(first) - SHORTLIVED) < datetime.timedelta(seconds=2)
    assert [body.get("profile") for _m, _p, body in short_ca.seen("POST", "/new-order")] == ["shortlived"]
    for addr in HOSTS.values():
        assert fleet.served(addr, verify=False) == first["serial"]

    # The cron role sees a certificate that lives under 10 days: an hourly job.
    os.makedirs(os.path.join(fleet.workdir, "cron.d"))
    variables = cron_vars(fleet, renewal_cron_acme_directory=short_ca.directory_url)
    fleet.play.run(PLAYBOOK, variables)
    _lines, job = job_line(variables["renewal_cron_file"])
    _minute, hour, command = re.match(r"^(\d+) (\S+) \* \* \* root (.*)$", job).groups()
    assert hour == "*"

    def run():   # the installed line, verbatim, with cron's empty environment
        return subprocess.run(["env", "-i", "sh", "-c", command], cwd="/", capture_output=True, text=True,
                              check=False)

    # Four days on (the stored certificate replaced by one issued four days ago, same profile): 2.7 of 6.7
    # days left, past half the lifetime. The next hourly run renews it, deploys it and nginx serves it.
    aged_key, aged_cert, chain = short_ca.test_ca.issue(
        names=tuple(fleet.certificates[0]["identifiers"]), days=SHORTLIVED.total_seconds() / 86400,
        not_before=datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=4))
    for name, data in (("aged.key", aged_key), ("aged.pem", aged_cert + chain)):
        with open(os.path.join(fleet.workdir, name), "wb") as handle:
            handle.write(data)
    playbook = os.path.join(fleet.workdir, "age.yml")
    with open(playbook, "w") as handle:
        handle.write("""---
- hosts: localhost
  gather_facts: false
  tasks:
    - autotls.acme.cert_store:
        backend: local
        local_path: %s
        acme_directory: %s
        name: site
        profile: shortlived
        private_key_path: %s/aged.key
        fullchain_path: %s/aged.pem
""" % (fleet.store, short_ca.directory_url, fleet.workdir, fleet.workdir))
    fleet.play.run(playbook)
    aged = stored(fleet)
    done = run()
    log = pathlib.Path(variables["renewal_cron_log_file"]).read_text()
    assert done.returncode == 0, log[-3000:]
    assert re.search(r"site\s+expires \S+\s+renewed ", log), log[-3000:]
    renewed = stored(fleet)
    assert renewed["serial"] not in (aged["serial"], first["serial"]) and renewed["profile"] == "shortlived"
    assert abs(lifetime(renewed) - SHORTLIVED) < datetime.timedelta(seconds=2)
    assert [body.get("profile") for _m, _p, body in short_ca.seen("POST", "/new-order")] == ["shortlived"] * 2
    for addr in HOSTS.values():
        assert fleet.served(addr, verify=False) == renewed["serial"]
