#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: acme_account
short_description: Ensure an ACME account exists, is up to date, rolled over or deactivated
version_added: 0.1.0
description:
  - Registers an account with an ACME CA (RFC 8555), keeps its contact addresses up to date, rolls its key over,
    or deactivates it.
  - The account key is read from O(account_key_path) or O(account_key_content). When O(account_key_path) does not
    exist yet and O(state=present), a new ECDSA P-256 key is generated there with mode V(0600).
  - Contact addresses are validated before anything is sent to the CA.
  - Returns the account URI, never key material.
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.acme
  - autotls.acme.attributes
attributes:
  check_mode:
    support: full
    details: Reports what would change; sends no changing request and writes no key.
  diff_mode:
    support: full
    details: Shows the account's contacts and status before and after.
options:
  state:
    description:
      - V(present) registers the account if needed and updates its contacts.
      - V(absent) deactivates the account (the CA keeps a record; deactivation cannot be undone).
      - V(changed_key) rolls the account over to O(new_account_key_path) or O(new_account_key_content).
    type: str
    choices: [present, absent, changed_key]
    default: present
  contact:
    description:
      - Contact email addresses, with or without a V(mailto:) prefix.
      - With O(state=present), at least one valid address is required. Malformed or empty entries are refused
        before anything is sent.
    type: list
    elements: str
    default: []
  terms_agreed:
    description:
      - Agree to the CA's terms of service. Registration fails with a clear message when the CA has terms and this
        is not V(true).
    type: bool
    default: false
  allow_creation:
    description: Create the account when none exists for the key. With V(false), a missing account is an error.
    type: bool
    default: true
  new_account_key_path:
    description: The new account key for O(state=changed_key) (PEM file). Generated (ECDSA P-256, 0600) if missing.
    type: path
  new_account_key_content:
    description: The new account key for O(state=changed_key) as PEM text. Never logged.
    type: str
  external_account_binding:
    description:
      - External Account Binding for CAs that require it (ZeroSSL, step-ca, many private CAs).
      - Used only when a new account is registered.
    type: dict
    suboptions:
      kid:
        description: Key identifier given by the CA.
        type: str
        required: true
      hmac_key:
        description: The base64url MAC key given by the CA. Never logged.
        type: str
        required: true
      alg:
        description: MAC algorithm.
        type: str
        choices: [HS256, HS384, HS512]
        default: HS256
seealso:
  - name: RFC 8555, Automatic Certificate Management Environment
    description: The ACME protocol.
    link: https://www.rfc-editor.org/rfc/rfc8555
  - module: autotls.acme.acme_order
'''

EXAMPLES = r'''
---
- name: Ensure an account at Let's Encrypt staging (the default directory)
  autotls.acme.acme_account:
    account_key_path: /etc/autotls/account.key
    contact:
      - ops@example.com
    terms_agreed: true

- name: Register with a CA that requires External Account Binding
  autotls.acme.acme_account:
    acme_directory: https://acme.zerossl.com/v2/DV90
    account_key_path: /etc/autotls/zerossl.key
    contact: [ops@example.com]
    terms_agreed: true
    external_account_binding:
      kid: "{{ zerossl_eab_kid }}"
      hmac_key: "{{ zerossl_eab_hmac_key }}"

- name: Roll the account key over
  autotls.acme.acme_account:
    account_key_path: /etc/autotls/account.key
    new_account_key_path: /etc/autotls/account-2026.key
    state: changed_key

- name: Deactivate the account
  autotls.acme.acme_account:
    account_key_path: /etc/autotls/account.key
    state: absent
'''

RETURN = r'''
account_uri:
  description: URI of the account at the CA (its key ID).
  returned: when the account exists or was created
  type: str
  sample: https://acme-staging-v02.api.letsencrypt.org/acme/acct/123456
contact:
  description: The account's contact URIs after the task.
  returned: always
  type: list
  elements: str
  sample: ["mailto:ops@example.com"]
status:
  description: Account status reported by the CA (V(valid), V(deactivated)); V(absent) when no account exists.
  returned: always
  type: str
  sample: valid
created:
  description: Whether the account was registered by this task.
  returned: always
  type: bool
key_generated:
  description: Whether a new account key was generated at O(account_key_path) (or O(new_account_key_path)).
  returned: always
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autotls.acme.plugins.module_utils import _adapter
from ansible_collections.autotls.acme.plugins.module_utils._argspec import (
    ACME_MUTUALLY_EXCLUSIVE, ACME_REQUIRED_ONE_OF, acme_argument_spec)
from ansible_collections.autotls.acme.plugins.module_utils._engine import account, deps
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError


def _work(module) -> dict:
    params, check = module.params, module.check_mode
    state = params["state"]
    contacts = account.validate_contacts(params["contact"], required=(state == "present"))
    key, generated = account.load_account_key(params["account_key_path"], params["account_key_content"],
                                              create=(state == "present"), check_mode=check)
    client = _adapter.client_from_params(module, key)
    if state == "present":
        if generated and check:  # a brand-new key cannot have an account yet
            result = {"changed": True, "created": True, "account_uri": None, "contact": contacts, "status": None}
        else:
            before = account.find(client)
            result = account.ensure_present(client, contacts, params["terms_agreed"],
                                            params["external_account_binding"], params["allow_creation"], check)
            if module._diff:
                result["diff"] = {
                    "before": {"contact": list(before.body.contact or []), "status": before.body.status or "valid"}
                    if before else {"status": "absent"},
                    "after": {"contact": result["contact"], "status": result["status"] or "valid"}}
    elif state == "absent":
        result = account.deactivate(client, check)
        if module._diff and result["changed"]:
            result["diff"] = {"before": {"status": "valid"}, "after": {"status": "deactivated"}}
    else:
        if not (params["new_account_key_path"] or params["new_account_key_content"]):
            raise InputError("new_account_key_path", "state=changed_key needs the new key")
        new_key, generated = account.load_account_key(params["new_account_key_path"], params["new_account_key_content"],
                                                      create=True, check_mode=check, field="new_account_key")
        result = account.rollover(client, new_key, check)
    result["key_generated"] = generated
    return result


def main():
    argument_spec = acme_argument_spec()
    argument_spec.update(
        state=dict(type="str", default="present", choices=["present", "absent", "changed_key"]),
        contact=dict(type="list", elements="str", default=[]),
        terms_agreed=dict(type="bool", default=False),
        allow_creation=dict(type="bool", default=True),
        new_account_key_path=dict(type="path"),
        new_account_key_content=dict(type="str", no_log=True),
        external_account_binding=dict(type="dict", options=dict(
            kid=dict(type="str", required=True),
            hmac_key=dict(type="str", required=True, no_log=True),
            alg=dict(type="str", default="HS256", choices=["HS256", "HS384", "HS512"]),
        )),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=ACME_MUTUALLY_EXCLUSIVE + [("new_account_key_path", "new_account_key_content")],
        required_one_of=ACME_REQUIRED_ONE_OF,
        supports_check_mode=True,
    )
    _adapter.require_libraries(module, deps.ACME)
    module.exit_json(**_adapter.run(module, lambda: _work(module)))


if __name__ == "__main__":
    main()
