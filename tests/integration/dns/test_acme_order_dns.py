"""acme_order over DNS-01 against the DNS Pebble, which resolves through the stack's bind9.

The done-when test: *.dns.test and dns.test in one certificate through RFC 2136, deployed, served by nginx
with a chain that verifies, and no _acme-challenge TXT left in bind9 afterwards (asked with dig).
"""
import os
import socket
import ssl
import subprocess
import uuid

import pytest
from cryptography import x509

from ..conftest import ROOT, run_tasks

TLS_PORT = 8444
NGINX = os.path.join(ROOT, "build", "stack", "nginx-127.0.0.1")


def dig_txt(stack, name, server="127.0.0.1"):
    out = subprocess.run(["dig", "+short", "+norecurse", "-p", stack["DNS_PORT"], "@" + server, name, "TXT"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def acme(stack, workdir):
    return {"acme_directory": stack["ACME_DNS_DIRECTORY"], "ca_bundle": stack["ACME_CA_BUNDLE"],
            "account_key_path": os.path.join(str(workdir), "account.key")}


def account_task(stack, workdir):
    return {"name": "Account",
            "autotls.acme.acme_account": dict(acme(stack, workdir), contact=["ops@example.com"], terms_agreed=True)}


def served(addr, name, root):
    context = ssl.create_default_context(cafile=root)   # verifies the chain and the name
    with socket.create_connection((addr, TLS_PORT), timeout=5) as sock:
        with context.wrap_socket(sock, server_hostname=name) as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))


@pytest.fixture
def site():
    path = os.path.join(NGINX, "sites", "dns-test.conf")
    yield path
    if os.path.exists(path):
        os.unlink(path)
    subprocess.run(["nginx", "-p", NGINX + "/", "-c", NGINX + "/nginx.conf", "-s", "reload"], check=False)


@pytest.mark.issuance   # run again under heavy nonce rejection by `make integration`
def test_wildcard_and_base_name_through_rfc2136_served_by_nginx(stack, bind9, tmp_path, site):
    out = tmp_path / "wild"
    order = dict(acme(stack, tmp_path), identifiers=["*.dns.test", "dns.test"], challenge="dns-01", dns=bind9,
                 private_key_path=str(out / "privkey.pem"), fullchain_path=str(out / "fullchain.pem"),
                 certificate_path=str(out / "cert.pem"))
    results, _out = run_tasks(tmp_path, [account_task(stack, tmp_path),
                                         {"name": "Issue", "autotls.acme.acme_order": order, "register": "issued"},
                                         {"name": "Again", "autotls.acme.acme_order": order, "register": "again"}])
    issued = results["issued"]
    assert issued["changed"] and issued["renewed"]
    assert sorted(issued["certificate"]["identifiers"]) == ["*.dns.test", "dns.test"]
    records = issued["challenge_records"]
    assert {r["name"] for r in records} == {"_acme-challenge.dns.test"}        # one name ...
    assert len({r["value"] for r in records}) == 2 and {r["type"] for r in records} == {"TXT"}   # ... two values
    assert not results["again"]["changed"] and results["again"]["reason"] == "not_due"
    # nothing left behind, on either authoritative server
    assert dig_txt(stack, "_acme-challenge.dns.test") == ""
    assert dig_txt(stack, "_acme-challenge.dns.test", stack["DNS_SERVER2"]) == ""
    # deployed to nginx, which serves it for any name under the wildcard and for the base name
    with open(site, "w") as handle:
        handle.write("server { listen 127.0.0.1:%d ssl; server_name dns.test *.dns.test; ssl_certificate %s; "
                     "ssl_certificate_key %s; location / { return 200 ok; } }\n" % (
                         TLS_PORT, out / "fullchain.pem", out / "privkey.pem"))
    subprocess.run(["nginx", "-p", NGINX + "/", "-c", NGINX + "/nginx.conf", "-s", "reload"], check=True)
    import time
    time.sleep(0.5)
    for name in ("dns.test", "www.dns.test", "anything.dns.test"):
        cert = served("127.0.0.1", name, stack["PEBBLE_DNS_ROOT"])
        assert "%x" % cert.serial_number == issued["certificate"]["serial"]


def test_cname_delegation_with_a_key_for_the_delegated_zone_only(stack, bind9, tmp_path):
    dns = dict(bind9, key_name=stack["DNS_DELEG_TSIG_NAME"], key_secret=stack["DNS_DELEG_TSIG_SECRET"])
    results, _out = run_tasks(tmp_path, [account_task(stack, tmp_path), {
        "name": "Issue", "register": "issued", "autotls.acme.acme_order": dict(
            acme(stack, tmp_path), identifiers=["deleg.dns.test", "*.deleg.dns.test"], challenge="dns-01", dns=dns,
            private_key_path=str(tmp_path / "d.key"), fullchain_path=str(tmp_path / "d.pem"))}])
    assert results["issued"]["renewed"]
    assert dig_txt(stack, "_acme-challenge.deleg.validation.test") == ""


def test_two_step_returns_challenge_records(stack, bind9, tmp_path):
    """The first call returns the records; the test publishes them with nsupdate (as a user's own DNS module
    would), then the second call validates and finalizes."""
    name = "two-%s.dns.test" % uuid.uuid4().hex[:6]
    order = dict(acme(stack, tmp_path), identifiers=[name], challenge="dns-01",
                 private_key_path=str(tmp_path / "t.key"), fullchain_path=str(tmp_path / "t.pem"))
    results, _out = run_tasks(tmp_path, [account_task(stack, tmp_path),
                                         {"name": "Start", "autotls.acme.acme_order": order, "register": "first"}])
    first = results["first"]
    assert not first["renewed"] and first["challenge_files"] == []
    [record] = first["challenge_records"]
    assert record["name"] == "_acme-challenge." + name and record["type"] == "TXT" and record["identifier"] == name
    script = "server 127.0.0.1 %s\nupdate add %s. 60 TXT \"%s\"\nsend\n" % (
        stack["DNS_PORT"], record["name"], record["value"])
    subprocess.run(["nsupdate", "-y", "hmac-sha256:%s:%s" % (stack["DNS_TSIG_NAME"], stack["DNS_TSIG_SECRET"])],
                   input=script, text=True, check=True)
    results, _out = run_tasks(tmp_path, [{"name": "Finish", "register": "second", "autotls.acme.acme_order": dict(
        order, order_url=first["order_url"])}])
    assert results["second"]["renewed"]


def test_bad_input_fails_before_anything_is_ordered(stack, bind9, tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_DISPLAY_TRACEBACK", "error")   # any traceback would show
    from ..role.conftest import new_orders  # counts the orders in a Pebble log
    log = os.path.join(ROOT, "build", "stack", "pebble-dns.log")

    def orders():
        return new_orders(log)
    base = dict(acme(stack, tmp_path), private_key_path=str(tmp_path / "k"), fullchain_path=str(tmp_path / "f"))
    cases = {
        "wildcard_http": dict(base, identifiers=["*.dns.test"], webroot=str(tmp_path)),
        "unknown_provider": dict(base, identifiers=["www.dns.test"], challenge="dns-01",
                                 dns=dict(bind9, provider="cloudflare")),
        "missing_provider": dict(base, identifiers=["www.dns.test"], challenge="dns-01",
                                 dns={k: v for k, v in bind9.items() if k != "provider"}),
        "not_base64": dict(base, identifiers=["www.dns.test"], challenge="dns-01", dns=dict(bind9, key_secret="%%")),
        "zone": dict(base, identifiers=["www.dns.test"], challenge="dns-01", dns=dict(bind9, zone="web.test")),
        "unreachable": dict(base, identifiers=["www.dns.test"], challenge="dns-01", dns=dict(bind9, port=1)),
        "refused": dict(base, identifiers=["www.dns.test"], challenge="dns-01",
                        dns=dict(bind9, key_name=stack["DNS_READONLY_TSIG_NAME"],
                                 key_secret=stack["DNS_READONLY_TSIG_SECRET"])),
        "notauth": dict(base, identifiers=["www.dns.test"], challenge="dns-01",
                        dns=dict(bind9, key_name="unknown-key.", key_secret="c2VjcmV0c2VjcmV0c2VjcmV0")),
    }
    tasks = [account_task(stack, tmp_path)]
    tasks += [{"name": name, "autotls.acme.acme_order": args, "register": name, "ignore_errors": True}
              for name, args in cases.items()]
    before = orders()
    results, output = run_tasks(tmp_path, tasks)
    assert orders() == before, "an order was created for bad input"
    expected = {
        "wildcard_http": ("identifiers", "HTTP-01 cannot validate wildcards (use challenge: dns-01)"),
        "unknown_provider": (None, "value of provider must be one of: rfc2136, route53, got: cloudflare"),
        "missing_provider": (None, "missing required arguments: provider found in dns"),
        "not_base64": ("dns.key_secret", "is not base64"),
        "zone": ("dns.zone", "web.test does not contain _acme-challenge.www.dns.test"),
        "unreachable": (None, "cannot reach the DNS server 127.0.0.1 port 1"),
        "refused": (None, "answered REFUSED to an update of zone dns.test"),
        "notauth": (None, "NOTAUTH (BADKEY: the server does not know this key)"),
    }
    for name, (field, words) in expected.items():
        result = results[name]
        assert result["failed"], name
        assert words in result["msg"], (name, result["msg"])
        if field:
            assert result["field"] == field, (name, result)
        # a deliberate fail_json, not a crash: ansible-core shows the stack up to fail_json (or the argument
        # check) with ANSIBLE_DISPLAY_TRACEBACK=error, and a crash as MODULE FAILURE with module_stderr
        assert "module_stderr" not in result and "MODULE FAILURE" not in result["msg"], (name, result)
        assert "fail_json" in result.get("exception", "fail_json") or "argument" in result.get("exception", ""), \
            (name, result.get("exception"))
    assert bind9["key_secret"] not in output


def test_a_lagging_name_server_fails_naming_it_and_the_records_are_removed(stack, bind9, tmp_path):
    """lag.test's second name server never sees updates: the bounded wait fails naming it and the record,
    and the record written on the first server is removed again."""
    name = "lag-%s.lag.test" % uuid.uuid4().hex[:6]
    results, _out = run_tasks(tmp_path, [account_task(stack, tmp_path), {
        "name": "Issue", "register": "issued", "ignore_errors": True, "autotls.acme.acme_order": dict(
            acme(stack, tmp_path), identifiers=[name], challenge="dns-01", dns=dict(bind9, propagation_timeout=3),
            private_key_path=str(tmp_path / "l.key"), fullchain_path=str(tmp_path / "l.pem"))}])
    issued = results["issued"]
    assert issued["failed"]
    assert ("the authoritative server ns2.lag.test (127.0.0.3 port %s) does not answer TXT _acme-challenge.%s"
            % (stack["DNS_PORT"], name)) in issued["msg"]
    assert issued["dns_server"] == "ns2.lag.test" and issued["dns_record"] == "_acme-challenge." + name
    assert dig_txt(stack, "_acme-challenge." + name) == ""     # removed from the primary again
    assert not (tmp_path / "l.pem").exists()
