#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: tls_check
short_description: Check that TLS servers serve the certificates they should
version_added: 0.1.0
description:
  - Connects to each address and port with the given SNI name, reads the certificate the server presents and
    compares its serial number with the expected one.
  - One task checks many names, so verifying every certificate of a host costs one task.
  - Fails naming the address, name and both serials when a server presents another certificate (for example
    because it was never reloaded after a renewal).
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.attributes
attributes:
  check_mode:
    support: full
    details: Only reads; runs the same in check mode.
  diff_mode:
    support: none
options:
  checks:
    description: What to check.
    type: list
    elements: dict
    required: true
    suboptions:
      address:
        description: Address to connect to.
        type: str
        required: true
      port:
        description: TCP port.
        type: int
        default: 443
      server_name:
        description: SNI name to send (usually the certificate's first name).
        type: str
        required: true
      expected_serial:
        description: Hexadecimal serial the server must present; when omitted, the certificate is only reported.
        type: str
      name:
        description: A label for messages and results.
        type: str
      starttls:
        description:
          - Upgrade a plaintext session with the server's STARTTLS before the TLS handshake - V(smtp) (EHLO,
            STARTTLS; ports 25 and 587), V(imap) (CAPABILITY, STARTTLS; port 143) or V(pop3) (CAPA, STLS; port 110).
          - When unset, TLS from the first byte (HTTPS, HAProxy, IMAPS 993, POP3S 995, SMTPS 465).
          - A server that does not offer STARTTLS fails the check at once, naming what it offered instead.
        type: str
        choices: [smtp, imap, pop3]
  ca_bundle:
    description:
      - CA certificates the presented chain must verify against (with the name in O(checks[].server_name)).
      - Without it, a check with O(checks[].expected_serial) compares the presented certificate with the expected
        one (the handshake proves the server holds its key) and does not verify the chain, so certificates of a
        staging or private CA can be checked; a check without an expected serial verifies against the system
        trust store.
    type: path
  timeout:
    description: Seconds for each connection and handshake.
    type: float
    default: 10
  settle_timeout:
    description:
      - Seconds to keep probing a server that presents another certificate or refuses connections, because a
        reload takes effect asynchronously (nginx starts new workers after C(nginx -s reload) returns).
    type: float
    default: 10
seealso:
  - module: autotls.acme.acme_order
'''

EXAMPLES = r'''
---
- name: The web server serves the certificate that was deployed
  autotls.acme.tls_check:
    checks:
      - address: "{{ ansible_host }}"
        port: 443
        server_name: www.example.com
        expected_serial: "{{ deployed.certificate.serial }}"
  delegate_to: localhost

- name: The mail server serves it on submission (STARTTLS), IMAP (STARTTLS) and IMAPS
  autotls.acme.tls_check:
    checks:
      - {address: mail.example.com, port: 587, starttls: smtp, server_name: mail.example.com,
         expected_serial: "{{ serial }}"}
      - {address: mail.example.com, port: 143, starttls: imap, server_name: mail.example.com,
         expected_serial: "{{ serial }}"}
      - {address: mail.example.com, port: 993, server_name: mail.example.com, expected_serial: "{{ serial }}"}
  delegate_to: localhost
'''

RETURN = r'''
served:
  description: What each server presented, in the order of O(checks).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check's label.
      type: str
    address:
      description: Address connected to.
      type: str
    port:
      description: Port connected to.
      type: int
    server_name:
      description: SNI name sent.
      type: str
    starttls:
      description: The STARTTLS protocol used before the handshake, or null.
      type: str
    serial:
      description: Serial of the presented certificate, hexadecimal.
      type: str
    not_after:
      description: Expiry of the presented certificate.
      type: str
    identifiers:
      description: Names the presented certificate covers.
      type: list
      elements: str
    matches:
      description: Whether the serial is the expected one (true when none was expected).
      type: bool
'''

import math
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autotls.acme.plugins.module_utils import _adapter
from ansible_collections.autotls.acme.plugins.module_utils._engine import deps, keys, probe
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError, InputError


def _probe_until_settled(module, check, expected) -> dict:
    """Probe; while the server is not (yet) presenting the expected certificate, retry until settle_timeout."""
    deadline = time.monotonic() + module.params["settle_timeout"]
    while True:
        try:
            result = probe.served_certificate(check["address"], check["port"], check["server_name"],
                                              module.params["timeout"], module.params["ca_bundle"],
                                              pinned=bool(expected) and not module.params["ca_bundle"],
                                              starttls=check["starttls"])
            if not expected or result["serial"].lstrip("0") == expected or time.monotonic() >= deadline:
                return result
        except probe.StartTLSNotOffered:
            raise   # a configuration problem: waiting does not help
        except EngineError:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.2)


def _check_params(params) -> None:
    """Every input, before any connection is made."""
    for name in ("timeout", "settle_timeout"):
        value = params[name]
        if value is None or math.isnan(value) or value < 0 or (name == "timeout" and value == 0):
            raise InputError(name, "must be a %s number of seconds, got %r" % (
                "positive" if name == "timeout" else "non-negative", value))
    if params["ca_bundle"] and not os.path.isfile(params["ca_bundle"]):
        raise InputError("ca_bundle", "%s is not a readable file" % params["ca_bundle"])
    if not params["checks"]:
        raise InputError("checks", "at least one check is required")
    for index, check in enumerate(params["checks"]):
        where = "checks[%d]" % index
        if not 1 <= check["port"] <= 65535:
            raise InputError(where + ".port", "must be between 1 and 65535, got %r" % check["port"])
        if not (check["address"] or "").strip():
            raise InputError(where + ".address", "must not be empty")
        if not (check["server_name"] or "").strip():
            raise InputError(where + ".server_name", "must not be empty")
        keys.canonical_identifier(check["server_name"], where + ".server_name")


def _work(module) -> dict:
    _check_params(module.params)
    served, mismatches = [], []
    for check in module.params["checks"]:
        expected = (check["expected_serial"] or "").lower().lstrip("0")
        result = _probe_until_settled(module, check, expected)
        result["name"] = check["name"] or check["server_name"]
        result["matches"] = not expected or result["serial"].lstrip("0") == expected
        if not result["matches"]:
            mismatches.append("%s:%s (%sSNI %s) serves serial %s, expected %s" % (
                check["address"], check["port"], "STARTTLS %s, " % check["starttls"] if check["starttls"] else "",
                check["server_name"], result["serial"], check["expected_serial"]))
        served.append(result)
    if mismatches:
        raise EngineError("served certificate differs from the deployed one: " + "; ".join(mismatches), served=served)
    return {"changed": False, "served": served}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            checks=dict(type="list", elements="dict", required=True, options=dict(
                address=dict(type="str", required=True),
                port=dict(type="int", default=443),
                server_name=dict(type="str", required=True),
                expected_serial=dict(type="str"),
                name=dict(type="str"),
                starttls=dict(type="str", choices=list(probe.STARTTLS_PROTOCOLS)),
            )),
            ca_bundle=dict(type="path"),
            timeout=dict(type="float", default=10),
            settle_timeout=dict(type="float", default=10),
        ),
        supports_check_mode=True,
    )
    _adapter.require_libraries(module, deps.CRYPTO)
    module.exit_json(**_adapter.run(module, lambda: _work(module)))


if __name__ == "__main__":
    main()
