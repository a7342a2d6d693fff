"""Two controllers with empty disks (two fresh account paths) run site.yml at the same time against one S3
store (moto) with certificate_account_storage: Pebble's log shows exactly one new account, the certificate
is ordered once, both web hosts serve it, and no account key is left on either controller's disk."""
import json
import os
import pathlib
import subprocess
import sys
import uuid

import pytest
import yaml

from ..acme.test_account_storage import accounts_created
from ..conftest import ROOT
from ..storage.conftest import boto_client, services, services_env  # noqa: F401  pylint: disable=unused-import
from .conftest import HOSTS, SITE, new_orders

pytestmark = pytest.mark.role


def test_two_fresh_controllers_share_one_account_through_s3(fleet, services):  # noqa: F811
    # pylint: disable=redefined-outer-name,unused-argument
    env = services_env()
    bucket = "autotls-acct-%s" % uuid.uuid4().hex[:8]
    boto_client(env["S3_ENDPOINT_URL"]).create_bucket(Bucket=bucket)
    storage = {"backend": "s3", "s3_bucket": bucket, "s3_prefix": "autotls/", "s3_endpoint_url": env["S3_ENDPOINT_URL"],
               "s3_access_key": "testing", "s3_secret_key": "testing", "s3_region": "us-east-1"}
    fleet.write_inventory(certificate_storage=storage, certificate_account_storage=True)
    inventories, controllers = [], []
    for name in ("controller-a", "controller-b"):
        home = os.path.join(fleet.workdir, name)
        os.makedirs(os.path.join(home, "staging"))
        inventory = yaml.safe_load(pathlib.Path(fleet.inventory).read_text())
        variables = inventory["all"]["children"]["web"]["vars"]
        variables["certificate_account_key_path"] = os.path.join(home, "autotls", "account.key")   # fresh, empty
        variables["certificate_staging_base"] = os.path.join(home, "staging")
        path = os.path.join(home, "inventory.yml")
        pathlib.Path(path).write_text(yaml.safe_dump(inventory))
        inventories.append(path)
        controllers.append(home)
    accounts, orders = accounts_created(), new_orders()
    run_env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "build", "collections"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    procs = [subprocess.Popen(["ansible-playbook", "-i", inventory, SITE], env=run_env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for inventory in inventories]
    outputs = [proc.communicate(timeout=900)[0] for proc in procs]
    for home, out in zip(controllers, outputs):
        with open(os.path.join(home, "site.log"), "w") as handle:
            handle.write(out)
    for proc, out in zip(procs, outputs):
        assert proc.returncode == 0, out[-5000:]
    assert accounts_created() == accounts + 1          # Pebble registered exactly one account
    assert new_orders() == orders + 1                  # and one order: the other controller waited on the lock
    s3 = boto_client(env["S3_ENDPOINT_URL"])
    pointers = [obj["Key"] for obj in s3.list_objects_v2(Bucket=bucket, Prefix="autotls/certs/")["Contents"]
                if obj["Key"].endswith("/site/current.json")]
    stored = json.loads(s3.get_object(Bucket=bucket, Key=pointers[0])["Body"].read())["serial"]
    for addr in HOSTS.values():
        assert fleet.served(addr) == stored
    for home in controllers:
        assert not os.path.exists(os.path.join(home, "autotls", "account.key"))   # never on the controller's disk
        assert os.listdir(os.path.join(home, "staging")) == []                      # staging removed at the end
    objects = s3.list_objects_v2(Bucket=bucket, Prefix="autotls/accounts/")
    keys_ = [obj["Key"] for obj in objects.get("Contents", [])]
    assert len(keys_) == 1 and keys_[0].endswith("/account.json"), keys_
    head = s3.head_object(Bucket=bucket, Key=keys_[0])
    assert head.get("ServerSideEncryption") == "AES256"      # stored like certificate keys: SSE
