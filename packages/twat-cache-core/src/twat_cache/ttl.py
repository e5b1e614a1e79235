"""The core's TTL layer: expiry for stores that do not expire entries, and the stale window.

`TTLStore` wraps a store and stamps every value with its deadline, `(deadline, value)`. It is
used where a store does not apply `ttl` itself (`Store.handles_ttl` is False: cachebox's LRU,
LFU and RR caches, the functools store), and for `stale=` on every store: the inner store then
keeps entries for `ttl + stale` and this layer tells fresh from stale. Expired entries are
misses, dropped when seen, and purged in sweeps whose cost is amortized over the stores (a
sweep runs when the store has doubled since the last one), so memory stays bounded by the
live entries even for keys that are never read again.
"""

from __future__ import annotations

import threading

from twat_cache import clock
from twat_cache.store import MISS, AsyncStore, Store

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Hashable, Iterable
    from contextlib import AbstractContextManager
    from typing import Any

__all__ = ["AsyncTTLStore", "TTLStore"]

#: No sweep below this many entries: a small cache costs nothing to keep.
MIN_SWEEP = 64


class TTLStore(Store):
    """Deadline-stamped values over an `inner` store (see the module docstring).

    `get` answers fresh values only. `lookup` also answers values in the stale window, saying
    whether they are fresh, for stale-while-revalidate. Every other capability is the inner
    store's.
    """

    handles_ttl = True

    def __init__(self, inner: Store, ttl: float, *, stale: float = 0.0) -> None:
        self.inner = inner
        self.ttl = ttl
        self.stale = stale
        self.native = inner.native
        self.blocking = inner.blocking
        self.digest_keys = inner.digest_keys
        self.buffer_hash = inner.buffer_hash
        self.owned = inner.owned
        # The inner store expires entries itself (opened with ttl + stale): no sweeps needed.
        self._sweeps = not inner.handles_ttl
        self._sweep_at = MIN_SWEEP
        self._sweep_lock = threading.Lock()

    def lookup(self, key: Hashable) -> tuple[Any, bool]:
        """(value, fresh) for a live or stale entry, (MISS, False) when there is none."""
        return self._judge(key, self.inner.get(key, MISS))

    def _judge(self, key: Hashable, item: Any) -> tuple[Any, bool]:
        """(value, fresh) of a stamped `item` read for `key`; expired items are dropped."""
        if item is MISS:
            return MISS, False
        try:
            deadline, value = item
        except (TypeError, ValueError):  # not stamped by this layer (an older entry): a miss
            self.inner.delete(key)
            return MISS, False
        now = clock.now()
        if now < deadline:
            return value, True
        if now < deadline + self.stale:
            return value, False
        if self._sweeps:
            self.inner.delete(key)
        return MISS, False

    def get(self, key: Hashable, default: Any) -> Any:
        """Return the fresh value for `key`, or `default`."""
        value, fresh = self.lookup(key)
        return value if fresh else default

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value`, fresh for `ttl` seconds from now."""
        self.inner.set(key, (clock.now() + self.ttl, value))
        if self._sweeps and len(self.inner) >= self._sweep_at:
            self.purge()

    def purge(self) -> int:
        """Drop the entries past their deadline (and stale window); return how many."""
        if not self._sweep_lock.acquire(blocking=False):
            return 0  # another thread is sweeping
        try:
            limit = clock.now() - self.stale
            dead = [
                key
                for key, item in list(self.inner.items())
                if type(item) is tuple and len(item) == 2 and item[0] <= limit
            ]
            dropped = sum(1 for key in dead if self.inner.delete(key))
            self._sweep_at = max(MIN_SWEEP, 2 * len(self.inner))
            return dropped
        finally:
            self._sweep_lock.release()

    def delete(self, key: Hashable) -> bool:
        """Drop `key`; True if there was an entry."""
        return self.inner.delete(key)

    def clear(self) -> None:
        """Drop every entry."""
        self.inner.clear()
        self._sweep_at = MIN_SWEEP

    def __len__(self) -> int:
        return len(self.inner)

    def flight_lock(self, key: Hashable) -> AbstractContextManager[bool] | None:
        """The inner store's cross-process lock."""
        return self.inner.flight_lock(key)

    def prune(self) -> int:
        """Drop expired entries: this layer's sweep, then the inner store's own prune."""
        return (self.purge() if self._sweeps else 0) + self.inner.prune()

    def clear_all(self) -> None:
        """The inner store's clear_all."""
        self.inner.clear_all()

    def close(self) -> None:
        """Close the inner store."""
        self.inner.close()

    def after_fork(self) -> None:
        """Let the inner store reopen its connections."""
        self._sweep_lock = threading.Lock()
        self.inner.after_fork()

    def items(self) -> Iterable[tuple[Hashable, Any]]:
        """The inner store's entries, unwrapped, fresh or stale."""
        for key, item in self.inner.items():
            if type(item) is tuple and len(item) == 2:
                yield key, item[1]

    def nbytes(self) -> int | None:
        """The inner store's size in bytes."""
        return self.inner.nbytes()

    def verify(self, fix: bool = False) -> tuple[int, int]:
        """The inner store's verification."""
        return self.inner.verify(fix)


class AsyncTTLStore(TTLStore, AsyncStore):
    """The TTL layer over an asyncio-native store (`AsyncStore`: aiocache, network clients).

    Reads and writes go through the inner store's `get_nowait`/`aget`/`aset`, stamped and
    judged like `TTLStore`'s; `alookup` is the awaitable `lookup` (stale-while-revalidate).
    """

    def __init__(self, inner: AsyncStore, ttl: float, *, stale: float = 0.0) -> None:
        super().__init__(inner, ttl, stale=stale)
        self.nowait_complete = inner.nowait_complete
        self._async_inner = inner

    def get_nowait(self, key: Hashable, default: Any) -> Any:
        """The fresh value for `key` if the inner store has it at hand, else `default`."""
        value, fresh = self._judge(key, self._async_inner.get_nowait(key, MISS))
        return value if fresh else default

    def get(self, key: Hashable, default: Any) -> Any:
        """The synchronous read: `get_nowait`."""
        return self.get_nowait(key, default)

    def set(self, key: Hashable, value: Any) -> None:
        """Not available: written with `aset`."""
        AsyncStore.set(self, key, value)

    async def alookup(self, key: Hashable) -> tuple[Any, bool]:
        """(value, fresh) for a live or stale entry, (MISS, False) when there is none."""
        inner = self._async_inner
        item = inner.get_nowait(key, MISS)
        if item is MISS and not inner.nowait_complete:
            item = await inner.aget(key, MISS)
        return self._judge(key, item)

    async def aget(self, key: Hashable, default: Any) -> Any:
        """The fresh value for `key`, or `default`."""
        value, fresh = await self.alookup(key)
        return value if fresh else default

    async def aset(self, key: Hashable, value: Any) -> None:
        """Store `value`, fresh for `ttl` seconds from now."""
        await self._async_inner.aset(key, (clock.now() + self.ttl, value))
        if self._sweeps and len(self.inner) >= self._sweep_at:
            self.purge()
