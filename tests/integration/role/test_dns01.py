"""The certificate role with DNS-01: mixed with HTTP-01 in one site.yml run, on the DNS Pebble (which resolves
through the stack's bind9), secrets kept out of every output."""
import json
import os
import pathlib
import socket
import ssl
import subprocess

import pytest
import yaml
from cryptography import x509

from .conftest import HOSTS, SITE, TLS_PORT, new_orders
# the webhook receiver fixture of the renewal tests
from .test_renew import webhook  # noqa: F401  # pylint: disable=unused-import

pytestmark = pytest.mark.role
DNS_PEBBLE_LOG = os.path.join(os.path.dirname(SITE), "..", "build", "stack", "pebble-dns.log")


def served(stack, addr, name):
    context = ssl.create_default_context(cafile=stack["PEBBLE_DNS_ROOT"])   # chain and name verified
    with socket.create_connection((addr, TLS_PORT), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=name) as tls:
            return "%x" % x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def dig_txt(stack, name):
    return subprocess.run(["dig", "+short", "+norecurse", "-p", stack["DNS_PORT"], "@127.0.0.1", name, "TXT"],
                          capture_output=True, text=True, check=True).stdout.strip()


def rfc2136(stack, key="DNS_TSIG"):
    return {"provider": "rfc2136", "server": stack["DNS_SERVER"], "port": int(stack["DNS_PORT"]),
            "key_name": stack[key + "_NAME"], "key_secret": stack[key + "_SECRET"],
            "resolvers": ["%s:%s" % (stack["DNS_SERVER"], stack["DNS_PORT"])],
            "nameserver_port": int(stack["DNS_PORT"]), "propagation_timeout": 10}


def test_http01_and_dns01_certificates_in_one_run(fleet, stack, webhook):  # noqa: F811
    fleet.certificates[:] = [
        {"name": "www", "identifiers": ["www.web.test"], "services": ["nginx"]},                 # http-01 (default)
        {"name": "wild", "identifiers": ["*.dns.test", "dns.test"], "challenge": "dns-01", "services": ["nginx"]},
    ]
    fleet.write_sites()
    # a third certificate whose own DNS settings (overriding certificate_dns) use a key bind9 refuses
    fleet.certificates.append({"name": "refused", "identifiers": ["refused.dns.test"], "challenge": "dns-01",
                               "dns": rfc2136(stack, "DNS_READONLY_TSIG"), "verify": False})
    status, metrics = os.path.join(fleet.workdir, "status.json"), os.path.join(fleet.workdir, "autotls.prom")
    fleet.write_inventory(certificate_acme_directory=stack["ACME_DNS_DIRECTORY"], certificate_dns=rfc2136(stack),
                          certificate_status_file=status, certificate_metrics_file=metrics,
                          certificate_webhook_url=webhook[0])
    orders = new_orders(DNS_PEBBLE_LOG)
    out = fleet.play.run(SITE, {}, inventory=fleet.inventory, expect_rc=2, extra_args=["-vvv"])
    assert new_orders(DNS_PEBBLE_LOG) == orders + 2          # www and wild; the refused one was never ordered
    assert "answered REFUSED to an update of zone dns.test" in out
    for addr in HOSTS.values():
        assert served(stack, addr, "www.web.test") == fleet.stored_serial("www")
        for name in ("dns.test", "any.dns.test"):
            assert served(stack, addr, name) == fleet.stored_serial("wild")
    assert dig_txt(stack, "_acme-challenge.dns.test") == ""
    # the TSIG secrets appear nowhere: -vvv output, status, metrics, webhook
    reports = [out, pathlib.Path(status).read_text(), pathlib.Path(metrics).read_text(), json.dumps(webhook[1])]
    assert any("refused" in json.dumps(item) for item in webhook[1])          # the failure was reported
    for secret in (stack["DNS_TSIG_SECRET"], stack["DNS_READONLY_TSIG_SECRET"]):
        for text in reports:
            assert secret not in text
    entries = {entry["name"]: entry for entry in json.loads(pathlib.Path(status).read_text())["certificates"]}
    assert entries["wild"]["action"] == "renewed" and entries["refused"]["action"] == "failed"


def test_dns01_certificates_need_no_webroot(fleet, stack):
    fleet.certificates[:] = [{"name": "wild", "identifiers": ["*.dns.test"], "challenge": "dns-01",
                              "services": ["nginx"]}]
    fleet.write_sites()
    fleet.write_inventory(certificate_acme_directory=stack["ACME_DNS_DIRECTORY"], certificate_dns=rfc2136(stack))
    with open(fleet.inventory) as handle:
        inventory = yaml.safe_load(handle)
    for host in inventory["all"]["children"]["web"]["hosts"].values():
        host["certificate_webroot"] = "/dev/null/no-webroot"   # creating anything under it fails
    with open(fleet.inventory, "w") as handle:
        yaml.safe_dump(inventory, handle)
    fleet.site(certificate_challenge="http-01")   # the entry's own challenge wins over the role's default
    for addr in HOSTS.values():
        assert served(stack, addr, "x.dns.test") == fleet.stored_serial("wild")
