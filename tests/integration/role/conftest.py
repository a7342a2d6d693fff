"""Two web hosts (nginx on 127.0.0.1 and 127.0.0.2) for the certificate role, on the Pebble stack."""
import json
import os
import re
import socket
import ssl
import subprocess
import sys

import pytest
import yaml

from ..conftest import ROOT, WEB_ADDRS, pebble_root

SITE = os.path.join(ROOT, "playbooks", "site.yml")
RENEW = os.path.join(ROOT, "playbooks", "renew.yml")
HOSTS = {"web1": WEB_ADDRS[0], "web2": WEB_ADDRS[1]}
TLS_PORT = 8443


def nginx_dir(addr):
    return os.path.join(ROOT, "build", "stack", "nginx-" + addr)


def nginx_cmd(addr, *args):
    prefix = nginx_dir(addr)
    return " ".join(["nginx", "-p", prefix + "/", "-c", prefix + "/nginx.conf"] + list(args))


class Fleet:
    """An inventory of two web hosts served by the stack's nginx instances, plus probes."""

    def __init__(self, play, stack, workdir):
        self.play, self.stack, self.workdir = play, stack, workdir
        self.store = os.path.join(workdir, "store")
        self.inventory = os.path.join(workdir, "inventory.yml")
        self.staging_base = os.path.join(workdir, "staging")
        os.makedirs(self.staging_base, mode=0o700, exist_ok=True)
        self.group_vars = {}
        self.group = "web"  # the inventory group of the two hosts
        self.all_vars = {}  # the inventory's `all` vars (certificate_hosts goes there)
        self.host_vars = {host: {} for host in HOSTS}  # per-host values that win over the defaults below
        self.certificates = [{"name": "site", "identifiers": ["site.example.com", "www.site.example.com"],
                              "services": ["nginx"]}]
        self.write_inventory()
        self.write_sites()

    def write_sites(self, extra=None):
        """nginx on each host serves every certificate of the list on TLS_PORT, selected by SNI."""
        for host, addr in HOSTS.items():
            self.write_site(host, addr, (extra or {}).get(host, ""))

    def deploy_dir(self, host):
        return os.path.join(self.workdir, host, "live")

    def write_inventory(self, **group_vars):
        hosts = {}
        for host, addr in HOSTS.items():
            hosts[host] = {
                "ansible_host": addr,
                "certificate_webroot": os.path.join(ROOT, "build", "stack", "webroot-" + addr),
                "certificate_deploy_dir": self.deploy_dir(host),
                "certificate_service_commands": {"nginx": {"check": nginx_cmd(addr, "-t", "-q"),
                                                           "reload": nginx_cmd(addr, "-s", "reload")}},
            }
            hosts[host].update(self.host_vars[host])
        variables = {
            "ansible_connection": "local",
            "ansible_python_interpreter": os.path.realpath(sys.executable),
            "certificate_contact_email": "ops@example.com",
            "certificate_terms_agreed": True,
            "certificate_acme_directory": self.stack["ACME_DIRECTORY"],
            "certificate_ca_bundle": self.stack["ACME_CA_BUNDLE"],
            "certificate_account_key_path": os.path.join(self.workdir, "account.key"),
            "certificate_storage": {"backend": "local", "local_path": self.store},
            "certificate_list": self.certificates,
            "certificate_owner": "root",
            "certificate_group": "root",
            "certificate_verify_port": TLS_PORT,
            # this test's own control-node areas (the defaults are shared by every run on the machine)
            "certificate_pending_dir": os.path.join(self.workdir, "pending"),
            "certificate_staging_base": self.staging_base,
        }
        self.group_vars.update(group_vars)  # remembered: later calls only change what they name
        variables.update(self.group_vars)
        variables = {name: value for name, value in variables.items() if value is not None}  # None: leave it out
        with open(self.inventory, "w") as handle:
            yaml.safe_dump({"all": {"vars": self.all_vars,
                                    "children": {self.group: {"hosts": hosts, "vars": variables}}}}, handle)

    def write_site(self, host, addr, extra=""):
        conf = ""
        for cert in self.certificates:
            live = os.path.join(self.deploy_dir(host), cert["name"])
            conf += """
server {
    listen %s:%d ssl;
    server_name %s;
    ssl_certificate %s/fullchain.pem;
    ssl_certificate_key %s/privkey.pem;
    location / { return 200 "%s\\n"; }
}
""" % (addr, TLS_PORT, " ".join(cert["identifiers"]), live, live, host)
        conf += extra
        with open(os.path.join(nginx_dir(addr), "sites", "site.conf"), "w") as handle:
            handle.write(conf)

    def site(self, expect_rc=0, check=False, playbook=SITE, **extra_vars):
        return self.play.run(playbook, extra_vars, inventory=self.inventory, expect_rc=expect_rc, check=check)

    def renew(self, expect_rc=0, **extra_vars):
        return self.site(expect_rc=expect_rc, playbook=RENEW, **extra_vars)

    def served(self, addr, name="site.example.com", verify=True):
        """(serial, chain verified) of what nginx at addr serves for SNI name."""
        if verify:
            root_path = os.path.join(self.workdir, "pebble-root.pem")
            with open(root_path, "w") as handle:
                handle.write(pebble_root(self.stack))
        context = ssl.create_default_context(cafile=root_path) if verify else ssl._create_unverified_context()
        with socket.create_connection((addr, TLS_PORT), timeout=5) as sock:
            with context.wrap_socket(sock, server_hostname=name) as tls:
                der = tls.getpeercert(binary_form=True)
        from cryptography import x509
        return "%x" % x509.load_der_x509_certificate(der).serial_number

    def stored_pointer(self, name="site"):
        for root, _dirs, files in os.walk(self.store):
            if "current.json" in files and os.path.basename(root) == name:
                with open(os.path.join(root, "current.json")) as handle:
                    return json.load(handle)
        return None

    def due_by_policy(self, name):
        """renew_before_days one second below the stored certificate's lifetime: due from then on
        (a value at or above the lifetime is capped to the lifetime window, so it cannot force renewal)."""
        import datetime
        pointer = self.stored_pointer(name)

        def parse(text):
            return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
        return ((parse(pointer["not_after"]) - parse(pointer["not_before"])).total_seconds() - 1) / 86400

    def stored_serial(self, name="site"):
        for root, _dirs, files in os.walk(self.store):
            for filename in files:
                if filename == "current.json" and os.path.basename(root) == name:
                    with open(os.path.join(root, filename)) as handle:
                        return json.load(handle)["serial"]
        return None


def new_orders(log=None):
    """How many orders Pebble (or the Pebble of log) has created since it started."""
    with open(log or os.path.join(ROOT, "build", "stack", "pebble.log")) as handle:
        return len(re.findall(r"Added order \S+ to the db", handle.read()))


def recap_changed(output):
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


@pytest.fixture
def fleet(play, stack, tmp_path):
    made = Fleet(play, stack, str(tmp_path))
    yield made
    for addr in HOSTS.values():
        for conf in os.listdir(os.path.join(nginx_dir(addr), "sites")):
            path = os.path.join(nginx_dir(addr), "sites", conf)
            if os.path.exists(path):
                os.unlink(path)
        subprocess.run(nginx_cmd(addr, "-s", "reload").split(), check=False, capture_output=True)
    subprocess.run(["curl", "-s", "-X", "POST", "-d", json.dumps({"host": "site.example.com"}),
                    stack["CHALLTESTSRV"] + "/clear-a"], check=False, capture_output=True)
