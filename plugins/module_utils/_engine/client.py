# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACME transport on certbot's `acme` library, hardened for a CA's bad days.

- every error answer becomes an ACMEProblem with type, detail, subproblems,
  HTTP status, URL and Retry-After;
- badNonce is retried with the fresh nonce the error answer carried, for as
  long as the request's retry deadline allows (not a fixed count: a CA that
  rejects 90% of nonces still gets every request through, as with lego and
  CertMagic);
- 429/5xx and connection errors are retried honouring Retry-After, but never
  past the caller's retry deadline;
- polling uses a short, growing interval, never faster than Retry-After asks,
  and is bounded by a deadline.
One AcmeClient per account key; it holds no global state, so callers may run
several side by side.
"""
from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from .errors import RETRYABLE_STATUS, ACMEProblem, DeadlineExceeded, InputError, TransportError

try:
    import josepy as jose
    import requests
    from acme import client as acme_client
    from acme import messages
    from cryptography.hazmat.primitives.asymmetric import ec
except ImportError:  # reported by the module through deps.missing()
    pass

if TYPE_CHECKING:
    from acme.client import ClientNetwork as _NetworkBase

    from .keys import PrivateKey
else:
    try:
        from acme.client import ClientNetwork as _NetworkBase
    except ImportError:  # without acme this module still imports; the module reports the missing library
        _NetworkBase = object

Sent = TypeVar("Sent")

USER_AGENT = "autotls.acme (acme-python)"
# badNonce: the first retries go out at once (each with the fresh nonce the error carried); after
# NONCE_FREE_RETRIES in a row they are paced NONCE_PAUSE apart (at most 20 requests a second to a CA
# that rejects every nonce), and the request's retry deadline (retry_timeout) ends them. A CA
# rejecting 90% of nonces at random needs about 10 tries per request, sometimes many more.
NONCE_FREE_RETRIES = 50
NONCE_PAUSE = 0.05
POLL_FIRST_INTERVAL = 0.05
POLL_MAX_INTERVAL = 2.0


class Deadline:
    """A point in monotonic time that bounds retries and polling.

    clock is injectable (tests pass a fake one that their fake sleep advances, so no test sleeps).
    """

    def __init__(self, seconds: float, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or time.monotonic
        self.seconds = seconds
        self.end = self.clock() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock())


def retry_after_seconds(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        when = acme_client.ClientV2.retry_after(response, 0)  # HTTP-date form
        return max(0.0, (when - when.now()).total_seconds())


def jwk_and_alg(key: PrivateKey) -> tuple[jose.JWK, jose.JWASignature]:
    """josepy JWK and JWS algorithm for an account key."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {256: jose.ES256, 384: jose.ES384, 521: jose.ES512}[key.curve.key_size]
        return jose.JWKEC(key=key), alg
    return jose.JWKRSA(key=key), jose.RS256


class Payload:
    """A JSON body the acme library can sign (it expects json_dumps())."""

    def __init__(self, data: dict) -> None:
        self.data = data

    def json_dumps(self, **kwargs: Any) -> str:
        return json.dumps(self.data, **kwargs)


class _Network(_NetworkBase):
    """ClientNetwork whose errors keep the problem document and which retries."""

    def __init__(self, retry_timeout: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.retry_timeout = retry_timeout
        self.sleep = time.sleep
        self.clock = time.monotonic   # replaced together with sleep by tests

    # acme declares _check_response a classmethod but calls it on the instance; ours needs the instance
    # (it keeps the fresh nonce of an error answer)
    def _check_response(self, response: requests.Response,  # type: ignore[override]
                        content_type: str | None = None) -> requests.Response:
        if response.ok:
            return super()._check_response(response, content_type=content_type)
        if self.REPLAY_NONCE_HEADER in response.headers:
            self._add_nonce(response)  # error answers carry a fresh nonce: use it for the retry
        try:
            body = response.json()
        except ValueError:
            body = None
        retry_after = retry_after_seconds(response)
        if isinstance(body, dict) and body.get("type"):
            raise ACMEProblem.from_json(body, status=response.status_code, url=response.url, retry_after=retry_after)
        raise ACMEProblem(None, (response.text or response.reason or "")[:300], status=response.status_code,
                          url=response.url, retry_after=retry_after)

    def _send_request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            return super()._send_request(method, url, *args, **kwargs)
        except requests.exceptions.SSLError as exc:
            raise TransportError("TLS verification failed for %s: %s. For a private ACME CA, pass its CA "
                                 "certificate as ca_bundle." % (url, exc), http_url=url) from None
        except requests.exceptions.RequestException as exc:
            raise TransportError("cannot reach the ACME server at %s: %s" % (url, exc), http_url=url,
                                 retryable=True) from None

    def _with_retries(self, send: Callable[[], Sent]) -> Sent:
        deadline = Deadline(self.retry_timeout, self.clock)
        nonce_retries = 0
        attempt = 0
        failure: ACMEProblem | TransportError
        while True:
            try:
                return send()
            except ACMEProblem as problem:
                if problem.code == "badNonce":
                    nonce_retries += 1
                    wait = 0.0 if nonce_retries <= NONCE_FREE_RETRIES else NONCE_PAUSE
                    if deadline.remaining() <= wait:
                        problem.msg += " (still rejected after %d retries in %.0f s, the retry_timeout)" % (
                            nonce_retries - 1, self.retry_timeout)
                        problem.args = (problem.msg,)
                        raise
                    if wait:
                        self.sleep(wait)
                    continue
                if problem.status not in RETRYABLE_STATUS:
                    raise
                wait = problem.retry_after if problem.retry_after is not None else min(2.0 ** attempt, 30.0)
                failure = problem
            except TransportError as error:
                if not error.details.get("retryable"):
                    raise
                wait, failure = min(0.5 * 2 ** attempt, 10.0), error
            if wait > deadline.remaining():
                if isinstance(failure, ACMEProblem):
                    failure.msg += " (not retried: the server asked to wait %.0f s, beyond the %.0f s retry " \
                                   "deadline)" % (wait, self.retry_timeout)
                    failure.args = (failure.msg,)
                raise failure
            attempt += 1
            self.sleep(wait)

    def post(self, *args: Any, **kwargs: Any) -> requests.Response:
        return self._with_retries(lambda: self._post_once(*args, **kwargs))

    def get(self, url: str, content_type: str = "application/json", **kwargs: Any) -> requests.Response:
        return self._with_retries(lambda: super(_Network, self).get(url, content_type=content_type, **kwargs))


class AcmeClient:
    """Talks to one ACME directory with one account key."""

    def __init__(self, directory_url: str, account_key: PrivateKey, ca_bundle: str | None = None,
                 request_timeout: float = 30, retry_timeout: float = 60, poll_timeout: float = 120) -> None:
        self.directory_url = directory_url
        self.account_key = account_key
        self._settings: dict[str, Any] = dict(ca_bundle=ca_bundle, request_timeout=request_timeout,
                                              retry_timeout=retry_timeout, poll_timeout=poll_timeout)
        self.jwk, alg = jwk_and_alg(account_key)
        self.poll_timeout = poll_timeout
        self.net = _Network(retry_timeout=retry_timeout, key=self.jwk, alg=alg,
                            verify_ssl=ca_bundle or True, user_agent=USER_AGENT, timeout=request_timeout)
        self._directory: messages.Directory | None = None
        self._v2: acme_client.ClientV2 | None = None

    def with_key(self, account_key: PrivateKey) -> AcmeClient:
        """A client for the same CA and settings with another account key."""
        other = AcmeClient(self.directory_url, account_key, **self._settings)
        other._directory = self._directory
        return other

    def clone(self) -> AcmeClient:
        """Same CA, key and account, own network state (one per thread)."""
        directory = self.directory  # fetched once, shared by every clone
        other = AcmeClient(self.directory_url, self.account_key, **self._settings)
        other._directory = directory
        other.use_account(self.net.account)
        return other

    # -- plumbing -----------------------------------------------------------
    @property
    def directory(self) -> messages.Directory:
        if self._directory is None:
            self._directory = read_directory(self.directory_url, self.net)
        return self._directory

    def check_directory(self) -> messages.Directory:
        """Read the directory now: InputError naming acme_directory and its URL when it is not one."""
        return self.directory

    @property
    def v2(self) -> acme_client.ClientV2:
        """certbot's ClientV2 on the same network object (for account verbs)."""
        if self._v2 is None:
            self._v2 = acme_client.ClientV2(self.directory, self.net)
        return self._v2

    def directory_url_for(self, name: str) -> str | None:
        return self.directory.to_partial_json().get(name)

    @property
    def account_uri(self) -> str | None:
        return self.net.account.uri if self.net.account is not None else None

    def use_account(self, regr: messages.RegistrationResource | None) -> None:
        self.net.account = regr

    def post(self, url: str, payload: dict | jose.JSONDeSerializable | None, **kwargs: Any) -> requests.Response:
        """Signed POST; payload is a dict, a josepy object, or None for POST-as-GET."""
        body = Payload(payload) if isinstance(payload, dict) else payload
        kwargs.setdefault("new_nonce_url", self.directory["newNonce"])
        return self.net.post(url, body, **kwargs)

    def fetch(self, url: str) -> dict:
        """POST-as-GET of a JSON resource."""
        return self.post(url, None).json()

    def fetch_pem_chain(self, url: str) -> requests.Response:
        return self.post(url, None, headers={"Content-Type": "application/jose+json",
                                             "Accept": "application/pem-certificate-chain"})

    def poll(self, url: str, is_done: Callable[[dict], bool], what: str, deadline: Deadline | None = None) -> dict:
        """POST-as-GET url until is_done(body); short growing interval, Retry-After honoured."""
        deadline = deadline or Deadline(self.poll_timeout, self.net.clock)
        interval = POLL_FIRST_INTERVAL
        while True:
            response = self.post(url, None)
            body = response.json()
            if is_done(body):
                return body
            asked = retry_after_seconds(response)
            wait = max(interval, asked or 0.0)  # never faster than the CA asks
            if deadline.remaining() <= 0:
                raise DeadlineExceeded("%s is still %r after %.0f s (poll_timeout)" % (what, body.get("status"),
                                       deadline.seconds), url=url, status=body.get("status"))
            self.net.sleep(min(wait, deadline.remaining()))
            interval = min(interval * 2, POLL_MAX_INTERVAL)


DIRECTORY_RESOURCES = ("newNonce", "newAccount", "newOrder")


def read_directory(url: str, net: acme_client.ClientNetwork) -> messages.Directory:
    """The ACME directory at url; InputError naming acme_directory and the URL when it is not one."""
    try:
        directory = acme_client.ClientV2.get_directory(url, net)
    except TransportError:
        raise
    except ACMEProblem as problem:
        raise InputError("acme_directory", "%s does not answer as an ACME directory (HTTP %s: %s)" % (
            url, problem.status, problem.detail[:200] or problem.code), directory=url) from None
    except Exception as exc:  # the acme library's own errors (not JSON, not a directory object)
        raise InputError("acme_directory", "%s does not answer as an ACME directory (%s: %s)" % (
            url, type(exc).__name__, str(exc)[:200]), directory=url) from None
    resources = directory.to_partial_json()
    missing = [name for name in DIRECTORY_RESOURCES if not isinstance(resources.get(name), str)]
    if missing:
        raise InputError("acme_directory", "%s is not an ACME directory: it names no %s" % (url, ", ".join(missing)),
                         directory=url)
    return directory


def problem_from_body(error: dict | None) -> dict:
    """A problem document found inside an authorization or order body, as a plain dict."""
    error = error or {}
    return {"type": error.get("type"), "detail": error.get("detail"), "subproblems": error.get("subproblems", [])}
