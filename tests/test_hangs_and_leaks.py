"""Never a hang, never a leak (issue 14, DESIGN §3 "Single flight", "Lifetime", "Async").

Each case a user hit becomes a test on every decorator and backend it applies to:
- single flight keyed exactly like the store (typed disk keys: f(1) and f(True) differ);
- a child made by fork() while a thread computes a key answers that key itself;
- a computation calling its own key again (from a thread it joins, a pool future it waits
  on, a task it awaits, a child process made by fork or spawn) gets an answer, like
  lru_cache, and a cross-process wait ends after its (configurable) timeout;
- dropped caches are freed (the stats registry is weak), expired entries are purged, memory
  caches of methods do not keep instances alive;
- coroutine functions on disk, file and network stores never stall the event loop on
  storage I/O;
- cache_info() counters are exact under threads.
Every test has a hard timeout: a hang fails the test, it never freezes the run.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import math
import multiprocessing
import os
import sys
import threading
import time
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

import pytest

import twat_cache as tc
from targets import ASYNC, BY_ID, MEMORY, PERSISTENT, SYNC, Target, call, over
from twat_cache.testing import FakeClock, store_of
from twat_cache.ttl import TTLStore

pytestmark = pytest.mark.timeout(60)

POSIX = sys.platform != "win32"
FORK_WARNING = "ignore:This process .* is multi-threaded:DeprecationWarning"
ASYNC_PERSISTENT = [t for t in ASYNC if t.persistent]
ASYNC_MEMORY = [t for t in ASYNC if not t.persistent]


# -- single flight keyed like the store --------------------------------------------------------


@over([*PERSISTENT, Target("mcache-typed", "mcache", options={"typed": True})])
def test_concurrent_calls_of_typed_unequal_keys_get_their_own_answers(target: Target) -> None:
    inside = threading.Barrier(2, timeout=10)

    def f(x: Any) -> str:
        inside.wait()  # both computations run at once: neither waits on the other's flight
        return repr(x)

    cached = target.define(f)
    out: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda v=v: out.__setitem__(repr(v), cached(v))) for v in (1, True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert out == {"1": "1", "True": "True"}
    assert cached(1) == "1"
    assert cached(True) == "True"


@over([*ASYNC_PERSISTENT, Target("acache-typed", "acache", options={"typed": True})])
def test_gathered_typed_unequal_keys_get_their_own_answers(target: Target) -> None:
    async def f(x: Any) -> str:
        await asyncio.sleep(0.05)  # all five are in flight together
        return repr(x)

    cached = target.cache()(f)

    async def main() -> list[str]:
        return list(
            await asyncio.gather(cached(1), cached(True), cached(1.0), cached(0.0), cached(-0.0))
        )

    # Disk keys are typed and faithful (-0.0 is not 0.0); typed memory keys are lru_cache's
    # (0.0 == -0.0, one type: one entry).
    last = "-0.0" if target.persistent else "0.0"
    assert call(lambda: main()) == ["1", "True", "1.0", "0.0", last]


# -- fork while a thread computes ----------------------------------------------------------------


def _send_call(cached: Any, x: Any, conn: Any) -> None:
    conn.send(cached(x))
    conn.close()


@pytest.mark.skipif(not POSIX, reason="fork")
@pytest.mark.filterwarnings(FORK_WARNING)
@over(SYNC)
def test_a_child_forked_while_a_thread_computes_a_key_answers_it(target: Target) -> None:
    parent = os.getpid()
    started, release = threading.Event(), threading.Event()

    def k(x: int) -> tuple[int, int]:
        if os.getpid() == parent:
            started.set()
            release.wait(30)  # the parent's computation is in flight while the child runs
        return (x * 2, os.getpid())

    cached = target.define(k)
    worker = threading.Thread(target=cached, args=(3,))
    worker.start()
    try:
        assert started.wait(20)
        ctx = multiprocessing.get_context("fork")
        mine, theirs = ctx.Pipe()
        child = ctx.Process(target=_send_call, args=(cached, 3, theirs))
        child.start()
        try:
            assert mine.poll(20), "the forked child's call of the in-flight key never returned"
            value, pid = mine.recv()
        finally:
            child.join(5)
            if child.is_alive():
                child.kill()
        assert value == 6
        assert pid == child.pid  # the child computed it itself
    finally:
        release.set()
        worker.join(20)
    assert cached(3)[0] == 6


# -- re-entrancy ---------------------------------------------------------------------------------


@over(SYNC)
def test_a_computation_calling_its_key_from_a_thread_it_joins_answers(target: Target) -> None:
    calls: list[int] = []

    def f(x: int) -> Any:
        calls.append(x)
        if len(calls) == 1:
            got: list[Any] = []
            thread = threading.Thread(target=lambda: got.append(cached(x)))
            thread.start()
            thread.join(30)
            return ("outer", got)
        return "inner"

    cached = target.define(f, wait_timeout=30)
    assert cached(1) == ("outer", ["inner"])


@over(SYNC)
def test_a_computation_waiting_on_a_pool_future_of_its_key_answers(target: Target) -> None:
    calls: list[int] = []

    def f(x: int) -> Any:
        calls.append(x)
        if len(calls) == 1:
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                return ("outer", pool.submit(cached, x).result(30))
        return "inner"

    cached = target.define(f, wait_timeout=30)
    assert cached(1) == ("outer", "inner")


@over(ASYNC)
def test_a_computation_awaiting_its_key_in_a_task_answers(target: Target) -> None:
    calls: list[int] = []

    async def f(x: int) -> Any:
        calls.append(x)
        if len(calls) == 1:
            return ("outer", list(await asyncio.gather(cached(x))))
        return "inner"

    cached = target.cache(wait_timeout=30)(f)
    assert call(cached, 1) == ("outer", ["inner"])


def _reentrant(x: int, method: str, folder: str, target_id: str) -> Any:
    """Cached (per target) by `_cached_reentrant`: calls its own key from a child process."""
    if multiprocessing.parent_process() is None:
        ctx = multiprocessing.get_context(method)
        with ctx.Pool(1) as pool:
            return ("outer", pool.apply(_call_in_child, (x, method, folder, target_id)))
    return "inner"


def _cached_reentrant(target_id: str, folder: str) -> Any:
    return BY_ID[target_id].cache(folder_name=folder, wait_timeout=30)(_reentrant)


def _call_in_child(x: int, method: str, folder: str, target_id: str) -> Any:
    return _cached_reentrant(target_id, folder)(x, method, folder, target_id)


@pytest.mark.slow
@pytest.mark.parametrize(
    "method",
    [pytest.param("fork", marks=pytest.mark.skipif(not POSIX, reason="fork")), "spawn"],
)
@pytest.mark.filterwarnings(FORK_WARNING)
@over(PERSISTENT)
def test_a_computation_calling_its_key_from_a_child_process_answers(
    target: Target, method: str, tmp_path: Path
) -> None:
    folder = str(tmp_path / "reentrant")
    cached = _cached_reentrant(target.id, folder)
    assert cached(1, method, folder, target.id) == ("outer", "inner")
    assert cached(1, method, folder, target.id) == ("outer", "inner")  # and it was stored


def _hold_key(target_id: str, folder: str, ready: Any, release: Any) -> None:
    """In another process: compute key 1, holding its cross-process lock until released."""

    def body(x: int) -> str:
        ready.set()
        release.wait(30)
        return "the other process"

    body.__qualname__ = body.__name__ = "held"
    BY_ID[target_id].cache(folder_name=folder)(body)(1)


@pytest.mark.slow
@over(PERSISTENT)
def test_a_cross_process_wait_ends_after_the_wait_timeout(
    target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWAT_CACHE_WAIT_TIMEOUT", "0.5")
    folder = str(tmp_path / "held")
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold_key, args=(target.id, folder, ready, release))
    other.start()
    try:
        assert ready.wait(30), "the other process never started computing"

        def body(x: int) -> str:
            return "this process"

        body.__qualname__ = body.__name__ = "held"
        body.__module__ = __name__
        mine = target.cache(folder_name=folder)(body)
        # The other process (not an ancestor) holds the key's lock and computes until released:
        # this call waits 0.5 s, then computes itself (a hang fails the test's timeout).
        assert mine(1) == "this process"
    finally:
        release.set()
        other.join(30)
        if other.is_alive():
            other.kill()
    assert other.exitcode == 0


def _hold_key_for(target_id: str, folder: str, ready: Any, seconds: float) -> None:
    """In another process: compute key 1 for `seconds`, holding its cross-process lock."""

    def body(x: int) -> str:
        ready.set()
        time.sleep(seconds)
        return "the other process"

    body.__qualname__ = body.__name__ = "held"
    BY_ID[target_id].cache(folder_name=folder)(body)(1)


@pytest.mark.slow
@over(PERSISTENT)
def test_the_wait_timeout_option_bounds_a_cross_process_wait(
    target: Target, tmp_path: Path
) -> None:
    folder = str(tmp_path / "held")
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    other = ctx.Process(target=_hold_key_for, args=(target.id, folder, ready, 3.0))
    other.start()
    try:
        assert ready.wait(30), "the other process never started computing"

        def body(x: int) -> str:
            return "this process"

        body.__qualname__ = body.__name__ = "held"
        body.__module__ = __name__
        mine = target.cache(folder_name=folder, wait_timeout=0.5)(body)
        # Waiting out the other process (3 s) would find its value; 0.5 s computes here.
        assert mine(1) == "this process"
    finally:
        other.join(30)
        if other.is_alive():
            other.kill()


def test_every_wait_reads_one_timeout(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Threads, tasks, processes and servers wait by one rule: wait_timeout=, else the variable."""
    from twat_cache import mcache
    from twat_cache.locks import StripedLocks
    from twat_cache.options import wait_timeout

    def engine_of(func: Any) -> Any:
        return func._twat_cache_engine

    f = mcache(lambda x: x)
    g = mcache(wait_timeout=2)(lambda x: x)
    assert wait_timeout() == engine_of(f).timeout == 60.0  # conftest unsets the variable
    monkeypatch.setenv("TWAT_CACHE_WAIT_TIMEOUT", "1.5")
    assert wait_timeout() == engine_of(f).timeout == StripedLocks(tmp_path / "l").timeout == 1.5
    assert engine_of(g).timeout == 2.0  # the option wins
    monkeypatch.setenv("TWAT_CACHE_WAIT_TIMEOUT", "0")  # never wait
    assert wait_timeout() == engine_of(f).timeout == 0.0
    for bad in ("soon", "-1", "inf", "nan"):
        monkeypatch.setenv("TWAT_CACHE_WAIT_TIMEOUT", bad)
        with pytest.raises(ValueError, match=r"^\$TWAT_CACHE_WAIT_TIMEOUT: expected .*>= 0"):
            engine_of(f).timeout


@pytest.mark.parametrize("bad", [-1, "5", True, float("nan"), float("inf")])
def test_wait_timeout_option_is_checked_at_decoration(bad: Any) -> None:
    with pytest.raises(ValueError, match="wait_timeout"):
        tc.mcache(wait_timeout=bad)


# -- lifetimes -----------------------------------------------------------------------------------


@over(MEMORY + ASYNC_MEMORY)
def test_dropped_caches_are_freed_with_their_values(target: Target) -> None:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        refs = []
        for _ in range(20):  # 100 MB if kept
            cached = target.define(lambda x: bytearray(5_000_000))
            call(cached, 1)
            refs.append(weakref.ref(cached))
            tc.get_stats()  # the registry sees it, and must not keep it
            del cached
        gc.collect()
        tc.get_stats()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(ref() is None for ref in refs)
    assert grown < 25_000_000, f"{grown / 1e6:.0f} MB kept by 20 dropped caches"


@over(MEMORY + ASYNC_MEMORY)
def test_expired_entries_are_purged(target: Target) -> None:
    ttl = 0.05
    cached = target.define(lambda x: x, ttl=ttl)
    call(cached, ("probe",))
    store = store_of(cached)
    # Where the core's TTL layer applies, time is the core's clock (no sleeping); a library
    # that expires entries itself follows its own clock: a real short sleep.
    core_ttl = isinstance(store, TTLStore) and not store.inner.handles_ttl
    keys = 4000

    async def fill(r: int) -> None:
        for k in range(keys):
            await cached((r, k))
        if not core_ttl:
            await asyncio.sleep(ttl * 3)

    with FakeClock() as clock:
        for r in range(5):
            if target.is_async:
                asyncio.run(fill(r))
            else:
                for k in range(keys):
                    cached((r, k))
                if not core_ttl:
                    time.sleep(ttl * 3)
            if core_ttl:
                clock.advance(ttl * 3)
            assert len(store) <= keys + 1, f"round {r}: {len(store)} entries, {keys} live"
    assert cached.cache_info().misses == 5 * keys + 1


@over(MEMORY + ASYNC_MEMORY)
def test_memory_caches_of_methods_do_not_keep_instances_alive(target: Target) -> None:
    class Thing:
        def __init__(self, n: int) -> None:
            self.n = n
            self.payload = bytearray(1000)

        def method(self, x: int) -> int:
            return self.n + x

        if target.is_async:

            async def amethod(self, x: int) -> int:
                return self.n + x

            cached = target.cache()(amethod)
        else:
            cached = target.cache()(method)

    things = [Thing(n) for n in range(10)]
    assert [call(t.cached, 1) for t in things] == [n + 1 for n in range(10)]
    assert [call(t.cached, 1) for t in things] == [n + 1 for n in range(10)]
    assert Thing.cached.cache_info().hits == 10
    store = store_of(Thing.cached)
    assert len(store) == 10
    refs = [weakref.ref(t) for t in things]
    del things
    gc.collect()
    assert all(ref() is None for ref in refs)
    assert len(store) == 0  # the entries of a dead instance go with it


@over(MEMORY + ASYNC_MEMORY)
def test_methods_of_unhashable_instances_are_cached_per_instance(target: Target) -> None:
    @dataclasses.dataclass  # eq=True: instances cannot be hashed
    class Box:
        n: int

        def method(self, x: int, extra: Any = ()) -> int:
            return self.n + x + len(extra)

        if target.is_async:

            async def amethod(self, x: int, extra: Any = ()) -> int:
                return self.n + x + len(extra)

            cached = target.cache()(amethod)
        else:
            cached = target.cache()(method)

    one, twin = Box(1), Box(1)  # equal, and still two instances: two entries
    assert [call(b.cached, 1) for b in (one, twin, one, twin)] == [2, 2, 2, 2]
    assert call(one.cached, 1, [7]) == call(one.cached, 1, [7]) == 3  # with an unhashable argument
    info = Box.cached.cache_info()
    assert (info.hits, info.misses) == (3, 3)
    store = store_of(Box.cached)
    ref = weakref.ref(one)
    del one, twin
    gc.collect()
    assert ref() is None
    assert len(store) == 0  # the entries of a dead instance go with it


@pytest.mark.parametrize("order", ["staticmethod above", "staticmethod below"])
def test_a_static_method_keys_its_first_argument_by_value(order: str) -> None:
    @dataclasses.dataclass(frozen=True)
    class Cfg:
        n: int

    class Tools:
        if order == "staticmethod above":

            @staticmethod
            @tc.mcache
            def total(cfg: Cfg, x: int) -> int:
                return cfg.n + x
        else:

            @tc.mcache
            @staticmethod
            def total(cfg: Cfg, x: int) -> int:
                return cfg.n + x

    assert [Tools.total(Cfg(1), 2) for _ in range(3)] == [3, 3, 3]  # a new, equal Cfg each time
    info = Tools.total.cache_info()
    assert (info.hits, info.misses, info.currsize) == (2, 1, 1)


# -- the event loop --------------------------------------------------------------------------


# Wall-clock gaps of the loop are not asserted (shared, noisy machines: a CI run once saw
# 172 ms of a 175 ms memcached load with everything off the loop); in a worker thread a
# 50 MB value still holds the GIL for single copies (klepto's dir_archive base64-encodes it
# in JSON: ~150 ms; pymemcache copies it twice to send it: ~45 ms).
LOOP_TARGETS = [t for t in ASYNC_PERSISTENT if t.engine in ("diskcache", "klepto")]
LOOP_TARGETS.append(Target("async-fcache-klepto", "fcache", "klepto", "file", True, ("klepto",)))
# The network stores: Redis is asyncio-native (redis.asyncio), memcached a blocking store
# called in a worker thread; both seal (pickle + HMAC) the 50 MB value.
LOOP_TARGETS += [
    Target("acache-redis", "acache", "redis", "async", True, ("redis",)),
    Target("acache-memcached", "acache", "memcached", "async", True, ("memcached",)),
]
BIG_VALUE = os.urandom(50_000_000)


def _copy_cpu() -> float:
    """CPU seconds this thread takes to copy the 50 MB value once (the best of three)."""
    best = math.inf
    for _ in range(3):
        began = time.thread_time()
        copy = bytearray(BIG_VALUE)
        best = min(best, time.thread_time() - began)
        del copy
    return best


async def _loop_cpu(cached: Any) -> tuple[float, float]:
    """CPU seconds the event loop's thread spends in a 50 MB store (a miss), then a load (a hit).

    CPU time, not wall time: it counts only what the loop's own thread does, so it does not
    grow when other processes take the CPU or a worker thread holds the GIL. A small call
    first opens what a store opens once per event loop (Redis: a client and its connection).
    """
    assert await cached(0) == b""
    began = time.thread_time()
    assert len(await cached(1)) == len(BIG_VALUE)  # miss: computed and stored
    stored = time.thread_time()
    assert len(await cached(1)) == len(BIG_VALUE)  # hit: loaded
    loaded = time.thread_time()
    return stored - began, loaded - stored


def _where(target: Target, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The option that says where `target` stores: a folder, or a server's URL."""
    if target.engine == "redis":
        return {"url": request.getfixturevalue("redis_url")}
    if target.engine == "memcached":
        # A server of the test's own: the shared one keeps memcached's 1 MB item size limit
        # (a test relies on it), which would refuse the value.
        servers = request.getfixturevalue("servers")
        return {"url": servers.memcached(1, item_mb=64).url}
    return {"folder_name": str(tmp_path / "loop")}


@pytest.mark.slow
@pytest.mark.timeout(300)
@over(LOOP_TARGETS)
def test_coroutines_on_disk_and_network_stores_never_stall_the_event_loop(
    target: Target, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async def big(x: int) -> bytes:
        return BIG_VALUE if x else b""

    cached = target.cache(**_where(target, tmp_path, request))(big)
    # Pickling, sealing or copying the value on the loop would cost the loop's thread at least
    # one copy of it (sealing on the loop: ~100 ms for 50 MB); off the loop, the loop's thread
    # only waits (a Redis load reads a 1 MiB head on the loop). Best of three tries: a busy
    # machine slows copies (caches, page faults) in both measurements, not only one.
    tries = []
    for _ in range(3):
        cached.cache_clear()
        tries.append(asyncio.run(_loop_cpu(cached)))
    assert cached.cache_backend == target.engine  # no fallback to a memory store
    assert cached.cache_info().hits >= 1
    store_cpu, load_cpu = (min(t[i] for t in tries) for i in (0, 1))
    bar = _copy_cpu() / 2
    for what, cpu in (("a store", store_cpu), ("a load", load_cpu)):
        assert cpu < bar, f"the loop's thread worked {cpu:.4f} s in {what} (bar: {bar:.4f} s)"


# -- exact counters ------------------------------------------------------------------------------


@pytest.mark.parametrize("switch", [None, 1e-6], ids=["default-switch", "switch-1us"])
@over(MEMORY)
def test_counters_are_exact_under_threads(target: Target, switch: float | None) -> None:
    cached = target.define(lambda x: x * 2)
    n_threads, n_calls, n_keys = 16, 10_000, 1000
    go = threading.Barrier(n_threads, timeout=30)
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            go.wait()
            for n in range(n_calls):
                key = (n * 7 + i) % n_keys
                assert cached(key) == key * 2
        except BaseException as exc:
            errors.append(exc)

    old = sys.getswitchinterval()
    if switch is not None:
        sys.setswitchinterval(switch)
    try:
        threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        sys.setswitchinterval(old)
    assert not errors
    info = cached.cache_info()
    assert info.hits + info.misses == n_threads * n_calls
    assert info.misses == n_keys  # single flight: each key computed once
    assert info.currsize == n_keys
