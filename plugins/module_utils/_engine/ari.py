# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ACME Renewal Information (ARI, RFC 9773): when does the CA want a certificate renewed?

- certificate_id() names a certificate the way the CA's renewalInfo resource and
  newOrder's "replaces" field expect (RFC 9773 section 4.1);
- fetch() asks the CA for the suggested renewal window, unauthenticated GET
  through the client's network object (so ca_bundle, timeouts and the 429/5xx
  retries apply), and keeps the server's Retry-After, clamped to sane bounds;
- select_time() picks the moment inside the window (uniformly at random, so a
  fleet does not renew all at once) and decide() says whether it has come.
Nothing here stores anything: bundles.CertificateStore caches the answers.
"""
from __future__ import annotations

import base64
import datetime
import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from . import keys
from .errors import EngineError, InputError

try:
    from cryptography import x509
except ImportError:  # reported by the module through deps.missing()
    pass

if TYPE_CHECKING:
    from .client import AcmeClient

DEFAULT_RETRY_AFTER = 6 * 3600        # RFC 9773 section 4.3.3: when the server sends none
MIN_RETRY_AFTER = 60                  # never ask more often than once a minute ...
MAX_RETRY_AFTER = 7 * 24 * 3600       # ... and never wait more than a week
_B64URL = r"[A-Za-z0-9_-]+"
_CERT_ID = re.compile(r"^%s\.%s$" % (_B64URL, _B64URL))
_RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")


class ARIError(EngineError):
    """The CA's renewalInfo answer is missing, unreadable or inconsistent."""


@dataclass
class RenewalWindow:
    """The CA's suggested renewal window (aware UTC datetimes) and how long to trust it."""
    start: datetime.datetime
    end: datetime.datetime
    explanation_url: str | None = None
    retry_after_seconds: float = DEFAULT_RETRY_AFTER


# ---- certificate identifiers -----------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def serial_bytes(serial: int) -> bytes:
    """DER INTEGER content octets of serial: big-endian two's complement, minimal length."""
    return serial.to_bytes((serial.bit_length() + 8) // 8, byteorder="big", signed=True)


def certificate_id(cert_pem: keys.Pem) -> str:
    """The ARI CertID of the (first) certificate of cert_pem: base64url(AKI keyIdentifier) "." base64url(serial).

    Raises InputError when the certificate is unreadable or has no Authority Key Identifier.
    """
    pems = keys.split_pem_certificates(cert_pem)
    if not pems:
        raise InputError("certificate", "no PEM certificate found")
    try:
        cert = x509.load_pem_x509_certificate(pems[0])
    except ValueError as exc:
        raise InputError("certificate", "not a readable PEM certificate (%s)" % exc) from None
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    except x509.ExtensionNotFound:
        aki = None
    if aki is None or not aki.key_identifier:
        raise InputError("certificate", "has no Authority Key Identifier with a keyIdentifier, so it has no ARI "
                                        "identifier")
    return "%s.%s" % (_b64url(aki.key_identifier), _b64url(serial_bytes(cert.serial_number)))


def try_certificate_id(cert_pem: keys.Pem) -> str | None:
    """certificate_id(), or None for a certificate that has none (no AKI, self-signed test certificates)."""
    try:
        return certificate_id(cert_pem)
    except InputError:
        return None


def check_certificate_id(value: object, field_name: str = "replaces") -> str | None:
    """A caller-supplied CertID ("" and None mean none), checked for its shape."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _CERT_ID.match(value.strip()):
        raise InputError(field_name, "%r is not an ARI certificate identifier (base64url(AKI).base64url(serial), "
                                     "as cert_store reports it in ari_id)" % (value,))
    return value.strip()


# ---- the renewalInfo resource ----------------------------------------------------------------

def parse_time(text: object) -> datetime.datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime (fractions beyond microseconds dropped), or None."""
    match = _RFC3339.match(text.strip()) if isinstance(text, str) else None
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if zone in ("Z", "z"):
        tz = datetime.timezone.utc
    else:
        sign = -1 if zone[0] == "-" else 1
        tz = datetime.timezone(sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        moment = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
    except ValueError:
        return None
    return moment.astimezone(datetime.timezone.utc)


def clamp_retry_after(seconds: float | None) -> float:
    """The server's Retry-After in seconds (None: absent) bounded to [1 minute, 1 week], 6 hours by default."""
    if seconds is None:
        return float(DEFAULT_RETRY_AFTER)
    return float(min(max(seconds, MIN_RETRY_AFTER), MAX_RETRY_AFTER))


def renewal_info_url(client: AcmeClient) -> str | None:
    """The directory's renewalInfo base URL, or None when the CA does not offer ARI."""
    return client.directory_url_for("renewalInfo") or None


def parse_window(body: Any, retry_after: float | None = None, url: str | None = None) -> RenewalWindow:
    """A RenewalWindow from a renewalInfo JSON body; ARIError when it is not one."""
    window = body.get("suggestedWindow") if isinstance(body, dict) else None
    if not isinstance(window, dict):
        window = {}
    start, end = parse_time(window.get("start")), parse_time(window.get("end"))
    if start is None or end is None:
        raise ARIError("the renewalInfo answer of %s has no readable suggestedWindow start and end" % url,
                       ari_url=url)
    if end < start:
        raise ARIError("the renewalInfo answer of %s has a suggestedWindow that ends (%s) before it starts (%s)"
                       % (url, window.get("end"), window.get("start")), ari_url=url)
    explanation = body.get("explanationURL")
    return RenewalWindow(start=start, end=end, explanation_url=explanation if isinstance(explanation, str) else None,
                         retry_after_seconds=clamp_retry_after(retry_after))


def fetch(client: AcmeClient, cert_id: str) -> RenewalWindow | None:
    """GET <renewalInfo>/<cert_id> (unauthenticated); None when the directory offers no renewalInfo.

    Errors are EngineErrors: ACMEProblem (the CA answered with an error), TransportError
    (unreachable), ARIError (directory unreadable - details name it - or an answer that
    is not a renewal window).
    """
    try:
        base = renewal_info_url(client)
    except Exception as exc:  # ours (unreachable, problem answer) or the acme library's (unreadable directory)
        raise ARIError("cannot read the ACME directory %s: %s" % (
            client.directory_url, exc.msg if isinstance(exc, EngineError) else exc),
            directory=client.directory_url) from None
    if not base:
        return None
    url = base.rstrip("/") + "/" + cert_id
    try:
        response = client.net.get(url, content_type="application/json")
        body = response.json()
    except EngineError:
        raise
    except Exception as exc:  # the acme library refuses a non-JSON answer with its own errors
        raise ARIError("the renewalInfo answer of %s is not JSON (%s)" % (url, exc), ari_url=url) from None
    from .client import retry_after_seconds   # here: looking up storage must not import the ACME client
    return parse_window(body, retry_after_seconds(response), url)


# ---- when ------------------------------------------------------------------------------------

class Uniform(Protocol):
    """What select_time needs of a random source: the random module or a random.Random."""

    def uniform(self, a: float, b: float) -> float:
        ...


def select_time(window: RenewalWindow, rng: Uniform = random) -> datetime.datetime:
    """A moment uniformly at random inside [start, end] (RFC 9773 section 4.2)."""
    span = (window.end - window.start).total_seconds()
    return window.start + datetime.timedelta(seconds=rng.uniform(0, span)) if span > 0 else window.start


def decide(window: RenewalWindow, selected: datetime.datetime, now: datetime.datetime) -> bool:
    """Due when the selected moment has come, or the window already ended."""
    return now >= selected or now >= window.end
