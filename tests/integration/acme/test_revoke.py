"""acme_revoke against a real Pebble: account key and certificate key, reason codes, idempotence,
check mode. Pebble's management API (/cert-status-by-serial/<serial>) tells what the CA recorded."""
import json
import subprocess

import pytest

from ..conftest import run_tasks

pytestmark = pytest.mark.issuance
REASON_CODES = {"unspecified": 0, "keyCompromise": 1, "affiliationChanged": 3, "superseded": 4,
                "cessationOfOperation": 5}


def ca_status(stack, serial):
    """(Status, Reason) Pebble's management API reports for serial."""
    out = subprocess.run(["curl", "-sS", "--cacert", stack["ACME_CA_BUNDLE"],
                          "https://127.0.0.1:15000/cert-status-by-serial/%s" % serial],
                         check=True, capture_output=True, text=True).stdout
    body = json.loads(out)
    return body["Status"], body.get("Reason")


def test_revoke_with_either_key_every_reason_idempotent(stack, tmp_path):
    acme = {"acme_directory": stack["ACME_DIRECTORY"], "ca_bundle": stack["ACME_CA_BUNDLE"]}
    account = dict(acme, account_key_path=str(tmp_path / "account.key"))
    names = list(REASON_CODES)
    tasks = [{"name": "account", "autotls.acme.acme_account": dict(account, contact=["ops@example.com"],
                                                                   terms_agreed=True)},
             {"name": "issue", "register": "issued", "autotls.acme.acme_order": dict(
                 account, webroot=stack["ACME_WEBROOT"], certificates=[
                     {"name": reason, "identifiers": ["revoke-%s.example.com" % reason.lower()],
                      "private_key_path": str(tmp_path / reason / "privkey.pem"),
                      "certificate_path": str(tmp_path / reason / "cert.pem")} for reason in names])},
             {"name": "check", "register": "check", "check_mode": True, "autotls.acme.acme_revoke": dict(
                 account, certificate_path=str(tmp_path / "keyCompromise" / "cert.pem"), reason="keyCompromise")}]
    for reason in names:
        if reason == "keyCompromise":   # the leaked-key case: signed with the certificate's key, no account
            spec = dict(acme, certificate_path=str(tmp_path / reason / "cert.pem"),
                        private_key_path=str(tmp_path / reason / "privkey.pem"), reason=reason)
        else:
            spec = dict(account, certificate_path=str(tmp_path / reason / "cert.pem"), reason=reason)
        tasks.append({"name": reason, "register": "r_" + reason, "autotls.acme.acme_revoke": spec})
    tasks += [
        {"name": "again", "register": "again", "autotls.acme.acme_revoke": dict(
            account, reason="superseded", certificates=[
                {"name": "superseded", "certificate_path": str(tmp_path / "superseded" / "cert.pem")},
                {"name": "unspecified", "certificate_path": str(tmp_path / "unspecified" / "cert.pem")}])},
        {"name": "bad reason", "register": "bad", "ignore_errors": True, "autotls.acme.acme_revoke": dict(
            account, certificate_path=str(tmp_path / "superseded" / "cert.pem"), reason="stolen")},
        {"name": "wrong key", "register": "wrong", "ignore_errors": True, "autotls.acme.acme_revoke": dict(
            acme, certificate_path=str(tmp_path / "superseded" / "cert.pem"),
            private_key_path=str(tmp_path / "unspecified" / "privkey.pem"))},
    ]
    results, _out = run_tasks(tmp_path, tasks)
    serials = {r["name"]: r["certificate"]["serial"] for r in results["issued"]["certificates"]}

    check = results["check"]
    assert check["changed"] and check["serial"] == serials["keyCompromise"] and check["reason"] == "keyCompromise"
    for reason in names:
        result = results["r_" + reason]
        assert result["changed"] and result["revoked"] and not result["already_revoked"], result
        assert result["signed_with"] == ("certificate key" if reason == "keyCompromise" else "account key")
        assert ca_status(stack, serials[reason]) == ("Revoked", REASON_CODES[reason])
    again = results["again"]
    assert again["changed"] is False and again["revoked_count"] == 0
    assert [(r["name"], r["already_revoked"], r["failed"]) for r in again["certificates"]] == [
        ("superseded", True, False), ("unspecified", True, False)]
    assert results["bad"]["failed"] and "reason" in results["bad"]["msg"] and "stolen" in results["bad"]["msg"]
    assert results["wrong"]["failed"] and results["wrong"]["field"] == "private_key"


def test_check_mode_revokes_nothing(stack, tmp_path):
    account = {"acme_directory": stack["ACME_DIRECTORY"], "ca_bundle": stack["ACME_CA_BUNDLE"],
               "account_key_path": str(tmp_path / "account.key")}
    results, _out = run_tasks(tmp_path, [
        {"name": "account", "autotls.acme.acme_account": dict(account, contact=["ops@example.com"], terms_agreed=True)},
        {"name": "issue", "register": "issued", "autotls.acme.acme_order": dict(
            account, webroot=stack["ACME_WEBROOT"], identifiers=["revoke-check.example.com"],
            private_key_path=str(tmp_path / "k.pem"), certificate_path=str(tmp_path / "c.pem"))}])
    checked, _out = run_tasks(tmp_path, [{"name": "revoke", "register": "r", "autotls.acme.acme_revoke": dict(
        account, certificate_path=str(tmp_path / "c.pem"), reason="superseded")}], check=True)
    serial = results["issued"]["certificate"]["serial"]
    assert checked["r"]["changed"] and checked["r"]["serial"] == serial
    assert ca_status(stack, serial)[0] == "Valid"
