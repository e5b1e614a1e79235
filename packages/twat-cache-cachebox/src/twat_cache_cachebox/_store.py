"""The cachebox store: each policy onto cachebox's own Rust cache classes.

cachebox's caches are thread-safe (a lock inside the Rust object), so the store adds none and
its `get` *is* the cache's Rust `get`: a hit goes from the wrapper straight into Rust.

TTL: cachebox's `TTLCache` is a FIFO queue whose entries expire after `global_ttl`, which is
exactly `policy="ttl"` and `policy="fifo"` with a ttl. cachebox has no LRU, LFU or random cache
with expiry (its `VTTLCache` evicts the entry nearest its deadline, which with one ttl for all
entries is FIFO again), so for those the store keeps the policy's own class and stamps entries
with the core's `TTLStore`. Either way the store applies `config.ttl` itself, hence
`native_ttl=True` in the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import cachebox

from twat_cache.config import CacheConfig
from twat_cache.registry import StoreContext
from twat_cache.store import MISS, TTLStore

__all__ = ["CacheboxStore", "make_native", "open_store"]

# policy -> cachebox class, for caches without a ttl
_CLASSES: dict[str, Any] = {
    "lru": cachebox.LRUCache,
    "lfu": cachebox.LFUCache,
    "fifo": cachebox.FIFOCache,
    "rr": cachebox.RRCache,
}


def make_native(maxsize: int | None, policy: str, ttl: float | None) -> tuple[Any, bool]:
    """Return the cachebox cache for `policy` and whether it applies `ttl` itself.

    `maxsize=None` becomes cachebox's 0 (unbounded). With a ttl, `ttl` and `fifo` become a
    `TTLCache(maxsize, global_ttl=ttl)`; the other policies keep their class and return False,
    so the caller adds expiry on top.
    """
    size = 0 if maxsize is None else maxsize
    if ttl is not None and policy in ("ttl", "fifo"):
        # positional: cachebox 6 names it `global_ttl`, cachebox 5 `ttl`
        return cachebox.TTLCache(size, ttl), True
    if policy == "ttl":
        raise ValueError("policy: 'ttl' needs a ttl (seconds > 0); got ttl=None")
    try:
        cls = _CLASSES[policy]
    except KeyError:
        raise ValueError(
            f"policy: expected one of lru, lfu, fifo, rr, ttl, got {policy!r}"
        ) from None
    return cls(size), False


class CacheboxStore:
    """A store over one cachebox cache; `get` is the cache's own Rust `get`.

    `mapping` is the cache itself: its `[key]` is `get` with KeyError for a miss (same recency
    and frequency bookkeeping, same expiry), and the core's hot path subscripts it directly.
    """

    __slots__ = ("get", "mapping", "native")

    def __init__(self, native: Any) -> None:
        self.native = native
        self.mapping = native
        # The bound Rust method: no Python frame between the wrapper and the lookup.
        self.get: Callable[[Hashable, Any], Any] = native.get

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key` (the cache evicts by its policy when full)."""
        self.native.insert(key, value)

    def delete(self, key: Hashable) -> bool:
        """Drop `key`; True if there was an entry."""
        return self.native.pop(key, MISS) is not MISS

    def clear(self) -> None:
        """Drop every entry."""
        self.native.clear()

    def __len__(self) -> int:
        return len(self.native)


def open_store(config: CacheConfig, context: StoreContext) -> CacheboxStore | TTLStore:
    """Open the cachebox store for one function, applying `config.ttl` natively or via TTLStore."""
    native, applies_ttl = make_native(config.maxsize, config.policy, config.ttl)
    store = CacheboxStore(native)
    if config.ttl is not None and not applies_ttl:
        return TTLStore(store, config.ttl)
    return store
