"""The benchmark's environment: the ACME stack (scripts/stack.sh: Pebble, challtestsrv, nginx serving the
HTTP-01 webroot), the contenders' pinned venvs, the collection link, and the seed store the no-op runs start from.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import subprocess
import sys
import time

from bench.common import BENCH, BUILD, COLLECTIONS, ROOT, BenchError, clean_env, fresh_dir, log, write_lines
from bench.verify import pebble_orders, read_log, verify_certificates

STACK_SH = os.path.join(ROOT, "scripts", "stack.sh")
PEBBLE_LOG = os.path.join(ROOT, "build", "stack", "pebble.log")

# The CA settings of the measurements: no validation sleep, no nonce
# rejection, no authorization reuse (every certificate costs a full validation).
STACK_SETTINGS = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}

VENVS = {  # name: requirements file (pinned, so that a rerun measures the same contender)
    "certbot": os.path.join(BENCH, "requirements-certbot.txt"),
    "ansible": os.path.join(BENCH, "requirements-ansible.txt"),
}

SEED_CONCURRENCY = 2    # orders in flight while preparing the no-op stores (more has hung Pebble 2.4)


def ensure_collection_link() -> None:
    link = os.path.join(COLLECTIONS, "ansible_collections", "autotls", "acme")
    if os.path.islink(link) and os.path.realpath(link) == os.path.realpath(ROOT):
        return
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if os.path.islink(link):
        os.unlink(link)
    os.symlink(ROOT, link)


def ensure_venv(name: str) -> str:
    """build/bench/venv-<name> with the pinned requirements; fast when already up to date."""
    venv = os.path.join(BUILD, "venv-" + name)
    req = VENVS[name]
    with open(req, "rb") as handle:
        key = hashlib.sha256(handle.read() + sys.version.encode() + sys.executable.encode()).hexdigest()
    stamp = os.path.join(venv, ".bench-stamp")
    try:
        with open(stamp) as handle:
            if handle.read().strip() == key:
                return venv
    except OSError:
        pass
    log("installing %s into %s (pip install -r %s)" % (name, venv, os.path.relpath(req, ROOT)))
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "-q", "-r", req],
                   check=True, env=clean_env(PIP_DISABLE_PIP_VERSION_CHECK="1",
                                             REQUESTS_CA_BUNDLE=os.environ.get("REQUESTS_CA_BUNDLE"),
                                             SSL_CERT_FILE=os.environ.get("SSL_CERT_FILE")))
    with open(stamp, "w") as handle:
        handle.write(key + "\n")
    return venv


def venv_versions(venv: str, dists: list) -> dict:
    code = ("import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            "for d in sys.argv[1:]:\n"
            "    try: out[d] = m.version(d)\n"
            "    except m.PackageNotFoundError: out[d] = None\n"
            "print(json.dumps(out))\n")
    try:
        return json.loads(subprocess.run([os.path.join(venv, "bin", "python"), "-c", code] + dists,
                                         capture_output=True, text=True, check=True).stdout)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return {}


def collection_version(venv: str, namespace: str, name: str):
    for manifest in glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "ansible_collections",
                                           namespace, name, "MANIFEST.json")):
        with open(manifest) as handle:
            return json.load(handle)["collection_info"]["version"]
    return None


def stack_env() -> dict:
    """What `scripts/stack.sh env` exports (directory URLs, CA bundle, webroot, Pebble roots, DNS settings)."""
    out = subprocess.run(["bash", STACK_SH, "env"], capture_output=True, text=True, check=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            key, value = line[len("export "):].split("=", 1)
            env[key] = value.strip("'\"")
    return env


class Stack:
    def __init__(self, manage: bool):
        self.manage = manage
        self.env = {}

    def start(self) -> None:
        if self.manage:
            log("starting the ACME stack (%s)" % " ".join("%s=%s" % kv for kv in STACK_SETTINGS.items()))
            proc = subprocess.run(["bash", STACK_SH, "start"], env=dict(os.environ, **STACK_SETTINGS),
                                  capture_output=True, text=True, check=False)
            if proc.returncode:
                raise BenchError("scripts/stack.sh start failed:\n%s%s" % (proc.stdout, proc.stderr))
            log(proc.stdout.strip().splitlines()[-1])
        self.env.update(stack_env())
        for key in ("ACME_DIRECTORY", "ACME_CA_BUNDLE", "ACME_WEBROOT", "PEBBLE_ROOT"):
            if key not in self.env:
                raise BenchError("scripts/stack.sh env did not give %s" % key)
        if not os.path.isfile(self.env["PEBBLE_ROOT"]):
            raise BenchError("no Pebble root at %s: is the stack running?" % self.env["PEBBLE_ROOT"])

    def stop(self) -> None:
        if self.manage:
            subprocess.run(["bash", STACK_SH, "stop"], capture_output=True, check=False)
            log("stack stopped")

    def pebble_orders(self) -> int:
        """How many orders Pebble's own log says it has added since the stack started (the CA's count)."""
        try:
            return pebble_orders(read_log(PEBBLE_LOG))
        except OSError:
            return 0

    directory = property(lambda self: self.env["ACME_DIRECTORY"])
    ca = property(lambda self: self.env["ACME_CA_BUNDLE"])
    webroot = property(lambda self: self.env["ACME_WEBROOT"])
    root = property(lambda self: self.env["PEBBLE_ROOT"])


def make_seed(ctx, n: int) -> None:
    """n real certificates, issued fast through the engine, for the no-op contenders' stores."""
    ctx.seed_names = ["s%04d.seed.bench.example.com" % i for i in range(n)]
    fresh_dir(ctx.seed_dir)
    names_file = write_lines(os.path.join(ctx.work, "seed-names"), ctx.seed_names)
    log("preparing the no-op stores: issuing %d seed certificates (engine, not measured)" % n)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "mkstore.py"), "--directory", ctx.stack.directory,
                           "--ca-bundle", ctx.stack.ca, "--webroot", ctx.stack.webroot, "--out", ctx.seed_dir,
                           "--names-file", names_file, "--concurrency", str(SEED_CONCURRENCY)],
                          env=clean_env(PYTHONPATH=COLLECTIONS),
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise BenchError("seed issuance failed:\n%s%s" % (proc.stdout, proc.stderr[-3000:]))
    verify_certificates([{"name": name, "key": os.path.join(ctx.seed_dir, name, "privkey.pem"),
                          "fullchain": os.path.join(ctx.seed_dir, name, "fullchain.pem"),
                          "cert": os.path.join(ctx.seed_dir, name, "cert.pem")} for name in ctx.seed_names],
                        ctx.stack.root, time.time() - (time.monotonic() - start))
    ctx.notes.append("No-op stores: %d seed certificates issued from the same Pebble by the collection's engine "
                     "called directly (%.0f s, not measured), then laid out per contender: acme_order files with "
                     "their metadata, certbot lineages (archive/, live/ symlinks, renewal .conf cloned from one "
                     "certbot itself wrote, with its registered account), community.crypto key/CSR/cert files."
                     % (n, time.monotonic() - start))
