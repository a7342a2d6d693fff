"""The S3 backend works with exactly the minimal IAM policy the README documents.

A moto server of its own (IAM enforcement is global to a moto server) is started
on 127.0.0.1, the documented policy is attached to a user, and authorization is
switched on: from then on every request is signed with that user's keys and
checked against the policy (moto evaluates actions and resources).
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

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import LockError, StorageError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from .conftest import ROOT, STAGING
from .test_contract import bundle_of

BUCKET, PREFIX = "autotls-iam", "autotls/prod"
# moto 5 computes a wrong SigV4 signature for S3 requests whose query string holds an encoded "/" (every
# ListObjectsV2 with a Prefix such as "autotls/prod/certs/"), so its signature check is skipped here. The
# caller is still identified by its access key id and every request is still checked against that user's
# policy, which is what this test is about.
MOTO_WITH_IAM = """
import sys
from moto.iam import access_control
access_control.S3IAMRequest.check_signature = lambda self: None
from moto.server import main
main(["-H", "127.0.0.1", "-p", sys.argv[1]])
"""
DOCS = [os.path.join(ROOT, "docs", "storage.md"), os.path.join(ROOT, "README.md")]


def documented_policy():
    """The first JSON block of the README that holds the cert-store policy."""
    for path in DOCS:
        if not os.path.exists(path):
            continue
        for block in re.findall(r"```json\n(.*?)```", pathlib.Path(path).read_text(), re.DOTALL):
            if "AutotlsCertStoreObjects" in block:
                return json.loads(block.replace("BUCKET", BUCKET).replace("PREFIX", PREFIX))
    pytest.fail("no IAM policy with Sid AutotlsCertStoreObjects in %s" % " or ".join(DOCS))


@pytest.fixture(scope="module")
def iam_moto(tmp_path_factory):
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    log = open(str(tmp_path_factory.mktemp("moto-iam") / "moto.log"), "w")  # noqa: SIM115 (the server's stdout)
    proc = subprocess.Popen([sys.executable, "-c", MOTO_WITH_IAM, str(port)], stdout=log, stderr=subprocess.STDOUT)
    url = "http://127.0.0.1:%d" % port
    try:
        keys = _bootstrap(url, proc)
        yield url, keys
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _bootstrap(url, proc):
    import boto3
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
    iam = boto3.client("iam", **admin)
    boto3.client("s3", **admin).create_bucket(Bucket=BUCKET)
    keys = {}
    for user, policy in (("autotls", documented_policy()),
                         ("auditor", {"Version": "2012-10-17", "Statement": [
                             {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]})):
        iam.create_user(UserName=user)
        iam.put_user_policy(UserName=user, PolicyName=user, PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=user)["AccessKey"]
        keys[user] = {"s3_access_key": key["AccessKeyId"], "s3_secret_key": key["SecretAccessKey"]}
    # from now on, every request must be signed by a known user and allowed by its policy
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset-auth", data=b"0", method="POST",
                                                  headers={"Content-Type": "text/plain"}))
    return keys


def options(url, credentials, prefix=PREFIX):
    return dict(credentials, s3_bucket=BUCKET, s3_prefix=prefix, s3_endpoint_url=url, s3_region="us-east-1",
                s3_max_attempts=2)


def test_everything_the_backend_does_works_with_the_documented_policy(iam_moto, ca):
    url, keys = iam_moto
    backend = open_backend("s3", options(url, keys["autotls"]))
    store = bundles.CertificateStore(backend, STAGING)
    first, second = bundle_of(ca), bundle_of(ca)
    assert store.put("www", first)["changed"] and not store.put("www", first)["changed"]
    assert store.put("www", second)["changed"]
    assert store.get("www")[0] == second and store.get("missing") is None
    assert store.info()["not_due"] == ["www"] and store.info(["www", "ghost"])["due"] == ["ghost"]
    store.record_attempt("www", "boom")
    lock = store.lock("www", 30)
    with pytest.raises(LockError):
        store.lock("www", 30)
    assert store.unlock("www", lock.owner)
    stale = store.lock("www", 1)
    taken = store.lock("www", 30, timeout=10)       # takeover of an expired lease: conditional overwrite
    with pytest.raises(LockError):
        store.unlock("www", stale.owner)
    assert store.unlock("www", taken.owner)
    removed = store.remove("www")                   # a tombstone: no data delete needed
    assert removed["changed"] and store.get("www") is None and store.info()["count"] == 0


def test_the_policy_really_is_enforced(iam_moto):
    url, keys = iam_moto
    backend = open_backend("s3", options(url, keys["autotls"]))
    backend.store("certs/x/y.json", b"{}")
    with pytest.raises(StorageError, match="access denied: DeleteObject"):
        backend.delete("certs/x/y.json")             # data deletes are outside the policy
    outside = open_backend("s3", options(url, keys["autotls"], prefix="someone-else"))
    with pytest.raises(StorageError, match="access denied: PutObject"):
        outside.store("certs/x/y.json", b"{}")
    auditor = open_backend("s3", options(url, keys["auditor"]))
    assert auditor.load("certs/x/y.json") == b"{}"


def test_objects_are_encrypted_at_rest(iam_moto, ca):
    import boto3
    url, keys = iam_moto
    store = bundles.CertificateStore(open_backend("s3", options(url, keys["autotls"])), STAGING)
    version = store.put("enc", bundle_of(ca))["version"]
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id=keys["auditor"]["s3_access_key"],
                          aws_secret_access_key=keys["auditor"]["s3_secret_key"])
    key = "%s/versions/%s/enc/%s/privkey.pem" % (PREFIX, store.slug, version)
    assert client.head_object(Bucket=BUCKET, Key=key)["ServerSideEncryption"] == "AES256"
