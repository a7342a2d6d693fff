# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One certificate from request to files on disk: decide, order, finalize, write.

The key, certificate, chain, fullchain and a metadata file (which ACME directory
issued the certificate) are switched together, and only after the new
certificate is in hand: a failed renewal leaves the old files untouched.
"""
from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from . import challenge, keys, order, policy
from .errors import ACMEProblem, EngineError, InputError
from .fsio import KEY_MODE, PUBLIC_MODE, FileSpec, check_no_symlinks, read_bytes, write_together
from .timefmt import iso

if TYPE_CHECKING:
    from .pending import PendingArea
    from .client import AcmeClient
    from .dns01.solver import DNSSolver

METADATA_SUFFIX = ".acme.json"


@dataclass
class CertificateRequest:
    """What the caller wants; paths are where the results go."""
    identifiers: list[keys.Identifier]
    private_key_path: str | None = None
    certificate_path: str | None = None
    chain_path: str | None = None
    fullchain_path: str | None = None
    key_type: str = keys.DEFAULT_KEY_TYPE
    reuse_key: bool = False
    csr_pem: bytes | None = None
    renew_before_days: float | None = None
    force: bool = False
    preferred_chain: str | None = None
    existing_certificate_pem: bytes | None = None
    owner: int | None = None
    group: int | None = None
    name: str = field(default="")
    profile: str | None = None       # ACME profile to order with (checked against the directory's meta.profiles)
    challenge: str = "http-01"
    follow_symlinks: bool = False

    @property
    def leaf_path(self) -> str | None:
        return self.certificate_path or self.fullchain_path

    @property
    def metadata_path(self) -> str | None:
        return self.leaf_path + METADATA_SUFFIX if self.leaf_path else None

    def check(self) -> None:
        if not self.leaf_path:
            raise InputError("certificate_path", "certificate_path or fullchain_path is required")
        if self.csr_pem is None and not self.private_key_path:
            raise InputError("private_key_path", "is required unless a csr is given")
        if self.key_type not in keys.KEY_TYPES:
            raise InputError("key_type", "%r is not one of %s" % (self.key_type, ", ".join(keys.KEY_TYPES)))
        self.renew_before_days = policy.check_renew_before_days(self.renew_before_days)
        for option in ("private_key_path", "certificate_path", "chain_path", "fullchain_path"):
            path = getattr(self, option)
            if path:   # before anything is ordered: no untrusted symlink on the way to the outputs
                check_no_symlinks(path, option, self.follow_symlinks)
                directory = os.path.dirname(os.path.abspath(path))
                existing = directory
                while not os.path.lexists(existing):
                    existing = os.path.dirname(existing)
                if not os.path.isdir(existing):
                    raise InputError(option, "cannot write %s: %s is not a directory" % (path, existing))
                if not os.access(existing, os.W_OK | os.X_OK):
                    raise InputError(option, "cannot write %s: %s is not writable by this user" % (path, existing))
        if self.reuse_key and self.csr_pem is None and self.private_key_path:
            existing = read_bytes(self.private_key_path)
            if existing:   # a key that will be reused must be strong enough, before anything is ordered
                keys.check_key_strength(keys.load_private_key(existing, "private_key_path"), "private_key_path")


def load_existing(request: CertificateRequest) -> tuple[keys.CertInfo | None, dict]:
    """(CertInfo or None, metadata dict) of the certificate currently at the destination."""
    pem = request.existing_certificate_pem or (read_bytes(request.leaf_path) if request.leaf_path else None)
    if not pem:
        return None, {}
    try:
        info = keys.parse_certificate(pem, "existing certificate")
    except InputError:
        return None, {}  # unreadable: treat as absent, so a fresh one replaces it
    metadata = {}
    raw = read_bytes(request.metadata_path) if request.metadata_path else None
    if raw:
        try:
            metadata = json.loads(raw.decode())
        except ValueError:
            metadata = {}
    if metadata.get("serial") not in (None, info.serial):
        metadata = {}  # describes another certificate
    return info, metadata


def plan(request: CertificateRequest, directory_url: str,
         now: datetime.datetime | None = None) -> policy.RenewalDecision:
    info, metadata = load_existing(request)
    return policy.decide(info, request.identifiers, directory_url, metadata.get("directory"),
                         request.renew_before_days, request.force, now,
                         key_type=None if request.csr_pem is not None else request.key_type,
                         profile=request.profile, cert_profile=metadata.get("profile"))


def _key_source(request: CertificateRequest) -> tuple[Callable[[list[keys.Identifier]], bytes], bytes | None, str]:
    """(csr_for(identifiers), key PEM to write or None, public key hash the certificate must carry)."""
    if request.csr_pem is not None:
        csr_pem = request.csr_pem
        return (lambda _identifiers: csr_pem), None, keys.csr_public_key_sha256(csr_pem)
    key = None
    if request.reuse_key and request.private_key_path:
        existing = read_bytes(request.private_key_path)
        if existing:
            key = keys.check_key_strength(keys.load_private_key(existing, "private_key_path"), "private_key_path")
            if keys.key_type_of(key) != request.key_type:
                key = None   # the key type changed: that is why the certificate is due; a new key is made
    if key is None:
        key = keys.generate_private_key(request.key_type)

    def csr_for(order_identifiers: list[keys.Identifier]) -> bytes:
        if set(order_identifiers) != set(request.identifiers):
            raise InputError("identifiers", "the order is for %s, not for the requested %s" % (
                ", ".join(sorted(i.value for i in order_identifiers)),
                ", ".join(sorted(i.value for i in request.identifiers))))
        return keys.make_csr(key, request.identifiers)  # the caller's order: the first name becomes the CN
    return csr_for, keys.private_key_to_pem(key), keys.public_key_sha256(key)


def _kept_key_source(request: CertificateRequest, keep: PendingArea | None,
                     order_url: str) -> tuple[Callable[[list[keys.Identifier]], bytes], bytes, str] | None:
    """The key source of a resumed order: the key kept with its URL in the pending area (or None)."""
    if keep is None or request.csr_pem is not None:
        return None
    record = keep.order(request.name)
    key_pem = keep.key(request.name)
    if not record or record.get("order_url") != order_url or not key_pem:
        return None
    key = keys.load_private_key(key_pem, "pending key")

    def csr_for(order_identifiers: list[keys.Identifier]) -> bytes:
        return keys.make_csr(key, request.identifiers)
    return csr_for, key_pem, keys.public_key_sha256(key)


def finish(client: AcmeClient, request: CertificateRequest, order_url: str, reason: str = "",
           keep: PendingArea | None = None) -> dict:
    """Validate and finalize order_url, then write every output together.

    keep (a pending.PendingArea) makes the order survive any later failure: the
    order URL and the CSR's key are kept there before finalizing, the certificate
    right after the download, before anything else can fail. A resumed order
    (the URL kept by an earlier run) is completed with the key kept with it.
    """
    request.check()
    source = _kept_key_source(request, keep, order_url) or _key_source(request)
    csr_for, key_pem, expected = source
    if keep is not None:
        make_csr, area = csr_for, keep

        def keeping_csr_for(order_identifiers: list[keys.Identifier]) -> bytes:   # wraps the key source's
            csr = make_csr(order_identifiers)
            area.save_order(request.name, order_url, key_pem, [i.value for i in request.identifiers])
            return csr
        csr_for = keeping_csr_for
    try:
        issued = order.complete(client, order_url, csr_for, request.preferred_chain, expected_public_key=expected,
                                challenge_type=request.challenge)
    except EngineError as error:
        if keep is not None and _order_is_dead(error):
            keep.remove(request.name)   # nothing more will come from this order: the next run orders anew
        raise
    if keep is not None:
        keep.save_issued(request.name, order_url, issued.certificate, issued.chain, issued.fullchain,
                         issued.info.serial, issued.info.to_result()["not_after"],
                         [i.value for i in request.identifiers])
    return _written(client.directory_url, client.account_uri, request, key_pem, issued, reason, order_url)


def _order_is_dead(error: EngineError) -> bool:
    status = error.details.get("order_status")
    return status in ("invalid", "expired", "deactivated", "revoked") or (
        isinstance(error, ACMEProblem) and error.status == 404)


def _written(directory_url: str, account_uri: str | None, request: CertificateRequest, key_pem: bytes | None,
             issued: order.IssuedCertificate, reason: str, order_url: str) -> dict:
    if set(issued.info.identifiers) != set(request.identifiers):
        raise InputError("order_url", "the order's certificate covers %s, not the requested %s" % (
            ", ".join(sorted(i.value for i in issued.info.identifiers)),
            ", ".join(sorted(i.value for i in request.identifiers))))
    metadata = {
        "directory": directory_url,
        "account_uri": account_uri,
        "order_url": order_url,
        "identifiers": [i.value for i in issued.info.identifiers],
        "serial": issued.info.serial,
        "not_after": issued.info.to_result()["not_after"],
        "key_type": keys.key_type_of(keys.load_private_key(key_pem, "private_key_path")) if key_pem else None,
        "profile": issued.profile or request.profile,
        "obtained_at": iso(policy.utcnow()),
    }
    write_outputs(request, key_pem, issued, metadata)
    return {
        "changed": True,
        "renewed": True,
        "reason": reason,
        "order_url": order_url,
        "certificate": issued.info.to_result(),
        "profile": issued.profile or request.profile,
        "certificate_pem": issued.certificate.decode(),
        "chain_pem": issued.chain.decode(),
        "fullchain_pem": issued.fullchain.decode(),
        "alternate_chains_offered": issued.alternates_offered,
    }


def from_pending(request: CertificateRequest, keep: PendingArea, directory_url: str,
                 account_uri: str | None = None) -> dict | None:
    """Write the outputs from a certificate an earlier run downloaded but could not store; None when the
    pending area holds no usable certificate for request.name (it then stays as it is)."""
    kept = keep.issued(request.name)
    if kept is None:
        return None
    pems = keys.split_pem_certificates(kept["fullchain"])
    info = keys.parse_certificate(kept["certificate"])
    if set(info.identifiers) != set(request.identifiers) or not keys.key_matches_certificate(
            keys.load_private_key(kept["private_key"], "pending key"), kept["certificate"]):
        return None
    issued = order.IssuedCertificate(certificate=kept["certificate"], chain=b"".join(pems[1:]),
                                     fullchain=kept["fullchain"], order_url=kept["order"].get("order_url"), info=info)
    result = _written(directory_url, account_uri, request, kept["private_key"], issued,
                      "issued by an earlier run and kept in the pending area; no new order",
                      kept["order"].get("order_url"))
    result["from_pending"] = True
    return result


def _required(path: str | None, field_name: str) -> str:
    if not path:
        raise InputError(field_name, "is required")
    return path


def write_outputs(request: CertificateRequest, key_pem: bytes | None, issued: order.IssuedCertificate,
                  metadata: dict) -> list[str]:
    own = dict(owner=request.owner, group=request.group)
    specs = []
    if key_pem is not None:
        specs.append(FileSpec(_required(request.private_key_path, "private_key_path"), key_pem, mode=KEY_MODE,
                              **own))
    for path, content in ((request.certificate_path, issued.certificate), (request.chain_path, issued.chain),
                          (request.fullchain_path, issued.fullchain)):
        if path:
            specs.append(FileSpec(path, content, mode=PUBLIC_MODE, **own))
    metadata_json = (json.dumps(metadata, indent=2, sort_keys=True) + "\n").encode()
    specs.append(FileSpec(_required(request.metadata_path, "certificate_path"), metadata_json, mode=PUBLIC_MODE, **own))
    return write_together(specs, follow_symlinks=request.follow_symlinks)


def issue_with_webroot(client: AcmeClient, request: CertificateRequest, webroot: str, reason: str = "",
                       replaces: str | None = None, keep: PendingArea | None = None,
                       follow_symlinks: bool = False) -> dict:
    """Single call: create the order (naming the certificate it replaces, ARI), publish into webroot,
    finish, always clean up. The webroot is checked before the order exists."""
    challenge.check_webroot(webroot, follow_symlinks=follow_symlinks)
    pending = order.create(client, request.identifiers, replaces=replaces, profile=request.profile)
    try:
        challenge.publish(webroot, pending.challenge_files, follow_symlinks=follow_symlinks)
        result = finish(client, request, pending.url, reason, keep=keep)
    finally:
        challenge.remove(webroot, pending.challenge_files)
    ari_fields = pending.to_result()
    result.update((name, ari_fields[name]) for name in ("replaces", "replaces_dropped") if name in ari_fields)
    return result


def issue_with_dns(client: AcmeClient, request: CertificateRequest, solver: DNSSolver, reason: str = "",
                   replaces: str | None = None, keep: PendingArea | None = None) -> dict:
    """Single call over DNS-01: create the order, add the TXT records (one change per zone), wait until every
    authoritative server answers them, finish, and always remove the records again.

    solver is a dns01.solver.DNSSolver whose prepare() already ran (before anything was ordered).
    """
    pending = order.create(client, request.identifiers, replaces=replaces, profile=request.profile,
                           challenge_type="dns-01")
    cleanup_errors: list[str] | None = None
    try:
        solver.publish(pending.challenge_records)
        result = finish(client, request, pending.url, reason, keep=keep)
    except EngineError as error:
        cleanup_errors = solver.remove()
        if cleanup_errors:
            error.details["dns_cleanup_errors"] = cleanup_errors
        raise
    finally:
        if cleanup_errors is None:   # success, or an error that is not ours: the records go all the same
            cleanup_errors = solver.remove()
    if cleanup_errors:  # the certificate is issued and written: report, do not lose it
        result["dns_cleanup_errors"] = cleanup_errors
    result["challenge_records"] = [record.to_result() for record in pending.challenge_records]
    ari_fields = pending.to_result()
    result.update((name, ari_fields[name]) for name in ("replaces", "replaces_dropped") if name in ari_fields)
    return result


def not_due_result(decision: policy.RenewalDecision, request: CertificateRequest,
                   now: datetime.datetime | None = None) -> dict:
    info, _metadata = load_existing(request)
    result: dict[str, Any] = {"changed": False, "renewed": False, "reason": decision.reason.value,
                              "reason_detail": decision.detail, "renewal": decision.to_result(now or policy.utcnow())}
    if decision.warnings:
        result["warnings"] = list(decision.warnings)
    if info is not None:
        result["certificate"] = info.to_result()
    return result
