# -*- coding: utf-8 -*-
# Copyright: autotls.acme contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Work on many certificates at once with a bounded pool; each succeeds or fails on its own.

Each worker thread gets its own AcmeClient clone (the acme library's network
object keeps a nonce pool and an HTTP session that must not be shared), all
signing as the same account.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

from .errors import EngineError, failure_kind

if TYPE_CHECKING:
    from .client import AcmeClient

Item = TypeVar("Item")
ClientGetter = Callable[[], Optional["AcmeClient"]]

DEFAULT_CONCURRENCY = 4


def run(items: list[Item], work: Callable[[ClientGetter, Item], dict[str, Any]],
        client_factory: Callable[[], AcmeClient] | None = None,
        concurrency: int = DEFAULT_CONCURRENCY) -> list[dict[str, Any]]:
    """Call work(client, item) for each item; return one result dict per item, in order.

    client_factory() returns a client for the calling thread (or None when no CA
    is needed); it is called lazily, at most once per thread.
    An EngineError in one item becomes that item's {"failed": True, "msg": ...}.
    """
    local = threading.local()

    def client() -> AcmeClient | None:
        if client_factory is None:
            return None
        if not hasattr(local, "client"):
            local.client = client_factory()
        return local.client

    def one(item: Item) -> dict[str, Any]:
        try:
            result = work(client, item)
            result.setdefault("failed", False)
            return result
        except EngineError as error:
            result = {"failed": True, "changed": False, "renewed": False, "msg": error.msg,
                      "failure_kind": failure_kind(error)}
            result.update(error.to_result())
            return result

    if concurrency <= 1 or len(items) <= 1:
        return [one(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        return list(pool.map(one, items))
