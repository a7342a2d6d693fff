# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Argument specs shared by the modules; mirrors plugins/doc_fragments/acme.py."""
from __future__ import annotations

from ansible_collections.autotls.acme.plugins.module_utils._engine.keys import KEY_TYPES

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


def store_info_argument_spec() -> dict:
    """cert_store_info's options (also those of the role's planning step, which looks storage up in-process)."""
    spec = storage_argument_spec()
    spec.update(
        name=dict(type="str"),
        names=dict(type="list", elements="str"),
        acme_directory=dict(type="str", required=True),
        renew_before_days=dict(type="float"),
        requests=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            identifiers=dict(type="list", elements="str", required=True),
            key_type=dict(type="str", choices=list(KEY_TYPES)),
            renew_before_days=dict(type="float"),
            profile=dict(type="str"),
        )),
        max_identifiers=dict(type="int", default=100),
        ari=dict(type="bool", default=False),
        ca_bundle=dict(type="path"),
        pending_dir=dict(type="path"),
        staging_base=dict(type="path"),
        staging_max_age=dict(type="float", default=900),
    )
    return spec


def deploy_argument_spec() -> dict:
    """cert_deploy's options (also checked by its action plugin when it compares in the controller's process)."""
    return dict(
        files=dict(type="list", elements="dict", options=dict(
            src=dict(type="path"),
            srcs=dict(type="list", elements="path"),
            text=dict(type="str"),
            state=dict(type="str", default="present", choices=["present", "absent"]),
            content=dict(type="str", no_log=True),
            dest=dict(type="path", required=True),
            group=dict(type="str"),
            mode=dict(type="str"),
            key=dict(type="bool", default=False),
            sha256=dict(type="str"),
            sha256_parts=dict(type="list", elements="str", no_log=False),
        )),
        certificates=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            dir=dict(type="path", required=True),
            sha256=dict(type="dict", required=True),
            paths=dict(type="dict"),
            key=dict(type="str", default="privkey.pem", no_log=False),
            combined=dict(type="path"),
            combined_parts=dict(type="list", elements="str", default=["privkey.pem", "fullchain.pem"]),
        )),
        compare_only=dict(type="bool", default=False),
        owner=dict(type="str"),
        group=dict(type="str"),
        mode=dict(type="str", default="0644"),
        key_mode=dict(type="str", default="0600", no_log=False),
        follow_symlinks=dict(type="bool", default=False),
    )
