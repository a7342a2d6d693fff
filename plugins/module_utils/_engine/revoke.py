# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate revocation (RFC 8555 section 7.6).

Signed either by the account that ordered the certificate (key ID) or, when the account key is
not at hand or the certificate's key is compromised, by the certificate's own private key (JWK).
A certificate the CA already revoked is reported as such, not as an error: revoking is idempotent.
"""
from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from . import keys
from .errors import ACMEProblem, InputError

if TYPE_CHECKING:
    from .client import AcmeClient

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
except ImportError:  # reported by the module through deps.missing()
    pass

# RFC 5280 section 5.3.1 CRLReason codes that a subscriber may ask for (the ones Let's Encrypt accepts)
REASONS = {"unspecified": 0, "keyCompromise": 1, "affiliationChanged": 3, "superseded": 4,
           "cessationOfOperation": 5}


def check_reason(reason: str | None, field_name: str = "reason") -> str:
    reason = reason or "unspecified"
    if reason not in REASONS:
        raise InputError(field_name, "%r is not one of %s" % (reason, ", ".join(REASONS)))
    return reason


def revoke(client: AcmeClient, certificate_pem: bytes, reason: str = "unspecified",
           certificate_key: keys.PrivateKey | None = None, check_mode: bool = False) -> dict:
    """Revoke certificate_pem for reason.

    client is an AcmeClient; with certificate_key (the certificate's private key object) the request is
    signed with that key (its JWK), else with the client's account, which must exist (account.find first).
    Returns {"changed", "revoked", "already_revoked", "serial", "reason", "signed_with"}.
    """
    reason = check_reason(reason)
    pems = keys.split_pem_certificates(certificate_pem or b"")
    if not pems:
        raise InputError("certificate", "no PEM certificate found")
    info = keys.parse_certificate(pems[0], "certificate")
    if certificate_key is not None and not keys.key_matches_certificate(certificate_key, pems[0]):
        raise InputError("private_key", "does not match the certificate (serial %s)" % info.serial)
    result = {"serial": info.serial, "reason": reason, "identifiers": [i.value for i in info.identifiers],
              "signed_with": "certificate key" if certificate_key is not None else "account key",
              "already_revoked": False}
    if check_mode:
        return dict(result, changed=True, revoked=True)
    if certificate_key is not None:
        signer = client.with_key(certificate_key)
        signer.use_account(None)   # a JWK in the protected header, no key ID
    else:
        signer = client
    der = x509.load_pem_x509_certificate(pems[0]).public_bytes(serialization.Encoding.DER)
    payload = {"certificate": base64.urlsafe_b64encode(der).rstrip(b"=").decode(), "reason": REASONS[reason]}
    try:
        signer.post(signer.directory["revokeCert"], payload)
    except ACMEProblem as problem:
        if problem.code == "alreadyRevoked":
            return dict(result, changed=False, revoked=True, already_revoked=True)
        raise
    return dict(result, changed=True, revoked=True)
