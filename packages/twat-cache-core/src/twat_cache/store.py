"""The store protocol every backend plugin implements, and the core's TTL adapter.

A backend opens one store per decorated function: a thin translation onto its library's own
cache object (`native`). The core owns keys, statistics, single flight and async handling; a
store only gets, sets, deletes, clears and counts. Stores whose library has no TTL get one from
`TTLStore`, so a `ttl` is never silently ignored.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from twat_cache._missing import MISS

__all__ = ["MISS", "AsyncStore", "Store", "TTLStore"]


@runtime_checkable
class Store(Protocol):
    """A synchronous store for one cached function.

    `get(key, default)` returns the value or `default` (the core passes `MISS`); it may raise
    `TypeError` for an unhashable key, and the core retries with a canonical key. `set` stores
    (honouring the store's own maxsize and, when the backend declares `native_ttl`, the ttl).
    `delete` returns whether an entry was dropped. A store that can serialise computations
    across processes also offers `flight_lock(key)`, a context manager the core holds around
    re-check, compute and set on a miss (`twat_cache.locks.StripedLocks.hold`: one lock file
    per store, entering with False when the caller should compute without waiting). A
    persistent store may offer `prune() -> int`, which drops expired entries (the `twat-cache
    prune` command calls it), `close()`, `clear_all()`, which empties its whole folder whichever
    function wrote the entries (`clear_cache(folder)` prefers it; without it, the core reopens
    and clears the stores the folder's marker records), and `owned`, the names (paths relative
    to its folder) it created there: recorded in the folder's marker, they are the only names
    clearing may remove when the store cannot be reopened. Clearing never removes anything
    else, and never follows a symlink out of the folder.
    """

    native: Any

    def get(self, key: Hashable, default: Any) -> Any:
        """Return the value stored for `key`, or `default`."""

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key`."""

    def delete(self, key: Hashable) -> bool:
        """Drop `key`; True if there was an entry."""

    def clear(self) -> None:
        """Drop every entry of this store."""

    def __len__(self) -> int:
        """The number of entries."""


@runtime_checkable
class AsyncStore(Protocol):
    """An asynchronous store (aiocache, redis.asyncio): reads and writes are coroutines.

    `aget`/`aset` are awaited on the hot path. `delete`, `clear` and `__len__` stay synchronous,
    because `cache_delete`, `cache_clear` and `cache_info` are plain methods of the wrapper. An
    async store applies `ttl` itself (its spec declares `native_ttl=True`) and may offer
    `aflight_lock(key)`, an async context manager for cross-process single flight, and
    `get_nowait(key, default)`, a synchronous read the wrapper prefers on the hot path when the
    value is already in memory (so a hit never awaits).
    """

    native: Any

    async def aget(self, key: Hashable, default: Any) -> Any:
        """Return the value stored for `key`, or `default`."""

    async def aset(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key`."""

    def delete(self, key: Hashable) -> bool:
        """Drop `key`; True if there was an entry."""

    def clear(self) -> None:
        """Drop every entry of this store."""

    def __len__(self) -> int:
        """The number of entries."""


FlightLock = AbstractContextManager[object]
AsyncFlightLock = AbstractAsyncContextManager[object]


class TTLStore:
    """Adds expiry to a store whose library has none: values are kept as `(deadline, value)`.

    Deadlines are wall-clock (`time.time()`), so they hold across processes for disk stores.
    An expired entry is a miss and is dropped when seen.
    """

    #: The inner store's optional hooks, offered unchanged when it has them.
    HOOKS = ("flight_lock", "aflight_lock", "prune", "close", "clear_all")

    __slots__ = (
        "aflight_lock",
        "clear_all",
        "close",
        "flight_lock",
        "inner",
        "native",
        "prune",
        "ttl",
    )

    def __init__(self, inner: Store, ttl: float) -> None:
        self.inner = inner
        self.ttl = ttl
        self.native = inner.native
        for hook in self.HOOKS:
            method = getattr(inner, hook, None)
            if method is not None:
                setattr(self, hook, method)

    def get(self, key: Hashable, default: Any) -> Any:
        """Return the live value for `key`, or `default` when missing or expired."""
        item = self.inner.get(key, MISS)
        if item is MISS:
            return default
        try:
            deadline, value = item
        except (TypeError, ValueError):
            self.inner.delete(key)
            return default
        if deadline < time.time():
            self.inner.delete(key)
            return default
        return value

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key`, expiring `ttl` seconds from now."""
        self.inner.set(key, (time.time() + self.ttl, value))

    def delete(self, key: Hashable) -> bool:
        """Drop `key`; True if there was an entry."""
        return self.inner.delete(key)

    def clear(self) -> None:
        """Drop every entry."""
        self.inner.clear()

    def __len__(self) -> int:
        return len(self.inner)
