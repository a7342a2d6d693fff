"""The role's filters for several servers on one host: a combined PEM (HAProxy) and several verified endpoints."""
import hashlib

from ansible_collections.autotls.acme.plugins.filter.certificate_role import (
    certificate_deploy_files, certificate_plan, certificate_tls_checks)
from ansible_collections.autotls.acme.plugins.module_utils._engine.deployed import is_concatenation as _is_concatenation

ENTRY = {"name": "mail", "identifiers": ["mail.example.com"], "combined_path": "/etc/haproxy/mail.pem",
         "verify_endpoints": [{"port": 443}, {"port": 587, "starttls": "smtp"},
                              {"port": 993, "address": "127.0.0.9"}]}


def test_combined_pem_is_a_key_file_made_of_the_key_and_the_full_chain():
    plan = certificate_plan([ENTRY], "/stage")
    [combined] = [f for f in certificate_deploy_files(plan, "/live") if f["dest"] == "/etc/haproxy/mail.pem"]
    assert combined == {"group": "mail", "key": True, "dest": "/etc/haproxy/mail.pem",
                        "srcs": ["/stage/mail/privkey.pem", "/stage/mail/fullchain.pem"]}
    info = {"certificates": [{"name": "mail", "file_sha256": {"privkey.pem": "k", "fullchain.pem": "f"}}]}
    [compared] = [f for f in certificate_deploy_files(plan, "/live", info) if f["dest"] == "/etc/haproxy/mail.pem"]
    assert compared["sha256_parts"] == ["k", "f"] and "srcs" not in compared
    # without combined_path there is none
    assert len(certificate_deploy_files(certificate_plan([{"name": "w", "identifiers": ["w.example.com"]}], "/s"), "/l")) == 4  # noqa: E501


def test_every_endpoint_is_checked_with_its_starttls_and_address():
    checks = certificate_tls_checks(certificate_plan([ENTRY], "/stage"), {"mail": "abc"}, "127.0.0.8")
    assert [(c["address"], c["port"], c.get("starttls")) for c in checks] == [
        ("127.0.0.8", 443, None), ("127.0.0.8", 587, "smtp"), ("127.0.0.9", 993, None)]
    assert {c["name"] for c in checks} == {"mail"} and {c["expected_serial"] for c in checks} == {"abc"}
    # no endpoints: the certificate's verify_port, as before
    plain = certificate_plan([{"name": "w", "identifiers": ["w.example.com"], "verify_port": 8443}], "/s")
    assert [(c["port"], c.get("starttls")) for c in certificate_tls_checks(plain, {}, "h")] == [(8443, None)]


def test_concatenation_compare():
    key, chain = b"-----BEGIN PRIVATE KEY-----\nk\n-----END PRIVATE KEY-----\n", b"cert1\ncert2\n"
    digests = [hashlib.sha256(key).hexdigest(), hashlib.sha256(chain).hexdigest()]
    assert _is_concatenation(key + chain, digests)
    assert not _is_concatenation(key + chain + b"x\n", digests)
    assert not _is_concatenation(chain + key, digests)
    assert not _is_concatenation(key, digests)
