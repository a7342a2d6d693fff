"""Benchmark autotls.acme against certbot, community.crypto and a bare-library floor.

One run starts the local ACME stack (scripts/stack.sh: Pebble with
PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 PEBBLE_AUTHZREUSE=0, challtestsrv,
nginx serving the HTTP-01 webroot), measures every contender at every size as a
child process (wall time, CPU time of the whole process tree, peak RSS of the
largest single process), verifies what each run did (certificates really issued
and chaining to Pebble's root; nothing changed by a no-op run) and prints a
table with ratios against certbot and the floor, the issue's targets with
PASS/FAIL, and writes both to <out>/latest.md and <out>/latest.json.

    python3 bench/run.py                 the full benchmark (`make bench`); installs certbot
                                         and ansible into build/bench/venv-* on first use
    python3 bench/run.py --smoke         tiny N, our contenders and the floor only (< 60 s)
    python3 bench/run.py --only certbot,floor --sizes issue=20
    python3 bench/run.py --install-only  just create/refresh the contenders' venvs

Contenders (--only takes these keys; see CONTENDERS below):
  issue:  floor, libpoll, ours-batch, site, certbot, cc
  no-op:  ansible-floor, ours-batch-noop, renew, certbot-renew, cc-noop
  hosts:  ansible-floor-hosts, renew-hosts, renew-hosts-due, and the same at forks = 20:
          ansible-floor-hosts-f20, renew-hosts-f20, renew-hosts-due-f20
          (N is the number of hosts, --certs-per-host certificates each; see bench/contenders/hosts.py)
Sizes (--sizes KIND=N,N,...; KIND: issue, noop, cc-issue, cc-noop, libpoll, ansible-floor, hosts).

Only the standard library and what the project already requires (cryptography,
the acme library, ansible-core) are used by the harness itself.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

if __package__ in (None, ""):  # run as a script: bench/ is a package of the repository root
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# pylint: disable=wrong-import-position
from bench.common import BENCH, BUILD, ROOT, BenchError, log, write_json
from bench.contenders import CONTENDERS
from bench.contenders.base import Context
from bench.measure import run_jobs
from bench.report import (add_ratios, evaluate_targets, exit_status, meta_info, print_table,
                          write_markdown)
from bench.stack import VENVS, Stack, ensure_collection_link, ensure_venv, make_seed

FULL_SIZES = {"issue": [20, 100], "noop": [10, 200, 1000], "cc-issue": [20], "cc-noop": [200], "libpoll": [20],
              "ansible-floor": [10], "hosts": [1, 10, 50]}
SMOKE_SIZES = {"issue": [2], "noop": [3], "cc-issue": [], "cc-noop": [], "libpoll": [], "ansible-floor": [3],
               "hosts": [2]}
SMOKE_CONTENDERS = ("floor", "ours-batch", "site", "ansible-floor", "ours-batch-noop", "renew", "ansible-floor-hosts",
                    "renew-hosts")


def plan(args) -> list:
    sizes = dict(SMOKE_SIZES if args.smoke else FULL_SIZES)
    for spec in args.sizes or []:
        kind, values = (spec.split("=", 1) + [""])[:2]
        if kind not in FULL_SIZES:
            raise SystemExit("--sizes: unknown kind %r (one of %s)" % (kind, ", ".join(FULL_SIZES)))
        sizes[kind] = [int(v) for v in values.split(",") if v.strip()]
    only = {k.strip() for spec in (args.only or []) for k in spec.split(",") if k.strip()}
    unknown = only - {c.key for c in CONTENDERS}
    if unknown:
        raise SystemExit("--only: unknown contender(s) %s (known: %s)"
                         % (", ".join(sorted(unknown)), ", ".join(c.key for c in CONTENDERS)))
    chosen = [c for c in CONTENDERS if (c.key in only if only else (not args.smoke or c.key in SMOKE_CONTENDERS))]
    jobs = []
    for kind in ("issue", "no-op", "hosts"):
        ns = sorted({n for c in chosen if c.kind == kind for n in sizes.get(c.sizes_key, [])})
        for n in ns:
            jobs += [(c, n) for c in chosen if c.kind == kind and n in sizes.get(c.sizes_key, [])]
    return jobs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--smoke", action="store_true", help="tiny N, our contenders and the floor only")
    parser.add_argument("--only", action="append", metavar="KEY[,KEY]", help="run only these contenders")
    parser.add_argument("--sizes", action="append", metavar="KIND=N[,N]", help="override the sizes of one kind")
    parser.add_argument("--certs-per-host", type=int, help="certificates on each host of the hosts dimension "
                                                           "(default 20; 2 with --smoke)")
    parser.add_argument("--concurrency", type=int, default=4, help="acme_order's concurrency (default 4)")
    parser.add_argument("--repeat", type=int, help="runs of each cheap contender, median reported "
                                                   "(default 3; 1 with --smoke); certbot issuing, community.crypto "
                                                   "and the library-polling script always run once")
    parser.add_argument("--out", help="where latest.md/latest.json go (default bench/results, "
                                      "build/bench/smoke with --smoke)")
    parser.add_argument("--keep-stack", action="store_true", help="leave the ACME stack running afterwards")
    parser.add_argument("--no-stack", action="store_true",
                        help="use the stack that is already running (its settings are then yours to choose)")
    parser.add_argument("--install-only", action="store_true", help="create/refresh the contenders' venvs, then exit")
    parser.add_argument("--enforce-targets", action="store_true", help="exit 1 when a measured target fails")
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.smoke else 3
    if args.certs_per_host is None:
        args.certs_per_host = 2 if args.smoke else 20

    jobs = plan(args)
    venvs = sorted({job[0].venv for job in jobs if job[0].venv})
    if args.install_only:
        for name in sorted(VENVS):
            ensure_venv(name)
        return 0
    if not jobs:
        log("nothing to run")
        return 0
    for name in venvs:
        ensure_venv(name)
    ensure_collection_link()
    os.makedirs(BUILD, exist_ok=True)
    out_dir = args.out or (os.path.join(BUILD, "smoke") if args.smoke else os.path.join(BENCH, "results"))
    stack = Stack(manage=not args.no_stack)
    ctx = Context(stack=stack, args=args)
    shutil.rmtree(ctx.logs, ignore_errors=True)
    started = time.monotonic()
    try:
        stack.start()
        seeds = max([c.seed_needed(ctx, n) for c, n in jobs if c.available(ctx) is None] + [0])
        if seeds:
            try:
                make_seed(ctx, seeds)
            except BenchError as exc:
                if not stack.manage:
                    raise
                # Pebble 2.4 has been seen to stop answering under concurrent orders (its in-memory
                # store deadlocks); nothing has been measured yet, so a fresh stack costs nothing.
                log("seed issuance failed (%s); restarting the stack and trying once more"
                    % str(exc).strip().splitlines()[-1])
                stack.start()
                make_seed(ctx, seeds)
        results = run_jobs(ctx, jobs)
    except BenchError as exc:
        log("ERROR: %s" % exc)
        return 2
    finally:
        if not args.keep_stack:
            stack.stop()
    add_ratios(results)
    targets = evaluate_targets(results)
    meta = meta_info(ctx, args)
    meta["total_seconds"] = round(time.monotonic() - started, 1)
    print_table(results, targets)
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "latest.json"), {"meta": meta, "results": results, "targets": targets})
    write_markdown(os.path.join(out_dir, "latest.md"), meta, results, targets)
    log("wrote %s/latest.md and latest.json (%.0f s in all)" % (os.path.relpath(out_dir, ROOT), meta["total_seconds"]))
    return exit_status(results, targets, args.enforce_targets)


if __name__ == "__main__":
    sys.exit(main())
