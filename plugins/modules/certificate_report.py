#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: certificate_report
short_description: The certificate role's report - status file, metrics, webhook, summary and exit status
version_added: 0.3.0
description:
  - Used by the M(autotls.acme.certificate) role at the end of every run; runs on the control node, in Ansible's
    own process (an action plugin, no module is sent anywhere).
  - Works out each certificate's status (expiry, what this run did, failures, whether it needs attention), writes
    the JSON status file and the Prometheus textfile-collector file (each replaced in one step, mode C(0644)),
    POSTs one JSON alert per certificate that needs attention to the webhook, and shows the summary.
  - Fails when any certificate failed, is served wrong after a reload, or is close to expiry, naming each and
    why, so the run's exit status tells the truth. A webhook that cannot be reached is a warning; it never hides
    the failure it was to announce.
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.role_state
  - autotls.acme.attributes
attributes:
  check_mode:
    support: full
    details: Writes nothing and sends nothing in check mode; shows the summary.
  diff_mode:
    support: none
options:
  orders:
    description: This run's M(autotls.acme.acme_order) results.
    type: dict
  issued:
    description: This run's completed orders (C(certificates)).
    type: dict
  alert_days:
    description: Days before expiry at which a certificate is an alert (V(0) for half its renewal window).
    type: float
  would_order:
    description: In check mode, the certificates a real run would order.
    type: list
    elements: str
  elsewhere:
    description: Certificates another run renewed while this one waited for the lock.
    type: list
    elements: str
  serving:
    description: What each host still serves wrong after a reload.
    type: list
    elements: dict
  reasons:
    description: Why each ordered certificate was due.
    type: dict
  errors:
    description: The errors of this run's hosts (C(host), C(task), C(msg), C(names)).
    type: list
    elements: dict
  lost_hosts:
    description: Hosts that left the run without reaching the report (unreachable); all their certificates fail.
    type: list
    elements: str
  status_file:
    description: Path of the JSON status file on the control node; empty for none.
    type: str
  metrics_file:
    description: Path of the Prometheus textfile-collector file on the control node; empty for none.
    type: str
  webhook_url:
    description: URL that receives one JSON POST per certificate that needs attention; empty for none.
    type: str
  acme_directory:
    description: The ACME directory, recorded in the status file (and where storage is read with O(reread)).
    type: str
  reread:
    description:
      - Read storage again before reporting (the run ordered, or another run renewed meanwhile), as
        M(autotls.acme.cert_store_info) does; when storage cannot be read, the report is written from O(info)
        with a warning.
    type: bool
    default: false
  storage:
    description: Where certificates are stored (the role's C(certificate_storage), with its C(backend)), for O(reread).
    type: dict
  pending_dir:
    description: The control node's pending area, for O(reread).
    type: str
'''

EXAMPLES = r'''
- name: What the role does at the end of every run (it passes its own variables)
  autotls.acme.certificate_report:
    plan_json: "{{ plan.plan_json }}"
    info_json: "{{ plan.info_json }}"
    status_file: /var/lib/autotls/status.json
    metrics_file: /var/lib/node_exporter/textfile/autotls.prom
    webhook_url: https://alerts.example.com/hooks/certificates
  run_once: true
'''

RETURN = r'''
summary:
  description: One line per certificate - name, expiry, action and why.
  returned: always
  type: list
  elements: str
alerts:
  description: Names of the certificates that need attention.
  returned: always
  type: list
  elements: str
'''
