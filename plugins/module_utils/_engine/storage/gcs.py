# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Google Cloud Storage backend through google-cloud-storage.

Objects live under gs://<bucket>/<prefix>/<key>. Credentials come from a
service-account key (a file or its JSON text) or, when neither is given, from
Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's
application-default login, the metadata server of GCE/GKE/Cloud Run). Objects
are written with an optional customer-managed encryption key (CMEK).

The minimal IAM is the four permissions storage.objects.{get,list,create,delete}
on the bucket (a custom role; overwriting an object needs delete too), which an
IAM condition on resource.name can limit to the prefix.

Locks are lease objects <prefix>/locks/<name>.json holding {owner, ttl,
expires, host, pid}, on GCS's generation preconditions:
  * acquire: upload with ifGenerationMatch=0 (only one writer can create it);
  * a lease is expired when the server's clock (the Date header of the
    metadata GET) is past its `updated` time + ttl (+1 s for the one-second
    resolution of Date), so clock skew between machines does not matter;
  * take over an expired lease (or extend one's own): upload with
    ifGenerationMatch=<generation read>, so of two machines racing for an
    expired lease only one wins;
  * release: read, compare the owner token, delete with
    ifGenerationMatch=<generation read>, so a lease taken over in between is
    never deleted.
"""
from __future__ import annotations

import json
import threading
from typing import Any, Callable, List, TypeVar

from ..errors import InputError, LockError, StorageError
from .base import (RESERVED_TOP, ConditionalLeases, LockState, ObjectStat, check_key, check_prefix,
                   lease_state, listed)

try:
    import requests
    from google.api_core import exceptions as gexc
    from google.auth import exceptions as auth_exceptions
    from google.cloud import storage as gcs
    from google.cloud.storage.retry import DEFAULT_RETRY
except ImportError:  # reported by the module through deps.missing()
    pass

Result = TypeVar("Result")
SCOPES = ("https://www.googleapis.com/auth/devstorage.read_write",)
PARALLEL = 16
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 10.0
LIST_FIELDS = "items(name),prefixes,nextPageToken"


class GCSStorage(ConditionalLeases):
    kind = "gcs"
    parallel_loads = PARALLEL

    def __init__(self, gcs_bucket: str | None = None, gcs_prefix: str | None = None, gcs_project: str | None = None,
                 gcs_credentials_file: str | None = None, gcs_credentials_content: str | None = None,
                 gcs_kms_key_name: str | None = None, gcs_endpoint_url: str | None = None,
                 gcs_anonymous: bool | None = None, storage_timeout: float | None = None,
                 client: gcs.Client | None = None) -> None:
        if not gcs_bucket:
            raise InputError("gcs_bucket", "is required for backend gcs")
        if not isinstance(gcs_bucket, str) or "/" in gcs_bucket or not 3 <= len(gcs_bucket) <= 222:
            raise InputError("gcs_bucket", "must be a bucket name (3 to 222 characters, no '/'), got %r" % gcs_bucket)
        self.bucket_name = gcs_bucket
        prefix = (gcs_prefix or "").strip("/")
        if prefix:
            check_key(prefix, "gcs_prefix", allow_reserved=True)
        self.prefix = prefix + "/" if prefix else ""
        if gcs_credentials_file and gcs_credentials_content:
            raise InputError("gcs_credentials_content", "is mutually exclusive with gcs_credentials_file")
        if gcs_anonymous and (gcs_credentials_file or gcs_credentials_content):
            raise InputError("gcs_anonymous", "cannot be combined with service-account credentials")
        if gcs_anonymous and not gcs_endpoint_url:
            raise InputError("gcs_anonymous", "is only for an emulator or private endpoint set in gcs_endpoint_url")
        if gcs_endpoint_url and not gcs_endpoint_url.startswith(("http://", "https://")):
            raise InputError("gcs_endpoint_url", "must be an http:// or https:// URL, got %r" % gcs_endpoint_url)
        if gcs_kms_key_name is not None and (not isinstance(gcs_kms_key_name, str) or not gcs_kms_key_name.startswith(
                "projects/") or "/cryptoKeys/" not in gcs_kms_key_name):
            raise InputError("gcs_kms_key_name", "must be a Cloud KMS key name "
                             "projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<k>, got %r" % gcs_kms_key_name)
        self.kms_key_name = gcs_kms_key_name or None
        timeout = DEFAULT_TIMEOUT if storage_timeout is None else storage_timeout
        if timeout <= 0:
            raise InputError("storage_timeout", "must be a positive number of seconds")
        # bounded like every backend (see base.py): tight connect and read timeouts per request, and
        # retries of transient errors (429, 5xx, connection resets) only within storage_timeout
        self.timeout = (min(CONNECT_TIMEOUT, float(timeout)), min(READ_TIMEOUT, float(timeout)))
        self.endpoint = gcs_endpoint_url or "https://storage.googleapis.com"
        # google-api-core renamed with_deadline to with_timeout (2.17); older ones only have the former
        budget = float(timeout)
        self.retry = (DEFAULT_RETRY.with_timeout(budget) if hasattr(DEFAULT_RETRY, "with_timeout")
                      else DEFAULT_RETRY.with_deadline(budget))
        self._seen = threading.local()
        self._bucket_exists = False
        own_client = client is None
        if client is None:
            client = self._client(gcs_project, gcs_credentials_file, gcs_credentials_content, gcs_endpoint_url,
                                  gcs_anonymous)
        self.client: gcs.Client = client
        self.bucket = client.bucket(gcs_bucket)
        http = client._http   # the requests session: its response hook gives us the server's Date
        http.hooks.setdefault("response", []).append(self._remember_date)
        if own_client:   # room for the parallel reads of load_many
            adapter = requests.adapters.HTTPAdapter(pool_connections=PARALLEL, pool_maxsize=PARALLEL)
            http.mount("https://", adapter)
            http.mount("http://", adapter)

    def _client(self, project: str | None, credentials_file: str | None, credentials_content: str | None,
                endpoint_url: str | None, anonymous: bool | None) -> gcs.Client:
        from google.oauth2 import service_account
        options = {"api_endpoint": endpoint_url} if endpoint_url else None
        try:
            if credentials_file:
                try:
                    credentials = service_account.Credentials.from_service_account_file(credentials_file,
                                                                                        scopes=SCOPES)
                except OSError as exc:
                    raise InputError("gcs_credentials_file", "cannot read %s: %s" % (
                        credentials_file, exc.strerror)) from None
                except (ValueError, KeyError) as exc:
                    raise InputError("gcs_credentials_file", "%s is not a service-account key file: %s" % (
                        credentials_file, exc)) from None
                project = project or credentials.project_id
            elif credentials_content:
                try:
                    info = json.loads(credentials_content)
                    credentials = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
                except (ValueError, KeyError, TypeError, AttributeError):
                    raise InputError("gcs_credentials_content", "is not the JSON of a service-account key") from None
                project = project or credentials.project_id
            elif anonymous:
                from google.auth.credentials import AnonymousCredentials
                credentials = AnonymousCredentials()
            else:
                import google.auth
                try:
                    credentials, adc_project = google.auth.default(scopes=SCOPES)
                except auth_exceptions.DefaultCredentialsError as exc:
                    raise InputError("gcs_credentials_file", "no Google credentials found: set gcs_credentials_file "
                                     "(or gcs_credentials_content), or configure Application Default Credentials "
                                     "(%s)" % str(exc).split("\n", maxsplit=1)[0]) from None
                project = project or adc_project
            # project=None: object operations need no project, and the client must not go looking for one
            return gcs.Client(project=project, credentials=credentials, client_options=options)
        except auth_exceptions.GoogleAuthError as exc:
            raise StorageError("cannot create the GCS client: %s" % exc, endpoint=self.endpoint) from None

    def describe(self) -> str:
        return "gs://%s/%s" % (self.bucket_name, self.prefix)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing must never fail a task
            pass

    # ---- calls and errors -------------------------------------------------------------------

    def _remember_date(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        self._seen.date = response.headers.get("Date")
        return response

    def _full(self, key: str) -> str:
        return self.prefix + key

    def _call(self, operation: str, key: str | None, func: Callable[..., Result], *args: Any,
              **kwargs: Any) -> Result:
        """One GCS call; library errors become InputError/StorageError naming what to fix."""
        try:
            return func(*args, **kwargs)
        except gexc.NotFound:
            raise
        except gexc.PreconditionFailed:
            raise
        except (gexc.Unauthorized, auth_exceptions.RefreshError) as exc:
            raise InputError("gcs_credentials_file", "GCS at %s refused the credentials during %s: %s" % (
                self.endpoint, operation, _first_line(exc))) from None
        except gexc.Forbidden as exc:
            raise StorageError("access denied: %s on %s (compare the credentials' IAM role with the one in the "
                               "README): %s" % (operation, self._where(key), _first_line(exc)),
                               code="403", operation=operation) from None
        except gexc.GoogleAPICallError as exc:
            raise StorageError("GCS %s on %s failed: %s" % (operation, self._where(key), _first_line(exc)),
                               code=str(exc.code or ""), operation=operation, endpoint=self.endpoint) from None
        except (gexc.RetryError, requests.exceptions.RequestException, auth_exceptions.TransportError,
                ConnectionError, TimeoutError) as exc:
            raise StorageError("GCS endpoint %s failed during %s: %s" % (self.endpoint, operation, _first_line(exc)),
                               endpoint=self.endpoint, operation=operation, unreachable=True) from None

    def _where(self, key: str | None) -> str:
        return "gs://%s/%s" % (self.bucket_name, self._full(key) if key is not None else self.prefix)

    def _missing_bucket(self) -> InputError:
        return InputError("gcs_bucket", "bucket %r does not exist at %s" % (self.bucket_name, self.endpoint))

    def _check_bucket(self) -> None:
        """A 404 means a missing object or a missing bucket: a listing tells them apart (objects.list
        answers 404 only for a missing bucket), once per backend."""
        if self._bucket_exists:
            return
        try:
            self._call("list", None, lambda: list(self.client.list_blobs(
                self.bucket_name, prefix=self.prefix, max_results=1, fields="items(name)",
                timeout=self.timeout, retry=self.retry)))
        except gexc.NotFound:
            raise self._missing_bucket() from None
        self._bucket_exists = True

    def _blob(self, full_key: str, generation: int | None = None) -> gcs.Blob:
        return self.bucket.blob(full_key, kms_key_name=self.kms_key_name, generation=generation)

    # ---- objects ----------------------------------------------------------------------------

    def store(self, key: str, data: bytes, private: bool = False) -> None:
        check_key(key)
        self._upload(self._full(key), data, "application/octet-stream", key)

    def _upload(self, full_key: str, data: bytes, content_type: str, key: str, **condition: int) -> None:
        try:
            # a plain overwrite with the same bytes is idempotent: retried like a conditional one
            self._call("upload", key, self._blob(full_key).upload_from_string, data, content_type=content_type,
                       timeout=self.timeout, retry=self.retry, **condition)
        except gexc.NotFound:
            self._check_bucket()
            raise StorageError("GCS upload on %s failed: 404" % self._where(key), code="404",
                               operation="upload") from None

    def load(self, key: str) -> bytes | None:
        check_key(key)
        try:
            return self._call("download", key, self._blob(self._full(key)).download_as_bytes,
                              timeout=self.timeout, retry=self.retry)
        except gexc.NotFound:
            self._check_bucket()
            return None

    def delete(self, key: str) -> None:
        check_key(key)
        try:
            self._call("delete", key, self._blob(self._full(key)).delete, timeout=self.timeout, retry=self.retry)
        except gexc.NotFound:
            self._check_bucket()

    def list(self, prefix: str = "", recursive: bool = True) -> List[str]:
        prefix = check_prefix(prefix)

        def listing() -> List[str]:
            pages = self.client.list_blobs(self.bucket_name, prefix=self._full(prefix),
                                           delimiter=None if recursive else "/", fields=LIST_FIELDS,
                                           timeout=self.timeout, retry=self.retry)
            names = [blob.name for blob in pages]
            return names + sorted(pages.prefixes)
        try:
            found = self._call("list", prefix, listing)
        except gexc.NotFound:
            raise self._missing_bucket() from None
        self._bucket_exists = True
        found = [name[len(self.prefix):] for name in found]
        return listed(found)

    def stat(self, key: str) -> ObjectStat | None:
        check_key(key)
        try:
            blob = self._call("get", key, self.bucket.get_blob, self._full(key), timeout=self.timeout,
                              retry=self.retry)
        except gexc.NotFound:
            blob = None
        if blob is None:
            self._check_bucket()
            return None
        return ObjectStat(key=key, size=blob.size or 0, modified=blob.updated.timestamp() if blob.updated else None,
                          etag=blob.etag)

    # ---- locks ------------------------------------------------------------------------------

    def _lease_key(self, name: str) -> str:
        return "%s%s/%s.json" % (self.prefix, RESERVED_TOP, name)

    def _lease(self, name: str, ttl_if_unreadable: float = 0.0) -> tuple[dict, object, LockState] | None:
        full = self._lease_key(name)
        where = "%s/%s.json" % (RESERVED_TOP, name)
        for _attempt in range(5):
            self._seen.date = None
            try:
                blob = self._call("get", where, self.bucket.get_blob, full, timeout=self.timeout, retry=self.retry)
            except gexc.NotFound:
                blob = None
            if blob is None:
                self._check_bucket()
                return None
            date = self._seen.date
            try:   # the content of exactly the generation whose metadata was read
                body = self._call("download", where, self._blob(full, generation=blob.generation).download_as_bytes,
                                  timeout=self.timeout, retry=self.retry)
            except (gexc.NotFound, gexc.PreconditionFailed):
                continue    # replaced or released in between: read again
            record, state = lease_state(name, body, ttl_if_unreadable, date, blob.updated)
            return record, blob.generation, state
        return None

    def _put_lease(self, name: str, body: bytes, version: object) -> bool:
        try:
            self._call("upload", "%s/%s.json" % (RESERVED_TOP, name), self._blob(self._lease_key(name))
                       .upload_from_string, body, content_type="application/json", timeout=self.timeout,
                       retry=self.retry, if_generation_match=0 if version is None else version)
            return True
        except gexc.PreconditionFailed:
            return False
        except gexc.NotFound:
            self._check_bucket()
            return False

    def _delete_lease(self, name: str, version: object) -> bool:
        try:
            self._call("delete", "%s/%s.json" % (RESERVED_TOP, name), self._blob(self._lease_key(name)).delete,
                       timeout=self.timeout, retry=self.retry, if_generation_match=version)
        except gexc.NotFound:
            return False
        except gexc.PreconditionFailed:
            raise LockError("lock %r on %s changed while it was being released (taken over after expiry); "
                            "not released" % (name, self.describe())) from None
        return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.split("\n", maxsplit=1)[0] if text else exc.__class__.__name__
