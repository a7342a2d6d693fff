#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: cert_store
short_description: Keep certificates in shared storage (local directory, S3, Redis), with cross-machine locks
version_added: 0.1.0
description:
  - Stores certificates with their private keys, chains and metadata in durable shared storage, so that
    containers, autoscaled fleets and rebuilt hosts reuse one certificate instead of each ordering a new one
    (which runs into the CA's duplicate-certificate limit).
  - "Entries are keyed by O(acme_directory) and O(name): certificates of a staging and of a production
    directory never mix."
  - "Each upload is written as a new version (key, certificate, chain, fullchain) and a small pointer with the
    metadata is switched last, in one atomic write: a reader always gets a key and a certificate that belong
    together. A key that does not match its certificate is refused before anything is written."
  - "What is stored and what is due is answered by M(autotls.acme.cert_store_info), which reads hundreds of
    certificates in one task."
  - "O(state=locked) and O(state=unlocked) take and release a lock with a TTL that holds across machines, so
    that two hosts renewing at once do not both order. A lock whose holder died is taken over after its TTL."
  - On S3 the documented minimal IAM policy allows deletes only under C(<prefix>/locks/), so O(state=absent)
    replaces the entry's pointer with a tombstone and leaves its versions to a bucket lifecycle rule on
    C(<prefix>/versions/) (see the README). The other backends delete everything, and keep only the two newest
    versions of each certificate.
author:
  - autotls.acme maintainers (@autotls)
extends_documentation_fragment:
  - autotls.acme.storage
  - autotls.acme.attributes
attributes:
  check_mode:
    support: full
    details: Reports what would change (new version, files to rewrite, lock to take) and writes nothing.
  diff_mode:
    support: full
    details: Shows metadata only (serial, expiry, names, version, lock expiry); never key material.
options:
  state:
    description:
      - V(present) uploads a bundle; changed only when the stored certificate, key, chain or O(account_uri) differ.
      - V(fetched) writes the stored bundle to the O(private_key_path), O(certificate_path), O(chain_path) and
        O(fullchain_path) given, atomically; changed only when a file changed.
      - V(absent) removes the entry.
      - V(locked) acquires the lock of O(name) for O(lock_ttl) seconds, waiting up to O(lock_timeout) seconds, and
        returns its RV(lock.token); with O(lock_token) of a lock still held it extends that lock.
      - V(unlocked) releases the lock of O(name) held by O(lock_token).
      - V(attempted) records a renewal attempt of O(name) and its O(attempt_error) (none means it succeeded), as
        reported by M(autotls.acme.cert_store_info). O(state=present) records a successful attempt by itself.
      - V(settled) writes what storage is owed from O(pending_dir) (attempt records with the time they happened, so
        their backoff counts from then; lock releases) and removes stale staging directories under O(staging_base).
        M(autotls.acme.cert_store_info) reports when there is anything to settle.
      - V(revoked) records that the stored certificate of O(name) (or of each of O(names)) was revoked at the CA
        for O(revocation_reason) (see M(autotls.acme.acme_revoke)); M(autotls.acme.cert_store_info) then reports it
        revoked and due until a new certificate is stored. Unchanged when that serial is recorded already. It
        revokes nothing at the CA.
    type: str
    choices: [present, fetched, absent, locked, unlocked, attempted, settled, revoked]
    default: present
  name:
    description:
      - Name of the stored certificate, for example V(www.example.com) or V(web-frontend).
      - Letters, digits and C(. _ - * @ + = , ~); no path separator, no C(..), no control character.
    type: str
  names:
    description:
      - Batch forms - with O(state=present) (files from O(src_dir)), O(state=fetched) (files to O(dest_dir)) and
        O(state=locked), every named certificate is handled in this one call.
    type: list
    elements: str
  acme_directory:
    description:
      - URL of the ACME directory the certificate comes from; part of the storage key.
      - Defaults to the Let's Encrypt B(staging) directory, like the other modules of this collection.
    type: str
    default: https://acme-staging-v02.api.letsencrypt.org/directory
  account_uri:
    description: With O(state=present), the ACME account URI recorded in the metadata.
    type: str
  profile:
    description:
      - With O(state=present), the ACME profile the certificate was issued with, recorded in the metadata and
        reported by M(autotls.acme.cert_store_info) as RV(autotls.acme.cert_store_info#module:certificates[].profile).
      - When unset, the profile recorded by M(autotls.acme.acme_order) in the metadata file next to the certificate
        (V(<certificate_path>.acme.json) or V(<fullchain_path>.acme.json)) is used, also in the O(src_dir) batch form.
    type: str
  private_key_path:
    description:
      - O(state=present) reads the private key from this file; O(state=fetched) writes it here (mode
        O(private_key_mode)).
    type: path
  private_key_content:
    description: With O(state=present), the private key as PEM text. Never logged.
    type: str
  certificate_path:
    description:
      - O(state=present) reads the certificate (leaf; a bundle with intermediates is accepted) from this file;
        O(state=fetched) writes the leaf here.
    type: path
  certificate_content:
    description: With O(state=present), the certificate as PEM text.
    type: str
  chain_path:
    description: O(state=present) reads the intermediates from this file; O(state=fetched) writes them here.
    type: path
  chain_content:
    description: With O(state=present), the intermediates as PEM text.
    type: str
  fullchain_path:
    description:
      - O(state=present) reads the leaf followed by its intermediates from this file (enough without
        O(certificate_path)); O(state=fetched) writes it here.
    type: path
  fullchain_content:
    description: With O(state=present), the leaf followed by its intermediates as PEM text.
    type: str
  owner:
    description: With O(state=fetched), owner (name or uid) of the written files.
    type: str
  group:
    description: With O(state=fetched), group (name or gid) of the written files.
    type: str
  mode:
    description:
      - With O(state=fetched), mode of the certificate, chain and fullchain files, as an octal string such as
        V('0644') (quote it). When unset, V('0644').
    type: raw
  private_key_mode:
    description: With O(state=fetched), mode of the private key file. When unset, V('0600').
    type: raw
  lock_ttl:
    description:
      - With O(state=locked), seconds after which the lock expires if it is not released (a crashed holder never
        blocks renewals for longer). Between 1 second and 7 days.
    type: float
    default: 900
  lock_timeout:
    description:
      - With O(state=locked), seconds to wait for a lock held by another owner; V(0) fails at once.
    type: float
    default: 0
  lock_token:
    description:
      - With O(state=unlocked), the RV(lock.token) returned by O(state=locked); only its holder can release a lock.
      - With O(state=locked), extends the lock held with this token instead of taking a new one.
    type: str
  break_lock:
    description:
      - With O(state=unlocked) and O(name), remove the lock of O(name) whoever holds it, without its token - the
        operator's command for a lock whose holder is gone (C(playbooks/break_lock.yml) wraps it).
      - RV(lock) reports what was removed - the holder's host, user, process ids, when it was taken and its age,
        and a fingerprint of its owner token.
      - A lock held by a run that is gone from this machine (killed; no process of it left) is taken over by
        O(state=locked) at once anyway; breaking is for holders on other machines or unreachable ones.
    type: bool
    default: false
  pending_dir:
    description:
      - The control node's private pending area (see the C(pending_dir) option of M(autotls.acme.acme_order)),
        also where storage writes that could not be done are kept until storage answers again.
      - With O(state=present), the pending entry of each certificate stored is removed once storage holds it.
      - With O(state=attempted) and O(state=unlocked), when storage is unreachable the attempt records and lock
        releases are kept there (RV(deferred)) instead of failing, and written by the next call that reaches
        storage; with O(state=present) the failed attempts are kept there before the task fails.
      - With O(state=settled), what is owed is written.
    type: path
  staging_base:
    description:
      - With O(state=settled), remove the per-run staging directories (C(autotls-<16 characters>)) of the
        certificate role under this directory whose run is gone from this machine (named in their C(.run.json)),
        or that nothing changed in for O(staging_max_age) seconds - what runs killed before their cleanup left
        behind (keys). Reported in RV(staging_swept).
    type: path
  staging_max_age:
    description: With O(staging_base), seconds of inactivity after which a staging directory is stale.
    type: float
    default: 900
  attempt_error:
    description: With O(state=attempted), the error of the failed attempt; omit it to record a success.
    type: str
  attempt_kind:
    description: With O(state=attempted), the kind of the failure, as O(attempts[].kind).
    type: str
    choices: [infrastructure, ca]
  attempt_retry_after:
    description:
      - With O(state=attempted), the seconds the CA asked to wait (C(Retry-After) of a C(rateLimited) answer).
      - Later runs do not contact the CA for this certificate before then (see
        RV(autotls.acme.cert_store_info#module:certificates[].next_attempt)).
    type: float
  revocation_reason:
    description: With O(state=revoked), the reason the certificate was revoked for.
    type: str
    choices: [unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation]
    default: unspecified
  serial:
    description:
      - With O(state=revoked) and O(name), the serial (hex) of the revoked certificate; defaults to the stored one.
    type: str
  src_dir:
    description:
      - Batch form of O(state=present) with O(names) - each certificate's files are read from
        C(<src_dir>/<name>/privkey.pem), C(cert.pem), C(chain.pem) and (if present) C(fullchain.pem).
    type: path
  dest_dir:
    description:
      - Batch form of O(state=fetched) with O(names) - each certificate is written to
        C(<dest_dir>/<name>/privkey.pem), C(cert.pem), C(chain.pem) and C(fullchain.pem).
    type: path
  missing_ok:
    description: With O(state=fetched) and O(names), skip names that are not stored (reported with C(missing)).
    type: bool
    default: false
  lock_tokens:
    description:
      - Batch form of O(state=unlocked) - the RV(lock_tokens) returned by O(state=locked) with O(names).
    type: dict
  attempts:
    description: Batch form of O(state=attempted) - one entry per certificate.
    type: list
    elements: dict
    suboptions:
      name:
        description: Certificate name.
        type: str
        required: true
      error:
        description: The error of the failed attempt; omit it to record a success.
        type: str
      retry_after:
        description: Seconds the CA asked to wait (rate limits).
        type: float
      kind:
        description:
          - V(infrastructure) when the CA or storage could not be reached or failed on its side (HTTP 5xx), V(ca)
            when the CA refused. Infrastructure failures back off less - 2 minutes, doubling, at most an hour,
            instead of 10 minutes, doubling, at most 12 hours. The modules report it as C(failure_kind).
        type: str
        choices: [infrastructure, ca]
notes:
  - "Clocks: the V(local) backend compares lock expiry with the host's clock, V(redis) with the server's, and
    V(s3) and V(gcs) with the storage server's C(Date), so clock skew between machines does not shorten or
    lengthen a lock."
  - The Python libraries C(boto3) (backend V(s3)), C(redis) (backend V(redis)) or C(google-cloud-storage) (backend
    V(gcs)) and C(cryptography) are needed on the host that runs the task.
seealso:
  - module: autotls.acme.acme_order
'''

EXAMPLES = r'''
---
- name: Take the renewal lock for www on S3 (wait up to 5 minutes for another host)
  autotls.acme.cert_store:
    backend: s3
    s3_bucket: example-certs
    s3_prefix: autotls/prod
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    name: www.example.com
    state: locked
    lock_ttl: 900
    lock_timeout: 300
  register: www_lock

- name: Upload the certificate that acme_order just wrote
  autotls.acme.cert_store:
    backend: s3
    s3_bucket: example-certs
    s3_prefix: autotls/prod
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    name: www.example.com
    private_key_path: /etc/ssl/private/www.key
    fullchain_path: /etc/ssl/certs/www-fullchain.crt
    account_uri: "{{ account.account_uri }}"

- name: Release the lock
  autotls.acme.cert_store:
    backend: s3
    s3_bucket: example-certs
    s3_prefix: autotls/prod
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    name: www.example.com
    state: unlocked
    lock_token: "{{ www_lock.lock.token }}"

- name: On every web server, install the stored certificate
  autotls.acme.cert_store:
    backend: redis
    redis_url: "{{ vault_redis_url }}"
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    name: www.example.com
    state: fetched
    private_key_path: /etc/nginx/tls/www.key
    fullchain_path: /etc/nginx/tls/www-fullchain.crt
    owner: root
    group: nginx
    private_key_mode: '0640'
  notify: Reload nginx

- name: The same on Google Cloud Storage (Application Default Credentials, a CMEK key)
  autotls.acme.cert_store:
    backend: gcs
    gcs_bucket: example-certs
    gcs_prefix: autotls/prod
    gcs_kms_key_name: projects/example/locations/europe-west1/keyRings/certs/cryptoKeys/autotls
    acme_directory: https://acme-v02.api.letsencrypt.org/directory
    name: www.example.com
    state: fetched
    private_key_path: /etc/nginx/tls/www.key
    fullchain_path: /etc/nginx/tls/www-fullchain.crt

- name: Record a failed renewal attempt
  autotls.acme.cert_store:
    backend: local
    local_path: /srv/autotls/store
    name: www.example.com
    state: attempted
    attempt_error: "{{ order_result.msg }}"
  when: order_result is failed
'''

RETURN = r'''
storage:
  description: Where the data lives (no credentials).
  returned: always
  type: str
  sample: s3://example-certs/autotls/prod/
certificate:
  description: Metadata of the stored certificate after the task (never key material).
  returned: when O(state=present) or O(state=fetched)
  type: dict
  contains:
    name:
      description: The certificate's name.
      type: str
    version:
      description: Id of the stored version the pointer names.
      type: str
    acme_directory:
      description: ACME directory the entry belongs to.
      type: str
    account_uri:
      description: ACME account URI, when it was given.
      type: str
    identifiers:
      description: Names and addresses the certificate covers.
      type: list
      elements: str
    not_before:
      description: Start of validity (UTC, ISO 8601).
      type: str
    not_after:
      description: End of validity (UTC, ISO 8601).
      type: str
    serial:
      description: Serial number, hexadecimal.
      type: str
    key_type:
      description: Type of the private key, for example V(ecdsa-p256).
      type: str
    issuer:
      description: Issuer (RFC 4514).
      type: str
    subject:
      description: Subject (RFC 4514).
      type: str
    obtained_at:
      description: When this certificate was first stored (UTC, ISO 8601).
      type: str
    stored_at:
      description: When the pointer was last written (UTC, ISO 8601).
      type: str
    ari_id:
      description:
        - ARI identifier of the certificate (RFC 9773), or null when it has no Authority Key Identifier; pass it as
          O(autotls.acme.acme_order#module:replaces) when ordering its replacement.
      type: str
    profile:
      description: The ACME profile the certificate was issued with, or null when none was recorded (the CA's default).
      type: str
deferred:
  description:
    - With O(pending_dir), names whose attempt record or lock release could not reach storage and is kept in
      O(pending_dir) until a later call reaches it.
  returned: when storage was unreachable
  type: list
  elements: str
settled:
  description: With O(state=settled) and O(pending_dir), how many owed attempt records and lock releases were written.
  returned: with O(state=settled) and O(pending_dir)
  type: int
staging_swept:
  description: With O(state=settled) and O(staging_base), the stale staging directories removed.
  returned: with O(state=settled) and O(staging_base)
  type: list
  elements: str
revocations:
  description:
    - With O(state=revoked), one entry per certificate - C(name), C(serial), C(reason), C(revoked_at), C(changed).
  returned: when O(state=revoked)
  type: list
  elements: dict
lock_tokens:
  description:
    - With O(state=locked) and O(names), the owner token of each lock taken (all or none are taken); pass it to
      O(state=unlocked) as O(lock_tokens).
  returned: when O(state=locked) with O(names)
  type: dict
released_names:
  description: With O(lock_tokens), the names whose lock was released.
  returned: when O(state=unlocked) with O(lock_tokens)
  type: list
  elements: str
new_version:
  description: Whether O(state=present) wrote a new version (false when only metadata changed).
  returned: when O(state=present)
  type: bool
files:
  description: Paths O(state=fetched) wrote (or would write in check mode).
  returned: when O(state=fetched)
  type: list
  elements: str
certificates:
  description:
    - For the batch forms (O(names) with O(state=present) or O(state=fetched), O(attempts)), one result per
      certificate with C(name) and the fields of the single form (C(certificate), C(files), C(missing), C(status)).
  returned: with a batch form
  type: list
  elements: dict
lock:
  description: The lock after O(state=locked) (or its current state in check mode).
  returned: when O(state=locked)
  type: dict
  contains:
    name:
      description: Name of the lock (the directory's key and O(name)).
      type: str
    token:
      description: Owner token; pass it as O(lock_token) to release or extend the lock. Not returned in check mode.
      type: str
    expires:
      description: When the lock expires unless extended (UTC, ISO 8601).
      type: str
    ttl:
      description: The lock's TTL in seconds.
      type: float
released:
  description: Whether O(state=unlocked) released a lock (false when none was held).
  returned: when O(state=unlocked)
  type: bool
status:
  description: The recorded attempt status after O(state=attempted).
  returned: when O(state=attempted)
  type: dict
warnings:
  description:
    - Housekeeping problems after a successful upload (the certificate is stored).
  returned: when there were any
  type: list
  elements: str
'''

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.autotls.acme.plugins.module_utils import _adapter
from ansible_collections.autotls.acme.plugins.module_utils._argspec import STAGING_DIRECTORY, storage_argument_spec
from ansible_collections.autotls.acme.plugins.module_utils._engine import (
    deps, fsio, keys, layout, pending, policy)
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import factory
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    INFRASTRUCTURE, EngineError, InputError, StorageError)
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles

PARTS = layout.PARTS


def _read_source(params, part):
    """(bytes or None, field name) of one bundle part from its _path or _content option."""
    path, content = params[part + "_path"], params[part + "_content"]
    if path:
        try:
            with open(path, "rb") as handle:
                return handle.read(), part + "_path"
        except OSError as exc:
            raise InputError(part + "_path", "cannot read %s: %s" % (path, exc.strerror or exc)) from None
    if content is not None:
        return content.encode(), part + "_content"
    return None, part + "_path"


def _issued_profile(params):
    """The profile acme_order recorded in the metadata file beside the certificate, if any."""
    for part in ("certificate", "fullchain"):
        path = params[part + "_path"]
        raw = fsio.read_bytes(path + ".acme.json") if path else None
        if raw:
            try:
                metadata = json.loads(raw.decode())
            except ValueError:
                continue
            if isinstance(metadata, dict) and metadata.get("profile"):
                return str(metadata["profile"])
    return None


def _present(module, store, params=None):
    params = params or module.params
    values, fields = {}, {}
    for part in PARTS:
        values[part], fields[part] = _read_source(params, part)
    bundle = bundles.make_bundle(values["private_key"], values["certificate"], values["chain"], values["fullchain"],
                                 fields=fields)
    result = store.put(params["name"], bundle, account_uri=params["account_uri"], check_mode=module.check_mode,
                       profile=params["profile"] or _issued_profile(params))
    out = {"changed": result["changed"], "certificate": result["after"],
           "new_version": result.get("new_version", False)}
    if result.get("warnings"):
        out["warnings"] = result["warnings"]
    if result["changed"] and module._diff:
        out["diff"] = {"before": result["before"] or {}, "after": result["after"]}
    return out


def _fetched(module, store, params=None):
    params = params or module.params
    owner = fsio.uid_of(params["owner"])
    group = fsio.gid_of(params["group"])
    key_mode = fsio.mode_of(params["private_key_mode"], "private_key_mode", fsio.KEY_MODE)
    cert_mode = fsio.mode_of(params["mode"], "mode", fsio.PUBLIC_MODE)
    got = store.get(params["name"])
    if got is None:
        raise InputError("name", "no certificate named %r is stored on %s for %s"
                         % (params["name"], store.storage.describe(), store.directory))
    bundle, pointer = got
    files = bundle.files()
    specs = []
    for part in PARTS:
        path = params[part + "_path"]
        if path:
            mode = key_mode if part == layout.KEY_PART else cert_mode
            specs.append(fsio.FileSpec(path, files[layout.FILE_OF[part]], mode, owner=owner, group=group))
    if module.check_mode:
        changed = [spec.path for spec in specs if fsio.needs_write(spec)]
    else:
        changed = fsio.write_together(specs)
    out = {"changed": bool(changed), "files": changed, "certificate": bundles.public_metadata(pointer)}
    if changed and module._diff:
        after = {"certificate": bundles.public_metadata(pointer), "files": changed}
        out["diff"] = {"before": _on_disk(params), "after": after}
    return out


def _per_name(params, name, directory_option):
    """params for one certificate of a batch: its files are <directory>/<name>/<part>.pem."""
    directory = params[directory_option]
    if not directory:
        raise InputError(directory_option, "is required with names for state=%s" % params["state"])
    one = dict(params, name=name)
    for part, filename in layout.FILES:
        one[part + "_path"] = os.path.join(directory, name, filename)
        one[part + "_content"] = None
    if params["state"] == "present" and not os.path.exists(one["fullchain_path"]):
        one["fullchain_path"] = None
    return one


def _batch(module, store, state, keep=None) -> dict:
    """Many certificates in one call: each name is done as the single form would, results in order."""
    params = module.params
    results = []
    if state == "present":
        for name in params["names"]:
            try:
                result = _present(module, store, _per_name(params, name, "src_dir"))
            except StorageError as error:
                if keep is not None and not module.check_mode:   # stays in the pending area; remember the attempt
                    stored = [r["name"] for r in results]
                    _defer(keep, store, [{"kind": "attempt", "name": other, "error": "storing failed: %s" % error.msg,
                                          "failure_kind": INFRASTRUCTURE}
                                         for other in params["names"] if other not in stored], error)
                raise
            results.append(dict(result, name=name))
            _forget_pending(keep, module, name, result)
    elif state == "fetched":
        for name in params["names"]:
            if params["missing_ok"] and store.get(name) is None:
                results.append({"name": name, "changed": False, "missing": True})
                continue
            results.append(dict(_fetched(module, store, _per_name(params, name, "dest_dir")), name=name))
    elif state == "locked":
        tokens = {}
        held = params["lock_tokens"] or {}   # extend these instead of taking new locks
        try:
            for name in params["names"]:
                if module.check_mode:
                    tokens[name] = None
                    continue
                tokens[name] = store.lock(name, params["lock_ttl"], timeout=params["lock_timeout"],
                                          owner=held.get(name)).to_result()["token"]
        except EngineError:
            for name, token in tokens.items():  # all or nothing: never keep a partial set of locks
                if token and not held.get(name):
                    store.unlock(name, token)
            raise
        return {"changed": bool(tokens), "lock_tokens": tokens}
    elif state == "unlocked":
        tokens = {name: token for name, token in (params["lock_tokens"] or {}).items() if token}
        if module.check_mode:
            return {"changed": bool(tokens), "released_names": sorted(tokens)}
        return _deferrable(module, store, keep, [{"kind": "unlock", "name": name, "token": token}
                                                 for name, token in tokens.items()])
    elif state == "attempted":
        entries = []
        for index, attempt in enumerate(params["attempts"]):
            if not attempt.get("name"):
                raise InputError("attempts[%d].name" % index, "is required")
            bundles.validate_name(attempt["name"], "attempts[%d].name" % index)
            entries.append({"kind": "attempt", "name": attempt["name"], "error": attempt.get("error"),
                            "retry_after": attempt.get("retry_after"), "failure_kind": attempt.get("kind")})
        if module.check_mode:
            for entry in entries:
                recorded = store.record_attempt(entry["name"], entry["error"], check_mode=True)
                results.append({"name": entry["name"], "status": recorded["after"]})
            return {"changed": bool(results), "certificates": results}
        return _deferrable(module, store, keep, entries)
    return {"changed": any(r["changed"] for r in results), "certificates": results}


UNREACHABLE_MARK = "unreachable.json"
UNREACHABLE_FOR = 60   # seconds after an unreachable answer during which deferrable writes are deferred at once


def _defer(keep, store, entries, error=None) -> list:
    """Keep entries (attempt records, lock releases) in the pending area; remember that storage is unreachable."""
    where = store.storage.describe()
    keep.owe([dict(entry, storage=where, at=entry.get("at") or bundles._iso(policy.utcnow())) for entry in entries])
    if error is not None and error.details.get("unreachable"):
        mark = os.path.join(keep.base, UNREACHABLE_MARK)
        fsio.write_atomic(fsio.FileSpec(mark, json.dumps({"storage": where, "at": time.time(),
                                                          "error": error.msg}).encode(), 0o600), dir_mode=0o700)
    return [entry["name"] for entry in entries]


def _known_unreachable(keep, store) -> str | None:
    """The error of an unreachable answer from this storage less than UNREACHABLE_FOR seconds ago, or None."""
    if keep is None:
        return None
    raw = fsio.read_bytes(os.path.join(keep.base, UNREACHABLE_MARK))
    try:
        mark = json.loads(raw.decode()) if raw else {}
    except ValueError:
        return None
    if mark.get("storage") == store.storage.describe() and time.time() - float(mark.get("at") or 0) < UNREACHABLE_FOR:
        return mark.get("error")
    return None


def _apply(store, entry) -> None:
    """One owed write: an attempt record (at the time it happened) or a lock release."""
    if entry.get("kind") == "unlock":
        store.unlock(entry["name"], entry["token"])
    else:
        at = bundles._parse_iso(entry.get("at"))
        store.record_attempt(entry["name"], entry.get("error"), now=at, retry_after=entry.get("retry_after"),
                             kind=entry.get("failure_kind"))


def _deferrable(module, store, keep, entries) -> dict:
    """Write entries; with a pending area, what an unreachable storage cannot take is deferred, not failed."""
    done, certificates = [], []
    known = _known_unreachable(keep, store)
    if known:
        deferred = _defer(keep, store, entries)
        module.warn("storage %s was unreachable moments ago (%s): %d write(s) kept in %s for the next run"
                    % (store.storage.describe(), known, len(deferred), keep.base))
        return {"changed": True, "deferred": deferred, "released_names": [], "certificates": []}
    for index, entry in enumerate(entries):
        try:
            if entry["kind"] == "unlock":
                if store.unlock(entry["name"], entry["token"]):
                    done.append(entry["name"])
            else:
                recorded = store.record_attempt(entry["name"], entry.get("error"), retry_after=entry.get("retry_after"),
                                                kind=entry.get("failure_kind"))
                certificates.append({"name": entry["name"], "status": recorded["after"]})
        except StorageError as error:
            if keep is None:
                raise
            deferred = _defer(keep, store, entries[index:], error)
            module.warn("storage unreachable (%s): %d write(s) kept in %s for the next run"
                        % (error.msg, len(deferred), keep.base))
            return {"changed": True, "deferred": deferred, "released_names": done, "certificates": certificates}
    if entries and entries[0]["kind"] == "unlock":
        return {"changed": bool(done), "released_names": done}
    return {"changed": bool(certificates), "certificates": certificates}


def _forget_pending(keep, module, name, result) -> None:
    """Storage holds name's certificate now: its pending entry has done its job."""
    if keep is not None and not module.check_mode:
        keep.remove(name, serial=(result.get("certificate") or {}).get("serial"))


def _settle(module, store, keep) -> dict:
    """What storage is owed (see pending_dir), written before anything is read."""
    settled = keep.settle(store.storage.describe(), lambda entry: _apply(store, entry))
    try:
        os.unlink(os.path.join(keep.base, UNREACHABLE_MARK))
    except FileNotFoundError:
        pass
    return settled


def _on_disk(params) -> dict:
    """Metadata of the certificate currently at the destination, for the diff."""
    for part in ("certificate", "fullchain"):
        path = params[part + "_path"]
        if path and os.path.isfile(path):
            try:
                return {"certificate": keys.parse_certificate(fsio.read_bytes(path)).to_result()}
            except InputError:
                return {"certificate": "unreadable %s" % path}
    return {}


def _lock_state_result(state) -> dict:
    return state.to_result() if state else {}


def _work(module) -> dict:
    params = module.params
    state = params["state"]
    if params["name"] is not None:   # before a name can become a path or an object key
        bundles.validate_name(params["name"], "name")
    for name in params["names"] or []:
        bundles.validate_name(name, "names")
    backend = factory.open_backend(params["backend"], factory.options_from_params(params))
    try:
        store = bundles.CertificateStore(backend, params["acme_directory"])
        keep = None
        if params["pending_dir"] and not (module.check_mode and not os.path.isdir(params["pending_dir"])):
            keep = pending.PendingArea(params["pending_dir"], params["acme_directory"])
        result = {"changed": False, "storage": backend.describe()}
        batched = (state in ("present", "fetched", "locked") and params["names"] is not None) or (
            state == "unlocked" and params["lock_tokens"] is not None) or (
            state == "attempted" and params["attempts"] is not None)
        if batched:
            result.update(_batch(module, store, state, keep))
        elif state == "present":
            result.update(_present(module, store))
            _forget_pending(keep, module, params["name"], result)
        elif state == "fetched":
            result.update(_fetched(module, store))
        elif state == "absent":
            removed = store.remove(params["name"], check_mode=module.check_mode)
            result["changed"] = removed["changed"]
            if removed["changed"] and module._diff:
                result["diff"] = {"before": removed["before"] or {"status": "recorded attempts"}, "after": {}}
        elif state == "settled":
            if params["staging_base"] and not module.check_mode:
                result["staging_swept"] = pending.sweep_staging(params["staging_base"], params["staging_max_age"])
            if keep is not None and not module.check_mode:
                settled = _settle(module, store, keep)
                result["settled"] = len(settled["settled"])
                result["deferred"] = [entry["name"] for entry in settled["owed"]]
            result["changed"] = bool(result.get("staging_swept") or result.get("settled"))
        elif state == "locked":
            before = store.lock_state(params["name"])
            if module.check_mode:
                result["changed"] = not before.held or bool(params["lock_token"])
                result["lock"] = _lock_state_result(before)
            else:
                lock = store.lock(params["name"], params["lock_ttl"], timeout=params["lock_timeout"],
                                  owner=params["lock_token"])
                result.update(changed=True, lock=lock.to_result())
            if result["changed"] and module._diff:
                after = dict(result["lock"])
                after.pop("token", None)
                result["diff"] = {"before": {"lock": _lock_state_result(before)}, "after": {"lock": after}}
        elif state == "unlocked" and params["break_lock"]:
            before = store.lock_state(params["name"])
            if not module.check_mode:
                before = store.storage.break_lock(store.lock_name(params["name"]))
            result.update(changed=before.owner is not None, released=before.owner is not None,
                          lock=_lock_state_result(before))
        elif state == "unlocked":
            before = store.lock_state(params["name"])
            if module.check_mode:
                released = before.held
            else:
                released = store.unlock(params["name"], params["lock_token"])
            result.update(changed=released, released=released)
            if released and module._diff:
                result["diff"] = {"before": {"lock": _lock_state_result(before)}, "after": {"lock": None}}
        elif state == "revoked":
            done = []
            for name in params["names"] if params["names"] is not None else [params["name"]]:
                recorded = store.record_revocation(name, params["revocation_reason"],
                                                   serial=params["serial"] if params["names"] is None else None,
                                                   check_mode=module.check_mode)
                done.append(dict(recorded["revocation"], name=name, changed=recorded["changed"]))
            result.update(changed=any(r["changed"] for r in done), revocations=done)
        elif state == "attempted":
            recorded = store.record_attempt(params["name"], params["attempt_error"], check_mode=module.check_mode,
                                            retry_after=params["attempt_retry_after"], kind=params["attempt_kind"])
            result.update(changed=True, status=recorded["after"])
            if module._diff:
                result["diff"] = {"before": recorded["before"], "after": recorded["after"]}
        return result
    finally:
        backend.close()


def main():
    argument_spec = storage_argument_spec()
    argument_spec.update(
        state=dict(type="str", default="present",
                   choices=["present", "fetched", "absent", "locked", "unlocked", "attempted", "settled", "revoked"]),
        name=dict(type="str"),
        names=dict(type="list", elements="str"),
        acme_directory=dict(type="str", default=STAGING_DIRECTORY),
        account_uri=dict(type="str"),
        profile=dict(type="str"),
        private_key_path=dict(type="path"),
        private_key_content=dict(type="str", no_log=True),
        certificate_path=dict(type="path"),
        certificate_content=dict(type="str"),
        chain_path=dict(type="path"),
        chain_content=dict(type="str"),
        fullchain_path=dict(type="path"),
        fullchain_content=dict(type="str"),
        owner=dict(type="str"),
        group=dict(type="str"),
        mode=dict(type="raw"),
        private_key_mode=dict(type="raw", no_log=False),
        lock_ttl=dict(type="float", default=900),
        lock_timeout=dict(type="float", default=0),
        lock_token=dict(type="str", no_log=False),
        attempt_error=dict(type="str"),
        attempt_retry_after=dict(type="float"),
        revocation_reason=dict(type="str", default="unspecified",
                               choices=["unspecified", "keyCompromise", "affiliationChanged", "superseded",
                                        "cessationOfOperation"]),
        serial=dict(type="str"),
        src_dir=dict(type="path"),
        dest_dir=dict(type="path"),
        missing_ok=dict(type="bool", default=False),
        lock_tokens=dict(type="dict", no_log=False),
        attempts=dict(type="list", elements="dict", options=dict(
            name=dict(type="str", required=True),
            error=dict(type="str"),
            retry_after=dict(type="float"),
            kind=dict(type="str", choices=["infrastructure", "ca"]),
        )),
        attempt_kind=dict(type="str", choices=["infrastructure", "ca"]),
        break_lock=dict(type="bool", default=False),
        pending_dir=dict(type="path"),
        staging_base=dict(type="path"),
        staging_max_age=dict(type="float", default=900),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[("private_key_path", "private_key_content"), ("certificate_path", "certificate_content"),
                            ("chain_path", "chain_content"), ("fullchain_path", "fullchain_content"),
                            ("name", "names")],
        required_if=[
            ("state", "present", ("name", "names"), True),
            ("state", "present", ("private_key_path", "private_key_content", "src_dir"), True),
            ("state", "present", ("certificate_path", "certificate_content", "fullchain_path", "fullchain_content",
                                  "src_dir"), True),
            ("state", "fetched", ("name", "names"), True),
            ("state", "fetched", ("private_key_path", "certificate_path", "chain_path", "fullchain_path",
                                  "dest_dir"), True),
            ("state", "absent", ("name",)),
            ("state", "locked", ("name", "names"), True),
            ("state", "unlocked", ("lock_token", "lock_tokens", "break_lock"), True),
            ("state", "attempted", ("name", "attempts"), True),
            ("state", "revoked", ("name", "names"), True),
        ],
        supports_check_mode=True,
    )
    groups = [factory.LIBRARIES[module.params["backend"]]]
    if module.params["state"] in ("present", "fetched"):
        groups.append(deps.CRYPTO)
    _adapter.require_libraries(module, *groups)
    module.exit_json(**_adapter.run(module, lambda: _work(module)))


if __name__ == "__main__":
    main()
