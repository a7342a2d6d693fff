"""The certificate role's data shaping: per-certificate options, and the status of a run that failed."""
import os

import yaml

from ansible_collections.autotls.acme.plugins.filter import certificate_role as role
from ansible_collections.autotls.acme.plugins.modules import acme_order

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
# acme_order's per-certificate options the role fills in itself, or that make no sense in certificate_list:
# order_url, replaces, existing_certificate_content (the role's own flow); csr, csr_content (the role
# generates, stores and deploys the keys); force (a permanent per-certificate force would order on every
# cron run; certificate_force_renewal, given with -e, is the one-off form)
FILLED_BY_THE_ROLE = {"order_url", "replaces", "existing_certificate_content", "csr", "csr_content", "force"}


def role_entry_options():
    with open(os.path.join(ROOT, "roles", "certificate", "meta", "argument_specs.yml")) as handle:
        specs = yaml.safe_load(handle)
    return specs["argument_specs"]["main"]["options"]["certificate_list"]["options"]


def test_certificate_list_accepts_every_per_certificate_option_of_acme_order():
    options = role_entry_options()
    missing = set(acme_order.PER_CERTIFICATE_OPTIONS) - FILLED_BY_THE_ROLE - set(options)
    assert not missing, "certificate_list[] lacks acme_order options: %s" % sorted(missing)
    for name in ("preferred_chain", "key_type", "reuse_key", "renew_before_days"):
        assert name in options
    from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
    assert options["key_type"]["choices"] == list(keys.KEY_TYPES)


def test_per_certificate_options_reach_the_order():
    plan = role.certificate_plan([
        {"name": "a", "identifiers": ["a.example"], "preferred_chain": "Alt Root", "key_type": "rsa-2048",
         "reuse_key": True, "renew_before_days": 20},
        {"name": "b", "identifiers": ["b.example"]},
    ], "/tmp/stage", key_type="ecdsa-p384", renew_before_days=5)
    requests = {r["name"]: r for r in role.certificate_order_requests(plan, ["a", "b"])}
    assert requests["a"]["preferred_chain"] == "Alt Root" and requests["a"]["key_type"] == "rsa-2048"
    assert requests["a"]["reuse_key"] is True and plan[0]["renew_before_days"] == 20
    assert "preferred_chain" not in requests["b"] and requests["b"]["key_type"] == "ecdsa-p384"
    assert plan[1]["renew_before_days"] == 5


def test_status_of_a_run_with_host_errors():
    plan = role.certificate_plan([{"name": "a", "identifiers": ["a.example"]},
                                  {"name": "b", "identifiers": ["b.example"]}], "/tmp/stage")
    info = {"certificates": [
        {"name": "a", "exists": True, "not_after": "2031-01-01T00:00:00Z", "renew_at": "2030-01-01T00:00:00Z"},
        {"name": "b", "exists": True, "not_after": "2031-01-01T00:00:00Z", "renew_at": "2030-01-01T00:00:00Z"}]}
    issued = {"certificates": [{"name": "a", "renewed": True, "reason": "due"}]}
    error = {"task": "Check the configuration", "msg": "nginx: [emerg] unknown directive", "names": ["a"]}
    status = {s["name"]: s for s in role.certificate_status(
        info, plan, issued=issued, errors=[dict(error, host="web1"), dict(error, host="web2")])}
    assert status["a"]["action"] == "failed" and status["a"]["alert"]
    assert status["a"]["why"] == ("renewed, but web1, web2: Check the configuration: "
                                  "nginx: [emerg] unknown directive")  # one cause, told once
    assert status["b"]["action"] == "kept" and not status["b"]["alert"]
