"""playbooks/site.yml end to end: Pebble, storage, two real nginx web hosts, handlers, verification."""
import json
import os
import pathlib
import re
import subprocess

import pytest

from .conftest import HOSTS, TLS_PORT, nginx_dir, new_orders, recap_changed

pytestmark = pytest.mark.role


def test_issue_serve_idempotent_redeploy_and_renew(fleet):
    orders = new_orders()
    fleet.site()
    assert new_orders() == orders + 1  # one order for the whole fleet
    stored = fleet.stored_serial()
    for addr in HOSTS.values():
        assert fleet.served(addr) == stored  # chain verified against Pebble's root, SNI set
    key = os.path.join(fleet.deploy_dir("web1"), "site", "privkey.pem")
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"

    # Second run: nothing changes, nothing is ordered.
    out = fleet.site()
    assert set(recap_changed(out).values()) == {0}, out[-2000:]
    assert new_orders() == orders + 1
    # ... and nothing else runs: one comparison per host, one TLS check of both hosts, the report, the end
    checked = out.split("Check what every host serves", 1)[1].split("TASK [", 1)[0]
    assert re.search(r"^ok: \[web\d -> localhost\]", checked, re.M) and "skipping" not in checked, out[-3000:]
    assert "End a run that had nothing to do" in out and "work.yml" not in out, out[-3000:]

    # A rebuilt host: its files are gone; they come back from storage, no order.
    for name in ("privkey.pem", "cert.pem", "chain.pem", "fullchain.pem"):
        os.unlink(os.path.join(fleet.deploy_dir("web2"), "site", name))
    fleet.site()
    assert new_orders() == orders + 1
    assert fleet.served(HOSTS["web2"]) == stored

    # Forced renewal: a new serial is served after the handler's reload.
    fleet.site(certificate_force_renewal=True)
    assert new_orders() == orders + 2
    renewed = fleet.stored_serial()
    assert renewed != stored
    for addr in HOSTS.values():
        assert fleet.served(addr) == renewed

    # tls_check's probe verifies the chain unless the caller pins the expected certificate
    from ansible_collections.autotls.acme.plugins.module_utils._engine import probe
    from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import EngineError
    with pytest.raises(EngineError, match="does not verify"):  # Pebble's root is not in the system store
        probe.served_certificate(HOSTS["web1"], TLS_PORT, "site.example.com")
    root = os.path.join(fleet.workdir, "pebble-root.pem")
    assert probe.served_certificate(HOSTS["web1"], TLS_PORT, "site.example.com", ca_bundle=root)["serial"] == renewed
    assert probe.served_certificate(HOSTS["web1"], TLS_PORT, "site.example.com", pinned=True)["serial"] == renewed


def test_load_balanced_http01_reaches_the_other_host(fleet, stack):
    # The CA's DNS sends site.example.com to web2, which did not run the ACME tasks:
    # issuance works only because the token was published on every host.
    for name in fleet.certificates[0]["identifiers"]:
        subprocess.run(["curl", "-s", "-X", "POST", "-d", json.dumps({"host": name, "addresses": [HOSTS["web2"]]}),
                        stack["CHALLTESTSRV"] + "/add-a"], check=True, capture_output=True)
    log = os.path.join(nginx_dir(HOSTS["web2"]), "access.log")
    before = pathlib.Path(log).read_text().count("/.well-known/acme-challenge/") if os.path.exists(log) else 0
    fleet.site(certificate_force_renewal=True)
    after = pathlib.Path(log).read_text().count("/.well-known/acme-challenge/")
    assert after > before  # the CA really validated against web2
    assert fleet.served(HOSTS["web1"]) == fleet.served(HOSTS["web2"]) == fleet.stored_serial()


def test_broken_server_config_fails_loudly_and_keeps_serving(fleet):
    fleet.site()
    old = fleet.stored_serial()
    fleet.write_site("web1", HOSTS["web1"], extra="this is not nginx syntax;\n")
    out = fleet.site(expect_rc=2, certificate_force_renewal=True)
    assert "nginx" in out and ("unknown directive" in out or "emerg" in out), out[-3000:]
    assert fleet.served(HOSTS["web1"]) == old  # the previous certificate keeps being served
    # Fixed configuration: the next run notices the stale server and reloads it.
    fleet.write_site("web1", HOSTS["web1"])
    fleet.site()
    assert fleet.served(HOSTS["web1"]) == fleet.stored_serial() != old


def test_check_mode_orders_nothing(fleet):
    orders = new_orders()
    out = fleet.site(check=True)
    would_order = r"TASK \[autotls.acme.certificate : Would order[^\n]*\n(?:.*\n)*?changed: \[web\d -> localhost\]"
    assert re.search(would_order, out), out[-5000:]
    assert re.search(r"site\s+expires -\s+would renew no existing certificate", out), out[-3000:]
    assert new_orders() == orders
    assert not os.path.exists(os.path.join(fleet.deploy_dir("web1"), "site"))
    assert fleet.stored_serial() is None


def test_check_diff_shows_a_pending_order(fleet):
    fleet.site()
    old = fleet.stored_serial()
    orders = new_orders()
    fleet.certificates[0]["identifiers"] = ["site.example.com", "api.site.example.com"]  # one added, one removed
    fleet.write_inventory()
    out = fleet.site(check=True)  # --check --diff
    pending = out.split("Would order", 1)[1].split("TASK [", 1)[0]
    assert re.search(r"^changed: \[web\d -> localhost\]", pending, re.M), pending
    assert re.search(r'^\+\s+"api.site.example.com",?$', pending, re.M), pending      # name added
    assert re.search(r'^-\s+"www.site.example.com",?$', pending, re.M), pending       # name removed
    assert re.search(r'^-\s+"serial": "%s",?$' % old, pending, re.M), pending         # serial old -> new
    assert re.search(r'^\+\s+"serial": "\(new, from the order\)",?$', pending, re.M), pending
    # every file it would deploy is reported
    deploy = out.split("Files the orders of this run would deploy", 1)[1].split("TASK [", 1)[0]
    for kind in ("privkey", "cert", "chain", "fullchain"):
        assert "changed: %s/site/%s.pem" % (fleet.deploy_dir("web1"), kind) in deploy, deploy
    assert re.search(r"site\s+expires \S+\s+would renew identifiers changed \(missing api.site.example.com, "
                     r"no longer wanted www.site.example.com\)", out), out[-3000:]
    assert new_orders() == orders and fleet.stored_serial() == old


@pytest.mark.parametrize("change, message", [
    ({"certificate_contact_email": None}, "missing required arguments: certificate_contact_email"),
    ({"certificate_contact_email": "ops@"}, "certificate_contact_email: 'ops@' is not a valid email address"),
    ({"certificate_list": [{"name": "w", "identifiers": ["*.example.com"]}]},
     "certificate_list[0].identifiers: '*.example.com' is a wildcard name; HTTP-01 cannot validate wildcards"),
    ({"certificate_list": [{"name": "k", "identifiers": ["k.example.com"], "key_type": "dsa"}]},
     "key_type must be one of"),
    ({"certificate_list": [{"name": "e", "identifiers": []}]},
     "certificate_list[0].identifiers: at least one DNS name or IP address is required"),
    ({"certificate_list": [{"name": "../x", "identifiers": ["x.example.com"]}]},
     "certificate_list[0].name: '../x' contains a path separator"),
])
def test_bad_role_arguments_fail_before_anything_changes(fleet, change, message):
    orders = new_orders()
    if change.get("certificate_contact_email", "") is None:
        fleet.write_inventory(certificate_contact_email=None)
        change = {}
    out = fleet.site(expect_rc=2, **change)
    assert message in out, out[-3000:]
    assert new_orders() == orders
    assert not os.path.exists(os.path.join(fleet.workdir, "account.key"))
    assert not os.path.exists(fleet.store)


def test_nginx_challenge_snippet_is_rendered_and_config_checked(fleet):
    import yaml
    fleet.write_inventory(certificate_webserver_snippet="nginx")
    inventory = yaml.safe_load(pathlib.Path(fleet.inventory).read_text())
    for host, variables in inventory["all"]["children"]["web"]["hosts"].items():
        variables["certificate_nginx_snippet_path"] = os.path.join(fleet.workdir, host + "-acme.conf")
    pathlib.Path(fleet.inventory).write_text(yaml.safe_dump(inventory))
    fleet.site()
    for host, addr in HOSTS.items():
        snippet = pathlib.Path(os.path.join(fleet.workdir, host + "-acme.conf")).read_text()
        assert "location ^~ /.well-known/acme-challenge/" in snippet
        assert "root %s;" % os.path.join(os.path.dirname(nginx_dir(addr)), "webroot-" + addr) in snippet
        # the snippet is usable: nginx accepts it inside a server block
        conf = os.path.join(fleet.workdir, host + "-check.conf")
        with open(conf, "w") as handle:
            handle.write("events {}\nhttp { server { listen 127.0.0.1:1; include %s; } }\n"
                         % os.path.join(fleet.workdir, host + "-acme.conf"))
        check = subprocess.run(["nginx", "-t", "-c", conf], capture_output=True, text=True, check=False)
        assert check.returncode == 0, check.stderr
    assert set(recap_changed(fleet.site()).values()) == {0}
