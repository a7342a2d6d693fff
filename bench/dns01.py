"""Wall time of site.yml issuing 20 wildcard certificates over DNS-01 (RFC 2136 against the stack's bind9)
next to 20 HTTP-01 certificates, against the same Pebble (the stack's DNS Pebble, which resolves through bind9).

Three site.yml runs on fresh storage: 20 DNS-01 only, 20 HTTP-01 only, and both (40) in one run. Each run is
verified: Pebble's log shows exactly the expected number of new orders, every certificate is stored and covers
its names, and no _acme-challenge TXT record is left in bind9.

    python3 bench/dns01.py [--count 20] [--keep-stack]     (starts the stack unless AUTOTLS_STACK_RUNNING=1)
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import yaml

if __package__ in (None, ""):  # run as a script: bench/ is a package of the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from bench.common import ROOT
from bench.stack import stack_env
from bench.verify import pebble_orders, read_log

WORK = os.path.join(ROOT, "build", "bench-dns01")


def orders(log):
    return pebble_orders(read_log(log))


def run(env, name, certificates):
    workdir = os.path.join(WORK, name)
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    dns = {"provider": "rfc2136", "server": env["DNS_SERVER"], "port": int(env["DNS_PORT"]),
           "key_name": env["DNS_TSIG_NAME"], "key_secret": env["DNS_TSIG_SECRET"],
           "resolvers": ["%s:%s" % (env["DNS_SERVER"], env["DNS_PORT"])], "nameserver_port": int(env["DNS_PORT"])}
    inventory = {"all": {"children": {"web": {"hosts": {"web1": {
        "ansible_host": "127.0.0.1", "certificate_webroot": os.path.join(ROOT, "build", "stack", "webroot"),
        "certificate_deploy_dir": os.path.join(workdir, "live")}}, "vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "certificate_contact_email": "ops@example.com", "certificate_terms_agreed": True,
        "certificate_acme_directory": env["ACME_DNS_DIRECTORY"], "certificate_ca_bundle": env["ACME_CA_BUNDLE"],
        "certificate_account_key_path": os.path.join(workdir, "account.key"),
        "certificate_storage": {"backend": "local", "local_path": os.path.join(workdir, "store")},
        "certificate_owner": "root", "certificate_group": "root", "certificate_verify": False,
        "certificate_dns": dns, "certificate_list": certificates}}}}}
    path = os.path.join(workdir, "inventory.yml")
    with open(path, "w") as handle:
        yaml.safe_dump(inventory, handle)
    log = os.path.join(ROOT, "build", "stack", "pebble-dns.log")
    before = orders(log)
    environ = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0")
    started = time.monotonic()
    proc = subprocess.run(["ansible-playbook", "-i", path, os.path.join(ROOT, "playbooks", "site.yml")],
                          capture_output=True, text=True, env=environ, check=False)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit("%s: site.yml exited %d\n%s" % (name, proc.returncode, proc.stdout[-4000:]))
    made = orders(log) - before
    if made != len(certificates):
        raise SystemExit("%s: %d orders for %d certificates" % (name, made, len(certificates)))
    stored = 0
    for dirpath, _dirs, files in os.walk(os.path.join(workdir, "store")):
        if "current.json" in files:
            with open(os.path.join(dirpath, "current.json")) as handle:
                pointer = json.load(handle)
            wanted = {c["name"]: sorted(c["identifiers"]) for c in certificates}[os.path.basename(dirpath)]
            if sorted(pointer["identifiers"]) != wanted:
                raise SystemExit("%s: stored %s covers %s" % (name, os.path.basename(dirpath), pointer["identifiers"]))
            stored += 1
    if stored != len(certificates):
        raise SystemExit("%s: %d of %d certificates stored" % (name, stored, len(certificates)))
    zone = subprocess.run(["dig", "+noall", "+answer", "-p", env["DNS_PORT"], "@127.0.0.1", "dns.test", "AXFR"],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    left = [line for line in zone if line.startswith("_acme-challenge") and "\tTXT\t" in line]
    if left or not zone:
        raise SystemExit("%s: TXT records left behind (or no zone transfer):\n%s" % (name, "\n".join(left)))
    return wall


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--keep-stack", action="store_true")
    args = parser.parse_args()
    started_here = not os.environ.get("AUTOTLS_STACK_RUNNING")
    if started_here:
        subprocess.run(["bash", os.path.join(ROOT, "scripts", "stack.sh"), "start"], check=True, capture_output=True)
    env = stack_env()
    tag = str(int(time.time()))[-6:]
    wild = [{"name": "w%02d" % i, "identifiers": ["*.w%02d-%s.dns.test" % (i, tag), "w%02d-%s.dns.test" % (i, tag)],
             "challenge": "dns-01"} for i in range(args.count)]
    http = [{"name": "h%02d" % i, "identifiers": ["h%02d-%s.web.test" % (i, tag)]} for i in range(args.count)]
    try:
        rows = [("%d wildcard certificates, DNS-01 (RFC 2136, bind9)" % args.count, run(env, "dns01", wild)),
                ("%d certificates, HTTP-01" % args.count, run(env, "http01", http)),
                ("both in one run (%d)" % (2 * args.count), run(env, "mixed", wild + http))]
    finally:
        if started_here and not args.keep_stack:
            subprocess.run(["bash", os.path.join(ROOT, "scripts", "stack.sh"), "stop"], check=False,
                           capture_output=True)
    print("| site.yml run | wall s | s per certificate |\n|---|---:|---:|")
    for label, wall in rows:
        count = 2 * args.count if label.startswith("both") else args.count
        print("| %s | %.1f | %.2f |" % (label, wall, wall / count))


if __name__ == "__main__":
    main()
