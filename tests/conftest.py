"""Make the collection importable as ansible_collections.autotls.acme for every test.

The link build/collections/ansible_collections/autotls/acme -> the checkout is made by `make collection-link`
(which `make units`, `make integration` and `make test` run first). Importing this file writes nothing: a run
without the link stops at once and says how to make it.
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, "build", "collections")
LINK = os.path.join(COLLECTIONS, "ansible_collections", "autotls", "acme")


def pytest_configure(config):
    if not os.path.isdir(LINK) or os.path.realpath(LINK) != os.path.realpath(ROOT):
        raise pytest.UsageError("%s does not point at this checkout: run `make collection-link` first "
                                "(make units / make integration / make test do it)" % LINK)


if COLLECTIONS not in sys.path:
    sys.path.insert(0, COLLECTIONS)
os.environ.setdefault("ANSIBLE_COLLECTIONS_PATH", COLLECTIONS)
