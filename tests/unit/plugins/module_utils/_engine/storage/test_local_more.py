"""The local backend's fault handling: races with other writers, refusals from the filesystem, lock records that
cannot be read, written or removed. Real directories under tmp_path; failures are injected one call at a time."""
import os

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import fsio
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    EngineError, InputError, LockError, StorageError)
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage import local as local_mod
from ansible_collections.autotls.acme.plugins.module_utils._engine.storage.local import LocalStorage


def denied(*_args, **_kwargs):
    raise PermissionError(13, "Permission denied")


@pytest.fixture
def storage(tmp_path):
    return LocalStorage(str(tmp_path / "store"))


def test_the_root_must_be_named_creatable_and_readable(tmp_path, monkeypatch):
    for empty in (None, ""):
        with pytest.raises(InputError, match="local_path: is required"):
            LocalStorage(empty)
    (tmp_path / "exists").mkdir()
    monkeypatch.setattr(local_mod.os, "access", lambda path, mode: False)
    with pytest.raises(InputError, match="local_path: cannot create .*new: .* is not writable by this user"):
        LocalStorage(str(tmp_path / "new"))
    with pytest.raises(InputError, match="local_path: .*exists is not readable by this user"):
        LocalStorage(str(tmp_path / "exists"))


def test_a_root_another_process_creates_at_the_same_time_is_used(tmp_path, monkeypatch):
    storage = LocalStorage(str(tmp_path / "store"))
    real_mkdir = os.mkdir
    raced = []

    def racing_mkdir(path, mode=0o777):
        real_mkdir(path, mode)            # the other process was first ...
        raced.append(path)
        raise FileExistsError(17, "File exists")   # ... so ours fails
    monkeypatch.setattr(local_mod.os, "mkdir", racing_mkdir)
    storage.store("certs/www/cert.pem", b"CERT")
    monkeypatch.undo()
    assert storage.load("certs/www/cert.pem") == b"CERT"
    assert str(tmp_path / "store") in raced and str(tmp_path / "store" / "certs" / "www") in raced


def test_a_root_that_cannot_be_created_fails_the_write(tmp_path, monkeypatch):
    storage = LocalStorage(str(tmp_path / "store"))
    monkeypatch.setattr(local_mod.os, "mkdir", denied)
    with pytest.raises(StorageError, match="cannot write .*cannot create .*store: Permission denied"):
        storage.store("certs/x", b"1")
    monkeypatch.undo()
    assert not (tmp_path / "store").exists()


def test_a_directory_pruned_by_a_concurrent_delete_is_recreated(storage, monkeypatch):
    real = fsio.write_atomic
    calls = []

    def pruned_once(spec, **kwargs):
        calls.append(spec.path)
        if len(calls) == 1:
            os.rmdir(os.path.dirname(spec.path))   # a concurrent delete removed the then empty directory
            raise FileNotFoundError(2, "No such file or directory")
        return real(spec, **kwargs)
    monkeypatch.setattr(local_mod.fsio, "write_atomic", pruned_once)
    storage.store("certs/www/cert.pem", b"CERT")
    assert len(calls) == 2 and storage.load("certs/www/cert.pem") == b"CERT"


def test_a_write_that_keeps_failing_is_a_storage_error(storage, monkeypatch):
    calls = []

    def broken(spec, **kwargs):
        calls.append(spec.path)
        raise EngineError("disk full")
    monkeypatch.setattr(local_mod.fsio, "write_atomic", broken)
    with pytest.raises(StorageError, match="cannot write .*cert.pem: disk full") as err:
        storage.store("certs/www/cert.pem", b"CERT")
    assert len(calls) == 1 and err.value.details["path"].endswith("cert.pem")   # the directory exists: no retry


def test_deleting_what_is_not_there_is_no_error(storage):
    storage.delete("certs/none")
    storage.delete_tree("certs/none/")
    storage.store("certs/a", b"1")
    storage.delete("certs/a/below")          # a file in the way of the path: nothing to delete
    assert storage.load("certs/a") == b"1"
    storage.store("certs/d/x", b"x")
    storage.store("certs/d/y", b"y")
    storage.delete("certs/d/x")              # the directory still holds y: pruning stops there
    assert storage.list("certs/d/") == ["certs/d/y"] and os.path.isdir(os.path.join(storage.root, "certs", "d"))


def test_listing_filters_by_partial_name_and_can_stay_shallow(storage):
    for key in ("certs/www/cert.pem", "certs/www/chain.pem", "certs/wiki/cert.pem", "certs/api/cert.pem",
                "other/x", "top"):
        storage.store(key, b"1")
    os.makedirs(os.path.join(storage.root, "certs", ".hidden"))
    with open(os.path.join(storage.root, "certs", ".hidden", "k"), "w") as handle:
        handle.write("x")
    storage.lock("www", 30)
    assert storage.list("certs/w") == ["certs/wiki/cert.pem", "certs/www/cert.pem", "certs/www/chain.pem"]
    assert storage.list("certs/", recursive=False) == ["certs/api/", "certs/wiki/", "certs/www/"]
    assert storage.list("", recursive=False) == ["certs/", "other/", "top"]   # never the lock directory
    assert storage.list("t") == ["top"] and storage.list("nothing/") == []
    assert storage.list("top/") == []   # a file is not a directory to list


def test_locks_need_flock(storage, monkeypatch):
    monkeypatch.setattr(local_mod, "HAVE_FLOCK", False)
    with pytest.raises(LockError, match="needs fcntl.flock"):
        storage.lock("www", 30)


def test_a_guard_that_cannot_be_opened_is_a_storage_error(storage, monkeypatch):
    monkeypatch.setattr(local_mod.os, "open", denied)
    with pytest.raises(StorageError, match="cannot open .*locks/.guard: Permission denied"):
        storage.lock("www", 30)


def test_an_unreadable_lock_record_is_a_storage_error_not_a_free_lock(storage):
    os.makedirs(storage._lock_path("www"))   # a directory where the record must be
    with pytest.raises(StorageError, match="cannot read .*www.lock"):
        storage.lock("www", 30)
    with pytest.raises(StorageError, match="cannot read"):
        storage.lock_state("www")


def test_a_lock_record_that_cannot_be_written_is_a_storage_error(storage, monkeypatch):
    def broken(spec, **kwargs):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(local_mod.fsio, "write_atomic", broken)
    with pytest.raises(StorageError, match="cannot write lock .*www.lock: .*No space left"):
        storage.lock("www", 30)
    monkeypatch.undo()
    assert not storage.lock_state("www").held


def test_releasing_checks_the_owner_and_tolerates_a_vanished_record(storage, monkeypatch):
    assert storage.unlock("www", "nobody") is False        # no lock held: nothing released
    held = storage.lock("www", 30)
    with pytest.raises(LockError, match="held by another owner") as err:
        storage.unlock("www", "not-the-token")
    assert err.value.details["lock"]["held"] and storage.lock_state("www").held
    real_unlink = os.unlink

    def vanished(path, *args, **kwargs):
        if path.endswith("www.lock"):
            real_unlink(path)
            raise FileNotFoundError(2, "No such file or directory")
        return real_unlink(path, *args, **kwargs)
    with monkeypatch.context() as patch:
        patch.setattr(local_mod.os, "unlink", vanished)
        assert storage.unlock("www", held.owner) is False
    again = storage.lock("www", 30)
    with monkeypatch.context() as patch:
        patch.setattr(local_mod.os, "unlink", denied)
        with pytest.raises(StorageError, match="cannot remove lock .*www.lock: Permission denied"):
            storage.unlock("www", again.owner)
    assert storage.lock_state("www").held and storage.unlock("www", again.owner)
