"""Paths, logging and the small file helpers every part of the harness shares."""
from __future__ import annotations

import json
import os
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
BUILD = os.path.join(ROOT, "build", "bench")
COLLECTIONS = os.path.join(ROOT, "build", "collections")


def log(msg: str) -> None:
    print("bench: " + msg, flush=True)


class BenchError(Exception):
    """Setup failed (not a contender's fault)."""


def clean_env(**extra) -> dict:
    """The caller's environment without CA-bundle overrides (each contender gets the stack's CA its own way)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE", "CURL_CA_BUNDLE", "PYTHONPATH")
           and not k.startswith("ANSIBLE_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update({k: v for k, v in extra.items() if v is not None})
    return env


def write_json(path: str, data) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(data, handle, indent=1)
    return path


def write_lines(path: str, lines: list) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write("".join(line + "\n" for line in lines))
    return path


def fresh_dir(path: str) -> str:
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def names_for(tag: str, n: int) -> list:
    return ["c%04d.%s.bench.example.com" % (i, tag) for i in range(n)]
