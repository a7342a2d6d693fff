"""Issuance paths the first suite leaves out: DNS-01, a caller's CSR, the pending area (keep, resume, dead orders,
failures after the download) and the checks made before anything is ordered. Fake CA, no network, no sleeping."""
import json
import os

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import (
    account, challenge, issuance, keys, order, pending, policy)
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    ACMEProblem, AuthorizationFailed, EngineError, InputError)

from .fakeca import BASE, FakeCA, client_for


class DnsCA(FakeCA):
    """The fake CA, also validating dns-01 (a name in invalid_names fails; the records are the solver's business)."""

    def route(self, request, path, protected, payload):
        if path.startswith("/chall-dns/"):
            authz = self.authzs[BASE + "/authz/" + path.rsplit("/", 1)[1]]
            chall = next(c for c in authz["challenges"] if c["type"] == "dns-01")
            if authz["identifier"]["value"] in self.invalid_names:
                authz["status"] = chall["status"] = "invalid"
                chall["error"] = {"type": "urn:ietf:params:acme:error:dns", "detail": "no TXT record found"}
            else:
                authz["status"] = chall["status"] = "valid"
            return self._answer(request, 200, chall)
        return super().route(request, path, protected, payload)


class FakeSolver:
    """DNSSolver's publish/remove contract: remove() undoes what publish() added and returns the errors."""

    def __init__(self, cleanup_errors=()):
        self.published, self.removed, self.remove_calls = [], [], 0
        self.cleanup_errors = list(cleanup_errors)

    def publish(self, records):
        self.published.extend(records)

    def remove(self):
        self.remove_calls += 1
        self.removed.extend(self.published)
        self.published = []
        errors, self.cleanup_errors = self.cleanup_errors, []
        return errors


@pytest.fixture
def ca(tmp_path):
    webroot = tmp_path / "www"
    webroot.mkdir()
    return DnsCA(webroot=str(webroot))


@pytest.fixture
def client(ca):
    made = client_for(ca)
    account.ensure_present(made, [], True)
    return made


@pytest.fixture
def keep(tmp_path):
    return pending.PendingArea(str(tmp_path / "pending"), BASE + "/dir")


def request_for(tmp_path, names=("www.example.com", "example.com"), **extra):
    out = tmp_path / "out"
    extra.setdefault("name", "www")
    return issuance.CertificateRequest(identifiers=keys.parse_identifiers(list(names)),
                                       private_key_path=str(out / "key.pem"), fullchain_path=str(out / "full.pem"),
                                       certificate_path=str(out / "cert.pem"), chain_path=str(out / "chain.pem"),
                                       **extra)


def published_order(client, ca, names):
    made = order.create(client, keys.parse_identifiers(list(names)))
    challenge.publish(ca.webroot, made.challenge_files)
    return made


# ---- DNS-01 -------------------------------------------------------------------------------------------------


def test_issue_with_dns_publishes_the_records_finishes_and_removes_them(ca, client, tmp_path):
    solver = FakeSolver()
    result = issuance.issue_with_dns(client, request_for(tmp_path, challenge="dns-01"), solver, "missing")
    assert result["renewed"] and result["reason"] == "missing"
    assert sorted(r["identifier"] for r in result["challenge_records"]) == ["example.com", "www.example.com"]
    assert all(r["name"].startswith("_acme-challenge.") for r in result["challenge_records"])
    assert len(solver.removed) == 2 and solver.published == [] and "dns_cleanup_errors" not in result
    assert (tmp_path / "out" / "full.pem").exists()
    # the dns-01 challenges were the ones answered, never the http-01 ones
    posted = [r.url for r in ca.requests if r.method == "POST" and "/chall" in r.url]
    assert posted and all("/chall-dns/" in url for url in posted)


def test_dns_cleanup_errors_after_issuance_are_reported_not_raised(ca, client, tmp_path):
    solver = FakeSolver(cleanup_errors=["example.com: provider said no"])
    result = issuance.issue_with_dns(client, request_for(tmp_path, challenge="dns-01"), solver)
    assert result["dns_cleanup_errors"] == ["example.com: provider said no"]
    assert result["certificate"]["serial"]   # the certificate is not lost over a cleanup problem


def test_a_failed_dns_validation_removes_the_records_and_carries_the_cleanup_errors(ca, client, tmp_path):
    ca.invalid_names.add("example.com")
    solver = FakeSolver(cleanup_errors=["example.com: zone is read-only"])
    with pytest.raises(AuthorizationFailed) as err:
        issuance.issue_with_dns(client, request_for(tmp_path, challenge="dns-01"), solver)
    assert err.value.details["dns_cleanup_errors"] == ["example.com: zone is read-only"]
    assert solver.published == [] and len(solver.removed) == 2
    assert not (tmp_path / "out").exists()


def test_dns_request_on_a_ca_without_dns01_names_the_offered_challenges(ca, client, tmp_path):
    made = order.create(client, keys.parse_identifiers(["www.example.com"]), challenge_type="dns-01")
    for authz in ca.orders[made.url]["authorizations"]:
        ca.authzs[authz]["challenges"] = [c for c in ca.authzs[authz]["challenges"] if c["type"] == "http-01"]
    with pytest.raises(EngineError, match=r"no dns-01 challenge for www.example.com \(offered: http-01\)"):
        issuance.finish(client, request_for(tmp_path, names=("www.example.com",), challenge="dns-01"), made.url)
    assert not (tmp_path / "out").exists()


# ---- a caller's CSR -------------------------------------------------------------------------------------------


def test_a_callers_csr_is_finalized_and_no_key_is_written(ca, client, tmp_path):
    key = keys.generate_private_key("ecdsa-p256")
    idents = keys.parse_identifiers(["csr.example.com"])
    csr = keys.make_csr(key, idents)
    request = issuance.CertificateRequest(identifiers=idents, certificate_path=str(tmp_path / "o" / "cert.pem"),
                                          csr_pem=csr)
    result = issuance.issue_with_webroot(client, request, ca.webroot)
    assert sorted(os.listdir(tmp_path / "o")) == ["cert.pem", "cert.pem.acme.json"]
    leaf = keys.parse_certificate((tmp_path / "o" / "cert.pem").read_bytes())
    assert leaf.public_key_sha256 == keys.public_key_sha256(key)
    metadata = json.loads((tmp_path / "o" / "cert.pem.acme.json").read_text())
    assert metadata["key_type"] is None and metadata["serial"] == result["certificate"]["serial"]


def test_a_csr_for_other_names_is_refused_before_anything_is_written(ca, client, tmp_path):
    key = keys.generate_private_key("ecdsa-p256")
    csr = keys.make_csr(key, keys.parse_identifiers(["other.example.com"]))
    request = issuance.CertificateRequest(identifiers=keys.parse_identifiers(["asked.example.com"]),
                                          certificate_path=str(tmp_path / "o" / "cert.pem"), csr_pem=csr)
    made = published_order(client, ca, ["other.example.com"])
    with pytest.raises(InputError) as err:
        issuance.finish(client, request, made.url)
    assert err.value.field == "order_url" and "covers other.example.com, not the requested asked.example.com" in (
        err.value.msg)
    assert not (tmp_path / "o").exists()


# ---- the pending area ---------------------------------------------------------------------------------------


def test_finish_keeps_the_order_and_the_certificate_in_the_pending_area(ca, client, tmp_path, keep):
    made = published_order(client, ca, ["www.example.com", "example.com"])
    result = issuance.finish(client, request_for(tmp_path), made.url, keep=keep)
    kept = keep.issued("www")
    assert kept["order"]["order_url"] == made.url and kept["order"]["serial"] == result["certificate"]["serial"]
    assert kept["private_key"] == (tmp_path / "out" / "key.pem").read_bytes()
    assert kept["fullchain"] == (tmp_path / "out" / "full.pem").read_bytes()


def test_a_failure_after_the_download_leaves_the_certificate_kept_and_from_pending_writes_it(
        ca, client, tmp_path, keep, monkeypatch):
    made = published_order(client, ca, ["www.example.com", "example.com"])
    real_write = issuance.write_outputs

    def broken(*args, **kwargs):
        raise EngineError("disk full")
    monkeypatch.setattr(issuance, "write_outputs", broken)
    with pytest.raises(EngineError, match="disk full"):
        issuance.finish(client, request_for(tmp_path), made.url, keep=keep)
    assert not (tmp_path / "out" / "full.pem").exists()
    kept = keep.issued("www")
    assert kept is not None and keys.key_matches_certificate(keys.load_private_key(kept["private_key"], "k"),
                                                             kept["certificate"])
    monkeypatch.setattr(issuance, "write_outputs", real_write)
    orders = ca.orders_created
    result = issuance.from_pending(request_for(tmp_path), keep, client.directory_url, client.account_uri)
    assert result["from_pending"] and result["order_url"] == made.url and ca.orders_created == orders
    assert result["certificate"]["serial"] == kept["order"]["serial"]
    assert (tmp_path / "out" / "key.pem").read_bytes() == kept["private_key"]
    assert (tmp_path / "out" / "cert.pem").read_bytes() == kept["certificate"]
    metadata = json.loads((tmp_path / "out" / "cert.pem.acme.json").read_text())
    assert metadata["order_url"] == made.url and metadata["account_uri"] == client.account_uri


def test_a_resumed_finalized_order_completes_with_the_kept_key(ca, client, tmp_path, keep, monkeypatch):
    made = published_order(client, ca, ["www.example.com", "example.com"])
    monkeypatch.setattr(issuance, "write_outputs", lambda *a, **k: (_x for _x in ()).throw(EngineError("crash")))
    with pytest.raises(EngineError):
        issuance.finish(client, request_for(tmp_path), made.url, keep=keep)
    monkeypatch.undo()
    kept_key = keep.key("www")
    # without the pending area the order cannot be completed: a fresh key does not match the finalized CSR
    with pytest.raises(InputError, match="already finalized with another key"):
        issuance.finish(client, request_for(tmp_path / "elsewhere"), made.url)
    result = issuance.finish(client, request_for(tmp_path), made.url, keep=keep)
    assert result["order_url"] == made.url
    assert (tmp_path / "out" / "key.pem").read_bytes() == kept_key


def test_a_kept_key_of_another_order_is_not_used(ca, client, tmp_path, keep):
    other = keys.private_key_to_pem(keys.generate_private_key("ecdsa-p256"))
    keep.save_order("www", BASE + "/order/elsewhere", other, ["www.example.com", "example.com"])
    made = published_order(client, ca, ["www.example.com", "example.com"])
    issuance.finish(client, request_for(tmp_path), made.url, keep=keep)
    assert (tmp_path / "out" / "key.pem").read_bytes() != other
    assert keep.order("www")["order_url"] == made.url and keep.key("www") != other


def test_an_invalid_order_is_dropped_from_the_pending_area(ca, client, tmp_path, keep):
    ca.invalid_names.add("www.example.com")
    made = order.create(client, keys.parse_identifiers(["www.example.com", "example.com"]))
    challenge.publish(ca.webroot, made.challenge_files)
    keep.save_order("www", made.url, None, ["www.example.com", "example.com"])
    with pytest.raises(AuthorizationFailed):
        issuance.finish(client, request_for(tmp_path), made.url, keep=keep)
    assert keep.order("www") is not None   # failed validation: not the order's status (yet), kept
    with pytest.raises(EngineError) as err:
        issuance.finish(client, request_for(tmp_path), made.url, keep=keep)
    assert err.value.details["order_status"] == "invalid"
    assert keep.order("www") is None and keep.names() == []


def test_an_order_the_ca_no_longer_knows_is_dropped_but_other_failures_keep_it(ca, client, tmp_path, keep):
    url = BASE + "/order/4242"
    keep.save_order("www", url, None, ["www.example.com", "example.com"])
    ca.fail_next["/order/4242"] = (403, "unauthorized", "not yours today")
    with pytest.raises(ACMEProblem) as err:
        issuance.finish(client, request_for(tmp_path), url, keep=keep)
    assert err.value.status == 403 and keep.order("www")["order_url"] == url
    ca.fail_next["/order/4242"] = (404, "malformed", "no such order")
    with pytest.raises(ACMEProblem) as err:
        issuance.finish(client, request_for(tmp_path), url, keep=keep)
    assert err.value.status == 404 and keep.order("www") is None


def test_from_pending_ignores_entries_that_do_not_fit(ca, client, tmp_path, keep):
    assert issuance.from_pending(request_for(tmp_path), keep, client.directory_url) is None   # nothing kept
    made = published_order(client, ca, ["www.example.com", "example.com"])
    issuance.finish(client, request_for(tmp_path / "first"), made.url, keep=keep)
    other_names = request_for(tmp_path, names=("www.example.com",))
    assert issuance.from_pending(other_names, keep, client.directory_url) is None
    kept = keep.issued("www")
    wrong_key = keys.private_key_to_pem(keys.generate_private_key("ecdsa-p256"))
    keep.save_order("www", made.url, wrong_key, ["www.example.com", "example.com"])
    keep.save_issued("www", made.url, kept["certificate"], kept["chain"], kept["fullchain"],
                     kept["order"]["serial"], kept["order"]["not_after"], kept["order"]["identifiers"])
    assert issuance.from_pending(request_for(tmp_path), keep, client.directory_url) is None
    assert not (tmp_path / "out").exists() and keep.names() == ["www"]   # left as it is


# ---- checks and small pieces ----------------------------------------------------------------------------------


def test_a_directory_that_is_not_writable_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(issuance.os, "access", lambda path, mode: False)
    with pytest.raises(InputError, match="private_key_path: cannot write .* is not writable by this user"):
        request_for(tmp_path).check()


def test_write_outputs_needs_a_key_path_for_a_key(tmp_path, ca, client):
    made = published_order(client, ca, ["www.example.com"])
    key = keys.generate_private_key("ecdsa-p256")
    issued = order.complete(client, made.url, lambda ids: keys.make_csr(key, ids),
                            expected_public_key=keys.public_key_sha256(key))
    request = issuance.CertificateRequest(identifiers=issued.info.identifiers,
                                          certificate_path=str(tmp_path / "o" / "cert.pem"))
    with pytest.raises(InputError) as err:
        issuance.write_outputs(request, keys.private_key_to_pem(key), issued, {})
    assert err.value.field == "private_key_path" and not (tmp_path / "o").exists()
    written = issuance.write_outputs(request, None, issued, {"serial": issued.info.serial})
    assert sorted(os.path.basename(p) for p in written) == ["cert.pem", "cert.pem.acme.json"]


def test_not_due_result_carries_the_decisions_warnings(tmp_path):
    request = request_for(tmp_path)
    decision = policy.RenewalDecision(due=False, reason=policy.Reason.NOT_DUE, detail="fine",
                                      warnings=["the CA's window is odd"])
    result = issuance.not_due_result(decision, request)
    assert result["warnings"] == ["the CA's window is odd"] and "certificate" not in result
    assert result["reason"] == "not_due" and not result["changed"]


def test_a_refused_finalize_is_resumed_with_the_key_kept_before_it(ca, client, tmp_path, keep):
    made = published_order(client, ca, ["www.example.com", "example.com"])
    ca.fail_next[made.url[len(BASE):] + "/finalize"] = (403, "unauthorized", "finalize refused for now")
    with pytest.raises(ACMEProblem, match="finalize refused"):
        issuance.finish(client, request_for(tmp_path), made.url, keep=keep)
    kept_key = keep.key("www")
    assert kept_key and keep.order("www")["order_url"] == made.url and keep.issued("www") is None
    assert ca.orders[made.url]["status"] == "ready"
    result = issuance.finish(client, request_for(tmp_path), made.url, keep=keep)
    leaf = keys.parse_certificate(result["certificate_pem"].encode())
    assert leaf.public_key_sha256 == keys.public_key_sha256(keys.load_private_key(kept_key, "k"))
    assert (tmp_path / "out" / "key.pem").read_bytes() == kept_key
