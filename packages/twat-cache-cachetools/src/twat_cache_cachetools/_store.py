"""The cachetools store: each policy onto cachetools' own cache classes, behind a lock.

cachetools' caches are plain Python objects that are not thread-safe (even a read of an
`LRUCache` reorders it), so every operation on a bounded cache holds one lock per store, as
`cachetools.cached(lock=...)` does. An unbounded cache never evicts, so its order bookkeeping
is unobservable; there a hit reads the cache's own backing dict with one C-level `dict.get`
(writes still go through the cache object, under the lock).

TTL: cachetools' `TTLCache` is an LRU cache whose entries expire (and are swept on every
write), which is exactly `policy="ttl"` and `policy="lru"` with a ttl: the store then handles
the ttl itself. cachetools has no LFU, FIFO or random cache with expiry (`TLRUCache` is LRU
again), so for those the store keeps the policy's own class and the core's TTL layer stamps
and sweeps entries.
"""

from __future__ import annotations

import math
import threading

import cachetools

from twat_cache.store import MISS, Store

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs more to import than the rest of a first call
    from collections.abc import Hashable
    from typing import Any

    from twat_cache.config import CacheConfig
    from twat_cache.record import CacheRecord

__all__ = ["CachetoolsStore", "make_native", "open_store"]

# policy -> cachetools class, for caches without a ttl
_CLASSES: dict[str, Any] = {
    "lru": cachetools.LRUCache,
    "lfu": cachetools.LFUCache,
    "fifo": cachetools.FIFOCache,
    "rr": cachetools.RRCache,
}


def make_native(maxsize: int | None, policy: str, ttl: float | None) -> tuple[Any, bool]:
    """Return the cachetools cache for `policy` and whether it applies `ttl` itself.

    `maxsize=None` becomes `math.inf` (cachetools has no "unbounded" of its own: 0 would refuse
    every entry). With a ttl, `ttl` and `lru` become a `TTLCache(maxsize, ttl)` (LRU with
    expiry); the other policies keep their class and return False, so the caller adds expiry.
    """
    size: float = math.inf if maxsize is None else maxsize
    if ttl is not None and policy in ("ttl", "lru"):
        return cachetools.TTLCache(size, ttl), True
    if policy == "ttl":
        raise ValueError("policy: 'ttl' needs a ttl (seconds > 0); got ttl=None")
    try:
        cls = _CLASSES[policy]
    except KeyError:
        raise ValueError(
            f"policy: expected one of lru, lfu, fifo, rr, ttl, got {policy!r}"
        ) from None
    return cls(size), False


def _backing_dict(native: Any) -> dict[Hashable, Any] | None:
    """The dict a plain `cachetools.Cache` keeps its entries in, if this version has one."""
    data = getattr(native, "_Cache__data", None)
    return data if type(data) is dict else None


class CachetoolsStore(Store):
    """A thread-safe store over one cachetools cache; every mutation holds the store's lock."""

    def __init__(self, native: Any, *, unbounded: bool, handles_ttl: bool) -> None:
        self.native = native
        self.handles_ttl = handles_ttl
        data = _backing_dict(native) if unbounded else None
        # `mapping` (subscripted by the core's hot path, KeyError for a miss) only where a
        # read needs no lock: the backing dict of an unbounded cache.
        self.mapping: dict[Hashable, Any] | None = data
        self._new_lock()

    def _new_lock(self) -> None:
        self._lock = lock = threading.Lock()
        data = self.mapping
        if data is not None:
            # No eviction ever happens, so skipping the order bookkeeping changes nothing.
            self.get = data.get  # type: ignore[method-assign,assignment]
            return
        getitem = self.native.__getitem__

        def get(key: Hashable, default: Any) -> Any:
            # A closure, not a method: the hit path has no attribute lookups but the lock's.
            with lock:
                try:
                    return getitem(key)
                except KeyError:  # missing or expired (cachetools raises it from __missing__)
                    return default

        self.get = get  # type: ignore[method-assign]

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key` (the cache evicts by its policy when full)."""
        with self._lock:
            self.native[key] = value

    def delete(self, key: Hashable) -> bool:
        """Drop `key`; True if there was an entry."""
        with self._lock:
            return self.native.pop(key, MISS) is not MISS

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self.native.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self.native)

    def items(self) -> list[tuple[Hashable, Any]]:
        """A snapshot of the entries."""
        with self._lock:
            return list(self.native.items())

    def after_fork(self) -> None:
        """A fresh lock: another thread may have held it at the fork."""
        self._new_lock()


def open_store(config: CacheConfig, record: CacheRecord) -> CachetoolsStore:
    """Open the cachetools store for one function (ttl natively where cachetools has it)."""
    native, applies_ttl = make_native(config.maxsize, config.policy, config.ttl)
    return CachetoolsStore(
        native, unbounded=config.maxsize is None and not applies_ttl, handles_ttl=applies_ttl
    )
