"""Coroutines on disk and file stores never block the event loop (issue 14, item 6).

A coroutine's 50 MB result is stored and then loaded while a ticker task asks to run every
5 ms; the longest wait between two of its ticks must stay under 50 ms (before the store I/O
moved to a worker thread, storing stalled the loop 380-755 ms and a hit 95-184 ms). The gap is
measured a few times and the best run is judged, so a busy shared machine does not make the
test flaky; every store and load is also checked for its value.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import twat_cache as tc
from conftest import needs

np = pytest.importorskip("numpy")

#: The decorator that caches a coroutine function on each disk or file store.
STORES = {
    "joblib": lambda folder: tc.fcache(folder_name=folder),
    "diskcache": lambda folder: tc.ucache(folder_name=folder, preferred_engine="diskcache"),
    "klepto-sql": lambda folder: tc.ucache(folder_name=folder, preferred_engine="klepto"),
    "klepto-dir": lambda folder: tc.bcache(folder_name=folder, sql_backend=False),
}
BACKEND = {
    "joblib": "joblib",
    "diskcache": "diskcache",
    "klepto-sql": "klepto",
    "klepto-dir": "klepto",
}
#: Stores where the loop still waits too long today (reason as the xfail's): none. Measured
#: before: the directory archive 150-180 ms (base64 of 50 MB in one call, now in 3 MB slices);
#: diskcache 29-70 ms and klepto's SQL archive 58-75 ms (now within the limit: each of their
#: single copies of 50 MB under the GIL takes 10-20 ms).
SLOW_TODAY: dict[str, str] = {}
TICK = 0.005
LIMIT = 0.050
TRIES = 3
MB50 = 50 * 2**20


def marks(store: str) -> list[pytest.MarkDecorator]:
    """`needs` the store's plugin; an xfail (not strict) where the loop still waits today."""
    found = [needs(BACKEND[store])]
    if store in SLOW_TODAY:
        found.append(pytest.mark.xfail(strict=False, reason=SLOW_TODAY[store]))
    return found


async def longest_wait(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    """(longest gap between two ticks of a 5 ms ticker while `work` runs, `work`'s result)."""
    loop = asyncio.get_running_loop()
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = loop.time()
        while not done.is_set():
            await asyncio.sleep(TICK)
            now = loop.time()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(4 * TICK)  # ticking before the work starts
    try:
        result = await work()
        await asyncio.sleep(2 * TICK)  # and a tick after it ends
    finally:
        done.set()
        await task
    return max(gaps), result


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("store", [pytest.param(name, marks=marks(name)) for name in STORES])
def test_a_50mb_value_is_stored_and_loaded_off_the_event_loop(store, tmp_path):
    value = np.random.default_rng(0).random(MB50 // 8)
    calls: list[int] = []

    @STORES[store](str(tmp_path / "c"))
    async def produce(x: int) -> Any:
        calls.append(x)
        return value if x >= 0 else x

    assert produce.cache_backend == BACKEND[store]

    async def main() -> tuple[float, float]:
        await produce(-1)  # opens the store (imports its library) before any measurement
        best_store = best_load = math.inf
        for attempt in range(TRIES):
            stored, first = await longest_wait(lambda: produce(attempt))
            loaded, again = await longest_wait(lambda: produce(attempt))
            assert first is value  # computed
            assert np.array_equal(again, value)  # loaded from the store
            best_store, best_load = min(best_store, stored), min(best_load, loaded)
            if best_store < LIMIT and best_load < LIMIT:
                break
        return best_store, best_load

    best_store, best_load = asyncio.run(main())
    assert calls.count(-1) == 1
    assert len(calls) - 1 <= TRIES  # every load was a hit
    assert best_store < LIMIT, f"storing 50 MB kept the loop waiting {best_store * 1000:.0f} ms"
    assert best_load < LIMIT, f"loading 50 MB kept the loop waiting {best_load * 1000:.0f} ms"
