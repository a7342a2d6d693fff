#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: certificate_plan
short_description: The certificate role's first step - check, plan, look up storage and decide, in one task
version_added: 0.3.0
description:
  - Used by the M(autotls.acme.certificate) role; runs on the control node, in Ansible's own process (an action
    plugin, no module is sent anywhere).
  - Checks every input of the role by the rules the modules apply (contact email, identifiers, DNS-01 settings,
    names, services, ACME directory, storage options, lock settings, EAB, paths and modes) and fails, naming each
    field, before anything is read, written or ordered.
  - Plans every certificate (the role's defaults filled in, canonical identifiers, staging and deploy paths), reads
    storage as M(autotls.acme.cert_store_info) does and applies the engine's one due decision, with the role's
    additions (O(force), O(retry_now), the pending area).
  - Its options are the role's variables of the same name without the C(certificate_) prefix; see the role's
    documentation for each.
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.attributes
  - autotls.acme.attributes.info_module
options:
  certificate_list:
    description: The certificates to manage (the role's C(certificate_list)).
    type: list
    elements: dict
    required: true
  contact_email:
    description: The ACME account's contact email.
    type: str
  services:
    description: Services that use every certificate by default.
    type: list
    elements: str
  service_commands:
    description: Check and reload command of each known service.
    type: dict
  challenge:
    description: The default challenge type.
    type: str
    choices: [http-01, dns-01]
  dns:
    description: The default DNS-01 provider settings.
    type: dict
  max_identifiers:
    description: The most identifiers one certificate may have.
    type: int
  revoke:
    description: Certificates to revoke (the role's C(certificate_revoke)); with any, storage is read after them.
    type: list
    elements: raw
  key_type:
    description: The default key type.
    type: str
  verify:
    description: Whether each host's served certificate is checked by default.
    type: bool
  verify_port:
    description: The default port checked.
    type: int
  renew_before_days:
    description: Days before expiry at which a certificate is due (V(0) for the lifetime-relative window).
    type: float
  profile:
    description: The default ACME profile.
    type: str
  force:
    description: Every certificate is due.
    type: bool
  retry_now:
    description: Certificates to try again now although they are backing off after failures.
    type: list
    elements: str
  acme_directory:
    description: The ACME directory URL.
    type: str
  ca_bundle:
    description: CA bundle trusted for the ACME directory.
    type: str
  storage:
    description: Where certificates are stored (the role's C(certificate_storage), with its C(backend)).
    type: dict
  lock_ttl:
    description: The storage lock's time to live, in seconds; also the age of stale staging directories.
    type: float
  lock_timeout:
    description: How long a run waits for the storage lock, in seconds.
    type: float
  eab:
    description: External account binding (C(kid), C(hmac_key)).
    type: dict
  concurrency:
    description: Orders placed at the same time.
    type: int
  webroot:
    description: The HTTP-01 webroot.
    type: str
  deploy_dir:
    description: Where certificates are deployed by default.
    type: str
  key_mode:
    description: Mode of deployed keys.
    type: str
  cert_mode:
    description: Mode of deployed certificates.
    type: str
  alert_days:
    description: Days before expiry at which a certificate is an alert (V(0) for half its renewal window).
    type: float
  ari:
    description: Follow the CA's renewal information (RFC 9773) where its https directory offers it.
    type: bool
  pending_dir:
    description: The control node's pending area (certificates issued but not yet stored).
    type: str
  staging_base:
    description: Where the run's private staging directory is made.
    type: str
  lookup:
    description: Read storage and decide; V(false) checks and plans only.
    type: bool
    default: true
notes:
  - Reads storage with the control node's Python, so the storage backend's library (boto3, redis,
    google-cloud-storage) must be installed there, as for M(autotls.acme.cert_store_info).
'''

EXAMPLES = r'''
- name: What the role does first (it passes its own variables)
  autotls.acme.certificate_plan:
    certificate_list:
      - name: www.example.com
        identifiers: [www.example.com, example.com]
    contact_email: admin@example.com
    acme_directory: https://acme-staging-v02.api.letsencrypt.org/directory
    storage:
      backend: local
      local_path: /var/lib/autotls/store
  run_once: true
  register: plan
'''

RETURN = r'''
plan_json:
  description:
    - Every certificate with the role's defaults filled in, its staging and explicit deploy paths, as JSON text
      (one string passes from task to task without the cost of a structure of thousands of entries; decode it
      with the C(from_json) filter).
  returned: success
  type: str
count:
  description: The number of certificates planned.
  returned: success
  type: int
verify:
  description: Whether any certificate is to be checked on the hosts that serve it.
  returned: success
  type: bool
staging_dir:
  description: This run's private staging directory on the control node (made only when needed).
  returned: success
  type: str
info_json:
  description: What M(autotls.acme.cert_store_info) returns for the planned certificates, as JSON text.
  returned: when O(lookup=true) and nothing is to be revoked
  type: str
due:
  description: Names of the certificates this run orders.
  returned: when O(lookup=true) and nothing is to be revoked
  type: list
  elements: str
due_reasons:
  description: Why each of them is due.
  returned: when O(lookup=true) and nothing is to be revoked
  type: dict
quiet:
  description: Nothing is due, nothing is to be revoked and storage is owed nothing.
  returned: when O(lookup=true) and nothing is to be revoked
  type: bool
errors:
  description: Every problem with the inputs, each naming its field.
  returned: when the inputs are wrong
  type: list
  elements: str
'''
