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


def storage_argument_spec() -> dict:
    """Backend options of cert_store; mirrors plugins/doc_fragments/storage.py.

    No defaults here: an option that is set belongs to one backend, and the
    engine's check_options() refuses it under another (the defaults are the backends').
    """
    return dict(
        backend=dict(type="str", required=True, choices=["local", "s3", "redis", "gcs"]),
        local_path=dict(type="path"),
        s3_bucket=dict(type="str"),
        s3_prefix=dict(type="str"),
        s3_endpoint_url=dict(type="str"),
        s3_region=dict(type="str"),
        s3_access_key=dict(type="str", no_log=False),
        s3_secret_key=dict(type="str", no_log=True),
        s3_session_token=dict(type="str", no_log=True),
        s3_sse=dict(type="str", choices=["AES256", "aws:kms", "none"]),
        s3_kms_key_id=dict(type="str"),
        s3_ca_bundle=dict(type="path"),
        s3_max_attempts=dict(type="int"),
        redis_url=dict(type="str", no_log=True),
        redis_prefix=dict(type="str"),
        gcs_bucket=dict(type="str"),
        gcs_prefix=dict(type="str"),
        gcs_project=dict(type="str"),
        gcs_credentials_file=dict(type="path", no_log=False),
        gcs_credentials_content=dict(type="str", no_log=True),
        gcs_kms_key_name=dict(type="str", no_log=False),
        gcs_endpoint_url=dict(type="str"),
        gcs_anonymous=dict(type="bool"),
        storage_timeout=dict(type="float"),
    )
