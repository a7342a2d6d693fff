# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that shape the certificate role's data, so its tasks stay declarative.

Plain data in, plain data out: the role calls them once per run, not per host or per item.
"""
from __future__ import annotations

import datetime
import importlib
import math
import posixpath

from ansible_collections.autotls.acme.plugins.module_utils._engine import fsio, inputs, keys, layout, policy, timefmt
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError

_ENGINE = "ansible_collections.autotls.acme.plugins.module_utils._engine."


class _OnFirstUse:
    """A module imported when one of its names is first used.

    Ansible imports a filter plugin in each task's worker process, so this file is imported once per task
    that uses one of its filters. Only the input checks need the ACME client, the storage backends and the
    DNS providers (a few hundred milliseconds of imports: acme, requests, boto3); every other filter does not
    pay for them."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(_ENGINE + self._name), attr)


account = _OnFirstUse("account")
client = _OnFirstUse("client")
factory = _OnFirstUse("storage.factory")
dns_providers = _OnFirstUse("dns01.providers")
storage_base = _OnFirstUse("storage.base")
_bundles = _OnFirstUse("storage.bundles")

FILES = layout.KINDS   # privkey, cert, chain, fullchain
PATH_OPTIONS = {layout.kind_of(part): part + "_path" for part in layout.PARTS}
KEY_KIND = layout.kind_of(layout.KEY_PART)
COMBINED = (KEY_KIND, layout.kind_of("fullchain"))   # HAProxy's one file: the key, then the full chain


def _check_settings(settings, check, errors):
    """The role's other variables, by the rules the modules apply to the options they become."""
    def renamed(prefix, call, *args):
        def run():
            try:
                call(*args)
            except InputError as error:
                field = error.field.replace("external_account_binding.", "")
                field = field if field.startswith("certificate_") else prefix + field
                raise InputError(field, error.msg.split(": ", 1)[1] if ": " in error.msg else error.msg) from None
        check(run)

    if "certificate_acme_directory" in settings:
        check(inputs.check_directory_url, settings["certificate_acme_directory"], "certificate_acme_directory")
    if settings.get("certificate_ca_bundle") and not posixpath.isabs(settings["certificate_ca_bundle"]):
        errors.append("certificate_ca_bundle: must be an absolute path, got %r" % settings["certificate_ca_bundle"])
    if "certificate_storage" in settings:
        options = dict(settings["certificate_storage"] or {})
        kind = options.pop("backend", None)
        if kind is None:
            errors.append("certificate_storage.backend: is required (local, s3 or redis)")
        else:
            renamed("certificate_storage.", factory.check_options, kind, options)
            if kind == "local" and not options.get("local_path"):
                errors.append("certificate_storage.local_path: is required for backend local")
            if kind == "s3" and not options.get("s3_bucket"):
                errors.append("certificate_storage.s3_bucket: is required for backend s3")
            if kind == "redis" and not options.get("redis_url"):
                errors.append("certificate_storage.redis_url: is required for backend redis")
            timeout = options.get("storage_timeout")
            if timeout is not None and not _positive(timeout):
                errors.append("certificate_storage.storage_timeout: must be a positive number of seconds, got %r"
                              % (timeout,))
    if "certificate_lock_ttl" in settings:
        check(storage_base.check_ttl, settings["certificate_lock_ttl"], "certificate_lock_ttl")
    if "certificate_lock_timeout" in settings and not _positive(settings["certificate_lock_timeout"], zero=True):
        errors.append("certificate_lock_timeout: must be zero or a positive number of seconds, got %r"
                      % (settings["certificate_lock_timeout"],))
    eab = settings.get("certificate_eab")
    if eab and (eab.get("kid") or eab.get("hmac_key")):
        renamed("certificate_eab.", account.check_eab, eab)
    if "certificate_renew_before_days" in settings:
        check(policy.check_renew_before_days, settings["certificate_renew_before_days"], "certificate_renew_before_days")  # noqa: E501
    if "certificate_concurrency" in settings and not (
            isinstance(settings["certificate_concurrency"], int) and settings["certificate_concurrency"] >= 1):
        errors.append("certificate_concurrency: must be at least 1, got %r" % (settings["certificate_concurrency"],))
    for name in ("certificate_webroot", "certificate_deploy_dir"):
        if name in settings and not (isinstance(settings[name], str) and posixpath.isabs(settings[name])):
            errors.append("%s: must be an absolute path, got %r" % (name, settings[name]))
    for name in ("certificate_key_mode", "certificate_cert_mode"):
        if name in settings:
            check(fsio.mode_of, settings[name], name)
    if settings.get("certificate_key_mode") is not None:
        try:
            if fsio.mode_of(settings["certificate_key_mode"], "certificate_key_mode") & 0o007:
                errors.append("certificate_key_mode: %s would make keys readable by others"
                              % settings["certificate_key_mode"])
        except InputError:
            pass
    if "certificate_alert_days" in settings and not _positive(settings["certificate_alert_days"], zero=True):
        errors.append("certificate_alert_days: must not be negative, got %r" % (settings["certificate_alert_days"],))
    if "certificate_verify_port" in settings and not (
            isinstance(settings["certificate_verify_port"], int) and 1 <= settings["certificate_verify_port"] <= 65535):
        errors.append("certificate_verify_port: must be between 1 and 65535, got %r"
                      % (settings["certificate_verify_port"],))


def _positive(value, zero=False) -> bool:
    if isinstance(value, bool):
        return False
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return not math.isnan(number) and (number >= 0 if zero else number > 0)


def _dns_of(item, default_dns):
    """A certificate's DNS provider settings: its own dns section, else the role's certificate_dns."""
    return item.get("dns") or default_dns or None


def certificate_request_errors(certificate_list, contact_email, services=None, service_commands=None,
                               challenge="http-01", dns=None, max_identifiers=None, settings=None):
    """Everything wrong with the role's inputs, judged by the same rules the modules apply; [] when all is well.

    Messages name fields, never values of the DNS settings (they hold secrets). settings holds the role's other
    variables by name (certificate_acme_directory, certificate_storage, ...).
    """
    errors = []

    def check(call, *args):
        try:
            call(*args)
        except InputError as error:
            errors.append(error.msg)

    _check_settings(settings or {}, check, errors)
    if not isinstance(max_identifiers, (int, type(None))) or isinstance(max_identifiers, bool) or (
            max_identifiers is not None and max_identifiers < 1):
        errors.append("certificate_max_identifiers: must be a positive whole number, got %r" % (max_identifiers,))
        max_identifiers = None

    check(inputs.validate_contacts, [contact_email or ""], "certificate_contact_email")
    seen = set()
    for index, item in enumerate(certificate_list or []):
        check(_bundles.validate_name, item.get("name"), "certificate_list[%d].name" % index)
        if item.get("name") in seen:
            errors.append("certificate_list[%d].name: %r is used twice" % (index, item.get("name")))
        seen.add(item.get("name"))
        kind = item.get("challenge") or challenge or "http-01"
        check(lambda *args: keys.parse_identifiers(*args, max_identifiers=max_identifiers), item.get("identifiers"),
              "certificate_list[%d].identifiers" % index, kind == "dns-01")
        if kind == "dns-01":
            try:
                dns_providers.settings(_dns_of(item, dns))
            except InputError as error:
                errors.append("certificate_list[%d].%s%s" % (index, error.msg, " (set certificate_dns or "
                              "certificate_list[%d].dns)" % index if error.field in ("dns", "dns.provider") else ""))
        elif item.get("dns"):
            errors.append("certificate_list[%d].dns: is only used with challenge dns-01" % index)
        if item.get("renew_before_days") is not None:
            check(policy.check_renew_before_days, item["renew_before_days"],
                  "certificate_list[%d].renew_before_days" % index)
        for option in PATH_OPTIONS.values():
            if item.get(option) is not None and not (isinstance(item[option], str) and posixpath.isabs(item[option])):
                errors.append("certificate_list[%d].%s: must be an absolute path, got %r" % (index, option, item[option]))  # noqa: E501
        for service in item.get("services") if item.get("services") is not None else services or []:
            if service not in (service_commands or {}):
                errors.append("certificate_list[%d].services: %r has no check and reload commands in "
                              "certificate_service_commands" % (index, service))
    return errors


def certificate_revoke_errors(revoke, certificate_list):
    """Problems with certificate_revoke: every entry names a certificate of certificate_list (so it is replaced)."""
    managed = {item.get("name") for item in certificate_list or []}
    errors = []
    for index, entry in enumerate(revoke or []):
        name = entry.get("name") if isinstance(entry, dict) else entry
        if not isinstance(name, str) or not name:
            errors.append("certificate_revoke[%d]: a certificate name (or {name, serial}) is required" % index)
        elif name not in managed:
            errors.append("certificate_revoke[%d]: %r is not in certificate_list; only certificates this play "
                          "manages can be revoked and replaced" % (index, name))
    return errors


def certificate_revocations(revoke, info):
    """The stored certificates certificate_revoke asks to revoke now: [{name, serial}].

    Skipped: names not stored, certificates already recorded as revoked, and entries whose serial
    is not the stored one (that certificate was replaced already), so a repeated run revokes nothing new.
    """
    stored = {entry["name"]: entry for entry in (info or {}).get("certificates", [])}
    wanted = []
    for entry in revoke or []:
        name = entry.get("name") if isinstance(entry, dict) else entry
        serial = (entry.get("serial") if isinstance(entry, dict) else None) or None
        current = stored.get(name) or {}
        if not current.get("exists") or current.get("revoked"):
            continue
        if serial is not None and serial.lower().lstrip("0") != (current.get("serial") or "").lower().lstrip("0"):
            continue
        if name not in [w["name"] for w in wanted]:
            wanted.append({"name": name, "serial": current.get("serial"),
                           "identifiers": current.get("identifiers") or []})
    return wanted


def certificate_revoke_name(entry):
    """The certificate name of a certificate_revoke entry (a name, or {name, serial})."""
    return entry.get("name") if isinstance(entry, dict) else entry


def certificate_revoke_requests(revocations, fetched_dir):
    """acme_revoke entries for the certificates fetched from storage into fetched_dir/<name>/."""
    return [dict({part + "_path": posixpath.join(fetched_dir, item["name"], layout.FILE_OF[part])
                  for part in ("certificate", layout.KEY_PART)}, name=item["name"])
            for item in revocations or []]


def certificate_plan(certificate_list, staging_dir, key_type="ecdsa-p256", services=None,
                     verify=True, verify_port=443, renew_before_days=0, profile=None, challenge="http-01",
                     max_identifiers=None):
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
            # canonical once, here: every later step (orders, storage, the due decision) sees these
            "identifiers": [ident.value for ident in keys.parse_identifiers(
                item["identifiers"], "certificate_list[].identifiers", max_identifiers)],
            "key_type": item.get("key_type") or key_type,
            "reuse_key": bool(item.get("reuse_key")),
            "renew_before_days": days,
            "profile": item.get("profile") or profile or None,
            "challenge": item.get("challenge") or challenge or "http-01",   # its DNS settings stay out of the plan
            "preferred_chain": item.get("preferred_chain") or None,
            "services": list(item["services"] if item.get("services") is not None else services or []),
            "verify": verify if item.get("verify") is None else bool(item["verify"]),
            "verify_port": item.get("verify_port") or verify_port,
            "verify_endpoints": [dict(endpoint) for endpoint in item.get("verify_endpoints") or []]
            or [{"port": item.get("verify_port") or verify_port}],
            "deploy": {},
            "staging": {},
            "combined": item.get("combined_path") or None,
        }
        for kind in FILES:
            entry["deploy"][kind] = item.get(PATH_OPTIONS[kind])
            entry["staging"][kind] = posixpath.join(staging_dir, name, layout.FILE_OF_KIND[kind])
        plan.append(entry)
    return plan


def certificate_info_requests(plan):
    """cert_store info `requests`: what is asked for each planned certificate, so that storage's due
    decision (the engine's one decision) covers changed names, key types and renew_before_days."""
    return [{"name": cert["name"], "identifiers": cert["identifiers"], "key_type": cert["key_type"],
             "renew_before_days": cert["renew_before_days"], "profile": cert.get("profile")}
            for cert in plan or []]


def certificate_due(plan, info, force=False, seen=None, retry_now=None):
    """Names of the planned certificates that storage's decision (cert_store_info with requests) says are due.

    The decision itself is the engine's (policy.decide, reported in each entry's due, reason and
    reason_detail); this filter only applies what the role adds: force, retry_now (certificates to try
    again although they are backing off), the pending area, and seen - an earlier info result (read
    before taking the locks): a certificate whose stored serial changed since then was just renewed by
    another run and is not ordered again.
    """
    return list(certificate_due_reasons(plan, info, force, seen, retry_now))


def certificate_due_reasons(plan, info, force=False, seen=None, retry_now=None):
    """{name: why it is due} for the certificates certificate_due returns, in plan order."""
    stored = {entry["name"]: entry for entry in (info or {}).get("certificates", [])}
    earlier = {entry["name"]: entry.get("serial") for entry in (seen or {}).get("certificates", [])}
    retry_now = set(retry_now or [])
    due = {}
    for cert in plan:
        entry = stored.get(cert["name"])
        if entry is not None and entry.get("pending"):
            due[cert["name"]] = "issued by an earlier run and kept in the pending area: stored now"
        elif seen is not None and entry is not None and entry.get("serial") != earlier.get(cert["name"]):
            continue  # renewed by another run while we waited for the lock
        elif force:
            due[cert["name"]] = "forced (certificate_force_renewal)"
        elif entry is not None and entry.get("revoked"):   # replaced now, backing off or not
            due[cert["name"]] = entry.get("reason_detail") or "revoked"
        elif entry is not None and entry.get("reason") == "backing_off" and cert["name"] in retry_now:
            due[cert["name"]] = "%s; tried again now (certificate_retry_now)" % (entry.get("reason_detail") or "")
        elif entry is None:
            due[cert["name"]] = "no certificate stored"
        elif entry.get("due"):
            due[cert["name"]] = entry.get("reason_detail") or entry.get("reason") or "due"
    return due


def certificate_renewed_elsewhere(plan, due, info, seen):
    """Names that were due when this run looked, but another run renewed while this one waited for the lock."""
    stored = {entry["name"]: entry for entry in (info or {}).get("certificates", [])}
    earlier = {entry["name"]: entry.get("serial") for entry in (seen or {}).get("certificates", [])}
    return [cert["name"] for cert in plan if cert["name"] in (due or []) and cert["name"] in stored
            and not stored[cert["name"]].get("pending")
            and stored[cert["name"]].get("serial") != earlier.get(cert["name"])]


def certificate_order_requests(plan, names, info=None, challenge="http-01", certificate_list=None, dns=None):
    """acme_order entries (paths in the staging directory) for the named certificates that use challenge.

    With the storage info, each entry names the certificate it replaces (ARI
    `replaces`), so the CA can link the renewal to its predecessor. DNS-01 entries
    carry their provider settings (from certificate_list or the role's dns), which
    never pass through a fact.
    """
    items = {item.get("name"): item for item in certificate_list or []}
    wanted = set(names or [])
    replaces = {entry["name"]: entry.get("ari_id") for entry in (info or {}).get("certificates", [])
                if entry.get("exists")}
    revoked = {entry["name"] for entry in (info or {}).get("certificates", []) if entry.get("revoked")}
    requests = []
    for cert in plan:
        if cert["name"] not in wanted or cert.get("challenge", "http-01") != challenge:
            continue
        request = {"name": cert["name"], "identifiers": cert["identifiers"], "key_type": cert["key_type"],
                   # a revoked certificate's key is never used again
                   "reuse_key": cert["reuse_key"] and cert["name"] not in revoked}
        request.update((option, cert["staging"][kind]) for kind, option in PATH_OPTIONS.items())
        if cert.get("preferred_chain"):
            request["preferred_chain"] = cert["preferred_chain"]
        if replaces.get(cert["name"]):
            request["replaces"] = replaces[cert["name"]]
        if cert.get("profile"):
            request["profile"] = cert["profile"]
        if challenge == "dns-01":
            request["challenge"] = "dns-01"
            request["dns"] = _dns_of(items.get(cert["name"], {}), dns)
        requests.append(request)
    return requests


def certificate_placeholders(plan, names):
    """{name: {privkey, cert, chain, fullchain} PEM text} of self-signed, short-lived placeholders for the
    named certificates (deployed where no certificate exists yet, so a server's TLS configuration loads)."""
    placeholders = {}
    for cert in plan:
        if cert["name"] in (names or []):
            identifiers = keys.parse_identifiers(cert["identifiers"], allow_wildcard=True)
            key_pem, cert_pem = keys.placeholder_certificate(identifiers)
            placeholders[cert["name"]] = {kind: (key_pem if kind == KEY_KIND else cert_pem).decode() for kind in FILES}
    return placeholders


def certificate_deployable(plan, info, failures=None, renewed=None):
    """The planned certificates that can be deployed: every one storage holds (renewed now or still valid from
    before, even when its renewal failed in this run), none that failed and was never stored, and no revoked one
    that was not renewed in this run (renewed: the names renewed)."""
    entries = (info or {}).get("certificates", [])
    stored = {entry["name"] for entry in entries
              if entry.get("exists") and (entry.get("days_left") is None or entry["days_left"] > 0)}
    failed = {failure.get("name") for failure in failures or []}
    revoked = {entry["name"] for entry in entries if entry.get("revoked")} - set(renewed or [])
    return [cert for cert in plan or [] if (cert["name"] in stored or cert["name"] not in failed)
            and cert["name"] not in revoked]


def certificate_deploy_files(plan, deploy_dir, info=None, names=None, pending=False, placeholders=None):
    """One entry per file to deploy on a host: destination, whether it is a key, and either the source in
    staging or (given the storage info) the SHA-256 the deployed copy must have. names limits the certificates.
    pending (check mode): a stand-in text for files that an order of this run would produce."""
    stored = {entry["name"]: entry.get("file_sha256") or {} for entry in (info or {}).get("certificates", [])}
    files = []
    for cert in plan:
        if names is not None and cert["name"] not in names:
            continue
        for kind in FILES:
            filename = layout.FILE_OF_KIND[kind]
            entry = {"group": cert["name"], "key": filename == layout.KEY_FILE,
                     "dest": cert["deploy"][kind] or posixpath.join(deploy_dir, cert["name"], filename)}
            if info is not None:
                entry["sha256"] = stored.get(cert["name"], {}).get(filename) or ""
            elif placeholders is not None:
                if cert["name"] not in placeholders:
                    continue
                entry["text"] = placeholders[cert["name"]][kind]
            elif pending:
                entry["text"] = "(the %s of the certificate that would be ordered)\n" % filename
            else:
                entry["src"] = cert["staging"][kind]
            files.append(entry)
        if cert.get("combined"):   # key + full chain in one file (HAProxy), a key file
            entry = {"group": cert["name"], "key": True, "dest": cert["combined"]}
            if info is not None:
                hashes = stored.get(cert["name"], {})
                entry["sha256_parts"] = [hashes.get(layout.FILE_OF_KIND[kind]) or "" for kind in COMBINED]
            else:
                entry["srcs"] = [cert["staging"][kind] for kind in COMBINED]
            files.append(entry)
    return files


def certificate_deploy_compare(plan, deploy_dir, info):
    """cert_deploy's compare_only entries, one per certificate: the directory of its files, the SHA-256 storage
    has for each (empty when unknown: never current), the files deployed elsewhere, and HAProxy's combined file.
    The same comparison as certificate_deploy_files(plan, deploy_dir, info), a quarter of the entries."""
    stored = {entry["name"]: entry.get("file_sha256") or {} for entry in (info or {}).get("certificates", [])}
    entries = []
    for cert in plan:
        hashes = stored.get(cert["name"], {})
        entry = {"name": cert["name"], "dir": posixpath.join(deploy_dir, cert["name"]),
                 "sha256": {layout.FILE_OF_KIND[kind]: hashes.get(layout.FILE_OF_KIND[kind]) or "" for kind in FILES}}
        paths = {layout.FILE_OF_KIND[kind]: cert["deploy"][kind] for kind in FILES if cert["deploy"][kind]}
        if paths:
            entry["paths"] = paths
        if layout.KEY_FILE != "privkey.pem":  # the module's default
            entry["key"] = layout.KEY_FILE
        if cert.get("combined"):
            entry["combined"] = cert["combined"]
            entry["combined_parts"] = [layout.FILE_OF_KIND[kind] for kind in COMBINED]
        entries.append(entry)
    return entries


def certificate_challenge_files(challenge_files, webroot, state="present"):
    """cert_deploy entries that publish (or remove) HTTP-01 challenge files under webroot."""
    return [{"dest": posixpath.join(webroot, item["path"]), "text": item["content"], "mode": "0644",
             "state": state} if state == "present" else {"dest": posixpath.join(webroot, item["path"]), "state": state}
            for item in challenge_files or []]


def certificate_attempts(failures):
    """cert_store attempts entries for failed certificates (with the CA's Retry-After, when it sent one,
    and the failure's kind: infrastructure failures back off less)."""
    attempts = []
    for failure in failures or []:
        attempt = {"name": failure["name"], "error": failure.get("msg") or "failed",
                   "kind": failure.get("failure_kind") or "ca"}
        if failure.get("retry_after_seconds") is not None:
            attempt["retry_after"] = failure["retry_after_seconds"]
        attempts.append(attempt)
    return attempts


def certificate_run_failure(names, failed_result):
    """cert_store attempts entries recording one failure of the whole run (for example the CA unreachable
    while the account was checked) for each named certificate."""
    failed_result = failed_result or {}
    error = failed_result.get("msg") or "failed"
    kind = failed_result.get("failure_kind")
    if kind not in ("infrastructure", "ca"):
        kind = "infrastructure" if failed_result.get("unreachable") else "ca"
    return [{"name": name, "error": error, "kind": kind} for name in names or []]


def certificate_services_of(plan, names):
    """Services used by the named certificates, each once."""
    services = []
    for cert in plan:
        if cert["name"] in (names or []):
            services += [service for service in cert["services"] if service not in services]
    return services


def certificate_tls_checks(plan, serials, address):
    """tls_check entries for one host: each verified certificate at each of its endpoints (port, STARTTLS
    protocol, address), with the stored serial."""
    checks = []
    for cert in plan:
        if not cert["verify"]:
            continue
        for endpoint in cert.get("verify_endpoints") or [{"port": cert["verify_port"]}]:
            check = {"name": cert["name"], "address": endpoint.get("address") or address, "port": endpoint["port"],
                     "server_name": cert["identifiers"][0], "expected_serial": serials.get(cert["name"])}
            if endpoint.get("starttls"):
                check["starttls"] = endpoint["starttls"]
            checks.append(check)
    return checks


def certificate_stored_serials(info, fetched=None):
    """{name: serial} of the certificates storage holds (those a host can be checked for): as looked up (info), or
    as fetched (cert_store fetched's certificates) when renewed in this run."""
    serials = {entry["name"]: entry["serial"] for entry in (info or {}).get("certificates", []) if entry.get("serial")}
    serials.update((item["certificate"]["name"], item["certificate"].get("serial")) for item in fetched or []
                   if item.get("certificate"))
    return serials


def certificate_tls_checks_hosts(plan, serials, hosts, addresses):
    """tls_check entries for the given hosts (certificate_tls_checks of each): the certificates with a stored serial
    (certificates never stored have nothing to serve), at each host's address (its certificate_verify_address,
    ansible_host or name, as that host resolved it)."""
    stored = [cert for cert in plan if cert["name"] in serials]
    checks = []
    for host, address in zip(hosts, addresses):
        checks += certificate_tls_checks(stored, serials, address or host)
    return checks


def certificate_idle(run, compared):
    """Whether a run has nothing to do beyond checking what the hosts serve and reporting: the plan step found
    nothing due, nothing to revoke, nothing owed to storage, and every host compared its copies (compared: each
    host's cert_deploy compare_only result, None where it has none) and found them all current."""
    if not (run or {}).get("quiet"):
        return False
    return all(result and not result.get("failed") and not result.get("skipped") and not result.get("stale_groups")
               and "stale_groups" in result for result in compared or [None])


def _epoch(iso):
    return timefmt.epoch_of(iso)


def certificate_serving_problems(result, host, checks):
    """What the last TLS comparison of one host found wrong: one entry per certificate that host does not serve
    (another serial, or no answer), naming the host, the address, the served and the expected serial."""
    result = result or {}
    expected = {check["name"]: check.get("expected_serial") for check in checks or []}
    problems = []
    if result.get("served"):
        for served in result["served"]:
            if not served.get("matches", True):
                problems.append({"name": served.get("name"), "host": host, "address": served.get("address"),
                                 "port": served.get("port"), "served_serial": served.get("serial"),
                                 "expected_serial": expected.get(served.get("name"))})
    elif result.get("failed"):
        for name, serial in expected.items():
            problems.append({"name": name, "host": host, "served_serial": None, "expected_serial": serial,
                             "error": result.get("msg")})
    return problems


def certificate_status(info, plan, orders=None, issued=None, now=None, alert_days=None, would_order=None,
                       elsewhere=None, serving=None, errors=None, reasons=None, lost_hosts=None):
    """One status entry per managed certificate: expiry, what this run did, failures, whether to alert.

    An alert is due when a renewal failed, a host still serves another certificate after the reload
    (serving: certificate_serving_problems of every host), or the certificate is closer to expiry
    than alert_days (default: half of its renewal window, so it scales with the lifetime).
    elsewhere names certificates another run renewed while this one waited for the lock.
    errors are the failures of this run's hosts ({host, task, msg, names}: an order that could not
    start, a deploy, reload or verification that failed); each named certificate fails with them.
    lost_hosts left the play without reaching the role's report (unreachable): every certificate fails.
    """
    errors = list(errors or []) + [
        {"host": host, "task": "connection", "msg": "host unreachable (or failed outside this role)",
         "names": [cert["name"] for cert in plan]} for host in lost_hosts or []
        if host not in [error.get("host") for error in errors or []]]
    now = now or datetime.datetime.now(datetime.timezone.utc).timestamp()
    stored = {entry["name"]: entry for entry in (info or {}).get("certificates", [])}
    results = {}
    for result in ((orders or {}).get("certificates") or []) + ((issued or {}).get("certificates") or []):
        if result.get("failed") or result.get("renewed") or result["name"] not in results:
            results[result["name"]] = result
    status = []
    for cert in plan:
        entry = stored.get(cert["name"], {})
        result = results.get(cert["name"], {})
        not_after = _epoch(entry.get("not_after"))
        renew_at = _epoch(entry.get("renew_at"))
        item = {
            "name": cert["name"],
            "identifiers": cert["identifiers"],
            "not_after": entry.get("not_after"),
            "seconds_left": round(not_after - now) if not_after else None,
            "days_left": round((not_after - now) / 86400, 2) if not_after else None,
            "last_success": entry.get("last_success"),
            "last_attempt": entry.get("last_attempt"),
            "last_error": entry.get("last_error"),
            "consecutive_failures": entry.get("consecutive_failures") or 0,
            "next_attempt": entry.get("next_attempt"),
            "serial": entry.get("serial"),
            "revoked": bool(entry.get("revoked")),
            "last_revocation": entry.get("last_revocation"),
        }
        why_due = (reasons or {}).get(cert["name"])
        if cert["name"] in (would_order or []):  # check mode: nothing was ordered
            item["action"], item["why"] = "would renew", why_due or entry.get("reason_detail") or "no certificate stored"  # noqa: E501
        elif result.get("failed"):
            item["action"], item["why"] = "failed", result.get("msg", "")
        elif result.get("renewed"):
            item["action"], item["why"] = "renewed", why_due or result.get("reason") or "due"
        elif cert["name"] in (elsewhere or []):
            item["action"] = "renewed by another run"
            item["why"] = "renewed by another run while this one waited for the lock (serial %s, expires %s)" % (
                entry.get("serial"), entry.get("not_after"))
        elif entry.get("revoked"):
            item["action"], item["why"] = "failed", "%s and not replaced; it is not deployed" % (entry.get("reason_detail") or "revoked")  # noqa: E501
        elif entry.get("backing_off"):
            item["action"], item["why"] = "failed", "backing off after %d failure(s) until %s: %s" % (
                item["consecutive_failures"], entry.get("next_attempt"), entry.get("last_error"))
        else:
            item["action"], item["why"] = "kept", entry.get("reason_detail") or (
                "not stored" if not entry else "not due")
        if alert_days:
            threshold = alert_days * 86400
        elif not_after and renew_at:
            threshold = (not_after - renew_at) / 2
        else:
            threshold = 0
        failed_here = {}  # the same error on several hosts (a task run once for all) is told once
        for error in errors or []:
            if cert["name"] in (error.get("names") or []):
                cause = "%s: %s" % (error.get("task"), (error.get("msg") or "failed").strip())
                failed_here.setdefault(cause, []).append(str(error.get("host")))
        failed_here = ["%s: %s" % (", ".join(hosts), cause) for cause, hosts in failed_here.items()]
        if failed_here:
            before = "renewed, but " if item["action"] == "renewed" else ""
            item["action"] = "failed"
            item["why"] = before + "; ".join(failed_here)
        if item["action"] == "would renew":
            item["alert"] = False
        else:
            item["alert"] = item["action"] == "failed" or not_after is None or (not_after - now) < threshold
        stale = [problem for problem in serving or [] if problem.get("name") == cert["name"]]
        if stale:
            item["serving_mismatch"] = stale
            item["alert"] = True
            item["why"] += "; still served wrong after a reload: " + "; ".join(
                "%s (%s:%s) serves %s, expected %s%s" % (problem["host"], problem.get("address"), problem.get("port"),
                                                         problem.get("served_serial") or "nothing",
                                                         problem.get("expected_serial"),
                                                         " (%s)" % problem["error"] if problem.get("error") else "")
                for problem in stale)
        status.append(item)
    return status


def certificate_prometheus(status, now=None):
    """Prometheus textfile-collector exposition of certificate_status entries."""
    now = now or datetime.datetime.now(datetime.timezone.utc).timestamp()
    metrics = [
        ("autotls_certificate_not_after_timestamp_seconds", "Expiry of the stored certificate.",
         lambda s: _epoch(s["not_after"])),
        ("autotls_certificate_seconds_left", "Seconds until the stored certificate expires.",
         lambda s: s["seconds_left"]),
        ("autotls_certificate_last_success_timestamp_seconds", "Last successful issuance or renewal.",
         lambda s: _epoch(s["last_success"]) or 0),
        ("autotls_certificate_last_failure_timestamp_seconds", "Last failed renewal attempt (0: none).",
         lambda s: _epoch(s["last_attempt"]) if s["last_error"] else 0),
        ("autotls_certificate_consecutive_failures", "Failed renewal attempts since the last success.",
         lambda s: s["consecutive_failures"]),
        ("autotls_certificate_alert", "1 when the certificate needs attention (failed, served wrong or close to "
         "expiry).", lambda s: 1 if s["alert"] else 0),
        ("autotls_certificate_serving_mismatch", "Hosts still serving another certificate after a reload.",
         lambda s: len(s.get("serving_mismatch") or [])),
        ("autotls_certificate_renewed_by_another_run", "1 when another run renewed it while this one waited.",
         lambda s: 1 if s.get("action") == "renewed by another run" else 0),
        ("autotls_certificate_revoked", "1 when the stored certificate was revoked and not yet replaced.",
         lambda s: 1 if s.get("revoked") else 0),
        ("autotls_certificate_last_revocation_timestamp_seconds",
         "Last revocation of a certificate of this name (0: none).",
         lambda s: _epoch((s.get("last_revocation") or {}).get("revoked_at")) or 0),
    ]
    lines = []
    for metric, help_text, value_of in metrics:
        lines += ["# HELP %s %s" % (metric, help_text), "# TYPE %s gauge" % metric]
        for item in status:
            value = value_of(item)
            if value is not None:
                label = item["name"]  # names are validated: letters, digits, ".", "_", "-"
                lines.append('%s{name="%s"} %s' % (metric, label, int(value)))
    lines += ["# HELP autotls_certificate_info The stored certificate's serial and this run's action (value 1).",
              "# TYPE autotls_certificate_info gauge"]
    for item in status:
        if item.get("serial"):
            lines.append('autotls_certificate_info{name="%s",serial="%s",action="%s"} 1' % (
                item["name"], item["serial"], item["action"]))
    lines += ["# HELP autotls_renewal_last_run_timestamp_seconds End of the last renewal run.",
              "# TYPE autotls_renewal_last_run_timestamp_seconds gauge",
              "autotls_renewal_last_run_timestamp_seconds %d" % int(now)]
    return "\n".join(lines) + "\n"


def certificate_summary(status):
    """One human line per certificate: name, expiry, action and why."""
    return ["%-24s expires %-20s %-8s %s" % (s["name"], s["not_after"] or "-", s["action"], s["why"])
            for s in status]


LISTING_COLUMNS = (("name", "NAME"), ("names", "NAMES"), ("issuer", "ISSUER"), ("not_after", "NOT AFTER"),
                   ("days_left", "DAYS LEFT"), ("last_renewal", "LAST RENEWAL"), ("last_error", "LAST ERROR"),
                   ("next_attempt", "NEXT ATTEMPT"), ("profile", "PROFILE"), ("acme_directory", "ACME DIRECTORY"))
MAX_ERROR_COLUMN = 60


def _common_name(dn):
    for part in (dn or "").split(","):
        if part.strip().upper().startswith("CN="):
            return part.strip()[3:]
    return dn or None


def certificate_listing(info, acme_directory=None):
    """One row per stored certificate of a cert_store info result: what `certbot certificates` shows, and more."""
    rows = []
    for entry in (info or {}).get("certificates", []):
        rows.append({
            "name": entry["name"],
            "names": list(entry.get("identifiers") or []),
            "issuer": _common_name(entry.get("issuer")),
            "not_after": entry.get("not_after"),
            "days_left": entry.get("days_left"),
            "last_renewal": entry.get("last_success") or entry.get("obtained_at"),
            "last_error": entry.get("last_error"),
            "next_attempt": entry.get("next_attempt") if entry.get("backing_off") else None,
            "profile": entry.get("profile"),
            "acme_directory": entry.get("acme_directory") or acme_directory,
            "due": bool(entry.get("due")),
            "reason": entry.get("reason"),
            "revoked": bool(entry.get("revoked")),
            "exists": entry.get("exists", True),
        })
    return rows


def certificate_listing_lines(rows):
    """The rows as an aligned text table, one line per certificate (after a header line)."""
    def cell(row, key):
        value = row.get(key)
        if key == "names":
            value = ",".join(value or [])
        elif key == "days_left" and value is not None:
            value = "%.1f" % value
        elif key == "last_error" and value:
            value = " ".join(str(value).split())
            value = value if len(value) <= MAX_ERROR_COLUMN else value[:MAX_ERROR_COLUMN - 3] + "..."
        return "-" if value in (None, "", []) else str(value)
    table = [[title for _key, title in LISTING_COLUMNS]]
    table += [[cell(row, key) for key, _title in LISTING_COLUMNS] for row in rows or []]
    widths = [max(len(line[index]) for line in table) for index in range(len(LISTING_COLUMNS))]
    return ["  ".join(text.ljust(width) for text, width in zip(line, widths)).rstrip() for line in table]


def certificate_min_lifetime_days(info):
    """Shortest lifetime (not_after - not_before) among stored certificates, in days; 9999 when none."""
    lifetimes = [(_epoch(e["not_after"]) - _epoch(e["not_before"])) / 86400
                 for e in (info or {}).get("certificates", []) if e.get("not_before") and e.get("not_after")]
    return min(lifetimes) if lifetimes else 9999


class FilterModule:
    def filters(self):
        return {
            "certificate_request_errors": certificate_request_errors,
            "certificate_plan": certificate_plan,
            "certificate_revoke_errors": certificate_revoke_errors,
            "certificate_revocations": certificate_revocations,
            "certificate_revoke_name": certificate_revoke_name,
            "certificate_revoke_requests": certificate_revoke_requests,
            "certificate_due": certificate_due,
            "certificate_due_reasons": certificate_due_reasons,
            "certificate_info_requests": certificate_info_requests,
            "certificate_deployable": certificate_deployable,
            "certificate_order_requests": certificate_order_requests,
            "certificate_deploy_files": certificate_deploy_files,
            "certificate_deploy_compare": certificate_deploy_compare,
            "certificate_placeholders": certificate_placeholders,
            "certificate_tls_checks": certificate_tls_checks,
            "certificate_tls_checks_hosts": certificate_tls_checks_hosts,
            "certificate_stored_serials": certificate_stored_serials,
            "certificate_idle": certificate_idle,
            "certificate_services_of": certificate_services_of,
            "certificate_challenge_files": certificate_challenge_files,
            "certificate_attempts": certificate_attempts,
            "certificate_run_failure": certificate_run_failure,
            "certificate_serving_problems": certificate_serving_problems,
            "certificate_renewed_elsewhere": certificate_renewed_elsewhere,
            "certificate_status": certificate_status,
            "certificate_prometheus": certificate_prometheus,
            "certificate_summary": certificate_summary,
            "certificate_min_lifetime_days": certificate_min_lifetime_days,
            "certificate_listing": certificate_listing,
            "certificate_listing_lines": certificate_listing_lines,
        }
