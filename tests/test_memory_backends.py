"""The memory backends cachebox and cachetools: selection, policies, ttl, the functools-style
attributes, thread safety and single flight. Every test counts calls; none times anything."""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from conftest import has, needs
from helpers import python
from twat_cache import mcache, ucache
from twat_cache.config import CacheConfig
from twat_cache.record import CacheRecord
from twat_cache.store import MISS

BACKENDS = [
    pytest.param("cachebox", marks=needs("cachebox")),
    pytest.param("cachetools", marks=needs("cachetools")),
]
POLICIES = ["lru", "lfu", "fifo", "rr"]


def cached(backend: str, **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """A memory cache on exactly `backend` (asserted, so a fallback cannot pass silently)."""

    def decorate(func: Callable[..., Any]) -> Any:
        wrapper = ucache(preferred_engine=backend, **options)(func)
        assert wrapper.cache_backend == backend
        return wrapper

    return decorate


class Counter:
    """A function that records each computation."""

    def __init__(self, result: Callable[..., Any] = lambda x: x * 10) -> None:
        self.calls: list[Any] = []
        self.result = result

    def __call__(self, x: Any) -> Any:
        self.calls.append(x)
        return self.result(x)


def counted(backend: str, **options: Any) -> tuple[Any, Counter]:
    counter = Counter()

    def f(x):
        return counter(x)

    return cached(backend, **options)(f), counter


def is_hit(f: Any, counter: Counter, x: Any) -> bool:
    """Call f(x); True when it was answered from the cache."""
    before = len(counter.calls)
    assert f(x) == x * 10
    return len(counter.calls) == before


# -- selection ---------------------------------------------------------------------------


def test_mcache_picks_the_first_installed_memory_backend() -> None:
    expected = (
        "cachebox"
        if has("twat_cache_cachebox")
        else ("cachetools" if has("twat_cache_cachetools") else "functools")
    )

    @mcache
    def f(x):
        return x

    @ucache
    def g(x):
        return x

    assert f.cache_backend == expected
    assert g.cache_backend == expected


@needs("cachebox", "cachetools")
def test_cachetools_is_next_when_cachebox_is_excluded_by_preference() -> None:
    f = ucache(preferred_engine="cachetools")(lambda x: x)
    assert f.cache_backend == "cachetools"


# -- native objects ---------------------------------------------------------------------

NATIVE = {
    # (backend, policy, with ttl) -> class name of wrapper.cache
    ("cachebox", "lru", False): "LRUCache",
    ("cachebox", "lfu", False): "LFUCache",
    ("cachebox", "fifo", False): "FIFOCache",
    ("cachebox", "rr", False): "RRCache",
    ("cachebox", "lru", True): "LRUCache",
    ("cachebox", "lfu", True): "LFUCache",
    ("cachebox", "fifo", True): "TTLCache",
    ("cachebox", "rr", True): "RRCache",
    ("cachebox", "ttl", True): "TTLCache",
    ("cachetools", "lru", False): "LRUCache",
    ("cachetools", "lfu", False): "LFUCache",
    ("cachetools", "fifo", False): "FIFOCache",
    ("cachetools", "rr", False): "RRCache",
    ("cachetools", "lru", True): "TTLCache",
    ("cachetools", "lfu", True): "LFUCache",
    ("cachetools", "fifo", True): "FIFOCache",
    ("cachetools", "rr", True): "RRCache",
    ("cachetools", "ttl", True): "TTLCache",
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("policy", [*POLICIES, "ttl"])
@pytest.mark.parametrize("ttl", [None, 30.0])
@pytest.mark.parametrize("maxsize", [None, 5])
def test_wrapper_cache_is_the_librarys_own_object(
    backend: str, policy: str, ttl: float | None, maxsize: int | None
) -> None:
    if policy == "ttl" and ttl is None:
        pytest.skip("policy 'ttl' needs a ttl")
    library = __import__(backend)
    f = cached(backend, maxsize=maxsize, ttl=ttl, policy=policy)(lambda x: x)
    name = NATIVE[(backend, policy, ttl is not None)]
    # Before the first call the store is not open yet: `cache` opens it when used.
    assert isinstance(f.cache, getattr(library, name))
    f(1)
    assert type(f.cache) is getattr(library, name)
    assert type(f.cache).__module__.startswith(backend)
    assert len(f.cache) == 1
    if maxsize is not None:
        assert f.cache.maxsize == maxsize
    elif backend == "cachetools":
        assert f.cache.maxsize == math.inf  # cachetools' 0 would refuse every entry


# -- eviction by policy (with and without a ttl on top) ------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ttl", [None, 60.0])
def test_lru_evicts_the_least_recently_used(backend: str, ttl: float | None) -> None:
    f, counter = counted(backend, maxsize=2, policy="lru", ttl=ttl)
    f(1)
    f(2)
    f(1)  # 1 is now the most recent
    f(3)  # evicts 2
    assert is_hit(f, counter, 3)
    assert is_hit(f, counter, 1)
    assert not is_hit(f, counter, 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ttl", [None, 60.0])
def test_lfu_keeps_the_frequent_one(backend: str, ttl: float | None) -> None:
    f, counter = counted(backend, maxsize=2, policy="lfu", ttl=ttl)
    for _ in range(4):
        f(1)  # 1 is used often ...
    f(2)  # ... and 2 is the most recent, which LRU would keep instead of 1
    f(3)  # evicts 2, the least frequently used
    assert is_hit(f, counter, 1)
    assert is_hit(f, counter, 3)
    assert not is_hit(f, counter, 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ttl", [None, 60.0])
def test_fifo_evicts_the_first_in_even_when_used(backend: str, ttl: float | None) -> None:
    f, counter = counted(backend, maxsize=2, policy="fifo", ttl=ttl)
    f(1)
    f(2)
    f(1)  # a hit does not move 1 (LRU would now evict 2)
    f(3)  # evicts 1, the oldest insert
    assert is_hit(f, counter, 2)
    assert is_hit(f, counter, 3)
    assert not is_hit(f, counter, 1)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("ttl", [None, 60.0])
def test_rr_stays_within_maxsize_and_keeps_the_newest(backend: str, ttl: float | None) -> None:
    f, counter = counted(backend, maxsize=3, policy="rr", ttl=ttl)
    for x in range(50):
        f(x)
        assert f.cache_info().currsize <= 3
        assert is_hit(f, counter, x)  # eviction happens before an insert, never of it
    assert f.cache_info().currsize == 3
    assert len(counter.calls) == 50


@pytest.mark.parametrize("backend", BACKENDS)
def test_ttl_policy_is_bounded(backend: str) -> None:
    f, counter = counted(backend, maxsize=2, policy="ttl", ttl=60.0)
    for x in range(10):
        f(x)
    assert f.cache_info().currsize == 2
    assert is_hit(f, counter, 9)


# -- ttl expiry ------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_ttl_expires_with_every_policy(backend: str) -> None:
    ttl = 0.4
    funcs = {}
    for policy in [*POLICIES, "ttl"]:
        for maxsize in (None, 8):
            funcs[policy, maxsize] = counted(backend, maxsize=maxsize, policy=policy, ttl=ttl)
    for f, _ in funcs.values():
        f(1)
    time.sleep(ttl * 2)
    for (policy, maxsize), (f, counter) in funcs.items():
        assert not is_hit(f, counter, 1), (policy, maxsize)
        assert counter.calls == [1, 1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_mcache_options_never_expire(backend: str) -> None:
    f, counter = counted(backend)
    f(1)
    assert is_hit(f, counter, 1)
    assert f.cache_config.ttl is None


# -- functools-style attributes --------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("maxsize", "ttl", "policy"),
    [
        (None, None, "lru"),
        (4, None, "lru"),
        (4, None, "lfu"),
        (None, 60.0, "lru"),
        (4, 60.0, "fifo"),
        (4, 60.0, "rr"),
        (4, 60.0, "ttl"),
    ],
)
def test_info_delete_clear(
    backend: str, maxsize: int | None, ttl: float | None, policy: str
) -> None:
    counter = Counter(lambda x: x * 10)

    @cached(backend, maxsize=maxsize, ttl=ttl, policy=policy)
    def f(x, y=1):
        return counter(x) + y

    assert f(1) == 11
    assert f(2) == 21
    assert tuple(f.cache_info()) == (0, 2, maxsize, 2)
    assert f(1) == 11
    assert f(x=1, y=1) == 11  # the same call, spelt with keywords
    assert f.cache_info().hits == 2
    assert f.cache_delete(1) is True
    assert f.cache_delete(x=1) is False  # already gone: keywords name the same entry
    assert f.cache_info().currsize == 1
    assert f(1) == 11
    assert counter.calls == [1, 2, 1]
    f.cache_clear()
    assert tuple(f.cache_info()) == (0, 0, maxsize, 0)
    f(3)
    f.clear()
    assert f.cache_info().currsize == 0
    assert len(f.cache) == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_keyword_and_default_spellings_share_one_entry(backend: str) -> None:
    calls = []

    @cached(backend, maxsize=16)
    def f(a, b=2, *, c=3):
        calls.append((a, b, c))
        return a + b + c

    assert f(1) == f(a=1) == f(1, b=2) == f(1, 2, c=3) == f(c=3, b=2, a=1) == 6
    assert calls == [(1, 2, 3)]
    assert f(1, 3) == 7
    assert len(calls) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_unhashable_arguments_and_none_results(backend: str) -> None:
    calls = []

    @cached(backend, maxsize=16)
    def f(xs, opts=None):
        calls.append(1)
        return None if not xs else sum(xs)

    assert f([1, 2], opts={"a": [1]}) == 3
    assert f([1, 2], opts={"a": [1]}) == 3
    assert f([]) is None
    assert f([]) is None
    assert f([2, 1]) == 3
    assert len(calls) == 3
    assert f.cache_delete([1, 2], opts={"a": [1]}) is True


@pytest.mark.parametrize("backend", BACKENDS)
def test_methods_do_not_share_between_instances(backend: str) -> None:
    class Box:
        def __init__(self, k: int) -> None:
            self.k = k

        @cached(backend, maxsize=8)
        def times(self, x):
            return self.k * x

        def __hash__(self) -> int:
            return 0  # equal hashes must still not collide

    a, b = Box(2), Box(3)
    assert a.times(5) == 10
    assert b.times(5) == 15
    assert a.times(5) == 10


@pytest.mark.parametrize("backend", BACKENDS)
def test_exceptions_are_not_cached(backend: str) -> None:
    calls = []

    @cached(backend, maxsize=4)
    def f(x):
        calls.append(x)
        if len(calls) == 1:
            raise ValueError("first time")
        return x

    with pytest.raises(ValueError, match="first time") as info:
        f(1)
    assert info.value.__context__ is None  # not chained to the lookup's KeyError
    assert f(1) == 1
    assert f(1) == 1
    assert calls == [1, 1]


# -- the store itself --------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("maxsize", [None, 3])
@pytest.mark.parametrize("ttl", [None, 60.0])
def test_store_contract(backend: str, policy: str, maxsize: int | None, ttl: float | None) -> None:
    module = __import__(f"twat_cache_{backend}._store", fromlist=["open_store"])
    config = CacheConfig(maxsize=maxsize, ttl=ttl, policy=policy)
    store = module.open_store(config, CacheRecord(name="m.f", namespace="m:f"))
    assert store.get((1,), MISS) is MISS
    store.set((1,), None)
    assert store.get((1,), MISS) is None
    assert len(store) == 1
    with pytest.raises(TypeError):
        store.get(([1],), MISS)
    mapping = getattr(store, "mapping", None)
    if mapping is not None:  # the hot path subscripts it: same answers as get
        assert mapping[(1,)] is None
        with pytest.raises(KeyError):
            mapping[(2,)]
    assert store.delete((1,)) is True
    assert store.delete((1,)) is False
    store.set((2,), "two")
    store.clear()
    assert len(store) == 0
    assert store.get((2,), MISS) is MISS
    # the store applies ttl itself where its library has the policy with expiry; elsewhere
    # the core's TTL layer does (it is never silently ignored)
    if ttl is not None and store.handles_ttl:
        assert (backend, policy) in {("cachebox", "fifo"), ("cachetools", "lru")}


def test_plugins_do_not_import_their_library() -> None:
    code = (
        "import sys, importlib.util\n"
        "for p in ('twat_cache_cachebox', 'twat_cache_cachetools'):\n"
        "    if importlib.util.find_spec(p):\n"
        "        __import__(p)\n"
        "import twat_cache\n"
        "twat_cache.available_backends()\n"
        "assert 'cachebox' not in sys.modules and 'cachetools' not in sys.modules\n"
    )
    python("-c", code)


# -- thread safety -----------------------------------------------------------------------


def reference(x: int, y: int = 0) -> tuple[int, int]:
    return (x * x + y, x - y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("policy", "ttl"),
    [
        ("lru", None),
        ("lfu", None),
        ("fifo", None),
        ("rr", None),
        ("lru", 0.001),
        ("lfu", 0.001),
        ("ttl", 0.001),
    ],
)
def test_thread_stress_against_reference(backend: str, policy: str, ttl: float | None) -> None:
    f = cached(backend, maxsize=8, policy=policy, ttl=ttl)(reference)
    errors: list[BaseException] = []
    wrong: list[Any] = []
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        rnd = random.Random(seed)
        try:
            start.wait()
            for _ in range(2500):
                x, y = rnd.randrange(40), rnd.randrange(3)
                op = rnd.random()
                if op < 0.45:
                    got = f(x, y)
                elif op < 0.9:
                    got = f(x, y=y) if rnd.random() < 0.5 else f(y=y, x=x)
                elif op < 0.97:
                    f.cache_delete(x, y)
                    continue
                elif op < 0.99:
                    f.cache_info()
                    continue
                else:
                    f.cache_clear()
                    continue
                if got != reference(x, y):
                    wrong.append((x, y, got))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert wrong == []
    assert f.cache_info().currsize <= 8


# -- single flight ---------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_threads_on_one_slow_key_compute_once(backend: str) -> None:
    calls = []
    gate = threading.Barrier(8)

    @cached(backend, maxsize=4)
    def slow(x):
        calls.append(x)
        time.sleep(0.2)
        return x * 2

    results: list[Any] = []

    def worker() -> None:
        gate.wait()
        results.append(slow(21))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results == [42] * 8
    assert calls == [21]
    assert slow.cache_info().misses == 1
    assert slow.cache_info().hits == 7


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_raising_computation_leaves_no_thread_waiting(backend: str) -> None:
    calls = []
    gate = threading.Barrier(8)

    @cached(backend, maxsize=4)
    def boom(x):
        calls.append(x)
        time.sleep(0.1)
        raise RuntimeError("boom")

    outcomes: list[Any] = []

    def worker() -> None:
        gate.wait()
        try:
            outcomes.append(boom(1))
        except RuntimeError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert len(outcomes) == 8
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert 1 <= len(calls) <= 8
    assert boom.cache_info().currsize == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_asyncio_tasks_on_one_key_compute_once(backend: str) -> None:
    calls = []

    @cached(backend, maxsize=4)
    async def fetch(x):
        calls.append(x)
        await asyncio.sleep(0.1)
        return x + 1

    assert fetch.cache_backend == backend

    async def main() -> list[Any]:
        return await asyncio.wait_for(asyncio.gather(*(fetch(1) for _ in range(8))), 30)

    assert asyncio.run(main()) == [2] * 8
    assert calls == [1]
    assert asyncio.run(fetch(1)) == 2  # the result is cached, never the coroutine
    assert calls == [1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_raising_coroutine_leaves_no_task_waiting(backend: str) -> None:
    calls = []

    @cached(backend, maxsize=4)
    async def boom(x):
        calls.append(x)
        await asyncio.sleep(0.05)
        raise RuntimeError("boom")

    async def main() -> list[Any]:
        return await asyncio.wait_for(
            asyncio.gather(*(boom(1) for _ in range(8)), return_exceptions=True), 30
        )

    outcomes = asyncio.run(main())
    assert len(outcomes) == 8
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert 1 <= len(calls) <= 8
