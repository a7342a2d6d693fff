"""Bundles and the certificate store: bad inputs, stored directories, damaged versions, housekeeping and ARI cache
failures, and the renewalInfo asker's error handling (ari.fetch replaced: no CA, no network)."""
import datetime
import json

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import ari
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    ACMEProblem, EngineError, InputError, StorageError)
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.local import LocalStorage

from ..certs import CA

STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PROD = "https://acme-v02.api.letsencrypt.org/directory"
UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture
def local(tmp_path):
    return LocalStorage(str(tmp_path / "store"))


@pytest.fixture
def store(local):
    return bundles.CertificateStore(local, STAGING)


def put(store, ca, name="www", **extra):
    key, cert, chain = ca.issue()
    return store.put(name, bundles.make_bundle(key, cert, chain), **extra)


# ---- make_bundle and check_requests --------------------------------------------------------------


def test_make_bundle_names_the_part_that_holds_no_certificate(ca):
    key, cert, chain = ca.issue()
    with pytest.raises(InputError) as err:
        bundles.make_bundle(key, fullchain=b"not a pem")
    assert err.value.field == "fullchain"
    with pytest.raises(InputError) as err:
        bundles.make_bundle(key, cert, chain=b"garbage", fields={"chain": "chain_content"})
    assert err.value.field == "chain_content" and "no PEM certificate found" in err.value.msg
    assert bundles.make_bundle(key, cert, chain=b"  \n").chain == b""   # a blank chain is no chain
    bundle = bundles.make_bundle(key.rstrip(b"\n"), cert, chain)
    assert bundle.private_key == key and bundle.private_key.endswith(b"\n")


@pytest.mark.parametrize("requests, field", [
    ("www", "requests"),
    (["www"], "requests[0]"),
    ([{"name": "a", "identifiers": ["a.example.com"]}, {"name": "a", "identifiers": ["b.example.com"]}],
     "requests[1].name"),
    ([{"name": "a", "identifiers": ["a.example.com"], "key_type": "dsa"}], "requests[0].key_type"),
    ([{"name": "a", "identifiers": ["a.example.com"], "profile": " "}], "requests[0].profile"),
    ([{"name": "a", "identifiers": ["a.example.com"], "profile": 3}], "requests[0].profile"),
    ([{"name": "a", "identifiers": ["a.example.com"], "renew_before_days": -2}], "requests[0].renew_before_days"),
])
def test_check_requests_names_the_bad_entry(requests, field):
    with pytest.raises(InputError) as err:
        bundles.check_requests(requests)
    assert err.value.field == field


def test_check_requests_keeps_what_was_asked():
    assert bundles.check_requests(None) == {}
    checked = bundles.check_requests([{"name": "a", "identifiers": ["A.example.com."], "key_type": "rsa-2048",
                                       "profile": "shortlived", "renew_before_days": 10}])
    assert checked["a"]["key_type"] == "rsa-2048" and checked["a"]["profile"] == "shortlived"
    assert checked["a"]["renew_before_days"] == 10 and [i.value for i in checked["a"]["identifiers"]] == [
        "a.example.com"]


def test_cert_info_from_metadata_needs_both_dates():
    assert bundles.cert_info_from_metadata({"not_before": "2026-01-01T00:00:00Z"}) is None
    info = bundles.cert_info_from_metadata({"not_before": "2026-01-01T00:00:00Z", "not_after": "2026-04-01T00:00:00Z",
                                            "identifiers": ["b.example.com", "a.example.com"]})
    assert [i.value for i in info.identifiers] == ["a.example.com", "b.example.com"] and info.serial == ""


# ---- the store --------------------------------------------------------------------------------------


def test_stored_directories_reads_one_pointer_per_directory_and_skips_junk(local, ca):
    assert bundles.stored_directories(local) == []
    put(bundles.CertificateStore(local, STAGING), ca, "a")
    put(bundles.CertificateStore(local, STAGING), ca, "b")
    put(bundles.CertificateStore(local, PROD), ca, "a")
    local.store("certs/stray.json", b"{}")                                   # not a directory slug
    local.store("certs/junk/loose.json", b"{}")                              # not an entry
    local.store("certs/junk/bad/current.json", b"\xff\xfe")                  # undecodable pointer
    local.store("certs/junk2/bad/current.json", b"[1]")                      # not a dict
    assert bundles.stored_directories(local) == sorted([STAGING, PROD])


def test_a_pointer_that_is_not_an_object_is_named(store, local):
    local.store(store._entry("www") + bundles.POINTER, b"[1, 2]")
    with pytest.raises(StorageError, match="pointer of stored certificate 'www' .* is not a JSON object"):
        store.metadata("www")


def test_put_refuses_a_key_of_another_certificate_and_check_mode_writes_nothing(store, local, ca):
    key, cert, chain = ca.issue()
    other, _cert, _chain = ca.issue()
    bundle = bundles.make_bundle(key, cert, chain)
    bundle.private_key = other
    with pytest.raises(InputError) as err:
        store.put("www", bundle)
    assert err.value.field == "private_key" and local.list("") == []
    result = put(store, ca, check_mode=True)
    assert result["changed"] and result["new_version"] and local.list("") == []


def test_old_versions_are_pruned_to_the_newest_two(store, local, ca):
    versions = [put(store, ca)["version"] for _round in range(4)]
    listed = local.list(store._versions("www"), recursive=False)
    kept = sorted(child.rstrip("/").rsplit("/", 1)[1] for child in listed)
    assert kept == sorted(versions[-2:])
    assert store.get("www")[1]["version"] == versions[-1]


def test_housekeeping_failures_do_not_undo_a_stored_certificate(store, local, ca, monkeypatch):
    real_store = local.store

    def no_status(key, data, private=False):
        if key.endswith(bundles.STATUS):
            raise StorageError("status write refused")
        return real_store(key, data, private)
    monkeypatch.setattr(local, "store", no_status)
    result = put(store, ca)
    assert result["changed"] and result["warnings"] == ["stored, but housekeeping failed: status write refused"]
    assert store.get("www")[1]["version"] == result["version"]


def test_a_purged_entry_that_only_left_a_version_behind_is_removed(store, local, ca):
    local.store(store._versions("www") + "old/cert.pem", b"x")
    assert store.remove("www", check_mode=True) == {"changed": False, "before": None}
    removed = store.remove("www")
    assert removed["purged"] and not removed["changed"] and local.list("") == []


def test_a_version_with_a_changed_file_or_a_swapped_key_is_damaged(store, local, ca, monkeypatch):
    version = put(store, ca)["version"]
    prefix = store._versions("www") + version + "/"
    good = local.load(prefix + "cert.pem")
    local.store(prefix + "cert.pem", good + b"\n")
    with pytest.raises(StorageError, match="cert.pem does not match its recorded SHA-256"):
        store.get("www")
    local.store(prefix + "cert.pem", good)
    other, _c, _ch = ca.issue()
    key_file = bundles.KEY_FILE
    local.store(prefix + key_file, other)
    pointer = json.loads(local.load(store._entry("www") + bundles.POINTER))
    pointer["files"][key_file] = bundles._sha256(other)
    local.store(store._entry("www") + bundles.POINTER, json.dumps(pointer).encode())
    with pytest.raises(StorageError, match="the key does not match the certificate"):
        store.get("www")


def test_names_ignore_objects_and_foreign_entries(store, local, ca):
    put(store, ca, "www")
    local.store("certs/%s/loose.json" % store.slug, b"{}")
    local.store("certs/%s/%s/x" % (store.slug, "n" * 201), b"{}")   # longer than a certificate name may be
    assert store.names() == ["www"]


def test_locks_go_through_the_store_namespaced_by_directory(store, local):
    assert store.lock_name("www") == store.slug + "/www"
    with pytest.raises(InputError):
        store.lock_name("../x")
    held = store.lock("www", 30)
    assert store.lock_state("www").held and local.lock_state(store.slug + "/www").held
    assert store.unlock("www", held.owner) and not store.lock_state("www").held


# ---- ARI: the cache and the asker --------------------------------------------------------------------


def window(days_from_now=30, retry_after=3600.0):
    now = datetime.datetime.now(UTC)
    return ari.RenewalWindow(start=now + datetime.timedelta(days=days_from_now),
                             end=now + datetime.timedelta(days=days_from_now + 1), retry_after_seconds=retry_after)


def ari_bundle(ca):
    """A leaf with an Authority Key Identifier: it has an ARI certificate id."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
    key = keys.generate_private_key("ecdsa-p256")
    now = datetime.datetime.now(UTC)
    leaf = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(ca.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=89))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("www.example.com")]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False)
            .sign(ca.key, hashes.SHA256()))
    return bundles.make_bundle(keys.private_key_to_pem(key), leaf.public_bytes(serialization.Encoding.PEM), ca.pem)


def test_info_reports_an_ari_cache_that_could_not_be_written(store, local, ca, monkeypatch):
    store.put("www", ari_bundle(ca))
    assert store.metadata("www")["ari_id"]
    monkeypatch.setattr(bundles.ari, "fetch", lambda client, cert_id: window())
    real_store = local.store

    def refuse(key, data, private=False):
        raise StorageError("read-only bucket")
    monkeypatch.setattr(local, "store", refuse)
    result = store.info(["www"], ari_client=object())
    assert result["warnings"] == ["www: the renewal information was not cached: read-only bucket"]
    assert result["certificates"][0]["ari_window_start"]   # the answer is still used
    monkeypatch.setattr(local, "store", real_store)
    store.info(["www"], ari_client=object())
    cached = json.loads(local.load(store._entry("www") + bundles.STATUS))["ari"]
    assert store._write_ari("www", cached) is None   # the same answer: nothing written
    assert json.loads(local.load(store._entry("www") + bundles.STATUS))["ari"] == cached


def test_the_asker_stops_after_an_unreachable_ca_and_keeps_its_retry_after(monkeypatch):
    now = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    asked = []

    def busy(client, cert_id):
        asked.append(cert_id)
        raise ACMEProblem("urn:ietf:params:acme:error:rateLimited", "slow down", status=503, retry_after=7200)
    monkeypatch.setattr(bundles.ari, "fetch", busy)
    asker = bundles._AriAsker(object())
    state, keep = asker.ask("id-1", None, now)
    assert keep and state["error"].startswith("renewalInfo: ") and "slow down" in state["error"]
    assert state["next_check"] == "2026-11-29T14:00:00Z"   # the server's 2 h, longer than the 1 h default
    state, keep = asker.ask("id-2", None, now)
    assert not keep and state["error"].startswith("not asked: ") and asked == ["id-1"]


def test_the_asker_keeps_asking_after_a_refusal_about_one_certificate(monkeypatch):
    now = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)

    def refused(client, cert_id):
        raise ACMEProblem("urn:ietf:params:acme:error:malformed", "unknown certificate", status=404)
    monkeypatch.setattr(bundles.ari, "fetch", refused)
    asker = bundles._AriAsker(object())
    state, keep = asker.ask("id-1", None, now)
    assert keep and state["next_check"] == "2026-11-29T13:00:00Z" and asker.unreachable is None
    monkeypatch.setattr(bundles.ari, "fetch", lambda client, cert_id: (_x for _x in ()).throw(
        EngineError("no directory", directory="https://ca.test/dir")))
    asker.ask("id-2", None, now)
    assert asker.unreachable == "no directory"


def test_the_asker_without_renewal_info_caches_nothing(monkeypatch):
    monkeypatch.setattr(bundles.ari, "fetch", lambda client, cert_id: None)
    assert bundles._AriAsker(object()).ask("id", None, datetime.datetime.now(UTC)) == (None, False)


def test_the_asker_keeps_the_chosen_moment_of_an_unchanged_window(monkeypatch):
    now = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    same = ari.RenewalWindow(start=now + datetime.timedelta(days=30), end=now + datetime.timedelta(days=31))
    monkeypatch.setattr(bundles.ari, "fetch", lambda client, cert_id: same)
    asker = bundles._AriAsker(object(), rng=type("R", (), {"uniform": staticmethod(lambda a, b: a)})())
    first, _keep = asker.ask("id", None, now)
    assert first["selected"] == first["start"]
    chosen = dict(first, selected="2026-12-29T18:00:00Z")
    again, _keep = asker.ask("id", chosen, now)
    assert again["selected"] == "2026-12-29T18:00:00Z"
