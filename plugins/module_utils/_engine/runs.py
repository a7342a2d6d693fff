# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which run is this, and is another run still alive?

A lock is taken in one Ansible task and released in a later one, so the module
process that takes it is gone long before the lock is released. What holds the
lock is the ansible-playbook run: this module finds it among its ancestors and
records its process group (with the kernel's boot id and the pid namespace).
A process of the same machine, boot and pid namespace can then tell whether
that run is gone: no process of its group is left. A run killed with -9 is gone
once the module it was running has finished too, so its locks and staging
directories can be cleaned up at once instead of after their TTL.

Where no ansible-playbook ancestor is found (the control node is reached over
SSH), run_identity() returns None and only the TTL counts.
"""
from __future__ import annotations

import os
import socket

PROC = "/proc"


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


def _stat(pid: int) -> tuple[int, int, int] | None:
    """(ppid, pgrp, starttime) of pid from /proc/<pid>/stat, or None."""
    text = _read("%s/%d/stat" % (PROC, pid))
    if not text or ")" not in text:
        return None
    fields = text.rsplit(")", 1)[1].split()
    try:
        return int(fields[1]), int(fields[2]), int(fields[19])
    except (IndexError, ValueError):
        return None


def _is_playbook(pid: int) -> bool:
    cmdline = _read("%s/%d/cmdline" % (PROC, pid)) or ""
    return any(os.path.basename(arg) == "ansible-playbook" for arg in cmdline.split("\0")[:3])


def _namespace() -> dict | None:
    boot = _read(PROC + "/sys/kernel/random/boot_id")
    try:
        pidns = os.readlink(PROC + "/self/ns/pid")
    except OSError:
        pidns = None
    if not boot or not pidns:
        return None
    return {"host": socket.gethostname(), "boot_id": boot.strip(), "pidns": pidns}


def run_identity() -> dict | None:
    """{host, boot_id, pidns, pid, pgid, start} of the ansible-playbook run this process belongs to, or None."""
    where = _namespace()
    if where is None:
        return None
    found, pid = None, os.getppid()
    for _depth in range(12):
        if pid <= 1:
            break
        stat = _stat(pid)
        if stat is None:
            break
        if _is_playbook(pid):
            found = (pid, stat)   # keep walking: workers are forks of the main process
        pid = stat[0]
    if found is None:
        return None
    pid, (_ppid, pgid, start) = found
    return dict(where, pid=pid, pgid=pgid, start=start)


def is_gone(identity: object) -> bool:
    """True only when identity names a run of this machine, boot and pid namespace of which no process is
    left (its process group is empty). Unknown or foreign runs are never declared gone."""
    if not isinstance(identity, dict):
        return False
    here = _namespace()
    if here is None or any(identity.get(key) != here[key] for key in ("host", "boot_id", "pidns")):
        return False
    try:
        pgid = int(identity["pgid"])
    except (KeyError, TypeError, ValueError):
        return False
    try:
        entries = os.listdir(PROC)
    except OSError:
        return False
    for entry in entries:
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == pgid:
                return False
    return True
