"""Revocations recorded in storage: the stored certificate becomes revoked and due until replaced."""
import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from ..certs import CA

STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"


@pytest.fixture
def store(tmp_path):
    return bundles.CertificateStore(open_backend("local", {"local_path": str(tmp_path / "store")}), STAGING)


def put(store, ca, name="www"):
    key, cert, chain = ca.issue()
    store.put(name, bundles.make_bundle(key, cert, chain))
    return store.metadata(name)["serial"]


def test_revoked_certificate_is_due_until_replaced(store):
    ca = CA()
    serial = put(store, ca)
    store.record_attempt("www", "an earlier failure")
    check = store.record_revocation("www", "keyCompromise", check_mode=True)
    assert check["changed"] and store.info(["www"])["certificates"][0]["revoked"] is False
    done = store.record_revocation("www", "keyCompromise")
    assert done["changed"] and done["revocation"]["serial"] == serial
    item = store.info(["www"])["certificates"][0]
    assert item["revoked"] and item["due"] and item["reason"] == "revoked"
    assert item["reason_detail"] == "revoked (keyCompromise)"
    assert item["last_error"] == "an earlier failure"          # the attempt record is kept
    assert store.record_revocation("www", "keyCompromise")["changed"] is False   # idempotent
    new = put(store, ca)                                       # the replacement
    item = store.info(["www"])["certificates"][0]
    assert new != serial and item["revoked"] is False and item["due"] is False
    assert item["last_revocation"]["serial"] == serial and item["last_revocation"]["reason"] == "keyCompromise"


def test_revocation_of_a_name_not_stored_names_it(store):
    with pytest.raises(InputError, match="no certificate named 'nope' is stored"):
        store.record_revocation("nope", "superseded")


def test_history_is_bounded(store):
    put(store, CA())
    for index in range(bundles.MAX_REVOCATIONS + 3):
        store.record_revocation("www", "superseded", serial="%x" % (index + 1))
    revocations = store._status("www")["revocations"]
    assert len(revocations) == bundles.MAX_REVOCATIONS
    assert revocations[-1]["serial"] == "%x" % (bundles.MAX_REVOCATIONS + 3)
