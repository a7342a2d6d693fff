# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificate storage: one interface (base.Storage), four backends, and the
certificate layer (bundles.CertificateStore) on top of any of them.

open_backend() checks the option names before anything is created: an option
of another backend, or one no backend knows, is an InputError naming it.
"""
from __future__ import annotations

from .. import deps
from ..errors import InputError, StorageError
from .base import Storage

BACKENDS = ("local", "s3", "redis", "gcs")
COMMON_OPTIONS = {"storage_timeout"}
# option names per backend; kept here (not imported from the backends) so that
# they can be checked even when boto3 or redis is not installed.
BACKEND_OPTIONS = {
    "local": {"local_path"},
    "s3": {"s3_bucket", "s3_prefix", "s3_endpoint_url", "s3_region", "s3_access_key", "s3_secret_key",
           "s3_session_token", "s3_sse", "s3_kms_key_id", "s3_ca_bundle", "s3_max_attempts"},
    "redis": {"redis_url", "redis_prefix"},
    "gcs": {"gcs_bucket", "gcs_prefix", "gcs_project", "gcs_credentials_file", "gcs_credentials_content",
            "gcs_kms_key_name", "gcs_endpoint_url", "gcs_anonymous"},
}
LIBRARIES = {"local": {}, "s3": deps.S3, "redis": deps.REDIS, "gcs": deps.GCS}


def check_options(kind: str, options: dict) -> dict:
    """Return the options that are set (not None), refusing names the backend does not take."""
    if kind not in BACKENDS:
        raise InputError("backend", "%r is not one of %s" % (kind, ", ".join(BACKENDS)))
    allowed = BACKEND_OPTIONS[kind] | COMMON_OPTIONS
    known = set().union(*BACKEND_OPTIONS.values()) | COMMON_OPTIONS
    given = {name: value for name, value in (options or {}).items() if value is not None}
    for name in sorted(given):
        if name not in known:
            raise InputError(name, "is not a storage option (known: %s)" % ", ".join(sorted(known)))
        if name not in allowed:
            raise InputError(name, "is an option of another backend, not of backend %s (which takes: %s)"
                             % (kind, ", ".join(sorted(allowed))))
    return given


def open_backend(kind: str, options: dict | None = None) -> Storage:
    """Create the Storage for backend kind ('local', 's3', 'redis' or 'gcs') from its options."""
    given = check_options(kind, options or {})
    absent = deps.missing(LIBRARIES[kind])
    if absent:
        raise StorageError("backend %s needs the Python libraries %s on the host that runs the task"
                           % (kind, ", ".join(absent)), missing_libraries=absent)
    if kind == "local":
        from .local import LocalStorage
        given.pop("storage_timeout", None)
        return LocalStorage(**given)
    if kind == "s3":
        from .s3 import S3Storage
        return S3Storage(**given)
    if kind == "gcs":
        from .gcs import GCSStorage
        return GCSStorage(**given)
    from .redis_store import RedisStorage
    return RedisStorage(**given)


def options_from_params(params: dict) -> dict:
    """The backend options among a caller's parameters (unset ones are None)."""
    return {name: params.get(name) for name in sorted(set().union(*BACKEND_OPTIONS.values()) | COMMON_OPTIONS)}
