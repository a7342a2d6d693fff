# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Options shared by every module that talks to an ACME CA."""
from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r'''
options:
  acme_directory:
    description:
      - URL of the ACME directory of the CA.
      - Defaults to the Let's Encrypt B(staging) directory, whose certificates browsers do not trust, so that
        testing never burns production rate limits. Name the production directory
        V(https://acme-v02.api.letsencrypt.org/directory) explicitly when you are ready.
    type: str
    default: https://acme-staging-v02.api.letsencrypt.org/directory
  ca_bundle:
    description:
      - PEM file of CA certificates used to verify the ACME server's TLS certificate, for a private ACME CA such as
        Pebble or step-ca. When unset, the system trust store is used. TLS verification cannot be turned off.
    type: path
  account_key_path:
    description:
      - Path to the ACME account private key (PEM, ECDSA or RSA).
      - Exactly one of O(account_key_path) and O(account_key_content) is required.
    type: path
  account_key_content:
    description:
      - The ACME account private key as PEM text, for example from a vault. Never logged.
    type: str
  request_timeout:
    description: Timeout in seconds of one HTTP request to the CA.
    type: int
    default: 30
  retry_timeout:
    description:
      - Deadline in seconds for retrying one request after C(badNonce), HTTP 429 or 5xx answers, or connection
        errors. The CA's C(Retry-After) is honoured; a wait beyond this deadline fails at once with the CA's answer.
    type: int
    default: 60
  poll_timeout:
    description: Deadline in seconds for the CA to validate the challenges and issue the certificate.
    type: int
    default: 120
'''
