"""Ours: acme_order's batch form (bench/ours_issue.yml), playbooks/site.yml issuing, and the no-op runs of both
(the batch again over its files, playbooks/renew.yml over stored certificates)."""
from __future__ import annotations

import os
import shutil
import sys

from bench.common import BENCH, COLLECTIONS, ROOT, names_for, write_json
from bench.contenders.base import Context, Contender, ansible_env, ansible_playbook_bin, playbook_command
from bench.measure import Command
from bench.verify import check_recap, compare_snapshots, snapshot, verify_certificates


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


def role_playbook_command(ctx: Context, playbook: str, job_dir: str, names: list, timeout: float) -> Command:
    """playbooks/site.yml issuing `names`, or renew.yml over them stored (none due); certificates end up at
    <job_dir>/certs/<name>/*.pem."""
    varsfile = write_json(os.path.join(job_dir, "vars.json"), role_vars(ctx, job_dir, names))
    return playbook_command(ansible_playbook_bin(), playbook, varsfile, ansible_env(sys.executable, COLLECTIONS),
                            timeout)


def seed_role_store(ctx: Context, job_dir: str, names: list) -> None:
    """Unmeasured preparation of a no-op renew.yml: the seed certificates in cert_store's local storage,
    and deployed exactly as the role deploys them (so nothing is due and nothing differs)."""
    sys.path.insert(0, COLLECTIONS)
    from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import factory
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
    backend = factory.open_backend("local", {"local_path": os.path.join(job_dir, "store")})
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


class SiteYml(OursBatch):
    key, label = "site", "autotls site.yml"

    def available(self, ctx):
        return None if os.path.isfile(SITE_YML) else "playbooks/site.yml does not exist yet"

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        self.names = names_for(self.key, n)
        return role_playbook_command(ctx, SITE_YML, self.dir, self.names, self.timeout(n))


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
        return role_playbook_command(ctx, RENEW_YML, self.dir, names, self.timeout(n))
