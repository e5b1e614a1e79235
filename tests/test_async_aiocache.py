"""The aiocache backend: aiocache's own cache, plus what aiocache alone does not do.

aiocache never caches None, its memory cache is unbounded, and its default keys go through
`str()`; the plugin fixes all three while `wrapper.cache` stays aiocache's `SimpleMemoryCache`
and TTL stays aiocache's. The store is also exercised directly.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

import twat_cache as tc
from conftest import has, needs
from helpers import run, run_python

pytestmark = needs("aiocache")


def test_acache_uses_aiocache_and_exposes_its_cache():
    from aiocache import SimpleMemoryCache

    @tc.acache
    async def f(x):
        return x

    assert f.cache_backend == "aiocache"
    assert isinstance(f.cache, SimpleMemoryCache)
    run(f(1))
    assert tc.get_stats()[f"{__name__}.{f.__qualname__}"]["backend"] == "aiocache"


def test_ucache_on_a_coroutine_and_use_async_pick_aiocache():
    @tc.ucache
    async def f(x):
        return x

    @tc.ucache(use_async=True, maxsize=3)
    async def g(x):
        return x

    assert f.cache_backend == g.cache_backend == "aiocache"


def test_none_is_cached_where_aiocache_alone_would_recompute():
    from aiocache import cached

    raw_calls, calls = [], []

    @cached()
    async def raw(x):
        raw_calls.append(x)

    @tc.acache
    async def ours(x):
        calls.append(x)

    for _ in range(3):
        run(raw(1))
        assert run(ours(1)) is None
    assert raw_calls == [1, 1, 1]  # the library alone: None is a miss every time
    assert calls == [1]


def test_keys_are_the_cores_tuples_not_strings():
    @tc.acache
    async def f(a, b=2):
        return a + b

    run(f(1))
    run(f(a=1, b=2))
    assert list(f.cache._cache) == [(1, 2)]
    assert f.cache_info().misses == 1


@pytest.mark.skipif(not has("numpy"), reason="needs numpy")
def test_large_arrays_that_print_alike_never_collide():
    import numpy as np

    a = np.zeros(10_000)
    b = a.copy()
    b[5_000] = 1.0
    assert str(a) == str(b)  # what aiocache's default key would see

    @tc.acache
    async def total(arr):
        return float(arr.sum())

    assert run(total(a)) == 0.0
    assert run(total(b)) == 1.0
    assert run(total(a.copy())) == 0.0
    assert total.cache_info().misses == 2


def test_maxsize_is_enforced_lru():
    calls = []

    @tc.acache(maxsize=2)
    async def f(x):
        calls.append(x)
        return x

    async def main():
        for x in (1, 2, 1, 3):  # 1 was used after 2, so 2 is the one evicted
            await f(x)
        assert len(f.cache._cache) == 2
        await f(1)
        await f(2)

    run(main())
    assert calls == [1, 2, 3, 2]
    assert f.cache_info().currsize == 2


def test_maxsize_fifo_policy():
    calls = []

    @tc.acache(maxsize=2, policy="fifo")
    async def f(x):
        calls.append(x)
        return x

    assert f.cache_backend == "aiocache"

    async def main():
        for x in (1, 2, 1, 3):  # first in, first out: 1 goes although it was just used
            await f(x)
        await f(2)
        await f(1)

    run(main())
    assert calls == [1, 2, 3, 1]


def test_a_policy_aiocache_cannot_honour_moves_to_the_memory_chain(caplog):
    from twat_cache import registry

    able = [n for n in ("cachebox", "cachetools") if n in registry.installed()]
    able = [n for n in able if registry.installed()[n].honours("lfu")]
    with caplog.at_level(logging.WARNING, logger="twat_cache"):

        @tc.acache(maxsize=2, policy="lfu")
        async def f(x):
            return x

    assert run(f(1)) == 1
    if able:
        assert f.cache_backend == able[0]
        assert "aiocache" in caplog.text
    else:  # nobody honours lfu: aiocache with LRU, and a warning says so
        assert f.cache_backend == "aiocache"
        assert f.cache_config.policy == "lru"
        assert "lfu" in caplog.text


def test_ttl_is_aiocaches_own_timer():
    calls = []

    @tc.acache(ttl=0.05)
    async def f(x):
        calls.append(x)
        return x

    async def main():
        await f(1)
        assert 1 == await f(1)
        assert (1,) in f.cache._handlers  # aiocache's expiry timer for the entry
        await asyncio.sleep(0.15)
        assert (1,) not in f.cache._cache  # aiocache dropped it itself
        await f(1)

    run(main())
    assert calls == [1, 1]


def test_ttl_holds_after_the_loop_that_set_the_timer_is_gone():
    calls = []

    @tc.acache(ttl=0.05)
    async def f(x):
        calls.append(x)
        return x

    run(f(1))  # the timer dies with this loop
    assert f.cache_info().currsize == 1
    run(asyncio.sleep(0.1))
    assert f.cache_info().currsize == 0
    run(f(1))
    run(asyncio.sleep(0.1))
    run(f(1))
    assert calls == [1, 1, 1]


def test_cache_delete_and_clear_also_drop_aiocaches_timers():
    @tc.acache(ttl=60)
    async def f(x):
        return x

    run(f(1))
    run(f(2))
    assert set(f.cache._handlers) == {(1,), (2,)}
    assert f.cache_delete(1) is True
    assert set(f.cache._handlers) == {(2,)}
    f.cache_clear()
    assert f.cache._cache == {}
    assert f.cache._handlers == {}


def test_clearing_through_aiocaches_own_api_keeps_working():
    calls = []

    @tc.acache(maxsize=2)
    async def f(x):
        calls.append(x)
        return x

    async def main():
        await f(1)
        await f.cache.clear()  # aiocache replaces its dict
        await f(1)
        await f(2)
        await f(3)
        await f(3)

    run(main())
    assert calls == [1, 1, 2, 3]
    assert f.cache_info().currsize == 2


def test_entries_from_outside_are_a_logged_miss_not_a_crash(caplog):
    @tc.acache
    async def f(x):
        return x * 2

    async def main():
        await f.cache.set((5,), "not an entry of ours")
        return await f(5)

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert run(main()) == 10
    assert run(f(5)) == 10


def test_the_store_directly():
    from twat_cache.config import CacheConfig
    from twat_cache.record import CacheRecord as StoreContext
    from twat_cache.store import MISS
    from twat_cache_aiocache._store import open_store

    store = open_store(
        CacheConfig(maxsize=2, kind="async"), StoreContext(namespace="m:f", name="m.f")
    )

    async def main():
        assert await store.aget((1,), MISS) is MISS
        await store.aset((1,), None)
        assert await store.aget((1,), MISS) is None
        assert store.get_nowait((1,), MISS) is None
        await store.aset((2,), [2])
        await store.aset((3,), 3)
        assert len(store) == 2
        assert await store.alen() == 2
        assert store.get_nowait((1,), MISS) is MISS
        assert await store.adelete((2,)) is True
        assert store.delete((2,)) is False
        await store.aclear()
        assert len(store) == 0
        with pytest.raises(TypeError):
            store.get_nowait(([1],), MISS)

    run(main())


def test_importing_the_plugin_does_not_import_aiocache():
    code = "import sys, twat_cache, twat_cache_aiocache; print('aiocache' in sys.modules)"
    assert run_python(code).strip() == "False"


def test_ttl_with_maxsize_keeps_lru_order():
    calls = []

    @tc.acache(maxsize=2, ttl=60)
    async def f(x):
        calls.append(x)
        return x

    async def main():
        for x in (1, 2, 1, 3, 1, 2):  # 2 is the least recently used when 3 arrives
            await f(x)

    run(main())
    assert calls == [1, 2, 3, 2]
    assert f.cache_info().currsize == 2


def test_an_aiocache_with_other_internals_falls_back_instead_of_failing(monkeypatch, caplog):
    import twat_cache_aiocache._store as store_module

    class Changed:
        def __init__(self, **kwargs):
            self._storage = {}

    monkeypatch.setattr(store_module, "SimpleMemoryCache", Changed)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):

        @tc.acache
        async def f(x):
            return x

        assert run(f(3)) == 3  # the store opens, fails and falls back on the first call
    assert f.cache_backend != "aiocache"
    assert "aiocache" in caplog.text
