# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The storage lookup: what storage holds for many certificates and which are due (policy.decide).

One function for both callers: the cert_store_info module and the certificate role's planning step, which runs
it in the controller's own process. It reads only small metadata objects; the ACME client is imported only when
the CA's renewal information (ARI) has to be asked.
"""
from __future__ import annotations

import os
from typing import Any, Callable

from . import deps, keys, pending, policy, runs
from .errors import InputError
from .storage import bundles, factory

ARI_REQUEST_TIMEOUT = 15   # seconds per renewalInfo request ...
ARI_RETRY_TIMEOUT = 20     # ... and for retrying a busy CA (429/5xx) before falling back to the lifetime policy


class _LazyAriClient:
    """An ACME client that only reads the directory and renewalInfo (unauthenticated GETs), made when first
    used: cached renewal windows cost no request, and no import of the ACME client either."""

    def __init__(self, directory: str, ca_bundle: str | None) -> None:
        self._args = (directory, ca_bundle)
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            from .client import AcmeClient
            directory, ca_bundle = self._args
            # GETs are not signed, but the client wants a key: a throwaway one, never stored.
            self._client = AcmeClient(directory, keys.generate_private_key("ecdsa-p256"), ca_bundle=ca_bundle,
                                      request_timeout=ARI_REQUEST_TIMEOUT, retry_timeout=ARI_RETRY_TIMEOUT)
        return getattr(self._client, name)


def ari_client(params: dict) -> Any:
    directory = params["acme_directory"]
    if not directory or not directory.startswith("https://"):
        raise InputError("acme_directory", "must be an https:// URL to ask it for renewal information (ari), got %r"
                         % directory)
    ca_bundle = params["ca_bundle"] or None   # "" means unset (roles pass variables through)
    if ca_bundle and not os.path.isfile(ca_bundle):
        raise InputError("ca_bundle", "%s is not a readable file" % params["ca_bundle"])
    return _LazyAriClient(directory, ca_bundle)


def missing_libraries(params: dict) -> list[str]:
    """The libraries this lookup needs that cannot be imported (the backend's; the ACME client's for ari)."""
    groups = [factory.LIBRARIES[params["backend"]]]
    if params.get("ari"):
        groups.append(deps.ACME)
    return deps.missing(*groups)


def _nothing_stored(backend: Any, directory: str) -> str:
    """Where info over every certificate looked and found none, and where there are some."""
    others = [url for url in bundles.stored_directories(backend) if url.rstrip("/") != directory.rstrip("/")]
    msg = "no certificates are stored on %s for the ACME directory %s" % (backend.describe(), directory)
    if others:
        msg += "; certificates are stored for: %s - set acme_directory to one of them" % ", ".join(others)
    return msg


def look_up(params: dict, check_mode: bool = False, warn: Callable[[str], None] | None = None) -> dict:
    """cert_store_info's result for its validated parameters (see its documentation)."""
    names = params["names"] if params["names"] is not None else ([params["name"]] if params["name"] else None)
    for name in names or []:   # before a name can become a path or an object key
        bundles.validate_name(name, "names" if params["names"] is not None else "name")
    requests = bundles.check_requests(params["requests"], "requests", params["max_identifiers"])
    policy.check_renew_before_days(params["renew_before_days"])
    if names is None and params["requests"] is not None:
        names = list(requests)
    asker = ari_client(params) if params["ari"] else None
    backend = factory.open_backend(params["backend"], factory.options_from_params(params))
    try:
        store = bundles.CertificateStore(backend, params["acme_directory"])
        result: dict[str, Any] = {"changed": False, "storage": backend.describe()}
        result.update(store.info(names, renew_before_days=params["renew_before_days"], ari_client=asker,
                                 ari_cache=not check_mode, requests=requests))
        if params["pending_dir"]:
            keep = None
            if os.path.isdir(params["pending_dir"]):
                keep = pending.PendingArea(params["pending_dir"], params["acme_directory"])
            kept = {entry["name"]: entry for entry in keep.describe()} if keep else {}
            result["pending"] = sorted(kept)
            result["owed"] = keep.owed(backend.describe()) if keep else 0
            for item in result["certificates"]:
                entry = kept.get(item["name"])
                item["pending"] = bool(entry)
                if entry:
                    item.update(pending_serial=entry["serial"], pending_order_url=entry["order_url"])
        if params["staging_base"]:
            result["run"] = runs.run_identity() or {}
            result["staging_stale"] = pending.stale_staging(params["staging_base"], params["staging_max_age"])
        if names is None and not result["certificates"]:
            result["msg"] = _nothing_stored(backend, params["acme_directory"])
            if warn is not None:
                warn(result["msg"])
        return result
    finally:
        backend.close()
