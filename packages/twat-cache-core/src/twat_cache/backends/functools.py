"""The built-in backend every chain ends at: the standard library only, always installed.

Unbounded caches are a plain dict, so a hit is one C-level subscript; bounded caches are an
`OrderedDict` kept in LRU or FIFO order. `functools.lru_cache` itself cannot drop one entry or
expire one, which `cache_delete` and `ttl` need, so this store keeps lru_cache's semantics on a
mapping it controls. TTL comes from the core's TTL layer.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import suppress

from twat_cache.spec import BackendSpec
from twat_cache.store import Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable
    from typing import Any

    from twat_cache.config import CacheConfig
    from twat_cache.record import CacheRecord

BACKEND = BackendSpec(
    name="functools",
    kinds=frozenset({"memory"}),
    policies=frozenset({"lru", "fifo", "ttl"}),
    persistent=False,
    opener="twat_cache.backends.functools:open_store",
    ranks={"mcache": ("memory", 0), "ucache": ("memory", 0)},
    requires=(),
    description="standard library: dict / OrderedDict with LRU or FIFO eviction",
    distribution="twat-cache-core",
    extra="",
)

_ABSENT = object()


class FunctoolsStore(Store):
    """A thread-safe in-memory store: unbounded dict, or bounded LRU/FIFO OrderedDict.

    `mapping` is the dict itself where a read has no side effect (unbounded, or FIFO order),
    so the hot path subscripts it in C.
    """

    def __init__(self, maxsize: int | None, policy: str) -> None:
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._lru = maxsize is not None and policy == "lru"
        self.native: dict[Hashable, Any] = {} if maxsize is None else OrderedDict()
        if not self._lru:
            self.mapping = self.native
            self.get = self.native.get  # type: ignore[method-assign,assignment]

    def get(self, key: Hashable, default: Any) -> Any:
        """Return the value for `key` (marking it most recently used) or `default`."""
        data: OrderedDict[Hashable, Any] = self.native  # type: ignore[assignment]
        try:
            value = data[key]
        except KeyError:
            return default
        with suppress(KeyError):  # evicted by another thread in between
            data.move_to_end(key)
        return value

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value`, evicting the oldest entries beyond `maxsize`."""
        data = self.native
        if self.maxsize is None:
            data[key] = value
            return
        with self._lock:
            data[key] = value
            if self._lru:
                data.move_to_end(key)  # type: ignore[attr-defined]
            while len(data) > self.maxsize:
                data.popitem(last=False)  # type: ignore[call-arg]

    def delete(self, key: Hashable) -> bool:
        """Drop `key`; True if there was an entry."""
        with self._lock:
            return self.native.pop(key, _ABSENT) is not _ABSENT

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self.native.clear()

    def __len__(self) -> int:
        return len(self.native)

    def items(self) -> Iterable[tuple[Hashable, Any]]:
        """A snapshot of the entries."""
        with self._lock:
            return list(self.native.items())

    def after_fork(self) -> None:
        """A fresh lock: another thread may have held it at the fork."""
        self._lock = threading.Lock()


def open_store(config: CacheConfig, record: CacheRecord) -> FunctoolsStore:
    """Open the functools store for one function."""
    return FunctoolsStore(config.maxsize, config.policy)
