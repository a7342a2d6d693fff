"""dns01.route53 on a real boto3 client under botocore's Stubber (no network), with an injected clock and sleep."""
import boto3
import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError
from botocore.stub import Stubber

from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.route53 import Route53Provider
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import DNSError, InputError

NAME = "_acme-challenge.www.example.com"


class Clock:
    def __init__(self):
        self.now, self.sleeps = 50.0, []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def stub():
    client = boto3.client("route53", region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE",
                          aws_secret_access_key="secret")
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def provider(stub, clock=None, **kwargs):
    clock = clock or Clock()
    return Route53Provider(client=stub.client, sleep=clock.sleep, clock=clock, **kwargs)


def zones(*pairs):
    return {"HostedZones": [{"Id": "/hostedzone/" + zone_id, "Name": name, "CallerReference": "r"}
                            for name, zone_id in pairs],
            "IsTruncated": False, "MaxItems": "5"}


def listing(stub, candidate, *pairs):
    stub.add_response("list_hosted_zones_by_name", zones(*pairs), {"DNSName": candidate, "MaxItems": "5"})


def change_info(status, change_id="C1"):
    return {"ChangeInfo": {"Id": "/change/" + change_id, "Status": status, "SubmittedAt": "2026-01-01T00:00:00Z"}}


def batch(action, rrsets, ttl=60):
    return {"Comment": "autotls.acme DNS-01", "Changes": [
        {"Action": action, "ResourceRecordSet": {"Name": name + ".", "Type": "TXT", "TTL": ttl,
                                                 "ResourceRecords": [{"Value": '"%s"' % v} for v in values]}}
        for name, values in rrsets.items()]}


def test_zone_is_the_longest_hosted_zone_holding_the_name(stub):
    listing(stub, NAME + ".", ("xample.com.", "Z0"), ("zzz.com.", "Z9"))
    listing(stub, "www.example.com.", ("zzz.com.", "Z9"))
    listing(stub, "example.com.", ("Example.COM.", "Z123"), ("example.net.", "Z5"))
    p = provider(stub)
    assert p.zone_for(NAME) == "example.com"
    assert p.zone_ids == {"example.com": "Z123"}
    listing(stub, "_acme-challenge.example.com.")
    assert p.zone_for("_acme-challenge.example.com") == "example.com"   # example.com itself is not asked again


def test_configured_hosted_zone_id_picks_among_zones_of_that_name(stub):
    listing(stub, "_acme-challenge.example.com.", ("example.com.", "ZPRIVATE"))   # not the candidate's name
    listing(stub, "example.com.", ("example.com.", "ZPRIVATE"), ("example.com.", "ZPUBLIC"))
    p = provider(stub, hosted_zone_id="/hostedzone/ZPUBLIC")
    assert p.zone_for("_acme-challenge.example.com") == "example.com" and p.zone_ids == {"example.com": "ZPUBLIC"}


def test_zone_and_id_given_are_trusted_without_a_call(stub):
    p = provider(stub, hosted_zone_id="ZGIVEN", zone="Example.com.")
    assert p.zone_for(NAME) == "example.com" and p.zone_ids == {"example.com": "ZGIVEN"}
    with pytest.raises(InputError, match="^dns.zone: example.com does not contain _acme-challenge.example.net$"):
        p.zone_for("_acme-challenge.example.net")


def test_no_hosted_zone_names_the_field(stub):
    listing(stub, "_acme-challenge.example.com.")
    listing(stub, "example.com.", ("example.com.", "ZOTHER"))
    with pytest.raises(InputError, match="^dns.hosted_zone_id: the hosted zone ZMINE does not contain "
                                         "_acme-challenge.example.com$"):
        provider(stub, hosted_zone_id="ZMINE").zone_for("_acme-challenge.example.com")


def test_configured_zone_bounds_the_walk(stub):
    listing(stub, NAME + ".")
    listing(stub, "www.example.com.")   # example.com. is the next candidate: still asked, it is dns.zone itself
    listing(stub, "example.com.")
    with pytest.raises(InputError, match="^dns.hosted_zone_id: no Route 53 hosted zone holds %s within dns.zone "
                                         "example.com$" % NAME):
        provider(stub, zone="example.com").zone_for(NAME)   # never asks about "com."


def test_one_change_batch_per_zone_then_get_change_until_insync(stub):
    rrsets = {NAME: ["v1", "v2"], "_acme-challenge.example.com": ["v3"]}
    stub.add_response("change_resource_record_sets", change_info("PENDING"),
                      {"HostedZoneId": "Z123", "ChangeBatch": batch("UPSERT", rrsets, ttl=300)})
    stub.add_response("get_change", change_info("PENDING"), {"Id": "/change/C1"})
    stub.add_response("get_change", change_info("PENDING"), {"Id": "/change/C1"})
    stub.add_response("get_change", change_info("INSYNC"), {"Id": "/change/C1"})
    clock = Clock()
    p = provider(stub, clock, hosted_zone_id="Z123", zone="example.com", ttl=300)
    p.zone_for(NAME)
    p.present("example.com", rrsets)
    assert clock.sleeps == [0.5, 1.0, 2.0]


def test_insync_wait_is_bounded_and_names_the_change(stub):
    stub.add_response("change_resource_record_sets", change_info("PENDING", "C9"),
                      {"HostedZoneId": "Z123", "ChangeBatch": batch("UPSERT", {NAME: ["v1"]})})
    for _round in range(7):
        stub.add_response("get_change", change_info("PENDING", "C9"), {"Id": "/change/C9"})
    clock = Clock()
    p = provider(stub, clock, hosted_zone_id="Z123", zone="example.com", sync_timeout=20)
    p.zone_for(NAME)
    with pytest.raises(DNSError, match=r"^Route 53 change /change/C9 is still PENDING after 20 s \(adding TXT records "
                                       r"to example.com\)$"):
        p.present("example.com", {NAME: ["v1"]})
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 2.5]   # backs off to 5 s, never sleeps past 20 s


def test_insync_wait_stops_at_its_deadline(stub):
    stub.add_response("change_resource_record_sets", change_info("PENDING", "C9"),
                      {"HostedZoneId": "Z123", "ChangeBatch": batch("UPSERT", {NAME: ["v1"]})})
    for _round in range(2):
        stub.add_response("get_change", change_info("PENDING", "C9"), {"Id": "/change/C9"})
    clock = Clock()
    p = provider(stub, clock, hosted_zone_id="Z123", zone="example.com", sync_timeout=1.5)
    p.zone_for(NAME)
    with pytest.raises(DNSError, match="still PENDING after 1.5 s"):
        p.present("example.com", {NAME: ["v1"]})
    assert clock.sleeps == [0.5, 1.0]


def test_cleanup_deletes_in_one_batch(stub):
    stub.add_response("change_resource_record_sets", change_info("INSYNC"),
                      {"HostedZoneId": "Z123", "ChangeBatch": batch("DELETE", {NAME: ["v1"], "_acme-challenge.x."
                                                                               "example.com": ["v2"]})})
    p = provider(stub, hosted_zone_id="Z123", zone="example.com")
    p.zone_for(NAME)
    p.cleanup("example.com", {NAME: ["v1"], "_acme-challenge.x.example.com": ["v2"]})


def test_cleanup_of_values_already_gone_retries_name_by_name(stub):
    both = {NAME: ["v1"], "_acme-challenge.x.example.com": ["v2"]}
    invalid = {"service_error_code": "InvalidChangeBatch", "service_message": "Tried to delete resource record set "
               "but it was not found", "http_status_code": 400}
    stub.add_client_error("change_resource_record_sets", expected_params={
        "HostedZoneId": "Z123", "ChangeBatch": batch("DELETE", both)}, **invalid)
    stub.add_client_error("change_resource_record_sets", expected_params={
        "HostedZoneId": "Z123", "ChangeBatch": batch("DELETE", {NAME: ["v1"]})}, **invalid)
    stub.add_response("change_resource_record_sets", change_info("INSYNC"), {
        "HostedZoneId": "Z123", "ChangeBatch": batch("DELETE", {"_acme-challenge.x.example.com": ["v2"]})})
    p = provider(stub, hosted_zone_id="Z123", zone="example.com")
    p.zone_for(NAME)
    p.cleanup("example.com", both)


def test_cleanup_reraises_other_failures(stub):
    stub.add_client_error("change_resource_record_sets", "Throttling", "Rate exceeded", 400)
    p = provider(stub, hosted_zone_id="Z123", zone="example.com")
    p.zone_for(NAME)
    with pytest.raises(DNSError, match="^Route 53 ChangeResourceRecordSets failed .removing TXT records from "
                                       "example.com.: Throttling Rate exceeded$") as raised:
        p.cleanup("example.com", {NAME: ["v1"]})
    assert raised.value.details == {"dns_provider": "route53", "aws_code": "Throttling"}
    stub.add_client_error("change_resource_record_sets", "InvalidChangeBatch", "not found", 400)
    stub.add_client_error("change_resource_record_sets", "AccessDenied", "no", 403)
    with pytest.raises(DNSError, match="access denied"):
        p.cleanup("example.com", {NAME: ["v1"]})


@pytest.mark.parametrize("code, status", [("AccessDenied", 403), ("InvalidClientTokenId", 403),
                                          ("SignatureDoesNotMatch", 403), ("", 403)])
def test_access_denied_points_at_the_iam_policy(stub, code, status):
    stub.add_client_error("list_hosted_zones_by_name", code, "User arn:aws:iam::1:user/x is not authorized", status)
    with pytest.raises(DNSError, match=r"^Route 53 access denied: ListHostedZonesByName \(finding the hosted zone of "
                                       r"_acme-challenge.example.com\) - see the README's IAM policy: User arn:aws:iam"
                                       r"::1:user/x is not authorized$") as raised:
        provider(stub).zone_for("_acme-challenge.example.com")
    assert raised.value.details["aws_code"] == (code or "AccessDenied")


class Raising:
    def __init__(self, error):
        self.error = error

    def list_hosted_zones_by_name(self, **kwargs):
        raise self.error


@pytest.mark.parametrize("error, kind, words", [
    (NoCredentialsError(), InputError, "^dns.access_key: no AWS credentials: set dns.access_key and dns.secret_key"),
    (NoRegionError(), InputError, "^dns.region: no region configured$"),
    (EndpointConnectionError(endpoint_url="http://127.0.0.1:9/"), DNSError,
     r"^cannot reach http://127.0.0.1:9 \(finding the hosted zone of a.example.com\): Could not connect"),
])
def test_credentials_region_and_transport_failures(error, kind, words):
    p = Route53Provider(client=Raising(error), endpoint_url="http://127.0.0.1:9")
    with pytest.raises(kind, match=words):
        p.zone_for("a.example.com")


@pytest.mark.parametrize("options, field, words", [
    ({"access_key": "AKID"}, "dns.secret_key", "is required when dns.access_key is set"),
    ({"secret_key": "s"}, "dns.access_key", "is required when dns.secret_key is set"),
    ({"session_token": "t"}, "dns.access_key", "is required when dns.session_token is set"),
    ({"endpoint_url": "localhost:4566"}, "dns.endpoint_url",
     "must be an http:// or https:// URL, got 'localhost:4566'"),
    ({"region": "not a region!"}, "dns.region", "not a region!"),
])
def test_bad_settings_name_the_field(options, field, words):
    with pytest.raises(InputError) as raised:
        Route53Provider(**options)
    assert raised.value.field == field and words in raised.value.msg


def test_a_real_client_is_built_from_the_settings():
    p = Route53Provider(access_key="AKID", secret_key="s", session_token="t", region="eu-west-1",
                        endpoint_url="http://127.0.0.1:4566", timeout=7, hosted_zone_id="/hostedzone/Z1")
    assert p.client.meta.endpoint_url == "http://127.0.0.1:4566" and p.client.meta.region_name == "eu-west-1"
    assert p.client.meta.config.connect_timeout == 7 and p.client.meta.config.read_timeout == 7
    assert p.client.meta.config.retries["mode"] == "standard"
    assert p.client.meta.config.retries["total_max_attempts"] == 6   # botocore: 5 retries after the first attempt
    assert p.where == "http://127.0.0.1:4566" and p.hosted_zone_id == "Z1"
    assert p.preflight(["example.com"]) is None
    credentials = p.client._request_signer._credentials
    assert (credentials.access_key, credentials.secret_key, credentials.token) == ("AKID", "s", "t")


def test_walk_never_leaves_the_configured_zone(stub):
    listing(stub, NAME + ".", ("www.example.com.", "ZWRONG"))
    listing(stub, "www.example.com.")
    with pytest.raises(InputError, match="^dns.hosted_zone_id: no Route 53 hosted zone holds %s within dns.zone "
                                         "www.example.com$" % NAME):
        provider(stub, zone="www.example.com").zone_for(NAME)   # example.com. is outside dns.zone: not asked
