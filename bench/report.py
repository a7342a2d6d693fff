"""Reporting: ratios against certbot and the floor, the issue's targets with PASS/FAIL, the table printed and
written to latest.md / latest.json, and the run's exit status."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys

from bench.common import BUILD, log
from bench.stack import STACK_SETTINGS, VENVS, collection_version, venv_versions


def add_ratios(results: list) -> None:
    def wall(key, n):
        for r in results:
            if r["key"] == key and r["n"] == n and r.get("status") == "ok":
                return r["wall"]
        return None
    for r in results:
        if r.get("status") != "ok":
            continue
        r["per_cert"] = r["wall"] / r["n"] if r["n"] else None
        certbot = wall("certbot" if r["kind"] == "issue" else "certbot-renew", r["n"])
        r["vs_certbot"] = r["wall"] / certbot if certbot else None
        floor = wall("floor", r["n"]) if r["kind"] == "issue" else None
        r["vs_floor"] = r["wall"] / floor if floor else None


def evaluate_targets(results: list) -> list:
    def get(key, n, what="wall"):
        for r in results:
            if r["key"] == key and r["n"] == n and r.get("status") == "ok":
                return r[what]
        return None

    def slope(key, low=20, high=100):
        a, b = get(key, low), get(key, high)
        return (b - a) / (high - low) if a is not None and b is not None else None

    targets = []

    def target(name, lhs, op, rhs, factor, what):
        if lhs is None or rhs is None:
            targets.append({"target": name, "status": "n/a", "detail": "not measured in this run"})
            return
        limit = rhs * factor
        ok = lhs <= limit if op == "<=" else lhs < limit
        targets.append({"target": name, "status": "PASS" if ok else "FAIL", "value": lhs, "limit": limit,
                        "detail": "%s %.3f %s %.3f" % (what, lhs, op, limit)})

    for issue, noop, suffix in (("site", "renew", ""), ("ours-batch", "ours-batch-noop",
                                                        " [stand-in: acme_order batch]")):
        iname = "site.yml" if issue == "site" else "acme_order batch"
        nname = "renew.yml" if noop == "renew" else "acme_order batch no-op"
        target("%s issue N=100 <= 0.1 x certbot N=100%s" % (iname, suffix), get(issue, 100), "<=",
               get("certbot", 100), 0.1, "wall s")
        target("%s slope N=20..100 <= 3 x floor slope%s" % (iname, suffix), slope(issue), "<=", slope("floor"), 3.0,
               "s/cert")
        target("%s N=1000 <= 1.5 x N=10%s" % (nname, suffix), get(noop, 1000), "<=", get(noop, 10), 1.5, "wall s")
        target("%s N=1000 <= certbot renew N=1000%s" % (nname, suffix), get(noop, 1000), "<=",
               get("certbot-renew", 1000), 1.0, "wall s")
        target("%s N=1000 <= 0.02 x community.crypto no-op N=200%s" % (nname, suffix), get(noop, 1000), "<=",
               get("cc-noop", 200), 0.02, "wall s")
        target("%s N=1000 peak RSS of one process < 200 MB%s" % (nname, suffix), get(noop, 1000, "peak_mb"), "<",
               200.0, 1.0, "MB")
    return targets


def fmt(value, spec="%.2f"):
    return "" if value is None else spec % value


COLUMNS = ("contender", "kind", "N", "runs", "wall s", "CPU s", "peak MB", "wall/cert s", "x certbot", "x floor",
           "result")
LEFT = (0, 1, len(COLUMNS) - 1)  # left-aligned columns


def table_rows(results: list) -> list:
    rows = []
    for r in results:
        ok = r.get("status") == "ok"
        rows.append((r["contender"], r["kind"], str(r["n"]), str(r.get("runs", "")), fmt(r.get("wall")),
                     fmt(r.get("cpu")),
                     fmt(r.get("peak_mb"), "%.0f"), fmt(r.get("per_cert"), "%.3f") if ok else "",
                     fmt(r.get("vs_certbot"), "%.3f") if ok else "", fmt(r.get("vs_floor"), "%.1f") if ok else "",
                     r.get("status", "") if ok else "%s: %s" % (r.get("status"), r.get("note", ""))[:90]))
    return rows


def table_text(results: list, targets: list) -> str:
    """The results table and the targets as printed at the end of a run."""
    rows = table_rows(results)
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]
    line = "  ".join(("%-*s" if i in LEFT else "%*s") % (w, c) for i, (w, c) in enumerate(zip(widths, COLUMNS)))
    out = ["", line.rstrip(), "-" * len(line.rstrip())]
    for row in rows:
        out.append("  ".join(("%-*s" if i in LEFT else "%*s") % (w, c)
                             for i, (w, c) in enumerate(zip(widths, row))).rstrip())
    out += ["", "Targets (ratios measured in this run):"]
    for t in targets:
        out.append("  %-4s  %s%s" % (t["status"], t["target"], "  (%s)" % t["detail"] if t.get("detail") else ""))
    return "\n".join(out)


def print_table(results: list, targets: list) -> None:
    print(table_text(results, targets))


def meta_info(ctx, args) -> dict:
    import importlib.metadata as md
    cpu = ""
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    versions = {}
    for dist in ("acme", "ansible-core", "cryptography"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = None
    for name in VENVS:
        venv = os.path.join(BUILD, "venv-" + name)
        if os.path.isdir(venv):
            for dist, version in venv_versions(venv, ["certbot"] if name == "certbot" else
                                               ["ansible", "ansible-core"]).items():
                versions["%s (%s venv)" % (dist, name)] = version
            if name == "ansible":
                versions["community.crypto (ansible venv)"] = collection_version(venv, "community", "crypto")
    try:
        versions["pebble"] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "pebble"], capture_output=True,
                                            text=True, check=False).stdout.strip() or None
    except OSError:
        versions["pebble"] = None
    mem = ""
    try:
        with open("/proc/meminfo") as handle:
            mem = "%.0f GiB" % (int(handle.readline().split()[1]) / 1024 / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": "%s, %d cores, %s, %s" % (cpu or platform.machine(), os.cpu_count() or 0, mem,
                                                 platform.platform(terse=True)),
            "python": platform.python_version(), "versions": versions, "stack": dict(STACK_SETTINGS),
            "concurrency": args.concurrency, "smoke": bool(args.smoke), "notes": ctx.notes,
            "command": "python3 bench/run.py " + " ".join(sys.argv[1:])}


def markdown(meta: dict, results: list, targets: list) -> str:
    """latest.md: the machine, the versions, the table, how to read it, the targets and the run's notes."""
    out = ["# autotls.acme benchmark: latest results", "",
           "%s on %s; Python %s." % (meta["date"], meta["machine"], meta["python"]),
           "Pebble %s with %s. Command: `%s`." % (
               meta["versions"].get("pebble"), " ".join("%s=%s" % kv for kv in meta["stack"].items()),
               meta["command"].strip()),
           "Versions: %s." % ", ".join("%s %s" % (k, v) for k, v in meta["versions"].items() if k != "pebble" and v),
           "", "| " + " | ".join(COLUMNS) + " |", "|" + "|".join(
               "---" if i in LEFT else "---:" for i in range(len(COLUMNS))) + "|"]
    out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in table_rows(results)]
    out += ["", "wall: elapsed time; CPU: user+system time of the whole process tree (client side only; the CA, "
            "DNS and web server are not counted); peak MB: the largest resident set of any single process in the "
            "tree; x certbot: wall time against certbot at the same N (certonly for issuing, renew for no-op); "
            "x floor: against the bare acme-library script at the same N; runs: how many runs the row is the median "
            "(by wall time) of.", "", "Targets:", ""]
    out += ["| status | target | measured |", "|---|---|---|"]
    out += ["| %s | %s | %s |" % (t["status"], t["target"], t.get("detail", "")) for t in targets]
    if meta["notes"]:
        out += [""] + ["- " + note for note in meta["notes"]]
    return "\n".join(out) + "\n"


def write_markdown(path: str, meta: dict, results: list, targets: list) -> None:
    with open(path, "w") as handle:
        handle.write(markdown(meta, results, targets))


def exit_status(results: list, targets: list, enforce_targets: bool) -> int:
    """1 when a run did not count (failed, unverified, setup error) or, with enforce_targets, a target failed."""
    bad = [r for r in results if r.get("status") in ("failed", "unverified", "error")]
    if bad:
        log("%d run(s) did not count: %s" % (len(bad), ", ".join("%s N=%d" % (r["key"], r["n"]) for r in bad)))
        return 1
    if enforce_targets and any(t["status"] == "FAIL" for t in targets):
        return 1
    return 0
