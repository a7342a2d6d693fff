"""DNS-01 test parts: the stack's bind9 (RFC 2136 + TSIG) and a moto server of its own for Route 53.

The moto server enforces IAM (like tests/integration/storage/test_iam.py) with the policy the README
documents. moto 5 knows no resource of Route 53 requests (every request is checked against "*") and
computes SigV4 signatures differently from botocore for them, so its launcher below gives Route 53
requests their real resource (arn:aws:route53:::hostedzone/<id>, arn:aws:route53:::change/<id>) and skips
the signature comparison. The caller is still identified by its access key id and every request is still
checked against that user's policy, which is what these tests are about.
"""
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.providers import open_provider
from ansible_collections.autotls.acme.plugins.module_utils._engine.dns01.lookup import Lookup

from ..conftest import ROOT

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

MOTO_ROUTE53_WITH_IAM = """
import re
import sys
from moto.iam import access_control
from moto.route53.responses import Route53


def _determine_resource(self):
    found = re.search(r"/(hostedzone|change)/([^/]+)", self.path)
    return "arn:aws:route53:::%s/%s" % found.groups() if found else "*"


Route53._determine_resource = _determine_resource
access_control.IAMRequest.check_signature = lambda self: None
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""


def documented_route53_policy(zone_id):
    text = pathlib.Path(os.path.join(ROOT, "README.md")).read_text()
    for block in re.findall(r"```json\n(.*?)```", text, re.DOTALL):
        if "AutotlsDns01Records" in block:
            return json.loads(block.replace("ZONE-ID", zone_id))
    pytest.fail("no IAM policy with Sid AutotlsDns01Records in README.md")


@pytest.fixture(scope="session")
def bind9(stack):
    """Options of the stack's bind9 for provider rfc2136 (key allowed to update dns.test and lag.test)."""
    return {"provider": "rfc2136", "server": stack["DNS_SERVER"], "port": int(stack["DNS_PORT"]),
            "key_name": stack["DNS_TSIG_NAME"], "key_secret": stack["DNS_TSIG_SECRET"],
            "key_algorithm": "hmac-sha256", "resolvers": ["%s:%s" % (stack["DNS_SERVER"], stack["DNS_PORT"])],
            "nameserver_port": int(stack["DNS_PORT"]), "propagation_timeout": 10}


@pytest.fixture(scope="session")
def route53(tmp_path_factory):
    """A moto server enforcing IAM: zones r53.test and other.test; users 'autotls' (the README's policy on
    r53.test) and 'nobody' (no policy). Yields (url, zone id of r53.test, {user: (key id, secret)}, admin client)."""
    import boto3
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    log = open(str(tmp_path_factory.mktemp("moto-route53") / "moto.log"), "w")  # noqa: SIM115 (the server's stdout)
    proc = subprocess.Popen([sys.executable, "-c", MOTO_ROUTE53_WITH_IAM, str(port)], stdout=log,
                            stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "moto did not start"
                time.sleep(0.2)
        admin = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="bootstrap",
                     aws_secret_access_key="bootstrap")
        r53 = boto3.client("route53", **admin)
        iam = boto3.client("iam", **admin)
        zone_id = r53.create_hosted_zone(Name="r53.test.", CallerReference="r53")["HostedZone"]["Id"].split("/")[-1]
        r53.create_hosted_zone(Name="other.test.", CallerReference="other")
        users = {}
        for user, policy in (("autotls", documented_route53_policy(zone_id)),
                             ("nobody", {"Version": "2012-10-17", "Statement": [
                                 {"Effect": "Deny", "Action": "route53:*", "Resource": "*"}]}),
                             ("auditor", {"Version": "2012-10-17", "Statement": [
                                 {"Effect": "Allow", "Action": "route53:*", "Resource": "*"}]})):
            iam.create_user(UserName=user)
            iam.put_user_policy(UserName=user, PolicyName=user, PolicyDocument=json.dumps(policy))
            key = iam.create_access_key(UserName=user)["AccessKey"]
            users[user] = (key["AccessKeyId"], key["SecretAccessKey"])
        urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST",
                                                      headers={"Content-Type": "text/plain"}))
        auditor = boto3.client("route53", endpoint_url=url, region_name="us-east-1",
                               aws_access_key_id=users["auditor"][0], aws_secret_access_key=users["auditor"][1])
        yield url, zone_id, users, auditor
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


class Harness:
    """One provider under test, with the test's own view of the zone (never through the provider)."""

    def __init__(self, kind, options, zone, read, changes):
        self.kind, self.options, self.zone = kind, options, zone
        self.provider, self.lookup, self.conf = open_provider(options)
        self._read, self._changes = read, changes

    def read(self, name):
        return self._read(name)

    def changes(self):
        return self._changes(self)

    def name(self, label):
        return "_acme-challenge.%s-%s.%s" % (label, uuid.uuid4().hex[:8], self.zone)


def bind9_harness(options, stack, zone="dns.test"):
    lookup = Lookup(options["resolvers"], int(stack["DNS_PORT"]))

    def read(name):
        return lookup.txt_values(name, stack["DNS_SERVER"])

    def serial(_harness):
        import dns.message
        import dns.query
        response = dns.query.udp(dns.message.make_query(zone, "SOA"), stack["DNS_SERVER"], timeout=3,
                                 port=int(stack["DNS_PORT"]))
        return response.answer[0][0].serial

    return Harness("rfc2136", options, zone, read, serial)


def route53_harness(route53, user="autotls", **extra):
    url, zone_id, users, auditor = route53
    options = dict({"provider": "route53", "endpoint_url": url, "access_key": users[user][0],
                    "secret_key": users[user][1], "region": "us-east-1", "check_propagation": False}, **extra)

    def read(name):
        found = auditor.list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=name + ".",
                                                  StartRecordType="TXT", MaxItems="1")["ResourceRecordSets"]
        return {record["Value"].strip('"') for rrset in found if rrset["Name"].rstrip(".") == name
                and rrset["Type"] == "TXT" for record in rrset["ResourceRecords"]}

    harness = Harness("route53", options, "r53.test", read, lambda h: h.calls)
    harness.calls = 0

    def count(**_kwargs):
        harness.calls += 1
    harness.provider.client.meta.events.register("before-call.route53.ChangeResourceRecordSets", count)
    return harness


@pytest.fixture(params=["rfc2136", "route53"])
def harness(request, stack, bind9):
    if request.param == "rfc2136":
        return bind9_harness(bind9, stack)
    return route53_harness(request.getfixturevalue("route53"))
