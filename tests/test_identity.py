"""Never a wrong answer: issue 12's cases, on every backend each applies to.

Each test is one of the wrong answers seen before the key encoder was rewritten: callables as
arguments sharing one disk entry, two `__main__` scripts sharing entries, structured arrays
colliding, `OrderedDict` order ignored, disk keys changing with `PYTHONHASHSEED`, deep or
self-referencing arguments raising `RecursionError`, a `functools.wraps` wrapper rejecting its
own parameters, and arguments that cannot be keyed raising instead of running uncached.

Backends: memory (`mcache`) where the case applies to memory keys; disk on diskcache and
klepto (SQL), files on joblib and klepto (directory archive), and Redis (a real server from
tests/redis_server.py). A backend whose plugin is not installed is skipped.
"""

from __future__ import annotations

import collections
import functools
import logging
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

import twat_cache as tc
from conftest import has
from helpers import logged, python
from redis_server import redis_server, redis_url  # noqa: F401

#: backend id -> (plugin module needed, source of the decorator taking a folder name)
DISK = {
    "diskcache": ("diskcache", "tc.ucache(folder_name={folder!r}, preferred_engine='diskcache')"),
    "klepto-sql": ("klepto", "tc.ucache(folder_name={folder!r}, preferred_engine='klepto')"),
    "klepto-dir": ("klepto", "tc.bcache(folder_name={folder!r}, sql_backend=False)"),
    "joblib": ("joblib", "tc.fcache(folder_name={folder!r})"),
    "redis": ("redis", "tc.ucache(preferred_engine='redis')"),
}
#: the backend each decorator must report (the test is void if another one was picked)
REPORTED = {
    "diskcache": "diskcache",
    "klepto-sql": "klepto",
    "klepto-dir": "klepto",
    "joblib": "joblib",
    "redis": "redis",
    "memory": None,
}


def _params(names: list[str]) -> list[Any]:
    out = []
    for name in names:
        if name == "memory":
            out.append(pytest.param(name, id=name))
            continue
        plugin = DISK[name][0]
        mark = pytest.mark.skipif(not has(f"twat_cache_{plugin}"), reason=f"needs {plugin}")
        out.append(pytest.param(name, id=name, marks=mark))
    return out


DISK_IDS = list(DISK)
ALL_IDS = ["memory", *DISK_IDS]


@pytest.fixture
def make_cache(request: pytest.FixtureRequest) -> Any:
    """`make_cache(backend, folder)` -> a decorator caching on that backend."""

    def make(backend: str, folder: str) -> Any:
        if backend == "memory":
            return tc.mcache
        if backend == "redis":
            request.getfixturevalue("redis_url")  # starts the server, exports its URL
        source = DISK[backend][1].format(folder=folder)
        return eval(source, {"tc": tc})

    return make


def check_backend(func: Any, backend: str) -> None:
    wanted = REPORTED[backend]
    if wanted is not None:
        assert func.cache_backend == wanted, f"{backend}: got {func.cache_backend}"


def key_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The `twat_cache` logger's warnings (WARNING exactly) about uncached calls."""
    return logged(caplog, logging.WARNING, exact=True, containing="uncached")


# --- callables as arguments ---------------------------------------------------------------


def make_scaler(k: int) -> Any:
    def scale(v: int) -> int:
        return v * k

    return scale


def add(a: int, v: int) -> int:
    return a + v


@pytest.mark.parametrize("backend", _params(ALL_IDS))
def test_different_callables_never_share_an_entry(backend: str, make_cache: Any) -> None:
    calls = []

    @make_cache(backend, "callables")
    def apply(fn: Any, x: int) -> int:
        calls.append(1)
        return fn(x)

    check_backend(apply, backend)

    class Scaler:  # defined in a function: pickle cannot find it (an unpicklable object)
        def __init__(self, k: int) -> None:
            self.k = k

        def times(self, v: int) -> int:
            return v * self.k

    cases = [
        (lambda v: v + 1, 11),
        (lambda v: v * 100, 1000),
        (make_scaler(2), 20),  # closures from one factory
        (make_scaler(3), 30),
        (functools.partial(make_scaler(4)), 40),  # partials of them
        (functools.partial(make_scaler(5)), 50),
        (functools.partial(add, 1), 11),  # partials with other bound arguments
        (functools.partial(add, 2), 12),
        (Scaler(6).times, 60),  # bound methods of unpicklable objects
        (Scaler(7).times, 70),
    ]
    for fn, expected in cases:
        assert apply(fn, 10) == expected
    assert len(calls) == len(cases)
    # the same callable again is a hit: callables are keyed, not refused
    same = cases[2][0]
    assert apply(same, 10) == 20
    assert len(calls) == len(cases)


# --- __main__ identity ------------------------------------------------------------------------

SCRIPT = """
import twat_cache as tc

@{decorator}
def load(n):
    print("computed", flush=True)
    return ({label!r}, n)

print(repr(load(1)), flush=True)
"""


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", _params(DISK_IDS))
def test_two_main_scripts_never_share_entries(
    backend: str, make_cache: Any, tmp_path: Path
) -> None:
    make_cache(backend, "unused")  # Redis: start the server and export its URL
    decorator = DISK[backend][1].format(folder="scripts")
    scripts = {}
    for label in ("A", "B"):
        folder = tmp_path / label
        folder.mkdir()
        scripts[label] = folder / "job.py"  # the same file name in two folders
        scripts[label].write_text(SCRIPT.format(decorator=decorator, label=label))
    first = python(str(scripts["A"])).stdout
    assert first.split() == ["computed", "('A',", "1)"]
    other = python(str(scripts["B"])).stdout
    assert other.split() == ["computed", "('B',", "1)"]  # not A's entry
    again = python(str(scripts["A"]), cwd=tmp_path).stdout  # another working directory
    assert again.split() == ["('A',", "1)"]  # A's own entry: a hit across processes


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", _params(["diskcache"]))  # the namespace is backend-blind
def test_main_without_a_file_is_identified_by_its_code(backend: str) -> None:
    decorator = DISK[backend][1].format(folder="inline")
    one = SCRIPT.format(decorator=decorator, label="one")
    two = SCRIPT.format(decorator=decorator, label="two")
    assert python("-c", one).stdout.split() == ["computed", "('one',", "1)"]
    assert python("-c", two).stdout.split() == ["computed", "('two',", "1)"]
    assert python("-c", one).stdout.split() == ["('one',", "1)"]  # same code: its own entry


def test_main_namespaces() -> None:
    from twat_cache.identity import display_name, function_namespace

    code = textwrap.dedent(
        """
        from twat_cache.identity import function_namespace
        def load(n):
            return n
        print(function_namespace(load))
        """
    )
    out = python("-c", code).stdout.strip()
    assert out.startswith("__main__[code:"), out
    assert out.endswith("]:load"), out
    again = python("-c", code, env={"PYTHONHASHSEED": "7"}).stdout.strip()
    assert again == out  # the code digest is stable across processes and hash seeds

    def local(x: int) -> int:
        return x

    assert function_namespace(local) == f"{__name__}:{local.__qualname__}"
    assert display_name(local) == f"{__name__}.{local.__qualname__}"


def test_namespaces_of_objects_without_code() -> None:
    from twat_cache.identity import display_name, function_namespace

    p2, p3 = functools.partial(add, 2), functools.partial(add, 3)
    assert function_namespace(p2) != function_namespace(p3)
    assert function_namespace(p2) == function_namespace(functools.partial(add, 2))
    assert function_namespace(p2).startswith(f"functools.partial[{__name__}:add]#")
    assert display_name(p2) == f"functools.partial({__name__}.add)"

    class Scaler:
        def __init__(self, k: int) -> None:
            self.k = k

        def __call__(self, v: int) -> int:
            return v * self.k

        def times(self, v: int) -> int:
            return v * self.k

    assert function_namespace(Scaler(2)) != function_namespace(Scaler(3))
    assert function_namespace(Scaler(2)) == function_namespace(Scaler(2))
    assert function_namespace(Scaler(2).times) != function_namespace(Scaler(3).times)
    assert function_namespace(len) == "builtins:len"
    assert function_namespace(Scaler) == f"{__name__}:{Scaler.__qualname__}"
    assert display_name(Scaler(2)) == f"{__name__}.{Scaler.__qualname__}()"


def test_decorated_partials_and_bound_methods_keep_apart(cache_root: Path) -> None:
    if tc.available_backends()["picks"]["bcache"] == "functools":
        pytest.skip("needs a disk backend")
    two = tc.bcache(folder_name="partials")(functools.partial(add, 2))
    three = tc.bcache(folder_name="partials")(functools.partial(add, 3))
    assert (two(1), three(1), two(1), three(1)) == (3, 4, 3, 4)


@pytest.mark.parametrize("backend", _params(DISK_IDS))
def test_functions_made_by_one_factory_never_share_entries(backend: str, make_cache: Any) -> None:
    deco = make_cache(backend, "factory")

    def adder(k: int) -> Any:
        @deco
        def add_k(x: int) -> int:  # make.<locals>.add_k, whatever k is
            return x + k

        return add_k

    def scaler(scale: int = 1) -> Any:
        @deco
        def times(x: int, by: int = scale) -> int:
            return x * by

        return times

    def counter() -> Any:
        @deco
        def fib(n: int) -> int:  # its own name: a cell still empty at decoration
            return n if n < 2 else fib(n - 1) + fib(n - 2)

        return fib

    def guarded(lock: Any, k: int) -> Any:
        @deco
        def with_lock(x: int) -> int:  # a lock has no faithful encoding: this process only
            with lock:
                return x + k

        return with_lock

    one, hundred = adder(1), adder(100)
    assert (one(1), hundred(1), one(1), hundred(1)) == (2, 101, 2, 101)
    assert (scaler(2)(5), scaler(3)(5)) == (10, 15)
    assert counter()(20) == 6765
    assert (guarded(threading.Lock(), 1)(1), guarded(threading.Lock(), 7)(1)) == (2, 8)
    if REPORTED[backend] is not None:
        assert one.cache_backend == REPORTED[backend]
    again = adder(1)  # made again over the same value: its entries are found again
    assert again(1) == 2
    assert again.cache_info().hits == 1


# --- NumPy dtypes -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", _params(ALL_IDS))
def test_structured_arrays_with_the_same_bytes_never_collide(backend: str, make_cache: Any) -> None:
    np = pytest.importorskip("numpy")
    calls = []

    @make_cache(backend, "structured")
    def describe(arr: Any) -> Any:
        calls.append(1)
        return [(name, str(arr.dtype[name])) for name in arr.dtype.names]

    check_backend(describe, backend)
    x = np.zeros(3, dtype=[("a", "<i4"), ("b", "<i4")])
    x["a"] = [1, 2, 3]
    y = x.view([("c", "<i4"), ("b", "<i4")])  # same bytes, other field name
    z = x.view([("a", "<f4"), ("b", "<i4")])  # same bytes, other field type
    assert x.tobytes() == y.tobytes() == z.tobytes()
    assert describe(x) == [("a", "int32"), ("b", "int32")]
    assert describe(y) == [("c", "int32"), ("b", "int32")]
    assert describe(z) == [("a", "float32"), ("b", "int32")]
    assert describe(x.copy()) == [("a", "int32"), ("b", "int32")]  # equal content: a hit
    assert len(calls) == 3


@pytest.mark.parametrize("backend", _params(ALL_IDS))
def test_datetime64_and_timedelta64_arrays_work(backend: str, make_cache: Any) -> None:
    np = pytest.importorskip("numpy")
    calls = []

    @make_cache(backend, "dates")
    def span(arr: Any) -> str:
        calls.append(1)
        return str(arr.max() - arr.min())

    check_backend(span, backend)
    days = np.array(["2024-01-01", "2024-03-01"], dtype="datetime64[D]")
    secs = days.astype("datetime64[s]")
    big = np.arange(20_000).astype("timedelta64[ms]")  # above the raw-bytes limit: digested
    assert span(days) == "60 days"
    assert span(secs) == "5184000 seconds"  # other unit, other key
    assert span(big) == "19999 milliseconds"
    assert span(days.copy()) == "60 days"
    assert span(big.copy()) == "19999 milliseconds"
    assert len(calls) == 3


# --- OrderedDict ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", _params(ALL_IDS))
def test_ordered_dict_order_matters(backend: str, make_cache: Any) -> None:
    calls = []

    @make_cache(backend, "ordered")
    def order(d: Any) -> list[str]:
        calls.append(1)
        return list(d)

    check_backend(order, backend)
    ab = collections.OrderedDict(a=1, b=2)
    ba = collections.OrderedDict(b=2, a=1)
    assert ab != ba
    assert order(ab) == ["a", "b"]
    assert order(ba) == ["b", "a"]
    assert order(collections.OrderedDict(a=1, b=2)) == ["a", "b"]  # a hit
    assert order({"a": 1, "b": 2}) == ["a", "b"]  # a plain dict is another argument,
    assert order({"b": 2, "a": 1}) == ["a", "b"]  # compared as dicts compare (a hit)
    assert len(calls) == 3


# --- PYTHONHASHSEED ---------------------------------------------------------------------------

TAGS = """
import sys
import twat_cache as tc

class Tags:
    def __init__(self, names):
        self.names = frozenset(names)

    def __eq__(self, other):
        return isinstance(other, Tags) and self.names == other.names

    def __hash__(self):
        return hash(self.names)

@{decorator}
def count(tags):
    print("computed", flush=True)
    return len(tags.names)

print(count(Tags("alpha beta gamma delta epsilon zeta eta theta".split())), flush=True)
"""


def test_disk_digest_of_a_frozenset_holder_ignores_the_hash_seed() -> None:
    code = textwrap.dedent(
        """
        from twat_cache.keys import stable_digest

        class Tags:
            def __init__(self, names):
                self.names = frozenset(names)

            def __hash__(self):
                return hash(self.names)

        print(stable_digest("m:f", (Tags("alpha beta gamma delta epsilon zeta".split()),)))
        """
    )
    seen = {python("-c", code, env={"PYTHONHASHSEED": seed}).stdout.strip() for seed in "123"}
    assert len(seen) == 1


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", _params(DISK_IDS))
def test_disk_entries_are_hit_under_another_hash_seed(
    backend: str, make_cache: Any, tmp_path: Path
) -> None:
    make_cache(backend, "unused")
    script = tmp_path / "tags.py"
    script.write_text(TAGS.format(decorator=DISK[backend][1].format(folder="seeds")))
    assert python(str(script), env={"PYTHONHASHSEED": "1"}).stdout.split() == ["computed", "8"]
    assert python(str(script), env={"PYTHONHASHSEED": "2"}).stdout.split() == ["8"]


# --- deep and self-referencing arguments ----------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", _params(ALL_IDS))
def test_deep_and_self_referencing_arguments_run_and_cache(backend: str, make_cache: Any) -> None:
    calls = []

    @make_cache(backend, "deep")
    def depth(x: Any) -> int:
        calls.append(1)
        n = 0
        while isinstance(x, list) and x and n < 10_000:
            x = x[-1]
            n += 1
        return n

    check_backend(depth, backend)

    def nested(n: int) -> list[Any]:
        value: list[Any] = [0]
        for _ in range(n):
            value = [value]
        return value

    loop: list[Any] = [1]
    loop.append(loop)
    table: dict[str, Any] = {"n": 1}
    table["self"] = table
    assert depth(nested(3000)) == 3001
    assert depth(nested(3000)) == 3001  # an equal structure: a hit
    assert depth(nested(2999)) == 3000
    assert depth(loop) == 10_000
    assert depth(loop) == 10_000
    other: list[Any] = [2]
    other.append(other)
    assert depth(other) == 10_000  # another loop, another entry
    assert depth(table) == 0
    assert depth(table) == 0
    assert len(calls) == 5


# --- the signature of the object actually called --------------------------------------------


def scaled(fn: Any) -> Any:
    @functools.wraps(fn)
    def inner(x: int, scale: int = 1) -> int:
        return fn(x) * scale

    return inner


@pytest.mark.parametrize("backend", _params(ALL_IDS))
def test_wraps_wrapper_with_its_own_parameters(backend: str, make_cache: Any) -> None:
    calls = []

    @make_cache(backend, "wraps")
    @scaled
    def val(x: int) -> int:
        calls.append(x)
        return x + 1

    check_backend(val, backend)
    assert val(2, scale=10) == 30
    assert val(2, 10) == 30  # the same call: a hit
    assert val(2) == 3  # scale defaults to 1: another entry
    assert val(2, scale=1) == 3
    assert calls == [2, 2]


# --- arguments that cannot be keyed ---------------------------------------------------------


@pytest.mark.parametrize("backend", _params(DISK_IDS))
def test_lock_holding_self_runs_uncached_with_one_warning(
    backend: str, make_cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    decorator = make_cache(backend, "locked")

    class Service:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.calls = 0

        @decorator
        def get(self, x: int) -> int:
            self.calls += 1
            return x * 2

    check_backend(Service.get, backend)
    service = Service()
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert [service.get(1), service.get(1), Service().get(2)] == [2, 2, 4]
    assert service.calls == 2
    warnings = key_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "Service" in warnings[0]
    assert "_thread.lock" in warnings[0]


@pytest.mark.parametrize("backend", _params(DISK_IDS))
def test_generator_argument_runs_uncached_with_one_warning(
    backend: str, make_cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    calls = []

    @make_cache(backend, "generators")
    def total(numbers: Any, start: int = 0) -> int:
        calls.append(1)
        return sum(numbers, start)

    check_backend(total, backend)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert total(i for i in range(4)) == 6
        assert total((i for i in range(4)), start=1) == 7
        assert total([1, 2]) == 3
        assert total([1, 2]) == 3  # keyable arguments still cache
    assert len(calls) == 3
    warnings = key_warnings(caplog)
    assert len(warnings) == 1, warnings
    assert "generator" in warnings[0]


@pytest.mark.parametrize("backend", _params(DISK_IDS))
def test_callable_closing_over_a_lock_runs_uncached(
    backend: str, make_cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    lock = threading.Lock()
    calls = []

    @make_cache(backend, "closures")
    def apply(fn: Any, x: int) -> int:
        calls.append(1)
        return fn(x)

    def guarded(v: int) -> int:
        with lock:
            return v + 1

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert apply(guarded, 1) == apply(guarded, 1) == 2
    assert len(calls) == 2
    assert len(key_warnings(caplog)) == 1


@pytest.mark.parametrize("backend", _params(["memory", *DISK_IDS]))
def test_cache_delete_of_an_unkeyable_call_is_false(backend: str, make_cache: Any) -> None:
    @make_cache(backend, "delete")
    def f(x: Any) -> int:
        return 1

    assert f.cache_delete(threading.Lock()) is False
