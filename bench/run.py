"""Benchmark autotls.acme against certbot, community.crypto and a bare-library floor.

One run starts the local ACME stack (scripts/stack.sh: Pebble with
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0, challtestsrv,
nginx serving the HTTP-01 webroot), measures every contender at every size as a
child process (wall time, CPU time of the whole process tree, peak RSS of the
largest single process), verifies what each run did (certificates really issued
and chaining to Pebble's root; nothing changed by a no-op run) and prints a
table with ratios against certbot and the floor, the issue's targets with
PASS/FAIL, and writes both to <out>/latest.md and <out>/latest.json.

    python3 bench/run.py                 the full benchmark (`make bench`); installs certbot
                                         and ansible into build/bench/venv-* on first use
    python3 bench/run.py --smoke         tiny N, our contenders and the floor only (< 60 s)
    python3 bench/run.py --only certbot,floor --sizes issue=20
    python3 bench/run.py --install-only  just create/refresh the contenders' venvs

Contenders (--only takes these keys; see CONTENDERS below):
  issue:  floor, libpoll, ours-batch, site, certbot, cc
  no-op:  ours-batch-noop, renew, certbot-renew, cc-noop
Sizes (--sizes KIND=N,N,...; KIND: issue, noop, cc-issue, cc-noop, libpoll).

Only the standard library and what the project already requires (cryptography,
the acme library, ansible-core) are used by the harness itself.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
BUILD = os.path.join(ROOT, "build", "bench")
STACK_SH = os.path.join(ROOT, "scripts", "stack.sh")
COLLECTIONS = os.path.join(ROOT, "build", "collections")

# The CA settings of the issue's measurements: no validation sleep, no nonce
# rejection, no authorization reuse (every certificate costs a full validation).
STACK_SETTINGS = {"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}

FULL_SIZES = {"issue": [20, 100], "noop": [10, 200, 1000], "cc-issue": [20], "cc-noop": [200], "libpoll": [20]}
SMOKE_SIZES = {"issue": [2], "noop": [3], "cc-issue": [], "cc-noop": [], "libpoll": []}
SMOKE_CONTENDERS = ("floor", "ours-batch", "site", "ours-batch-noop", "renew")

VENVS = {  # name: requirements file (pinned, so that a rerun measures the same contender)
    "certbot": os.path.join(BENCH, "requirements-certbot.txt"),
    "ansible": os.path.join(BENCH, "requirements-ansible.txt"),
}

SAMPLE_INTERVAL = 0.02  # seconds between /proc samples of the measured process tree
NOT_BEFORE_SLACK = 120  # seconds a fresh certificate's notBefore may precede the run's start
SEED_CONCURRENCY = 2    # orders in flight while preparing the no-op stores (more has hung Pebble 2.4)


def log(msg: str) -> None:
    print("bench: " + msg, flush=True)


class BenchError(Exception):
    """Setup failed (not a contender's fault)."""


# --------------------------------------------------------------------------------------------
# Measuring one child process
# --------------------------------------------------------------------------------------------

class TreeSampler(threading.Thread):
    """Peak RSS (VmHWM) of the largest single process in the tree under `root`, sampled.

    wait4()'s ru_maxrss already covers the child and every descendant it (or they) reaped;
    the sampling also covers descendants that are never reaped inside the tree.
    Only pids not seen before have their parent looked up, so one sample is cheap.
    """

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root = root
        self.tree = {root}
        self.parent = {}
        self.peak_kb = 0
        self.stopped = threading.Event()

    def sample(self) -> None:
        try:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        except OSError:
            return
        live = set(pids)
        for pid in list(self.parent):
            if pid not in live:
                del self.parent[pid]
        new = [pid for pid in pids if pid not in self.parent]
        for pid in new:
            try:
                with open("/proc/%d/stat" % pid, "rb") as handle:
                    self.parent[pid] = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                self.parent[pid] = -1
        grew = True
        while grew:  # a child may be listed before its parent
            grew = False
            for pid in new:
                if pid not in self.tree and self.parent.get(pid) in self.tree:
                    self.tree.add(pid)
                    grew = True
        for pid in self.tree & live:
            try:
                with open("/proc/%d/status" % pid, "rb") as handle:
                    for line in handle:
                        if line.startswith(b"VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                            break
            except (OSError, ValueError):
                pass

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_INTERVAL):
            self.sample()

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        return self.peak_kb


@dataclass
class Command:
    argv: list
    env: dict
    cwd: str = ROOT
    timeout: float = 600


def measure(cmd: Command, log_path: str) -> dict:
    """Run cmd as a direct child; wall, CPU (user+sys of the whole reaped tree), peak RSS of one process."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "wb") as out:
        out.write(("$ %s\n" % " ".join(cmd.argv)).encode())
        out.flush()
        start = time.monotonic()
        proc = subprocess.Popen(cmd.argv, env=cmd.env, cwd=cmd.cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(cmd.timeout, kill)
        timer.start()
        try:
            status, usage = os.wait4(proc.pid, 0)[1:]
        finally:
            timer.cancel()
        wall = time.monotonic() - start
        peak_sampled = sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "user": usage.ru_utime, "sys": usage.ru_stime,
            "peak_mb": max(usage.ru_maxrss, peak_sampled) / 1024.0, "rc": proc.returncode,
            "timed_out": timed_out.is_set()}


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


# --------------------------------------------------------------------------------------------
# Verification helpers
# --------------------------------------------------------------------------------------------

class VerifyError(Exception):
    pass


def _load_crypto():
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    return x509, serialization


def verify_certificates(entries: list, root_pem_path: str, not_before_min: float) -> None:
    """Each entry {name, key, fullchain[, cert]}: a certificate for exactly `name`, issued in this run,
    valid now, chaining leaf -> intermediate(s) -> Pebble's current root, matching its private key."""
    x509, serialization = _load_crypto()
    from cryptography.x509.oid import ExtensionOID
    with open(root_pem_path, "rb") as handle:
        root = x509.load_pem_x509_certificate(handle.read())
    now = datetime.datetime.now(datetime.timezone.utc)
    earliest = datetime.datetime.fromtimestamp(not_before_min - NOT_BEFORE_SLACK, datetime.timezone.utc)
    problems = []
    for entry in entries:
        name = entry["name"]
        try:
            with open(entry["fullchain"], "rb") as handle:
                chain = x509.load_pem_x509_certificates(handle.read())
            if len(chain) < 2:
                raise VerifyError("fullchain has %d certificate(s), expected leaf + intermediate" % len(chain))
            leaf = chain[0]
            sans = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
            names = set(sans.get_values_for_type(x509.DNSName))
            if names != {name}:
                raise VerifyError("certificate names %s, expected %s" % (sorted(names), name))
            if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
                raise VerifyError("not valid now (%s .. %s)" % (leaf.not_valid_before_utc, leaf.not_valid_after_utc))
            if leaf.not_valid_before_utc < earliest:
                raise VerifyError("notBefore %s is before this run started: not issued by it"
                                  % leaf.not_valid_before_utc)
            for child, issuer in zip(chain, chain[1:] + [root]):
                child.verify_directly_issued_by(issuer)  # raises on a wrong issuer or bad signature
            with open(entry["key"], "rb") as handle:
                key = serialization.load_pem_private_key(handle.read(), None)
            spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
                raise VerifyError("private key does not match the certificate")
            if entry.get("cert"):
                with open(entry["cert"], "rb") as handle:
                    if x509.load_pem_x509_certificate(handle.read()) != leaf:
                        raise VerifyError("%s is not the fullchain's leaf" % entry["cert"])
        except FileNotFoundError as exc:
            problems.append("%s: missing %s" % (name, exc.filename))
        except (VerifyError, ValueError, TypeError) as exc:
            problems.append("%s: %s" % (name, exc))
        except Exception as exc:  # pylint: disable=broad-except  # e.g. InvalidSignature, ExtensionNotFound
            problems.append("%s: %s: %s" % (name, type(exc).__name__, exc))
    if problems:
        raise VerifyError("%d of %d certificates bad: %s" % (len(problems), len(entries), "; ".join(problems[:5])))


def snapshot(top: str, skip=()) -> dict:
    """{relative path: (kind, size, mtime_ns, sha256 or link target)} of everything under top."""
    result = {}
    for base, dirs, files in os.walk(top):
        rel_base = os.path.relpath(base, top)
        dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(rel_base, d)) not in skip]
        for name in dirs + files:
            path = os.path.join(base, name)
            rel = os.path.normpath(os.path.join(rel_base, name))
            if rel in skip:
                continue
            st = os.lstat(path)
            if os.path.islink(path):
                result[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                result[rel] = ("dir", st.st_mode)
            else:
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
                result[rel] = ("file", st.st_size, st.st_mtime_ns, st.st_mode, digest)
    return result


def compare_snapshots(before: dict, after: dict, normalize=None) -> None:
    changed = []
    for rel in sorted(set(before) | set(after)):
        old, new = before.get(rel), after.get(rel)
        if old != new and not (normalize and normalize(rel, old, new)):
            changed.append("%s %s" % (rel, "added" if old is None else "removed" if new is None else "changed"))
    if changed:
        raise VerifyError("a no-op run changed %d file(s): %s" % (len(changed), ", ".join(changed[:5])))


RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def ansible_recap(log_path: str) -> dict:
    with open(log_path, errors="replace") as handle:
        found = RECAP.findall(handle.read())
    if not found:
        raise VerifyError("no PLAY RECAP in the output")
    host, ok, changed, unreachable, failed = found[-1]
    return {"host": host, "ok": int(ok), "changed": int(changed), "unreachable": int(unreachable),
            "failed": int(failed)}


def check_recap(log_path: str, noop: bool) -> None:
    recap = ansible_recap(log_path)
    if recap["failed"] or recap["unreachable"]:
        raise VerifyError("ansible reports failed=%d unreachable=%d" % (recap["failed"], recap["unreachable"]))
    if noop and recap["changed"]:
        raise VerifyError("ansible reports changed=%d on a no-op run" % recap["changed"])


# --------------------------------------------------------------------------------------------
# Environment: stack, venvs, files
# --------------------------------------------------------------------------------------------

def clean_env(**extra) -> dict:
    """The caller's environment without CA-bundle overrides (each contender gets the stack's CA its own way)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "PYTHONPATH")
           and not k.startswith("ANSIBLE_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def write_json(path: str, data) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(data, handle, indent=1)
    return path


def write_lines(path: str, lines: list) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("".join(line + "\n" for line in lines))
    return path


def fresh_dir(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def names_for(tag: str, n: int) -> list:
    return ["c%04d.%s.bench.example.com" % (i, tag) for i in range(n)]


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
    import glob
    for manifest in glob.glob(os.path.join(venv, "lib", "python*", "site-packages", "ansible_collections",
                                           namespace, name, "MANIFEST.json")):
        with open(manifest) as handle:
            return json.load(handle)["collection_info"]["version"]
    return None


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
        out = subprocess.run(["bash", STACK_SH, "env"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("export "):
                key, value = line[len("export "):].split("=", 1)
                self.env[key] = value.strip("'\"")
        for key in ("ACME_DIRECTORY", "ACME_CA_BUNDLE", "ACME_WEBROOT", "PEBBLE_ROOT"):
            if key not in self.env:
                raise BenchError("scripts/stack.sh env did not give %s" % key)
        if not os.path.isfile(self.env["PEBBLE_ROOT"]):
            raise BenchError("no Pebble root at %s: is the stack running?" % self.env["PEBBLE_ROOT"])

    def stop(self) -> None:
        if self.manage:
            subprocess.run(["bash", STACK_SH, "stop"], capture_output=True, check=False)
            log("stack stopped")

    directory = property(lambda self: self.env["ACME_DIRECTORY"])
    ca = property(lambda self: self.env["ACME_CA_BUNDLE"])
    webroot = property(lambda self: self.env["ACME_WEBROOT"])
    root = property(lambda self: self.env["PEBBLE_ROOT"])


# --------------------------------------------------------------------------------------------
# Contenders
# --------------------------------------------------------------------------------------------

@dataclass
class Context:
    stack: Stack
    args: argparse.Namespace
    work: str = os.path.join(BUILD, "work")
    logs: str = os.path.join(BUILD, "logs")
    seed_dir: str = os.path.join(BUILD, "work", "seed")
    seed_names: list = field(default_factory=list)
    certbot_base: str | None = None
    notes: list = field(default_factory=list)

    def job_dir(self, key: str, n: int) -> str:
        return fresh_dir(os.path.join(self.work, "%s-%d" % (key, n)))


def ansible_playbook_bin() -> str:
    """ansible-playbook of the interpreter running this harness (the project's environment), not a shim."""
    here = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return here if os.path.exists(here) else (shutil.which("ansible-playbook") or "ansible-playbook")


def ansible_env(python: str, collections_path: str, **extra) -> dict:
    return clean_env(ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_PYTHON_INTERPRETER=python,
                     ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                     ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
                     ANSIBLE_HOME=os.path.join(BUILD, "ansible-home"), **extra)


def playbook_command(ansible_playbook: str, playbook: str, varsfile: str, env: dict, timeout: float) -> Command:
    return Command([ansible_playbook, "-i", "localhost,", "-c", "local", playbook, "-e", "@" + varsfile],
                   env=env, timeout=timeout)


class Contender:
    key = ""
    label = ""
    kind = "issue"       # or "no-op"
    sizes_key = "issue"
    venv = None          # "certbot" / "ansible" when it needs one of the bench venvs
    cheap = True         # run --repeat times (median reported); False: once

    def available(self, ctx: Context):
        """None when it can run, else the reason it is skipped."""
        return None

    def prepare(self, ctx: Context, n: int) -> Command:
        raise NotImplementedError

    def verify(self, ctx: Context, n: int, log_path: str) -> None:
        raise NotImplementedError

    @staticmethod
    def timeout(n: int) -> float:
        return 120 + 6 * n


# ---- the floor -------------------------------------------------------------------------------

class Floor(Contender):
    key, label = "floor", "floor: acme lib, tight polling"
    library_polling = False

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        self.names = names_for(self.key, n)
        names_file = write_lines(os.path.join(self.dir, "names"), self.names)
        argv = [sys.executable, os.path.join(BENCH, "floor.py"), "--directory", ctx.stack.directory,
                "--ca-bundle", ctx.stack.ca, "--webroot", ctx.stack.webroot, "--out",
                os.path.join(self.dir, "out"), "--names-file", names_file]
        if self.library_polling:
            argv.append("--library-polling")
        return Command(argv, env=clean_env(), timeout=self.timeout(n))

    def verify(self, ctx, n, log_path):
        out = os.path.join(self.dir, "out")
        verify_certificates([{"name": name, "key": os.path.join(out, name, "privkey.pem"),
                              "fullchain": os.path.join(out, name, "fullchain.pem")} for name in self.names],
                            ctx.stack.root, self.started)


class LibraryPolling(Floor):
    key, label = "libpoll", "acme lib, default polling"
    sizes_key = "libpoll"
    cheap = False
    library_polling = True


# ---- ours: acme_order batch form, and the hooks for playbooks/site.yml and renew.yml ---------

def our_certificate_entries(base: str, names: list) -> list:
    return [{"name": name, "identifiers": [name], "private_key_path": os.path.join(base, name, "privkey.pem"),
             "certificate_path": os.path.join(base, name, "cert.pem"),
             "fullchain_path": os.path.join(base, name, "fullchain.pem")} for name in names]


def our_verify_entries(base: str, names: list) -> list:
    return [{"name": name, "key": os.path.join(base, name, "privkey.pem"),
             "fullchain": os.path.join(base, name, "fullchain.pem"), "cert": os.path.join(base, name, "cert.pem")}
            for name in names]


def copy_seed_to_our_layout(ctx: Context, dest: str, n: int) -> list:
    """The first n seed certificates as acme_order would have left them (metadata file included)."""
    names = ctx.seed_names[:n]
    for name in names:
        shutil.copytree(os.path.join(ctx.seed_dir, name), os.path.join(dest, name))
        os.remove(os.path.join(dest, name, "chain.pem"))  # acme_order is not asked for a chain file here
    return names


class OursBatch(Contender):
    key, label = "ours-batch", "autotls acme_order batch"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        self.names = names_for(self.key, n)
        varsfile = write_json(os.path.join(self.dir, "vars.json"), {
            "acme_directory": ctx.stack.directory, "ca_bundle": ctx.stack.ca, "webroot": ctx.stack.webroot,
            "account_key_path": os.path.join(self.dir, "account.key"),
            "bench_concurrency": ctx.args.concurrency,
            "bench_certificates": our_certificate_entries(os.path.join(self.dir, "certs"), self.names)})
        return playbook_command(ansible_playbook_bin(), os.path.join(BENCH, "ours_issue.yml"), varsfile,
                                ansible_env(sys.executable, COLLECTIONS), self.timeout(n))

    def verify(self, ctx, n, log_path):
        check_recap(log_path, noop=False)
        verify_certificates(our_verify_entries(os.path.join(self.dir, "certs"), self.names), ctx.stack.root,
                            self.started)


class OursBatchNoop(Contender):
    key, label = "ours-batch-noop", "autotls acme_order batch no-op"
    kind, sizes_key = "no-op", "noop"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        certs = os.path.join(self.dir, "certs")
        names = copy_seed_to_our_layout(ctx, certs, n)
        shutil.copy2(os.path.join(ctx.seed_dir, "account.key"), os.path.join(self.dir, "account.key"))
        varsfile = write_json(os.path.join(self.dir, "vars.json"), {
            "acme_directory": ctx.stack.directory, "ca_bundle": ctx.stack.ca, "webroot": ctx.stack.webroot,
            "account_key_path": os.path.join(self.dir, "account.key"),
            "bench_concurrency": ctx.args.concurrency,
            "bench_certificates": our_certificate_entries(certs, names)})
        self.before = snapshot(certs)
        return playbook_command(ansible_playbook_bin(), os.path.join(BENCH, "ours_issue.yml"), varsfile,
                                ansible_env(sys.executable, COLLECTIONS), self.timeout(n))

    def verify(self, ctx, n, log_path):
        check_recap(log_path, noop=True)
        compare_snapshots(self.before, snapshot(os.path.join(self.dir, "certs")))


SITE_YML = os.path.join(ROOT, "playbooks", "site.yml")
RENEW_YML = os.path.join(ROOT, "playbooks", "renew.yml")


def role_vars(ctx: Context, job_dir: str, names: list) -> dict:
    """Inventory variables of the certificate role for a bench job: one host (the control node itself),
    local storage under <job_dir>/store, deployed to <job_dir>/certs/<name>/, no TLS server to verify."""
    return {
        "certificate_hosts": "localhost",
        "ansible_python_interpreter": sys.executable,
        "certificate_contact_email": "bench@example.com",
        "certificate_terms_agreed": True,
        "certificate_acme_directory": ctx.stack.directory,
        "certificate_ca_bundle": ctx.stack.ca,
        "certificate_account_key_path": os.path.join(job_dir, "account.key"),
        "certificate_storage": {"backend": "local", "local_path": os.path.join(job_dir, "store")},
        "certificate_webroot": ctx.stack.webroot,
        "certificate_deploy_dir": os.path.join(job_dir, "certs"),
        "certificate_list": [{"name": name, "identifiers": [name]} for name in names],
        "certificate_verify": False,
        "certificate_concurrency": ctx.args.concurrency,
        "certificate_owner": str(os.getuid()),
        "certificate_group": str(os.getgid()),
    }


def site_yml_command(ctx: Context, job_dir: str, names: list, timeout: float) -> Command:
    """playbooks/site.yml issuing `names`; certificates end up at <job_dir>/certs/<name>/*.pem."""
    varsfile = write_json(os.path.join(job_dir, "vars.json"), role_vars(ctx, job_dir, names))
    return playbook_command(ansible_playbook_bin(), SITE_YML, varsfile, ansible_env(sys.executable, COLLECTIONS),
                            timeout)


def seed_role_store(ctx: Context, job_dir: str, names: list) -> None:
    """Unmeasured preparation of a no-op renew.yml: the seed certificates in cert_store's local storage,
    and deployed exactly as the role deploys them (so nothing is due and nothing differs)."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.autotls.acme.plugins.module_utils._engine import keys  # noqa: E402
    from ansible_collections.autotls.acme.plugins.module_utils._engine import storage  # noqa: E402
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles  # noqa: E402
    backend = storage.open_backend("local", {"local_path": os.path.join(job_dir, "store")})
    store = bundles.CertificateStore(backend, ctx.stack.directory)
    for name in names:
        seed = os.path.join(ctx.seed_dir, name)
        with open(os.path.join(seed, "privkey.pem"), "rb") as handle:
            key = handle.read()
        with open(os.path.join(seed, "fullchain.pem"), "rb") as handle:
            fullchain = handle.read()
        parts = keys.split_pem_certificates(fullchain)
        store.put(name, bundles.make_bundle(key, parts[0], b"".join(parts[1:]), fullchain))
        bundle, _pointer = store.get(name)
        files = bundle.files()
        target = os.path.join(job_dir, "certs", name)
        os.makedirs(target, exist_ok=True)
        for filename, content in files.items():
            path = os.path.join(target, filename)
            with open(path, "wb") as handle:
                handle.write(content)
            os.chmod(path, 0o600 if filename == "privkey.pem" else 0o644)
    backend.close()


def renew_yml_command(ctx: Context, job_dir: str, names: list, timeout: float) -> Command:
    """playbooks/renew.yml over the stored certificates `names` (none due)."""
    varsfile = write_json(os.path.join(job_dir, "vars.json"), role_vars(ctx, job_dir, names))
    return playbook_command(ansible_playbook_bin(), RENEW_YML, varsfile, ansible_env(sys.executable, COLLECTIONS),
                            timeout)


class SiteYml(OursBatch):
    key, label = "site", "autotls site.yml"

    def available(self, ctx):
        return None if os.path.isfile(SITE_YML) else "playbooks/site.yml does not exist yet"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        self.names = names_for(self.key, n)
        return site_yml_command(ctx, self.dir, self.names, self.timeout(n))


class RenewYml(OursBatchNoop):
    key, label = "renew", "autotls renew.yml no-op"

    def available(self, ctx):
        return None if os.path.isfile(RENEW_YML) else "playbooks/renew.yml does not exist yet"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        certs = os.path.join(self.dir, "certs")
        names = ctx.seed_names[:n]
        seed_role_store(ctx, self.dir, names)
        shutil.copy2(os.path.join(ctx.seed_dir, "account.key"), os.path.join(self.dir, "account.key"))
        self.before = snapshot(certs)
        return renew_yml_command(ctx, self.dir, names, self.timeout(n))


# ---- certbot ---------------------------------------------------------------------------------

def certbot_bin() -> str:
    return os.path.join(BUILD, "venv-certbot", "bin", "certbot")


def certbot_env(ctx: Context) -> dict:
    # certbot trusts a private ACME CA through REQUESTS_CA_BUNDLE (never --no-verify-ssl).
    return clean_env(REQUESTS_CA_BUNDLE=ctx.stack.ca)


def certbot_dirs(base: str) -> list:
    return ["--config-dir", os.path.join(base, "config"), "--work-dir", os.path.join(base, "work"),
            "--logs-dir", os.path.join(base, "logs")]


def certbot_certonly(ctx: Context, base: str, name: str) -> list:
    return [certbot_bin(), "certonly", "--non-interactive", "--agree-tos", "-m", "bench@example.com",
            "--no-eff-email", "--server", ctx.stack.directory, "--webroot", "-w", ctx.stack.webroot,
            "-d", name] + certbot_dirs(base)


class CertbotIssue(Contender):
    key, label, venv = "certbot", "certbot certonly --webroot", "certbot"
    cheap = False

    def prepare(self, ctx, n):
        # A fresh config dir: the first invocation registers the account, as it would on a new host
        # (every issue contender creates its account inside the measured run).
        self.dir = ctx.job_dir(self.key, n)
        self.names = names_for(self.key, n)
        script = os.path.join(self.dir, "issue.sh")
        write_lines(script, ["set -e"] + [" ".join(certbot_certonly(ctx, self.dir, name)) for name in self.names])
        return Command(["/bin/sh", script], env=certbot_env(ctx), timeout=self.timeout(n) + 5 * n)

    def verify(self, ctx, n, log_path):
        live = os.path.join(self.dir, "config", "live")
        verify_certificates([{"name": name, "key": os.path.join(live, name, "privkey.pem"),
                              "fullchain": os.path.join(live, name, "fullchain.pem"),
                              "cert": os.path.join(live, name, "cert.pem")} for name in self.names],
                            ctx.stack.root, self.started)


def certbot_base(ctx: Context) -> str:
    """A certbot config with a registered account and one real lineage, made by certbot itself
    (once per bench run): the template every prepared lineage is cloned from."""
    if ctx.certbot_base:
        return ctx.certbot_base
    base = fresh_dir(os.path.join(ctx.work, "certbot-base"))
    name = CERTBOT_TEMPLATE
    proc = subprocess.run(certbot_certonly(ctx, base, name), env=certbot_env(ctx), capture_output=True, text=True,
                          check=False)
    if proc.returncode:
        raise BenchError("certbot could not issue the template lineage:\n%s%s" % (proc.stdout, proc.stderr))
    ctx.certbot_base = base
    return base


CERTBOT_TEMPLATE = "template.certbot-base.bench.example.com"


def make_certbot_lineages(ctx: Context, job_dir: str, n: int) -> list:
    """n lineages in <job_dir>/config, each laid out exactly like certbot's own (archive/<name>/*1.pem,
    live/<name>/ symlinks and README, renewal/<name>.conf cloned from the one certbot wrote for its template
    lineage, the same registered account), holding the seed certificates."""
    base = certbot_base(ctx)
    base_config, config = os.path.join(base, "config"), os.path.join(job_dir, "config")
    with open(os.path.join(base_config, "renewal", CERTBOT_TEMPLATE + ".conf")) as handle:
        template = handle.read()
    os.makedirs(config)
    for sub in ("accounts", "renewal-hooks"):
        shutil.copytree(os.path.join(base_config, sub), os.path.join(config, sub))
    for sub in ("archive", "live", "renewal"):
        os.makedirs(os.path.join(config, sub))
        shutil.copymode(os.path.join(base_config, sub), os.path.join(config, sub))
    names = ctx.seed_names[:n]
    for name in names:
        seed = os.path.join(ctx.seed_dir, name)
        archive = os.path.join(config, "archive", name)
        live = os.path.join(config, "live", name)
        os.makedirs(archive)
        os.makedirs(live)
        for kind, source in (("cert", "cert.pem"), ("chain", "chain.pem"), ("fullchain", "fullchain.pem"),
                             ("privkey", "privkey.pem")):
            shutil.copy2(os.path.join(seed, source), os.path.join(archive, kind + "1.pem"))
            os.symlink(os.path.join("..", "..", "archive", name, kind + "1.pem"), os.path.join(live, kind + ".pem"))
        shutil.copy2(os.path.join(base_config, "live", CERTBOT_TEMPLATE, "README"), os.path.join(live, "README"))
        with open(os.path.join(config, "renewal", name + ".conf"), "w") as handle:
            handle.write(template.replace(base + os.sep, job_dir + os.sep).replace(CERTBOT_TEMPLATE, name))
    return names


ARI_SECTION = re.compile(r"^\[acme_renewal_info\]\n(?:[^\[\n].*\n?)*", re.M)


class CertbotRenew(Contender):
    key, label, venv = "certbot-renew", "certbot renew no-op", "certbot"
    kind, sizes_key = "no-op", "noop"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        self.names = make_certbot_lineages(ctx, self.dir, n)
        self.confs = {}
        for name in self.names:
            with open(os.path.join(self.dir, "config", "renewal", name + ".conf")) as handle:
                self.confs[os.path.join("renewal", name + ".conf")] = handle.read()
        self.before = snapshot(os.path.join(self.dir, "config"))
        argv = [certbot_bin(), "renew", "--non-interactive", "--no-random-sleep-on-renew"] + certbot_dirs(self.dir)
        return Command(argv, env=certbot_env(ctx), timeout=self.timeout(n))

    def verify(self, ctx, n, log_path):
        with open(log_path, errors="replace") as handle:
            text = handle.read()
        skipped = len(re.findall(r"^\s+\S+/fullchain\.pem expires on .*\(skipped\)\s*$", text, re.M))
        if "No renewals were attempted." not in text or skipped != n:
            raise VerifyError("expected 'No renewals were attempted.' and %d skipped lineages, got %d" % (n, skipped))

        def bookkeeping(rel, old, new):
            # certbot renew records in each renewal .conf when to ask for ACME Renewal Info next
            # ([acme_renewal_info] ari_retry_after): bookkeeping, not a change of any certificate.
            if rel not in self.confs or not (old and new):
                return False
            with open(os.path.join(self.dir, "config", rel)) as handle:
                return ARI_SECTION.sub("", handle.read()) == ARI_SECTION.sub("", self.confs[rel])
        compare_snapshots(self.before, snapshot(os.path.join(self.dir, "config")), bookkeeping)


# ---- community.crypto --------------------------------------------------------------------------

def cc_python() -> str:
    return os.path.join(BUILD, "venv-ansible", "bin", "python")


def cc_command(ctx: Context, job_dir: str, names: list, timeout: float) -> Command:
    varsfile = write_json(os.path.join(job_dir, "vars.json"), {
        "acme_directory": ctx.stack.directory, "webroot": ctx.stack.webroot, "cc_dir": os.path.join(job_dir, "cc"),
        "cc_names": names})
    # Only the community.crypto bundled with the `ansible` package (an empty collections path keeps
    # ~/.ansible/collections out); the CA through SSL_CERT_FILE, which Ansible's URL code honours.
    empty = os.path.join(BUILD, "no-collections")
    os.makedirs(empty, exist_ok=True)
    env = ansible_env(cc_python(), empty, SSL_CERT_FILE=ctx.stack.ca, REQUESTS_CA_BUNDLE=ctx.stack.ca)
    return playbook_command(os.path.join(BUILD, "venv-ansible", "bin", "ansible-playbook"),
                            os.path.join(BENCH, "cc_acme.yml"), varsfile, env, timeout)


def write_account_key(path: str) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    key = ec.generate_private_key(ec.SECP256R1())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


class CCIssue(Contender):
    key, label, venv = "cc", "community.crypto playbook", "ansible"
    cheap = False
    sizes_key = "cc-issue"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        self.names = names_for(self.key, n)
        os.makedirs(os.path.join(self.dir, "cc"))
        write_account_key(os.path.join(self.dir, "cc", "account.key"))  # the account is created by the play
        return cc_command(ctx, self.dir, self.names, self.timeout(n))

    def verify(self, ctx, n, log_path):
        # The documented flow leaves its challenge files in the webroot; clear them for the next runs.
        challenges = os.path.join(ctx.stack.webroot, ".well-known", "acme-challenge")
        for entry in os.listdir(challenges):
            if os.path.isfile(os.path.join(challenges, entry)):
                os.unlink(os.path.join(challenges, entry))
        check_recap(log_path, noop=False)
        cc = os.path.join(self.dir, "cc")
        verify_certificates([{"name": name, "key": os.path.join(cc, name + ".key"),
                              "fullchain": os.path.join(cc, name + "-fullchain.crt"),
                              "cert": os.path.join(cc, name + ".crt")} for name in self.names],
                            ctx.stack.root, self.started)


def write_cc_csr(key_path: str, name: str, csr_path: str) -> None:
    """The CSR openssl_csr makes for common_name=name, subject_alt_name=[DNS:name] (it then finds it current)."""
    x509, serialization = _load_crypto()
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    with open(key_path, "rb") as handle:
        key = serialization.load_pem_private_key(handle.read(), None)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
           .sign(key, hashes.SHA256()))
    with open(csr_path, "wb") as handle:
        handle.write(csr.public_bytes(serialization.Encoding.PEM))


class CCNoop(Contender):
    key, label, venv = "cc-noop", "community.crypto no-op", "ansible"
    cheap = False
    kind, sizes_key = "no-op", "cc-noop"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        cc = os.path.join(self.dir, "cc")
        os.makedirs(cc)
        shutil.copy2(os.path.join(ctx.seed_dir, "account.key"), os.path.join(cc, "account.key"))
        names = ctx.seed_names[:n]
        for name in names:
            seed = os.path.join(ctx.seed_dir, name)
            shutil.copy2(os.path.join(seed, "privkey.pem"), os.path.join(cc, name + ".key"))
            os.chmod(os.path.join(cc, name + ".key"), 0o600)
            shutil.copy2(os.path.join(seed, "cert.pem"), os.path.join(cc, name + ".crt"))
            shutil.copy2(os.path.join(seed, "fullchain.pem"), os.path.join(cc, name + "-fullchain.crt"))
            write_cc_csr(os.path.join(cc, name + ".key"), name, os.path.join(cc, name + ".csr"))
        self.before = snapshot(cc)
        return cc_command(ctx, self.dir, names, self.timeout(n) + 3 * n)

    def verify(self, ctx, n, log_path):
        check_recap(log_path, noop=True)
        compare_snapshots(self.before, snapshot(os.path.join(self.dir, "cc")))


CONTENDERS = [Floor(), LibraryPolling(), OursBatch(), SiteYml(), CertbotIssue(), CCIssue(),
              OursBatchNoop(), RenewYml(), CertbotRenew(), CCNoop()]


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------

def make_seed(ctx: Context, n: int) -> None:
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


def plan(args) -> list:
    sizes = dict(SMOKE_SIZES if args.smoke else FULL_SIZES)
    for spec in args.sizes or []:
        kind, values = (spec.split("=", 1) + [""])[:2]
        if kind not in FULL_SIZES:
            raise SystemExit("--sizes: unknown kind %r (one of %s)" % (kind, ", ".join(FULL_SIZES)))
        sizes[kind] = [int(v) for v in values.split(",") if v.strip()]
    only = {k.strip() for spec in (args.only or []) for k in spec.split(",") if k.strip()}
    unknown = only - {c.key for c in CONTENDERS}
    if unknown:
        raise SystemExit("--only: unknown contender(s) %s (known: %s)"
                         % (", ".join(sorted(unknown)), ", ".join(c.key for c in CONTENDERS)))
    chosen = [c for c in CONTENDERS if (c.key in only if only else (not args.smoke or c.key in SMOKE_CONTENDERS))]
    jobs = []
    for kind in ("issue", "no-op"):
        ns = sorted({n for c in chosen if c.kind == kind for n in sizes.get(c.sizes_key, [])})
        for n in ns:
            jobs += [(c, n) for c in chosen if c.kind == kind and n in sizes.get(c.sizes_key, [])]
    return jobs


def run_once(ctx: Context, contender, n: int, attempt: int) -> dict:
    """Prepare, measure and verify one run; the result row of that run."""
    log_path = os.path.join(ctx.logs, "%s-%d%s.log" % (contender.key, n, "" if attempt == 0 else "-%d" % attempt))
    row = {"log": os.path.relpath(log_path, ROOT)}
    try:
        cmd = contender.prepare(ctx, n)
    except (BenchError, OSError, subprocess.CalledProcessError) as exc:
        return dict(row, status="error", note="prepare failed: %s" % str(exc)[:500])
    contender.started = time.time()
    row.update(measure(cmd, log_path))
    if row["rc"] != 0 or row["timed_out"]:
        row.update(status="failed", note="%s; see %s" % (
            "timed out after %.0f s" % cmd.timeout if row["timed_out"] else "exit %d" % row["rc"], row["log"]))
    else:
        try:
            contender.verify(ctx, n, log_path)
            row["status"] = "ok"
        except (VerifyError, OSError) as exc:
            row.update(status="unverified", note="%s; see %s" % (str(exc)[:500], row["log"]))
    if row["status"] != "ok":
        sys.stdout.write(tail(log_path))
    return row


def run_jobs(ctx: Context, jobs: list) -> list:
    """Every (contender, N); cheap contenders run --repeat times and report their median-wall run."""
    results = []
    for contender, n in jobs:
        row = {"key": contender.key, "contender": contender.label, "kind": contender.kind, "n": n}
        results.append(row)
        reason = contender.available(ctx)
        if reason:
            row.update(status="skipped", note=reason)
            log("%-32s N=%-5d skipped: %s" % (contender.label, n, reason))
            continue
        runs = []
        for attempt in range(ctx.args.repeat if contender.cheap else 1):
            runs.append(run_once(ctx, contender, n, attempt))
            if runs[-1]["status"] != "ok":
                break
        if runs[-1]["status"] != "ok":
            row.update(runs[-1])
            log("%-32s N=%-5d %s: %s" % (contender.label, n, row["status"].upper(), row["note"]))
            continue
        row.update(sorted(runs, key=lambda r: r["wall"])[len(runs) // 2])
        row.update(runs=len(runs), walls=[round(r["wall"], 3) for r in runs])
        log("%-32s N=%-5d ok  wall %8.2f s  cpu %8.2f s  peak %6.1f MB%s" % (
            contender.label, n, row["wall"], row["cpu"], row["peak_mb"],
            "  (median of %s)" % ", ".join("%.2f" % w for w in row["walls"]) if len(runs) > 1 else ""))
    return results


def add_ratios(results: list) -> None:
    def wall(key, n):
        for r in results:
            if r["key"] == key and r["n"] == n and r.get("status") == "ok":
                return r["wall"]
        return None
    for r in results:
        if r.get("status") != "ok":
            continue
        r["per_cert"] = r["wall"] / r["n"] if r["n"] else None
        certbot = wall("certbot" if r["kind"] == "issue" else "certbot-renew", r["n"])
        r["vs_certbot"] = r["wall"] / certbot if certbot else None
        floor = wall("floor", r["n"]) if r["kind"] == "issue" else None
        r["vs_floor"] = r["wall"] / floor if floor else None


def evaluate_targets(results: list) -> list:
    def get(key, n, what="wall"):
        for r in results:
            if r["key"] == key and r["n"] == n and r.get("status") == "ok":
                return r[what]
        return None

    def slope(key, low=20, high=100):
        a, b = get(key, low), get(key, high)
        return (b - a) / (high - low) if a is not None and b is not None else None

    targets = []

    def target(name, lhs, op, rhs, factor, what):
        if lhs is None or rhs is None:
            targets.append({"target": name, "status": "n/a", "detail": "not measured in this run"})
            return
        limit = rhs * factor
        ok = lhs <= limit if op == "<=" else lhs < limit
        targets.append({"target": name, "status": "PASS" if ok else "FAIL", "value": lhs, "limit": limit,
                        "detail": "%s %.3f %s %.3f" % (what, lhs, op, limit)})

    for issue, noop, suffix in (("site", "renew", ""), ("ours-batch", "ours-batch-noop",
                                                        " [stand-in: acme_order batch]")):
        iname = "site.yml" if issue == "site" else "acme_order batch"
        nname = "renew.yml" if noop == "renew" else "acme_order batch no-op"
        target("%s issue N=100 <= 0.1 x certbot N=100%s" % (iname, suffix), get(issue, 100), "<=",
               get("certbot", 100), 0.1, "wall s")
        target("%s slope N=20..100 <= 3 x floor slope%s" % (iname, suffix), slope(issue), "<=", slope("floor"), 3.0,
               "s/cert")
        target("%s N=1000 <= 1.5 x N=10%s" % (nname, suffix), get(noop, 1000), "<=", get(noop, 10), 1.5, "wall s")
        target("%s N=1000 <= certbot renew N=1000%s" % (nname, suffix), get(noop, 1000), "<=",
               get("certbot-renew", 1000), 1.0, "wall s")
        target("%s N=1000 <= 0.02 x community.crypto no-op N=200%s" % (nname, suffix), get(noop, 1000), "<=",
               get("cc-noop", 200), 0.02, "wall s")
        target("%s N=1000 peak RSS of one process < 200 MB%s" % (nname, suffix), get(noop, 1000, "peak_mb"), "<",
               200.0, 1.0, "MB")
    return targets


def fmt(value, spec="%.2f"):
    return "" if value is None else spec % value


COLUMNS = ("contender", "kind", "N", "runs", "wall s", "CPU s", "peak MB", "wall/cert s", "x certbot", "x floor",
           "result")
LEFT = (0, 1, len(COLUMNS) - 1)  # left-aligned columns


def table_rows(results: list) -> list:
    rows = []
    for r in results:
        ok = r.get("status") == "ok"
        rows.append((r["contender"], r["kind"], str(r["n"]), str(r.get("runs", "")), fmt(r.get("wall")),
                     fmt(r.get("cpu")),
                     fmt(r.get("peak_mb"), "%.0f"), fmt(r.get("per_cert"), "%.3f") if ok else "",
                     fmt(r.get("vs_certbot"), "%.3f") if ok else "", fmt(r.get("vs_floor"), "%.1f") if ok else "",
                     r.get("status", "") if ok else "%s: %s" % (r.get("status"), r.get("note", ""))[:90]))
    return rows


def print_table(results: list, targets: list) -> None:
    rows = table_rows(results)
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]
    line = "  ".join(("%-*s" if i in LEFT else "%*s") % (w, c) for i, (w, c) in enumerate(zip(widths, COLUMNS)))
    print("\n" + line.rstrip() + "\n" + "-" * len(line.rstrip()))
    for row in rows:
        print("  ".join(("%-*s" if i in LEFT else "%*s") % (w, c) for i, (w, c) in enumerate(zip(widths, row))).rstrip())
    print("\nTargets (ratios measured in this run):")
    for t in targets:
        print("  %-4s  %s%s" % (t["status"], t["target"], "  (%s)" % t["detail"] if t.get("detail") else ""))


def meta_info(ctx: Context, args) -> dict:
    import importlib.metadata as md
    cpu = ""
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    versions = {}
    for dist in ("acme", "ansible-core", "cryptography"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    for name in VENVS:
        venv = os.path.join(BUILD, "venv-" + name)
        if os.path.isdir(venv):
            for dist, version in venv_versions(venv, ["certbot"] if name == "certbot" else
                                               ["ansible", "ansible-core"]).items():
                versions["%s (%s venv)" % (dist, name)] = version
            if name == "ansible":
                versions["community.crypto (ansible venv)"] = collection_version(venv, "community", "crypto")
    try:
        versions["pebble"] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "pebble"], capture_output=True,
                                            text=True, check=False).stdout.strip() or None
    except OSError:
        versions["pebble"] = None
    mem = ""
    try:
        with open("/proc/meminfo") as handle:
            mem = "%.0f GiB" % (int(handle.readline().split()[1]) / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": "%s, %d cores, %s, %s" % (cpu or platform.machine(), os.cpu_count() or 0, mem,
                                                 platform.platform(terse=True)),
            "python": platform.python_version(), "versions": versions, "stack": dict(STACK_SETTINGS),
            "concurrency": args.concurrency, "smoke": bool(args.smoke), "notes": ctx.notes,
            "command": "python3 bench/run.py " + " ".join(sys.argv[1:])}


def write_markdown(path: str, meta: dict, results: list, targets: list) -> None:
    out = ["# autotls.acme benchmark: latest results", "",
           "%s on %s; Python %s." % (meta["date"], meta["machine"], meta["python"]),
           "Pebble %s with %s. Command: `%s`." % (
               meta["versions"].get("pebble"), " ".join("%s=%s" % kv for kv in meta["stack"].items()),
               meta["command"].strip()),
           "Versions: %s." % ", ".join("%s %s" % (k, v) for k, v in meta["versions"].items() if k != "pebble" and v),
           "", "| " + " | ".join(COLUMNS) + " |", "|" + "|".join(
               "---" if i in LEFT else "---:" for i in range(len(COLUMNS))) + "|"]
    out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in table_rows(results)]
    out += ["", "wall: elapsed time; CPU: user+system time of the whole process tree (client side only; the CA, "
            "DNS and web server are not counted); peak MB: the largest resident set of any single process in the "
            "tree; x certbot: wall time against certbot at the same N (certonly for issuing, renew for no-op); "
            "x floor: against the bare acme-library script at the same N; runs: how many runs the row is the median "
            "(by wall time) of.", "", "Targets:", ""]
    out += ["| status | target | measured |", "|---|---|---|"]
    out += ["| %s | %s | %s |" % (t["status"], t["target"], t.get("detail", "")) for t in targets]
    if meta["notes"]:
        out += [""] + ["- " + note for note in meta["notes"]]
    with open(path, "w") as handle:
        handle.write("\n".join(out) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--smoke", action="store_true", help="tiny N, our contenders and the floor only")
    parser.add_argument("--only", action="append", metavar="KEY[,KEY]", help="run only these contenders")
    parser.add_argument("--sizes", action="append", metavar="KIND=N[,N]", help="override the sizes of one kind")
    parser.add_argument("--concurrency", type=int, default=4, help="acme_order's concurrency (default 4)")
    parser.add_argument("--repeat", type=int, help="runs of each cheap contender, median reported "
                                                   "(default 3; 1 with --smoke); certbot issuing, community.crypto "
                                                   "and the library-polling script always run once")
    parser.add_argument("--out", help="where latest.md/latest.json go (default bench/results, "
                                      "build/bench/smoke with --smoke)")
    parser.add_argument("--keep-stack", action="store_true", help="leave the ACME stack running afterwards")
    parser.add_argument("--no-stack", action="store_true",
                        help="use the stack that is already running (its settings are then yours to choose)")
    parser.add_argument("--install-only", action="store_true", help="create/refresh the contenders' venvs, then exit")
    parser.add_argument("--enforce-targets", action="store_true", help="exit 1 when a measured target fails")
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.smoke else 3

    jobs = plan(args)
    venvs = sorted({job[0].venv for job in jobs if job[0].venv})
    if args.install_only:
        for name in sorted(VENVS):
            ensure_venv(name)
        return 0
    if not jobs:
        log("nothing to run")
        return 0
    for name in venvs:
        ensure_venv(name)
    ensure_collection_link()
    os.makedirs(BUILD, exist_ok=True)
    out_dir = args.out or (os.path.join(BUILD, "smoke") if args.smoke else os.path.join(BENCH, "results"))
    stack = Stack(manage=not args.no_stack)
    ctx = Context(stack=stack, args=args)
    shutil.rmtree(ctx.logs, ignore_errors=True)
    started = time.monotonic()
    try:
        stack.start()
        noop_sizes = [n for c, n in jobs if c.kind == "no-op" and c.available(ctx) is None]
        if noop_sizes:
            try:
                make_seed(ctx, max(noop_sizes))
            except BenchError as exc:
                if not stack.manage:
                    raise
                # Pebble 2.4 has been seen to stop answering under concurrent orders (its in-memory
                # store deadlocks); nothing has been measured yet, so a fresh stack costs nothing.
                log("seed issuance failed (%s); restarting the stack and trying once more"
                    % str(exc).strip().splitlines()[-1])
                stack.start()
                make_seed(ctx, max(noop_sizes))
        results = run_jobs(ctx, jobs)
    except BenchError as exc:
        log("ERROR: %s" % exc)
        return 2
    finally:
        if not args.keep_stack:
            stack.stop()
    add_ratios(results)
    targets = evaluate_targets(results)
    meta = meta_info(ctx, args)
    meta["total_seconds"] = round(time.monotonic() - started, 1)
    print_table(results, targets)
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "latest.json"), {"meta": meta, "results": results, "targets": targets})
    write_markdown(os.path.join(out_dir, "latest.md"), meta, results, targets)
    log("wrote %s/latest.md and latest.json (%.0f s in all)" % (os.path.relpath(out_dir, ROOT), meta["total_seconds"]))
    bad = [r for r in results if r.get("status") in ("failed", "unverified", "error")]
    if bad:
        log("%d run(s) did not count: %s" % (len(bad), ", ".join("%s N=%d" % (r["key"], r["n"]) for r in bad)))
        return 1
    if args.enforce_targets and any(t["status"] == "FAIL" for t in targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
