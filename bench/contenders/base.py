"""What every contender shares: the run's Context, the Contender interface, running ansible-playbook."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass, field

from bench.common import BUILD, clean_env, fresh_dir
from bench.measure import Command
from bench.stack import Stack


@dataclass
class Context:
    stack: Stack
    args: argparse.Namespace
    work: str = os.path.join(BUILD, "work")
    logs: str = os.path.join(BUILD, "logs")
    seed_dir: str = os.path.join(BUILD, "work", "seed")
    seed_names: list = field(default_factory=list)
    certbot_base: str | None = None
    notes: list = field(default_factory=list)

    def job_dir(self, key: str, n: int) -> str:
        return fresh_dir(os.path.join(self.work, "%s-%d" % (key, n)))


def ansible_playbook_bin() -> str:
    """ansible-playbook of the interpreter running this harness (the project's environment), not a shim."""
    here = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return here if os.path.exists(here) else (shutil.which("ansible-playbook") or "ansible-playbook")


def ansible_env(python: str, collections_path: str, **extra) -> dict:
    return clean_env(ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_PYTHON_INTERPRETER=python,
                     ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0",
                     ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0",
                     ANSIBLE_HOME=os.path.join(BUILD, "ansible-home"), **extra)


def playbook_command(ansible_playbook: str, playbook: str, varsfile: str, env: dict, timeout: float) -> Command:
    return Command([ansible_playbook, "-i", "localhost,", "-c", "local", playbook, "-e", "@" + varsfile],
                   env=env, timeout=timeout)


class Contender:
    key = ""
    label = ""
    kind = "issue"       # or "no-op"
    sizes_key = "issue"
    venv = None          # "certbot" / "ansible" when it needs one of the bench venvs
    cheap = True         # run --repeat times (median reported); False: once

    def seed_needed(self, ctx: Context, n: int) -> int:
        """How many seed certificates (stored and deployed before the run) a run at size n starts from."""
        return n if self.kind == "no-op" else 0

    def available(self, ctx: Context):
        """None when it can run, else the reason it is skipped."""
        return None

    def prepare(self, ctx: Context, n: int) -> Command:
        raise NotImplementedError

    def verify(self, ctx: Context, n: int, log_path: str) -> None:
        raise NotImplementedError

    @staticmethod
    def timeout(n: int) -> float:
        return 120 + 6 * n
