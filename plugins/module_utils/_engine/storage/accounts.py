# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ACME account in the certificate store, one per ACME directory.

  accounts/<slug>/account.json   {"format", "acme_directory", "account_uri", "private_key" (PEM),
                                  "public_key_sha256", "contact", "stored_at"}

Ephemeral controllers (AWX, Automation Platform, CI runners) start every job with an empty disk:
with the account in storage they fetch it instead of registering a new one. Registration runs
under the store's lock "accounts/<slug>", so two fresh controllers create one account.
The object is written like a certificate's key (stored private: S3 server-side encryption, 0600
on the local backend); the key leaves storage only into the caller's private file.
"""
from __future__ import annotations

import json

from .. import keys, policy
from ..errors import InputError, StorageError
from ..timefmt import iso
from .base import Lock, Storage
from .bundles import directory_slug

FORMAT = 1
LOCK_TTL = 300.0


class AccountStore:
    """The account of one ACME directory on one Storage."""

    def __init__(self, storage: Storage, directory_url: str) -> None:
        self.storage = storage
        self.directory = directory_url.strip()
        self.slug = directory_slug(directory_url)
        self.key = "accounts/%s/account.json" % self.slug
        self.lock_name = "accounts/%s" % self.slug

    def load(self) -> dict | None:
        """{"private_key": key object, "account_uri", "contact", ...} or None when nothing is stored."""
        data = self.storage.load(self.key)
        if data is None:
            return None
        try:
            record = json.loads(data.decode("utf-8"))
            key = keys.load_private_key(record["private_key"].encode(), "stored account key")
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, InputError):
            # a key that does not load is damaged storage, not the caller's input
            raise StorageError("the stored ACME account %s on %s is damaged" % (self.key, self.storage.describe()),
                               key=self.key) from None
        return dict(record, private_key=key)

    def save(self, private_key: keys.PrivateKey, account_uri: str | None,
             contact: list[str] | None = None) -> dict | None:
        record = {"format": FORMAT, "acme_directory": self.directory, "account_uri": account_uri,
                  "private_key": keys.private_key_to_pem(private_key).decode(),
                  "public_key_sha256": keys.public_key_sha256(private_key),
                  "contact": list(contact or []), "stored_at": iso(policy.utcnow())}
        self.storage.store(self.key, json.dumps(record, sort_keys=True, indent=1).encode(), private=True)
        return public(record)

    def lock(self, timeout: float) -> Lock:
        return self.storage.lock(self.lock_name, LOCK_TTL, timeout=timeout)

    def unlock(self, lock: Lock) -> None:
        self.storage.unlock(self.lock_name, lock.owner)


def public(record: dict | None) -> dict | None:
    """What may be shown of a stored account: never the key."""
    if not record:
        return None
    return {name: record.get(name) for name in ("acme_directory", "account_uri", "public_key_sha256", "contact",
                                                "stored_at")}
