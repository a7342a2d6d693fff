"""The ACME account kept in the certificate store, over the real local backend (no network)."""
import datetime
import json
import os
import stat

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, policy
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    InputError, LockError, StorageError)
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import accounts
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.bundles import directory_slug
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

DIRECTORY = "https://acme-staging-v02.api.letsencrypt.org/directory"
FIXED = datetime.datetime(2026, 11, 29, 12, 0, 5, tzinfo=datetime.timezone.utc)


@pytest.fixture
def backend(tmp_path):
    store = open_backend("local", {"local_path": str(tmp_path / "store")})
    yield store
    store.close()


@pytest.fixture
def store(backend, monkeypatch):
    monkeypatch.setattr(policy, "utcnow", lambda: FIXED)
    return accounts.AccountStore(backend, "  " + DIRECTORY + " ")


def account_file(tmp_path, directory=DIRECTORY):
    return tmp_path / "store" / "accounts" / directory_slug(directory) / "account.json"


def test_names_come_from_the_directory_slug(store):
    slug = directory_slug(DIRECTORY)
    assert store.directory == DIRECTORY and store.slug == slug
    assert store.key == "accounts/%s/account.json" % slug and store.lock_name == "accounts/%s" % slug


def test_other_directories_have_other_accounts(backend):
    staging = accounts.AccountStore(backend, DIRECTORY)
    production = accounts.AccountStore(backend, "https://acme-v02.api.letsencrypt.org/directory")
    assert staging.key != production.key
    staging.save(keys.generate_private_key("ecdsa-p256"), "https://ca/acct/1")
    assert production.load() is None and staging.load() is not None


def test_bad_directory_is_an_input_error(backend):
    with pytest.raises(InputError) as err:
        accounts.AccountStore(backend, "ftp://example.com/dir")
    assert err.value.field == "acme_directory"


def test_nothing_stored_loads_as_none(store):
    assert store.load() is None


def test_save_then_fetch_round_trips_the_key(store, tmp_path):
    key = keys.generate_private_key("ecdsa-p256")
    shown = store.save(key, "https://ca.test/acct/7", ["mailto:ops@example.com"])
    assert shown == {"acme_directory": DIRECTORY, "account_uri": "https://ca.test/acct/7",
                     "public_key_sha256": keys.public_key_sha256(key), "contact": ["mailto:ops@example.com"],
                     "stored_at": "2026-11-29T12:00:05Z"}
    loaded = store.load()
    assert keys.public_key_sha256(loaded["private_key"]) == keys.public_key_sha256(key)
    assert loaded["account_uri"] == "https://ca.test/acct/7" and loaded["format"] == accounts.FORMAT
    record = json.loads(account_file(tmp_path).read_text())
    assert record["private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert record["public_key_sha256"] == keys.public_key_sha256(key)


def test_account_file_is_private(store, tmp_path):
    store.save(keys.generate_private_key("ecdsa-p256"), "https://ca.test/acct/1")
    path = account_file(tmp_path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700


def test_rollover_save_replaces_the_key(store):
    old, new = keys.generate_private_key("ecdsa-p256"), keys.generate_private_key("rsa-2048")
    store.save(old, "https://ca.test/acct/1", ["mailto:a@example.com"])
    shown = store.save(new, "https://ca.test/acct/1", ["mailto:b@example.com"])
    loaded = store.load()
    assert keys.public_key_sha256(loaded["private_key"]) == keys.public_key_sha256(new) != keys.public_key_sha256(old)
    assert keys.key_type_of(loaded["private_key"]) == "rsa-2048"
    assert loaded["contact"] == ["mailto:b@example.com"] and shown["public_key_sha256"] == keys.public_key_sha256(new)


def test_save_without_uri_or_contact(store):
    shown = store.save(keys.generate_private_key("ecdsa-p256"), None)
    assert shown["account_uri"] is None and shown["contact"] == []
    assert store.load()["contact"] == []


@pytest.mark.parametrize("content", [
    b"\xff\xfe not utf-8",
    b"{not json",
    b"[]",
    b'{"format": 1}',
    b'{"private_key": 5}',
])
def test_damaged_record_is_a_storage_error(store, backend, content):
    backend.store(store.key, content, private=True)
    with pytest.raises(StorageError) as err:
        store.load()
    assert store.key in err.value.msg and backend.describe() in err.value.msg and "damaged" in err.value.msg
    assert err.value.details["key"] == store.key


def test_unreadable_stored_key_is_damaged_storage(store, backend):
    bad_pem = "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"
    backend.store(store.key, json.dumps({"private_key": bad_pem}).encode(), private=True)
    with pytest.raises(StorageError) as err:     # damaged storage, not the caller's input
        store.load()
    assert store.key in err.value.msg and "damaged" in err.value.msg


def test_lock_is_taken_and_released(store, backend):
    held = store.lock(timeout=0)
    assert held.name == store.lock_name and held.ttl == accounts.LOCK_TTL
    assert backend.lock_state(store.lock_name).held
    with pytest.raises(LockError) as err:     # a second controller waits for the registration
        accounts.AccountStore(backend, DIRECTORY).lock(timeout=0)
    assert store.lock_name in err.value.msg
    store.unlock(held)
    assert not backend.lock_state(store.lock_name).held
    again = store.lock(timeout=0)
    assert again.owner != held.owner
    store.unlock(again)


def test_public_never_shows_the_key():
    record = {"acme_directory": DIRECTORY, "account_uri": "u", "public_key_sha256": "h", "contact": ["mailto:x@y.z"],
              "stored_at": "t", "private_key": "SECRET", "format": 1}
    shown = accounts.public(record)
    assert "private_key" not in shown and "SECRET" not in json.dumps(shown)
    assert shown == {"acme_directory": DIRECTORY, "account_uri": "u", "public_key_sha256": "h",
                     "contact": ["mailto:x@y.z"], "stored_at": "t"}
    assert accounts.public(None) is None and accounts.public({}) is None
    assert accounts.public({"account_uri": "u"})["contact"] is None


def test_public_of_a_loaded_record_has_no_key_object(store):
    store.save(keys.generate_private_key("ecdsa-p256"), "https://ca.test/acct/3")
    shown = accounts.public(store.load())
    assert set(shown) == {"acme_directory", "account_uri", "public_key_sha256", "contact", "stored_at"}
