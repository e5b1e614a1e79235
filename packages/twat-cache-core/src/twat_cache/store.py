"""`Store`, the base class of every backend's store, with each optional capability declared.

A backend opens one store per decorated function: a thin translation onto its library's own
cache object (`native`). The core owns keys, statistics, single flight, async handling and,
where a store does not do it itself, TTL. A store subclasses `Store` (or `AsyncStore`) and
implements the five required operations; everything else has a default here, so the core
never probes a store with `getattr` and a plugin author finds every capability in one place:

| capability | default | a store overrides it when |
|---|---|---|
| `mapping` | None | `mapping[key]` is a hit or `KeyError`, as `get` (the hot path subscripts it) |
| `handles_ttl` | False | it applies `config.ttl` itself (else the core's TTL layer stamps values) |
| `blocking` | False | `get`/`set` do I/O: coroutine functions call them in a worker thread |
| `digest_keys` | False | keys are the core's disk digests (`str`), stable across processes |
| `flight_lock(key)` | None | it can serialize one key's computation across processes |
| `aflight_lock(key)` | None | the same, awaited (never blocking the event loop) |
| `prune()` | 0 | it can drop expired entries and leftovers (the `twat-cache prune` command) |
| `clear_all()` | `clear()` | its folder may hold other functions' entries it can clear too |
| `close()` | nothing | it holds files or connections |
| `after_fork()` | nothing | a forked child must not use the parent's connections |
| `items()` | empty | it can list its entries (the core's TTL layer purges expired ones) |
| `owned` | () | it creates files: their names in its folder (the only ones clearing may remove) |
| `buffer_hash` | None | it brings a faster collision-resistant digest for large array arguments |
| `nbytes()` | None | it can tell the bytes it holds (`max_bytes`, `twat-cache list`) |
| `verify(fix)` | (0, 0) | it can authenticate every entry (`twat-cache verify [--fix]`) |

`AsyncStore` adds the coroutine twins `aget`/`aset` (and `aflight_lock`, `get_nowait`) for
libraries whose API is asyncio. `twat_cache.testing` holds the contract suite a plugin runs
against its store.
"""

from __future__ import annotations

from twat_cache._missing import MISS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Iterable
    from contextlib import AbstractAsyncContextManager, AbstractContextManager
    from typing import Any

__all__ = ["MISS", "AsyncStore", "Store"]


class Store:
    """A synchronous store for one cached function; subclass it and implement the five operations.

    `get(key, default)` returns the stored value or `default` (the core passes `MISS`, so `None`
    can be cached); it may raise `TypeError` for an unhashable key, and the core then retries
    with a canonical key. `set` stores, honouring the store's own bound (`maxsize`, and
    `max_bytes` for persistent stores). `delete` returns whether an entry was dropped; `clear`
    drops this function's entries only; `len()` counts them without changing anything.
    """

    native: Any = None
    mapping: Any = None
    handles_ttl: bool = False
    blocking: bool = False
    digest_keys: bool = False
    owned: tuple[str, ...] = ()
    #: `buffer_hash(memoryview) -> bytes`: digests large contiguous buffers (NumPy arguments)
    #: in this store's disk keys instead of SHA-256 (e.g. BLAKE3, several times faster).
    buffer_hash: Callable[[memoryview], bytes] | None = None

    def get(self, key: Hashable, default: Any) -> Any:
        """Return the value stored for `key`, or `default`."""
        raise NotImplementedError

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key`."""
        raise NotImplementedError

    def delete(self, key: Hashable) -> bool:
        """Drop `key`; True if there was an entry."""
        raise NotImplementedError

    def clear(self) -> None:
        """Drop every entry of this function."""
        raise NotImplementedError

    def __len__(self) -> int:
        """The number of entries (read-only: counting never expires or evicts anything)."""
        raise NotImplementedError

    def flight_lock(self, key: Hashable) -> AbstractContextManager[bool] | None:
        """A context manager serializing `key`'s computation across processes, or None.

        It yields True when the lock was taken and False when it was not (the wait timed out,
        or the holder is an ancestor process waiting on us); the core computes either way.
        """
        return None

    def aflight_lock(self, key: Hashable) -> AbstractAsyncContextManager[bool] | None:
        """The asyncio twin of `flight_lock` (for coroutine functions), or None."""
        return None

    def prune(self) -> int:
        """Drop expired entries and leftovers of killed writers; return how many entries."""
        return 0

    def clear_all(self) -> None:
        """Drop every entry in this store's folder, whichever function wrote it."""
        self.clear()

    def close(self) -> None:
        """Release files and connections."""

    def after_fork(self) -> None:
        """In a child made by `fork()`: drop the parent's connections, open this process's own."""

    def items(self) -> Iterable[tuple[Hashable, Any]]:
        """The entries as (key, value) pairs (a snapshot), where the store can list them."""
        return ()

    def nbytes(self) -> int | None:
        """The bytes the entries take (approximately), or None when the store cannot tell."""
        return None

    def verify(self, fix: bool = False) -> tuple[int, int]:
        """Authenticate every entry; with `fix`, drop the broken ones. Returns (checked, broken)."""
        return (0, 0)


class AsyncStore(Store):
    """A store whose library is asyncio-native: reads and writes are coroutines.

    `aget`/`aset` are awaited by the async wrapper. `get_nowait(key, default)` answers from
    memory without awaiting when it can (the hit path prefers it), else returns `default`
    with `nowait_complete` False so that the wrapper awaits `aget`. The synchronous `delete`,
    `clear` and `len()` remain, because `cache_delete`, `cache_clear` and `cache_info` are
    plain methods of every wrapper.
    """

    #: True when `get_nowait` sees every entry (a memory store): its MISS is final.
    nowait_complete: bool = False

    def get_nowait(self, key: Hashable, default: Any) -> Any:
        """Return the value if it can be had without awaiting, else `default`."""
        return default

    async def aget(self, key: Hashable, default: Any) -> Any:
        """Return the value stored for `key`, or `default`."""
        raise NotImplementedError

    async def aset(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key`."""
        raise NotImplementedError

    def get(self, key: Hashable, default: Any) -> Any:
        """The synchronous read: `get_nowait` (an async store is read with `aget`)."""
        return self.get_nowait(key, default)

    def set(self, key: Hashable, value: Any) -> None:
        """Not available: an async store is written with `aset`."""
        raise TypeError(f"{type(self).__name__} is written with `await aset(...)`")
