"""ACME profiles (draft-ietf-acme-profiles) against the local stand-in (Debian's Pebble 2.4 has none).

The stand-in's directory lists Let's Encrypt's profiles in meta.profiles, takes "profile" in newOrder,
refuses one it does not offer (invalidProfile), and issues certificates whose lifetime follows the
profile: classic and tlsserver 90 days, shortlived 160 hours.
"""
import datetime
import json
import pathlib

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import issuance, keys, order, policy
from ansible_collections.autotls.acme.plugins.module_utils._engine.client import AcmeClient
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import ACMEProblem, InputError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from ..conftest import run_tasks
from .standin import StandIn

SHORTLIVED_DAYS = 160 / 24


def client_for(server):
    client = AcmeClient(server.directory_url, keys.generate_private_key("ecdsa-p256"), retry_timeout=2,
                        request_timeout=5)
    client.net.sleep = lambda seconds: None
    return client


def lifetime_days(info):
    return (info.not_after - info.not_before).total_seconds() / 86400


# ---- engine ----------------------------------------------------------------------------------------

def test_directory_meta_lists_the_profiles(issuing_standin):
    offered = order.profiles_offered(client_for(issuing_standin))
    assert sorted(offered) == ["classic", "shortlived", "tlsserver"]


def test_profile_is_sent_in_new_order_and_lifetime_follows_it(issuing_standin, tmp_path):
    client = client_for(issuing_standin)
    (tmp_path / "webroot").mkdir()
    lifetimes = {}
    for profile in ("shortlived", "classic", None):
        request = issuance.CertificateRequest(
            identifiers=keys.parse_identifiers(["p.example.com"]), private_key_path=str(tmp_path / "key.pem"),
            fullchain_path=str(tmp_path / ("%s.pem" % profile)), profile=profile)
        result = issuance.issue_with_webroot(client, request, str(tmp_path / "webroot"))
        info = keys.parse_certificate(pathlib.Path(request.fullchain_path).read_bytes())
        lifetimes[profile] = lifetime_days(info)
        metadata = json.loads(pathlib.Path(request.metadata_path).read_text())
        assert metadata["profile"] == result["profile"] == (profile or "classic")  # the CA names its default
    sent = [body.get("profile") for _m, _p, body in issuing_standin.seen("POST", "/new-order")]
    assert sent == ["shortlived", "classic", None]
    assert abs(lifetimes["shortlived"] - SHORTLIVED_DAYS) < 0.01
    assert abs(lifetimes["classic"] - 90) < 0.01 and abs(lifetimes[None] - 90) < 0.01


def test_unknown_profile_fails_listing_the_offered_ones_before_ordering(issuing_standin):
    with pytest.raises(InputError) as caught:
        order.create(client_for(issuing_standin), keys.parse_identifiers(["p.example.com"]), profile="longlived")
    assert caught.value.field == "profile"
    assert "'longlived' is not offered" in caught.value.msg
    assert "offered: classic, shortlived, tlsserver" in caught.value.msg
    assert caught.value.details["profiles_offered"] == ["classic", "shortlived", "tlsserver"]
    assert issuing_standin.seen("POST", "/new-order") == []   # nothing was ordered


def test_a_directory_without_profiles_refuses_one(ca):
    server = StandIn(ca=ca, profiles={})
    try:
        with pytest.raises(InputError, match="offers no profiles"):
            order.create(client_for(server), keys.parse_identifiers(["p.example.com"]), profile="shortlived")
        assert server.seen("POST", "/new-order") == []
        order.create(client_for(server), keys.parse_identifiers(["p.example.com"]))   # no profile: fine
    finally:
        server.close()


def test_the_ca_refusing_a_profile_is_reported_with_its_words(issuing_standin):
    # The CA may stop offering a profile after its directory was read: its own problem is reported.
    client = client_for(issuing_standin)
    assert "tlsserver" in order.profiles_offered(client)   # directory read (and kept) now
    issuing_standin.profiles.pop("tlsserver")
    with pytest.raises(ACMEProblem) as caught:
        order.create(client, keys.parse_identifiers(["p.example.com"]), profile="tlsserver")
    assert caught.value.code == "invalidProfile"


def test_a_changed_profile_makes_the_certificate_due(ca):
    key_pem, cert_pem = ca.leaf(days=90)
    info = keys.parse_certificate(cert_pem)
    assert policy.decide(info, profile="shortlived", cert_profile="shortlived").due is False
    assert policy.decide(info, profile=None, cert_profile="shortlived").due is False   # CA default: no change asked
    decision = policy.decide(info, profile="shortlived", cert_profile="classic")
    assert decision.due and decision.reason is policy.Reason.PROFILE_CHANGED
    assert decision.detail == "profile changed (classic -> shortlived)"
    decision = policy.decide(info, profile="shortlived", cert_profile=None)
    assert decision.due and decision.detail == "profile changed (CA default -> shortlived)"


def test_storage_records_the_profile(ca, tmp_path):
    store = bundles.CertificateStore(open_backend("local", {"local_path": str(tmp_path / "s")}), "https://ca/dir")
    bundle = ca.bundle()
    assert store.put("www", bundle, profile="shortlived")["changed"]
    assert store.info(["www"])["certificates"][0]["profile"] == "shortlived"
    assert store.put("www", bundle)["changed"] is False                       # kept when not given
    assert store.put("www", bundle, profile="classic")["changed"] is True     # metadata changed
    assert store.metadata("www")["profile"] == "classic"


# ---- the modules, through ansible-playbook ------------------------------------------------------------

def test_modules_order_with_a_profile_record_it_and_renew_when_it_changes(tls_standin, tmp_path):
    server = tls_standin
    (tmp_path / "webroot").mkdir()
    key = keys.private_key_to_pem(keys.generate_private_key("ecdsa-p256")).decode()
    base = {"acme_directory": server.directory_url, "ca_bundle": server.ca_file, "account_key_content": key,
            "webroot": str(tmp_path / "webroot"), "identifiers": ["p.example.com"],
            "private_key_path": str(tmp_path / "p.key"), "fullchain_path": str(tmp_path / "p.pem")}
    store = {"backend": "local", "local_path": str(tmp_path / "store"), "acme_directory": server.directory_url}
    results, _out = run_tasks(tmp_path, [
        {"name": "short", "register": "short", "autotls.acme.acme_order": dict(base, profile="shortlived")},
        {"name": "again", "register": "again", "autotls.acme.acme_order": dict(base, profile="shortlived")},
        {"name": "store", "register": "stored", "autotls.acme.cert_store": dict(
            store, name="p", private_key_path=base["private_key_path"], fullchain_path=base["fullchain_path"])},
        {"name": "info", "register": "info", "autotls.acme.cert_store_info": store},
        {"name": "check", "register": "check", "check_mode": True,
         "autotls.acme.acme_order": dict(base, profile="classic")},
        {"name": "bad", "register": "bad", "ignore_errors": True,
         "autotls.acme.acme_order": dict(base, profile="longlived")},
        {"name": "classic", "register": "classic", "autotls.acme.acme_order": dict(base, profile="classic")},
        {"name": "many", "register": "many", "autotls.acme.acme_order": dict(
            {k: v for k, v in base.items() if k not in ("identifiers", "private_key_path", "fullchain_path")},
            profile="classic", fail_on_error=False, certificates=[
                {"name": "a", "identifiers": ["a.example.com"], "profile": "shortlived",
                 "private_key_path": str(tmp_path / "a.key"), "fullchain_path": str(tmp_path / "a.pem")},
                {"name": "b", "identifiers": ["b.example.com"],
                 "private_key_path": str(tmp_path / "b.key"), "fullchain_path": str(tmp_path / "b.pem")}])},
    ])
    short = results["short"]
    assert short["renewed"] and short["profile"] == "shortlived"
    assert abs(datetime.datetime.fromisoformat(short["certificate"]["not_after"].replace("Z", "+00:00"))
               - datetime.datetime.fromisoformat(short["certificate"]["not_before"].replace("Z", "+00:00"))
               - datetime.timedelta(hours=160)) < datetime.timedelta(seconds=2)
    assert results["again"]["changed"] is False and results["again"]["reason"] == "not_due"
    assert results["stored"]["certificate"]["profile"] == "shortlived"   # read from the .acme.json beside it
    assert results["info"]["certificates"][0]["profile"] == "shortlived"
    assert results["check"]["changed"] and results["check"]["reason"] == "profile_changed"
    assert results["check"]["reason_detail"] == "profile changed (shortlived -> classic)"
    bad = results["bad"]
    assert bad["failed"] and bad["field"] == "profile"
    assert bad["profiles_offered"] == ["classic", "shortlived", "tlsserver"]
    assert "offered: classic, shortlived, tlsserver" in bad["msg"]
    assert results["classic"]["renewed"] and results["classic"]["reason"] == "profile_changed"
    a, b = results["many"]["certificates"]
    assert a["profile"] == "shortlived" and b["profile"] == "classic"   # the entry's own, else the top level's
    sent = [body.get("profile") for _m, _p, body in server.seen("POST", "/new-order")]
    assert sent[:2] == ["shortlived", "classic"]              # "longlived" never reached the CA
    assert sorted(sent[2:]) == ["classic", "shortlived"]      # the batch orders concurrently: any order
