"""ACME Renewal Information against a local stand-in for the CA's renewalInfo and newOrder.

Engine level (CertificateStore.info with an AcmeClient, order.create with replaces) over plain
HTTP on 127.0.0.1, and the cert_store / acme_order modules through ansible-playbook over HTTPS.
"""
import datetime
import json

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import ari, keys, order
from ansible_collections.autotls.acme.plugins.module_utils._engine.client import AcmeClient
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import ACMEProblem
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from ..conftest import run_tasks
from .conftest import store_for

UTC = datetime.timezone.utc
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)


def parse(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def client_for(server):
    client = AcmeClient(server.directory_url, keys.generate_private_key("ecdsa-p256"), retry_timeout=2,
                        request_timeout=5)
    client.net.sleep = lambda seconds: None
    return client


def status_of(storage, store, name):
    return json.loads(storage.load(store._entry(name) + bundles.STATUS))


@pytest.fixture
def now():
    return datetime.datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def stored(ca, storage, standin):
    """A 90-day certificate (1 day old: the lifetime policy says not due) stored as "www"."""
    store = store_for(storage, standin)
    bundle = ca.bundle()
    store.put("www", bundle)
    return store, ari.certificate_id(bundle.certificate)


# ---- due-ness from the CA's window -----------------------------------------------------------------

def test_the_stored_pointer_carries_the_ari_id(stored):
    store, cert_id = stored
    assert store.metadata("www")["ari_id"] == cert_id
    item = store.info(["www"])["certificates"][0]
    assert item["ari_id"] == cert_id and item["ari_window_start"] is None   # no client: lifetime policy only


def test_window_in_the_past_is_due_now(stored, standin, now):
    store, cert_id = stored
    standin.window = (now - 3 * DAY, now - 2 * DAY)
    item = store.info(["www"], ari_client=client_for(standin), now=now)["certificates"][0]
    assert item["due"] is True
    assert item["reason"] == "ari_window"
    assert item["reason_detail"].startswith("ARI window passed (suggested %s" % bundles._iso(now - 3 * DAY))
    assert item["ari_window_end"] == bundles._iso(now - 2 * DAY)
    assert [path for _m, path, _b in standin.seen(prefix="/renewal-info/")] == ["/renewal-info/" + cert_id]


def test_open_window_with_selected_moment_passed_is_due(stored, standin, now):
    store, _cert_id = stored
    standin.window = (now - HOUR, now)   # any moment chosen in it lies in the past ... except now itself: due too
    item = store.info(["www"], ari_client=client_for(standin), now=now)["certificates"][0]
    assert item["due"] is True and parse(item["ari_selected"]) <= now


def test_window_in_the_future_is_not_due_and_the_moment_lies_inside_it(stored, standin, now):
    store, _cert_id = stored
    start, end = now + 10 * DAY, now + 12 * DAY
    standin.window = (start, end)
    standin.explanation_url = "https://ca.test/why"
    result = store.info(["www"], ari_client=client_for(standin), now=now)
    item = result["certificates"][0]
    assert item["due"] is False and result["not_due"] == ["www"]
    assert item["reason"] == "not_due"
    assert item["reason_detail"] == "not due (ARI suggests renewal after %s; selected %s)" % (
        bundles._iso(start), item["ari_selected"])
    assert (item["ari_window_start"], item["ari_window_end"]) == (bundles._iso(start), bundles._iso(end))
    assert start <= parse(item["ari_selected"]) <= end
    assert item["renew_at"] == item["ari_selected"]
    assert item["ari_explanation_url"] == "https://ca.test/why" and item["ari_error"] is None
    # the moment comes (days later, so the CA is asked again): same window, same moment, now due
    later = store.info(["www"], ari_client=client_for(standin), now=parse(item["ari_selected"]))["certificates"][0]
    assert later["due"] is True and later["reason"] == "ari_window"
    assert later["reason_detail"].startswith("ARI window open")
    assert later["ari_selected"] == item["ari_selected"]
    assert len(standin.seen(prefix="/renewal-info/")) == 2


def test_ari_overrides_the_lifetime_window_both_ways(ca, storage, standin, now):
    store = store_for(storage, standin)
    store.put("old", ca.bundle(not_before=now - 70 * DAY))    # 20 of 90 days left: the lifetime policy says due
    store.put("young", ca.bundle(not_before=now - DAY))
    assert store.info(now=now)["due"] == ["old"]
    standin.window = (now + 5 * DAY, now + 6 * DAY)
    result = store.info(ari_client=client_for(standin), now=now)
    assert result["due"] == [] and sorted(result["not_due"]) == ["old", "young"]


def test_expired_certificates_stay_due_and_are_not_asked_about(ca, storage, standin, now):
    store = store_for(storage, standin)
    store.put("gone", ca.bundle(not_before=now - 100 * DAY))
    standin.window = (now + 5 * DAY, now + 6 * DAY)
    item = store.info(["gone"], ari_client=client_for(standin), now=now)["certificates"][0]
    assert item["due"] is True and item["reason"] == "expired"
    assert standin.requests == []   # RFC 9773 4.3: not after expiry (not even the directory)


def test_a_certificate_without_aki_follows_the_lifetime_policy(ca, storage, standin, now):
    store = store_for(storage, standin)
    store.put("noaki", ca.bundle(aki=False))
    item = store.info(["noaki"], ari_client=client_for(standin), now=now)["certificates"][0]
    assert item["ari_id"] is None and item["due"] is False and item["reason"] == "not_due"
    assert standin.requests == []


# ---- Retry-After: stored and honoured ----------------------------------------------------------------

def test_retry_after_is_stored_and_honoured(stored, standin, storage, now):
    store, cert_id = stored
    standin.window = (now + 10 * DAY, now + 12 * DAY)
    standin.retry_after = "7200"
    first = store.info(["www"], ari_client=client_for(standin), now=now)["certificates"][0]
    assert first["ari_next_check"] == bundles._iso(now + 2 * HOUR)
    cached = status_of(storage, store, "www")["ari"]
    assert cached["cert_id"] == cert_id and cached["next_check"] == bundles._iso(now + 2 * HOUR)
    assert cached["selected"] == first["ari_selected"]
    asked = len(standin.requests)

    # within Retry-After: no request at all (not even the directory), same answer
    again = store.info(["www"], ari_client=client_for(standin), now=now + HOUR)["certificates"][0]
    assert len(standin.requests) == asked
    assert again["ari_selected"] == first["ari_selected"] and again["due"] is False

    # after it: asked again; the window did not change, so neither does the chosen moment
    after = store.info(["www"], ari_client=client_for(standin), now=now + 2 * HOUR)["certificates"][0]
    assert len(standin.seen(prefix="/renewal-info/")) == 2
    assert after["ari_selected"] == first["ari_selected"]
    assert after["ari_next_check"] == bundles._iso(now + 4 * HOUR)

    # the CA moves the window (say, ahead of a revocation): a new moment inside the new window
    standin.window = (now - DAY, now + DAY)
    moved = store.info(["www"], ari_client=client_for(standin), now=now + 4 * HOUR)["certificates"][0]
    assert now - DAY <= parse(moved["ari_selected"]) <= now + DAY
    assert moved["ari_window_start"] == bundles._iso(now - DAY)


@pytest.mark.parametrize("header, seconds", [(None, 6 * 3600), ("0", 60), ("99999999", 7 * 86400)])
def test_retry_after_defaults_and_bounds(stored, standin, now, header, seconds):
    store, _cert_id = stored
    standin.window = (now + 10 * DAY, now + 12 * DAY)
    standin.retry_after = header
    item = store.info(["www"], ari_client=client_for(standin), now=now)["certificates"][0]
    assert item["ari_next_check"] == bundles._iso(now + datetime.timedelta(seconds=seconds))


def test_check_mode_asks_but_caches_nothing(stored, standin, storage, now):
    store, _cert_id = stored
    standin.window = (now + 10 * DAY, now + 12 * DAY)
    before = storage.load(store._entry("www") + bundles.STATUS)
    item = store.info(["www"], ari_client=client_for(standin), now=now, ari_cache=False)["certificates"][0]
    assert item["ari_window_start"] and storage.load(store._entry("www") + bundles.STATUS) == before


def test_caching_keeps_an_attempt_recorded_meanwhile(stored, standin, storage, now):
    """Another machine records an attempt while info() waits for the CA: both survive."""
    store, _cert_id = stored
    standin.window = (now + 10 * DAY, now + 12 * DAY)
    standin.on_renewal_info = lambda: store.record_attempt("www", "connection refused", now=now)
    store.info(["www"], ari_client=client_for(standin), now=now)
    status = status_of(storage, store, "www")
    assert status["last_error"] == "connection refused" and status["consecutive_failures"] == 1
    assert status["ari"]["start"] == bundles._iso(now + 10 * DAY)
    item = store.info(["www"], ari_client=client_for(standin), now=now)["certificates"][0]
    assert item["last_error"] == "connection refused" and item["ari_window_start"] == bundles._iso(now + 10 * DAY)


def test_a_renewed_certificate_is_not_judged_by_its_predecessors_answer(stored, ca, standin, now):
    store, old_id = stored
    standin.window = (now - 3 * DAY, now - 2 * DAY)
    assert store.info(["www"], ari_client=client_for(standin), now=now)["due"] == ["www"]
    renewed = ca.bundle()
    store.put("www", renewed)
    standin.window = (now + 50 * DAY, now + 52 * DAY)
    item = store.info(["www"], ari_client=client_for(standin), now=now)["certificates"][0]
    assert item["ari_id"] == ari.certificate_id(renewed.certificate) != old_id
    assert item["due"] is False
    assert [p for _m, p, _b in standin.seen(prefix="/renewal-info/")][-1] == "/renewal-info/" + item["ari_id"]


# ---- when the CA cannot help -------------------------------------------------------------------------

def test_directory_without_renewal_info_uses_the_lifetime_policy(ca, storage, standin_without_ari, now):
    server = standin_without_ari
    store = store_for(storage, server)
    store.put("old", ca.bundle(not_before=now - 70 * DAY))
    store.put("young", ca.bundle())
    result = store.info(ari_client=client_for(server), now=now)
    by_name = {item["name"]: item for item in result["certificates"]}
    assert result["due"] == ["old"] and by_name["old"]["reason"] == "lifetime_window"
    assert by_name["young"]["reason"] == "not_due"
    assert all(by_name[name]["ari_window_start"] is None and by_name[name]["ari_error"] is None
               for name in by_name)
    assert [path for _m, path, _b in server.requests] == ["/dir"]   # the directory, once; no renewalInfo
    # noted in storage for a day: the runs of that day ask nothing, the lifetime policy decides
    again = store.info(ari_client=client_for(server), now=now + 23 * HOUR)
    assert again["due"] == ["old"] and len(server.requests) == 1
    store.info(ari_client=client_for(server), now=now + 25 * HOUR)
    assert [path for _m, path, _b in server.requests] == ["/dir", "/dir"]   # the next day: read again


def test_a_failing_endpoint_falls_back_and_is_not_hammered(ca, storage, standin, now):
    store = store_for(storage, standin)
    store.put("old", ca.bundle(not_before=now - 70 * DAY))
    store.put("young", ca.bundle())
    standin.renewal_status = 404
    result = store.info(ari_client=client_for(standin), now=now)
    by_name = {item["name"]: item for item in result["certificates"]}
    assert result["due"] == ["old"]   # the lifetime policy
    for item in by_name.values():
        assert "no renewal information for you" in item["ari_error"]
        assert item["ari_next_check"] == bundles._iso(now + HOUR)
    asked = len(standin.requests)
    again = store.info(ari_client=client_for(standin), now=now + HOUR / 2)
    assert len(standin.requests) == asked and again["due"] == ["old"]
    assert "no renewal information" in again["certificates"][0]["ari_error"]
    standin.renewal_status, standin.window = 200, (now + 5 * DAY, now + 6 * DAY)
    healed = store.info(ari_client=client_for(standin), now=now + HOUR)
    assert healed["due"] == [] and all(item["ari_error"] is None for item in healed["certificates"])


def test_an_unreachable_ca_is_tried_once_per_call(ca, storage, standin, now):
    store = store_for(storage, standin)
    for name in ("a", "b", "c"):
        store.put(name, ca.bundle(not_before=now - 70 * DAY))
    dead = AcmeClient("http://127.0.0.1:9/dir", keys.generate_private_key("ecdsa-p256"), retry_timeout=0.1,
                      request_timeout=2)
    result = store.info(ari_client=dead, now=now)
    assert result["due"] == ["a", "b", "c"]   # the lifetime policy
    errors = [item["ari_error"] for item in result["certificates"]]
    assert "cannot read the ACME directory" in errors[0]
    assert all(error.startswith("not asked: ") for error in errors[1:])


# ---- orders with replaces ------------------------------------------------------------------------------

IDENTIFIERS = [keys.Identifier("dns", "www.example.com")]
CERT_ID = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"


def test_already_replaced_is_ordered_again_without_replaces(standin):
    pending = order.create(client_for(standin), IDENTIFIERS, replaces=CERT_ID)
    orders = standin.seen("POST", "/new-order")
    assert len(orders) == 2
    assert orders[0][2]["replaces"] == CERT_ID and "replaces" not in orders[1][2]
    assert orders[1][2]["identifiers"] == [{"type": "dns", "value": "www.example.com"}]
    assert pending.replaces is None
    assert pending.replaces_dropped == "alreadyReplaced: this certificate was already replaced"
    assert pending.to_result()["replaces_dropped"] == pending.replaces_dropped
    assert pending.status == "pending" and pending.url == standin.url + "/order/1"
    assert [f.identifier for f in pending.challenge_files] == ["www.example.com"]


def test_a_malformed_replaces_refusal_is_ordered_again_without_it(standin):
    standin.refuse_replaces = (400, "malformed", "replaces: no such certificate")
    pending = order.create(client_for(standin), IDENTIFIERS, replaces=CERT_ID)
    assert pending.replaces_dropped == "malformed: replaces: no such certificate"
    assert len(standin.seen("POST", "/new-order")) == 2


def test_other_refusals_are_not_retried(standin):
    standin.refuse_replaces = (403, "rejectedIdentifier", "policy forbids www.example.com")
    with pytest.raises(ACMEProblem) as err:
        order.create(client_for(standin), IDENTIFIERS, replaces=CERT_ID)
    assert err.value.code == "rejectedIdentifier"
    assert len(standin.seen("POST", "/new-order")) == 1


def test_an_accepted_replaces_is_sent_once_and_reported(standin):
    standin.refuse_replaces = None
    pending = order.create(client_for(standin), IDENTIFIERS, replaces=CERT_ID)
    orders = standin.seen("POST", "/new-order")
    assert len(orders) == 1 and orders[0][2]["replaces"] == CERT_ID
    assert pending.replaces == CERT_ID and pending.replaces_dropped is None
    assert pending.to_result()["replaces"] == CERT_ID


def test_replaces_is_not_sent_to_a_directory_without_renewal_info(standin_without_ari):
    pending = order.create(client_for(standin_without_ari), IDENTIFIERS, replaces=CERT_ID)
    orders = standin_without_ari.seen("POST", "/new-order")
    assert len(orders) == 1 and "replaces" not in orders[0][2]
    assert pending.replaces is None and pending.replaces_dropped is None
    assert "replaces" not in pending.to_result() and "replaces_dropped" not in pending.to_result()


# ---- the modules, through ansible-playbook ---------------------------------------------------------------

def run_playbook(workdir, tasks, check=False):
    return run_tasks(workdir, tasks, check)[0]  # the registered results


def test_modules_ask_ari_and_send_replaces(ca, tls_standin, tmp_path, now):
    server = tls_standin
    store_path = str(tmp_path / "store")
    store = bundles.CertificateStore(open_backend("local", {"local_path": store_path}), server.directory_url)
    bundle = ca.bundle()
    store.put("www", bundle)
    cert_id = ari.certificate_id(bundle.certificate)
    server.window = (now - 2 * DAY, now - DAY)
    account_key = keys.private_key_to_pem(keys.generate_private_key("ecdsa-p256")).decode()
    info_args = {"backend": "local", "local_path": store_path, "acme_directory": server.directory_url,
                 "ari": True, "ca_bundle": server.ca_file}
    order_args = {"acme_directory": server.directory_url, "ca_bundle": server.ca_file,
                  "account_key_content": account_key}
    results = run_playbook(tmp_path, [
        {"name": "info", "autotls.acme.cert_store_info": info_args, "register": "info"},
        {"name": "single", "register": "single", "autotls.acme.acme_order": dict(
            order_args, identifiers=["www.example.com"], replaces="{{ info.certificates[0].ari_id }}",
            private_key_path=str(tmp_path / "www.key"), fullchain_path=str(tmp_path / "www.pem"))},
        {"name": "many", "register": "many", "autotls.acme.acme_order": dict(order_args, certificates=[
            {"name": "www", "identifiers": ["www.example.com"], "replaces": "{{ info.certificates[0].ari_id }}",
             "private_key_path": str(tmp_path / "b.key"), "fullchain_path": str(tmp_path / "b.pem")},
            {"name": "api", "identifiers": ["api.example.com"],
             "private_key_path": str(tmp_path / "c.key"), "fullchain_path": str(tmp_path / "c.pem")}])},
    ])
    item = results["info"]["certificates"][0]
    assert results["info"]["changed"] is False and results["info"]["due"] == ["www"]
    assert item["ari_id"] == cert_id and item["reason"] == "ari_window"
    assert item["reason_detail"].startswith("ARI window passed")
    assert item["ari_next_check"] and item["ari_error"] is None
    assert results["single"]["replaces_dropped"].startswith("alreadyReplaced")
    assert results["single"]["order_url"] and "replaces" not in results["single"]
    www, api = results["many"]["certificates"]
    assert www["replaces_dropped"].startswith("alreadyReplaced") and "replaces_dropped" not in api
    with_replaces = [body for _m, _p, body in server.seen("POST", "/new-order") if "replaces" in body]
    assert [body["replaces"] for body in with_replaces] == [cert_id, cert_id]
    assert len(server.seen("POST", "/new-order")) == 5   # 2 + 2 (www, refused then plain) + 1 (api)

    # a cached answer costs no request, and check mode writes nothing
    asked = len(server.seen(prefix="/renewal-info/"))
    status_before = store.storage.load(store._entry("www") + bundles.STATUS)
    checked = run_playbook(tmp_path, [{"name": "info", "autotls.acme.cert_store_info": info_args, "register": "info"}],
                           check=True)
    assert checked["info"]["due"] == ["www"] and len(server.seen(prefix="/renewal-info/")) == asked
    assert store.storage.load(store._entry("www") + bundles.STATUS) == status_before
