"""order, issuance, batch and account against the fake CA (a stateful scripted adapter; no network, no sleeping)."""
import json
import os

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import account, batch, inputs, issuance, keys
from ansible_collections.autotls.acme.plugins.module_utils._engine import order, policy
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    ACMEProblem, AuthorizationFailed, EngineError, InputError)

from .fakeca import FakeCA, client_for


@pytest.fixture
def ca(tmp_path):
    webroot = tmp_path / "www"
    webroot.mkdir()
    return FakeCA(webroot=str(webroot))


@pytest.fixture
def client(ca):
    made = client_for(ca)
    account.ensure_present(made, ["mailto:ops@example.com"], True)
    return made


def request_for(tmp_path, names=("www.example.com", "example.com"), **extra):
    out = tmp_path / "out"
    return issuance.CertificateRequest(identifiers=keys.parse_identifiers(list(names)),
                                       private_key_path=str(out / "key.pem"), fullchain_path=str(out / "full.pem"),
                                       certificate_path=str(out / "cert.pem"), chain_path=str(out / "chain.pem"),
                                       **extra)


def test_issue_with_webroot_writes_everything_together_and_is_then_not_due(ca, client, tmp_path):
    request = request_for(tmp_path)
    decision = issuance.plan(request, client.directory_url)
    assert decision.due and decision.reason is policy.Reason.MISSING
    result = issuance.issue_with_webroot(client, request, ca.webroot, decision.reason.value)
    assert result["renewed"] and result["reason"] == "missing" and ca.orders_created == 1
    assert sorted(result["certificate"]["identifiers"]) == ["example.com", "www.example.com"]
    out = tmp_path / "out"
    assert oct(os.stat(out / "key.pem").st_mode & 0o777) == "0o600"
    assert oct(os.stat(out).st_mode & 0o777) == "0o700"   # a directory made for a key is private
    metadata = json.loads((out / "cert.pem.acme.json").read_text())
    assert metadata["directory"] == client.directory_url and metadata["key_type"] == "ecdsa-p256"
    assert os.listdir(os.path.join(ca.webroot, ".well-known", "acme-challenge")) == []   # cleaned up
    # asked again with other spellings of the same names: not due, nothing ordered
    again = request_for(tmp_path, names=("Example.COM.", "www.example.com", "example.com"))
    decision = issuance.plan(again, client.directory_url)
    assert not decision.due and decision.reason is policy.Reason.NOT_DUE
    assert issuance.not_due_result(decision, again)["certificate"]["serial"] == result["certificate"]["serial"]
    # a changed key type is due, and reuse_key then makes a new key of the asked type
    changed = request_for(tmp_path, key_type="rsa-2048", reuse_key=True)
    decision = issuance.plan(changed, client.directory_url)
    assert decision.due and decision.reason is policy.Reason.KEY_TYPE_CHANGED
    issuance.issue_with_webroot(client, changed, ca.webroot, decision.reason.value)
    key = keys.load_private_key((out / "key.pem").read_bytes(), "k")
    assert keys.key_type_of(key) == "rsa-2048"


def test_reuse_key_keeps_the_key_and_a_weak_one_is_refused_before_ordering(ca, client, tmp_path):
    request = request_for(tmp_path, reuse_key=True, key_type="ecdsa-p384")
    issuance.issue_with_webroot(client, request, ca.webroot)
    first = (tmp_path / "out" / "key.pem").read_bytes()
    issuance.issue_with_webroot(client, request_for(tmp_path, reuse_key=True, key_type="ecdsa-p384", force=True),
                                ca.webroot)
    assert (tmp_path / "out" / "key.pem").read_bytes() == first
    from cryptography.hazmat.primitives.asymmetric import rsa
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    (tmp_path / "out" / "key.pem").write_bytes(keys.private_key_to_pem(weak))
    orders = ca.orders_created
    with pytest.raises(InputError, match="private_key_path: the RSA key has 1024 bits"):
        request_for(tmp_path, reuse_key=True, key_type="rsa-2048").check()
    assert ca.orders_created == orders


def test_a_failed_challenge_names_what_the_ca_fetched_and_leaves_old_files(ca, client, tmp_path):
    request = request_for(tmp_path, names=("www.example.com",))
    issuance.issue_with_webroot(client, request, ca.webroot)
    before = (tmp_path / "out" / "full.pem").read_bytes()
    ca.invalid_names.add("www.example.com")
    with pytest.raises(AuthorizationFailed) as err:
        issuance.issue_with_webroot(client, request_for(tmp_path, names=("www.example.com",), force=True), ca.webroot)
    assert "CA fetched http://www.example.com/.well-known/acme-challenge/" in err.value.msg
    assert (tmp_path / "out" / "full.pem").read_bytes() == before


def test_webroot_problems_are_found_before_the_order_exists(ca, client, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for webroot, message in ((str(afile), "is not a directory"), (str(tmp_path / "gone"), "does not exist")):
        with pytest.raises(InputError, match="webroot: .*" + message):
            issuance.issue_with_webroot(client, request_for(tmp_path), webroot)
    assert ca.orders_created == 0


def test_two_step_flow_with_replaces_and_a_refused_replaces(tmp_path):
    ca = FakeCA(webroot=str(tmp_path), renewal_info=True)
    client = client_for(ca)
    account.ensure_present(client, [], True)
    ident = keys.parse_identifiers(["a.example.com"])
    pending = order.create(client, ident, replaces="AAAA.BBBB")
    assert pending.replaces == "AAAA.BBBB" and ca.orders[pending.url]["replaces"] == "AAAA.BBBB"
    assert [f.identifier for f in pending.challenge_files] == ["a.example.com"]
    ca.fail_next["/order"] = (409, "alreadyReplaced", "already replaced")
    dropped = order.create(client, ident, replaces="AAAA.BBBB")
    assert dropped.replaces is None and dropped.replaces_dropped.startswith("alreadyReplaced")
    # other refusals are not about replaces: raised as they are
    ca.fail_next["/order"] = (403, "rejectedIdentifier", "policy forbids (replaces)")
    with pytest.raises(ACMEProblem) as err:
        order.create(client, ident, replaces="AAAA.BBBB")
    assert err.value.code == "rejectedIdentifier"
    # publish, then complete: the CSR is only made when the order is ready
    for item in pending.challenge_files:
        path = os.path.join(str(tmp_path), item.path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as handle:
            handle.write(item.content)
    key = keys.generate_private_key("ecdsa-p256")
    issued = order.complete(client, pending.url, lambda ids: keys.make_csr(key, ids),
                            expected_public_key=keys.public_key_sha256(key))
    assert issued.info.identifiers == ident and issued.chain.count(b"BEGIN CERTIFICATE") == 1
    # completing it again with another key: refused (the order was finalized already)
    other = keys.generate_private_key("ecdsa-p256")
    with pytest.raises(InputError, match="already finalized with another key"):
        order.complete(client, pending.url, lambda ids: keys.make_csr(other, ids),
                       expected_public_key=keys.public_key_sha256(other))


def test_finish_refuses_an_order_for_other_names(ca, client, tmp_path):
    pending = order.create(client, keys.parse_identifiers(["other.example.com"]))
    from ansible_collections.autotls.acme.plugins.module_utils._engine import challenge
    challenge.publish(ca.webroot, pending.challenge_files)
    with pytest.raises(InputError, match="identifiers: the order is for other.example.com"):
        issuance.finish(client, request_for(tmp_path), pending.url)


def test_batch_runs_each_item_on_its_own(ca, tmp_path):
    main = client_for(ca)
    account.ensure_present(main, [], True)

    def work(get_client, item):
        if item == "bad":
            raise InputError("identifiers", "'999.1.1.1' looks like an IPv4 address but is not one")
        request = request_for(tmp_path / item, names=(item + ".example.com",))
        return issuance.issue_with_webroot(get_client(), request, ca.webroot)

    def factory():
        made = client_for(ca, main.account_key)
        made.use_account(main.net.account)
        return made

    results = batch.run(["a", "bad", "b"], work, factory, concurrency=2)
    assert [r["failed"] for r in results] == [False, True, False]
    assert results[1]["field"] == "identifiers" and "999.1.1.1" in results[1]["msg"]
    assert results[0]["renewed"] and results[2]["renewed"] and ca.orders_created == 2
    assert batch.run([1], lambda get_client, item: {"n": item, "client": get_client()}) == [
        {"n": 1, "client": None, "failed": False}]


def test_account_lifecycle_contacts_rollover_and_deactivation(ca):
    client = client_for(ca)
    created = account.ensure_present(client, ["mailto:a@example.com"], True)
    assert created["created"] and created["changed"]
    assert not account.ensure_present(client, ["mailto:a@example.com"], True)["changed"]
    assert account.ensure_present(client, ["mailto:b@example.com"], True, check_mode=True)["contact"] == [
        "mailto:b@example.com"]
    updated = account.ensure_present(client, ["mailto:b@example.com"], True)
    assert updated["changed"] and updated["contact"] == ["mailto:b@example.com"]
    new_key = keys.generate_private_key("ecdsa-p256")
    assert account.rollover(client, new_key)["changed"]
    moved = client_for(ca, new_key)
    assert account.find(moved) is not None
    assert account.deactivate(moved)["changed"]
    with pytest.raises(account.AccountDeactivated):
        account.find(client_for(ca, new_key))


def test_terms_and_eab_are_asked_for_before_an_account_is_created():
    ca = FakeCA(terms="https://ca.test/terms", eab_required=True)
    client = client_for(ca)
    with pytest.raises(InputError, match="terms_agreed"):
        account.ensure_present(client, [], False)
    with pytest.raises(InputError, match="external_account_binding"):
        account.ensure_present(client, [], True)
    eab = {"kid": "kid-1", "hmac_key": "c2VjcmV0LWtleS0xMjM0NTY3ODkwYWJjZGVm"}
    assert account.ensure_present(client, [], True, eab)["created"]
    assert next(iter(ca.accounts.values()))["eab"]["protected"]
    assert not ca.orders


@pytest.mark.parametrize("hmac_key", ["abc+def/ghijklmnopqrstuvwxyz0123", "a b c d e f g h i j k l m n o p",
                                      "YWJj", "abcdefghijklmnopqrstu===", "x"])
def test_eab_hmac_must_be_strict_base64url(hmac_key):
    with pytest.raises(InputError) as err:
        account.check_eab({"kid": "k", "hmac_key": hmac_key})
    assert err.value.field == "external_account_binding.hmac_key"


def test_a_directory_that_is_not_an_acme_directory_is_named(tmp_path):
    ca = FakeCA()
    client = client_for(ca)
    client.directory_url = "https://ca.test/not-a-directory"
    with pytest.raises(InputError) as err:
        client.check_directory()
    assert err.value.field == "acme_directory" and "https://ca.test/not-a-directory" in err.value.msg
    for url in ("http://ca.test/dir", "ftp://x/", "https:///dir", "", None):
        with pytest.raises(InputError, match="acme_directory"):
            inputs.check_directory_url(url)


def test_an_order_whose_authorization_is_already_invalid_fails_at_creation(ca, client):
    ca.fail_next = {}
    pending = order.create(client, keys.parse_identifiers(["x.example.com"]))
    authz = ca.orders[pending.url]["authorizations"][0]
    ca.authzs[authz]["status"] = "invalid"
    with pytest.raises(AuthorizationFailed):
        order._validate(client, ca.orders[pending.url], __import__(
            "ansible_collections.autotls.acme.plugins.module_utils._engine.client",
            fromlist=["Deadline"]).Deadline(5, client.net.clock))
    with pytest.raises(EngineError, match="is invalid"):
        order.complete(client, pending.url, lambda ids: b"")


def test_storage_info_follows_the_cas_renewal_window_and_caches_it(tmp_path):
    import datetime
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.local import LocalStorage
    ca = FakeCA(webroot=str(tmp_path), renewal_info=True)
    client = client_for(ca)
    account.ensure_present(client, [], True)
    request = request_for(tmp_path, names=("www.example.com",))
    issuance.issue_with_webroot(client, request, str(tmp_path))
    out = tmp_path / "out"
    store = bundles.CertificateStore(LocalStorage(str(tmp_path / "store")), client.directory_url)
    store.put("www", bundles.make_bundle((out / "key.pem").read_bytes(), (out / "cert.pem").read_bytes(),
                                         (out / "chain.pem").read_bytes()))

    def asks():
        return len([r for r in ca.requests if "/renewal-info/" in r.url])
    item = store.info(["www"], ari_client=client)["certificates"][0]
    assert item["ari_id"] and item["ari_window_start"] and not item["due"] and item["reason"] == "not_due"
    assert item["renew_at"] == item["ari_selected"] and asks() == 1
    assert store.info(["www"], ari_client=client)["certificates"][0]["ari_selected"] == item["ari_selected"]
    assert asks() == 1   # cached until the server's Retry-After
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=32)
    due = store.info(["www"], ari_client=client, now=later)["certificates"][0]
    assert due["due"] and due["reason"] == "ari_window" and asks() == 2
    # check mode asks but writes no cache; a CA error falls back to the lifetime policy and is reported
    ca.fail_next = {}
    broken = client_for(FakeCA())
    broken.directory_url = "https://ca.test/not-a-directory"
    fresh = bundles.CertificateStore(LocalStorage(str(tmp_path / "store2")), client.directory_url)
    fresh.put("www", bundles.make_bundle((out / "key.pem").read_bytes(), (out / "cert.pem").read_bytes(),
                                         (out / "chain.pem").read_bytes()))
    failed = fresh.info(["www"], ari_client=broken, ari_cache=False)["certificates"][0]
    assert failed["ari_error"] and "not-a-directory" in failed["ari_error"] and failed["reason"] == "not_due"


def test_account_edges_deactivation_states_contacts_and_keys(ca, tmp_path):
    client = client_for(ca)
    assert account.deactivate(client)["status"] == "absent"
    account.ensure_present(client, ["mailto:a@example.com"], True)
    assert account.deactivate(client, check_mode=True)["status"] == "deactivated"
    ca.fail_next["/acct/"] = (400, "invalidContact", "domain example.net is forbidden")
    with pytest.raises(InputError, match="contact: the CA rejected"):
        account.ensure_present(client, ["mailto:a@example.net"], True)
    assert account.rollover(client, keys.generate_private_key("ecdsa-p256"), check_mode=True)["changed"]
    account.deactivate(client)
    assert account.deactivate(client)["status"] == "deactivated"
    with pytest.raises(InputError, match="allow_creation"):
        account.ensure_present(client_for(ca), [], True, allow_create=False)
    with pytest.raises(InputError, match="account_key_path: .* does not exist"):
        account.load_account_key(str(tmp_path / "none.key"), create=False)
    with pytest.raises(InputError, match="account_key_path: an account key path or content is required"):
        account.load_account_key(None)
    key, generated = account.load_account_key(str(tmp_path / "k" / "account.key"), check_mode=True)
    assert generated and not (tmp_path / "k").exists()   # check mode writes no key
    account.save_account_key(str(tmp_path / "k" / "account.key"), key)
    assert oct(os.stat(tmp_path / "k").st_mode & 0o777) == "0o700"
    assert account.load_account_key(str(tmp_path / "k" / "account.key"))[1] is False
    assert inputs.validate_contacts("mailto:x@example.com") == ["mailto:x@example.com"]
    assert inputs.validate_contacts([], required=False) == []
    for bad in ([""], ["x@"], None):
        with pytest.raises(InputError, match="contact"):
            inputs.validate_contacts(bad)


@pytest.mark.parametrize("eab, field", [
    ("kid", "external_account_binding"), ({"hmac_key": "c2VjcmV0LWtleS0xMjM0NTY3OA"}, "external_account_binding.kid"),
    ({"kid": "k"}, "external_account_binding.hmac_key"),
    ({"kid": "k", "hmac_key": "c2VjcmV0LWtleS0xMjM0NTY3OA", "alg": "MD5"}, "external_account_binding.alg"),
])
def test_eab_fields_are_named(eab, field):
    with pytest.raises(InputError) as err:
        account.check_eab(eab)
    assert err.value.field == field
    assert account.check_eab(None) is None
    assert account.check_eab({"kid": "k", "hmac_key": "c2VjcmV0LWtleS0xMjM0NTY3OA=="}) is None


def test_profiles_are_checked_against_the_directory_and_chains_can_be_preferred(tmp_path):
    ca = FakeCA(webroot=str(tmp_path), profiles={"classic": "90 days", "shortlived": "6 days"})
    client = client_for(ca)
    account.ensure_present(client, [], True)
    assert order.check_profile(client, None) is None and order.check_profile(client, "classic") == "classic"
    with pytest.raises(InputError) as err:
        order.check_profile(client, "longlived")
    assert err.value.field == "profile" and err.value.details["profiles_offered"] == ["classic", "shortlived"]
    with pytest.raises(InputError, match="offers no profiles"):
        plain = client_for(FakeCA())
        order.check_profile(plain, "classic")
    pending = order.create(client, keys.parse_identifiers(["alt.example.com"]))
    from ansible_collections.autotls.acme.plugins.module_utils._engine import challenge
    challenge.publish(str(tmp_path), pending.challenge_files)
    key = keys.generate_private_key("ecdsa-p256")
    issued = order.complete(client, pending.url, lambda ids: keys.make_csr(key, ids), preferred_chain="Alt Root",
                            expected_public_key=keys.public_key_sha256(key))
    assert issued.alternates_offered == 1
    assert keys.parse_certificate(issued.chain).issuer_cn == "Alt Root"
    default = order._pick_chain([issued.fullchain], "Nobody")
    assert default == issued.fullchain


def test_reused_and_failed_authorizations_and_results(tmp_path):
    ca = FakeCA(webroot=str(tmp_path), renewal_info=True, profiles={"classic": "90 days"})
    client = client_for(ca)
    account.ensure_present(client, [], True)
    ident = keys.parse_identifiers(["r.example.com", "s.example.com"])
    ca.fail_next["/order"] = (409, "alreadyReplaced", "")
    pending = order.create(client, ident, replaces="AAAA.BBBB", profile="classic")
    result = pending.to_result()
    assert result["replaces_dropped"] == "alreadyReplaced" and result["profile"] == "classic"
    assert [f["identifier"] for f in result["challenge_files"]] == ["r.example.com", "s.example.com"]
    first, second = ca.orders[pending.url]["authorizations"]
    ca.authzs[first]["status"] = "valid"              # reused: nothing to publish for it
    ca.authzs[second]["challenges"] = ca.authzs[second]["challenges"][1:]   # only dns-01 offered
    with pytest.raises(EngineError, match="no http-01 challenge for s.example.com .offered: dns-01"):
        order._validate(client, ca.orders[pending.url], __import__(
            "ansible_collections.autotls.acme.plugins.module_utils._engine.client", fromlist=["Deadline"]).Deadline(
            5, client.net.clock))
    ca.authzs[second]["status"] = "deactivated"
    with pytest.raises(AuthorizationFailed, match="s.example.com: deactivated"):
        order._validate(client, ca.orders[pending.url], None)
    from ansible_collections.autotls.acme.plugins.module_utils._engine import deps
    assert deps.missing({"no_such_module_autotls": "nope"}, {"no_such.sub": "nope2"}) == ["nope", "nope2"]


def test_request_checks_and_unreadable_existing_files(tmp_path):
    for change, field in (({"certificate_path": None, "fullchain_path": None}, "certificate_path"),
                          ({"private_key_path": None}, "private_key_path"), ({"key_type": "dsa"}, "key_type"),
                          ({"renew_before_days": -1}, "renew_before_days")):
        request = request_for(tmp_path)
        for name, value in change.items():
            setattr(request, name, value)
        with pytest.raises(InputError) as err:
            request.check()
        assert err.value.field == field
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InputError, match="private_key_path: cannot write .* is not a directory"):
        issuance.CertificateRequest(identifiers=[], private_key_path=str(blocker / "k.pem"),
                                    fullchain_path=str(tmp_path / "f.pem")).check()
    # an unreadable certificate counts as absent; metadata of another serial is ignored
    request = request_for(tmp_path)
    os.makedirs(str(tmp_path / "out"))
    (tmp_path / "out" / "cert.pem").write_text("garbage")
    assert issuance.load_existing(request) == (None, {})
    from .certs import make_cert
    (tmp_path / "out" / "cert.pem").write_bytes(make_cert(("www.example.com", "example.com"))[0])
    (tmp_path / "out" / "cert.pem.acme.json").write_text("not json")
    assert issuance.load_existing(request)[1] == {}
    (tmp_path / "out" / "cert.pem.acme.json").write_text('{"serial": "other", "directory": "x"}')
    assert issuance.load_existing(request)[1] == {}
