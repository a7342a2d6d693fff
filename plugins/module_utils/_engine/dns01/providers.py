# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS-01: providers behind one interface (base.Provider), look-ups and the propagation check.

dns_options is the `dns` section of acme_order (and of the role): `provider` picks the
implementation, the common options below apply to every provider, the rest belong
to one provider and are refused under another.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import InputError
from . import route53, rfc2136
from .base import Provider

if TYPE_CHECKING:
    from .lookup import Lookup

PROVIDERS = {"rfc2136": rfc2136.OPTIONS, "route53": route53.OPTIONS}
COMMON = ("provider", "resolvers", "nameserver_port", "propagation_timeout", "check_propagation", "ttl", "timeout")
DEFAULTS = {"nameserver_port": 53, "propagation_timeout": 120, "check_propagation": True, "ttl": 60, "timeout": 10}


def settings(options: object) -> dict[str, Any]:
    """The dns section checked: provider known, only its own options set, numbers sane; defaults filled in."""
    if not isinstance(options, dict) or not options:
        raise InputError("dns", "challenge dns-01 needs a dns section naming a provider (%s)"
                         % ", ".join(sorted(PROVIDERS)))
    options = {key: value for key, value in options.items() if value is not None}
    provider = options.get("provider")
    if not provider:
        raise InputError("dns.provider", "is required (one of %s)" % ", ".join(sorted(PROVIDERS)))
    if provider not in PROVIDERS:
        raise InputError("dns.provider", "%r is not a known DNS provider (one of %s)"
                         % (provider, ", ".join(sorted(PROVIDERS))))
    for key in options:
        if key not in COMMON and key not in PROVIDERS[provider]:
            owner = [name for name, keys in PROVIDERS.items() if key in keys]
            raise InputError("dns.%s" % key, "is not an option of provider %s%s" % (
                provider, " (it belongs to %s)" % owner[0] if owner else ""))
    result = dict(DEFAULTS, **options)
    for key in ("nameserver_port", "ttl"):
        if not isinstance(result[key], int) or isinstance(result[key], bool) or not 0 < result[key] < 2 ** 31:
            raise InputError("dns.%s" % key, "must be a positive integer")
    if not 0 < result["nameserver_port"] < 65536:
        raise InputError("dns.nameserver_port", "must be a port number")
    for key in ("propagation_timeout", "timeout"):
        if not isinstance(result[key], (int, float)) or result[key] <= 0:
            raise InputError("dns.%s" % key, "must be a positive number of seconds")
    if result.get("resolvers") is not None and not isinstance(result["resolvers"], list):
        raise InputError("dns.resolvers", "must be a list of addresses")
    if provider == "rfc2136" and result.get("key_secret") is not None:
        rfc2136.check_secret(result["key_secret"])
    return result


def open_provider(options: object) -> tuple[Provider, Lookup, dict[str, Any]]:
    """(provider, lookup) for a dns section."""
    from .lookup import Lookup
    conf = settings(options)
    lookup = Lookup(conf.get("resolvers"), conf["nameserver_port"], conf["timeout"])
    own = {key: conf[key] for key in PROVIDERS[conf["provider"]] if key in conf}
    provider: Provider
    if conf["provider"] == "rfc2136":
        provider = rfc2136.RFC2136Provider(lookup, ttl=conf["ttl"], timeout=conf["timeout"], **own)
    else:
        provider = route53.Route53Provider(lookup, ttl=conf["ttl"], timeout=conf["timeout"],
                                           sync_timeout=conf["propagation_timeout"], **own)
    return provider, lookup, conf
