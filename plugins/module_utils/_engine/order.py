# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACME orders over HTTP-01 or DNS-01: create, answer, validate, finalize, download, pick a chain.

Split in two halves so that a playbook can publish the challenge files anywhere
(every node behind a load balancer), or the TXT records in DNS, between them: create() and complete().
The CSR is only needed at finalization, so no private key exists between the halves.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from . import ari, keys
from .challenge import ChallengeFile, ChallengeRecord, dns01_name, dns01_value, validate_token
from .client import Deadline, problem_from_body
from .errors import ACMEProblem, AuthorizationFailed, EngineError, InputError

try:
    import josepy as jose
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from requests.utils import parse_header_links
except ImportError:  # reported by the module through deps.missing()
    pass

if TYPE_CHECKING:
    from .client import AcmeClient


@dataclass
class PendingOrder:
    """An order waiting for its challenge files to be published."""
    url: str
    status: str
    identifiers: list[keys.Identifier]
    challenge_files: list[ChallengeFile] = field(default_factory=list)
    challenge_records: list[ChallengeRecord] = field(default_factory=list)   # DNS-01
    expires: str | None = None
    replaces: str | None = None           # the ARI CertID the CA accepted in "replaces"
    replaces_dropped: str | None = None   # why "replaces" was dropped and the order placed without it
    profile: str | None = None            # the ACME profile the order was placed with

    def to_result(self) -> dict:
        result = {"order_url": self.url, "status": self.status, "expires": self.expires,
                  "identifiers": [i.value for i in self.identifiers],
                  "challenge_files": [f.to_result() for f in self.challenge_files]}
        if self.challenge_records:
            result["challenge_records"] = [r.to_result() for r in self.challenge_records]
        if self.replaces:
            result["replaces"] = self.replaces
        if self.replaces_dropped:
            result["replaces_dropped"] = self.replaces_dropped
        if self.profile:
            result["profile"] = self.profile
        return result


@dataclass
class IssuedCertificate:
    certificate: bytes      # the leaf, PEM
    chain: bytes            # intermediates, PEM
    fullchain: bytes        # leaf + intermediates, PEM
    order_url: str
    info: keys.CertInfo
    alternates_offered: int = 0
    profile: str | None = None    # as the CA's order object names it


def _identifiers_of(order: dict) -> list[keys.Identifier]:
    return [keys.Identifier(i["type"], i["value"]) for i in order.get("identifiers", [])]


def _key_authorization(client: AcmeClient, token: str) -> str:
    thumbprint = client.jwk.thumbprint()
    return "%s.%s" % (token, jose.b64encode(thumbprint).decode())


CHALLENGE_TYPES = ("http-01", "dns-01")


def _challenge(authz: dict, kind: str) -> dict:
    for challenge in authz.get("challenges", []):
        if challenge.get("type") == kind:
            return challenge
    raise EngineError("the CA offers no %s challenge for %s%s (offered: %s)" % (
        kind, "*." if authz.get("wildcard") else "", authz["identifier"]["value"],
        ", ".join(c.get("type", "?") for c in authz.get("challenges", []))))


def _failure(authz: dict) -> dict:
    """What went wrong with an authorization, in the CA's own words."""
    failure = {"identifier": authz["identifier"]["value"], "status": authz.get("status")}
    for challenge in authz.get("challenges", []):
        if challenge.get("error") or challenge.get("status") == "invalid":
            failure["error"] = problem_from_body(challenge.get("error"))
            record = (challenge.get("validationRecord") or [{}])[-1]
            failure["url"] = record.get("url")
            failure["address_used"] = record.get("addressUsed")
            break
    return failure


def rejects_replaces(problem: ACMEProblem) -> bool:
    """Whether the CA refused the order because of its "replaces" field (RFC 9773 section 5).

    alreadyReplaced (409): another order already replaces that certificate. Other CAs
    refuse a replaces they do not like (unknown certificate, another account's, names
    that do not overlap) with malformed / unauthorized / conflict. Decided on the problem
    type and status only, never on the detail text: when the refusal had another cause,
    the order placed again without "replaces" gets the same answer, which is then raised.
    """
    if problem.code == "alreadyReplaced":
        return True
    return problem.code in ("malformed", "unauthorized", "conflict") and problem.status in (400, 403, 409)


def profiles_offered(client: AcmeClient) -> dict[str, str]:
    """The profiles the CA's directory offers (name -> description), {} when it offers none."""
    meta = client.directory.meta
    return dict(meta.profiles or {}) if meta is not None and meta.profiles else {}


def check_profile(client: AcmeClient, profile: str | None, field_name: str = "profile") -> str | None:
    """profile when the directory offers it; an InputError listing the offered ones otherwise.

    Asked before anything is ordered (draft-aaron-acme-profiles: the directory's meta.profiles).
    """
    if not profile:
        return None
    offered = profiles_offered(client)
    if not offered:
        raise InputError(field_name, "%r was asked for, but the CA's directory %s offers no profiles"
                         % (profile, client.directory_url), profiles_offered=[])
    if profile not in offered:
        raise InputError(field_name, "%r is not offered by the CA's directory %s; offered: %s" % (
            profile, client.directory_url, ", ".join(sorted(offered))), profiles_offered=sorted(offered))
    return profile


def create(client: AcmeClient, identifiers: list[keys.Identifier], replaces: str | None = None,
           profile: str | None = None,
           challenge_type: str = "http-01") -> PendingOrder:
    """Create an order and return the challenge files (http-01) or TXT records (dns-01) that must be published.


    replaces is the ARI CertID of the certificate this order renews; it is sent only
    when the directory offers renewalInfo. If the CA refuses it (already replaced,
    unknown, ...), the order is placed again without it rather than failing.
    profile (checked against the directory's meta.profiles) is sent as the order's "profile".
    """
    payload: dict[str, Any] = {"identifiers": [i.to_json() for i in identifiers]}
    profile = check_profile(client, profile)
    if profile:
        payload["profile"] = profile
    replaces = ari.check_certificate_id(replaces)
    if replaces and ari.renewal_info_url(client):
        payload["replaces"] = replaces
    dropped = None
    try:
        response = client.post(client.directory["newOrder"], payload)
    except ACMEProblem as problem:
        if "replaces" not in payload or not rejects_replaces(problem):
            raise
        dropped = "%s: %s" % (problem.code, problem.detail) if problem.detail else problem.code
        del payload["replaces"]
        response = client.post(client.directory["newOrder"], payload)
    order = response.json()
    url = response.headers.get("Location")
    if not url:
        raise EngineError("the CA answered newOrder without the order's URL (no Location header)")
    files: list[ChallengeFile] = []
    records: list[ChallengeRecord] = []
    for authz_url in order.get("authorizations", []):
        authz = client.fetch(authz_url)
        status = authz.get("status")
        if status == "valid":  # reused authorization: nothing to publish
            continue
        if status != "pending":
            raise AuthorizationFailed([_failure(authz)])
        challenge = _challenge(authz, challenge_type)
        token = validate_token(challenge.get("token"))
        domain = authz["identifier"]["value"]
        key_authorization = _key_authorization(client, token)
        if challenge_type == "dns-01":
            records.append(ChallengeRecord(identifier=("*." if authz.get("wildcard") else "") + domain,
                                           name=dns01_name(domain), value=dns01_value(key_authorization),
                                           token=token, challenge_url=challenge["url"]))
        else:
            files.append(ChallengeFile(identifier=domain, token=token, content=key_authorization,
                                       challenge_url=challenge["url"]))
    return PendingOrder(url=url, status=order.get("status"), identifiers=_identifiers_of(order),
                        challenge_files=files, challenge_records=records, expires=order.get("expires"),
                        replaces=payload.get("replaces"), replaces_dropped=dropped,
                        profile=order.get("profile") or profile)


def _validate(client: AcmeClient, order: dict, deadline: Deadline, challenge_type: str = "http-01") -> None:
    """Ask the CA to validate every pending authorization and wait for the verdicts."""
    pending = []
    for authz_url in order.get("authorizations", []):
        authz = client.fetch(authz_url)
        if authz.get("status") == "valid":
            continue
        if authz.get("status") != "pending":
            raise AuthorizationFailed([_failure(authz)])
        challenge = _challenge(authz, challenge_type)
        validate_token(challenge.get("token"))
        if challenge.get("status") == "pending":
            client.post(challenge["url"], {})
        pending.append(authz_url)
    failures = []
    for authz_url in pending:
        authz = client.poll(authz_url, lambda body: body.get("status") not in ("pending", "processing"),
                            "authorization %s" % authz_url, deadline)
        if authz.get("status") != "valid":
            failures.append(_failure(authz))
    if failures:
        raise AuthorizationFailed(failures)


def _order_failed(order: dict, url: str) -> EngineError:
    problem = problem_from_body(order.get("error"))
    return EngineError("the order %s is %s: %s" % (url, order.get("status"), problem.get("detail") or "no detail"),
                       order_url=url, order_status=order.get("status"), problem=problem)


def _pick_chain(chains: list[bytes], preferred_chain: str | None) -> bytes:
    """The first chain whose top-most issuer (or any issuer) is named preferred_chain."""
    if preferred_chain:
        for chain in chains:
            issuers = [keys.parse_certificate(pem).issuer_cn for pem in keys.split_pem_certificates(chain)]
            if issuers and issuers[-1] == preferred_chain:
                return chain
        for chain in chains:
            if preferred_chain in [keys.parse_certificate(pem).issuer_cn for pem in keys.split_pem_certificates(chain)]:
                return chain
    return chains[0]


def _download(client: AcmeClient, cert_url: str, preferred_chain: str | None) -> tuple[bytes, int]:
    response = client.fetch_pem_chain(cert_url)
    chains = [response.content]
    alternates = [link["url"] for link in parse_header_links(response.headers.get("Link", ""))
                  if link.get("rel") == "alternate" and link.get("url")] if response.headers.get("Link") else []
    if preferred_chain:
        chains += [client.fetch_pem_chain(url).content for url in alternates]
    return _pick_chain(chains, preferred_chain), len(alternates)


def complete(client: AcmeClient, order_url: str, csr_for: Callable[[list[keys.Identifier]], bytes],
             preferred_chain: str | None = None,
             expected_public_key: str | None = None, challenge_type: str = "http-01") -> IssuedCertificate:
    """Validate, finalize and download the order at order_url.

    csr_for(identifiers) returns the CSR (PEM) to finalize with; it is only called
    when the order is ready, so a new key is generated only when it is needed.
    """
    deadline = Deadline(client.poll_timeout, client.net.clock)
    order = client.fetch(order_url)
    if order.get("status") == "pending":
        _validate(client, order, deadline, challenge_type)
        order = client.poll(order_url, lambda body: body.get("status") != "pending", "order %s" % order_url, deadline)
    finalized_here = False
    if order.get("status") == "ready":
        csr = x509.load_pem_x509_csr(csr_for(_identifiers_of(order)))
        der = csr.public_bytes(serialization.Encoding.DER)
        client.post(order["finalize"], {"csr": base64.urlsafe_b64encode(der).rstrip(b"=").decode()})
        finalized_here = True
    if order.get("status") in ("ready", "processing") or finalized_here:
        order = client.poll(order_url, lambda body: body.get("status") not in ("ready", "processing"),
                            "order %s" % order_url, deadline)
    if order.get("status") != "valid" or not order.get("certificate"):
        raise _order_failed(order, order_url)
    fullchain, alternates = _download(client, order["certificate"], preferred_chain)
    pems = keys.split_pem_certificates(fullchain)
    if not pems:
        raise EngineError("the CA returned no PEM certificate for %s" % order_url, order_url=order_url)
    info = keys.parse_certificate(pems[0])
    if not finalized_here and info.public_key_sha256 != expected_public_key:
        raise InputError("order_url", "this order was already finalized with another key; start a new order")
    return IssuedCertificate(certificate=pems[0], chain=b"".join(pems[1:]), fullchain=b"".join(pems),
                             order_url=order_url, info=info, alternates_offered=alternates,
                             profile=order.get("profile"))
