# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One family of errors. Each carries structured details that modules pass to fail_json."""
from __future__ import annotations

from typing import Any

ACME_ERROR_PREFIX = "urn:ietf:params:acme:error:"
# HTTP answers worth asking again (after Retry-After): rate limited, or the server having a bad moment
RETRYABLE_STATUS = (429, 500, 502, 503, 504)


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    def __init__(self, msg: str, **details: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.details = details

    def to_result(self) -> dict:
        """Fields for fail_json (msg excluded); never contains key material."""
        return dict(self.details)


class InputError(EngineError):
    """A caller-supplied value is wrong; names the field and what is wrong with it."""

    def __init__(self, field: str, reason: str, **details: Any) -> None:
        super().__init__("%s: %s" % (field, reason), field=field, **details)
        self.field = field


class TransportError(EngineError):
    """The CA could not be reached (DNS, TCP, TLS, timeout) even after retries."""


class DeadlineExceeded(EngineError):
    """A bounded wait (polling, retries) ran out of time."""


class ChallengeError(EngineError):
    """A challenge could not be prepared or published safely."""


class DNSError(EngineError):
    """A DNS provider or name server refused, failed or could not be reached (DNS-01)."""


class StorageError(EngineError):
    """A storage backend failed; the previously stored data is untouched."""


class LockError(EngineError):
    """A lock could not be acquired or released."""


class ACMEProblem(EngineError):
    """The CA answered with an RFC 7807 problem document."""

    def __init__(self, problem_type: str | None, detail: str | None, status: int | None = None,
                 url: str | None = None, subproblems: list | None = None,
                 retry_after: float | None = None, msg: str | None = None) -> None:
        problem_type = problem_type or "about:blank"
        detail = detail or ""
        if msg is None:
            msg = "ACME server error %s: %s" % (short_type(problem_type), detail)
            if status:
                msg += " (HTTP %s from %s)" % (status, url)
        problem = {"type": problem_type, "detail": detail, "subproblems": list(subproblems or [])}
        super().__init__(msg, problem=problem, http_status=status, http_url=url)
        self.type = problem_type
        self.detail = detail
        self.status = status
        self.url = url
        self.subproblems = list(subproblems or [])
        self.retry_after = retry_after
        if retry_after is not None:
            self.details["retry_after_seconds"] = retry_after

    @property
    def code(self) -> str:
        """The problem type without the ACME URN prefix, for example 'badNonce'."""
        return short_type(self.type)

    @classmethod
    def from_json(cls, body: dict, status: int | None = None, url: str | None = None,
                  retry_after: float | None = None) -> ACMEProblem:
        return cls(body.get("type"), body.get("detail"), status=status, url=url,
                   subproblems=body.get("subproblems"), retry_after=retry_after)


class AuthorizationFailed(EngineError):
    """The CA could not validate one or more identifiers; carries what it fetched and got."""

    def __init__(self, failures: list[dict]) -> None:
        parts = []
        for failure in failures:
            text = "%s: %s" % (failure["identifier"], failure.get("error", {}).get("detail") or failure["status"])
            if failure.get("url"):
                text += " (CA fetched %s)" % failure["url"]
            parts.append(text)
        super().__init__("The CA could not validate: " + "; ".join(parts), failed_authorizations=failures)
        self.failures = failures


def short_type(problem_type: str) -> str:
    if problem_type and problem_type.startswith(ACME_ERROR_PREFIX):
        return problem_type[len(ACME_ERROR_PREFIX):]
    return problem_type


INFRASTRUCTURE = "infrastructure"   # the CA or storage could not be reached, or failed on its side (5xx)
REFUSED = "ca"                      # the CA refused (validation failed, rate limit, bad request)


def failure_kind(error: EngineError) -> str:
    """infrastructure or ca: infrastructure failures are retried sooner (see policy.next_attempt)."""
    if isinstance(error, (TransportError, StorageError, DeadlineExceeded)):
        return INFRASTRUCTURE
    if isinstance(error, ACMEProblem):
        return INFRASTRUCTURE if (error.status or 0) >= 500 else REFUSED
    if error.details.get("unreachable"):
        return INFRASTRUCTURE
    return REFUSED
