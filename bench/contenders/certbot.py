"""certbot: `certonly --webroot` once per certificate, and `renew` over lineages laid out exactly like its own."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

from bench.common import BUILD, BenchError, clean_env, fresh_dir, names_for, write_lines
from bench.contenders.base import Context, Contender
from bench.measure import Command
from bench.verify import check_certbot_noop, compare_snapshots, read_log, snapshot, verify_certificates


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
        check_certbot_noop(read_log(log_path), n)

        def bookkeeping(rel, old, new):
            # certbot renew records in each renewal .conf when to ask for ACME Renewal Info next
            # ([acme_renewal_info] ari_retry_after): bookkeeping, not a change of any certificate.
            if rel not in self.confs or not (old and new):
                return False
            with open(os.path.join(self.dir, "config", rel)) as handle:
                return ARI_SECTION.sub("", handle.read()) == ARI_SECTION.sub("", self.confs[rel])
        compare_snapshots(self.before, snapshot(os.path.join(self.dir, "config")), bookkeeping)
