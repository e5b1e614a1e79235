"""The core's clock: wall-clock seconds for TTL deadlines, replaceable in tests.

Deadlines are wall-clock (`time.time()`) because persistent entries are read by other
processes. `twat_cache.testing.FakeClock` (or `use(source)`) swaps the source, so TTL tests
advance time instead of sleeping. Stores whose library expires entries itself (cachebox's
`TTLCache`, diskcache's `expire=`) follow their library's clock; every deadline the core
writes (its TTL layer, sealed envelopes) follows this one.
"""

from __future__ import annotations

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["now", "use"]

_source: Callable[[], float] = time.time


def now() -> float:
    """The current time in seconds since the epoch, from the active source."""
    return _source()


def use(source: Callable[[], float] | None) -> Callable[[], float]:
    """Make `source` the clock (None: the real `time.time`); return the previous source."""
    global _source
    previous = _source
    _source = time.time if source is None else source
    return previous
