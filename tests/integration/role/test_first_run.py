"""A first run against an nginx whose configuration already has the TLS server block (and the challenge
location) for a certificate that does not exist yet: that configuration cannot load until a certificate is
at the deploy paths. Without the placeholder the order fails with the CA's own words; with it, one run
converges."""
import json
import os
import pathlib
import re
import subprocess

import pytest

from .conftest import HOSTS, nginx_cmd

pytestmark = pytest.mark.role


def user_config(fleet, webroots):
    """The user's site file on each host: the challenge location for the names on port 80 (5002 here) from
    the user's webroot, and the TLS server block using the deploy paths. Written before the first run."""
    for host, addr in HOSTS.items():
        challenge = """
server {
    listen %s:5002;
    server_name site.example.com www.site.example.com;
    location /.well-known/acme-challenge/ { root %s; }
}
""" % (addr, webroots[host])
        fleet.write_site(host, addr, challenge)


def nginx_test(addr):
    return subprocess.run(nginx_cmd(addr, "-t").split(), capture_output=True, text=True, check=False)


def first_error(output):
    """The first failure line Ansible printed (fatal:/failed:), with what follows it on that line."""
    match = re.search(r"^(fatal|failed): .*$", output, re.M)
    assert match, output[-4000:]
    return match.group(0)


def test_first_run_converges_with_the_tls_block_in_place(fleet):
    webroots = {host: os.path.join(fleet.workdir, "www-" + host) for host in HOSTS}
    for host in HOSTS:
        fleet.host_vars[host]["certificate_webroot"] = webroots[host]
    status = os.path.join(fleet.workdir, "status.json")
    fleet.write_inventory(certificate_status_file=status, certificate_placeholder=False)
    user_config(fleet, webroots)
    for addr in HOSTS.values():
        tested = nginx_test(addr)  # the user's configuration cannot load yet
        assert tested.returncode != 0 and "cannot load certificate" in tested.stderr, tested.stderr

    # Placeholder turned off: the new configuration never loads, the CA cannot fetch the token, and the
    # first error says so in the CA's words; nothing was stored, so nothing is verified; status written.
    out = fleet.site(expect_rc=2)
    error = first_error(out)
    assert "site" in error and "404" in error, error
    verify = out.split("Compare the served serials", 1)[1].split("TASK [", 1)[0]
    assert "skipping: [web1]" in verify and "ok:" not in verify and "fatal:" not in verify, verify
    site = json.loads(pathlib.Path(status).read_text())["certificates"][0]
    assert site["action"] == "failed" and "404" in site["why"]

    # With the placeholder (the default): deployed first, nginx reloaded with the user's whole
    # configuration, the order validated through the user's challenge location, the real certificate
    # replaces the placeholder and is served, all in one run. A fresh store: no backoff from the failure.
    fleet.write_inventory(certificate_placeholder=None, certificate_storage={
        "backend": "local", "local_path": os.path.join(fleet.workdir, "store2")})
    fleet.store = os.path.join(fleet.workdir, "store2")
    out = fleet.site()
    assert re.search(r"^changed: \[web1\]", out.split("Deploy the placeholders", 1)[1], re.M)
    for host, addr in HOSTS.items():
        assert fleet.served(addr) == fleet.stored_serial()  # verified against Pebble's root: the real one
        with open(os.path.join(fleet.deploy_dir(host), "site", "cert.pem")) as handle:
            assert "placeholder" not in subprocess.run(["openssl", "x509", "-noout", "-subject"], input=handle.read(),
                                                       capture_output=True, text=True, check=True).stdout
    assert json.loads(pathlib.Path(status).read_text())["certificates"][0]["action"] == "renewed"
