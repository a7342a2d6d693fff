"""The hosts dimension: renew.yml over an inventory of H hosts (local connection, each host its own deploy
directory, the same certificates on each (--certs-per-host, 20), one shared storage), with nothing due and with one
certificate due, at Ansible's default forks and at forks = 20; and the Ansible floor (bench/ansible_floor.yml,
one `debug` task) over the same inventory, and over the one-host inventory of the certificate dimension."""
from __future__ import annotations

import json
import os
import re
import shutil
import sys

from bench.common import BENCH, COLLECTIONS, write_json
from bench.contenders.base import Contender, ansible_env, ansible_playbook_bin, playbook_command
from bench.contenders.ours import RENEW_YML, role_vars, seed_role_store
from bench.measure import Command
from bench.verify import VerifyError, check_recap, compare_snapshots, snapshot, verify_certificates

FORKS = 20  # the "forks = 20" variant; the other runs with Ansible's default (5)
ANSIBLE_FLOOR_YML = os.path.join(BENCH, "ansible_floor.yml")


def host_names(hosts: int) -> list:
    return ["h%03d" % i for i in range(1, hosts + 1)]


def hosts_inventory(ctx, job_dir: str, hosts: int, names: list, extra: dict | None = None) -> str:
    """An inventory of `hosts` hosts in the group `web` (local connection, each with its own deploy
    directory <job_dir>/hosts/<host>/certs), the role's variables in `all` vars, as the README shows."""
    common = role_vars(ctx, job_dir, names)
    common.pop("certificate_deploy_dir")
    common.update(certificate_hosts="web", ansible_connection="local", **(extra or {}))
    inventory = {"all": {"vars": common, "children": {"web": {"hosts": {
        host: {"certificate_deploy_dir": os.path.join(job_dir, "hosts", host, "certs")}
        for host in host_names(hosts)}}}}}
    # JSON is YAML: Ansible's yaml inventory plugin reads it.
    return write_json(os.path.join(job_dir, "inventory.yml"), inventory)


def inventory_command(playbook: str, inventory: str, forks: int | None, timeout: float) -> Command:
    env = ansible_env(sys.executable, COLLECTIONS, ANSIBLE_FORKS=str(forks) if forks else None)
    return Command([ansible_playbook_bin(), "-i", inventory, playbook], env=env, timeout=timeout)


def hosts_timeout(hosts: int) -> float:
    return 300 + 10 * hosts


def lifetime_days(cert_pem_path: str) -> float:
    from cryptography import x509
    with open(cert_pem_path, "rb") as handle:
        cert = x509.load_pem_x509_certificate(handle.read())
    return (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds() / 86400


def check_recap_hosts(log_path: str, hosts: list, noop: bool) -> None:
    """Every host of the inventory appears in the last PLAY RECAP, none failed (none changed on a no-op run)."""
    check_recap(log_path, noop)
    with open(log_path, errors="replace") as handle:
        text = handle.read()
    recap = text[text.rindex("PLAY RECAP"):]
    seen = set(re.findall(r"^(\S+)\s*:\s*ok=", recap, re.M))
    missing = sorted(set(hosts) - seen)
    if missing:
        raise VerifyError("%d host(s) missing from the PLAY RECAP: %s" % (len(missing), ", ".join(missing[:5])))


class AnsibleFloor(Contender):
    """One debug task over the certificate dimension's one-host inventory (`-i localhost, -c local`)."""
    key, label = "ansible-floor", "Ansible floor: one debug task"
    kind, sizes_key = "no-op", "ansible-floor"

    def seed_needed(self, ctx, n):
        return 0

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        varsfile = write_json(os.path.join(self.dir, "vars.json"), {"ansible_python_interpreter": sys.executable})
        return playbook_command(ansible_playbook_bin(), ANSIBLE_FLOOR_YML, varsfile,
                                ansible_env(sys.executable, COLLECTIONS), self.timeout(n))

    def verify(self, ctx, n, log_path):
        check_recap_hosts(log_path, ["localhost"], noop=True)


class HostsContender(Contender):
    kind, sizes_key = "hosts", "hosts"
    forks = None
    floor = False

    def seed_needed(self, ctx, n):
        return 0 if self.floor else ctx.args.certs_per_host


class HostsFloor(HostsContender):
    key, label = "ansible-floor-hosts", "Ansible floor: one debug task, H hosts"
    floor = True

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        inventory = hosts_inventory(ctx, self.dir, n, ctx.seed_names[:ctx.args.certs_per_host])
        return inventory_command(ANSIBLE_FLOOR_YML, inventory, self.forks, hosts_timeout(n))

    def verify(self, ctx, n, log_path):
        check_recap_hosts(log_path, host_names(n), noop=True)


class HostsFloorForks(HostsFloor):
    key, label = "ansible-floor-hosts-f%d" % FORKS, "Ansible floor: one debug task, forks %d" % FORKS
    forks = FORKS


class RenewHosts(HostsContender):
    """renew.yml over H hosts with --certs-per-host stored and deployed certificates each, none due."""
    key, label = "renew-hosts", "renew.yml no-op, H hosts"

    def prepare_job(self, ctx, n, extra=None):
        self.dir = ctx.job_dir(self.key, n)
        self.names = ctx.seed_names[:ctx.args.certs_per_host]
        seed_role_store(ctx, self.dir, self.names)  # the store, and one deployed copy at <dir>/certs
        shutil.copy2(os.path.join(ctx.seed_dir, "account.key"), os.path.join(self.dir, "account.key"))
        for host in host_names(n):
            shutil.copytree(os.path.join(self.dir, "certs"), os.path.join(self.dir, "hosts", host, "certs"),
                            symlinks=True)
        shutil.rmtree(os.path.join(self.dir, "certs"))
        self.before = snapshot(os.path.join(self.dir, "hosts"))
        return hosts_inventory(ctx, self.dir, n, self.names, extra)

    def prepare(self, ctx, n):
        inventory = self.prepare_job(ctx, n)
        return inventory_command(RENEW_YML, inventory, self.forks, hosts_timeout(n))

    def verify(self, ctx, n, log_path):
        check_recap_hosts(log_path, host_names(n), noop=True)
        compare_snapshots(self.before, snapshot(os.path.join(self.dir, "hosts")))


class RenewHostsForks(RenewHosts):
    key, label = "renew-hosts-f%d" % FORKS, "renew.yml no-op, forks %d" % FORKS
    forks = FORKS


class RenewHostsOneDue(RenewHosts):
    """The same, with the first certificate due by policy (renew_before_days one second below its lifetime):
    exactly one order at the CA, the new certificate deployed on every host, nothing else changed."""
    key, label = "renew-hosts-due", "renew.yml one due, H hosts"
    cheap = True

    def prepare(self, ctx, n):
        inventory = self.prepare_job(ctx, n)
        with open(inventory) as handle:
            data = json.load(handle)
        due = self.names[0]
        days = lifetime_days(os.path.join(ctx.seed_dir, due, "cert.pem")) - 1 / 86400
        for entry in data["all"]["vars"]["certificate_list"]:
            if entry["name"] == due:
                entry["renew_before_days"] = days
        write_json(inventory, data)
        self.due = due
        self.orders_before = ctx.stack.pebble_orders()
        return inventory_command(RENEW_YML, inventory, self.forks, hosts_timeout(n))

    def verify(self, ctx, n, log_path):
        check_recap_hosts(log_path, host_names(n), noop=False)
        orders = ctx.stack.pebble_orders() - self.orders_before
        if orders != 1:
            raise VerifyError("Pebble's log shows %d new order(s), expected exactly 1" % orders)
        after = snapshot(os.path.join(self.dir, "hosts"))
        prefix = tuple(os.path.join(host, "certs", self.due) + os.sep for host in host_names(n))

        def renewed(rel, old, new):
            return rel.startswith(prefix)
        compare_snapshots(self.before, after, renewed)
        # every host holds the one certificate storage now has for the due name, and it is new
        verify_certificates([{"name": self.due, "key": os.path.join(self.dir, "hosts", host, "certs", self.due,
                                                                    "privkey.pem"),
                              "fullchain": os.path.join(self.dir, "hosts", host, "certs", self.due, "fullchain.pem"),
                              "cert": os.path.join(self.dir, "hosts", host, "certs", self.due, "cert.pem")}
                             for host in host_names(n)], ctx.stack.root, self.started)
        serials = {self._serial(os.path.join(self.dir, "hosts", host, "certs", self.due, "cert.pem"))
                   for host in host_names(n)}
        if len(serials) != 1:
            raise VerifyError("hosts hold %d different certificates for %s" % (len(serials), self.due))

    @staticmethod
    def _serial(path):
        from cryptography import x509
        with open(path, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read()).serial_number


class RenewHostsOneDueForks(RenewHostsOneDue):
    key, label = "renew-hosts-due-f%d" % FORKS, "renew.yml one due, forks %d" % FORKS
    forks = FORKS


HOSTS_CONTENDERS = [HostsFloor(), RenewHosts(), RenewHostsOneDue(), HostsFloorForks(), RenewHostsForks(),
                    RenewHostsOneDueForks()]
