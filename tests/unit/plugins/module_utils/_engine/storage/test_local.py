"""The local backend: permissions, listing, lock records."""
import json
import os
import pathlib
import stat
import time

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import InputError, LockError
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.factory import open_backend


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def local(tmp_path):
    return open_backend("local", {"local_path": str(tmp_path / "deep" / "store")})


def test_directories_are_0700_and_files_0600_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        backend = open_backend("local", {"local_path": str(tmp_path / "store")})
        backend.store("certs/a/b/current.json", b"{}")
        backend.store("versions/a/b/v1/privkey.pem", b"key", private=True)
        backend.lock("a/b", 30)
    finally:
        os.umask(old)
    root = backend.root
    assert mode(root) == 0o700
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            assert mode(os.path.join(dirpath, name)) == 0o700, os.path.join(dirpath, name)
        for name in filenames:
            assert mode(os.path.join(dirpath, name)) == 0o600, os.path.join(dirpath, name)


def test_root_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError) as err:
        open_backend("local", {"local_path": str(tmp_path / "file")})
    assert err.value.field == "local_path"


def test_temp_files_of_a_killed_writer_are_not_listed(local):
    local.store("a/b", b"1")
    open(os.path.join(local.root, "a", ".b.xyz.tmp"), "wb").close()
    assert local.list("") == ["a/b"]
    local.delete_tree("a/")
    assert not os.path.exists(os.path.join(local.root, "a"))


def test_delete_prunes_empty_directories(local):
    local.store("x/y/z", b"1")
    local.delete("x/y/z")
    assert os.listdir(local.root) == []


def test_lock_record_has_no_secret_in_its_public_state(local):
    lock = local.lock("www", 30)
    path = os.path.join(local.root, "locks", "www.lock")
    record = json.loads(pathlib.Path(path).read_text())
    assert record["owner"] == lock.owner and record["expires"] == pytest.approx(time.time() + 30, abs=2)
    state = local.lock_state("www")
    assert state.held and lock.owner not in json.dumps(state.to_result())
    assert state.to_result()["pid"] == os.getpid()


def test_a_stale_record_is_taken_over_and_a_fresh_one_is_not(local):
    path = os.path.join(local.root, "locks", "www.lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump({"owner": "crashed", "expires": time.time() + 60}, handle)
    with pytest.raises(LockError):
        local.lock("www", 10)
    with open(path, "w") as handle:
        json.dump({"owner": "crashed", "expires": time.time() - 1}, handle)
    lock = local.lock("www", 10)
    assert json.loads(pathlib.Path(path).read_text())["owner"] == lock.owner


def test_an_unreadable_record_counts_as_held_for_the_requested_ttl_from_its_mtime(local):
    path = os.path.join(local.root, "locks", "www.lock")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("garbage")
    with pytest.raises(LockError):
        local.lock("www", 30)
    old = time.time() - 60
    os.utime(path, (old, old))
    assert local.lock("www", 30).owner


def test_unlock_removes_the_record_and_empty_lock_directories(local):
    lock = local.lock("slug/www", 30)
    assert local.unlock("slug/www", lock.owner)
    assert os.listdir(os.path.join(local.root, "locks")) == [".guard"]


def test_unlock_needs_a_token(local):
    with pytest.raises(InputError) as err:
        local.unlock("www", "")
    assert err.value.field == "lock_token"


def test_waiting_for_a_held_lock_uses_the_injected_clock(tmp_path):
    """lock() waits in the storage's own clock: a fake one makes a 5-minute wait instant."""
    import time as real_time
    from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import LockError
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.local import LocalStorage
    storage = LocalStorage(str(tmp_path / "store"))
    holder = storage.lock("certs/www", ttl=600)
    fake = {"now": 0.0, "sleeps": []}
    storage.clock = lambda: fake["now"]

    def sleep(seconds):
        fake["sleeps"].append(seconds)
        fake["now"] += seconds
    storage.sleep = sleep
    started = real_time.monotonic()
    with pytest.raises(LockError, match="held by another owner"):
        storage.lock("certs/www", ttl=60, timeout=300)
    assert real_time.monotonic() - started < 5
    assert sum(fake["sleeps"]) == pytest.approx(300) and max(fake["sleeps"]) <= 1.5
    assert storage.unlock("certs/www", holder.owner)


def test_the_store_directory_is_created_by_the_first_write_only(tmp_path):
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import bundles
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.local import LocalStorage
    root = tmp_path / "deep" / "store"
    storage = LocalStorage(str(root))
    store = bundles.CertificateStore(storage, "https://acme.example/dir")
    assert store.info(["www"])["due"] == ["www"] and store.names() == []
    assert storage.load("certs/x") is None and storage.list("") == [] and storage.stat("certs/x") is None
    assert not (tmp_path / "deep").exists()   # state=info and check mode create nothing
    storage.store("certs/x", b"1")
    assert oct(os.stat(root).st_mode & 0o777) == "0o700" and storage.load("certs/x") == b"1"
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(InputError, match="local_path: .* is not a directory"):
        LocalStorage(str(afile / "store"))


def test_filesystem_errors_become_storage_errors(tmp_path, monkeypatch):
    import shutil
    from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import StorageError
    from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.local import LocalStorage
    storage = LocalStorage(str(tmp_path / "store"))
    storage.store("certs/a/b", b"1")
    assert storage.stat("certs/a") is None   # a directory is not an object

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")
    for target, call in ((os, "unlink"), (os, "listdir"), (shutil, "rmtree")):
        with monkeypatch.context() as patch:
            patch.setattr(target, call, denied)
            with pytest.raises(StorageError, match="Permission denied"):
                {"unlink": lambda: storage.delete("certs/a/b"), "listdir": lambda: storage.list("certs/"),
                 "rmtree": lambda: storage.delete_tree("certs/")}[call]()
    with monkeypatch.context() as patch:
        patch.setattr("builtins.open", denied)
        with pytest.raises(StorageError, match="cannot read"):
            storage.load("certs/a/b")
    storage.delete_tree("certs/")
    assert storage.list("") == [] and storage.load("certs/a/b") is None
