# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that shape the certificate role's data, so its tasks stay declarative.

Plain data in, plain data out: the role calls them once per run, not per host or per item.
"""
from __future__ import annotations

import posixpath

FILES = ("privkey", "cert", "chain", "fullchain")
PATH_OPTIONS = {"privkey": "private_key_path", "cert": "certificate_path", "chain": "chain_path",
                "fullchain": "fullchain_path"}


def certificate_plan(certificate_list, staging_dir, key_type="ecdsa-p256", services=None,
                     verify=True, verify_port=443, renew_before_days=0):
    """Every certificate with its defaults filled in, its staging paths and explicit deploy paths.

    The plan is made once per run; deploy paths that are not explicit depend on
    each host's certificate_deploy_dir and are filled in by certificate_deploy_files.
    """
    plan = []
    for item in certificate_list or []:
        name = item["name"]
        days = item.get("renew_before_days")
        if days is None:
            days = renew_before_days or None
        entry = {
            "name": name,
            "identifiers": list(item["identifiers"]),
            "key_type": item.get("key_type") or key_type,
            "reuse_key": bool(item.get("reuse_key")),
            "renew_before_days": days,
            "services": list(item["services"] if item.get("services") is not None else services or []),
            "verify": verify if item.get("verify") is None else bool(item["verify"]),
            "verify_port": item.get("verify_port") or verify_port,
            "deploy": {},
            "staging": {},
        }
        for kind in FILES:
            entry["deploy"][kind] = item.get(PATH_OPTIONS[kind])
            entry["staging"][kind] = posixpath.join(staging_dir, name, kind + ".pem")
        plan.append(entry)
    return plan


def certificate_due(plan, info, force=False):
    """Names whose stored certificate is missing, due, or names other identifiers than asked."""
    stored = {entry["name"]: entry for entry in (info or {}).get("certificates", [])}
    due = []
    for cert in plan:
        entry = stored.get(cert["name"])
        if force or entry is None or not entry.get("exists", True) or entry.get("due"):
            due.append(cert["name"])
        elif entry.get("identifiers") is not None and sorted(entry["identifiers"]) != sorted(
                ident.lower().rstrip(".") for ident in cert["identifiers"]):
            due.append(cert["name"])  # names added or removed
        elif cert["renew_before_days"] is not None and entry.get("days_left") is not None \
                and entry["days_left"] < cert["renew_before_days"]:
            due.append(cert["name"])
    return due


def certificate_order_requests(plan, names):
    """acme_order entries (paths in the staging directory) for the named certificates."""
    wanted = set(names or [])
    return [{"name": cert["name"], "identifiers": cert["identifiers"], "key_type": cert["key_type"],
             "reuse_key": cert["reuse_key"], "private_key_path": cert["staging"]["privkey"],
             "certificate_path": cert["staging"]["cert"], "chain_path": cert["staging"]["chain"],
             "fullchain_path": cert["staging"]["fullchain"]} for cert in plan if cert["name"] in wanted]


def certificate_deploy_files(plan, deploy_dir):
    """One entry per file to deploy on a host: source in staging, destination, whether it is a key."""
    return [{"name": cert["name"], "kind": kind, "src": cert["staging"][kind],
             "dest": cert["deploy"][kind] or posixpath.join(deploy_dir, cert["name"], kind + ".pem"),
             "key": kind == "privkey"} for cert in plan for kind in FILES]


def certificate_reload_services(deploy_results, plan):
    """Services of the certificates whose deployed files changed, each once."""
    changed = {result["item"]["name"] for result in deploy_results or [] if result.get("changed")}
    services = []
    for cert in plan:
        if cert["name"] in changed:
            services += [service for service in cert["services"] if service not in services]
    return services


def certificate_services_of(plan, names):
    """Services used by the named certificates, each once."""
    services = []
    for cert in plan:
        if cert["name"] in (names or []):
            services += [service for service in cert["services"] if service not in services]
    return services


def certificate_tls_checks(plan, serials, address):
    """tls_check entries for one host: each verified certificate at its port, with the stored serial."""
    return [{"name": cert["name"], "address": address, "port": cert["verify_port"],
             "server_name": cert["identifiers"][0], "expected_serial": serials.get(cert["name"])}
            for cert in plan if cert["verify"]]


class FilterModule:
    def filters(self):
        return {
            "certificate_plan": certificate_plan,
            "certificate_due": certificate_due,
            "certificate_order_requests": certificate_order_requests,
            "certificate_deploy_files": certificate_deploy_files,
            "certificate_reload_services": certificate_reload_services,
            "certificate_tls_checks": certificate_tls_checks,
            "certificate_services_of": certificate_services_of,
        }
