"""Measure `cert_store_info` over many stored certificates (not part of the test run).

    scripts/services.sh start && eval "$(scripts/services.sh env)"
    python3 bench/storage_info.py --count 500 --backends local,s3,redis,gcs

Fills a local store, an S3 prefix (moto), a Redis prefix or a GCS prefix (fake-gcs-server) with COUNT
certificates of one ACME directory, then times
  * the engine alone: open the backend + CertificateStore.info() over all of them;
  * the module: one `autotls.acme.cert_store_info` task through ansible-playbook (the task alone,
    measured between two controller-side timestamps, and the whole ansible-playbook run).
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

if __package__ in (None, ""):  # run as a script: bench/ is a package of the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from bench.common import COLLECTIONS
from bench.stack import ensure_collection_link

ensure_collection_link()
sys.path.insert(0, COLLECTIONS)
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles  # noqa: E402
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend  # noqa: E402

from tests.integration.pki import CA  # noqa: E402  # the test suite's CA: leaves with any notBefore

DIRECTORY = "https://acme.example.test/bench/directory"


def fill(kind, options, count, ca):
    store = bundles.CertificateStore(open_backend(kind, options), DIRECTORY)
    now = datetime.datetime.now(datetime.timezone.utc)
    started = time.monotonic()
    for i in range(count):
        parts = ca.issue(("b%d.example.com" % i,), not_before=now - datetime.timedelta(days=i % 90))
        store.put("cert-%04d" % i, bundles.make_bundle(*parts))
    return time.monotonic() - started


def engine_time(kind, options, count, rounds=3):
    times = []
    for _round in range(rounds):
        started = time.monotonic()
        result = bundles.CertificateStore(open_backend(kind, options), DIRECTORY).info()
        times.append(time.monotonic() - started)
        assert result["count"] == count, result["count"]
    return statistics.median(times)


def module_time(kind, options, count, workdir):
    args = dict(options, backend=kind, acme_directory=DIRECTORY)
    stamp = "{{ lookup('ansible.builtin.pipe', 'date +%s.%N') }}"
    playbook = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.set_fact": {"t0": stamp}},
        {"autotls.acme.cert_store_info": args, "register": "info"},
        {"ansible.builtin.set_fact": {"t1": stamp}},
        {"ansible.builtin.copy": {"dest": os.path.join(workdir, "out.json"), "mode": "0600",
                                  "content": "{{ {'t0': t0, 't1': t1, 'count': info.count} | to_json }}"}},
    ]}]
    path = os.path.join(workdir, "bench.yml")
    with open(path, "w") as handle:
        json.dump(playbook, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="0")
    started = time.monotonic()
    subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", path], check=True, env=env,
                   capture_output=True)
    total = time.monotonic() - started
    with open(os.path.join(workdir, "out.json")) as handle:
        out = json.load(handle)
    assert out["count"] == count
    return float(out["t1"]) - float(out["t0"]), total


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--backends", default="local,s3")
    args = parser.parse_args()
    ca = CA()
    workdir = tempfile.mkdtemp(prefix="autotls-bench-")
    rows = []
    for kind in args.backends.split(","):
        if kind == "local":
            options = {"local_path": os.path.join(workdir, "store")}
        elif kind == "s3":
            import boto3
            bucket = "autotls-bench-%s" % uuid.uuid4().hex[:8]
            boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT_URL"], region_name="us-east-1",
                         aws_access_key_id="bench", aws_secret_access_key="bench").create_bucket(Bucket=bucket)
            options = {"s3_bucket": bucket, "s3_prefix": "bench", "s3_endpoint_url": os.environ["S3_ENDPOINT_URL"],
                       "s3_region": "us-east-1", "s3_access_key": "bench", "s3_secret_key": "bench"}
        elif kind == "gcs":
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage
            bucket = "autotls-bench-%s" % uuid.uuid4().hex[:8]
            storage.Client(project="bench", credentials=AnonymousCredentials(),
                           client_options={"api_endpoint": os.environ["GCS_ENDPOINT_URL"]}).create_bucket(bucket)
            options = {"gcs_bucket": bucket, "gcs_prefix": "bench", "gcs_endpoint_url": os.environ["GCS_ENDPOINT_URL"],
                       "gcs_anonymous": True}
        else:
            options = {"redis_url": os.environ["REDIS_URL"], "redis_prefix": "bench-%s" % uuid.uuid4().hex[:8]}
        filled = fill(kind, options, args.count, ca)
        engine = engine_time(kind, options, args.count)
        task, total = module_time(kind, options, args.count, workdir)
        rows.append((kind, filled, engine, task, total))
    print("%-6s %10s %12s %12s %16s" % ("backend", "fill (s)", "engine (s)", "task (s)", "playbook (s)"))
    for kind, filled, engine, task, total in rows:
        print("%-6s %10.1f %12.3f %12.3f %16.3f" % (kind, filled, engine, task, total))
    print("(%d certificates; engine = open backend + info(), median of 3; task = the one cert_store_info task, "
          "including Ansible's module transfer and Python start-up)" % args.count)


if __name__ == "__main__":
    main()
