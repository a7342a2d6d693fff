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
  - "With O(storage), the account key and URI are kept in the certificate store (the options of
    M(autotls.acme.cert_store)), one account per O(acme_directory): a controller with an empty disk (AWX, Automation
    Platform, CI) fetches the stored account instead of registering a new one, and writes its key only to
    O(account_key_path) (mode V(0600); give a private temporary path and remove it afterwards). Registration takes
    the store's lock, so two fresh controllers racing create one account. With O(state=changed_key), the stored key
    is replaced by the new one after the rollover."
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
  storage:
    description:
      - Keep the account in this certificate store instead of only on the local disk - a dict of the backend options
        of M(autotls.acme.cert_store) (O(storage.backend) and its C(local_*), C(s3_*), C(redis_*) or C(gcs_*) options).
      - The stored account is used when there is one; its key is written to O(account_key_path) (when given) so that
        later tasks can sign with it. When none is stored, the key at O(account_key_path) (or O(account_key_content),
        or a new one) registers the account, and key and URI are stored. Local keys are thus migrated on first use.
      - The record (C(accounts/<directory>/account.json)) is stored like certificate keys - S3 or GCS server-side
        encryption, mode V(0600) locally.
    type: dict
    suboptions:
      backend:
        description: The storage backend, as O(autotls.acme.cert_store#module:backend).
        type: str
        required: true
        choices: [local, s3, redis, gcs]
      local_path:
        description: As O(autotls.acme.cert_store#module:local_path).
        type: path
      s3_bucket:
        description: As O(autotls.acme.cert_store#module:s3_bucket).
        type: str
      s3_prefix:
        description: As O(autotls.acme.cert_store#module:s3_prefix).
        type: str
      s3_endpoint_url:
        description: As O(autotls.acme.cert_store#module:s3_endpoint_url).
        type: str
      s3_region:
        description: As O(autotls.acme.cert_store#module:s3_region).
        type: str
      s3_access_key:
        description: As O(autotls.acme.cert_store#module:s3_access_key).
        type: str
      s3_secret_key:
        description: As O(autotls.acme.cert_store#module:s3_secret_key).
        type: str
      s3_session_token:
        description: As O(autotls.acme.cert_store#module:s3_session_token).
        type: str
      s3_sse:
        description: As O(autotls.acme.cert_store#module:s3_sse).
        type: str
        choices: [AES256, aws:kms, none]
      s3_kms_key_id:
        description: As O(autotls.acme.cert_store#module:s3_kms_key_id).
        type: str
      s3_ca_bundle:
        description: As O(autotls.acme.cert_store#module:s3_ca_bundle).
        type: path
      s3_max_attempts:
        description: As O(autotls.acme.cert_store#module:s3_max_attempts).
        type: int
      redis_url:
        description: As O(autotls.acme.cert_store#module:redis_url).
        type: str
      redis_prefix:
        description: As O(autotls.acme.cert_store#module:redis_prefix).
        type: str
      gcs_bucket:
        description: As O(autotls.acme.cert_store#module:gcs_bucket).
        type: str
      gcs_prefix:
        description: As O(autotls.acme.cert_store#module:gcs_prefix).
        type: str
      gcs_project:
        description: As O(autotls.acme.cert_store#module:gcs_project).
        type: str
      gcs_credentials_file:
        description: As O(autotls.acme.cert_store#module:gcs_credentials_file).
        type: path
      gcs_credentials_content:
        description: As O(autotls.acme.cert_store#module:gcs_credentials_content).
        type: str
      gcs_kms_key_name:
        description: As O(autotls.acme.cert_store#module:gcs_kms_key_name).
        type: str
      gcs_endpoint_url:
        description: As O(autotls.acme.cert_store#module:gcs_endpoint_url).
        type: str
      gcs_anonymous:
        description: As O(autotls.acme.cert_store#module:gcs_anonymous).
        type: bool
      storage_timeout:
        description: As O(autotls.acme.cert_store#module:storage_timeout).
        type: float
  storage_lock_timeout:
    description: With O(storage), seconds to wait for another controller that is registering the account.
    type: float
    default: 120
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

- name: The account in shared storage (AWX, Automation Platform, CI - controllers with empty disks)
  autotls.acme.acme_account:
    account_key_path: "{{ private_tmp_dir }}/account.key"   # 0600; remove the directory at the end
    contact: [ops@example.com]
    terms_agreed: true
    storage:
      backend: s3
      s3_bucket: example-certificates
      s3_prefix: autotls/

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
stored_account:
  description:
    - With O(storage), the stored account after the task - C(acme_directory), C(account_uri), C(public_key_sha256),
      C(contact), C(stored_at); never the key.
  returned: with O(storage)
  type: dict
fetched:
  description: With O(storage), whether the account (key and URI) came from storage rather than being registered.
  returned: with O(storage)
  type: bool
key_generated:
  description: Whether a new account key was generated at O(account_key_path) (or O(new_account_key_path)).
  returned: always
  type: bool
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autotls.acme.plugins.module_utils import _adapter
from ansible_collections.autotls.acme.plugins.module_utils._argspec import (
    ACME_MUTUALLY_EXCLUSIVE, acme_argument_spec, storage_argument_spec)
from ansible_collections.autotls.acme.plugins.module_utils._engine import account, deps, fsio, inputs, keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import factory
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import accounts


def _with_storage(module) -> dict:
    """The account kept in the certificate store: fetched when stored, registered (under its lock) when not."""
    params, check = module.params, module.check_mode
    state = params["state"]
    options = dict(params["storage"])
    kind = options.pop("backend")
    contacts = inputs.validate_contacts(params["contact"], required=(state == "present"))
    backend = factory.open_backend(kind, options)
    try:
        store = accounts.AccountStore(backend, params["acme_directory"])
        lock = None if check else store.lock(params["storage_lock_timeout"])
        try:
            stored = store.load()
            if stored is not None:
                key, generated = stored["private_key"], False
                path = params["account_key_path"]
                if path and not check:   # for the tasks that sign next; private, 0600
                    fsio.write_atomic(fsio.FileSpec(path, keys.private_key_to_pem(key), mode=fsio.KEY_MODE),
                                      dir_mode=0o700)
            else:
                key, generated = account.load_account_key(params["account_key_path"], params["account_key_content"],
                                                          create=(state == "present"), check_mode=check)
            client = _adapter.client_from_params(module, key)
            if state == "present":
                result = account.ensure_present(client, contacts, params["terms_agreed"],
                                                params["external_account_binding"], params["allow_creation"], check)
                save = stored is None or stored.get("account_uri") != result["account_uri"] or \
                    sorted(stored.get("contact") or []) != sorted(result["contact"])
                if save and not check:
                    stored = dict(stored or {}, **store.save(key, result["account_uri"], result["contact"]))
                    result["changed"] = True
                elif save:
                    result["changed"] = True
            elif state == "absent":
                result = account.deactivate(client, check)
            else:
                if not (params["new_account_key_path"] or params["new_account_key_content"]):
                    raise InputError("new_account_key_path", "state=changed_key needs the new key")
                new_key, generated = account.load_account_key(
                    params["new_account_key_path"], params["new_account_key_content"], create=True, check_mode=check,
                    field="new_account_key")
                result = account.rollover(client, new_key, check)
                if not check and (stored is None or keys.public_key_sha256(stored["private_key"])
                                  != keys.public_key_sha256(new_key)):
                    stored = dict(stored or {}, **store.save(new_key, result["account_uri"], result["contact"]))
                    result["changed"] = True
            result["key_generated"] = generated
            result["fetched"] = stored is not None and not result.get("created")
            result["stored_account"] = accounts.public(stored)
            return result
        finally:
            if lock is not None:
                store.unlock(lock)
    finally:
        backend.close()


def _work(module) -> dict:
    params, check = module.params, module.check_mode
    if params["storage"]:
        return _with_storage(module)
    if not (params["account_key_path"] or params["account_key_content"]):
        raise InputError("account_key_path", "one of account_key_path, account_key_content or storage is required")
    state = params["state"]
    contacts = inputs.validate_contacts(params["contact"], required=(state == "present"))
    # every cheap check before a key is written or the CA is asked
    _adapter.check_acme_params(params)
    account.check_eab(params["external_account_binding"])
    if state == "present" and params["account_key_path"] and not params["account_key_content"]:
        fsio.check_no_symlinks(params["account_key_path"], "account_key_path")
    key, generated = account.load_account_key(params["account_key_path"], params["account_key_content"],
                                              create=(state == "present"), check_mode=True)
    client = _adapter.client_from_params(module, key)
    if generated:
        client.check_directory()   # really an ACME directory (named in the error), before the key is written
        if not check:
            account.save_account_key(params["account_key_path"], key)
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
        storage=dict(type="dict", options=storage_argument_spec()),
        storage_lock_timeout=dict(type="float", default=120),
        external_account_binding=dict(type="dict", options=dict(
            kid=dict(type="str", required=True),
            hmac_key=dict(type="str", required=True, no_log=True),
            alg=dict(type="str", default="HS256", choices=["HS256", "HS384", "HS512"]),
        )),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=ACME_MUTUALLY_EXCLUSIVE + [("new_account_key_path", "new_account_key_content")],
        supports_check_mode=True,
    )
    _adapter.require_libraries(module, deps.ACME, *(
        [{"s3": deps.S3, "redis": deps.REDIS, "gcs": deps.GCS}.get((module.params["storage"] or {}).get("backend"), {})]
        if module.params["storage"] else []))
    module.exit_json(**_adapter.run(module, lambda: _work(module)))


if __name__ == "__main__":
    main()
