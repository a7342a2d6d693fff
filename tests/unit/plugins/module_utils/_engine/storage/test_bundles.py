"""Bundles and the pointer logic, on the local backend (no services needed)."""
import datetime
import json

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError, StorageError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from ..certs import CA

STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
UTC = datetime.timezone.utc


@pytest.fixture(scope="module")
def ca():
    return CA()


@pytest.fixture
def local(tmp_path):
    return open_backend("local", {"local_path": str(tmp_path / "store")})


@pytest.fixture
def store(local):
    return bundles.CertificateStore(local, STAGING)


# ---- make_bundle ------------------------------------------------------------------------------

def test_fullchain_alone_is_split_into_leaf_and_chain(ca):
    key, cert, chain = ca.issue()
    bundle = bundles.make_bundle(key, fullchain=cert + chain)
    assert bundle.certificate == cert and bundle.chain == chain and bundle.fullchain == cert + chain


def test_certificate_file_with_intermediates_and_crlf(ca):
    key, cert, chain = ca.issue()
    bundle = bundles.make_bundle(key.replace(b"\n", b"\r\n"), (cert + chain).replace(b"\n", b"\r\n"))
    assert bundle.certificate == cert and bundle.chain == chain and bundle.private_key == key


def test_text_and_bytes_are_accepted(ca):
    key, cert, chain = ca.issue()
    assert bundles.make_bundle(key.decode(), cert.decode(), chain.decode()) == bundles.make_bundle(key, cert, chain)


@pytest.mark.parametrize("case, field, problem", [
    ("no_key", "private_key_path", "required"),
    ("no_cert", "certificate_path", "a certificate or a fullchain is required"),
    ("garbage_cert", "certificate_path", "no PEM certificate found"),
    ("garbage_key", "private_key_path", "not a readable PEM private key"),
    ("mismatch", "private_key_path", "does not match the certificate"),
    ("fullchain_other_leaf", "fullchain_path", "does not start with the certificate"),
    ("chain_differs", "chain_path", "differs from the intermediates"),
])
def test_bad_bundles_name_the_field(ca, case, field, problem):
    key, cert, chain = ca.issue()
    other_key, other_cert = ca.issue()[:2]
    args = {
        "no_key": (None, cert), "no_cert": (key, None), "garbage_cert": (key, b"not a cert"),
        "garbage_key": (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", cert),
        "mismatch": (other_key, cert),
    }.get(case)
    kwargs = {}
    if case == "fullchain_other_leaf":
        args, kwargs = (key, cert), {"fullchain": other_cert + chain}
    if case == "chain_differs":
        args, kwargs = (key, cert), {"fullchain": cert + chain, "chain": other_cert}
    fields = {"private_key": "private_key_path", "certificate": "certificate_path", "chain": "chain_path",
              "fullchain": "fullchain_path"}
    with pytest.raises(InputError) as err:
        bundles.make_bundle(*args, fields=fields, **kwargs)
    assert err.value.field == field and problem in err.value.msg


# ---- the store ----------------------------------------------------------------------------------

def test_layout_pointer_and_metadata(local, store, ca):
    key, cert, chain = ca.issue(("a.example.com", "b.example.com"))
    now = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    result = store.put("www", bundles.make_bundle(key, cert, chain), account_uri="https://ca/acct/1", now=now)
    version = result["version"]
    assert version.startswith("20260102T030405.000000Z-")
    slug = store.slug
    assert local.list("") == sorted(
        ["certs/%s/www/current.json" % slug, "certs/%s/www/status.json" % slug]
        + ["versions/%s/www/%s/%s" % (slug, version, name) for name in bundles.FILES])
    pointer = json.loads(local.load("certs/%s/www/current.json" % slug))
    info = keys.parse_certificate(cert)
    assert pointer["version"] == version and pointer["serial"] == info.serial
    assert pointer["identifiers"] == ["a.example.com", "b.example.com"]
    assert pointer["obtained_at"] == "2026-01-02T03:04:05Z" and pointer["account_uri"] == "https://ca/acct/1"
    assert set(pointer["files"]) == set(bundles.FILES)
    assert "files" not in result["after"] and "public_key_sha256" not in result["after"]
    status = json.loads(local.load("certs/%s/www/status.json" % slug))
    assert status == {"consecutive_failures": 0, "last_attempt": "2026-01-02T03:04:05Z", "last_error": None,
                      "last_success": "2026-01-02T03:04:05Z", "retry_after": None, "last_failure_kind": None}


class FailOn:
    """Wraps a Storage; store() raises for keys ending in `suffix`."""

    def __init__(self, inner, suffix):
        self.inner, self.suffix = inner, suffix

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def store(self, key, data, private=False):
        if key.endswith(self.suffix):
            raise StorageError("injected failure writing %s" % key)
        return self.inner.store(key, data, private)


@pytest.mark.parametrize("fail_on", ["privkey.pem", "cert.pem", "fullchain.pem", "current.json"])
def test_a_failed_write_leaves_the_previous_bundle_in_place(local, store, ca, fail_on):
    old = bundles.make_bundle(*ca.issue())
    store.put("www", old)
    broken = bundles.CertificateStore(FailOn(local, fail_on), STAGING)
    with pytest.raises(StorageError, match="injected"):
        broken.put("www", bundles.make_bundle(*ca.issue()))
    assert store.get("www")[0] == old


def test_status_failure_after_the_switch_is_a_warning_not_an_error(local, store, ca):
    new = bundles.make_bundle(*ca.issue())
    result = bundles.CertificateStore(FailOn(local, "status.json"), STAGING).put("www", new)
    assert result["changed"] and "housekeeping failed" in result["warnings"][0]
    assert store.get("www")[0] == new


def test_reader_retries_when_a_version_vanishes_and_reports_damage(local, store, ca):
    version = store.put("www", bundles.make_bundle(*ca.issue()))["version"]
    local.delete_tree("versions/%s/www/%s/" % (store.slug, version))
    with pytest.raises(StorageError) as err:
        store.get("www")
    assert "damaged" in err.value.msg and "privkey.pem is missing" in err.value.msg


def test_a_pointer_that_is_not_json_is_a_clear_error(local, store, ca):
    store.put("www", bundles.make_bundle(*ca.issue()))
    local.store("certs/%s/www/current.json" % store.slug, b"{truncated")
    for call in (lambda: store.get("www"), store.info):
        with pytest.raises(StorageError, match="pointer of stored certificate 'www' .* is not valid JSON"):
            call()


def test_unchanged_put_writes_nothing(local, store, ca):
    bundle = bundles.make_bundle(*ca.issue())
    store.put("www", bundle)
    before = {key: local.stat(key).modified for key in local.list("")}
    assert not store.put("www", bundle)["changed"]
    assert {key: local.stat(key).modified for key in local.list("")} == before


def test_foreign_entries_are_ignored_by_names(local, store, ca):
    store.put("www", bundles.make_bundle(*ca.issue()))
    local.store("certs/%s/notes.txt" % store.slug, b"not a certificate")
    assert store.names() == ["www"]


class NoDelete:
    """The S3 behaviour under the documented IAM policy: no deletes of data."""
    deletes_data = False

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def delete(self, key):
        raise AssertionError("data must not be deleted: %s" % key)

    def delete_tree(self, prefix):
        raise AssertionError("data must not be deleted: %s" % prefix)


def test_without_deletes_removal_is_a_tombstone_and_versions_stay(local, ca):
    store = bundles.CertificateStore(NoDelete(local), STAGING)
    for _round in range(3):
        store.put("www", bundles.make_bundle(*ca.issue()))
    assert len({key.split("/")[3] for key in local.list("versions/")}) == 3
    result = store.remove("www")
    assert result["changed"] and result["purged"] is False
    pointer = json.loads(local.load("certs/%s/www/current.json" % store.slug))
    assert pointer["deleted"] is True and "version" not in pointer
    assert store.get("www") is None and store.info()["count"] == 0
    assert store.info(["www"])["certificates"][0]["exists"] is False
    assert not store.remove("www")["changed"]


def test_info_with_renew_before_days_and_negative_is_refused(store, ca):
    now = datetime.datetime.now(UTC)
    store.put("www", bundles.make_bundle(*ca.issue(days=90, not_before=now - datetime.timedelta(days=50))))
    assert store.info(now=now)["due"] == []
    assert store.info(renew_before_days=45, now=now)["due"] == ["www"]
    with pytest.raises(InputError) as err:
        store.info(renew_before_days=-1)
    assert err.value.field == "renew_before_days"


def test_a_certificate_from_a_test_ca_is_not_served_as_production(local, ca):
    """Same policy as acme_order: the entry's recorded directory decides, not just the issuer name."""
    production = bundles.CertificateStore(local, "https://acme-v02.api.letsencrypt.org/directory")
    production.put("www", bundles.make_bundle(*ca.issue()))
    pointer = production.metadata("www")
    pointer["acme_directory"] = STAGING   # an entry copied over by hand from the staging slug
    local.store("certs/%s/www/current.json" % production.slug, json.dumps(pointer).encode())
    item = production.info()["certificates"][0]
    assert item["due"] and item["reason"] == "directory_changed"
    assert item["reason_detail"].startswith("issued by another ACME directory")


def test_record_attempt_check_mode_writes_nothing(local, store):
    result = store.record_attempt("www", "boom", check_mode=True)
    assert result["changed"] and result["after"]["last_error"] == "boom"
    assert local.list("") == []


def test_long_errors_are_truncated(store):
    store.record_attempt("www", "x" * 10000)
    assert len(store.info(["www"])["certificates"][0]["last_error"]) == bundles.MAX_ERROR
