"""What users ask of every cache (issue 17, DESIGN §6), on every decorator and backend.

ignore=, key=, cache_if=, stale= (stale-while-revalidate), max_bytes= (validation), front= and
front_ttl=, the per-call controls (cache_get, cache_set, cache_refresh), disabled() and
TWAT_CACHE_DISABLE, and instrument() (OpenTelemetry). Each runs on every decorator and backend
it applies to (tests/targets.py); coroutine functions get the same tests through `call` and
`control`, which await what needs awaiting. TTL tests move the core's clock (FakeClock)
instead of sleeping wherever the core's TTL layer decides.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import twat_cache as tc
from helpers import run
from targets import ASYNC, EVERY, MEMORY, PERSISTENT, SYNC, Target, call, control, over
from twat_cache.testing import FakeClock, store_of

pytestmark = pytest.mark.timeout(60)

ASYNC_PERSISTENT = [t for t in ASYNC if t.persistent]
ALL_PERSISTENT = PERSISTENT + ASYNC_PERSISTENT


def counting(result: Callable[..., Any] = lambda x: x * 10) -> tuple[Callable[..., Any], list[Any]]:
    """A function returning `result(x)` that records each computation."""
    calls: list[Any] = []

    def f(x: Any) -> Any:
        calls.append(x)
        return result(x)

    return f, calls


def wait_for(predicate: Callable[[], bool], seconds: float = 20.0) -> bool:
    """Poll `predicate` until it holds (True) or `seconds` pass (False)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- ignore= -------------------------------------------------------------------------------------


@over(EVERY)
def test_ignore_leaves_a_parameter_out_whether_positional_or_keyword(target: Target) -> None:
    calls: list[Any] = []

    def f(x, session=None):
        calls.append(x)
        return x * 10

    cached = target.define(f, ignore="session")
    assert call(cached, 1, "a") == 10
    assert call(cached, 1, session="b") == 10
    assert call(cached, 1) == 10
    assert call(cached, x=1, session=threading.Lock()) == 10  # ignored: never keyed
    assert call(cached, 2, "a") == 20
    assert calls == [1, 2]


@over(EVERY)
def test_ignore_a_sequence_and_names_of_keyword_arguments(target: Target) -> None:
    calls: list[Any] = []

    def f(x, *, verbose=False, log=None, **options):
        calls.append((x, options))
        return x

    cached = target.define(f, ignore=("verbose", "log", "token"))
    assert call(cached, 1, verbose=True, token="secret-1") == 1
    assert call(cached, 1, log=print, token="secret-2") == 1  # token (in **options) ignored
    assert call(cached, 1, mode="fast") == 1  # another **options entry is part of the key
    assert len(calls) == 2


def test_ignore_names_are_checked_at_decoration() -> None:
    def f(x, session=None):
        return x

    with pytest.raises(ValueError, match=r"ignore: \['sesion'\] not among the parameters"):
        tc.mcache(ignore="sesion")(f)
    with pytest.raises(ValueError, match="ignore"):
        tc.mcache(ignore=3)
    with pytest.raises(ValueError, match="ignore"):
        tc.mcache(ignore=["not a name"])
    with pytest.raises(ValueError, match="ignore"):
        tc.bcache(ignore="sesion")(f)

    async def g(x, session=None):
        return x

    with pytest.raises(ValueError, match="ignore"):
        tc.acache(ignore=("x", "nope"))(g)


# -- key= ----------------------------------------------------------------------------------------


@over(EVERY)
def test_key_builds_the_key_from_the_arguments_as_passed(target: Target) -> None:
    seen: list[Any] = []
    calls: list[Any] = []

    def key(*args: Any, **kwargs: Any) -> Any:
        seen.append((args, kwargs))
        return args[0] if args else kwargs["x"]

    def f(x, y=0):
        calls.append((x, y))
        return (x, y)

    cached = target.define(f, key=key)
    assert call(cached, 1, 2) == (1, 2)
    assert call(cached, 1, y=3) == (1, 2)  # same key: the first answer
    assert call(cached, x=1) == (1, 2)
    assert call(cached, 2) == (2, 0)
    assert calls == [(1, 2), (2, 0)]
    assert seen[:3] == [((1, 2), {}), ((1,), {"y": 3}), ((), {"x": 1})]  # as cachetools calls it
    assert control(cached.cache_get, 1, y=99) == (1, 2)


@over(SYNC)
def test_key_of_a_method_receives_self(target: Target) -> None:
    seen: list[Any] = []

    def key(self: Any, x: int) -> Any:
        seen.append(self)
        return (self.name, x)

    class Thing:
        def __init__(self, name: str) -> None:
            self.name = name

        def method(self, x: int) -> str:
            return f"{self.name}:{x}:{id(self)}"

        cached = target.cache(key=key)(method)

    a, b, c = Thing("a"), Thing("a"), Thing("c")
    first = a.cached(1)
    assert b.cached(1) == first  # the key says equal names share
    assert c.cached(1) != first
    assert seen[:2] == [a, b]


@over(ALL_PERSISTENT)
def test_a_key_a_persistent_store_cannot_encode_runs_uncached_with_one_warning(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    lock = threading.Lock()
    f, calls = counting()
    cached = target.define(f, key=lambda x: (x, lock))
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert [call(cached, 1) for _ in range(3)] == [10, 10, 10]
    assert calls == [1, 1, 1]
    warnings = [r for r in caplog.records if "uncached" in r.getMessage()]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    message = warnings[0].getMessage()
    assert "the result of its key function cannot be keyed" in message  # not "argument"
    assert "lock" in message


@over(MEMORY)
def test_a_key_that_is_not_hashable_still_works_in_memory(target: Target) -> None:
    f, calls = counting()
    cached = target.define(f, key=lambda x: [x, {"k": x}])
    assert [call(cached, 1), call(cached, 1), call(cached, 2)] == [10, 10, 20]
    assert calls == [1, 2]


def test_key_must_be_callable() -> None:
    with pytest.raises(ValueError, match="key: expected a callable"):
        tc.mcache(key="x")
    with pytest.raises(ValueError, match="cache_if: expected a callable"):
        tc.bcache(cache_if=True)


# -- cache_if= -----------------------------------------------------------------------------------


@over(EVERY)
def test_cache_if_stores_only_accepted_results(target: Target) -> None:
    f, calls = counting(lambda x: None if x < 0 else x * 10)
    cached = target.define(f, cache_if=lambda result: result is not None)
    assert [call(cached, -1), call(cached, -1)] == [None, None]
    assert [call(cached, 2), call(cached, 2)] == [20, 20]
    assert calls == [-1, -1, 2]
    with pytest.raises(KeyError):
        control(cached.cache_get, -1)
    info = cached.cache_info()
    assert (info.hits, info.misses) == (1, 3)


@over(EVERY)
def test_cache_if_applies_to_cache_refresh_and_not_to_cache_set(target: Target) -> None:
    f, calls = counting(lambda x: None if x < 0 else x * 10)
    cached = target.define(f, cache_if=lambda result: result is not None)
    assert control(cached.cache_refresh, -3) is None
    with pytest.raises(KeyError):
        control(cached.cache_get, -3)  # a refused result is not stored by a refresh either
    assert control(cached.cache_refresh, 3) == 30
    assert control(cached.cache_get, 3) == 30
    control(cached.cache_set, None, -5)  # stored unconditionally
    assert control(cached.cache_get, -5) is None
    assert call(cached, -5) is None
    assert calls == [-3, 3]


# -- stale= --------------------------------------------------------------------------------------


def test_stale_needs_a_ttl_and_seconds() -> None:
    with pytest.raises(ValueError, match=r"stale: .*needs a ttl"):
        tc.mcache(stale=5)
    with pytest.raises(ValueError, match="stale"):
        tc.bcache(ttl=1, stale=0)
    with pytest.raises(ValueError, match="stale"):
        tc.acache(ttl=1, stale="1")


def _cache_get_or_none(cached: Any, *args: Any) -> Any:
    try:
        return control(cached.cache_get, *args)
    except KeyError:
        return None


@over(SYNC)
def test_stale_serves_the_old_value_at_once_while_one_thread_refreshes(target: Target) -> None:
    release = threading.Event()
    release.set()
    version = [0]
    threads: list[str] = []

    def f(x: int) -> tuple[int, int]:
        release.wait(30)
        version[0] += 1
        threads.append(threading.current_thread().name)
        return (x, version[0])

    with FakeClock() as clock:
        cached = target.define(f, ttl=10, stale=100)
        assert cached(1) == (1, 1)
        clock.advance(15)  # past the ttl, within the stale window
        release.clear()  # the refresh blocks until we let it finish
        hits = cached.cache_info().hits
        assert [cached(1) for _ in range(5)] == [(1, 1)] * 5  # at once, while refreshing
        assert cached.cache_info().hits == hits + 5  # a stale answer counts as a hit
        release.set()
        assert wait_for(lambda: _cache_get_or_none(cached, 1) == (1, 2))
        assert version[0] == 2  # ONE refresh for the five stale answers
        assert "refresh" in threads[1]  # in a background thread
        assert cached(1) == (1, 2)
        clock.advance(200)  # past ttl + stale: a miss, computed in the caller
        assert cached(1) == (1, 3)


@over(SYNC)
def test_a_failing_refresh_is_logged_and_the_stale_value_stays_until_ttl_plus_stale(
    target: Target, caplog: pytest.LogCaptureFixture
) -> None:
    failing = [False]

    def f(x: int) -> str:
        if failing[0]:
            raise RuntimeError("backend down")
        return f"value {x}"

    with FakeClock() as clock, caplog.at_level(logging.WARNING, logger="twat_cache"):
        cached = target.define(f, ttl=10, stale=100)
        assert cached(1) == "value 1"
        clock.advance(15)
        failing[0] = True
        assert cached(1) == "value 1"
        assert wait_for(lambda: any("backend down" in r.getMessage() for r in caplog.records))
        clock.advance(80)  # still within ttl + stale
        assert cached(1) == "value 1"
        clock.advance(20)  # past ttl + stale (10 + 100): no stale value any more
        with pytest.raises(RuntimeError, match="backend down"):
            cached(1)


@over(ASYNC)
def test_stale_on_coroutines_refreshes_in_one_task(target: Target) -> None:
    version = [0]

    async def f(x: int) -> tuple[int, int]:
        await release.wait()
        version[0] += 1
        return (x, version[0])

    release: asyncio.Event

    async def scenario(clock: FakeClock) -> None:
        nonlocal release
        release = asyncio.Event()
        release.set()
        assert await cached(1) == (1, 1)
        clock.advance(15)
        release.clear()
        hits = cached.cache_info().hits
        answers = [await cached(1) for _ in range(5)]
        assert answers == [(1, 1)] * 5
        assert cached.cache_info().hits == hits + 5
        release.set()
        for _ in range(2000):
            await asyncio.sleep(0.01)
            try:
                if await cached.cache_get(1) == (1, 2):
                    break
            except KeyError:
                continue
        assert await cached(1) == (1, 2)
        assert version[0] == 2

    with FakeClock() as clock:
        cached = target.cache(ttl=10, stale=100)(f)
        run(scenario(clock), timeout=30)


# -- max_bytes= ----------------------------------------------------------------------------------


def test_max_bytes_is_refused_on_memory_caches() -> None:
    with pytest.raises(ValueError, match="max_bytes: only for persistent caches"):
        tc.mcache(max_bytes=1000)
    with pytest.raises(ValueError, match="max_bytes"):
        tc.ucache(max_bytes=1000)


@over([t for t in ASYNC if not t.persistent and t.decorator == "acache"])
def test_max_bytes_and_front_are_refused_on_in_memory_async_caches(target: Target) -> None:
    async def f(x: int) -> int:
        return x

    for option in ({"max_bytes": 1000}, {"front": 4}):
        with pytest.raises(ValueError, match="only for persistent caches"):
            target.cache(**option)(f)


@pytest.mark.parametrize("bad", [0, -1, 1.5, "1000", True])
@pytest.mark.parametrize("option", ["max_bytes", "front"])
def test_max_bytes_and_front_take_positive_ints(option: str, bad: Any) -> None:
    with pytest.raises(ValueError, match=option):
        tc.bcache(**{option: bad})
    with pytest.raises(ValueError, match=option):
        tc.fcache(**{option: bad})


@over(PERSISTENT)
def test_max_bytes_is_accepted_by_persistent_caches(target: Target) -> None:
    cached = target.define(lambda x: x, max_bytes=10_000_000)
    assert cached.cache_config.max_bytes == 10_000_000
    assert call(cached, 1) == call(cached, 1) == 1


def test_a_persistent_cache_falling_back_to_memory_keeps_working_with_front_and_max_bytes() -> None:
    # ucache with a folder on a memory backend: the same choice as bcache/fcache make when no
    # disk backend is installed. The options for the disk have nothing to apply to; the code
    # must not break on an install without the disk backends.
    f, calls = counting()
    cached = tc.ucache(folder_name="x", preferred_engine="functools", front=8, max_bytes=1000)(f)
    assert cached.cache_backend == "functools"
    assert cached(1) == cached(1) == 10
    assert calls == [1]
    cached_b = tc.bcache(front=8, max_bytes=1000)(counting()[0])
    assert cached_b(2) == cached_b(2) == 20


# -- front= / front_ttl= -------------------------------------------------------------------------


def test_front_is_refused_on_memory_caches_and_checks_front_ttl() -> None:
    with pytest.raises(ValueError, match="front: only for persistent caches"):
        tc.mcache(front=8)
    with pytest.raises(ValueError, match="front"):
        tc.ucache(front=8)
    for bad in (0, -1, "1", float("nan")):
        with pytest.raises(ValueError, match="front_ttl"):
            tc.bcache(front=8, front_ttl=bad)


@over(ALL_PERSISTENT)
def test_a_hot_key_is_a_front_hit_and_clearing_clears_the_front(target: Target) -> None:
    f, calls = counting()
    cached = target.define(f, front=8, front_ttl=60)
    assert call(cached, 1) == 10
    store_of(cached).clear()  # the disk entry is gone: only the front holds it
    assert call(cached, 1) == 10
    assert calls == [1]
    assert cached.cache_info().hits == 1
    assert control(cached.cache_get, 1) == 10
    cached.cache_delete(1)  # clears the front too
    assert call(cached, 1) == 10
    assert calls == [1, 1]
    store_of(cached).clear()
    cached.cache_clear()  # clears the front too
    assert call(cached, 1) == 10
    assert calls == [1, 1, 1]
    control(cached.cache_set, "set", 2)  # writes through the front
    assert call(cached, 2) == "set"


@over(ALL_PERSISTENT)
def test_front_ttl_bounds_how_stale_another_writer_looks(target: Target) -> None:
    f, calls = counting()
    func = target.function(f)
    front_ttl = 0.5
    reader = target.cache(front=8, front_ttl=front_ttl)(func)
    writer = target.cache()(func)  # another process's view of the same entries
    store_of(writer)  # opened before the front fills: only one write happens within front_ttl
    filled = time.monotonic()
    assert call(reader, 1) == 10
    control(writer.cache_set, "new", 1)
    stale = call(reader, 1)
    if time.monotonic() - filled < front_ttl:  # a loaded machine may take longer than that
        assert stale == 10  # the front still has the old value ...
    time.sleep(front_ttl + 0.1)
    assert call(reader, 1) == "new"  # ... for front_ttl at most
    assert calls == [1]


@over(ALL_PERSISTENT)
def test_the_front_never_serves_past_the_ttl(target: Target) -> None:
    f, calls = counting()
    cached = target.cache(front=8, ttl=0.2)(target.function(f))  # front_ttl: 1.0 by default
    assert call(cached, 1) == 10
    assert call(cached, 1) == 10  # a front hit
    time.sleep(0.3)
    with pytest.raises(KeyError):
        control(cached.cache_get, 1)
    assert call(cached, 1) == 10
    assert calls == [1, 1]


@over(ALL_PERSISTENT)
def test_a_stale_value_never_fills_the_front(target: Target) -> None:
    f, calls = counting(lambda x: "old" if len(calls) == 1 else "new")
    cached = target.cache(front=8, ttl=0.2, stale=30)(target.function(f))

    async def scenario() -> tuple[list[Any], int]:  # one loop: the refresh task lives in it
        seen = [await resolve_now(cached(1))]
        await asyncio.sleep(0.3)
        seen.append(await resolve_now(cached(1)))  # stale: at once, refreshed in the background
        for _ in range(400):
            seen.append(await resolve_now(cached(1)))
            if seen[-1] == "new":
                break
            await asyncio.sleep(0.05)
        computed = len(calls)  # until the refreshed value is seen
        for _ in range(5):  # and from then on never the stale value again
            await asyncio.sleep(0.01)
            seen.append(await resolve_now(cached(1)))
        return seen, computed

    seen, computed = run(scenario())
    assert seen[:2] == ["old", "old"]
    assert set(seen[seen.index("new") :]) == {"new"}
    # One refresh, or two: a read that began before the first refresh stored its value may
    # still see the stale one and, the first refresh being over, start another.
    assert 2 <= computed <= 3


async def resolve_now(answer: Any) -> Any:
    """The value of a call, awaited when it is an awaitable."""
    return await answer if inspect.isawaitable(answer) else answer


# -- per-call controls ---------------------------------------------------------------------------


@over(EVERY)
def test_cache_get_set_and_refresh(target: Target) -> None:
    counter = [0]

    def f(x, y=2):
        counter[0] += 1
        return (x, y, counter[0])

    cached = target.define(f)
    with pytest.raises(KeyError):
        control(cached.cache_get, 1)
    first = call(cached, 1)
    assert first == (1, 2, 1)
    assert control(cached.cache_get, 1) == first
    assert control(cached.cache_get, x=1, y=2) == first  # the same call, spelled otherwise
    assert control(cached.cache_set, "manual", 5, y=3) is None
    assert call(cached, 5, 3) == "manual"
    assert control(cached.cache_refresh, 1) == (1, 2, 2)  # recomputed ...
    assert call(cached, 1) == (1, 2, 2)  # ... and stored
    assert counter[0] == 2
    with pytest.raises(TypeError):
        control(cached.cache_get, 1, 2, 3)


@over(ASYNC)
def test_per_call_controls_of_coroutine_functions_are_awaitables(target: Target) -> None:
    async def f(x: int) -> int:
        return x

    cached = target.cache()(f)
    for made in (cached.cache_get(1), cached.cache_set(1, 1), cached.cache_refresh(1)):
        assert inspect.isawaitable(made)
        made.close()  # type: ignore[attr-defined]


# -- disabled() and TWAT_CACHE_DISABLE ---------------------------------------------------------


@over(EVERY)
def test_disabled_switches_this_thread_off_and_leaves_the_others_caching(target: Target) -> None:
    f, calls = counting()
    cached = target.define(f)
    assert call(cached, 1) == 10
    before = tuple(cached.cache_info())[:2]
    with tc.disabled():
        assert [call(cached, 1), call(cached, 1), call(cached, 2)] == [10, 10, 20]
        assert calls == [1, 1, 1, 2]  # straight to the function
        assert tuple(cached.cache_info())[:2] == before  # the counters do not move
        elsewhere: list[Any] = []
        thread = threading.Thread(target=lambda: elsewhere.append(call(cached, 1)))
        thread.start()
        thread.join(20)
        assert elsewhere == [10]
        assert calls == [1, 1, 1, 2]  # another thread: a hit
    assert cached.cache_info().hits == before[0] + 1
    assert call(cached, 2) == 20  # nothing was stored inside the block
    assert calls == [1, 1, 1, 2, 2]
    assert call(cached, 1) == 10
    assert calls == [1, 1, 1, 2, 2]


@over(ASYNC)
def test_tasks_created_inside_disabled_inherit_it(target: Target) -> None:
    calls: list[str] = []

    async def f(who: str) -> str:
        calls.append(who)
        return "result"

    cached = target.cache(key=lambda who: "one key")(f)

    async def scenario() -> None:
        await cached("first")
        with tc.disabled():
            inside = asyncio.create_task(cached("inside"))
        outside = asyncio.create_task(cached("outside"))
        assert await inside == await outside == "result"

    run(scenario())
    assert calls == ["first", "inside"]


def test_disabled_is_reentrant_and_works_with_async_with() -> None:
    f, calls = counting()
    cached = tc.mcache(f)
    cached(1)
    with tc.disabled():
        with tc.disabled():
            cached(1)
        cached(1)
    cached(1)

    async def scenario() -> None:
        async with tc.disabled():  # type: ignore[attr-defined]
            cached(1)

    asyncio.run(scenario())
    assert calls == [1, 1, 1, 1]


@pytest.mark.parametrize("value", ["1", "true", "YES", "On", " on "])
@over(EVERY)
def test_twat_cache_disable_switches_the_process_off(
    target: Target, value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWAT_CACHE_DISABLE", value)
    f, calls = counting()
    cached = target.define(f)
    assert [call(cached, 1), call(cached, 1)] == [10, 10]
    thread = threading.Thread(target=lambda: call(cached, 1))
    thread.start()
    thread.join(20)
    assert calls == [1, 1, 1]
    assert tuple(cached.cache_info())[:2] == (0, 0)


@pytest.mark.parametrize("value", ["0", "false", "", "no", "off", "disabled"])
def test_other_values_of_twat_cache_disable_keep_caching(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWAT_CACHE_DISABLE", value)
    f, calls = counting()
    cached = tc.mcache(f)
    assert cached(1) == cached(1) == 10
    assert calls == [1]


# -- instrument() --------------------------------------------------------------------------------


@pytest.fixture
def metrics() -> Any:
    """An OpenTelemetry SDK meter provider with an in-memory reader; uninstrumented after."""
    pytest.importorskip("opentelemetry.sdk.metrics")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from twat_cache.otel import uninstrument

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    uninstrument()
    yield reader, provider
    uninstrument()
    provider.shutdown()


def _points(reader: Any) -> dict[str, dict[str, Any]]:
    """{metric name: {cache name: (value or histogram count, attributes)}}."""
    out: dict[str, dict[str, Any]] = {}
    data = reader.get_metrics_data()
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    attrs = dict(point.attributes)
                    value = getattr(point, "value", None)
                    if value is None:
                        value = point.count
                    out.setdefault(metric.name, {})[attrs["cache.name"]] = (value, attrs)
    return out


def _name_of(cached: Any) -> str:
    """The cache's name in get_stats() (a `#n` suffix when earlier namesakes are alive)."""
    name: str = cached._twat_cache_engine.state.name
    assert name in tc.get_stats()
    return name


@over(
    [
        t
        for t in EVERY
        if t.id
        in (
            "mcache-functools",
            "mcache-cachebox",
            "bcache-diskcache",
            "acache-aiocache",
            "acache-functools",
            "async-bcache-diskcache",
            "fcache-joblib",
        )
    ]
)
def test_instrument_reports_hits_misses_and_compute_time(target: Target, metrics: Any) -> None:
    reader, provider = metrics

    def made_before(x: int) -> int:
        return x

    def made_after(x: int) -> int:
        return x

    before = target.define(made_before)
    call(before, 1)
    call(before, 1)
    assert tc.instrument(meter_provider=provider) is True
    assert tc.instrument(meter_provider=provider) is True  # again: nothing more
    after = target.define(made_after)
    for x in (1, 1, 2, 2, 2):
        call(after, x)
    call(before, 2)
    points = _points(reader)
    a, b = _name_of(after), _name_of(before)
    assert points["twat_cache.hits"][a][0] == 3
    assert points["twat_cache.misses"][a][0] == 2
    assert points["twat_cache.hits"][b][0] == 1
    assert points["twat_cache.misses"][b][0] == 2
    assert points["twat_cache.compute.duration"][a][0] == 2
    assert points["twat_cache.compute.duration"][b][0] == 1  # computed after instrument()
    attrs = points["twat_cache.hits"][a][1]
    assert attrs == {"cache.name": a, "cache.backend": after.cache_backend}


def test_twat_cache_instrument_stays_the_function() -> None:
    import importlib

    first = tc.instrument
    importlib.import_module("twat_cache.otel")  # the module behind it, imported by anyone
    assert callable(first)
    assert tc.instrument is first  # read again: still the function, never a submodule
    assert tc.instrument is importlib.import_module("twat_cache").instrument


def test_instrument_is_a_no_op_without_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # import fails as if absent
    assert tc.instrument() is False
    cached = tc.mcache(lambda x: x)
    assert cached(1) == cached(1) == 1
