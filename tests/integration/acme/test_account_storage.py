"""acme_account with the account kept in the certificate store (Pebble, local directory and redis-server):
a controller with an empty disk fetches the account instead of registering, key rollover updates the
stored key. Pebble's own log counts the accounts it created."""
import json
import os
import re
import stat
import uuid

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import keys
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import accounts
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend

from ..conftest import ROOT, run_tasks
from ..storage.conftest import services, services_env  # noqa: F401  pylint: disable=unused-import

pytestmark = pytest.mark.issuance


def accounts_created():
    """How many accounts Pebble has registered since it started (its own log)."""
    with open(os.path.join(ROOT, "build", "stack", "pebble.log")) as handle:
        return len(re.findall(r"There are now \d+ accounts in memory", handle.read()))


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_fresh_controllers_fetch_the_stored_account_and_rollover_updates_it(stack, services, tmp_path, kind):  # noqa: F811
    # pylint: disable=redefined-outer-name
    if kind == "local":
        store = {"backend": "local", "local_path": str(tmp_path / "store")}
    else:
        store = {"backend": "redis", "redis_url": services_env()["REDIS_URL"],
                 "redis_prefix": "acct-%s" % uuid.uuid4().hex[:12]}   # a store of its own, every run
    acme = {"acme_directory": stack["ACME_DIRECTORY"], "ca_bundle": stack["ACME_CA_BUNDLE"], "storage": store,
            "contact": ["ops@example.com"], "terms_agreed": True}
    before = accounts_created()
    first, _out = run_tasks(tmp_path, [{"name": "a", "register": "a", "autotls.acme.acme_account": dict(
        acme, account_key_path=str(tmp_path / "a" / "account.key"))}])
    a = first["a"]
    assert a["created"] and not a["fetched"] and a["stored_account"]["account_uri"] == a["account_uri"]
    assert accounts_created() == before + 1
    # Controller B: an empty disk, another path. The account comes from storage; nothing is registered.
    second, _out = run_tasks(tmp_path, [{"name": "b", "register": "b", "autotls.acme.acme_account": dict(
        acme, account_key_path=str(tmp_path / "b" / "account.key"))}])
    b = second["b"]
    assert b["fetched"] and not b["created"] and b["changed"] is False and b["account_uri"] == a["account_uri"]
    assert accounts_created() == before + 1
    key_b = tmp_path / "b" / "account.key"
    assert stat.S_IMODE(os.stat(key_b).st_mode) == 0o600 and stat.S_IMODE(os.stat(key_b.parent).st_mode) == 0o700
    assert key_b.read_bytes() == (tmp_path / "a" / "account.key").read_bytes()
    # Rollover from controller B: the stored key becomes the new one; controller C then signs with it.
    rolled, _out = run_tasks(tmp_path, [
        {"name": "roll", "register": "roll", "autotls.acme.acme_account": dict(
            acme, state="changed_key", account_key_path=str(key_b),
            new_account_key_path=str(tmp_path / "b" / "new.key"))},
        {"name": "c", "register": "c", "autotls.acme.acme_account": dict(
            acme, account_key_path=str(tmp_path / "c" / "account.key"))}])
    assert rolled["roll"]["changed"]
    new_key = (tmp_path / "b" / "new.key").read_bytes()
    assert (tmp_path / "c" / "account.key").read_bytes() == keys.private_key_to_pem(
        keys.load_private_key(new_key, "new"))
    assert rolled["c"]["fetched"] and rolled["c"]["account_uri"] == a["account_uri"] and not rolled["c"]["created"]
    assert rolled["c"]["stored_account"]["public_key_sha256"] == keys.public_key_sha256(
        keys.load_private_key(new_key, "new"))
    assert accounts_created() == before + 1
    # The results never carry the key.
    for result in (a, b, rolled["roll"], rolled["c"]):
        assert "PRIVATE KEY" not in json.dumps(result)
    if kind == "local":   # stored like certificate keys: 0600
        backend = open_backend("local", {"local_path": store["local_path"]})
        record = accounts.AccountStore(backend, stack["ACME_DIRECTORY"]).key
        assert stat.S_IMODE(os.stat(os.path.join(store["local_path"], record)).st_mode) == 0o600
