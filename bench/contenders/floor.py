"""The floor: bench/floor.py, N certificates straight on certbot's `acme` library with tight polling; and the
same script with the library's own polling (the "acme library defaults" figure)."""
from __future__ import annotations

import os
import sys

from bench.common import BENCH, clean_env, names_for, write_lines
from bench.contenders.base import Contender
from bench.measure import Command
from bench.verify import verify_certificates


class Floor(Contender):
    key, label = "floor", "floor: acme lib, tight polling"
    library_polling = False

    def prepare(self, ctx, n):
        self.dir = ctx.job_dir(self.key, n)
        self.names = names_for(self.key, n)
        names_file = write_lines(os.path.join(self.dir, "names"), self.names)
        argv = [sys.executable, os.path.join(BENCH, "floor.py"), "--directory", ctx.stack.directory,
                "--ca-bundle", ctx.stack.ca, "--webroot", ctx.stack.webroot, "--out",
                os.path.join(self.dir, "out"), "--names-file", names_file]
        if self.library_polling:
            argv.append("--library-polling")
        return Command(argv, env=clean_env(), timeout=self.timeout(n))

    def verify(self, ctx, n, log_path):
        out = os.path.join(self.dir, "out")
        verify_certificates([{"name": name, "key": os.path.join(out, name, "privkey.pem"),
                              "fullchain": os.path.join(out, name, "fullchain.pem")} for name in self.names],
                            ctx.stack.root, self.started)


class LibraryPolling(Floor):
    key, label = "libpoll", "acme lib, default polling"
    sizes_key = "libpoll"
    cheap = False
    library_polling = True
