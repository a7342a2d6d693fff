"""Verification: did a contender really do the work?

Issuing runs: every certificate exists, names exactly its name, was issued in this run, is valid now, chains to
Pebble's current root and matches its private key. No-op runs: nothing under the contender's files changed.
Ansible runs: the PLAY RECAP shows no failure (and no change on a no-op run). certbot renew: its own summary.
Pebble's log: how many orders the CA really added. Each check raises VerifyError naming what is wrong.
"""
from __future__ import annotations

import datetime
import hashlib
import os
import re

NOT_BEFORE_SLACK = 120  # seconds a fresh certificate's notBefore may precede the run's start


class VerifyError(Exception):
    pass


def _load_crypto():
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    return x509, serialization


def verify_certificates(entries: list, root_pem_path: str, not_before_min: float) -> None:
    """Each entry {name, key, fullchain[, cert]}: a certificate for exactly `name`, issued in this run,
    valid now, chaining leaf -> intermediate(s) -> Pebble's current root, matching its private key."""
    x509, serialization = _load_crypto()
    from cryptography.x509.oid import ExtensionOID
    with open(root_pem_path, "rb") as handle:
        root = x509.load_pem_x509_certificate(handle.read())
    now = datetime.datetime.now(datetime.timezone.utc)
    earliest = datetime.datetime.fromtimestamp(not_before_min - NOT_BEFORE_SLACK, datetime.timezone.utc)
    problems = []
    for entry in entries:
        name = entry["name"]
        try:
            with open(entry["fullchain"], "rb") as handle:
                chain = x509.load_pem_x509_certificates(handle.read())
            if len(chain) < 2:
                raise VerifyError("fullchain has %d certificate(s), expected leaf + intermediate" % len(chain))
            leaf = chain[0]
            sans = leaf.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
            names = set(sans.get_values_for_type(x509.DNSName))
            if names != {name}:
                raise VerifyError("certificate names %s, expected %s" % (sorted(names), name))
            if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
                raise VerifyError("not valid now (%s .. %s)" % (leaf.not_valid_before_utc, leaf.not_valid_after_utc))
            if leaf.not_valid_before_utc < earliest:
                raise VerifyError("notBefore %s is before this run started: not issued by it"
                                  % leaf.not_valid_before_utc)
            for child, issuer in zip(chain, chain[1:] + [root]):
                child.verify_directly_issued_by(issuer)  # raises on a wrong issuer or bad signature
            with open(entry["key"], "rb") as handle:
                key = serialization.load_pem_private_key(handle.read(), None)
            spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
                raise VerifyError("private key does not match the certificate")
            if entry.get("cert"):
                with open(entry["cert"], "rb") as handle:
                    if x509.load_pem_x509_certificate(handle.read()) != leaf:
                        raise VerifyError("%s is not the fullchain's leaf" % entry["cert"])
        except FileNotFoundError as exc:
            problems.append("%s: missing %s" % (name, exc.filename))
        except (VerifyError, ValueError, TypeError) as exc:
            problems.append("%s: %s" % (name, exc))
        except Exception as exc:  # pylint: disable=broad-except  # e.g. InvalidSignature, ExtensionNotFound
            problems.append("%s: %s: %s" % (name, type(exc).__name__, exc))
    if problems:
        raise VerifyError("%d of %d certificates bad: %s" % (len(problems), len(entries), "; ".join(problems[:5])))


def snapshot(top: str, skip=()) -> dict:
    """{relative path: (kind, size, mtime_ns, sha256 or link target)} of everything under top."""
    result = {}
    for base, dirs, files in os.walk(top):
        rel_base = os.path.relpath(base, top)
        dirs[:] = [d for d in dirs if os.path.normpath(os.path.join(rel_base, d)) not in skip]
        for name in dirs + files:
            path = os.path.join(base, name)
            rel = os.path.normpath(os.path.join(rel_base, name))
            if rel in skip:
                continue
            st = os.lstat(path)
            if os.path.islink(path):
                result[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                result[rel] = ("dir", st.st_mode)
            else:
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
                result[rel] = ("file", st.st_size, st.st_mtime_ns, st.st_mode, digest)
    return result


def compare_snapshots(before: dict, after: dict, normalize=None) -> None:
    changed = []
    for rel in sorted(set(before) | set(after)):
        old, new = before.get(rel), after.get(rel)
        if old != new and not (normalize and normalize(rel, old, new)):
            changed.append("%s %s" % (rel, "added" if old is None else "removed" if new is None else "changed"))
    if changed:
        raise VerifyError("a no-op run changed %d file(s): %s" % (len(changed), ", ".join(changed[:5])))


RECAP = re.compile(r"^(\S+)\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def read_log(path: str) -> str:
    with open(path, errors="replace") as handle:
        return handle.read()


def ansible_recap(text: str) -> dict:
    """The last PLAY RECAP line of ansible-playbook's output, as numbers."""
    found = RECAP.findall(text)
    if not found:
        raise VerifyError("no PLAY RECAP in the output")
    host, ok, changed, unreachable, failed = found[-1]
    return {"host": host, "ok": int(ok), "changed": int(changed), "unreachable": int(unreachable),
            "failed": int(failed)}


def check_recap(log_path: str, noop: bool) -> None:
    """No host of the last PLAY RECAP failed or was unreachable (and, on a no-op run, none changed)."""
    text = read_log(log_path)
    ansible_recap(text)  # raises when there is none
    for host, _ok, changed, unreachable, failed in RECAP.findall(text[text.rindex("PLAY RECAP"):]):
        if int(failed) or int(unreachable):
            raise VerifyError("ansible reports failed=%s unreachable=%s (%s)" % (failed, unreachable, host))
        if noop and int(changed):
            raise VerifyError("ansible reports changed=%s on a no-op run (%s)" % (changed, host))


CERTBOT_SKIPPED = re.compile(r"^\s+\S+/fullchain\.pem expires on .*\(skipped\)\s*$", re.M)


def check_certbot_noop(text: str, n: int) -> None:
    """certbot renew's output says it attempted no renewal and skipped each of the n lineages."""
    skipped = len(CERTBOT_SKIPPED.findall(text))
    if "No renewals were attempted." not in text or skipped != n:
        raise VerifyError("expected 'No renewals were attempted.' and %d skipped lineages, got %d" % (n, skipped))


PEBBLE_ORDER = re.compile(r"Added order \S+ to the db")


def pebble_orders(text: str) -> int:
    """How many orders Pebble's log says it added (the CA's own count, not the client's)."""
    return len(PEBBLE_ORDER.findall(text))
