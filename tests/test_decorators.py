"""The public API on whatever backends are installed: every decorator, every attribute."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

import pytest

import twat_cache as tc
from conftest import has
from helpers import python
from twat_cache.paths import write_marker

DECORATORS = [tc.mcache, tc.bcache, tc.fcache, tc.ucache]


@pytest.mark.parametrize("decorator", DECORATORS, ids=lambda d: d.__name__)
@pytest.mark.parametrize("called", [False, True], ids=["bare", "called"])
def test_every_decorator_bare_and_called(decorator, called):
    calls = []

    def square(x):
        calls.append(x)
        return x * x

    f = decorator()(square) if called else decorator(square)
    assert f(3) == 9
    assert f(3) == 9
    assert calls == [3]
    assert f.__name__ == "square"
    assert f.__wrapped__ is square
    assert isinstance(f.cache_backend, str)
    assert f.cache is not None
    info = f.cache_info()
    assert isinstance(info, tc.CacheInfo)
    assert (info.hits, info.misses, info.currsize) == (1, 1, 1)
    assert f.cache_delete(3) is True
    assert f.cache_delete(3) is False
    f(3)
    assert calls == [3, 3]
    f.cache_clear()
    assert f.cache_info().currsize == 0
    f(3)
    f.clear()
    f(3)
    assert calls == [3, 3, 3, 3]


@pytest.mark.parametrize("decorator", [*DECORATORS, tc.acache], ids=lambda d: d.__name__)
def test_every_decorator_caches_awaited_results_of_coroutines(decorator):
    calls = []

    @decorator
    async def double(x):
        calls.append(x)
        await asyncio.sleep(0)
        return [x, x]

    async def main():
        first = await double(2)
        second = await double(2)
        return first, second

    first, second = asyncio.run(main())
    assert first == second == [2, 2]
    assert calls == [2]
    assert asyncio.iscoroutinefunction(double)
    assert asyncio.run(main())[0] == [2, 2]  # a second event loop still hits
    assert calls == [2]


def test_acache_on_a_plain_function_points_to_mcache():
    with pytest.raises(TypeError, match="mcache"):

        @tc.acache
        def plain(x):
            return x

    with pytest.raises(TypeError, match="mcache"):
        tc.acache(maxsize=3)(lambda x: x)


@pytest.mark.parametrize("decorator", DECORATORS, ids=lambda d: d.__name__)
def test_methods_static_and_class_methods(decorator):
    class Box:
        made = 0

        def __init__(self, v):
            self.v = v

        @decorator
        def get(self, x):
            Box.made += 1
            return (self.v, x)

        @decorator
        @staticmethod
        def static(x):
            Box.made += 1
            return ("static", x)

        @decorator
        @classmethod
        def klass(cls, x):
            Box.made += 1
            return (cls.__name__, x)

    a, b = Box(1), Box(2)
    assert a.get(5) == (1, 5)
    assert b.get(5) == (2, 5)
    assert a.get(5) == (1, 5)
    assert Box.static(1) == Box.static(1) == a.static(1) == ("static", 1)
    assert Box.klass(2) == a.klass(2) == ("Box", 2)
    assert Box.made == 4
    assert Box.static.cache_info().hits == 2
    assert a.get.cache_info().misses == 2


def test_maxsize_is_honoured_in_memory():
    calls = []

    @tc.mcache(maxsize=2)
    def f(x):
        calls.append(x)
        return x

    for x in (1, 2, 3):
        f(x)
    assert f.cache_info().currsize <= 2
    f(1)  # evicted: recomputed
    assert calls == [1, 2, 3, 1]


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "rr", "ttl"])
def test_ttl_is_never_ignored(policy):
    calls = []

    @tc.mcache(maxsize=10, ttl=0.2, policy=policy)
    def stamp(x):
        calls.append(x)
        return len(calls)

    assert stamp(1) == stamp(1)
    time.sleep(0.35)
    stamp(1)
    assert calls == [1, 1]


def test_single_flight_threads():
    started = threading.Event()
    release = threading.Event()
    calls = []

    @tc.mcache
    def slow(x):
        calls.append(x)
        started.set()
        release.wait(5)
        return x * 10

    results = []
    threads = [threading.Thread(target=lambda: results.append(slow(7))) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait(5)
    time.sleep(0.1)  # let the others reach the flight
    release.set()
    for t in threads:
        t.join(10)
    assert results == [70] * 8
    assert calls == [7]


def test_single_flight_when_the_computation_raises_nobody_hangs():
    started = threading.Event()
    release = threading.Event()
    calls = []

    @tc.mcache
    def boom(x):
        calls.append(x)
        started.set()
        release.wait(5)
        raise RuntimeError("boom")

    errors = []

    def call():
        try:
            boom(1)
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait(5)
    time.sleep(0.1)
    release.set()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 8
    release.set()
    with pytest.raises(RuntimeError):
        boom(1)  # not cached: computed again
    assert len(calls) == 2


def test_single_flight_asyncio_tasks():
    calls = []

    @tc.mcache
    async def slow(x):
        calls.append(x)
        await asyncio.sleep(0.05)
        return x + 1

    async def main():
        return await asyncio.gather(*(slow(1) for _ in range(8)))

    assert asyncio.run(main()) == [2] * 8
    assert calls == [1]


def test_recursion_into_the_same_key_does_not_deadlock():
    depth = []

    @tc.mcache
    def f(x):
        depth.append(x)
        if len(depth) < 3:
            return f(x)
        return x

    assert f(1) == 1


def test_get_stats_reports_every_cache():
    @tc.mcache
    def stats_probe(x):
        return x

    stats_probe(1)
    stats_probe(1)
    stats = tc.get_stats()
    entries = [v for k, v in stats.items() if k.endswith("stats_probe")]
    assert entries, stats.keys()
    entry = entries[-1]
    assert entry["hits"] == 1
    assert entry["misses"] == 1
    assert entry["size"] == 1
    assert entry["backend"] == stats_probe.cache_backend


def test_clear_cache_clears_memory_caches_and_only_marked_folders(cache_root, tmp_path):
    @tc.mcache
    def f(x):
        return x

    f(1)
    bystander = cache_root / "not_ours"
    bystander.mkdir()
    (bystander / "keep.txt").write_text("x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("x")
    marked = tc.get_cache_path("ours")
    # The marker says a store (of a backend not installed here) made entry.bin; user.txt is
    # not twat-cache's: clearing removes the one and keeps the other.
    write_marker(marked, "ghost", "m:f", names=["entry.bin"])
    (marked / "entry.bin").write_bytes(b"x")
    (marked / "user.txt").write_text("mine")
    tc.clear_cache()
    assert f.cache_info().currsize == 0
    assert (bystander / "keep.txt").exists()
    assert (outside / "keep.txt").exists()
    assert not (marked / "entry.bin").exists()
    assert (marked / "user.txt").read_text() == "mine"
    assert marked.is_dir()
    tc.clear_cache(str(outside))  # unmarked absolute folder: untouched
    assert (outside / "keep.txt").exists()
    (marked / "entry.bin").write_bytes(b"x")
    tc.clear_cache("ours")
    assert not (marked / "entry.bin").exists()
    assert (marked / "user.txt").read_text() == "mine"


def test_available_backends_describes_installed_and_picks():
    info = tc.available_backends()
    assert "functools" in info["backends"]
    fn = info["backends"]["functools"]
    assert fn["kinds"] == ["memory"]
    assert fn["persistent"] is False
    assert set(info["picks"]) >= {"mcache", "bcache", "fcache", "acache", "ucache"}
    for name in info["picks"].values():
        assert info["backends"][name]["usable"]


@pytest.mark.skipif(
    has("twat_cache_diskcache") or has("twat_cache_klepto"),
    reason="a disk backend is installed",
)
def test_bare_install_bcache_warns_once_and_caches_in_memory(caplog):
    with caplog.at_level(logging.WARNING, logger="twat_cache"):

        @tc.bcache
        def f(x):
            return x

        f(1)
        f(1)
    warnings = [r for r in caplog.records if r.name == "twat_cache"]
    assert len(warnings) == 1
    assert "diskcache" in warnings[0].getMessage()
    assert f.cache_info().hits == 1
    assert f.cache_backend in {"cachebox", "cachetools", "functools"}


@pytest.mark.skipif(
    has("twat_cache_joblib") or has("twat_cache_klepto"), reason="a file backend is installed"
)
def test_bare_install_fcache_and_persistent_ucache_warn_once(caplog):
    with caplog.at_level(logging.WARNING, logger="twat_cache"):

        @tc.fcache
        def f(x):
            return x

        @tc.ucache(folder_name="u")
        def u(x):
            return x

    messages = [r.getMessage() for r in caplog.records if r.name == "twat_cache"]
    assert len(messages) == 2, messages  # fcache wanted joblib; ucache(folder_name) wanted klepto
    assert "joblib" in messages[0]
    assert f(2) == 2


def test_nothing_is_printed_on_import_or_use(capfd):
    code = "import twat_cache as t\n@t.bcache\ndef f(x): return x\nf(1); f(1)\n"
    out = python("-c", code)
    assert out.stdout == ""
    # No handler is configured: only Python's last-resort handler may print warnings to stderr
    # (the fallback notice, once).
    lines = out.stderr.splitlines()
    assert len(lines) <= 1
    for line in lines:
        assert "wanted backend" in line


def test_ttl_layer_passes_the_stores_capabilities_through():
    from contextlib import nullcontext

    from twat_cache.backends.functools import FunctoolsStore
    from twat_cache.ttl import TTLStore

    class WithHooks(FunctoolsStore):
        def flight_lock(self, key):
            return nullcontext(True)

        def prune(self):
            return 3

    wrapped = TTLStore(WithHooks(None, "lru"), ttl=5)
    assert wrapped.flight_lock(1) is not None
    assert wrapped.prune() == 3
    plain = TTLStore(FunctoolsStore(None, "lru"), ttl=5)
    assert plain.flight_lock(1) is None
    assert plain.prune() == 0
