"""Measuring: one child process (wall time, CPU time of the whole tree, peak RSS of one process), and the
run of every (contender, N) job, cheap contenders repeated and reported by their median-wall run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from bench.common import ROOT, BenchError, log
from bench.verify import VerifyError

DEFAULT_FORKS = 5  # ansible-core's default; the harness clears ANSIBLE_* from the contenders' environment
SAMPLE_INTERVAL = 0.02  # seconds between /proc samples of the measured process tree


class TreeSampler(threading.Thread):
    """Peak RSS (VmHWM) of the largest single process in the tree under `root`, sampled.

    wait4()'s ru_maxrss already covers the child and every descendant it (or they) reaped;
    the sampling also covers descendants that are never reaped inside the tree.
    Only pids not seen before have their parent looked up, so one sample is cheap.
    """

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root = root
        self.tree = {root}
        self.parent = {}
        self.peak_kb = 0
        self.stopped = threading.Event()

    def sample(self) -> None:
        try:
            pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
        except OSError:
            return
        live = set(pids)
        for pid in list(self.parent):
            if pid not in live:
                del self.parent[pid]
        new = [pid for pid in pids if pid not in self.parent]
        for pid in new:
            try:
                with open("/proc/%d/stat" % pid, "rb") as handle:
                    self.parent[pid] = int(handle.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                self.parent[pid] = -1
        grew = True
        while grew:  # a child may be listed before its parent
            grew = False
            for pid in new:
                if pid not in self.tree and self.parent.get(pid) in self.tree:
                    self.tree.add(pid)
                    grew = True
        for pid in self.tree & live:
            try:
                with open("/proc/%d/status" % pid, "rb") as handle:
                    for line in handle:
                        if line.startswith(b"VmHWM:"):
                            self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                            break
            except (OSError, ValueError):
                pass

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_INTERVAL):
            self.sample()

    def stop(self) -> int:
        self.stopped.set()
        self.join()
        return self.peak_kb


@dataclass
class Command:
    argv: list
    env: dict
    cwd: str = ROOT
    timeout: float = 600


def measure(cmd: Command, log_path: str) -> dict:
    """Run cmd as a direct child; wall, CPU (user+sys of the whole reaped tree), peak RSS of one process."""
    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    with open(log_path, "wb") as out:
        out.write(("$ %s\n" % " ".join(cmd.argv)).encode())
        out.flush()
        start = time.monotonic()
        proc = subprocess.Popen(cmd.argv, env=cmd.env, cwd=cmd.cwd, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        timed_out = threading.Event()

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        timer = threading.Timer(cmd.timeout, kill)
        timer.start()
        try:
            status, usage = os.wait4(proc.pid, 0)[1:]
        finally:
            timer.cancel()
        wall = time.monotonic() - start
        peak_sampled = sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "user": usage.ru_utime, "sys": usage.ru_stime,
            "peak_mb": max(usage.ru_maxrss, peak_sampled) / 1024.0, "rc": proc.returncode,
            "timed_out": timed_out.is_set()}


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def median_run(runs: list) -> dict:
    """The run with the median wall time (the upper one of an even count), with how many runs and their walls."""
    return dict(sorted(runs, key=lambda r: r["wall"])[len(runs) // 2], runs=len(runs),
                walls=[round(r["wall"], 3) for r in runs])


def run_once(ctx, contender, n: int, attempt: int) -> dict:
    """Prepare, measure and verify one run; the result row of that run."""
    log_path = os.path.join(ctx.logs, "%s-%d%s.log" % (contender.key, n, "" if attempt == 0 else "-%d" % attempt))
    row = {"log": os.path.relpath(log_path, ROOT)}
    try:
        cmd = contender.prepare(ctx, n)
    except (BenchError, OSError, subprocess.CalledProcessError) as exc:
        return dict(row, status="error", note="prepare failed: %s" % str(exc)[:500])
    contender.started = time.time()
    row.update(measure(cmd, log_path))
    if row["rc"] != 0 or row["timed_out"]:
        row.update(status="failed", note="%s; see %s" % (
            "timed out after %.0f s" % cmd.timeout if row["timed_out"] else "exit %d" % row["rc"], row["log"]))
    else:
        try:
            contender.verify(ctx, n, log_path)
            row["status"] = "ok"
        except (VerifyError, OSError) as exc:
            row.update(status="unverified", note="%s; see %s" % (str(exc)[:500], row["log"]))
    if row["status"] != "ok":
        sys.stdout.write(tail(log_path))
    return row


def run_jobs(ctx, jobs: list) -> list:
    """Every (contender, N); cheap contenders run --repeat times and report their median-wall run."""
    results = []
    for contender, n in jobs:
        row = {"key": contender.key, "contender": contender.label, "kind": contender.kind, "n": n}
        if contender.kind == "hosts":
            row["forks"] = getattr(contender, "forks", None) or DEFAULT_FORKS
        results.append(row)
        reason = contender.available(ctx)
        if reason:
            row.update(status="skipped", note=reason)
            log("%-32s N=%-5d skipped: %s" % (contender.label, n, reason))
            continue
        runs = []
        for attempt in range(ctx.args.repeat if contender.cheap else 1):
            runs.append(run_once(ctx, contender, n, attempt))
            if runs[-1]["status"] != "ok":
                break
        if runs[-1]["status"] != "ok":
            row.update(runs[-1])
            log("%-32s N=%-5d %s: %s" % (contender.label, n, row["status"].upper(), row["note"]))
            continue
        row.update(median_run(runs))
        log("%-32s N=%-5d ok  wall %8.2f s  cpu %8.2f s  peak %6.1f MB%s" % (
            contender.label, n, row["wall"], row["cpu"], row["peak_mb"],
            "  (median of %s)" % ", ".join("%.2f" % w for w in row["walls"]) if len(runs) > 1 else ""))
    return results
