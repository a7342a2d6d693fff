# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3 (and S3-compatible) backend through boto3.

Objects live under s3://<bucket>/<prefix>/<key>. Every PUT asks for server-side
encryption (AES256 by default, or aws:kms with an optional key id).

The documented minimal IAM policy allows GetObject/PutObject on <prefix>/*,
ListBucket limited to <prefix>/, and DeleteObject only on <prefix>/locks/*. So
this backend never deletes data objects (deletes_data is False): the
certificate layer writes tombstones instead and old versions are left to a
bucket lifecycle rule.

Locks are lease objects <prefix>/locks/<name>.json holding {owner, ttl,
expires, host, pid}:
  * acquire: PUT with If-None-Match: * (only one writer can create it);
  * a lease is expired when the server's clock (the Date header of a GET) is
    past its LastModified + ttl (+1 s for the one-second resolution of both),
    so clock skew between machines does not matter;
  * take over an expired lease (or extend one's own): PUT with
    If-Match: <ETag read>, so of two machines racing for an expired lease only
    one wins;
  * release: GET, compare the owner token, DELETE with If-Match: <ETag>.
"""
from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any, Callable, List, SupportsIndex

from ..errors import InputError, LockError, StorageError
from .base import (RESERVED_TOP, ConditionalLeases, LockState, ObjectStat, check_key, check_prefix,
                   lease_state, listed)

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import (BotoCoreError, ClientError, ConnectionClosedError, ConnectTimeoutError,
                                     EndpointConnectionError, NoCredentialsError, NoRegionError,
                                     PartialCredentialsError, ReadTimeoutError)
except ImportError:  # reported by the module through deps.missing()
    pass

if TYPE_CHECKING:
    from botocore.client import BaseClient

SSE_CHOICES = ("AES256", "aws:kms", "none")
THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequests",
                  "TooManyRequestsException", "RequestThrottled", "RequestThrottledException",
                  "ProvisionedThroughputExceededException", "ServiceUnavailable", "503"}
CONFLICT_STATUS = (409, 412)   # ConditionalRequestConflict, PreconditionFailed
THROTTLE_BASE = 0.25
THROTTLE_CAP = 4.0
# Every call is bounded: connect and read timeouts per HTTP attempt, and all attempts of one call
# (throttling, 5xx, connection errors, timeouts) within storage_timeout seconds. An endpoint that
# did not answer within that budget is marked unreachable: later calls of the same task fail at once.
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 10.0
RETRY_STATUS = (429, 500, 502, 503, 504)
PARALLEL = 16


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


class S3Storage(ConditionalLeases):
    kind = "s3"
    parallel_loads = PARALLEL
    deletes_data = False

    def __init__(self, s3_bucket: str | None = None, s3_prefix: str | None = None, s3_endpoint_url: str | None = None,
                 s3_region: str | None = None, s3_access_key: str | None = None, s3_secret_key: str | None = None,
                 s3_session_token: str | None = None, s3_sse: str | None = None, s3_kms_key_id: str | None = None,
                 s3_ca_bundle: str | None = None, s3_max_attempts: int | None = None,
                 storage_timeout: float | None = None, client: BaseClient | None = None,
                 sleep: Callable[[float | SupportsIndex], None] = time.sleep) -> None:
        if not s3_bucket:
            raise InputError("s3_bucket", "is required for backend s3")
        if "/" in s3_bucket or len(s3_bucket) > 255 or not s3_bucket.strip() == s3_bucket:
            raise InputError("s3_bucket", "%r is not a bucket name" % s3_bucket)
        self.bucket = s3_bucket
        prefix = (s3_prefix or "").strip("/")
        if prefix:
            check_key(prefix, "s3_prefix", allow_reserved=True)
        self.prefix = prefix + "/" if prefix else ""
        sse = s3_sse or "AES256"
        if sse not in SSE_CHOICES:
            raise InputError("s3_sse", "must be one of %s" % ", ".join(SSE_CHOICES))
        if s3_kms_key_id and sse != "aws:kms":
            raise InputError("s3_kms_key_id", "is only used with s3_sse=aws:kms")
        self.sse_args = {}
        if sse != "none":
            self.sse_args["ServerSideEncryption"] = sse
        if s3_kms_key_id:
            self.sse_args["SSEKMSKeyId"] = s3_kms_key_id
        if bool(s3_access_key) != bool(s3_secret_key):
            raise InputError("s3_secret_key" if s3_access_key else "s3_access_key",
                             "is required when %s is set" % ("s3_access_key" if s3_access_key else "s3_secret_key"))
        if s3_session_token and not s3_access_key:
            raise InputError("s3_access_key", "is required when s3_session_token is set")
        if s3_endpoint_url and not s3_endpoint_url.startswith(("http://", "https://")):
            raise InputError("s3_endpoint_url", "must be an http:// or https:// URL, got %r" % s3_endpoint_url)
        if s3_ca_bundle:
            try:
                open(s3_ca_bundle, "rb").close()
            except OSError as exc:
                raise InputError("s3_ca_bundle", "cannot read %s: %s" % (s3_ca_bundle, exc.strerror)) from None
        attempts = 5 if s3_max_attempts is None else s3_max_attempts
        if not isinstance(attempts, int) or attempts < 1:
            raise InputError("s3_max_attempts", "must be a positive integer")
        timeout = DEFAULT_TIMEOUT if storage_timeout is None else storage_timeout
        if timeout <= 0:
            raise InputError("storage_timeout", "must be a positive number of seconds")
        self.timeout = float(timeout)
        self.max_attempts = attempts
        self.unreachable: str | None = None   # set once the endpoint did not answer: later calls fail at once
        self.sleep = sleep
        self.endpoint = s3_endpoint_url or "AWS S3"
        if client is not None:
            self.client = client
            return
        # botocore does not retry: _call does, within the deadline
        config = Config(retries={"mode": "standard", "total_max_attempts": 1},
                        connect_timeout=min(CONNECT_TIMEOUT, timeout), read_timeout=min(READ_TIMEOUT, timeout),
                        max_pool_connections=PARALLEL,
                        s3={"addressing_style": "path"} if s3_endpoint_url else None)
        try:
            session = boto3.session.Session(aws_access_key_id=s3_access_key or None,
                                            aws_secret_access_key=s3_secret_key or None,
                                            aws_session_token=s3_session_token or None,
                                            region_name=s3_region or None)
            self.client = session.client("s3", endpoint_url=s3_endpoint_url or None,
                                         verify=s3_ca_bundle or None, config=config)
        except NoRegionError:
            raise InputError("s3_region", "no region configured; set s3_region or AWS_DEFAULT_REGION") from None
        except BotoCoreError as exc:
            raise StorageError("cannot create the S3 client: %s" % exc, endpoint=self.endpoint) from None
        self.endpoint = self.client.meta.endpoint_url

    def describe(self) -> str:
        return "s3://%s/%s" % (self.bucket, self.prefix)

    # ---- calls and errors -------------------------------------------------------------------

    def _full(self, key: str) -> str:
        return self.prefix + key

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """One S3 call, retried on throttling, 5xx and connection errors with jittered backoff, all within
        storage_timeout seconds (and at most s3_max_attempts attempts)."""
        if self.unreachable:
            raise StorageError(self.unreachable, endpoint=self.endpoint, operation=operation, unreachable=True)
        deadline = time.monotonic() + self.timeout
        for attempt in range(1, self.max_attempts + 1):
            wait = random.uniform(0, min(THROTTLE_CAP, THROTTLE_BASE * 2 ** (attempt - 1)))
            try:
                return getattr(self.client, operation)(Bucket=self.bucket, **kwargs)
            except ClientError as exc:
                retryable = _code(exc) in THROTTLE_CODES or _status(exc) in RETRY_STATUS
                if not retryable or attempt == self.max_attempts or time.monotonic() + wait >= deadline:
                    raise
            except (NoCredentialsError, PartialCredentialsError):
                raise InputError("s3_access_key", "no AWS credentials found: set s3_access_key and s3_secret_key "
                                 "or configure the boto3 credential chain") from None
            except BotoCoreError as exc:
                connection = isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError,
                                              ConnectionClosedError))
                if not connection:
                    raise StorageError("S3 endpoint %s failed during %s: %s" % (self.endpoint, operation, exc),
                                       endpoint=self.endpoint, operation=operation) from None
                if attempt == self.max_attempts or time.monotonic() + wait >= deadline:
                    self.unreachable = ("S3 endpoint %s is unreachable (%s during %s; gave up after %d attempt(s) "
                                        "within storage_timeout=%gs)" % (self.endpoint, exc, operation, attempt,
                                                                         self.timeout))
                    raise StorageError(self.unreachable, endpoint=self.endpoint, operation=operation,
                                       unreachable=True) from None
            self.sleep(wait)
        raise AssertionError("not reached")

    def _error(self, exc: ClientError, operation: str, key: str | None = None) -> InputError | StorageError:
        """Turn a ClientError into an InputError or StorageError that says what to fix."""
        code, where = _code(exc), "s3://%s/%s" % (self.bucket, self._full(key) if key is not None else self.prefix)
        message = exc.response.get("Error", {}).get("Message", "")
        if code == "NoSuchBucket":
            return InputError("s3_bucket", "bucket %r does not exist at %s" % (self.bucket, self.endpoint))
        if code == "InvalidAccessKeyId":
            return InputError("s3_access_key", "the access key id is not known to %s" % self.endpoint)
        if code == "SignatureDoesNotMatch":
            return InputError("s3_secret_key", "the request signature does not match (wrong secret key?)")
        if code in ("ExpiredToken", "InvalidToken", "TokenRefreshRequired"):
            return InputError("s3_session_token", "the session token is invalid or expired")
        if code == "AccessDenied" or _status(exc) == 403:
            return StorageError("access denied: %s on %s (compare the credentials' IAM policy with the one in "
                                "the README)" % (operation, where), code=code or "403", operation=operation)
        return StorageError("S3 %s on %s failed: %s %s" % (operation, where, code, message),
                            code=code, operation=operation, endpoint=self.endpoint)

    def _listed(self, full_key: str) -> bool:
        """Does full_key exist? For 403 answers to GET/HEAD: without s3:ListBucket on the exact key's
        context S3 answers 403 instead of 404 for a missing key, and a missing certificate must never be
        mistaken for a permission problem (or the other way round)."""
        try:
            response = self._call("list_objects_v2", Prefix=full_key, MaxKeys=1)
        except ClientError as exc:
            raise self._error(exc, "ListBucket", full_key[len(self.prefix):]) from None
        return any(item["Key"] == full_key for item in response.get("Contents", []))

    # ---- objects ----------------------------------------------------------------------------

    def store(self, key: str, data: bytes, private: bool = False) -> None:
        check_key(key)
        try:
            self._call("put_object", Key=self._full(key), Body=data, ContentType="application/octet-stream",
                       **self.sse_args)
        except ClientError as exc:
            raise self._error(exc, "PutObject", key) from None

    def _get(self, full_key: str) -> tuple[bytes, dict[str, Any]] | None:
        """(body, response) or None when missing."""
        try:
            response = self._call("get_object", Key=full_key)
            return response["Body"].read(), response
        except ClientError as exc:
            if _code(exc) == "NoSuchKey":   # not a bare 404: a missing bucket is a 404 too (NoSuchBucket)
                return None
            if (_code(exc) != "NoSuchBucket" and (_code(exc) == "AccessDenied" or _status(exc) in (403, 404))
                    and not self._listed(full_key)):
                return None
            raise self._error(exc, "GetObject", full_key[len(self.prefix):]) from None
        except BotoCoreError as exc:   # the body stream broke
            raise StorageError("S3 endpoint %s failed while reading %s: %s" % (self.endpoint, full_key, exc),
                               endpoint=self.endpoint) from None

    def load(self, key: str) -> bytes | None:
        check_key(key)
        got = self._get(self._full(key))
        return None if got is None else got[0]

    def delete(self, key: str) -> None:
        check_key(key)
        try:
            self._call("delete_object", Key=self._full(key))
        except ClientError as exc:
            if _status(exc) != 404:
                raise self._error(exc, "DeleteObject", key) from None

    def list(self, prefix: str = "", recursive: bool = True) -> List[str]:
        prefix = check_prefix(prefix)
        kwargs = {"Prefix": self._full(prefix)}
        if not recursive:
            kwargs["Delimiter"] = "/"
        found = []
        while True:
            try:
                response = self._call("list_objects_v2", **kwargs)
            except ClientError as exc:
                raise self._error(exc, "ListBucket", prefix) from None
            found += [item["Key"][len(self.prefix):] for item in response.get("Contents", [])]
            found += [item["Prefix"][len(self.prefix):] for item in response.get("CommonPrefixes", [])]
            if not response.get("IsTruncated"):
                break
            kwargs["ContinuationToken"] = response["NextContinuationToken"]
        return listed(found)

    def stat(self, key: str) -> ObjectStat | None:
        check_key(key)
        full = self._full(key)
        try:
            response = self._call("head_object", Key=full)
        except ClientError as exc:
            # HEAD answers carry no error code: a 404 may also mean that the bucket is missing, which the
            # listing reports (NoSuchBucket); a 403 may mean a missing key without s3:ListBucket in context.
            if _status(exc) in (403, 404) and not self._listed(full):
                return None
            raise self._error(exc, "HeadObject", key) from None
        return ObjectStat(key=key, size=response.get("ContentLength", 0),
                          modified=response["LastModified"].timestamp() if response.get("LastModified") else None,
                          etag=response.get("ETag"))

    # ---- locks ------------------------------------------------------------------------------

    def _lease_key(self, name: str) -> str:
        return "%s%s/%s.json" % (self.prefix, RESERVED_TOP, name)

    def _lease(self, name: str, ttl_if_unreadable: float = 0.0) -> tuple[dict, object, LockState] | None:
        got = self._get(self._lease_key(name))
        if got is None:
            return None
        body, response = got
        record, state = lease_state(name, body, ttl_if_unreadable,
                                    response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date"),
                                    response.get("LastModified"))
        return record, response.get("ETag"), state

    def _put_lease(self, name: str, body: bytes, version: object) -> bool:
        condition = {"IfNoneMatch": "*"} if version is None else {"IfMatch": version}
        try:
            self._call("put_object", Key=self._lease_key(name), Body=body, ContentType="application/json",
                       **condition, **self.sse_args)
            return True
        except ClientError as exc:
            if _status(exc) in CONFLICT_STATUS or _status(exc) == 404 or _code(exc) in (
                    "PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey"):
                return False
            raise self._error(exc, "PutObject", "%s/%s.json" % (RESERVED_TOP, name)) from None

    def _delete_lease(self, name: str, version: object) -> bool:
        key = self._lease_key(name)
        try:
            self._call("delete_object", Key=key, IfMatch=version)
        except ClientError as exc:
            if _status(exc) == 404 or _code(exc) == "NoSuchKey":
                return False
            if _status(exc) in CONFLICT_STATUS:
                raise LockError("lock %r on %s changed while it was being released (taken over after expiry); "
                                "not released" % (name, self.describe())) from None
            if _code(exc) in ("NotImplemented", "InvalidArgument") or _status(exc) == 501:
                try:   # an S3-compatible store without conditional deletes
                    self._call("delete_object", Key=key)
                except ClientError as exc2:
                    raise self._error(exc2, "DeleteObject", key[len(self.prefix):]) from None
                return True
            raise self._error(exc, "DeleteObject", key[len(self.prefix):]) from None
        return True
