"""One contract, every backend: the same tests run against local, S3 (moto) and Redis."""
import datetime
import threading
import time

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, policy
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError, LockError, StorageError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from .conftest import PRODUCTION, STAGING, stored_keys

UTC = datetime.timezone.utc


def bundle_of(ca, names=("www.example.com",), days=90.0, not_before=None):
    key_pem, cert_pem, chain_pem = ca.issue(names, days=days, not_before=not_before)
    return bundles.make_bundle(key_pem, cert_pem, chain_pem)


def matches(bundle) -> bool:
    return keys.key_matches_certificate(keys.load_private_key(bundle.private_key, "k"), bundle.certificate)


# ---- primitive operations ---------------------------------------------------------------------

def test_store_load_overwrite_stat_exists(storage):
    assert storage.load("a/b.bin") is None and not storage.exists("a/b.bin") and storage.stat("a/b.bin") is None
    storage.store("a/b.bin", b"one")
    assert storage.load("a/b.bin") == b"one" and storage.exists("a/b.bin")
    storage.store("a/b.bin", b"second value", private=True)
    assert storage.load("a/b.bin") == b"second value"
    assert storage.stat("a/b.bin").size == len(b"second value")


def test_list_recursive_children_and_load_many(storage):
    for key in ("certs/x/one/current.json", "certs/x/two/current.json", "certs/x/two/status.json", "other.txt"):
        storage.store(key, key.encode())
    storage.lock("x/one", 30)   # lock records never show up as data
    assert storage.list("certs/") == ["certs/x/one/current.json", "certs/x/two/current.json",
                                      "certs/x/two/status.json"]
    assert storage.list("certs/x/", recursive=False) == ["certs/x/one/", "certs/x/two/"]
    assert storage.list("") == ["certs/x/one/current.json", "certs/x/two/current.json", "certs/x/two/status.json",
                                "other.txt"]
    assert storage.list("nothing/") == []
    got = storage.load_many(["certs/x/one/current.json", "missing/key", "other.txt"])
    assert got == {"certs/x/one/current.json": b"certs/x/one/current.json", "missing/key": None,
                   "other.txt": b"other.txt"}


def test_delete_and_delete_tree(storage):
    storage.store("d/1", b"1")
    storage.store("d/sub/2", b"2")
    storage.store("e/3", b"3")
    storage.delete("d/1")
    storage.delete("d/1")   # idempotent
    assert storage.load("d/1") is None
    storage.delete_tree("d/")
    assert storage.list("") == ["e/3"]


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/../b", "a/./b", "locks/x", "a\nb", "a/b/", ""])
def test_unsafe_keys_are_refused_and_nothing_is_stored(kind, options, storage, key):
    with pytest.raises(InputError):
        storage.store(key, b"x")
    assert stored_keys(kind, options) == []


# ---- locks --------------------------------------------------------------------------------------

def test_lock_is_exclusive_extendable_and_released_only_by_its_owner(storage):
    first = storage.lock("www", 30)
    assert first.owner and first.expires > time.time() + 25
    with pytest.raises(LockError) as err:
        storage.lock("www", 30)
    assert err.value.details["lock"]["held"] is True and "token" not in err.value.details["lock"]
    assert first.owner not in str(err.value.details)
    assert storage.lock_state("www").held
    extended = storage.lock("www", 60, owner=first.owner)
    assert extended.owner == first.owner and extended.expires > first.expires
    with pytest.raises(LockError):
        storage.unlock("www", "not-the-token")
    assert storage.lock_state("www").held
    assert storage.unlock("www", first.owner) is True
    assert storage.unlock("www", first.owner) is False
    assert not storage.lock_state("www").held
    storage.unlock("www", storage.lock("www", 30).owner)   # free again


def test_lock_wait_times_out_after_the_timeout(storage):
    storage.lock("busy", 30)
    started = time.monotonic()
    with pytest.raises(LockError, match="held by another owner"):
        storage.lock("busy", 30, timeout=0.6)
    assert 0.6 <= time.monotonic() - started < 5


def test_waiter_gets_the_lock_when_the_holder_releases(storage):
    held = storage.lock("handover", 30)
    threading.Timer(0.5, storage.unlock, args=("handover", held.owner)).start()
    got = storage.lock("handover", 30, timeout=10)
    assert got.owner != held.owner


def test_expired_lock_is_taken_over_and_the_old_owner_cannot_release_it(storage):
    old = storage.lock("ttl", 1)
    started = time.time()
    new = storage.lock("ttl", 30, timeout=10)
    assert time.time() - started >= 1.0 - 0.05 and new.owner != old.owner
    with pytest.raises(LockError, match="another owner"):
        storage.unlock("ttl", old.owner)
    assert storage.lock_state("ttl").held
    assert storage.unlock("ttl", new.owner)


def test_bad_ttl_and_names_are_refused(storage):
    with pytest.raises(InputError, match="lock_ttl"):
        storage.lock("x", 0)
    with pytest.raises(InputError, match="name"):
        storage.lock("../x", 10)


# ---- certificate bundles ------------------------------------------------------------------------

def test_put_get_roundtrip_and_unchanged(storage, ca):
    store = bundles.CertificateStore(storage, STAGING)
    bundle = bundle_of(ca, ("www.example.com", "example.com"))
    result = store.put("www", bundle, account_uri="https://ca/acct/1")
    assert result["changed"] and result["new_version"]
    assert result["after"]["identifiers"] == ["www.example.com", "example.com"]
    again = store.put("www", bundle, account_uri="https://ca/acct/1")
    assert not again["changed"] and again["version"] == result["version"]
    got, pointer = store.get("www")
    assert got == bundle and matches(got)
    assert got.fullchain == got.certificate + got.chain and got.chain == ca.pem
    assert pointer["account_uri"] == "https://ca/acct/1" and pointer["acme_directory"] == STAGING
    assert pointer["key_type"] == "ecdsa-p256" and pointer["serial"] == keys.parse_certificate(got.certificate).serial


def test_metadata_only_change_keeps_the_version(storage, ca):
    store = bundles.CertificateStore(storage, STAGING)
    bundle = bundle_of(ca)
    first = store.put("www", bundle)
    second = store.put("www", bundle, account_uri="https://ca/acct/2")
    assert second["changed"] and not second["new_version"] and second["version"] == first["version"]
    assert store.metadata("www")["account_uri"] == "https://ca/acct/2"


def test_check_mode_writes_nothing(kind, options, storage, ca):
    store = bundles.CertificateStore(storage, STAGING)
    result = store.put("www", bundle_of(ca), check_mode=True)
    assert result["changed"] and result["before"] is None
    assert stored_keys(kind, options) == []


def test_new_versions_and_pruning(storage, ca):
    store = bundles.CertificateStore(storage, STAGING)
    versions = []
    for _round in range(4):
        bundle = bundle_of(ca)
        versions.append(store.put("www", bundle)["version"])
        assert store.get("www")[0] == bundle
    stored = sorted({key.split("/")[3] for key in storage.list("versions/")})
    if storage.deletes_data:
        assert stored == sorted(versions[-2:])   # newest two kept
    else:
        assert stored == sorted(versions)        # S3: left to the lifecycle rule


def test_mismatched_key_is_refused_before_anything_is_stored(kind, options, storage, ca):
    key_a, cert_a, chain = ca.issue()
    key_b = ca.issue()[0]
    with pytest.raises(InputError) as err:
        bundles.make_bundle(key_b, cert_a, chain, fields={"private_key": "private_key_path"})
    assert err.value.field == "private_key_path"
    store = bundles.CertificateStore(storage, STAGING)
    forged = bundles.Bundle(key_b, cert_a, chain, cert_a + chain)
    with pytest.raises(InputError, match="private_key"):
        store.put("www", forged)
    assert stored_keys(kind, options) == []


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", "a\\b", "bad\x00name", "tab\tname", ".hidden", ""])
def test_traversal_names_are_refused_everywhere(kind, options, storage, ca, name):
    store = bundles.CertificateStore(storage, STAGING)
    bundle = bundle_of(ca)
    for call in (lambda: store.put(name, bundle), lambda: store.get(name), lambda: store.remove(name),
                 lambda: store.lock(name, 10), lambda: store.record_attempt(name, "x")):
        with pytest.raises(InputError) as err:
            call()
        assert err.value.field == "name"
    with pytest.raises(InputError) as err:
        store.info([name])
    assert err.value.field == "names"
    assert stored_keys(kind, options) == []


def test_staging_and_production_never_mix(storage, ca):
    staging = bundles.CertificateStore(storage, STAGING)
    production = bundles.CertificateStore(storage, PRODUCTION)
    a, b = bundle_of(ca), bundle_of(ca)
    staging.put("www", a)
    assert production.get("www") is None and production.info()["count"] == 0
    production.put("www", b)
    assert staging.get("www")[0] == a and production.get("www")[0] == b
    assert staging.names() == production.names() == ["www"]


class Recording:
    """A Storage wrapper that records every key read."""

    def __init__(self, inner):
        self.inner, self.read = inner, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def load(self, key):
        self.read.append(key)
        return self.inner.load(key)

    def load_many(self, keys_):
        self.read.extend(keys_)
        return self.inner.load_many(keys_)


def test_info_reports_due_like_acme_order_from_metadata_only(storage, ca):
    store = bundles.CertificateStore(storage, STAGING)
    now = datetime.datetime.now(UTC)
    cases = {  # name: (lifetime days, started days ago)
        "fresh": (90, 1), "due": (90, 70), "expired": (90, 100), "short-fresh": (6, 1), "short-due": (6, 4),
    }
    infos = {}
    for name, (days, ago) in cases.items():
        bundle = bundle_of(ca, ("%s.example.com" % name,), days=days, not_before=now - datetime.timedelta(days=ago))
        store.put(name, bundle)
        infos[name] = keys.parse_certificate(bundle.certificate)
    recording = Recording(storage)
    result = bundles.CertificateStore(recording, STAGING).info(now=now)
    assert not [key for key in recording.read if key.startswith("versions/")]   # no key or cert was read
    assert result["count"] == 5
    by_name = {item["name"]: item for item in result["certificates"]}
    for name, info in infos.items():
        expected = policy.decide(info, directory=STAGING, cert_directory=STAGING, now=now)
        assert by_name[name]["due"] == expected.due and by_name[name]["reason"] == expected.reason.value
        assert by_name[name]["not_after"] == info.not_after.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sorted(result["due"]) == ["due", "expired", "short-due"]
    assert by_name["fresh"]["days_left"] == pytest.approx(89, abs=0.1)
    override = store.info(["fresh", "never-stored"], renew_before_days=89.5, now=now)
    assert [item["due"] for item in override["certificates"]] == [True, True]
    assert override["certificates"][0]["reason"] == "renew_before_days"
    assert override["certificates"][1]["exists"] is False
    assert override["certificates"][1]["reason"] == "missing"
    # at or above the lifetime: capped to the lifetime window, with a warning (never "due on every run")
    capped = store.info(["fresh"], renew_before_days=95, now=now)
    assert capped["certificates"][0]["due"] is False and "not below" in capped["warnings"][0]
    assert "not below" in capped["certificates"][0]["decision_warnings"][0]


def test_attempts_are_recorded_and_reported(storage, ca):
    store = bundles.CertificateStore(storage, STAGING)
    store.put("www", bundle_of(ca))
    store.record_attempt("www", "rateLimited: too many certificates")
    store.record_attempt("www", "connection refused")
    item = store.info(["www"])["certificates"][0]
    assert item["last_error"] == "connection refused" and item["consecutive_failures"] == 2
    store.record_attempt("www", None)
    item = store.info(["www"])["certificates"][0]
    assert item["last_error"] is None and item["consecutive_failures"] == 0 and item["last_success"]
    # a certificate that was never obtained shows up with its failed attempts
    store.record_attempt("new-site", "dns problem")
    everything = {item["name"]: item for item in store.info()["certificates"]}
    assert everything["new-site"]["exists"] is False and everything["new-site"]["backing_off"] is True
    # missing, but the failed attempt backs off: not due (not ordered) until next_attempt
    assert everything["new-site"]["due"] is False and everything["new-site"]["reason"] == "backing_off"
    assert everything["new-site"]["last_error"] == "dns problem"


def test_remove(kind, storage, ca):
    store = bundles.CertificateStore(storage, STAGING)
    store.put("www", bundle_of(ca))
    store.put("keep", bundle_of(ca))
    assert store.remove("www", check_mode=True)["changed"] and store.get("www") is not None
    removed = store.remove("www")
    assert removed["changed"] and removed["before"]["name"] == "www"
    assert store.get("www") is None and store.metadata("www") is None
    assert [item["name"] for item in store.info()["certificates"]] == ["keep"]
    assert not store.remove("www")["changed"]
    leftovers = [key for key in storage.list("versions/") if "/www/" in key]
    if storage.deletes_data:
        assert leftovers == []
    else:   # S3: a tombstone; the versions expire through the lifecycle rule
        assert len(leftovers) == 4 and removed["purged"] is False
    again = bundle_of(ca)
    assert store.put("www", again)["changed"] and store.get("www")[0] == again


def test_a_damaged_version_is_detected_not_served(storage, ca):
    store = bundles.CertificateStore(storage, STAGING)
    version = store.put("www", bundle_of(ca))["version"]
    other_cert = ca.issue()[1]
    storage.store("versions/%s/www/%s/cert.pem" % (store.slug, version), other_cert)
    with pytest.raises(StorageError, match="damaged: cert.pem does not match"):
        store.get("www")


def test_readers_never_see_a_key_without_its_certificate(kind, options, storage, ca):
    """A writer stores new bundles while readers in other threads keep reading."""
    store = bundles.CertificateStore(storage, STAGING)
    store.put("www", bundle_of(ca))
    stop, seen, errors = threading.Event(), [], []

    def reader():
        own = bundles.CertificateStore(open_backend(kind, options), STAGING)
        while not stop.is_set():
            try:
                bundle, pointer = own.get("www")
                seen.append(matches(bundle) and bundle.fullchain == bundle.certificate + bundle.chain
                            and pointer["serial"] == keys.parse_certificate(bundle.certificate).serial)
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=reader), threading.Thread(target=reader)]
    for thread in threads:
        thread.start()
    try:
        for _round in range(12):
            store.put("www", bundle_of(ca))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not errors, errors[:3]
    assert len(seen) >= 2 and all(seen)
