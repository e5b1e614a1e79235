"""Per-cache state: exact counters, the warnings said once, and `cache_info()`.

Counters tick with one C call (`itertools.count.__next__`), which no other thread can
interleave, so `cache_info()` is exact under threads where `hits += 1` is not (a thread switch
between the read and the write loses a tick).
"""

from __future__ import annotations

import itertools
from collections import namedtuple

from twat_cache._log import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, NamedTuple

    from twat_cache.record import CacheRecord
    from twat_cache.store import Store

__all__ = ["COMPUTE_HOOKS", "CacheInfo", "CacheState", "Counter"]

#: Called with (state, seconds) after every computation of every cache (`instrument()`).
COMPUTE_HOOKS: list[Callable[[CacheState, float], None]] = []


if TYPE_CHECKING:

    class CacheInfo(NamedTuple):
        """Statistics of one cache, shaped like `functools.lru_cache`'s `cache_info()`."""

        hits: int
        misses: int
        maxsize: int | None
        currsize: int

else:  # the same tuple without importing typing (as functools does for its _CacheInfo)
    CacheInfo = namedtuple("CacheInfo", ["hits", "misses", "maxsize", "currsize"])
    CacheInfo.__doc__ = "Statistics of one cache, shaped like lru_cache's `cache_info()`."


class Counter:
    """A counter that is exact under threads: `tick()` is one C call."""

    __slots__ = ("_base", "count", "tick")

    def __init__(self) -> None:
        #: The underlying `itertools.count`: the generated hit path calls `next()` on it.
        self.count = itertools.count()
        self.tick: Callable[[], int] = self.count.__next__
        self._base = 0

    def _read(self) -> int:
        return int(repr(self.count)[6:-1])  # "count(N)": the next value, i.e. the ticks so far

    def value(self) -> int:
        """The ticks since the last reset."""
        return self._read() - self._base

    def reset(self) -> None:
        """Start again from zero (the ticks of calls in progress may land either side)."""
        self._base = self._read()


class CacheState:
    """Everything about one cached function except its hot path: record, store, counters.

    `hits` counts calls answered without computing (waiters of a single flight and stale
    answers included); `misses` counts computations. `store` is None until the first call
    opens it. Warnings about storing or keying are logged once per cache.
    """

    def __init__(self, record: CacheRecord) -> None:
        self.record = record
        self.name = record.name
        self.store: Store | None = None
        self.front: Store | None = None
        self.hits = Counter()
        self.misses = Counter()
        # Set by the wrapper: opens the store (first call) and drops every entry.
        self.open: Callable[[], Store] = _unopened
        self._warned: set[str] = set()

    def warn_once(self, topic: str, message: str, *args: object) -> None:
        """Log `message` at WARNING the first time `topic` comes up for this cache."""
        if topic not in self._warned:
            self._warned.add(topic)
            logger.warning(message, *args)

    def read_failed(self, exc: BaseException) -> None:
        """A store read raised: the call is a miss; said once per cache."""
        self.warn_once(
            "get", "reading the cache of %s failed (%s: %s)", self.name, type(exc).__name__, exc
        )

    def store_failed(self, exc: BaseException) -> None:
        """Storing a result raised: the result is still returned; said once per cache."""
        self.warn_once(
            "set",
            "could not store a result of %s (%s: %s); it is returned uncached",
            self.name,
            type(exc).__name__,
            exc,
        )

    def uncacheable(self, exc: BaseException) -> None:
        """An argument cannot be keyed: the call runs uncached; said once per cache.

        With a `key=` function, what could not be keyed is the value it returned.
        """
        kind = getattr(exc, "kind", "")
        if self.record.config.key is not None and kind:
            self.warn_once(
                "key",
                "%s is called uncached: the result of its key function cannot be keyed (a %s: %s)",
                self.name,
                kind,
                getattr(exc, "why", ""),
            )
        else:
            self.warn_once("key", "%s is called uncached: %s", self.name, exc)

    def clear(self) -> None:
        """Drop every entry (opening a persistent store to clear what is on disk) and reset."""
        store = self.store
        if store is None and self.record.folder is not None:
            store = self.open()
        if store is not None:
            store.clear()
        if self.front is not None:
            self.front.clear()
        self.hits.reset()
        self.misses.reset()

    def size(self) -> int:
        """The number of entries in the store (0 if it cannot tell).

        A persistent cache not called yet is opened to count what other processes stored; a
        memory cache not called yet holds nothing.
        """
        store = self.store
        if store is None:
            if self.record.folder is None:
                return 0
            try:
                store = self.open()
            except Exception:
                return 0
        try:
            return len(store)
        except Exception:
            return 0

    def info(self) -> CacheInfo:
        """`cache_info()`: (hits, misses, maxsize, currsize) of this cache."""
        return CacheInfo(
            self.hits.value(), self.misses.value(), self.record.config.maxsize, self.size()
        )

    def stats(self) -> dict[str, Any]:
        """The row of `get_stats()` for this cache."""
        record = self.record
        return {
            "hits": self.hits.value(),
            "misses": self.misses.value(),
            "size": self.size(),
            "backend": record.backend,
            "maxsize": record.config.maxsize,
            "ttl": record.config.ttl,
            "kind": record.kind,
            "folder": str(record.folder) if record.folder is not None else None,
        }


def _unopened() -> Store:
    raise RuntimeError("this cache has no store opener")
