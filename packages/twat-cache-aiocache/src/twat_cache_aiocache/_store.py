"""The aiocache store: aiocache's own `SimpleMemoryCache`, with the contract aiocache lacks.

aiocache alone breaks three promises of twat-cache, so this store adds them around the
library's cache object (exposed as `wrapper.cache`):

- `None` results are cached: aiocache's `get` returns None for a miss, so every value is
  stored as an `_Entry` (value + deadline) and a miss is never confused with a result.
- `maxsize` is enforced: `SimpleMemoryCache` is an unbounded dict. Its dict keeps insertion
  order, so a hit re-inserts its key (LRU) and a set drops the oldest keys beyond `maxsize`.
- Keys are the core's normalized tuple keys, used as they are: with no namespace aiocache
  passes keys through unchanged (never `str()`), and tuples compare by value, so distinct
  calls can never collide.

Writes go through aiocache's public `set(..., ttl=)`, so TTL is aiocache's native timer. A
timer lives on the event loop that set it and dies with it (each `asyncio.run` is a new
loop), so entries also carry a monotonic deadline and an expired entry is a miss everywhere.
Reads take aiocache's dict directly (`get_nowait`): the public `get` goes through four
coroutine layers and a timeout per call, which alone would cost more than a whole cached call
is allowed to. The sync `delete`/`clear`/`__len__` the core needs work on the same dict, since
aiocache's own are coroutines.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable
from typing import Any

from aiocache import SimpleMemoryCache

from twat_cache.config import CacheConfig
from twat_cache.record import CacheRecord
from twat_cache.store import AsyncStore

__all__ = ["AiocacheStore", "open_store"]

_INF = float("inf")


class _Entry:
    """What is stored in aiocache for one call: the result and when it stops being valid."""

    __slots__ = ("deadline", "value")

    def __init__(self, value: Any, deadline: float) -> None:
        self.value = value
        self.deadline = deadline

    def __repr__(self) -> str:
        return f"_Entry({self.value!r}, deadline={self.deadline!r})"


class AiocacheStore(AsyncStore):
    """An async store over one `aiocache.SimpleMemoryCache` (`native`).

    `aget`/`aset` are the coroutines the core awaits; `get_nowait` is the synchronous hit path
    the core's async wrapper prefers when a store offers it. `delete`, `clear` and `__len__` are
    synchronous (the wrapper's `cache_delete`, `cache_clear` and `cache_info` are). Eviction is
    LRU (or FIFO when `policy="fifo"`) beyond `maxsize`; `ttl` is passed to aiocache.
    """

    handles_ttl = True
    nowait_complete = True  # every entry is in this process's memory: a MISS is final

    def __init__(self, maxsize: int | None, ttl: float | None, policy: str) -> None:
        # timeout=None: a memory lookup cannot hang, and aiocache's default (5 s) wraps every
        # call in asyncio.wait_for, which costs a task per call on Python < 3.12.
        self.native: SimpleMemoryCache = SimpleMemoryCache(timeout=None)
        # The sync paths reach into aiocache 0.12's storage (a dict of entries and a dict of
        # expiry timers). If a release stores them differently, refuse to open: the core then
        # logs it and uses the next backend of the chain instead of failing at every call.
        if not isinstance(getattr(self.native, "_cache", None), dict) or not isinstance(
            getattr(self.native, "_handlers", None), dict
        ):
            raise RuntimeError(
                "aiocache's SimpleMemoryCache no longer keeps its entries in `_cache`/"
                "`_handlers` dicts; this twat-cache-aiocache supports aiocache 0.12"
            )
        self.maxsize = maxsize
        self.ttl = ttl
        self._lru = maxsize is not None and policy != "fifo"
        # Evictions iterate the dict; a lock keeps threads with loops of their own (sharing
        # one cached function) from changing it mid-iteration. Hits never take it.
        self._lock = threading.Lock()
        if ttl is None:
            self.get_nowait = self._get_lru if self._lru else self._get_plain  # type: ignore[method-assign]

    # The dict is read from `native` on every call: aiocache's own `clear()` replaces it.
    # `__init__` swaps in the leanest variant for the options (no ttl: no clock; no maxsize:
    # no reordering), since this is the whole cost of a hit besides the key.
    def get_nowait(self, key: Hashable, default: Any) -> Any:
        """Return the live value for `key` (marking it recently used), or `default`."""
        data: dict[Hashable, Any] = self.native._cache
        entry = data.get(key)
        if entry is None:
            return default
        if entry.deadline <= time.monotonic():
            self._drop(key, entry)
            return default
        # LRU: re-insert so dict order is recency order; a concurrent eviction may have taken
        # the key meanwhile, and then it stays evicted.
        if self._lru and data.pop(key, None) is entry:
            data[key] = entry
        return entry.value

    def _get_plain(self, key: Hashable, default: Any) -> Any:
        entry = self.native._cache.get(key)
        return default if entry is None else entry.value

    def _get_lru(self, key: Hashable, default: Any) -> Any:
        data: dict[Hashable, Any] = self.native._cache
        entry = data.pop(key, None)
        if entry is None:
            if not data:  # an empty dict's pop never hashes; the core needs the TypeError
                hash(key)
            return default
        data[key] = entry
        return entry.value

    async def aget(self, key: Hashable, default: Any) -> Any:
        """Return the live value for `key`, or `default` (awaitable twin of `get_nowait`)."""
        return self.get_nowait(key, default)

    async def aset(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key` through aiocache (with its ttl), then evict beyond maxsize."""
        ttl = self.ttl
        deadline = time.monotonic() + ttl if ttl is not None else _INF
        await self.native.set(key, _Entry(value, deadline), ttl=ttl)
        if self.maxsize is not None:
            self._evict(self.maxsize)

    def _evict(self, maxsize: int) -> None:
        cache = self.native
        with self._lock:
            data: dict[Hashable, Any] = cache._cache
            handlers: dict[Hashable, Any] = cache._handlers
            while len(data) > maxsize:
                try:
                    oldest = next(iter(data))
                    del data[oldest]
                except (StopIteration, KeyError, RuntimeError):  # a hit moved it meanwhile
                    continue
                handle = handlers.pop(oldest, None)
                if handle is not None:
                    handle.cancel()

    def _drop(self, key: Hashable, entry: _Entry) -> None:
        data: dict[Hashable, Any] = self.native._cache
        if data.get(key) is entry:
            self.delete(key)

    def delete(self, key: Hashable) -> bool:
        """Drop `key` (and its aiocache expiry timer); True if there was an entry."""
        cache = self.native
        entry = cache._cache.pop(key, None)
        handle = cache._handlers.pop(key, None)
        if handle is not None:
            handle.cancel()
        return entry is not None

    async def adelete(self, key: Hashable) -> bool:
        """Awaitable twin of `delete`."""
        return self.delete(key)

    def clear(self) -> None:
        """Drop every entry and cancel aiocache's expiry timers (in place, never a new dict)."""
        cache = self.native
        with self._lock:
            handlers = list(cache._handlers.values())
            cache._handlers.clear()
            cache._cache.clear()
        for handle in handlers:
            handle.cancel()

    async def aclear(self) -> None:
        """Awaitable twin of `clear`."""
        self.clear()

    def __len__(self) -> int:
        """Count live entries (dropping expired ones whose aiocache timer died with its loop)."""
        if self.ttl is not None:
            now = time.monotonic()
            data: dict[Hashable, Any] = self.native._cache
            for key, entry in list(data.items()):
                if isinstance(entry, _Entry) and entry.deadline <= now:
                    self._drop(key, entry)
        return len(self.native._cache)

    async def alen(self) -> int:
        """Awaitable twin of `__len__`."""
        return len(self)


def open_store(config: CacheConfig, record: CacheRecord) -> AiocacheStore:
    """Open an aiocache memory store for one function (`config.maxsize`, `ttl`, `policy`)."""
    return AiocacheStore(config.maxsize, config.ttl, config.policy)
