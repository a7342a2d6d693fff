#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: acme_revoke
short_description: Revoke certificates at an ACME CA
version_added: 0.2.0
description:
  - Asks the CA to revoke a certificate (RFC 8555, section 7.6), or several in one task with O(certificates).
  - "The request is signed with the ACME account key (O(account_key_path) or O(account_key_content)); the account
    must be the one that ordered the certificate, or one that holds authorizations for all its names. Or it is
    signed with the certificate's own private key (O(private_key_path) or O(private_key_content)): that works
    without any account, and is what to do when the key is compromised."
  - A certificate the CA already revoked is reported with RV(already_revoked=true) and C(changed=false), not as an
    error, so the task is idempotent.
  - Revocation cannot be undone. Replace the certificate first, or in the same run (the
    C(autotls.acme.certificate) role's C(certificate_revoke) variable does both, with a new key).
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.acme
  - autotls.acme.attributes
attributes:
  check_mode:
    support: full
    details: Reports what would be revoked (serial, names, reason, which key signs); contacts no CA.
  diff_mode:
    support: none
options:
  certificate_path:
    description: The certificate to revoke (PEM; a fullchain is accepted, its first certificate is revoked).
    type: path
  certificate_content:
    description: The certificate to revoke, as PEM text.
    type: str
  private_key_path:
    description:
      - The certificate's private key. When given, the request is signed with it instead of the account key.
    type: path
  private_key_content:
    description: The certificate's private key as PEM text. Never logged.
    type: str
  reason:
    description:
      - Revocation reason (RFC 5280 CRLReason), the ones a subscriber may ask for.
      - Use V(keyCompromise) when the private key leaked (Let's Encrypt then blocks the key); V(superseded) when the
        certificate was replaced; V(cessationOfOperation) when the names are no longer used; V(affiliationChanged)
        when the names changed hands.
    type: str
    choices: [unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation]
    default: unspecified
  certificates:
    description:
      - Several certificates in one task; each entry takes C(name) (a label for the result), C(certificate_path) or
        C(certificate_content), and optionally C(private_key_path) or C(private_key_content) and C(reason) (default
        O(reason)). Each is revoked on its own; one failing does not stop the others (see O(fail_on_error)).
      - Mutually exclusive with O(certificate_path) and O(certificate_content).
    type: list
    elements: dict
    suboptions:
      name:
        description: A label for the result; defaults to the certificate's serial.
        type: str
      certificate_path:
        description: As O(certificate_path).
        type: path
      certificate_content:
        description: As O(certificate_content).
        type: str
      private_key_path:
        description: As O(private_key_path).
        type: path
      private_key_content:
        description: As O(private_key_content).
        type: str
      reason:
        description: As O(reason).
        type: str
        choices: [unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation]
  sign_with:
    description:
      - With O(certificates), which key signs each request - V(account) (the default; keys given in the entries
        are then not read) or V(certificate_key), the private key given in each entry.
    type: str
    choices: [account, certificate_key]
    default: account
  fail_on_error:
    description: With O(certificates), fail the task when any revocation failed (after all were tried).
    type: bool
    default: true
notes:
  - The account key options are not needed when the certificate's key signs (O(private_key_path),
    O(private_key_content), or O(sign_with=certificate_key)).
seealso:
  - module: autotls.acme.acme_order
  - module: autotls.acme.cert_store
  - name: RFC 8555, section 7.6 (Certificate Revocation)
    description: The revocation request.
    link: https://www.rfc-editor.org/rfc/rfc8555#section-7.6
'''

EXAMPLES = r'''
---
- name: Revoke a replaced certificate with the account key
  autotls.acme.acme_revoke:
    account_key_path: /etc/autotls/account.key
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    certificate_path: /etc/ssl/certs/old.pem
    reason: superseded

- name: The key leaked - revoke with the certificate's own key (no account needed)
  autotls.acme.acme_revoke:
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    certificate_path: /etc/ssl/certs/www.pem
    private_key_path: /etc/ssl/private/www.key
    reason: keyCompromise

- name: Several certificates in one task
  autotls.acme.acme_revoke:
    account_key_path: /etc/autotls/account.key
    reason: cessationOfOperation
    certificates:
      - {name: shop, certificate_path: /srv/certs/shop/cert.pem}
      - {name: blog, certificate_path: /srv/certs/blog/cert.pem}
'''

RETURN = r'''
serial:
  description: Serial number (hex) of the certificate.
  returned: single-certificate form
  type: str
  sample: 5031e02fb99a8f23
identifiers:
  description: The names the certificate covers.
  returned: single-certificate form
  type: list
  elements: str
reason:
  description: The revocation reason sent.
  returned: single-certificate form
  type: str
  sample: keyCompromise
revoked:
  description: Whether the certificate is revoked after the task (would be, in check mode).
  returned: single-certificate form
  type: bool
already_revoked:
  description: Whether the CA said the certificate had been revoked before (C(alreadyRevoked)).
  returned: single-certificate form
  type: bool
signed_with:
  description: V(account key) or V(certificate key).
  returned: single-certificate form
  type: str
certificates:
  description:
    - With O(certificates), one result per entry in order, with C(name), C(failed) and the fields above; a failed
      entry has C(msg) and the error's structured details (C(problem), C(http_status)).
  returned: with O(certificates)
  type: list
  elements: dict
revoked_count:
  description: With O(certificates), how many were revoked by this task.
  returned: with O(certificates)
  type: int
failed_count:
  description: With O(certificates), how many failed.
  returned: with O(certificates)
  type: int
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autotls.acme.plugins.module_utils import _adapter
from ansible_collections.autotls.acme.plugins.module_utils._argspec import acme_argument_spec
from ansible_collections.autotls.acme.plugins.module_utils._engine import account, batch, deps, keys, revoke
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError

REASONS = list(revoke.REASONS)


def _read(item, part, prefix=""):
    path, content = item.get(part + "_path"), item.get(part + "_content")
    if path:
        try:
            with open(path, "rb") as handle:
                return handle.read()
        except OSError as exc:
            raise InputError(prefix + part + "_path", "cannot read %s: %s" % (path, exc.strerror)) from None
    return content.encode() if content else None


def _client(module, key):
    return _adapter.client_from_params(module, key)


def _account_client(module):
    params = module.params
    if not (params["account_key_path"] or params["account_key_content"]):
        raise InputError("account_key_path", "the account key is required unless the certificate's key signs")
    key, _generated = account.load_account_key(params["account_key_path"], params["account_key_content"],
                                               create=False)
    client = _client(module, key)
    if account.find(client) is None:
        raise InputError("account_key_path" if params["account_key_path"] else "account_key_content",
                         "no ACME account exists for this key at %s" % params["acme_directory"])
    return client


def _one(module, get_client, item, prefix, sign_with):
    """sign_with: "account", "certificate_key", or None (the certificate's key when one is given)."""
    certificate = _read(item, "certificate", prefix)
    if not certificate:
        raise InputError(prefix + "certificate_path", "a certificate path or content is required")
    cert_key = None
    key_pem = _read(item, "private_key", prefix) if sign_with != "account" else None
    if sign_with == "certificate_key" and not key_pem:
        raise InputError(prefix + "private_key_path", "the certificate's key is required to sign with it")
    if key_pem:
        cert_key = keys.load_private_key(key_pem, prefix + "private_key")
    reason = revoke.check_reason(item.get("reason") or module.params["reason"], prefix + "reason")
    if module.check_mode:
        return revoke.revoke(None, certificate, reason, cert_key, check_mode=True)
    if cert_key is not None:
        client = _client(module, keys.generate_private_key("ecdsa-p256"))   # only the directory is read
    else:
        client = get_client()
    return revoke.revoke(client, certificate, reason, cert_key)


def _work(module):
    params = module.params
    if params["certificates"] is None:
        if not (params["certificate_path"] or params["certificate_content"]):
            raise InputError("certificate_path", "certificate_path, certificate_content or certificates is required")
        return _one(module, lambda: _account_client(module), params, "", None)
    shared = {}

    def get_client():
        if "client" not in shared:
            shared["client"] = _account_client(module)
        return shared["client"]

    def work(_unused, indexed):
        index, item = indexed
        result = _one(module, get_client, item, "certificates[%d]." % index, params["sign_with"])
        result["name"] = item.get("name") or result["serial"]
        return result

    results = batch.run(list(enumerate(params["certificates"])), work, None, concurrency=1)
    for (index, item), result in zip(enumerate(params["certificates"]), results):
        result.setdefault("name", item.get("name") or "certificate %d" % index)
    failed = [r for r in results if r.get("failed")]
    out = {"changed": any(r.get("changed") for r in results), "certificates": results,
           "revoked_count": len([r for r in results if r.get("changed") and not r.get("failed")]),
           "failed_count": len(failed)}
    if failed and params["fail_on_error"]:
        module.fail_json(msg="%d of %d revocations failed: %s" % (len(failed), len(results), "; ".join(
            "%s: %s" % (r["name"], r["msg"]) for r in failed)), **out)
    return out


def main():
    argument_spec = acme_argument_spec()
    entry = dict(name=dict(type="str"), certificate_path=dict(type="path"), certificate_content=dict(type="str"),
                 private_key_path=dict(type="path"), private_key_content=dict(type="str", no_log=True),
                 reason=dict(type="str", choices=REASONS))
    argument_spec.update(
        certificate_path=dict(type="path"),
        certificate_content=dict(type="str"),
        private_key_path=dict(type="path"),
        private_key_content=dict(type="str", no_log=True),
        reason=dict(type="str", default="unspecified", choices=REASONS),
        certificates=dict(type="list", elements="dict", options=entry),
        sign_with=dict(type="str", default="account", choices=["account", "certificate_key"]),
        fail_on_error=dict(type="bool", default=True),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("account_key_path", "account_key_content"), ("certificate_path", "certificate_content"),
                            ("private_key_path", "private_key_content"), ("certificates", "certificate_path"),
                            ("certificates", "certificate_content"), ("certificates", "private_key_path"),
                            ("certificates", "private_key_content")],
        supports_check_mode=True,
    )
    _adapter.require_libraries(module, deps.ACME)
    module.exit_json(**_adapter.run(module, lambda: _work(module)))


if __name__ == "__main__":
    main()
