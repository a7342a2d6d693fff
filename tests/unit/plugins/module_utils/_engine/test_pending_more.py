"""The pending area's edges: bad directories, damaged records and journals, refusals while settling, staging
directories that are not ours or are this run's own."""
import json
import os

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import pending, runs
from ansible_collections.autotls.acme.plugins.module_utils._engine.errors import (
    EngineError, InputError, LockError, StorageError)

DIRECTORY = "https://ca.test/dir"


@pytest.fixture
def keep(tmp_path):
    return pending.PendingArea(str(tmp_path / "pending"), DIRECTORY)


def test_the_pending_dir_is_required_and_must_be_a_directory(tmp_path):
    with pytest.raises(InputError, match="pending_dir: is required"):
        pending.PendingArea("", DIRECTORY)
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(InputError) as err:
        pending.PendingArea(str(afile), DIRECTORY)
    assert err.value.field == "pending_dir" and "cannot create" in err.value.msg
    (tmp_path / "real").mkdir()
    os.symlink(str(tmp_path / "real"), str(tmp_path / "link"))
    with pytest.raises(InputError, match="pending_dir: .*link is not a directory"):
        pending.PendingArea(str(tmp_path / "link"), DIRECTORY)


def test_a_too_open_pending_dir_of_ours_is_made_private(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    os.chmod(str(loose), 0o755)
    keep = pending.PendingArea(str(loose), DIRECTORY)
    assert os.stat(str(loose)).st_mode & 0o777 == 0o700 and keep.root == str(loose)


def test_a_failed_write_names_the_pending_directory(keep):
    os.makedirs(os.path.join(keep.base, "www"))
    os.chmod(os.path.join(keep.base, "www"), 0o700)
    blocker = os.path.join(keep.base, "www", "order.json")
    os.mkdir(blocker)   # a directory where the record must go
    with pytest.raises(EngineError) as err:
        keep.save_order("www", "https://ca.test/order/1", None, ["www.example.com"])
    assert "cannot write the pending area" in err.value.msg and err.value.details["path"].endswith("www")
    with pytest.raises(InputError):
        keep.save_order("../escape", "https://ca.test/order/1", None, [])


def test_save_issued_for_another_order_starts_a_new_record(keep):
    keep.save_order("www", "https://ca.test/order/1", b"KEY", ["a.example.com"])
    keep.save_issued("www", "https://ca.test/order/2", b"CERT", b"", b"CERT", "02", "2030-01-01T00:00:00Z",
                     ["www.example.com"])
    record = keep.order("www")
    assert record["order_url"] == "https://ca.test/order/2" and record["identifiers"] == ["www.example.com"]
    assert record["issued"] and record["serial"] == "02"
    kept = keep.issued("www")
    assert kept["chain"] == b"" and kept["fullchain"] == b"CERT" and kept["private_key"] == b"KEY"


def test_damaged_records_read_as_absent(keep):
    keep.save_order("www", "https://ca.test/order/1", None, ["www.example.com"])
    path = os.path.join(keep.base, "www", "order.json")
    for raw in (b"{not json", b"[1, 2]"):
        with open(path, "wb") as handle:
            handle.write(raw)
        assert keep.order("www") is None and keep.issued("www") is None
    assert not keep.remove("www")   # no record: nothing removed
    assert os.path.isdir(os.path.join(keep.base, "www"))
    assert keep.describe() == [{"name": "www", "order_url": None, "issued": False, "serial": None, "not_after": None,
                                "saved_at": None, "identifiers": []}]


def test_an_issued_record_without_its_key_is_not_usable(keep):
    keep.save_order("www", "https://ca.test/order/1", None, ["www.example.com"])   # the caller's own CSR: no key
    keep.save_issued("www", "https://ca.test/order/1", b"CERT", b"CHAIN", b"FULL", "01", "2030", ["www.example.com"])
    assert keep.order("www")["issued"] and keep.issued("www") is None


def test_names_skips_hidden_and_incomplete_entries_and_survives_a_removed_base(keep):
    keep.save_order("b", "https://ca.test/order/1", None, [])
    keep.save_order("a", "https://ca.test/order/2", None, [])
    os.makedirs(os.path.join(keep.base, "half"))
    os.makedirs(os.path.join(keep.base, ".hidden"))
    with open(os.path.join(keep.base, ".hidden", "order.json"), "w") as handle:
        handle.write("{}")
    assert keep.names() == ["a", "b"]
    import shutil
    shutil.rmtree(keep.base)
    assert keep.names() == [] and keep.describe() == []


def test_the_journal_counts_per_storage_and_survives_damage(keep):
    assert keep.owe([]) is None and not os.path.exists(os.path.join(keep.base, "journal.json"))
    keep.owe([{"kind": "attempt", "name": "a", "storage": "s3://b/"},
              {"kind": "attempt", "name": "b", "storage": "s3://b/"},
              {"kind": "unlock", "name": "a", "storage": "local:/x", "token": "t"}])
    assert keep.owed("s3://b/") == 2 and keep.owed("local:/x") == 1 and keep.owed("gcs://c/") == 0
    path = os.path.join(keep.base, "journal.json")
    with open(path, "w") as handle:
        handle.write("{broken")
    assert keep.owed("s3://b/") == 0
    with open(path, "w") as handle:
        json.dump({"not": "a list"}, handle)
    assert keep.owed("s3://b/") == 0 and keep.settle("s3://b/", lambda e: None) == {"settled": [], "owed": []}
    keep.owe([{"kind": "attempt", "name": "c", "storage": "s3://b/"}])   # a damaged journal starts over
    assert keep.owed("s3://b/") == 1


def test_the_journal_keeps_only_the_newest_entries(keep, monkeypatch):
    monkeypatch.setattr(pending, "MAX_JOURNAL", 3)
    keep.owe([{"kind": "attempt", "name": "n%d" % i, "storage": "s"} for i in range(5)])
    with open(os.path.join(keep.base, "journal.json")) as handle:
        assert [entry["name"] for entry in json.load(handle)] == ["n2", "n3", "n4"]


def test_settle_drops_entries_refused_for_good_and_keeps_unreachable_ones(keep):
    keep.owe([{"kind": "unlock", "name": "a", "storage": "s", "token": "old"},
              {"kind": "attempt", "name": "b", "storage": "s"},
              {"kind": "attempt", "name": "c", "storage": "s"}])

    def apply(entry):
        if entry["name"] == "a":
            raise LockError("the lock was taken over")
        if entry["name"] == "b":
            raise StorageError("still down", unreachable=True)
    result = keep.settle("s", apply)
    assert [(e["name"], e.get("dropped", False)) for e in result["settled"]] == [("a", True), ("c", False)]
    assert [e["name"] for e in result["owed"]] == ["b"] and keep.owed("s") == 1


def test_settle_lets_other_errors_through_and_keeps_the_journal(keep):
    keep.owe([{"kind": "attempt", "name": "a", "storage": "s"}])

    def apply(entry):
        raise RuntimeError("a bug")
    with pytest.raises(RuntimeError):
        keep.settle("s", apply)
    assert keep.owed("s") == 1


def _staging(base, name, run=None, raw=None):
    path = os.path.join(base, name)
    os.makedirs(path)
    if run is not None or raw is not None:
        with open(os.path.join(path, ".run.json"), "w") as handle:
            handle.write(raw if raw is not None else json.dumps(run))
    return path


def test_staging_of_this_run_is_never_stale_and_damaged_run_files_fall_back_to_age(tmp_path, monkeypatch):
    base = str(tmp_path)
    me = {"host": "h", "boot_id": "b", "pidns": "p", "pid": 1, "pgid": 1, "start": 1}
    monkeypatch.setattr(runs, "run_identity", lambda: me)
    monkeypatch.setattr(runs, "is_gone", lambda identity: identity is not None and identity != me)
    own = _staging(base, "autotls-" + "a" * 16, run=me)
    other_gone = _staging(base, "autotls-" + "b" * 16, run=dict(me, pgid=2))
    damaged = _staging(base, "autotls-" + "c" * 16, raw="{not json")
    assert pending._run_of(damaged) is None
    now = os.stat(damaged).st_mtime
    assert pending.stale_staging(base, max_age=900, now=now) == [other_gone]
    later = now + 901   # old enough: the damaged one goes, this run's own never does
    assert pending.stale_staging(base, max_age=900, now=later) == sorted([other_gone, damaged])
    assert own not in pending.sweep_staging(base, max_age=900, now=later) and os.path.isdir(own)


def test_staging_entries_that_are_not_our_directories_are_left_alone(tmp_path, monkeypatch):
    base = str(tmp_path / "base")
    os.makedirs(base)
    monkeypatch.setattr(runs, "run_identity", lambda: None)
    monkeypatch.setattr(runs, "is_gone", lambda identity: True)
    afile = os.path.join(base, "autotls-" + "d" * 16)
    with open(afile, "w") as handle:
        handle.write("x")
    target = _staging(str(tmp_path), "elsewhere")
    os.symlink(target, os.path.join(base, "autotls-" + "e" * 16))
    _staging(base, "autotls-" + "F" * 16)         # not the name pattern (upper case)
    foreign = _staging(base, "autotls-" + "g" * 16)
    if os.getuid() == 0:
        os.chown(foreign, 54321, 54321)   # another user's directory
    else:
        real_lstat = os.lstat

        class Foreign:
            def __init__(self, st):
                self.st_uid, self.st_mtime, self.st_mode = st.st_uid + 1, st.st_mtime, st.st_mode

        monkeypatch.setattr(pending.os, "lstat", lambda p: Foreign(real_lstat(p)) if p == foreign else real_lstat(p))
    assert pending.stale_staging(base, max_age=0) == []
    assert pending.stale_staging(str(tmp_path / "missing"), max_age=0) == []
    assert os.path.isdir(target)
