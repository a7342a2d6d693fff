# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACME accounts: key loading, registration, contacts, deactivation, key rollover, EAB."""
from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING

from . import keys
from .errors import ACMEProblem, InputError
from .fsio import KEY_MODE, FileSpec, write_atomic

try:
    from acme import jws, messages
except ImportError:  # reported by the module through deps.missing()
    pass

if TYPE_CHECKING:
    from .client import AcmeClient
    from .keys import PrivateKey

ACCOUNT_KEY_TYPE = "ecdsa-p256"
EAB_ALGORITHMS = ("HS256", "HS384", "HS512")


def load_account_key(path: str | None = None, content: str | None = None, create: bool = True,
                     check_mode: bool = False, field: str = "account_key") -> tuple[PrivateKey, bool]:
    """Return (key, generated). A missing key file is generated (ECDSA P-256, 0600) when create is set."""
    if content:
        return keys.load_private_key(content, field + "_content"), False
    if not path:
        raise InputError(field + "_path", "an account key path or content is required")
    try:
        with open(path, "rb") as handle:
            return keys.load_private_key(handle.read(), field + "_path"), False
    except FileNotFoundError:
        if not create:
            raise InputError(field + "_path", "%s does not exist" % path) from None
    except PermissionError:
        raise InputError(field + "_path", "%s is not readable" % path) from None
    key = keys.generate_private_key(ACCOUNT_KEY_TYPE)
    if not check_mode:
        save_account_key(path, key)
    return key, True


def save_account_key(path: str, key: PrivateKey, field: str = "account_key_path") -> None:
    """Write a generated account key (0600, in a 0700 directory when one is created)."""
    try:
        write_atomic(FileSpec(path, keys.private_key_to_pem(key), mode=KEY_MODE), dir_mode=0o700)
    except InputError as error:
        raise InputError(field, error.msg) from None


class AccountDeactivated(InputError):
    """The CA knows this key, but its account was deactivated (that cannot be undone)."""


def _contact_problem(problem: ACMEProblem) -> InputError:
    return InputError("contact", "the CA rejected the contact address(es): %s" % problem.detail,
                      problem=problem.details["problem"], http_status=problem.status, http_url=problem.url)


def _result(regr: messages.RegistrationResource | None, changed: bool, created: bool = False) -> dict:
    body = regr.body if regr is not None else None
    return {
        "changed": changed,
        "created": created,
        "account_uri": regr.uri if regr is not None else None,
        "contact": list(body.contact) if body is not None and body.contact else [],
        "status": body.status if body is not None and body.status else ("valid" if regr else None),
    }


def find(client: AcmeClient) -> messages.RegistrationResource | None:
    """The account of client's key, or None when the CA knows no such account."""
    client.use_account(None)  # newAccount must be signed with the JWK, not a key ID
    try:
        response = client.post(client.directory["newAccount"], {"onlyReturnExisting": True})
    except ACMEProblem as problem:
        if problem.code == "accountDoesNotExist":
            return None
        # RFC 8555 7.3.6: a deactivated account's key is refused as unauthorized; for onlyReturnExisting
        # (no account needed to ask) that is the only reason a known key is refused. Typed, not the detail text.
        if problem.code == "unauthorized":
            raise AccountDeactivated("account_key", "the account of this key is deactivated at the CA; "
                                     "register a new account with a new key") from None
        raise
    regr = messages.RegistrationResource(body=messages.Registration.from_json(response.json()),
                                         uri=response.headers.get("Location"))
    client.use_account(regr)
    return regr


_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def check_eab(eab: object) -> None:
    """External Account Binding, checked before anything is written or sent: kid, a strict base64url hmac_key."""
    if eab is None:
        return
    if not isinstance(eab, dict):
        raise InputError("external_account_binding", "must be a dict with kid and hmac_key")
    kid, hmac_key, alg = eab.get("kid"), eab.get("hmac_key"), eab.get("alg") or "HS256"
    if not kid or not isinstance(kid, str):
        raise InputError("external_account_binding.kid", "is required")
    if not hmac_key or not isinstance(hmac_key, str):
        raise InputError("external_account_binding.hmac_key", "is required")
    if alg not in EAB_ALGORITHMS:
        raise InputError("external_account_binding.alg", "must be one of %s" % ", ".join(EAB_ALGORITHMS))
    stripped = hmac_key.strip()
    body = stripped.rstrip("=")
    if not _B64URL.match(stripped) or len(body) % 4 == 1 or (stripped != body and len(stripped) % 4):
        raise InputError("external_account_binding.hmac_key", "is not strict base64url (only A-Z a-z 0-9 - _, "
                         "as the CA shows it; no spaces, '+' or '/')")
    if len(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) < 16:
        raise InputError("external_account_binding.hmac_key", "is shorter than 16 bytes; is it the whole key?")


def external_account_binding(client: AcmeClient, eab: dict) -> dict:
    kid, hmac_key = eab.get("kid"), eab.get("hmac_key")
    alg = eab.get("alg") or "HS256"
    if not kid:
        raise InputError("external_account_binding.kid", "is required")
    if not hmac_key:
        raise InputError("external_account_binding.hmac_key", "is required")
    if alg not in EAB_ALGORITHMS:
        raise InputError("external_account_binding.alg", "must be one of %s" % ", ".join(EAB_ALGORITHMS))
    check_eab(eab)
    return messages.ExternalAccountBinding.from_data(client.jwk.public_key(), kid, hmac_key, client.directory, alg)


def ensure_present(client: AcmeClient, contacts: list[str], terms_agreed: bool, eab: dict | None = None,
                   allow_create: bool = True, check_mode: bool = False) -> dict:
    """Register the account if needed and bring its contacts up to date."""
    regr = find(client)
    if regr is None:
        if not allow_create:
            raise InputError("allow_creation", "no account exists for this key and creation is disabled")
        terms = client.directory.meta.terms_of_service if client.directory.meta else None
        if terms and not terms_agreed:
            raise InputError("terms_agreed", "the CA requires agreeing to its terms of service (%s); "
                             "read them and set terms_agreed: true" % terms)
        eab_required = bool(client.directory.meta and client.directory.meta.external_account_required)
        if eab_required and not eab:
            raise InputError("external_account_binding", "this CA requires External Account Binding "
                             "(kid and hmac_key from the CA's account page)")
        if check_mode:
            return {"changed": True, "created": True, "account_uri": None, "contact": contacts, "status": None}
        body = {"contact": contacts, "termsOfServiceAgreed": bool(terms_agreed)}
        if eab:
            body["externalAccountBinding"] = external_account_binding(client, eab)
        client.use_account(None)
        try:
            response = client.post(client.directory["newAccount"], body)
        except ACMEProblem as problem:
            if problem.code in ("invalidContact", "unsupportedContact"):
                raise _contact_problem(problem) from None
            raise
        regr = messages.RegistrationResource(body=messages.Registration.from_json(response.json()),
                                             uri=response.headers.get("Location"))
        client.use_account(regr)
        return _result(regr, changed=True, created=True)
    if sorted(regr.body.contact or ()) == sorted(contacts):
        return _result(regr, changed=False)
    if check_mode:
        result = _result(regr, changed=True)
        result["contact"] = contacts
        return result
    try:
        response = client.post(regr.uri, {"contact": contacts})
    except ACMEProblem as problem:
        if problem.code in ("invalidContact", "unsupportedContact"):
            raise _contact_problem(problem) from None
        raise
    regr = regr.update(body=messages.Registration.from_json(response.json()))
    client.use_account(regr)
    return _result(regr, changed=True)


def deactivate(client: AcmeClient, check_mode: bool = False) -> dict:
    try:
        regr = find(client)
    except AccountDeactivated:
        return {"changed": False, "created": False, "account_uri": None, "contact": [], "status": "deactivated"}
    if regr is None:
        return {"changed": False, "created": False, "account_uri": None, "contact": [], "status": "absent"}
    if check_mode:
        result = _result(regr, changed=True)
        result["status"] = "deactivated"
        return result
    response = client.post(regr.uri, {"status": "deactivated"})
    return _result(regr.update(body=messages.Registration.from_json(response.json())), changed=True)


def rollover(client: AcmeClient, new_key: PrivateKey, check_mode: bool = False) -> dict:
    """Switch the account to new_key (RFC 8555 section 7.3.5); idempotent if already switched."""
    regr = find(client)
    if regr is None:
        # The old key has no account: if the new key already has one, the rollover happened earlier.
        done = find(client.with_key(new_key))
        if done is None:
            raise InputError("account_key", "no account exists for this key, so its key cannot be rolled over")
        return _result(done, changed=False)
    if check_mode:
        return _result(regr, changed=True)
    url = client.directory["keyChange"]
    new_client = client.with_key(new_key)
    inner_payload = json.dumps({"account": regr.uri, "oldKey": client.jwk.public_key().to_partial_json()}).encode()
    inner = jws.JWS.sign(inner_payload, key=new_client.jwk, alg=new_client.net.alg, nonce=None, url=url)
    client.post(url, inner)
    return _result(regr, changed=True)
