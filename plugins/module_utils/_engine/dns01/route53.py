# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amazon Route 53 through boto3.

Needs exactly three actions (the README's minimal IAM policy):
route53:ChangeResourceRecordSets on the hosted zone, route53:GetChange and
route53:ListHostedZonesByName. One ChangeBatch per zone (UPSERT of each name's
TXT values), then GetChange until the change is INSYNC, which means every Route 53
name server of the zone answers with it. Route 53 keeps a name's TXT values as one
record set and the policy allows no reading of record sets, so a name holds the
values of one call at a time (the role's storage lock serialises renewals).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from ..errors import DNSError, InputError
from .base import Provider, in_zone

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError
except ImportError:  # reported by the module through deps.missing()
    pass

if TYPE_CHECKING:
    from botocore.client import BaseClient

    from .lookup import Lookup

OPTIONS = ("hosted_zone_id", "access_key", "secret_key", "session_token", "region", "endpoint_url", "zone")


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class Route53Provider(Provider):
    kind = "route53"

    def __init__(self, lookup: Lookup | None = None, hosted_zone_id: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None, session_token: str | None = None, region: str | None = None,
                 endpoint_url: str | None = None, zone: str | None = None, ttl: int = 60, timeout: float = 10.0,
                 sync_timeout: float = 120.0, client: BaseClient | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        if bool(access_key) != bool(secret_key):
            raise InputError("dns.secret_key" if access_key else "dns.access_key",
                             "is required when %s is set" % ("dns.access_key" if access_key else "dns.secret_key"))
        if session_token and not access_key:
            raise InputError("dns.access_key", "is required when dns.session_token is set")
        if endpoint_url and not endpoint_url.startswith(("http://", "https://")):
            raise InputError("dns.endpoint_url", "must be an http:// or https:// URL, got %r" % endpoint_url)
        self.hosted_zone_id = hosted_zone_id.split("/")[-1] if hosted_zone_id else None
        self.zone = zone.lower().rstrip(".") if zone else None
        self.ttl = ttl
        self.sync_timeout = sync_timeout
        self.sleep, self.clock = sleep, clock
        self.zone_ids: dict[str, str] = {}   # zone name -> hosted zone id
        self.where = endpoint_url or "Route 53"
        if client is not None:
            self.client = client
            return
        try:
            session = boto3.session.Session(aws_access_key_id=access_key or None,
                                            aws_secret_access_key=secret_key or None,
                                            aws_session_token=session_token or None)
            self.client = session.client("route53", region_name=region or "us-east-1",
                                         endpoint_url=endpoint_url or None,
                                         config=Config(retries={"mode": "standard", "max_attempts": 5},
                                                       connect_timeout=timeout, read_timeout=timeout))
        except (BotoCoreError, ValueError) as exc:
            raise InputError("dns.endpoint_url" if endpoint_url else "dns.region", str(exc)) from None

    def _call(self, action: str, what: str, **kwargs: Any) -> dict[str, Any]:
        try:
            return getattr(self.client, action)(**kwargs)
        except NoCredentialsError:
            raise InputError("dns.access_key", "no AWS credentials: set dns.access_key and dns.secret_key or "
                                               "configure the boto3 credential chain") from None
        except NoRegionError:
            raise InputError("dns.region", "no region configured") from None
        except ClientError as exc:
            code = _code(exc)
            message = exc.response.get("Error", {}).get("Message", "")
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "SignatureDoesNotMatch") \
                    or status == 403:
                raise DNSError("Route 53 access denied: %s (%s) - see the README's IAM policy: %s"
                               % (exc.operation_name, what, message or code or "HTTP 403"), dns_provider="route53",
                               aws_code=code or "AccessDenied") from None
            raise DNSError("Route 53 %s failed (%s): %s %s" % (exc.operation_name, what, code, message),
                           dns_provider="route53", aws_code=code) from None
        except BotoCoreError as exc:
            raise DNSError("cannot reach %s (%s): %s" % (self.where, what, exc), dns_provider="route53") from None

    def zone_for(self, name: str) -> str:
        """The hosted zone's DNS name: the configured one, or the longest hosted zone name that holds name."""
        if self.zone and not in_zone(name, self.zone):
            raise InputError("dns.zone", "%s does not contain %s" % (self.zone, name))
        if self.hosted_zone_id and self.zone:   # both given: trusted as they are, no call needed
            self.zone_ids[self.zone] = self.hosted_zone_id
            return self.zone
        labels = name.lower().rstrip(".").split(".")
        for index in range(len(labels) - 1):
            candidate = ".".join(labels[index:])
            if self.zone and not in_zone(candidate, self.zone):
                break
            if candidate in self.zone_ids:
                return candidate
            found = self._call("list_hosted_zones_by_name", "finding the hosted zone of %s" % name,
                               DNSName=candidate + ".", MaxItems="5")
            for hosted in found.get("HostedZones", []):
                zone_id = hosted["Id"].split("/")[-1]
                if hosted["Name"].lower().rstrip(".") != candidate:
                    continue
                if self.hosted_zone_id and zone_id != self.hosted_zone_id:
                    continue   # another zone of that name (a private one, say): not the one configured
                self.zone_ids[candidate] = zone_id
                return candidate
        if self.hosted_zone_id:
            raise InputError("dns.hosted_zone_id", "the hosted zone %s does not contain %s"
                             % (self.hosted_zone_id, name))
        raise InputError("dns.hosted_zone_id", "no Route 53 hosted zone holds %s%s" % (
            name, " within dns.zone %s" % self.zone if self.zone else ""))

    def preflight(self, zones: list[str]) -> None:
        return None  # zone_for already asked Route 53 for each zone (credentials, ListHostedZonesByName)

    def _change(self, zone: str, action: str, rrsets: dict[str, list[str]], what: str) -> None:
        changes = [{"Action": action, "ResourceRecordSet": {
            "Name": name + ".", "Type": "TXT", "TTL": self.ttl,
            "ResourceRecords": [{"Value": '"%s"' % value} for value in values]}} for name, values in rrsets.items()]
        response = self._call("change_resource_record_sets", what, HostedZoneId=self.zone_ids[zone],
                              ChangeBatch={"Comment": "autotls.acme DNS-01", "Changes": changes})
        self._wait_insync(response["ChangeInfo"], what)

    def _wait_insync(self, info: dict[str, Any], what: str) -> None:
        deadline = self.clock() + self.sync_timeout
        delay = 0.5
        while info.get("Status") != "INSYNC":
            if self.clock() >= deadline:
                raise DNSError("Route 53 change %s is still %s after %s s (%s)" % (
                    info.get("Id"), info.get("Status"), self.sync_timeout, what), dns_provider="route53")
            self.sleep(min(delay, max(deadline - self.clock(), 0.0)))   # never past the deadline
            delay = min(delay * 2, 5.0)
            info = self._call("get_change", what, Id=info["Id"])["ChangeInfo"]

    def present(self, zone: str, rrsets: dict[str, list[str]]) -> None:
        self._change(zone, "UPSERT", rrsets, "adding TXT records to %s" % zone)

    def cleanup(self, zone: str, rrsets: dict[str, list[str]]) -> None:
        try:
            self._change(zone, "DELETE", rrsets, "removing TXT records from %s" % zone)
        except DNSError as error:
            if error.details.get("aws_code") != "InvalidChangeBatch":
                raise
            # already gone (or changed by someone else): remove what is still ours one name at a time
            for name, values in rrsets.items():
                try:
                    self._change(zone, "DELETE", {name: values}, "removing TXT %s" % name)
                except DNSError as again:
                    if again.details.get("aws_code") != "InvalidChangeBatch":
                        raise
