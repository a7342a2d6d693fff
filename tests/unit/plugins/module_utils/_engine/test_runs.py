"""runs: finding the ansible-playbook run among the ancestors, and judging whether a run is gone, on a fake /proc."""
import os

import pytest

from ansible_collections.autotls.acme.plugins.module_utils._engine import runs

BOOT = "0b5c2f1e-1111-2222-3333-444455556666"
PIDNS = "pid:[4026531836]"


def _stat_line(pid, ppid, pgrp, start, comm="python3"):
    # pid (comm) state ppid pgrp session ... starttime is the 20th field after the ")"
    return "%d (%s) S %d %d %s %d\n" % (pid, comm, ppid, pgrp, " ".join(["0"] * 16), start)


class FakeProc:
    def __init__(self, root):
        self.root = root
        os.makedirs(os.path.join(root, "sys", "kernel", "random"))
        with open(os.path.join(root, "sys", "kernel", "random", "boot_id"), "w") as handle:
            handle.write(BOOT + "\n")
        os.makedirs(os.path.join(root, "self", "ns"))
        os.symlink(PIDNS, os.path.join(root, "self", "ns", "pid"))

    def process(self, pid, ppid, pgrp, start=1000, argv=("python3",), stat=None, comm="python3"):
        path = os.path.join(self.root, str(pid))
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "stat"), "w") as handle:
            handle.write(stat if stat is not None else _stat_line(pid, ppid, pgrp, start, comm))
        with open(os.path.join(path, "cmdline"), "w") as handle:
            handle.write("\0".join(argv) + "\0")


@pytest.fixture
def proc(tmp_path, monkeypatch):
    fake = FakeProc(str(tmp_path / "proc"))
    monkeypatch.setattr(runs, "PROC", fake.root)
    monkeypatch.setattr(runs.socket, "gethostname", lambda: "control")
    return fake


def test_the_outermost_playbook_ancestor_names_the_run(proc, monkeypatch):
    proc.process(100, 1, 100, start=777, argv=("/usr/bin/python3", "/usr/bin/ansible-playbook", "site.yml"))
    proc.process(200, 100, 100, start=800, argv=("/usr/bin/python3", "/usr/bin/ansible-playbook", "site.yml"))
    proc.process(300, 200, 300, start=900, argv=("/usr/bin/python3", "/tmp/AnsiballZ_certificate.py"))
    monkeypatch.setattr(runs.os, "getppid", lambda: 300)
    assert runs.run_identity() == {"host": "control", "boot_id": BOOT, "pidns": PIDNS,
                                   "pid": 100, "pgid": 100, "start": 777}


def test_no_playbook_ancestor_or_a_broken_chain_gives_no_identity(proc, monkeypatch):
    proc.process(300, 200, 300, argv=("sshd: ansible",))
    monkeypatch.setattr(runs.os, "getppid", lambda: 300)
    assert runs.run_identity() is None                          # 200 has no /proc entry: the walk stops
    proc.process(200, 1, 200, argv=("bash", "ansible-playbook-wrapper"))
    assert runs.run_identity() is None                          # only the basename ansible-playbook counts
    monkeypatch.setattr(runs.os, "getppid", lambda: 1)
    assert runs.run_identity() is None


@pytest.mark.parametrize("stat", ["", "300 (python3 S 1 1", "300 (python3) S 1", "300 (x) S one two " + "0 " * 20])
def test_an_unreadable_stat_line_is_no_process(proc, stat):
    proc.process(300, 0, 0, stat=stat)
    assert runs._stat(300) is None


def test_a_command_name_with_parentheses_and_spaces_is_parsed_from_the_last_one(proc):
    proc.process(300, 42, 43, start=44, comm="evil) S 9 9 (x")
    assert runs._stat(300) == (42, 43, 44)


def test_without_boot_id_or_pid_namespace_nothing_is_judged(proc, monkeypatch):
    assert runs._namespace() == {"host": "control", "boot_id": BOOT, "pidns": PIDNS}
    os.unlink(os.path.join(proc.root, "self", "ns", "pid"))
    assert runs._namespace() is None
    assert runs.run_identity() is None
    assert not runs.is_gone({"host": "control", "boot_id": BOOT, "pidns": PIDNS, "pgid": 12345})
    os.symlink(PIDNS, os.path.join(proc.root, "self", "ns", "pid"))
    os.unlink(os.path.join(proc.root, "sys", "kernel", "random", "boot_id"))
    assert runs._namespace() is None


def test_is_gone_looks_for_any_process_of_the_group(proc, monkeypatch):
    identity = {"host": "control", "boot_id": BOOT, "pidns": PIDNS, "pid": 100, "pgid": 100, "start": 1}
    proc.process(100, 1, 100)
    proc.process(555, 1, 555)
    assert not runs.is_gone(identity)
    os.unlink(os.path.join(proc.root, "100", "stat"))
    proc.process(101, 1, 100)                 # the leader is gone, a member of its group is not
    assert not runs.is_gone(identity)
    os.unlink(os.path.join(proc.root, "101", "stat"))
    assert runs.is_gone(identity)
    assert runs.is_gone(dict(identity, pgid="100"))   # as read back from JSON of another writer
    for bad in ({k: v for k, v in identity.items() if k != "pgid"}, dict(identity, pgid=None),
                dict(identity, pgid="x"), dict(identity, boot_id="other"), "100", None):
        assert not runs.is_gone(bad)


def test_is_gone_is_false_when_proc_cannot_be_listed(proc, monkeypatch):
    identity = {"host": "control", "boot_id": BOOT, "pidns": PIDNS, "pgid": 100}
    assert runs.is_gone(identity)

    def refuse(path):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(runs.os, "listdir", refuse)
    assert not runs.is_gone(identity)
