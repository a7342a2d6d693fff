"""acme_order against a real Pebble: both flows, renewal decisions, outputs on disk."""
import json
import os
import stat

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys

from ..conftest import openssl_verify, pebble_root

pytestmark = pytest.mark.issuance


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_webroot_flow(play, stack):
    play.run("account_setup.yml")
    play.run("issue_webroot.yml")
    out = os.path.join(str(play.workdir), "www")
    assert mode(os.path.join(out, "privkey.pem")) == 0o600
    assert mode(os.path.join(out, "fullchain.pem")) == 0o644
    with open(os.path.join(out, "privkey.pem"), "rb") as handle:
        key = keys.load_private_key(handle.read(), "key")
    with open(os.path.join(out, "cert.pem"), "rb") as handle:
        cert = handle.read()
    assert keys.key_matches_certificate(key, cert)  # key and certificate were switched together
    assert keys.key_type_of(key) == "rsa-2048"
    with open(os.path.join(out, "cert.pem.acme.json")) as handle:
        meta = json.load(handle)
    assert meta["directory"] == stack["ACME_DIRECTORY"]
    assert meta["serial"] == keys.parse_certificate(cert).serial
    verified = openssl_verify(stack, os.path.join(out, "fullchain.pem"))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert sorted(os.listdir(out)) == ["cert.pem", "cert.pem.acme.json", "chain.pem", "fullchain.pem", "privkey.pem"]


def test_two_step_flow(play, stack):
    play.run("account_setup.yml")
    play.run("two_step.yml")
    fullchain = os.path.join(str(play.workdir), "fleet", "fullchain.pem")
    assert openssl_verify(stack, fullchain).returncode == 0
    assert mode(os.path.join(str(play.workdir), "fleet", "privkey.pem")) == 0o600


def test_failures_lose_nothing(play):
    play.run("account_setup.yml")
    play.run("failures.yml")


def test_own_csr_and_preferred_chain(play, stack):
    play.run("account_setup.yml")
    key = keys.generate_private_key("ecdsa-p256")
    csr_path = os.path.join(str(play.workdir), "own.csr")
    with open(csr_path, "wb") as handle:
        handle.write(keys.make_csr(key, keys.parse_identifiers(["csr.example.com"])))
    alternate_root = keys.parse_certificate(pebble_root(stack, 1).encode())
    play.run("own_csr.yml", {"csr_path": csr_path, "preferred": alternate_root.subject.split("CN=", 1)[1]})
    out = os.path.join(str(play.workdir), "csr")
    assert not os.path.exists(os.path.join(out, "privkey.pem"))  # the caller owns the key
    with open(os.path.join(out, "fullchain.pem"), "rb") as handle:
        assert keys.key_matches_certificate(key, handle.read())
    # the chain leads to the alternate root, and does not verify against the default one
    assert openssl_verify(stack, os.path.join(out, "fullchain.pem"), root_index=1).returncode == 0
    assert openssl_verify(stack, os.path.join(out, "fullchain.pem"), root_index=0).returncode != 0


def test_batch(play, stack):
    play.run("account_setup.yml")
    play.run("batch.yml")
    for index in range(5):
        path = os.path.join(str(play.workdir), "batch", "b%d" % index, "fullchain.pem")
        assert openssl_verify(stack, path).returncode == 0
    assert not os.path.exists(os.path.join(str(play.workdir), "batch", "broken"))
