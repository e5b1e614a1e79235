"""Coroutine functions under every decorator, and the async wrapper's single flight.

These run on whatever is installed (the functools fallback included): the awaited result is
cached (never the coroutine), methods keep `self` in the key, and concurrent tasks of one key
share one computation that survives exceptions, cancelled leaders and cancelled waiters, across
`asyncio.run()` calls and threads that each run a loop of their own. No timed asserts: calls
are counted; timeouts only keep a broken build from hanging.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

import twat_cache as tc
from conftest import has
from helpers import run
from twat_cache.store import Store

DECORATORS: dict[str, Callable[[], Any]] = {
    "mcache": lambda: tc.mcache,
    "mcache()": lambda: tc.mcache(maxsize=64),
    "bcache": lambda: tc.bcache,
    "bcache()": lambda: tc.bcache(folder_name="async_b"),
    "fcache": lambda: tc.fcache,
    "fcache()": lambda: tc.fcache(folder_name="async_f"),
    "acache": lambda: tc.acache,
    "acache()": lambda: tc.acache(maxsize=64),
    "acache(functools)": lambda: tc.acache(backend="functools"),
    "ucache": lambda: tc.ucache,
    "ucache(use_async)": lambda: tc.ucache(use_async=True),
}
ALL = pytest.mark.parametrize("make", DECORATORS.values(), ids=DECORATORS.keys())
# Single-flight tests need a shared memory store; the disk ones are covered by their own tests.
MEMORY = {k: v for k, v in DECORATORS.items() if not k.startswith(("bcache", "fcache"))}
MEM = pytest.mark.parametrize("make", MEMORY.values(), ids=MEMORY.keys())

WAIT = 20.0  # seconds; only a hang (a bug) ever reaches it


@ALL
def test_the_awaited_result_is_cached_never_the_coroutine(make):
    calls = []

    async def double(x):
        calls.append(x)
        await asyncio.sleep(0)
        return [x, x]

    f = make()(double)
    assert inspect.iscoroutinefunction(f)
    assert f.__wrapped__ is double

    async def main():
        first = await f(2)
        second = await f(2)
        return first, second

    first, second = run(main())
    assert first == second == [2, 2]
    assert calls == [2]
    assert not inspect.iscoroutine(first)
    assert run(f(2)) == [2, 2]  # a new loop reads the same cache
    assert calls == [2]
    info = f.cache_info()
    assert (info.hits, info.misses, info.currsize) == (2, 1, 1)


@ALL
def test_none_results_are_cached(make):
    calls = []

    @make()
    async def nothing(x):
        calls.append(x)
        return None

    assert run(nothing(1)) is None
    assert run(nothing(1)) is None
    assert calls == [1]


@ALL
def test_exceptions_are_not_cached(make):
    calls = []

    @make()
    async def fails(x):
        calls.append(x)
        raise KeyError(x)

    for _ in range(2):
        with pytest.raises(KeyError):
            run(fails(1))
    assert calls == [1, 1]
    assert fails.cache_info().currsize == 0


@ALL
def test_equal_calls_share_an_entry_and_unhashable_arguments_work(make):
    calls = []

    @make()
    async def f(a, b=2, *, c=None):
        calls.append((a, b))
        return (a, b, c)

    async def main():
        assert await f(1) == (1, 2, None)
        assert await f(a=1) == (1, 2, None)
        assert await f(1, 2) == (1, 2, None)
        assert await f([1, 2], {"k": [3]}) == ([1, 2], {"k": [3]}, None)
        assert await f([1, 2], {"k": [3]}) == ([1, 2], {"k": [3]}, None)
        assert await f([1, 3], {"k": [3]}) == ([1, 3], {"k": [3]}, None)

    run(main())
    assert calls == [(1, 2), ([1, 2], {"k": [3]}), ([1, 3], {"k": [3]})]


@ALL
def test_cache_delete_and_clear_are_synchronous(make):
    calls = []

    @make()
    async def f(x):
        calls.append(x)
        return x + 1

    run(f(1))
    run(f(2))
    assert f.cache_delete(1) is True
    assert f.cache_delete(1) is False
    run(f(1))
    run(f(2))
    assert calls == [1, 2, 1]
    f.cache_clear()
    assert f.cache_info() == (0, 0, f.cache_config.maxsize, 0)
    run(f(2))
    assert calls == [1, 2, 1, 2]


@ALL
def test_async_methods_static_and_class_methods(make):
    deco = make()
    calls: list[Any] = []

    class Thing:
        def __init__(self, factor):
            self.factor = factor

        @deco
        async def scale(self, x):
            calls.append(("scale", self.factor, x))
            return self.factor * x

        @staticmethod
        @make()
        async def twice(x):
            calls.append(("twice", x))
            return 2 * x

        @classmethod
        @make()
        async def name(cls, x):
            calls.append(("name", cls.__name__, x))
            return f"{cls.__name__}{x}"

    class Other(Thing):
        pass

    async def main():
        a, b = Thing(2), Thing(3)
        assert await a.scale(5) == 10
        assert await a.scale(5) == 10
        assert await b.scale(5) == 15  # self is part of the key
        assert await Thing.twice(4) == 8
        assert await a.twice(4) == 8
        assert await Thing.name(1) == "Thing1"
        assert await a.name(1) == "Thing1"
        assert await Other.name(1) == "Other1"  # cls is part of the key

    run(main())
    assert calls == [
        ("scale", 2, 5),
        ("scale", 3, 5),
        ("twice", 4),
        ("name", "Thing", 1),
        ("name", "Other", 1),
    ]


@pytest.mark.parametrize(
    "wrap", [staticmethod, classmethod], ids=["staticmethod-outside", "classmethod-outside"]
)
def test_decorating_a_static_or_class_method_object(wrap):
    calls = []

    async def inner(*args):
        calls.append(args[-1])
        return args[-1] * 2

    class K:
        m = tc.acache(wrap(inner))

    async def main():
        assert await K.m(3) == 6
        assert await K().m(3) == 6

    run(main())
    assert calls == [3]


@MEM
def test_eight_tasks_on_one_slow_key_compute_once(make):
    calls = []

    @make()
    async def slow(x):
        calls.append(x)
        await asyncio.sleep(0.05)
        return x * 10

    async def main():
        return await asyncio.gather(*(slow(7) for _ in range(8)))

    assert run(main()) == [70] * 8
    assert calls == [7]
    info = slow.cache_info()
    assert (info.hits, info.misses) == (7, 1)


@MEM
def test_when_the_computation_raises_every_waiter_gets_it_and_the_next_call_recomputes(make):
    calls = []

    @make()
    async def boom(x):
        calls.append(x)
        await asyncio.sleep(0.05)
        if len(calls) == 1:
            raise ValueError("first time")
        return x

    async def main():
        return await asyncio.gather(*(boom(1) for _ in range(8)), return_exceptions=True)

    results = run(main())
    assert len(calls) == 1
    assert all(isinstance(r, ValueError) for r in results)
    assert {id(r) for r in results} == {id(results[0])}  # the leader's exception, shared
    # The traceback of the shared exception does not grow with every waiter that raised it.
    depth = len(list(_walk(results[0].__traceback__)))
    assert depth < 10
    assert run(boom(1)) == 1
    assert calls == [1, 1]


def _walk(tb: Any) -> Any:
    while tb is not None:
        yield tb
        tb = tb.tb_next


@MEM
def test_a_cancelled_leader_does_not_leave_waiters_hanging(make):
    calls = []

    @make()
    async def slow(x):
        calls.append(x)
        await asyncio.sleep(0.05 if len(calls) > 1 else 3600)
        return x * 2

    async def main():
        leader = asyncio.ensure_future(slow(4))
        while not calls:
            await asyncio.sleep(0)
        waiters = [asyncio.ensure_future(slow(4)) for _ in range(7)]
        await asyncio.sleep(0.01)  # let every waiter join the flight
        leader.cancel()
        results = await asyncio.gather(*waiters)
        with pytest.raises(asyncio.CancelledError):
            await leader
        return results

    assert run(main()) == [8] * 7
    assert calls == [4, 4]  # the cancelled computation, then one waiter's
    assert run(slow(4)) == 8
    assert calls == [4, 4]


@MEM
def test_cancelled_waiters_do_not_break_the_leader(make):
    calls = []

    @make()
    async def slow(x):
        calls.append(x)
        await asyncio.sleep(0.05)
        return x + 100

    async def main():
        leader = asyncio.ensure_future(slow(1))
        await asyncio.sleep(0)
        waiters = [asyncio.ensure_future(slow(1)) for _ in range(5)]
        await asyncio.sleep(0.005)
        for w in waiters[:3]:
            w.cancel()
        rest = await asyncio.gather(leader, *waiters[3:])
        for w in waiters[:3]:
            assert w.cancelled()
        return rest

    assert run(main()) == [101] * 3
    assert calls == [1]
    assert run(slow(1)) == 101


@MEM
def test_awaiting_its_own_key_does_not_deadlock(make):
    calls = []

    @make()
    async def rec(n):
        calls.append(n)
        if len(calls) < 3:
            return await rec(n)  # same key, from inside its own computation
        return n

    assert run(rec(5)) == 5
    assert calls == [5, 5, 5]


@MEM
def test_single_flight_across_several_asyncio_runs(make):
    calls = []

    @make()
    async def slow(x):
        calls.append(x)
        await asyncio.sleep(0.02)
        return -x

    async def burst(x):
        return await asyncio.gather(*(slow(x) for _ in range(6)))

    for x in range(4):  # a new event loop every time
        assert run(burst(x)) == [-x] * 6
        assert run(burst(x)) == [-x] * 6
    assert calls == [0, 1, 2, 3]


@MEM
def test_threads_each_with_their_own_loop(make):
    calls = []
    lock = threading.Lock()

    @make()
    async def slow(x):
        with lock:
            calls.append(x)
        await asyncio.sleep(0.02)
        return x * 3

    results: list[Any] = []
    errors: list[BaseException] = []

    def worker(i):
        async def burst():
            return await asyncio.gather(*(slow(k) for k in (1, 2, 1, 2, 1, 2)))

        try:
            results.append(run(burst()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not errors
    assert results == [[3, 6, 3, 6, 3, 6]] * 4
    # One computation per key and loop at most (loops never wait on each other).
    assert 1 <= calls.count(1) <= 4
    assert 1 <= calls.count(2) <= 4
    before = len(calls)
    assert run(slow(1)) == 3
    assert len(calls) == before


@MEM
def test_a_flight_of_another_loop_never_splits_this_loops_flight(make):
    # Loop A starts computing; loop B (another thread) then computes the same key; a second
    # task of loop A must still join A's computation: one computation per loop, not more.
    calls = []
    a_started, b_started = threading.Event(), threading.Event()

    async def until(event):
        while not event.is_set():
            await asyncio.sleep(0.001)

    @make()
    async def slow(x):
        calls.append(threading.current_thread().name)
        if threading.current_thread().name == "A":
            a_started.set()
            await until(b_started)
        else:
            b_started.set()
        await asyncio.sleep(0.02)
        return x

    async def loop_a():
        first = asyncio.ensure_future(slow(1))
        await until(b_started)
        return await asyncio.gather(first, slow(1))

    def thread_b():
        a_started.wait(WAIT)
        out.append(run(slow(1)))

    out: list[Any] = []
    b = threading.Thread(target=thread_b, name="B")
    result: list[Any] = []
    a = threading.Thread(target=lambda: result.append(run(loop_a())), name="A")
    a.start()
    b.start()
    a.join(WAIT)
    b.join(WAIT)
    assert result == [[1, 1]]
    assert out == [1]
    assert sorted(calls) == ["A", "B"]


def test_different_keys_are_computed_concurrently():
    running = 0
    peak = 0

    @tc.acache
    async def slow(x):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return x

    async def main():
        return await asyncio.gather(*(slow(i) for i in range(5)))

    assert run(main()) == [0, 1, 2, 3, 4]
    assert peak == 5


def test_acache_on_a_plain_function_is_a_type_error_pointing_to_mcache():
    def plain(x):
        return x

    with pytest.raises(TypeError, match="mcache"):
        tc.acache(plain)
    with pytest.raises(TypeError, match="mcache"):
        tc.acache(maxsize=3)(plain)


def test_ucache_use_async_on_a_plain_function_is_a_type_error():
    with pytest.raises(TypeError, match="coroutine"):
        tc.ucache(use_async=True)(lambda x: x)


def test_acache_unknown_backend_is_a_configuration_error():
    with pytest.raises(ValueError, match="backend") as err:
        tc.acache(backend="no-such-backend")
    assert "aiocache" in str(err.value)  # the known names are listed


@pytest.mark.parametrize("name", ["functools", "cachebox", "cachetools"])
def test_acache_backend_names_a_memory_backend(name):
    @tc.acache(backend=name, maxsize=2)
    async def f(x):
        return x

    assert run(f(1)) == 1
    if name == "functools" or f.cache_backend == name:
        assert f.cache_backend == name
    else:  # not installed: the memory chain takes over
        assert f.cache_backend in {"cachebox", "cachetools", "functools"}
    run(f(2))
    run(f(3))
    assert f.cache_info().currsize <= 2


TTL = {
    "mcache": lambda: tc.mcache(ttl=0.05),
    "acache": lambda: tc.acache(ttl=0.05),
    "acache(functools)": lambda: tc.acache(ttl=0.05, backend="functools"),
    "ucache(use_async)": lambda: tc.ucache(ttl=0.05, use_async=True),
}


@pytest.mark.parametrize("make", TTL.values(), ids=TTL.keys())
def test_ttl_expires_entries_of_coroutines(make):
    calls = []

    @make()
    async def f(x):
        calls.append(x)
        return x

    async def main():
        await f(1)
        await f(1)
        await asyncio.sleep(0.12)
        await f(1)

    run(main())
    assert calls == [1, 1]
    run(asyncio.sleep(0.12))  # expiry holds across loops too
    run(f(1))
    assert calls == [1, 1, 1]


def test_ucache_sends_coroutines_to_the_async_chain():
    @tc.ucache
    async def f(x):
        return x

    @tc.acache
    async def g(x):
        return x

    assert f.cache_backend == g.cache_backend


class _LaxStore(Store):
    """A sync store that answers MISS for unhashable keys instead of raising TypeError."""

    def __init__(self) -> None:
        self.native: dict[Any, Any] = {}

    def get(self, key, default):
        try:
            return self.native.get(key, default)
        except TypeError:
            return default

    def set(self, key, value):
        self.native[key] = value

    def delete(self, key):
        return self.native.pop(key, None) is not None

    def clear(self):
        self.native.clear()

    def __len__(self):
        return len(self.native)


@pytest.mark.parametrize("is_async", [True, False])
def test_a_store_that_does_not_raise_for_unhashable_keys_still_works(monkeypatch, is_async):
    from twat_cache import opening

    opened = []

    def open_lax(spec, config, record):
        opened.append(_LaxStore())
        return opened[-1]

    monkeypatch.setattr(opening, "open_store", open_lax)
    calls = []

    async def f(x):
        calls.append(x)
        return len(x)

    def g(x):
        calls.append(x)
        return len(x)

    if is_async:
        cached = tc.ucache(preferred_engine="functools")(f)
        assert run(cached([1, 2])) == 2
        assert run(cached([1, 2])) == 2
    else:
        cached = tc.ucache(preferred_engine="functools")(g)
        assert cached([1, 2]) == cached([1, 2]) == 2
    assert calls == [[1, 2]]
    assert opened
    assert len(opened[0]) == 1


@pytest.mark.skipif(has("twat_cache_aiocache"), reason="aiocache is installed")
def test_without_aiocache_acache_warns_once_and_uses_the_memory_chain(caplog):
    with caplog.at_level(logging.WARNING, logger="twat_cache"):

        @tc.acache(maxsize=2)
        async def f(x):
            return x

        run(f(1))
        run(f(1))
    warnings = [r for r in caplog.records if r.name == "twat_cache"]
    assert len(warnings) == 1
    assert "aiocache" in warnings[0].getMessage()
    assert f.cache_backend in warnings[0].getMessage()
    assert f.cache_info().hits == 1
