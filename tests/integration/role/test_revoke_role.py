"""Revoke and replace through the role: site.yml with certificate_revoke revokes the served certificate at
Pebble (its management API shows it), replaces it with a new key in the same run, deploys, reloads and
verifies; storage, the status file and the metrics record the revocation; nothing is revoked twice."""
import json
import os
import pathlib
import random
import re

import pytest

from ..acme.test_revoke import ca_status
from .conftest import HOSTS, new_orders

pytestmark = pytest.mark.role


def public_key_of(path):
    from cryptography.hazmat.primitives import serialization
    from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
    key = keys.load_private_key(pathlib.Path(path).read_bytes(), "key")
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_revoke_for_key_compromise_and_replace_in_the_same_run(fleet, stack):
    status_file = os.path.join(fleet.workdir, "status.json")
    metrics_file = os.path.join(fleet.workdir, "autotls.prom")
    fleet.write_inventory(certificate_status_file=status_file, certificate_metrics_file=metrics_file)
    fleet.site()
    old = fleet.stored_serial()
    old_key = public_key_of(os.path.join(fleet.deploy_dir("web1"), "site", "privkey.pem"))
    assert fleet.served(HOSTS["web1"]) == old

    revoke = {"certificate_revoke": ["site"], "certificate_revoke_reason": "keyCompromise",
              "certificate_revoke_sign_with": "certificate_key"}
    orders = new_orders()
    out = fleet.site(check=True, **revoke)
    assert "would revoke (keyCompromise, signed with the certificate key) and replace with a new key: site serial %s"\
        % old in out, out[-3000:]
    assert ca_status(stack, old) == ("Valid", None) and new_orders() == orders and fleet.stored_serial() == old

    out = fleet.site(**revoke)
    assert ca_status(stack, old) == ("Revoked", 1)            # what the CA itself recorded: keyCompromise
    new = fleet.stored_serial()
    assert new != old and new_orders() == orders + 1
    for host, addr in HOSTS.items():
        assert fleet.served(addr) == new                       # deployed, reloaded, verified in the same run
        assert public_key_of(os.path.join(fleet.deploy_dir(host), "site", "privkey.pem")) != old_key
    assert ca_status(stack, new)[0] == "Valid"
    status = {item["name"]: item for item in json.loads(pathlib.Path(status_file).read_text())["certificates"]}["site"]
    assert status["action"] == "renewed" and status["revoked"] is False
    assert status["last_revocation"]["serial"] == old and status["last_revocation"]["reason"] == "keyCompromise"
    metrics = pathlib.Path(metrics_file).read_text()
    assert 'autotls_certificate_revoked{name="site"} 0' in metrics
    assert 'autotls_certificate_last_revocation_timestamp_seconds{name="site"} 0' not in metrics
    assert 'autotls_certificate_last_revocation_timestamp_seconds{name="site"}' in metrics

    # Pinned to the serial (as in automation), the same command again revokes nothing new: the stored
    # certificate is the replacement.
    fleet.site(**dict(revoke, certificate_revoke=[{"name": "site", "serial": old}]))
    assert ca_status(stack, new)[0] == "Valid" and fleet.stored_serial() == new and new_orders() == orders + 1


def test_a_revoked_certificate_that_could_not_be_replaced_is_never_deployed_again(fleet, stack, tmp_path):
    status_file = os.path.join(fleet.workdir, "status.json")
    metrics_file = os.path.join(fleet.workdir, "autotls.prom")
    fleet.write_inventory(certificate_status_file=status_file, certificate_metrics_file=metrics_file)
    fleet.site()
    old = fleet.stored_serial()
    # The replacement cannot be validated: a name Pebble never validated (it would reuse the authorization
    # of one it did), and a webroot nginx does not serve.
    fleet.certificates[0]["identifiers"] = fleet.certificates[0]["identifiers"] + [
        "fresh-%d.example.com" % random.randrange(10 ** 9)]
    fleet.write_inventory(certificate_status_file=status_file, certificate_metrics_file=metrics_file)
    inventory = pathlib.Path(fleet.inventory).read_text()
    pathlib.Path(fleet.inventory).write_text(
        re.sub(r"certificate_webroot: .*", "certificate_webroot: " + str(tmp_path / "not-served"), inventory))
    orders = new_orders()
    out = fleet.site(expect_rc=2, certificate_revoke=["site"], certificate_revoke_reason="superseded")
    assert ca_status(stack, old) == ("Revoked", 4)             # the CA's own record: superseded
    assert new_orders() == orders + 1 and fleet.stored_serial() == old and "could not validate" in out
    status = {item["name"]: item for item in json.loads(pathlib.Path(status_file).read_text())["certificates"]}["site"]
    assert status["action"] == "failed" and status["revoked"] is True and status["alert"]
    assert 'autotls_certificate_revoked{name="site"} 1' in pathlib.Path(metrics_file).read_text()

    # A rebuilt web2 (its copy gone) gets nothing from the next run: the stored certificate is revoked.
    # The run fails and says so, and web1's old files are left as they were (nothing newer to give it).
    for filename in os.listdir(os.path.join(fleet.deploy_dir("web2"), "site")):
        os.unlink(os.path.join(fleet.deploy_dir("web2"), "site", filename))
    out = fleet.site(expect_rc=2)
    assert not os.path.exists(os.path.join(fleet.deploy_dir("web2"), "site", "fullchain.pem"))
    assert fleet.served(HOSTS["web1"]) == old                  # web1 kept what it had
    assert new_orders() == orders + 2                          # a revoked certificate is retried on every run
    status = {item["name"]: item for item in json.loads(pathlib.Path(status_file).read_text())["certificates"]}["site"]
    assert status["action"] == "failed" and status["revoked"] is True and status["alert"]
    assert status["consecutive_failures"] == 2 and "could not validate" in status["why"], status
