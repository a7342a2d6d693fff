"""The role's filters: canonical plan, the engine's due decision read (not re-made), deployable set, validation."""
import pytest

from ansible_collections.autotls.acme.plugins.filter import certificate_role as f

GOOD = {
    "certificate_acme_directory": "https://acme.example/dir", "certificate_ca_bundle": "",
    "certificate_storage": {"backend": "local", "local_path": "/var/lib/autotls/store"},
    "certificate_lock_ttl": 900, "certificate_lock_timeout": 300, "certificate_eab": {},
    "certificate_renew_before_days": 0, "certificate_concurrency": 4, "certificate_webroot": "/var/www/acme",
    "certificate_deploy_dir": "/etc/autotls/live", "certificate_key_mode": "0600", "certificate_cert_mode": "0644",
    "certificate_alert_days": 0, "certificate_verify_port": 443,
}


def plan(items, **kwargs):
    return f.certificate_plan(items, "/tmp/stage", **kwargs)


def test_plan_makes_identifiers_canonical_once():
    names = ["I1.Example.com.", "i1.example.com", "www.i1.example.com", "2001:DB8:0::1", "bücher.example"]
    got = plan([{"name": "i1", "identifiers": names}])
    assert got[0]["identifiers"] == ["i1.example.com", "www.i1.example.com", "2001:db8::1", "xn--bcher-kva.example"]
    assert f.certificate_info_requests(got) == [{"name": "i1", "identifiers": got[0]["identifiers"],
                                                 "key_type": "ecdsa-p256", "renew_before_days": None,
                                                 "profile": None}]
    assert plan([{"name": "a", "identifiers": ["a.example.com"]}], renew_before_days=7)[0]["renew_before_days"] == 7


def test_due_reads_the_engines_decision_and_adds_only_force_and_the_lock_recheck():
    p = plan([{"name": n, "identifiers": [n + ".example.com"]} for n in ("a", "b", "c", "d")])
    info = {"certificates": [
        {"name": "a", "exists": True, "due": False, "reason": "not_due", "serial": "1"},
        {"name": "b", "exists": True, "due": True, "reason": "names_changed", "serial": "2"},
        {"name": "c", "exists": False, "due": False, "reason": "backing_off"},
    ]}
    assert f.certificate_due(p, info) == ["b", "d"]            # d: storage does not know it at all
    assert f.certificate_due(p, info, force=True) == ["a", "b", "c", "d"]
    renewed_meanwhile = {"certificates": [info["certificates"][0], dict(info["certificates"][1], serial="3"),
                                          info["certificates"][2]]}
    assert f.certificate_due(p, renewed_meanwhile, seen=info) == ["d"]


def test_deployable_includes_every_stored_valid_certificate_even_after_a_failed_renewal():
    p = plan([{"name": n, "identifiers": [n + ".example.com"]} for n in ("kept", "failed-stored", "failed-new",
                                                                         "expired")])
    info = {"certificates": [
        {"name": "kept", "exists": True, "days_left": 40},
        {"name": "failed-stored", "exists": True, "days_left": 5, "due": True},
        {"name": "failed-new", "exists": False, "due": True},
        {"name": "expired", "exists": True, "days_left": -1, "due": True},
    ]}
    failures = [{"name": "failed-stored"}, {"name": "failed-new"}, {"name": "expired"}]
    assert [c["name"] for c in f.certificate_deployable(p, info, failures)] == ["kept", "failed-stored"]
    assert [c["name"] for c in f.certificate_deployable(p, info, [])] == ["kept", "failed-stored", "failed-new",
                                                                          "expired"]


def test_a_revoked_certificate_is_deployable_only_once_renewed_in_this_run():
    p = plan([{"name": n, "identifiers": [n + ".example.com"]} for n in ("kept", "revoked")])
    info = {"certificates": [{"name": "kept", "exists": True, "days_left": 40},
                             {"name": "revoked", "exists": True, "days_left": 40, "revoked": True}]}
    assert [c["name"] for c in f.certificate_deployable(p, info)] == ["kept"]
    assert [c["name"] for c in f.certificate_deployable(p, info, [], ["revoked"])] == ["kept", "revoked"]


def test_request_errors_accept_the_defaults():
    items = [{"name": "a", "identifiers": ["a.example.com"], "services": ["nginx"]}]
    assert f.certificate_request_errors(items, "ops@example.com", None, {"nginx": {}}, max_identifiers=100, settings=GOOD) == []  # noqa: E501


@pytest.mark.parametrize("change, field", [
    ({"certificate_acme_directory": "http://acme.example/dir"}, "certificate_acme_directory"),
    ({"certificate_lock_ttl": 0}, "certificate_lock_ttl"),
    ({"certificate_lock_timeout": -1}, "certificate_lock_timeout"),
    ({"certificate_storage": {"backend": "s3"}}, "certificate_storage.s3_bucket"),
    ({"certificate_storage": {"backend": "redis"}}, "certificate_storage.redis_url"),
    ({"certificate_storage": {"local_path": "/x"}}, "certificate_storage.backend"),
    ({"certificate_storage": {"backend": "local"}}, "certificate_storage.local_path"),
    ({"certificate_storage": {"backend": "local", "local_path": "/x", "redis_url": "redis://"}},
     "certificate_storage.redis_url"),
    ({"certificate_storage": {"backend": "local", "local_path": "/x", "storage_timeout": 0}},
     "certificate_storage.storage_timeout"),
    ({"certificate_eab": {"kid": "k", "hmac_key": "a+b"}}, "certificate_eab.hmac_key"),
    ({"certificate_renew_before_days": -1}, "certificate_renew_before_days"),
    ({"certificate_concurrency": 0}, "certificate_concurrency"),
    ({"certificate_webroot": "www"}, "certificate_webroot"),
    ({"certificate_deploy_dir": "live"}, "certificate_deploy_dir"),
    ({"certificate_key_mode": "0644"}, "certificate_key_mode"),
    ({"certificate_cert_mode": "abc"}, "certificate_cert_mode"),
    ({"certificate_alert_days": -2}, "certificate_alert_days"),
    ({"certificate_verify_port": 0}, "certificate_verify_port"),
    ({"certificate_ca_bundle": "ca.pem"}, "certificate_ca_bundle"),
])
def test_request_errors_name_the_variable(change, field):
    items = [{"name": "a", "identifiers": ["a.example.com"]}]
    errors = f.certificate_request_errors(items, "ops@example.com", None, {}, max_identifiers=100,
                                          settings=dict(GOOD, **change))
    assert errors and errors[0].startswith(field + ":"), errors


@pytest.mark.parametrize("item, field", [
    ({"name": "a", "identifiers": ["999.1.1.1"]}, "certificate_list[0].identifiers"),
    ({"name": "a", "identifiers": ["n%d.example.com" % i for i in range(101)]}, "certificate_list[0].identifiers"),
    ({"name": "a/b", "identifiers": ["a.example.com"]}, "certificate_list[0].name"),
    ({"name": "a", "identifiers": ["a.example.com"], "renew_before_days": -1}, "certificate_list[0].renew_before_days"),
    ({"name": "a", "identifiers": ["a.example.com"], "private_key_path": "k.pem"}, "certificate_list[0].private_key_path"),  # noqa: E501
    ({"name": "a", "identifiers": ["a.example.com"], "services": ["exim"]}, "certificate_list[0].services"),
])
def test_request_errors_name_the_item(item, field):
    errors = f.certificate_request_errors([item], "ops@example.com", None, {}, max_identifiers=100, settings=GOOD)
    assert errors and errors[0].startswith(field + ":"), errors
    assert f.certificate_request_errors([item, item], "x", None, {}, max_identifiers=0)[0].startswith("certificate_max_identifiers")  # noqa: E501


def test_order_requests_deploy_files_and_status_use_the_plan():
    p = plan([{"name": "a", "identifiers": ["A.example.com."], "reuse_key": True}])
    info = {"certificates": [{"name": "a", "exists": True, "ari_id": "AA.BB", "file_sha256": {"cert.pem": "x"},
                              "not_after": "2030-01-01T00:00:00Z", "not_before": "2029-10-03T00:00:00Z",
                              "renew_at": "2029-12-01T00:00:00Z", "reason": "not_due", "reason_detail": "not due"}]}
    requests = f.certificate_order_requests(p, ["a"], info)
    assert requests[0]["identifiers"] == ["a.example.com"] and requests[0]["replaces"] == "AA.BB"
    files = f.certificate_deploy_files(p, "/etc/live", info)
    assert [x["dest"] for x in files][1] == "/etc/live/a/cert.pem" and files[1]["sha256"] == "x"
    status = f.certificate_status(info, p, now=1893456000 - 86400 * 10)
    assert status[0]["action"] == "kept" and status[0]["why"] == "not due"
    assert f.certificate_min_lifetime_days(info) == pytest.approx(90)
    assert "autotls_certificate_alert" in f.certificate_prometheus(status, now=1)


def test_a_run_is_idle_only_when_nothing_is_due_and_every_host_compared_current():
    quiet = {"quiet": True}
    current = {"stale_groups": [], "missing_groups": []}
    assert f.certificate_idle(quiet, [current, current])
    assert not f.certificate_idle({"quiet": False}, [current])
    assert not f.certificate_idle({}, [current])                                   # nothing looked up
    assert not f.certificate_idle(quiet, [current, {"stale_groups": ["a"], "missing_groups": []}])
    assert not f.certificate_idle(quiet, [current, None])                          # a host that did not compare
    assert not f.certificate_idle(quiet, [current, {"skipped": True}])
    assert not f.certificate_idle(quiet, [current, {"failed": True, "msg": "x"}])
    assert not f.certificate_idle(quiet, [])


def test_tls_checks_of_every_host_use_each_hosts_address():
    p = plan([{"name": n, "identifiers": [n + ".example.com"]} for n in ("a", "b")])
    p[1]["verify"] = False
    info = {"certificates": [{"name": "a", "serial": "0a"}, {"name": "b", "serial": "0b"}]}
    serials = f.certificate_stored_serials(info)
    checks = f.certificate_tls_checks_hosts(p, serials, ["web1", "web2", "web3"], ["10.0.0.9", "192.0.2.2", ""])
    assert [(c["name"], c["address"], c["expected_serial"]) for c in checks] == [
        ("a", "10.0.0.9", "0a"), ("a", "192.0.2.2", "0a"), ("a", "web3", "0a")]
    assert f.certificate_tls_checks_hosts(p, {}, ["web1"], [""]) == []   # nothing stored, nothing to check
    # renewed in this run: the serial as fetched wins over the one looked up
    fetched = [{"certificate": {"name": "a", "serial": "1a"}}, {"name": "b", "failed": True}]
    assert f.certificate_stored_serials(info, fetched) == {"a": "1a", "b": "0b"}
