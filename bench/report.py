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


# Keys whose runs are not ours (the peak-RSS target covers every run of ours).
NOT_OURS = ("floor", "libpoll", "certbot", "certbot-renew", "cc", "cc-noop", "ansible-floor",
            "ansible-floor-hosts", "ansible-floor-hosts-f20")
HOSTS_SCENARIOS = (("ansible-floor-hosts", "Ansible floor: one debug task"), ("renew-hosts", "renew.yml no-op"),
                   ("renew-hosts-due", "renew.yml one due"))


def hosts_floor_key(row: dict) -> str:
    """The Ansible floor a hosts-dimension row is measured against: the same inventory size and forks."""
    return "ansible-floor-hosts" + ("-f%d" % row["forks"] if row.get("forks", 5) != 5 else "")


def _wall(results: list, key: str, n=None, what: str = "wall"):
    """A counted run's figure (n None: the first size measured)."""
    for r in results:
        if r["key"] == key and (n is None or r["n"] == n) and r.get("status") == "ok":
            return r[what]
    return None


def add_ratios(results: list) -> None:
    for r in results:
        if r.get("status") != "ok":
            continue
        r["per_cert"] = r["wall"] / r["n"] if r["n"] and r["kind"] != "hosts" else None
        certbot = {"issue": "certbot", "no-op": "certbot-renew"}.get(r["kind"])
        certbot_wall = _wall(results, certbot, r["n"]) if certbot else None
        r["vs_certbot"] = r["wall"] / certbot_wall if certbot_wall else None
        if r["kind"] == "issue":
            floor = _wall(results, "floor", r["n"])
        elif r["kind"] == "no-op":  # one debug task on the same one-host inventory (independent of N)
            floor = _wall(results, "ansible-floor", r["n"]) or _wall(results, "ansible-floor")
        else:
            floor = _wall(results, hosts_floor_key(r), r["n"])
        r["vs_floor"] = r["wall"] / floor if floor else None


def hosts_summary(results: list) -> list:
    """The hosts dimension, one row per scenario and forks: wall and x floor at each number of hosts, and the
    marginal cost per host (the slope between the fewest and the most hosts measured)."""
    rows = []
    forks_seen = sorted({r["forks"] for r in results if r["kind"] == "hosts"})
    for forks in forks_seen:
        for base, label in HOSTS_SCENARIOS:
            key = base + ("-f%d" % forks if forks != 5 else "")
            got = sorted((r for r in results if r["key"] == key and r.get("status") == "ok"), key=lambda r: r["n"])
            if not got:
                continue
            low, high = got[0], got[-1]
            rows.append({"key": key, "scenario": label, "forks": forks,
                         "wall": {r["n"]: r["wall"] for r in got}, "vs_floor": {r["n"]: r.get("vs_floor") for r in got},
                         "marginal": (high["wall"] - low["wall"]) / (high["n"] - low["n"]) if high is not low else None,
                         "range": (low["n"], high["n"])})
    return rows


def evaluate_targets(results: list) -> list:
    def get(key, n, what="wall"):
        return _wall(results, key, n, what)

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

    target("renew.yml no-op N=10 <= 1.5 x Ansible floor", get("renew", 10), "<=", get("ansible-floor", None), 1.5,
           "wall s")
    for issue, noop, suffix in (("site", "renew", ""), ("ours-batch", "ours-batch-noop",
                                                        " [stand-in: acme_order batch]")):
        iname = "site.yml" if issue == "site" else "acme_order batch"
        nname = "renew.yml" if noop == "renew" else "acme_order batch no-op"
        target("%s issue N=100 <= 0.05 x certbot N=100%s" % (iname, suffix), get(issue, 100), "<=",
               get("certbot", 100), 0.05, "wall s")
        target("%s slope N=20..100 <= 3 x floor slope%s" % (iname, suffix), slope(issue), "<=", slope("floor"), 3.0,
               "s/cert")
        target("%s N=1000 <= 1.3 x N=10%s" % (nname, suffix), get(noop, 1000), "<=", get(noop, 10), 1.3, "wall s")
        target("%s N=1000 <= 0.5 x certbot renew N=1000%s" % (nname, suffix), get(noop, 1000), "<=",
               get("certbot-renew", 1000), 0.5, "wall s")
        target("%s N=1000 <= 0.02 x community.crypto no-op N=200%s" % (nname, suffix), get(noop, 1000), "<=",
               get("cc-noop", 200), 0.02, "wall s")
    target("renew.yml no-op 50 hosts <= 3 x 1 host (forks=20)", get("renew-hosts-f20", 50), "<=",
           get("renew-hosts-f20", 1), 3.0, "wall s")
    ours = [r for r in results if r.get("status") == "ok" and r["key"] not in NOT_OURS]
    if ours:
        top = max(ours, key=lambda r: r["peak_mb"])
        target("peak RSS of one process < 200 MB in every run of ours", top["peak_mb"], "<", 200.0, 1.0,
               "MB (%s N=%d)" % (top["key"], top["n"]))
    else:
        target("peak RSS of one process < 200 MB in every run of ours", None, "<", None, 1.0, "MB")
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


def hosts_table(results: list):
    """(header, rows) of the hosts dimension, or None when it was not measured."""
    summary = hosts_summary(results)
    if not summary:
        return None
    sizes = sorted({n for row in summary for n in row["wall"]})
    header = (["scenario", "forks"] + ["%d host%s s" % (n, "" if n == 1 else "s") for n in sizes]
              + ["x floor @%d" % n for n in sizes] + ["s/host"])
    rows = [[row["scenario"], str(row["forks"])] + [fmt(row["wall"].get(n)) for n in sizes]
            + [fmt(row["vs_floor"].get(n), "%.2f") for n in sizes] + [fmt(row["marginal"], "%.3f")]
            for row in summary]
    return header, rows


def table_text(results: list, targets: list) -> str:
    """The results table and the targets as printed at the end of a run."""
    rows = table_rows(results)
    widths = [max(len(c), *(len(row[i]) for row in rows)) if rows else len(c) for i, c in enumerate(COLUMNS)]
    line = "  ".join(("%-*s" if i in LEFT else "%*s") % (w, c) for i, (w, c) in enumerate(zip(widths, COLUMNS)))
    out = ["", line.rstrip(), "-" * len(line.rstrip())]
    for row in rows:
        out.append("  ".join(("%-*s" if i in LEFT else "%*s") % (w, c)
                             for i, (w, c) in enumerate(zip(widths, row))).rstrip())
    hosts = hosts_table(results)
    if hosts:
        out += ["", "Hosts (local connection, each host its own deploy directory; see latest.md):"]
        hw = [max(len(c), *(len(row[i]) for row in hosts[1])) for i, c in enumerate(hosts[0])]
        out.append("  ".join(("%-*s" if i == 0 else "%*s") % (w, c) for i, (w, c) in enumerate(zip(hw, hosts[0]))))
        out.append("-" * len(out[-1]))
        out += ["  ".join(("%-*s" if i == 0 else "%*s") % (w, c) for i, (w, c) in enumerate(zip(hw, row)))
                for row in hosts[1]]
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
            "concurrency": args.concurrency, "certs_per_host": getattr(args, "certs_per_host", None),
            "smoke": bool(args.smoke), "notes": ctx.notes,
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
    hosts = hosts_table(results)
    if hosts:
        out += ["", "Hosts: renew.yml over H hosts (local connection, each its own deploy directory, the same %d "
                "certificates on each, one storage), nothing due and one certificate due; x floor: against one "
                "debug task over the same inventory with the same forks; s/host: the marginal cost of a host "
                "(the slope between the fewest and the most hosts)." % meta.get("certs_per_host", 20), "",
                "| " + " | ".join(hosts[0]) + " |", "|---|" + "---:|" * (len(hosts[0]) - 1)]
        out += ["| " + " | ".join(row) + " |" for row in hosts[1]]
    out += ["", "wall: elapsed time; CPU: user+system time of the whole process tree (client side only; the CA, "
            "DNS and web server are not counted); peak MB: the largest resident set of any single process in the "
            "tree; x certbot: wall time against certbot at the same N (certonly for issuing, renew for no-op); "
            "x floor: issuing, against the bare acme-library script at the same N; no-op, against one Ansible "
            "debug task on the same one-host inventory; hosts, against one debug task over the "
            "same inventory; runs: how many runs the row is the median "
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
