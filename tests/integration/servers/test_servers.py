"""One site.yml run issues a certificate (HTTP-01 answered by Apache through the role's challenge snippet),
stores it in GCS, deploys it to nginx, Apache, HAProxy (combined PEM), Postfix and Dovecot on one host,
checks and reloads each, and proves every served serial (STARTTLS for SMTP, IMAP and POP3). The serials
are read again here with `openssl s_client`, independently of the collection's own probe."""
import json
import os
import pathlib
import re
import subprocess
import sys
import uuid

import pytest
import yaml

from ..conftest import ROOT, pebble_root
from ..role.conftest import new_orders, nginx_cmd, nginx_dir, recap_changed
from ..storage.conftest import gcs_client, services, services_env  # noqa: F401  pylint: disable=unused-import
from .conftest import SERVERS

pytestmark = pytest.mark.role

SITE = os.path.join(ROOT, "playbooks", "site.yml")
NGINX_ADDR = "127.0.0.1"   # the stack's nginx instance that also listens on the servers' address
NGINX_PORT = 8443
NAMES = ["mail.servers.example", "www.servers.example"]


def endpoints(env):
    """(label, port, starttls) of every endpoint that serves the certificate."""
    return [("nginx", NGINX_PORT, None), ("apache", int(env["SERVERS_APACHE_PORT"]), None),
            ("haproxy", int(env["SERVERS_HAPROXY_PORT"]), None),
            ("postfix smtp", int(env["SERVERS_SMTP_PORT"]), "smtp"),
            ("postfix submission", int(env["SERVERS_SUBMISSION_PORT"]), "smtp"),
            ("dovecot imap", int(env["SERVERS_IMAP_PORT"]), "imap"),
            ("dovecot imaps", int(env["SERVERS_IMAPS_PORT"]), None),
            ("dovecot pop3", int(env["SERVERS_POP3_PORT"]), "pop3"),
            ("dovecot pop3s", int(env["SERVERS_POP3S_PORT"]), None)]


def openssl_serial(addr, port, starttls, name, root):
    """The serial a real TLS client gets (chain verified against Pebble's root), or the error output."""
    cmd = ["openssl", "s_client", "-connect", "%s:%d" % (addr, port), "-servername", name, "-CAfile", root,
           "-verify_return_error", "-verify_hostname", name]
    if starttls:
        cmd += ["-starttls", starttls]
    proc = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=30, check=False)
    if proc.returncode != 0 or "-----BEGIN CERTIFICATE-----" not in proc.stdout:
        return "failed: " + (proc.stderr + proc.stdout)[-500:]
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n", proc.stdout, re.S).group(0)
    serial = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem, capture_output=True, text=True,
                            check=True).stdout
    return serial.strip().split("=", 1)[1].lower().lstrip("0")


def challtestsrv(stack, path, body):
    subprocess.run(["curl", "-sS", "-X", "POST", "-d", json.dumps(body), stack["CHALLTESTSRV"] + path],
                   check=True, capture_output=True)


@pytest.fixture
def mail_host(stack, servers, tmp_path):
    """Inventory of one host running all five servers; the CA's DNS sends its names to it."""
    services = services_env()  # noqa: F811 (the fixture of the same name is not used here)
    subprocess.run(["bash", os.path.join(ROOT, "scripts", "services.sh"), "start"], check=True, capture_output=True)
    bucket = "autotls-servers-%s" % uuid.uuid4().hex[:8]
    gcs_client(services["GCS_ENDPOINT_URL"]).create_bucket(bucket)
    live = os.path.dirname(servers["SERVERS_LIVE"])
    addr = servers["SERVERS_ADDR"]
    site = os.path.join(nginx_dir(NGINX_ADDR), "sites", "servers.conf")
    with open(site, "w") as handle:
        handle.write("server {\n    listen %s:%d ssl;\n    server_name %s;\n"
                     "    ssl_certificate %s/mail/fullchain.pem;\n    ssl_certificate_key %s/mail/privkey.pem;\n"
                     "    location / { return 200 \"nginx\\n\"; }\n}\n"
                     % (addr, NGINX_PORT, " ".join(NAMES), live, live))
    subprocess.run(nginx_cmd(NGINX_ADDR, "-s", "reload").split(), check=True, capture_output=True)
    for name in NAMES:
        challtestsrv(stack, "/add-a", {"host": name, "addresses": [addr]})
    commands = json.loads(subprocess.run(["bash", SERVERS, "commands"], check=True, capture_output=True,
                                         text=True).stdout)
    commands["nginx"] = {"check": nginx_cmd(NGINX_ADDR, "-t", "-q"), "reload": nginx_cmd(NGINX_ADDR, "-s", "reload")}
    verify = [{"port": port, "starttls": starttls} if starttls else {"port": port}
              for _label, port, starttls in endpoints(servers)]
    host = {
        "ansible_host": addr,
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "certificate_webroot": os.path.join(servers["SERVERS_DIR"], "webroot"),
        "certificate_webserver_snippet": "apache",
        "certificate_apache_snippet_path": os.path.join(servers["SERVERS_DIR"], "apache", "conf-enabled",
                                                        "autotls-acme-challenge.conf"),
        "certificate_deploy_dir": live,
        "certificate_service_commands": commands,
    }
    variables = {
        "certificate_contact_email": "ops@example.com",
        "certificate_terms_agreed": True,
        "certificate_acme_directory": stack["ACME_DIRECTORY"],
        "certificate_ca_bundle": stack["ACME_CA_BUNDLE"],
        "certificate_account_key_path": str(tmp_path / "account.key"),
        "certificate_storage": {"backend": "gcs", "gcs_bucket": bucket, "gcs_prefix": "autotls",
                                "gcs_endpoint_url": services["GCS_ENDPOINT_URL"], "gcs_anonymous": True},
        "certificate_list": [{
            "name": "mail", "identifiers": NAMES,
            "services": ["nginx", "apache", "haproxy", "postfix", "dovecot"],
            "combined_path": servers["SERVERS_LIVE"] + "/combined.pem",
            "verify_endpoints": verify,
        }],
    }
    inventory = tmp_path / "inventory.yml"
    web = {"hosts": {"mail1": host}, "vars": variables}
    inventory.write_text(yaml.safe_dump({"all": {"children": {"web": web}}}))
    yield inventory
    os.unlink(site)
    subprocess.run(nginx_cmd(NGINX_ADDR, "-s", "reload").split(), check=False, capture_output=True)
    for name in NAMES:
        challtestsrv(stack, "/clear-a", {"host": name})


def test_one_site_run_deploys_to_nginx_apache_haproxy_postfix_dovecot(play, stack, servers, mail_host, tmp_path,
                                                                     services):  # noqa: F811
    # pylint: disable=redefined-outer-name,unused-argument
    addr, live = servers["SERVERS_ADDR"], servers["SERVERS_LIVE"]
    root = str(tmp_path / "pebble-root.pem")
    with open(root, "w") as handle:
        handle.write(pebble_root(stack))
    access_log = os.path.join(servers["SERVERS_DIR"], "apache", "access.log")
    lines_before = len(pathlib.Path(access_log).read_text().splitlines())
    orders = new_orders()

    out = play.run(SITE, inventory=str(mail_host))
    assert new_orders() == orders + 1, out[-6000:]

    # The CA validated through Apache's challenge snippet (Pebble's HTTP-01 requests are in Apache's log).
    new_lines = pathlib.Path(access_log).read_text().splitlines()[lines_before:]
    validations = [line for line in new_lines if '"GET /.well-known/acme-challenge/' in line and '" 200 ' in line]
    assert len(validations) >= len(NAMES), new_lines

    # HAProxy's combined PEM: the key followed by the full chain, with the key's mode.
    with open(live + "/privkey.pem", "rb") as key, open(live + "/fullchain.pem", "rb") as chain, \
            open(live + "/combined.pem", "rb") as combined:
        assert combined.read() == key.read() + chain.read()
    assert oct(os.stat(live + "/combined.pem").st_mode & 0o777) == "0o600"
    assert oct(os.stat(live + "/privkey.pem").st_mode & 0o777) == "0o600"

    # Every endpoint serves the new certificate, read by openssl (STARTTLS where the protocol has it).
    deployed = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", live + "/cert.pem"],
                              capture_output=True, text=True, check=True).stdout.strip().split("=")[1].lower()
    served = {label: openssl_serial(addr, port, starttls, NAMES[0], root)
              for label, port, starttls in endpoints(servers)}
    assert served == {label: deployed.lstrip("0") for label in served}, served
    assert "Compare the served serials with the deployed ones" in out

    # A second run changes nothing (the combined PEM compares equal to the stored key and chain).
    again = play.run(SITE, inventory=str(mail_host))
    assert set(recap_changed(again).values()) == {0}, again[-3000:]
    assert new_orders() == orders + 1

    # A real Postfix smtpd without TLS: tls_check's STARTTLS says so at once.
    from ansible_collections.autotls.acme.plugins.module_utils._engine import probe
    with pytest.raises(probe.StartTLSNotOffered, match=r"%s:%s does not offer STARTTLS \(SMTP EHLO extensions: "
                       % (addr, servers["SERVERS_PLAIN_SMTP_PORT"])):
        probe.served_certificate(addr, int(servers["SERVERS_PLAIN_SMTP_PORT"]), NAMES[0], pinned=True,
                                 starttls="smtp")
