"""dns01.providers (the dns section: checks and defaults, opening a provider) and the base interface."""
import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.base import Provider, in_zone
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.lookup import Lookup
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.providers import open_provider, settings
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.rfc2136 import RFC2136Provider
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.route53 import Route53Provider
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError


@pytest.mark.parametrize("options, field, words", [
    (None, "dns", "challenge dns-01 needs a dns section naming a provider (rfc2136, route53)"),
    ({}, "dns", "needs a dns section"),
    (["rfc2136"], "dns", "needs a dns section"),
    ({"provider": None, "server": "192.0.2.1"}, "dns.provider", "is required (one of rfc2136, route53)"),
    ({"provider": "cloudflare"}, "dns.provider", "'cloudflare' is not a known DNS provider (one of rfc2136, route53)"),
    ({"provider": "route53", "server": "192.0.2.1"}, "dns.server", "is not an option of provider route53 (it belongs "
                                                                   "to rfc2136)"),
    ({"provider": "route53", "api_token": "x"}, "dns.api_token", "is not an option of provider route53"),
    ({"provider": "rfc2136", "ttl": True}, "dns.ttl", "must be a positive integer"),
    ({"provider": "rfc2136", "ttl": 0}, "dns.ttl", "must be a positive integer"),
    ({"provider": "rfc2136", "ttl": "60"}, "dns.ttl", "must be a positive integer"),
    ({"provider": "rfc2136", "nameserver_port": 65536}, "dns.nameserver_port", "must be a port number"),
    ({"provider": "rfc2136", "nameserver_port": -1}, "dns.nameserver_port", "must be a positive integer"),
    ({"provider": "rfc2136", "timeout": "10"}, "dns.timeout", "must be a positive number of seconds"),
    ({"provider": "rfc2136", "timeout": -0.5}, "dns.timeout", "must be a positive number of seconds"),
    ({"provider": "rfc2136", "resolvers": "192.0.2.53"}, "dns.resolvers", "must be a list of addresses"),
    ({"provider": "rfc2136", "key_name": "k", "key_secret": "%%%"}, "dns.key_secret", "is not base64"),
])
def test_bad_settings_name_the_field(options, field, words):
    with pytest.raises(InputError) as raised:
        settings(options)
    assert raised.value.field == field and raised.value.msg.startswith(field + ": ") and words in raised.value.msg


def test_settings_keep_given_values_and_fill_defaults():
    conf = settings({"provider": "route53", "zone": "example.com", "timeout": 2.5, "check_propagation": False,
                     "resolvers": ["192.0.2.53"], "region": None})
    assert conf == {"provider": "route53", "zone": "example.com", "timeout": 2.5, "check_propagation": False,
                    "resolvers": ["192.0.2.53"], "nameserver_port": 53, "propagation_timeout": 120, "ttl": 60}


def test_open_rfc2136_passes_common_and_own_options():
    provider, lookup, conf = open_provider({"provider": "rfc2136", "server": "192.0.2.1", "port": 5300,
                                            "zone": "Example.com", "ttl": 30, "timeout": 4, "nameserver_port": 5353,
                                            "resolvers": ["192.0.2.53"]})
    assert isinstance(provider, RFC2136Provider) and isinstance(lookup, Lookup) and provider.lookup is lookup
    assert (provider.server, provider.port, provider.zone, provider.ttl, provider.timeout) == (
        "192.0.2.1", 5300, "example.com", 30, 4)
    assert provider.keyring is None and provider.kind == "rfc2136"
    assert (lookup.nameserver_port, lookup.timeout, lookup.resolver.nameservers) == (5353, 4, ["192.0.2.53"])
    assert conf["propagation_timeout"] == 120


def test_open_route53_uses_the_propagation_timeout_for_insync():
    provider, lookup, _conf = open_provider({"provider": "route53", "access_key": "AKID", "secret_key": "s",
                                             "region": "eu-west-1", "hosted_zone_id": "Z1", "zone": "example.com",
                                             "propagation_timeout": 45, "ttl": 90, "resolvers": ["192.0.2.53"]})
    assert isinstance(provider, Route53Provider) and provider.kind == "route53"
    expected = (45, 90, "Z1", "example.com")
    assert (provider.sync_timeout, provider.ttl, provider.hosted_zone_id, provider.zone) == expected
    assert provider.client.meta.service_model.service_name == "route53" and isinstance(lookup, Lookup)
    assert provider.client._request_signer._credentials.access_key == "AKID"


def test_base_provider_is_an_interface():
    base = Provider()
    for call in (lambda: base.zone_for("a.example.com"), lambda: base.preflight(["example.com"]),
                 lambda: base.present("example.com", {}), lambda: base.cleanup("example.com", {})):
        with pytest.raises(NotImplementedError):
            call()
    assert base.close() is None and base.kind == "base"


@pytest.mark.parametrize("name, zone, inside", [("a.Example.com.", "example.COM", True),
                                                ("example.com", "example.com.", True),
                                                ("badexample.com", "example.com", False),
                                                ("example.com", "a.example.com", False)])
def test_in_zone(name, zone, inside):
    assert in_zone(name, zone) is inside
