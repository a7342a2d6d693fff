# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Certificates on any Storage: versioned bundles behind a pointer switched last.

Layout (keys relative to the backend's root, <slug> derived from the ACME
directory URL so that staging and production never mix):

  versions/<slug>/<name>/<version>/privkey.pem    the key (stored private)
  versions/<slug>/<name>/<version>/cert.pem       leaf
  versions/<slug>/<name>/<version>/chain.pem      intermediates
  versions/<slug>/<name>/<version>/fullchain.pem  leaf + intermediates
  certs/<slug>/<name>/current.json                pointer: version id, metadata, SHA-256 of each file
  certs/<slug>/<name>/status.json                 last renewal attempt, its error, consecutive failures,
                                                  revocations (serial, reason, when),
                                                  cached ACME Renewal Information (key "ari")

A new bundle is written as a new version first and the pointer is replaced
last, in one atomic write, so a reader that follows the pointer always finds
a key and a certificate that belong together (and checks the hashes to be
sure). A bundle whose key does not match its certificate is refused before
anything is written.

Versions live under their own top-level prefix so that an S3 lifecycle rule on
"versions/" can expire old ones: the documented IAM policy does not let the S3
backend delete data, so there removal writes a tombstone pointer instead.
On backends that may delete, versions beyond the newest KEEP_VERSIONS are pruned.

The attempt status is a separate object so that recording a failed attempt can
never overwrite a pointer that another machine switched in the meantime.

With an ACME client, info() also asks the CA's renewalInfo resource (ARI, RFC 9773)
when a certificate is due, and caches the answer in status.json until the
server's Retry-After: a few hundred certificates cost no request on most runs.
"""
from __future__ import annotations

import datetime
import hashlib
import json
import random
import re
import secrets
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from .. import ari, keys, layout, policy
from ..errors import RETRYABLE_STATUS, ACMEProblem, EngineError, InputError, StorageError, TransportError
from ..timefmt import iso as _iso
from ..timefmt import parse_iso as _parse_iso
from .base import Lock, LockState, Storage

if TYPE_CHECKING:
    from ..client import AcmeClient

FORMAT = 1
POINTER = "current.json"
STATUS = "status.json"
# notes/<directory>/ari.json: when the directory last offered no renewalInfo, so that runs do not read the
# directory again before ARI_UNOFFERED_RECHECK has passed
ARI_NOTE = "ari.json"
ARI_UNOFFERED_RECHECK = datetime.timedelta(hours=24)
KEY_FILE = layout.KEY_FILE
FILES = layout.FILE_NAMES
KEEP_VERSIONS = 2
MAX_NAME = 200
MAX_ERROR = 2000
MAX_REVOCATIONS = 10
READ_RETRIES = 3
_NAME = re.compile(r"^[A-Za-z0-9_*@+=,~][A-Za-z0-9._*@+=,~-]*$")
PUBLIC_FIELDS = ("name", "version", "acme_directory", "account_uri", "identifiers", "not_before", "not_after",
                 "serial", "key_type", "issuer", "subject", "obtained_at", "stored_at", "ari_id", "profile")
ARI_ERROR_DELAY = datetime.timedelta(hours=1)   # a failing renewalInfo endpoint is asked again after this
ARI_FIELDS = ("ari_window_start", "ari_window_end", "ari_selected", "ari_next_check", "ari_explanation_url",
              "ari_error")


def validate_name(name: object, field_name: str = "name") -> str:
    """A certificate name becomes a path component and an object key: refuse anything that could escape."""
    if not isinstance(name, str) or not name:
        raise InputError(field_name, "must be a non-empty string")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise InputError(field_name, "%r contains a control character" % name)
    if "/" in name or "\\" in name:
        raise InputError(field_name, "%r contains a path separator" % name)
    if ".." in name:
        raise InputError(field_name, "%r contains '..'" % name)
    if name.startswith("."):
        raise InputError(field_name, "%r must not start with '.'" % name)
    if len(name) > MAX_NAME:
        raise InputError(field_name, "is longer than %d characters" % MAX_NAME)
    if not _NAME.match(name):
        raise InputError(field_name, "%r may only contain letters, digits and . _ - * @ + = , ~" % name)
    return name


def directory_slug(directory_url: object) -> str:
    """host + path of the ACME directory, sanitised, plus a hash of the whole URL."""
    if not isinstance(directory_url, str) or not directory_url.strip():
        raise InputError("acme_directory", "is required to key stored certificates")
    url = directory_url.strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("acme_directory", "must be an http(s) URL, got %r" % directory_url)
    readable = (parts.hostname + ("-%d" % parts.port if parts.port else "") + parts.path).lower()
    readable = re.sub(r"[^a-z0-9.]+", "-", readable)
    readable = re.sub(r"\.{2,}", ".", readable).strip("-.")[:60].strip("-.")
    digest = hashlib.sha256(url.encode()).hexdigest()[:10]
    return "%s-%s" % (readable, digest) if readable else digest


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _as_bytes(value: keys.Pem | None) -> bytes | None:
    if value is None:
        return None
    data = value.encode() if isinstance(value, str) else bytes(value)
    return data.replace(b"\r\n", b"\n")


@dataclass
class Bundle:
    """The four parts of a certificate; the fields are named as layout.PARTS."""
    private_key: bytes
    certificate: bytes
    chain: bytes
    fullchain: bytes

    def files(self) -> dict[str, bytes]:
        return {filename: getattr(self, part) for part, filename in layout.FILES}

    @classmethod
    def from_files(cls, files: dict[str, bytes]) -> Bundle:
        return cls(**{part: files[filename] for part, filename in layout.FILES})


def make_bundle(private_key: keys.Pem | None, certificate: keys.Pem | None = None, chain: keys.Pem | None = None,
                fullchain: keys.Pem | None = None, fields: dict[str, str] | None = None) -> Bundle:
    """Check and normalise the parts of a bundle; fields maps part -> the option name used in errors."""
    names = {"private_key": "private_key", "certificate": "certificate", "chain": "chain", "fullchain": "fullchain"}
    names.update(fields or {})
    private_key, certificate, chain, fullchain = (_as_bytes(v) for v in (private_key, certificate, chain, fullchain))
    if not private_key:
        raise InputError(names["private_key"], "the private key is required")
    if not certificate and not fullchain:
        raise InputError(names["certificate"], "a certificate or a fullchain is required")
    cert_list = keys.split_pem_certificates(certificate) if certificate else []
    full_list = keys.split_pem_certificates(fullchain) if fullchain else []
    chain_list = keys.split_pem_certificates(chain) if chain else []
    if certificate and not cert_list:
        raise InputError(names["certificate"], "no PEM certificate found")
    if fullchain and not full_list:
        raise InputError(names["fullchain"], "no PEM certificate found")
    if chain and chain.strip() and not chain_list:
        raise InputError(names["chain"], "no PEM certificate found")
    leaf = cert_list[0] if cert_list else full_list[0]
    if full_list and full_list[0] != leaf:
        raise InputError(names["fullchain"], "does not start with the certificate")
    if full_list and chain_list and full_list[1:] != chain_list:
        raise InputError(names["chain"], "differs from the intermediates in the fullchain")
    intermediates = chain_list or full_list[1:] or cert_list[1:]
    keys.parse_certificate(leaf, names["certificate"] if cert_list else names["fullchain"])
    key = keys.load_private_key(private_key, names["private_key"])
    if not keys.key_matches_certificate(key, leaf):
        raise InputError(names["private_key"], "does not match the certificate (the certificate was issued for "
                                               "another key); nothing was stored")
    if not private_key.endswith(b"\n"):
        private_key += b"\n"
    return Bundle(private_key, leaf, b"".join(intermediates), leaf + b"".join(intermediates))


def public_metadata(pointer: dict | None) -> dict | None:
    """The metadata that may be shown (results, diffs): never key material or file hashes."""
    if not pointer or pointer.get("deleted"):
        return None
    return {name: pointer.get(name) for name in PUBLIC_FIELDS}


def check_requests(requests: object, field_name: str = "requests", max_identifiers: int | None = None) -> dict:
    """{name: {identifiers, key_type, renew_before_days}} from a list of user dicts, checked like acme_order's."""
    checked: dict[str, dict[str, Any]] = {}
    if requests is None:
        return checked
    if not isinstance(requests, list):
        raise InputError(field_name, "must be a list of {name, identifiers, key_type, renew_before_days}")
    for index, entry in enumerate(requests):
        where = "%s[%d]" % (field_name, index)
        if not isinstance(entry, dict):
            raise InputError(where, "must be a dict with name and identifiers")
        name = validate_name(entry.get("name"), where + ".name")
        if name in checked:
            raise InputError(where + ".name", "%r is listed twice" % name)
        # storage only compares names: whether a wildcard can be validated (DNS-01 only) is the order's
        # question, checked by acme_order and by the role's first task
        identifiers = keys.parse_identifiers(entry.get("identifiers"), where + ".identifiers", allow_wildcard=True,
                                             max_identifiers=max_identifiers)
        asked: dict[str, Any] = {"identifiers": identifiers}
        key_type = entry.get("key_type")
        if key_type is not None and key_type not in keys.KEY_TYPES:
            raise InputError(where + ".key_type", "%r is not one of %s" % (key_type, ", ".join(keys.KEY_TYPES)))
        asked["key_type"] = key_type
        profile = entry.get("profile")
        if profile is not None and (not isinstance(profile, str) or not profile.strip()):
            raise InputError(where + ".profile", "must be a profile name, got %r" % (profile,))
        asked["profile"] = profile
        if entry.get("renew_before_days") is not None:
            asked["renew_before_days"] = policy.check_renew_before_days(entry["renew_before_days"],
                                                                        where + ".renew_before_days")
        checked[name] = asked
    return checked


def cert_info_from_metadata(pointer: dict) -> keys.CertInfo | None:
    not_before, not_after = _parse_iso(pointer.get("not_before")), _parse_iso(pointer.get("not_after"))
    if not_before is None or not_after is None:
        return None
    return keys.CertInfo(serial=pointer.get("serial") or "", not_before=not_before, not_after=not_after,
                         identifiers=sorted(keys.identifier_set(pointer.get("identifiers") or []),
                                            key=lambda ident: (ident.type, ident.value)),
                         subject=pointer.get("subject") or "", issuer=pointer.get("issuer") or "")


def stored_directories(storage: Storage) -> list[str]:
    """The ACME directory URLs that have stored certificates on storage (read from one pointer of each)."""
    found = []
    for slug in storage.list("certs/", recursive=False):
        if not slug.endswith("/"):
            continue
        for entry in storage.list(slug, recursive=False):
            if not entry.endswith("/"):
                continue
            try:
                pointer = json.loads((storage.load(entry + POINTER) or b"{}").decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                continue
            if isinstance(pointer, dict) and pointer.get("acme_directory"):
                found.append(pointer["acme_directory"])
                break
    return sorted(set(found))


class CertificateStore:
    """Certificates of one ACME directory on one Storage."""

    def __init__(self, storage: Storage, directory_url: str) -> None:
        self.storage = storage
        self.directory = directory_url.strip()
        self.slug = directory_slug(directory_url)

    # ---- keys -------------------------------------------------------------------------------

    def _entry(self, name: str) -> str:
        return "certs/%s/%s/" % (self.slug, name)

    def _versions(self, name: str) -> str:
        return "versions/%s/%s/" % (self.slug, name)

    def lock_name(self, name: str) -> str:
        return "%s/%s" % (self.slug, validate_name(name))

    def _parse(self, data: bytes | None, what: str, name: str) -> dict | None:
        if data is None:
            return None
        try:
            value = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise StorageError("the %s of stored certificate %r on %s is not valid JSON"
                               % (what, name, self.storage.describe()), name=name) from None
        if not isinstance(value, dict):
            raise StorageError("the %s of stored certificate %r on %s is not a JSON object"
                               % (what, name, self.storage.describe()), name=name)
        return value

    @staticmethod
    def _note(data: bytes | None) -> dict | None:
        """The directory's renewal information note; one that does not parse is as good as none."""
        try:
            value = json.loads(data.decode("utf-8")) if data is not None else None
        except (UnicodeDecodeError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    def _pointer(self, name: str) -> dict | None:
        """The pointer as stored: None when missing; tombstones included."""
        return self._parse(self.storage.load(self._entry(name) + POINTER), "pointer", name)

    def metadata(self, name: str) -> dict | None:
        """The live pointer of name (metadata + version + hashes), or None."""
        validate_name(name)
        pointer = self._pointer(name)
        return None if not pointer or pointer.get("deleted") else pointer

    # ---- write ------------------------------------------------------------------------------

    def put(self, name: str, bundle: Bundle, account_uri: str | None = None, check_mode: bool = False,
            now: datetime.datetime | None = None, profile: str | None = None) -> dict:
        """Store bundle as name. Unchanged (no write) when the same files and metadata are stored already.

        profile is the ACME profile the certificate was issued with (kept from the stored
        pointer when None and the files are the same)."""
        validate_name(name)
        now = now or policy.utcnow()
        if not keys.key_matches_certificate(keys.load_private_key(bundle.private_key, "private_key"),
                                            bundle.certificate):
            raise InputError("private_key", "does not match the certificate; nothing was stored")
        info = keys.parse_certificate(bundle.certificate)
        before = self.metadata(name)
        stored = before or {}
        hashes = {fname: _sha256(data) for fname, data in bundle.files().items()}
        same_files = bool(before) and stored.get("files") == hashes
        account = account_uri if account_uri is not None else (before or {}).get("account_uri")
        if profile is None and same_files:
            profile = stored.get("profile")
        ari_id = ari.try_certificate_id(bundle.certificate)
        # (a pointer written before ARI ids were recorded gets its ari_id on the next upload)
        if same_files and account == stored.get("account_uri") and ari_id == stored.get("ari_id") \
                and profile == stored.get("profile"):
            return {"changed": False, "version": stored["version"], "before": public_metadata(before),
                    "after": public_metadata(before)}
        version = stored["version"] if same_files else self._new_version(now, info.serial)
        pointer = {
            "format": FORMAT, "name": name, "version": version, "acme_directory": self.directory,
            "account_uri": account, "identifiers": [ident.value for ident in info.identifiers],
            "not_before": _iso(info.not_before), "not_after": _iso(info.not_after), "serial": info.serial,
            "key_type": keys.key_type_of(keys.load_private_key(bundle.private_key, "private_key")),
            "issuer": info.issuer, "subject": info.subject, "public_key_sha256": info.public_key_sha256,
            "obtained_at": stored.get("obtained_at") if same_files else _iso(now),
            "stored_at": _iso(now), "files": hashes, "ari_id": ari_id, "profile": profile,
        }
        result: dict[str, Any] = {"changed": True, "version": version, "new_version": not same_files,
                                  "before": public_metadata(before), "after": public_metadata(pointer),
                                  "warnings": []}
        if check_mode:
            return result
        if not same_files:
            prefix = self._versions(name) + version + "/"
            for fname, data in bundle.files().items():
                self.storage.store(prefix + fname, data, private=fname == KEY_FILE)
        # The switch: one atomic write makes the new version visible, with its metadata.
        self.storage.store(self._entry(name) + POINTER, json.dumps(pointer, sort_keys=True, indent=1).encode())
        if not same_files:
            try:
                self._write_status(name, None, now)
                self._prune(name, keep={version, stored.get("version")})
            except StorageError as exc:   # the certificate is stored; housekeeping can wait for the next run
                result["warnings"].append("stored, but housekeeping failed: %s" % exc.msg)
        return result

    @staticmethod
    def _new_version(now: datetime.datetime, serial: str) -> str:
        stamp = now.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        return "%s-%s-%s" % (stamp, (serial or "0")[:16], secrets.token_hex(3))

    def _prune(self, name: str, keep: set[str | None]) -> None:
        if not self.storage.deletes_data:
            return   # S3: the lifecycle rule on versions/ expires them (see the README)
        prefix = self._versions(name)
        versions = sorted(child[len(prefix):].rstrip("/") for child in self.storage.list(prefix, recursive=False)
                          if child.endswith("/"))
        keep = set(keep) | set(versions[-KEEP_VERSIONS:])
        for version in versions:
            if version not in keep:
                self.storage.delete_tree(prefix + version + "/")

    def _status(self, name: str) -> dict:
        return self._parse(self.storage.load(self._entry(name) + STATUS), "status", name) or {}

    def _write_status(self, name: str, error: str | None, now: datetime.datetime, before: dict | None = None,
                      retry_after: float | None = None, kind: str | None = None) -> dict:
        status = dict(before if before is not None else self._status(name))
        status["last_attempt"] = _iso(now)
        if error:
            status["last_error"] = str(error)[:MAX_ERROR]
            status["last_failure_kind"] = kind or "ca"
            status["consecutive_failures"] = int(status.get("consecutive_failures") or 0) + 1
            # the CA's own Retry-After (rate limits) is respected by later runs
            status["retry_after"] = _iso(now + datetime.timedelta(seconds=retry_after)) if retry_after else None
        else:
            status.update(last_error=None, consecutive_failures=0, last_success=_iso(now), retry_after=None,
                          last_failure_kind=None)
        self.storage.store(self._entry(name) + STATUS, json.dumps(status, sort_keys=True).encode())
        return status

    def record_attempt(self, name: str, error: str | None = None, check_mode: bool = False,
                       now: datetime.datetime | None = None, retry_after: float | None = None,
                       kind: str | None = None) -> dict:
        """Record a renewal attempt of name: error None means it succeeded.

        retry_after (seconds) is the CA's Retry-After of a rate-limit answer; kind is the failure's
        kind (errors.failure_kind: "infrastructure" or "ca"), which sets the backoff.
        """
        validate_name(name)
        now = now or policy.utcnow()
        before = self._status(name)
        if check_mode:
            after = dict(before, last_attempt=_iso(now), last_error=str(error)[:MAX_ERROR] if error else None)
            return {"changed": True, "before": before, "after": after}
        return {"changed": True, "before": before,
                "after": self._write_status(name, error, now, before, retry_after=retry_after, kind=kind)}

    def record_revocation(self, name: str, reason: str, serial: str | None = None, check_mode: bool = False,
                          now: datetime.datetime | None = None) -> dict:
        """Record that the certificate serial (default: the stored one) of name was revoked for reason.

        Kept in the status object (the last MAX_REVOCATIONS), so info() reports the stored certificate as
        revoked - and due - until a new one is stored. Unchanged when that serial is recorded already.
        """
        validate_name(name)
        now = now or policy.utcnow()
        if serial is None:
            pointer = self.metadata(name)
            if pointer is None:
                raise InputError("name", "no certificate named %r is stored on %s for %s"
                                 % (name, self.storage.describe(), self.directory))
            serial = pointer.get("serial")
        status = self._status(name)
        revocations = [r for r in status.get("revocations") or [] if isinstance(r, dict)]
        if any(r.get("serial") == serial for r in revocations):
            return {"changed": False, "revocation": [r for r in revocations if r.get("serial") == serial][-1]}
        record = {"serial": serial, "reason": reason, "revoked_at": _iso(now)}
        if not check_mode:
            status = self._status(name)   # re-read just before the write: attempt records stay intact
            status["revocations"] = ([r for r in status.get("revocations") or [] if isinstance(r, dict)]
                                     + [record])[-MAX_REVOCATIONS:]
            self.storage.store(self._entry(name) + STATUS, json.dumps(status, sort_keys=True).encode())
        return {"changed": True, "revocation": record}

    def remove(self, name: str, check_mode: bool = False, now: datetime.datetime | None = None) -> dict:
        validate_name(name)
        now = now or policy.utcnow()
        pointer = self._pointer(name)
        live = pointer is not None and not pointer.get("deleted")
        status_key = self._entry(name) + STATUS
        if self.storage.deletes_data:
            leftovers = self.storage.list(self._versions(name), recursive=True)
            has_status = self.storage.exists(status_key)
            changed = live or has_status
            if check_mode or not (changed or leftovers or pointer is not None):
                return {"changed": changed, "before": public_metadata(pointer)}
            self.storage.delete(self._entry(name) + POINTER)   # readers see it gone first
            self.storage.delete(status_key)
            self.storage.delete_tree(self._versions(name))
            return {"changed": changed, "before": public_metadata(pointer), "purged": True}
        changed = live or (pointer is None and self.storage.exists(status_key))
        if changed and not check_mode:
            tombstone = {"format": FORMAT, "name": name, "deleted": True, "deleted_at": _iso(now)}
            self.storage.store(self._entry(name) + POINTER, json.dumps(tombstone, sort_keys=True).encode())
        return {"changed": changed, "before": public_metadata(pointer), "purged": False}

    # ---- read -------------------------------------------------------------------------------

    def get(self, name: str) -> tuple[Bundle, dict] | None:
        """(Bundle, pointer) of name, checked against the pointer's hashes; None when not stored."""
        validate_name(name)
        problems: list[str] = []
        pointer: dict | None = None
        for _attempt in range(READ_RETRIES):
            pointer = self.metadata(name)
            if pointer is None:
                return None
            prefix = self._versions(name) + str(pointer.get("version")) + "/"
            data = self.storage.load_many([prefix + fname for fname in FILES])
            files: dict[str, bytes] = {}
            problems = []
            for fname in FILES:
                content = data[prefix + fname]
                if content is None:
                    problems.append("%s is missing" % fname)
                elif _sha256(content) != (pointer.get("files") or {}).get(fname):
                    problems.append("%s does not match its recorded SHA-256" % fname)
                if content is not None:
                    files[fname] = content
            if not problems:
                bundle = Bundle.from_files(files)
                if keys.key_matches_certificate(keys.load_private_key(bundle.private_key, "stored key"),
                                                bundle.certificate):
                    return bundle, pointer
                problems.append("the key does not match the certificate")
            # A writer may have switched the pointer and pruned this version meanwhile: read it again.
        raise StorageError("stored certificate %r (version %s) on %s is damaged: %s"
                           % (name, (pointer or {}).get("version"), self.storage.describe(), "; ".join(problems)),
                           name=name)

    def names(self) -> list[str]:
        """Names that have an entry (a live pointer or a recorded attempt) for this directory."""
        prefix = "certs/%s/" % self.slug
        found = []
        for child in self.storage.list(prefix, recursive=False):
            if not child.endswith("/"):
                continue   # an object beside the entries, not an entry
            name = child[len(prefix):].rstrip("/")
            try:
                found.append(validate_name(name))
            except InputError:
                continue   # not ours
        return sorted(set(found))

    def info(self, names: Iterable[str] | None = None, renew_before_days: float | None = None,
             now: datetime.datetime | None = None, ari_client: AcmeClient | None = None,
             ari_cache: bool = True, requests: dict | None = None) -> dict:
        """Expiry, due-ness (policy.decide, as acme_order) and last attempt of many certificates.

        Reads only the small pointer and status objects, never keys or certificates.
        names None means every stored certificate of this directory.

        ari_client (an AcmeClient; no account needed) lets the CA's renewalInfo window
        (ARI, RFC 9773) decide due-ness where the directory offers it. Its answers are
        cached in each status object until the server's Retry-After, so most runs send
        no request; ari_cache False (check mode) asks without writing the cache.

        requests maps a name to what is asked for it (see check_requests): canonical identifiers,
        key_type, renew_before_days. Every item's due-ness is policy.decide()'s, with the enum
        value in "reason" and the words in "reason_detail".
        """
        now = now or policy.utcnow()
        renew_before_days = policy.check_renew_before_days(renew_before_days)
        explicit = names is not None
        if names is not None:
            wanted = []
            for name in names:
                if validate_name(name, "names") not in wanted:
                    wanted.append(name)
        else:
            wanted = self.names()
        paths = []
        for name in wanted:
            paths += [self._entry(name) + POINTER, self._entry(name) + STATUS]
        note_path = "notes/%s/%s" % (self.slug, ARI_NOTE)
        data = self.storage.load_many(paths + ([note_path] if ari_client is not None else []))
        asker = _AriAsker(ari_client) if ari_client is not None else None
        note = self._note(data.get(note_path)) if asker is not None else None
        if note and note.get("offered") is False and (_parse_iso(note.get("next_check")) or now) > now:
            asker = None   # the directory offered no renewalInfo lately: the lifetime policy decides, no request
        certificates, warnings = [], []
        for name in wanted:
            pointer = self._parse(data[self._entry(name) + POINTER], "pointer", name)
            status = self._parse(data[self._entry(name) + STATUS], "status", name) or {}
            if pointer and pointer.get("deleted") and not explicit:
                continue
            if not explicit and not pointer and not status:
                continue
            item: dict[str, Any] = {"name": name}
            info = cert_info_from_metadata(pointer) if pointer and not pointer.get("deleted") else None
            failures = int(status.get("consecutive_failures") or 0)
            upcoming = policy.next_attempt(_parse_iso(status.get("last_attempt")), failures,
                                           info.lifetime if info is not None else None,
                                           _parse_iso(status.get("retry_after")), status.get("last_failure_kind"))
            asked = (requests or {}).get(name) or {}
            days = asked.get("renew_before_days", renew_before_days)

            def decide(ari_window: policy.AriWindow | None = None, backoff: datetime.datetime | None = None,
                       info: keys.CertInfo | None = info, asked: dict = asked, pointer: dict = pointer or {},
                       days: float | None = days) -> policy.RenewalDecision:
                return policy.decide(info, asked.get("identifiers"), self.directory,
                                     pointer.get("acme_directory") if info is not None else None, days, now=now,
                                     key_type=asked.get("key_type"),
                                     cert_key_type=pointer.get("key_type") if info is not None else None,
                                     ari=ari_window, backoff_until=backoff, profile=asked.get("profile"),
                                     cert_profile=pointer.get("profile") if info is not None else None)
            decision = decide()
            if info is None:
                item.update(exists=False, ari_id=None)
            else:
                item.update(public_metadata(pointer) or {})
                # lets a deployer tell, without fetching anything, whether a host's copy is current
                item["file_sha256"] = dict((pointer or {}).get("files") or {})
                item["exists"] = True
            item.update((field, None) for field in ARI_FIELDS)
            ari_window = None
            if info is not None and asker is not None and item["ari_id"]:
                ari_window, warning = self._apply_ari(name, item, decision.ari_may_govern, status, asker, now,
                                                      ari_cache)
                if warning:
                    warnings.append(warning)
            decision = decide(ari_window if decision.ari_may_govern else None, upcoming)
            item.update(decision.to_result(now))
            warnings += ["%s: %s" % (name, text) for text in decision.warnings]
            revocations = [r for r in status.get("revocations") or [] if isinstance(r, dict)]
            item["last_revocation"] = revocations[-1] if revocations else None
            revoked = [r for r in revocations if info is not None and r.get("serial") == item.get("serial")]
            item["revoked"] = bool(revoked)
            if revoked:   # never kept, whatever the lifetime or the CA's window says
                item["due"], item["reason"] = True, policy.Reason.REVOKED.value
                item["reason_detail"] = "revoked (%s)" % revoked[-1].get("reason")
            item.update(last_attempt=status.get("last_attempt"), last_error=status.get("last_error"),
                        last_success=status.get("last_success"), consecutive_failures=failures)
            item["last_failure_kind"] = status.get("last_failure_kind")
            item["next_attempt"] = _iso(upcoming) if upcoming else None
            item["backing_off"] = bool(upcoming and now < upcoming)
            certificates.append(item)
        if asker is not None and asker.offered is False and ari_cache:
            note = {"offered": False, "checked_at": _iso(now), "next_check": _iso(now + ARI_UNOFFERED_RECHECK)}
            try:
                self.storage.store(note_path, json.dumps(note, sort_keys=True).encode())
            except StorageError as exc:
                warnings.append("the directory's lack of renewal information was not noted: %s" % exc.msg)
        result = {"certificates": certificates, "count": len(certificates),
                  "due": [item["name"] for item in certificates if item["due"]],
                  "not_due": [item["name"] for item in certificates if not item["due"]]}
        if warnings:
            result["warnings"] = warnings
        return result

    # ---- ACME Renewal Information -----------------------------------------------------------

    def _apply_ari(self, name: str, item: dict, governs: bool, status: dict, asker: _AriAsker,
                   now: datetime.datetime, write: bool) -> tuple[policy.AriWindow | None, str | None]:
        """Ask (or read from the cache) the CA's renewal window of item; (policy.AriWindow or None, warning).

        governs: the lifetime decision came from the clock alone, so the CA's window may replace it
        (not asked for certificates due anyway: expired - RFC 9773 4.3 says not to ask then -,
        other names, another directory).
        """
        cert_id = item["ari_id"]
        cached = status.get("ari")
        if not isinstance(cached, dict) or cached.get("cert_id") != cert_id:
            cached = None   # never asked, or the answer was about the certificate this one replaced
        state, warning = cached, None
        if governs:
            next_check = _parse_iso((cached or {}).get("next_check"))
            if next_check is None or now >= next_check:
                state, keep = asker.ask(cert_id, cached, now)
                if state is not None and keep and write:
                    warning = self._write_ari(name, state)
        if not state:
            return None, warning
        item["ari_next_check"] = state.get("next_check")
        item["ari_error"] = state.get("error")
        start, end, selected = (_parse_iso(state.get(key)) for key in ("start", "end", "selected"))
        if state.get("error") or start is None or end is None or selected is None:
            return None, warning   # the lifetime policy decides
        item.update(ari_window_start=_iso(start), ari_window_end=_iso(end), ari_selected=_iso(selected),
                    ari_explanation_url=state.get("explanation_url"))
        return policy.AriWindow(start=start, end=end, selected=selected), warning

    def _write_ari(self, name: str, state: dict) -> str | None:
        """Cache state as the "ari" key of name's status, re-read just before: attempt records stay intact."""
        try:
            status = self._status(name)
            if status.get("ari") == state:
                return None
            status["ari"] = state
            self.storage.store(self._entry(name) + STATUS, json.dumps(status, sort_keys=True).encode())
        except StorageError as exc:
            return "%s: the renewal information was not cached: %s" % (name, exc.msg)
        return None

    # ---- locks ------------------------------------------------------------------------------

    def lock(self, name: str, ttl: float, timeout: float = 0.0, owner: str | None = None) -> Lock:
        return self.storage.lock(self.lock_name(name), ttl, timeout=timeout, owner=owner)

    def unlock(self, name: str, owner: str) -> bool:
        return self.storage.unlock(self.lock_name(name), owner)

    def lock_state(self, name: str) -> LockState:
        return self.storage.lock_state(self.lock_name(name))


class _AriAsker:
    """Asks one CA's renewalInfo for the certificates of one info() call.

    The directory is read only when a first certificate needs asking (cached answers
    cost no request). When the CA cannot be reached, the other certificates of this
    call are not asked (and nothing is cached for them): one timeout, not hundreds.
    """

    def __init__(self, client: AcmeClient, rng: ari.Uniform | None = None) -> None:
        self.client = client
        self.rng: ari.Uniform = rng or random
        self.unreachable: str | None = None
        self.offered: bool | None = None   # whether the directory offers renewalInfo (None: not read)

    def ask(self, cert_id: str, cached: dict | None, now: datetime.datetime) -> tuple[dict | None, bool]:
        """(state to report, whether to cache it); (None, False) when the directory offers no renewalInfo."""
        if self.unreachable:
            return {"cert_id": cert_id, "error": "not asked: %s" % self.unreachable, "next_check": None,
                    "checked_at": _iso(now)}, False
        delay = ARI_ERROR_DELAY
        try:
            window = ari.fetch(self.client, cert_id)
        except EngineError as exc:
            message = exc.msg
            retry_after = getattr(exc, "retry_after", None)
            if retry_after:
                delay = max(delay, datetime.timedelta(seconds=ari.clamp_retry_after(retry_after)))
            if isinstance(exc, TransportError) or exc.details.get("directory") or (
                    isinstance(exc, ACMEProblem) and exc.status in RETRYABLE_STATUS):
                self.unreachable = message   # the same for every certificate: do not ask again in this call
            return {"cert_id": cert_id, "error": ("renewalInfo: %s" % message)[:MAX_ERROR],
                    "next_check": _iso(now + delay), "checked_at": _iso(now)}, True
        if window is None:
            self.offered = False
            return None, False
        self.offered = True
        start, end = _iso(window.start), _iso(window.end)
        selected = None
        if cached and cached.get("start") == start and cached.get("end") == end:
            selected = cached.get("selected") if _parse_iso(cached.get("selected")) else None
        if selected is None:   # a new (or changed) window: pick the moment anew
            selected = _iso(ari.select_time(window, self.rng))
        return {"cert_id": cert_id, "start": start, "end": end, "selected": selected,
                "explanation_url": window.explanation_url,
                "next_check": _iso(now + datetime.timedelta(seconds=window.retry_after_seconds)),
                "checked_at": _iso(now)}, True
