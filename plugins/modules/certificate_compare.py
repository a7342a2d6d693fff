#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: certificate_compare
short_description: The certificate role's comparison of a host's deployed copies with storage
version_added: 0.3.0
description:
  - Used by the M(autotls.acme.certificate) role on each host, once per run. An action plugin.
  - For every certificate that can be deployed (stored, valid, not revoked), compares the files at the host's deploy
    paths with the SHA-256 storage records for them, and their modes and ownership, as
    M(autotls.acme.cert_deploy) does with O(autotls.acme.cert_deploy#module:compare_only=true); one entry per
    certificate.
  - On a host reached with the local connection and without become, the comparison runs in the controller's own
    process; on other hosts M(autotls.acme.cert_deploy) runs there.
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.role_state
  - autotls.acme.attributes
  - autotls.acme.attributes.info_module
options:
  deploy_dir:
    description:
      - This host's deploy directory (each certificate in a directory of its name, unless its paths are explicit).
    type: str
    required: true
  owner:
    description: Owner the files must have.
    type: str
  group:
    description: Group the files must have.
    type: str
  mode:
    description: Mode of certificate files.
    type: str
  key_mode:
    description: Mode of key files.
    type: str
  verify_address:
    description:
      - The address this host's certificates are checked at (the role's C(certificate_verify_address), else its
        C(ansible_host), else its name), returned as it is, so that one TLS check of every host can use each host's
        own value.
    type: str
'''

EXAMPLES = r'''
- name: What the role does on each host (it passes its own variables)
  autotls.acme.certificate_compare:
    plan_json: "{{ plan.plan_json }}"
    info_json: "{{ plan.info_json }}"
    deploy_dir: /etc/autotls/live
  register: compared
'''

RETURN = r'''
stale_groups:
  description: Certificates with at least one file that is missing or differs.
  returned: success
  type: list
  elements: str
missing_groups:
  description: Certificates none of whose files exists on the host yet.
  returned: success
  type: list
  elements: str
verify_address:
  description: O(verify_address), as given.
  returned: when O(verify_address) is given
  type: str
'''
