"""The role's plan and due filters carry the ACME profile: asked per entry or for all, compared with storage."""
from ansible_collections.autotls.acme.plugins.filter.certificate_role import (
    certificate_due, certificate_order_requests, certificate_plan)


def plan(**default):
    return certificate_plan([{"name": "a", "identifiers": ["a.example.com"], "profile": "shortlived"},
                             {"name": "b", "identifiers": ["b.example.com"]}], "/tmp/s", **default)


def info(profile_a, profile_b):
    return {"certificates": [
        {"name": "a", "exists": True, "due": False, "identifiers": ["a.example.com"], "profile": profile_a},
        {"name": "b", "exists": True, "due": False, "identifiers": ["b.example.com"], "profile": profile_b}]}


def test_entry_profile_wins_over_the_default():
    assert [c["profile"] for c in plan()] == ["shortlived", None]
    assert [c["profile"] for c in plan(profile="classic")] == ["shortlived", "classic"]


def test_a_stored_certificate_with_another_profile_is_due():
    assert certificate_due(plan(), info("shortlived", "classic")) == []          # b asks for the CA default
    assert certificate_due(plan(profile="classic"), info("shortlived", "classic")) == []
    assert certificate_due(plan(profile="tlsserver"), info("classic", "classic")) == ["a", "b"]
    assert certificate_due(plan(), info(None, None)) == ["a"]                   # recorded: the CA's default


def test_order_requests_carry_the_profile():
    requests = certificate_order_requests(plan(), ["a", "b"])
    assert requests[0]["profile"] == "shortlived" and "profile" not in requests[1]
