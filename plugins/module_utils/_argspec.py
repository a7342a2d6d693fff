# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules; mirrors plugins/doc_fragments/acme.py."""
from __future__ import annotations

STAGING_DIRECTORY = "https://acme-staging-v02.api.letsencrypt.org/directory"


def acme_argument_spec() -> dict:
    return dict(
        acme_directory=dict(type="str", default=STAGING_DIRECTORY),
        ca_bundle=dict(type="path"),
        account_key_path=dict(type="path"),
        account_key_content=dict(type="str", no_log=True),
        request_timeout=dict(type="int", default=30),
        retry_timeout=dict(type="int", default=60),
        poll_timeout=dict(type="int", default=120),
    )


ACME_MUTUALLY_EXCLUSIVE = [("account_key_path", "account_key_content")]
ACME_REQUIRED_ONE_OF = [("account_key_path", "account_key_content")]
