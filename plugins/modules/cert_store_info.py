#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: cert_store_info
short_description: What is stored and what is due, for hundreds of certificates in one task
version_added: 0.2.0
description:
  - Reads the certificates kept by M(autotls.acme.cert_store) (local directory, S3, Redis, GCS) and answers, for each,
    whether it exists, when it expires, whether it is due for renewal and why, and how its last renewal attempts
    went. It never changes anything.
  - "It reads only the small metadata objects and decides as M(autotls.acme.acme_order) does (less than a third of
    the lifetime left, a half for certificates that live under 10 days, or fewer than O(renew_before_days) days)."
  - "With O(ari=true), it follows the CA's ACME Renewal Information (ARI, RFC 9773) where the directory offers it:
    each certificate is due at a random moment inside the window the CA suggests, so the CA can ask for early
    renewal (for example before a mass revocation) and spread a fleet's renewals. The CA's answer is cached in the
    entry's status until its C(Retry-After), so most runs send no request; when it cannot be asked, the
    lifetime-relative policy decides and RV(certificates[].ari_error) says why. A directory that offers no renewal
    information is noted in storage (C(notes/<directory>/ari.json)) and read again a day later, not on every run.
    Writing these caches is the only write this module makes; it is not reported as a change and is skipped in
    check mode."
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.storage
  - autotls.acme.attributes
  - autotls.acme.attributes.info_module
options:
  name:
    description:
      - One certificate to report. Mutually exclusive with O(names).
    type: str
  names:
    description:
      - The certificates to report. When omitted (and O(name) too), every certificate stored for O(acme_directory).
      - Names that are not stored are reported with RV(certificates[].exists=false) and due.
    type: list
    elements: str
  acme_directory:
    description:
      - URL of the ACME directory the certificates come from; part of the storage key, so certificates of a staging
        and of a production directory never mix.
      - Required, so that an empty answer can never come from looking under the wrong directory.
    type: str
    required: true
  renew_before_days:
    description:
      - A certificate is due when fewer than this many days are left; replaces the lifetime-relative window of
        M(autotls.acme.acme_order) (V(0) means unset). A value at or above a certificate's lifetime is capped to the
        lifetime window, with a warning.
    type: float
  requests:
    description:
      - What is asked for each certificate, so that the due decision (the engine's one decision, as
        M(autotls.acme.acme_order) makes it) also covers changed names, key types and profiles. O(names) defaults
        to these names.
      - Identifiers are made canonical and compared as sets (see M(autotls.acme.acme_order)).
    type: list
    elements: dict
    suboptions:
      name:
        description: The certificate's name.
        type: str
        required: true
      identifiers:
        description: The names the certificate must cover.
        type: list
        elements: str
        required: true
      key_type:
        description: The key type asked for; a stored certificate with another key type is due.
        type: str
        choices: [ecdsa-p256, ecdsa-p384, rsa-2048, rsa-3072, rsa-4096]
      renew_before_days:
        description: As O(renew_before_days), for this certificate.
        type: float
      profile:
        description: The ACME profile asked for; a stored certificate issued with another one is due.
        type: str
  max_identifiers:
    description: With O(requests), the most distinct names one certificate may have.
    type: int
    default: 100
  ari:
    description:
      - Ask the CA's renewalInfo resource (ACME Renewal Information, RFC 9773) when O(acme_directory) offers one, and
        let its suggested window decide due-ness instead of the lifetime policy (or O(renew_before_days)).
      - Each certificate renews at a random moment inside the window, chosen once and kept while the window does
        not change. The answer, the chosen moment and the next time to ask (the server's C(Retry-After), 6 hours when
        it sends none, between 1 minute and 1 week) are cached in the entry's status; until then the CA is not
        asked again. This cache is not reported as a change and is not written in check mode.
      - Expired certificates, and certificates due because they came from a test CA or another directory, stay due
        without asking. Certificates without an RV(certificates[].ari_id) (no Authority Key Identifier), and every
        certificate when the directory offers no renewalInfo, follow the lifetime policy.
      - When the CA cannot be asked (unreachable, error answer), the lifetime policy decides, the error is reported
        in RV(certificates[].ari_error) and the CA is asked again after an hour at the earliest.
      - The requests are unauthenticated GETs; no ACME account is needed. Requires O(acme_directory) to be an
        C(https://) URL.
    type: bool
    default: false
  ca_bundle:
    description:
      - With O(ari=true), PEM file of CA certificates used to verify the TLS certificate of O(acme_directory) (for a
        private ACME CA). When unset, the system's trust store.
    type: path
  pending_dir:
    description:
      - The control node's pending area (the C(pending_dir) of M(autotls.acme.acme_order) and
        M(autotls.acme.cert_store)), read only.
      - Every certificate with an entry there - issued by an earlier run but not stored yet, or an order finalized
        but not downloaded - is reported with C(pending=true), C(pending_serial) and C(pending_order_url), and is
        due whatever its backoff (it is stored from there, nothing is ordered); RV(owed) counts the attempt records
        and lock releases that storage is still owed (written by O(autotls.acme.cert_store#module:state=settled)).
    type: path
  staging_base:
    description:
      - Report in RV(staging_stale) the certificate role's per-run staging directories under this directory that
        runs killed before their cleanup left behind (their run is gone, or nothing changed in them for
        O(staging_max_age) seconds), and in RV(run) the ansible-playbook run of this task.
    type: path
  staging_max_age:
    description: With O(staging_base), seconds of inactivity after which a staging directory is stale.
    type: float
    default: 900
notes:
  - The Python libraries C(boto3) (backend V(s3)), C(redis) (backend V(redis)) or C(google-cloud-storage) (backend
    V(gcs)) are needed on the host that runs the task, and C(acme) with O(ari=true).
seealso:
  - module: autotls.acme.cert_store
  - module: autotls.acme.acme_order
'''

EXAMPLES = r'''
---
- name: What is due, among every stored certificate?
  autotls.acme.cert_store_info:
    backend: local
    local_path: /srv/autotls/store
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
  register: inventory

- name: Show them
  ansible.builtin.debug:
    msg: "{{ inventory.due }}"

- name: What is due, as the CA suggests it (ACME Renewal Information)?
  autotls.acme.cert_store_info:
    backend: s3
    s3_bucket: example-certs
    s3_prefix: autotls/prod
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    names: [www.example.com, api.example.com]
    ari: true
  register: inventory
'''

RETURN = r'''
pending:
  description: With O(pending_dir), names with a certificate or order kept in the pending area.
  returned: with O(pending_dir)
  type: list
  elements: str
owed:
  description: With O(pending_dir), how many attempt records and lock releases storage is owed.
  returned: with O(pending_dir)
  type: int
staging_stale:
  description: With O(staging_base), the stale staging directories (removed by cert_store state=settled).
  returned: with O(staging_base)
  type: list
  elements: str
run:
  description:
    - With O(staging_base), the ansible-playbook run this task belongs to (host, boot id, pid namespace, pid,
      process group), to record in a staging directory so that a later run can tell when its owner is gone.
      Empty when the task does not run under ansible-playbook on this machine.
  returned: with O(staging_base)
  type: dict
msg:
  description:
    - When O(names) is omitted and no certificate is stored for O(acme_directory) - where it looked, and which ACME
      directories do have stored certificates on this storage (a mistyped or another directory is the usual cause).
  returned: when nothing is stored for O(acme_directory)
  type: str
  sample: "no certificates are stored on local:/var/lib/autotls/store for the ACME directory
    https://acme-staging-v02.api.letsencrypt.org/directory; certificates are stored for:
    https://acme-v02.api.letsencrypt.org/directory - set acme_directory to one of them"
storage:
  description: Where the data lives (no credentials).
  returned: always
  type: str
  sample: s3://example-certs/autotls/prod/
certificates:
  description: One entry per certificate, in the order of O(names) (stored order when O(names) is omitted).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The certificate's name.
      type: str
    exists:
      description: Whether a certificate is stored under this name.
      type: bool
    due:
      description: Whether renewal is due (always true when nothing is stored).
      type: bool
    reason:
      description:
        - Why renewal is (not) due, as M(autotls.acme.acme_order) reports it - V(not_due), V(missing), V(expired),
          V(lifetime_window), V(renew_before_days), V(ari_window), V(names_changed), V(key_type_changed),
          V(directory_changed), V(profile_changed), V(forced), V(backing_off). Branch on this value.
      type: str
    reason_detail:
      description: The same decision in words.
      type: str
    next_check:
      description: When the decision should be made again (UTC, ISO 8601).
      type: str
    not_after:
      description: End of validity (UTC, ISO 8601).
      type: str
    days_left:
      description: Days until not_after.
      type: float
    renew_at:
      description:
        - When renewal becomes due (UTC, ISO 8601); with ARI, the moment chosen inside the CA's window
          (RV(certificates[].ari_selected)).
      type: str
    ari_id:
      description:
        - The certificate's ARI identifier (RFC 9773, C(base64url(AKI).base64url(serial))), or null when it has no
          Authority Key Identifier or was stored before ARI identifiers were recorded (the next upload adds it).
        - Pass it as O(autotls.acme.acme_order#module:replaces) when ordering the certificate's replacement.
      type: str
    profile:
      description: The ACME profile the certificate was issued with, or null when none was recorded (the CA's default).
      type: str
    ari_window_start:
      description: Start of the renewal window the CA suggests (UTC, ISO 8601), when known (O(ari=true)).
      type: str
    ari_window_end:
      description: End of the renewal window the CA suggests (UTC, ISO 8601), when known (O(ari=true)).
      type: str
    ari_selected:
      description:
        - The moment chosen at random inside the window, at which the certificate becomes due (UTC, ISO 8601), when
          known (O(ari=true)).
      type: str
    ari_next_check:
      description: When the CA's renewalInfo will be asked again (UTC, ISO 8601), when it was asked (O(ari=true)).
      type: str
    ari_explanation_url:
      description: The page the CA links to explain its window (for example an incident report), if any.
      type: str
    ari_error:
      description:
        - Why the CA's renewalInfo could not be used (O(ari=true)); the lifetime policy decided instead. Null
          otherwise.
      type: str
    last_attempt:
      description: When a renewal was last attempted (UTC, ISO 8601), if ever recorded.
      type: str
    last_error:
      description: The error of the last attempt, or null when it succeeded.
      type: str
    revoked:
      description:
        - Whether the stored certificate was recorded as revoked (M(autotls.acme.cert_store) with C(state=revoked));
          such a certificate is due, with the reason V(revoked (<reason>)).
      type: bool
    last_revocation:
      description: The last revocation recorded for this name (C(serial), C(reason), C(revoked_at)), or null.
      type: dict
    file_sha256:
      description:
        - SHA-256 (hex) of each stored file (C(privkey.pem), C(cert.pem), C(chain.pem), C(fullchain.pem)), so a
          deployer can tell whether a host's copy is current without fetching the bundle. Not key material.
      type: dict
    next_attempt:
      description:
        - After failed attempts, when the next attempt may contact the CA (UTC, ISO 8601) - a growing delay
          (10 minutes, doubling, at most 12 hours or a tenth of the lifetime), or the CA's C(Retry-After).
      type: str
    backing_off:
      description: Whether now is before RV(certificates[].next_attempt); callers should not contact the CA.
      type: bool
    last_success:
      description: When an attempt last succeeded (UTC, ISO 8601).
      type: str
    consecutive_failures:
      description: Failed attempts since the last success.
      type: int
due:
  description: Names of the certificates that are due (or missing),.
  returned: always
  type: list
  elements: str
not_due:
  description: Names of the certificates that are not due,.
  returned: always
  type: list
  elements: str
count:
  description: Number of entries in RV(certificates).
  returned: always
  type: int
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autotls.acme.plugins.module_utils import _adapter
from ansible_collections.autotls.acme.plugins.module_utils._argspec import store_info_argument_spec
from ansible_collections.autotls.acme.plugins.module_utils._engine import lookup


def main():
    module = AnsibleModule(argument_spec=store_info_argument_spec(), mutually_exclusive=[("name", "names")],
                           supports_check_mode=True)
    absent = lookup.missing_libraries(module.params)
    if absent:
        _adapter.require_libraries(module, {name: name for name in absent})
    module.exit_json(**_adapter.run(module, lambda: lookup.look_up(module.params, module.check_mode,
                                                                   warn=module.warn)))


if __name__ == "__main__":
    main()
