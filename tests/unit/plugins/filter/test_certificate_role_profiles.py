"""The role's plan and due filters carry the ACME profile: asked per entry or for all, compared with storage."""
from ansible_collections.autotls.acme.plugins.filter.certificate_role import (
    certificate_due, certificate_info_requests, certificate_order_requests, certificate_plan)


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


def decided(planned, profile_a, profile_b):
    """cert_store info as the engine answers it for the plan's requests (the one decision, policy.decide)."""
    import datetime
    from ansible_collections.autotls.acme.plugins.module_utils._engine import keys, policy
    now = datetime.datetime.now(datetime.timezone.utc)
    result = info(profile_a, profile_b)
    for entry, asked in zip(result["certificates"], certificate_info_requests(planned)):
        cert = keys.CertInfo(serial="1", not_before=now, not_after=now + datetime.timedelta(days=90),
                             identifiers=keys.parse_identifiers(entry["identifiers"]))
        decision = policy.decide(cert, keys.parse_identifiers(asked["identifiers"]), now=now,
                                 profile=asked["profile"], cert_profile=entry["profile"])
        entry.update(due=decision.due, reason=decision.reason.value)
    return result


def test_a_stored_certificate_with_another_profile_is_due():
    assert certificate_due(plan(), decided(plan(), "shortlived", "classic")) == []   # b asks for the CA default
    assert certificate_due(plan(profile="classic"), decided(plan(profile="classic"), "shortlived", "classic")) == []
    tls = plan(profile="tlsserver")
    assert certificate_due(tls, decided(tls, "classic", "classic")) == ["a", "b"]
    assert decided(tls, "classic", "classic")["certificates"][0]["reason"] == "profile_changed"
    assert certificate_due(plan(), decided(plan(), None, None)) == ["a"]           # recorded: the CA's default


def test_order_requests_carry_the_profile():
    requests = certificate_order_requests(plan(), ["a", "b"])
    assert requests[0]["profile"] == "shortlived" and "profile" not in requests[1]
