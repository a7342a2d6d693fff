"""Storage backends for the tests: a local directory, moto's S3 server, redis-server and fake-gcs-server,
all on 127.0.0.1.

The S3, Redis and GCS services are those of scripts/services.sh. If they are not answering,
the session starts them (and stops them at the end); if they were already running
(for example started by the Makefile) they are left running.
"""
import os
import socket
import subprocess
import uuid

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from ..pki import CA

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SERVICES = os.path.join(ROOT, "scripts", "services.sh")
STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"
PRODUCTION = "https://acme-v02.api.letsencrypt.org/directory"
KINDS = ("local", "s3", "redis", "gcs")
S3_CREDENTIALS = {"s3_access_key": "testing", "s3_secret_key": "testing", "s3_region": "us-east-1"}

# Never let boto3 look for credentials or a region outside this machine.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# ...nor google-auth ask a metadata server (the gcs tests name their endpoint and send no credentials).
os.environ["NO_GCE_CHECK"] = "True"


def services_env() -> dict:
    out = subprocess.run(["bash", SERVICES, "env"], check=True, capture_output=True, text=True).stdout
    env = {}
    for line in out.splitlines():
        if line.startswith("export "):
            name, _equals, value = line[len("export "):].partition("=")
            env[name] = value.strip("'\"")
    return env


def _answers(host, port, probe: bytes, expect: bytes) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(probe)
            return sock.recv(64).startswith(expect)
    except OSError:
        return False


def services_up(env) -> bool:
    s3_port = int(env["S3_ENDPOINT_URL"].rsplit(":", 1)[1])
    redis_port = int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    gcs_port = int(env["GCS_ENDPOINT_URL"].rsplit(":", 1)[1])
    return (_answers("127.0.0.1", s3_port, b"GET /moto-api/ HTTP/1.0\r\n\r\n", b"HTTP/")
            and _answers("127.0.0.1", redis_port, b"PING\r\n", b"+PONG")
            and _answers("127.0.0.1", gcs_port, b"GET /storage/v1/b HTTP/1.0\r\n\r\n", b"HTTP/1.0 200"))


@pytest.fixture(scope="session")
def services():
    env = services_env()
    started = False
    if not services_up(env):
        proc = subprocess.run(["bash", SERVICES, "start"], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, "scripts/services.sh start failed:\n%s\n%s" % (proc.stdout, proc.stderr)
        started = True
    yield env
    if started and not os.environ.get("KEEP_SERVICES"):
        subprocess.run(["bash", SERVICES, "stop"], capture_output=True, text=True, check=False)


def boto_client(endpoint):
    import boto3
    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1")


@pytest.fixture(scope="session")
def s3_bucket(services):
    bucket = "autotls-test-%s" % uuid.uuid4().hex[:10]
    boto_client(services["S3_ENDPOINT_URL"]).create_bucket(Bucket=bucket)
    return bucket


def gcs_client(endpoint):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    return storage.Client(project="autotls-test", credentials=AnonymousCredentials(),
                          client_options={"api_endpoint": endpoint})


@pytest.fixture(scope="session")
def gcs_bucket(services):
    bucket = "autotls-test-%s" % uuid.uuid4().hex[:10]
    gcs_client(services["GCS_ENDPOINT_URL"]).create_bucket(bucket)
    return bucket


def unique(tag="t"):
    return "%s-%s" % (tag, uuid.uuid4().hex[:10])


class Backends:
    """Options of a fresh, empty namespace of each backend."""

    def __init__(self, request, tmp_path_factory):
        self.request = request
        self.tmp = tmp_path_factory

    @property
    def env(self):
        return self.request.getfixturevalue("services")

    def options(self, kind, **extra):
        if kind == "local":
            options = {"local_path": str(self.tmp.mktemp("store") / "certs")}
        elif kind == "s3":
            options = dict(S3_CREDENTIALS, s3_bucket=self.request.getfixturevalue("s3_bucket"),
                           s3_prefix=unique("p"), s3_endpoint_url=self.env["S3_ENDPOINT_URL"], s3_max_attempts=3)
        elif kind == "gcs":
            options = {"gcs_bucket": self.request.getfixturevalue("gcs_bucket"), "gcs_prefix": unique("p"),
                       "gcs_endpoint_url": self.env["GCS_ENDPOINT_URL"], "gcs_anonymous": True}
        else:
            options = {"redis_url": self.env["REDIS_URL"], "redis_prefix": unique("autotls-test")}
        options.update(extra)
        return options

    def open(self, kind, options=None):
        return open_backend(kind, options or self.options(kind))


@pytest.fixture
def backends(request, tmp_path_factory):
    return Backends(request, tmp_path_factory)


@pytest.fixture(params=KINDS)
def kind(request):
    return request.param


@pytest.fixture
def options(backends, kind):
    return backends.options(kind)


@pytest.fixture
def storage(kind, options):
    backend = open_backend(kind, options)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def ca():
    return CA()


def stored_keys(kind, options, services=None):
    """Every key under the namespace, including lock records (to prove that nothing was stored)."""
    if kind == "local":
        root = options["local_path"]
        found = []
        for dirpath, _dirnames, filenames in os.walk(root):
            found += [os.path.relpath(os.path.join(dirpath, name), root) for name in filenames if name != ".guard"]
        return sorted(found)
    if kind == "s3":
        client = boto_client(options["s3_endpoint_url"])
        response = client.list_objects_v2(Bucket=options["s3_bucket"], Prefix=options["s3_prefix"] + "/")
        return sorted(item["Key"] for item in response.get("Contents", []))
    if kind == "gcs":
        client = gcs_client(options["gcs_endpoint_url"])
        blobs = client.list_blobs(options["gcs_bucket"], prefix=options["gcs_prefix"] + "/")
        return sorted(blob.name for blob in blobs)
    import redis
    client = redis.Redis.from_url(options["redis_url"])
    return sorted(key.decode() for key in client.scan_iter(match=options["redis_prefix"] + ":*"))
