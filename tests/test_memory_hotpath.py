"""The sync hot path: the exact-signature wrapper, key plans per call shape, and that both give
the same keys (and the same errors) as the reference KeyMaker walk, on every memory backend."""

from __future__ import annotations

import inspect
import itertools
import sys
from typing import Any

import pytest

from conftest import needs
from twat_cache import mcache, ucache
from twat_cache.binding import KW, BadCall, KeyMaker, params_of
from twat_cache.store import MISS
from twat_cache.testing import store_of

BACKENDS = [
    pytest.param("functools"),
    pytest.param("cachebox", marks=needs("cachebox")),
    pytest.param("cachetools", marks=needs("cachetools")),
]


def on(backend: str, **options: Any) -> Any:
    def decorate(func: Any) -> Any:
        wrapper = ucache(preferred_engine=backend, **options)(func)
        assert wrapper.cache_backend == backend
        return wrapper

    return decorate


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("maxsize", [None, 8])
def test_exact_wrapper_binds_like_the_function(backend: str, maxsize: int | None) -> None:
    calls = []
    default = object()

    def f(a, b=2, /, c=default):
        """Doc of f."""
        calls.append((a, b, c))
        return (a, b, c)

    g = on(backend, maxsize=maxsize)(f)
    assert g(1) == g(1, 2) == g(1, 2, default) == g(1, c=default) == (1, 2, default)
    assert len(calls) == 1
    assert g(1, 3) == (1, 3, default)
    assert len(calls) == 2
    assert g.__name__ == "f"
    assert g.__doc__ == "Doc of f."
    assert g.__wrapped__ is f
    assert g.__code__.co_name == "f"  # the exact-signature hit path, not the generic one
    assert inspect.signature(g) == inspect.signature(f)
    for bad_args, bad_kwargs in [((), {}), ((1, 2, 3, 4), {}), ((1,), {"b": 2}), ((1,), {"d": 1})]:
        with pytest.raises(TypeError) as info:
            g(*bad_args, **bad_kwargs)
        with pytest.raises(TypeError) as expected:
            f(*bad_args, **bad_kwargs)
        if sys.version_info >= (3, 11):
            assert str(info.value) == str(expected.value)
    assert len(calls) == 2


@pytest.mark.parametrize("backend", BACKENDS)
def test_other_signatures_take_the_generic_path(backend: str) -> None:
    calls = []

    @on(backend, maxsize=32)
    def f(a, *rest, k=1, **kw):
        calls.append(1)
        return (a, rest, k, sorted(kw.items()))

    assert (
        f(1, x=1, y=2) == f(1, y=2, x=1) == f(1, k=1, y=2, x=1) == (1, (), 1, [("x", 1), ("y", 2)])
    )
    assert len(calls) == 1
    assert f.__code__.co_name == "f"  # exact signature here too
    assert f(1, 2, 3) == f(*[1, 2, 3]) == (1, (2, 3), 1, [])
    assert len(calls) == 2
    assert f(1, 2, 3, k=1) == (1, (2, 3), 1, [])
    assert len(calls) == 2
    with pytest.raises(TypeError):
        f()
    with pytest.raises(TypeError):
        f(1, a=2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reserved_looking_parameter_names_still_work(backend: str) -> None:
    @on(backend)
    def f(_tc_key, _tc_value=2):
        return _tc_key + _tc_value

    assert f(1) == f(_tc_key=1) == f(1, _tc_value=2) == 3
    assert f.cache_info().misses == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_recursion_and_zero_argument_functions(backend: str) -> None:
    @on(backend)
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    assert fib(80) == 23416728348467685
    assert fib.cache_info().misses == 81

    calls = []

    @on(backend)
    def nothing():
        calls.append(1)

    assert nothing() is None
    assert nothing() is None
    assert calls == [1]


@pytest.mark.parametrize("backend", BACKENDS)
def test_typed_keeps_int_and_float_apart(backend: str) -> None:
    calls = []

    @on(backend, typed=True)
    def f(x, y=0):
        calls.append(x)
        return x

    assert f(1) == 1
    assert f(1.0) == 1.0
    assert f(x=1) == 1
    assert len(calls) == 2


def test_mcache_default_signature_fast_path() -> None:
    @mcache
    def f(a, b):
        return a * b

    assert f(2, 3) == f(2, b=3) == f(a=2, b=3) == 6
    assert tuple(f.cache_info())[:2] == (2, 1)


# -- KeyMaker plans against a reference binding -------------------------------------------


def reference_key(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The key DESIGN describes, from `inspect`'s binding (an oracle independent of the plans):
    positional values with defaults, extra positionals, then (with keyword-only parameters or
    **kwargs) a marker, the keyword-only values and the sorted leftover keyword pairs."""
    kinds = inspect.Parameter
    signature = inspect.signature(func)
    try:
        func(*args, **kwargs)  # Python's own binding says whether the call binds at all ...
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return BadCall
    # ... (3.13's Signature.bind accepts `f4(a=0)`, a positional-only name in **kw, which the
    # call itself refuses)
    bound.apply_defaults()
    params = list(signature.parameters.values())
    key: list[Any] = []
    for p in params:
        if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD):
            key.append(bound.arguments[p.name])
        elif p.kind is kinds.VAR_POSITIONAL:
            key.extend(bound.arguments[p.name])
    if any(p.kind in (kinds.KEYWORD_ONLY, kinds.VAR_KEYWORD) for p in params):
        key.append(KW)
        for p in params:
            if p.kind is kinds.KEYWORD_ONLY:
                key.append(bound.arguments[p.name])
            elif p.kind is kinds.VAR_KEYWORD:
                key.extend(sorted(bound.arguments[p.name].items()))
    return tuple(key)


def f1(a, b=2, c=3): ...
def f2(a, /, b, *args, c, d=4, **kw): ...
def f3(*args, **kw): ...
def f4(a, /, b=1, **kw): ...
def f5(): ...
def f6(a, *, k=1): ...
def f7(a, b, /, c=None, *args): ...


@pytest.mark.parametrize("func", [f1, f2, f3, f4, f5, f6, f7])
def test_key_plans_equal_the_reference_walk(func: Any) -> None:
    maker = KeyMaker(params_of(func))
    names = ["a", "b", "c", "d", "k", "z"]
    for nargs in range(5):
        for count in range(3):
            for kwnames in itertools.permutations(names, count):
                args = tuple(range(100, 100 + nargs))
                kwargs = {name: i for i, name in enumerate(kwnames)}
                want = reference_key(func, args, kwargs)
                for _ in range(2):  # first call makes the plan, the second uses it
                    try:
                        got: Any = maker(args, kwargs)
                    except BadCall:
                        got = BadCall
                    assert got == want, (func.__name__, args, kwargs)
                    assert want is BadCall or type(got) is tuple


def test_many_keyword_shapes_stay_correct_beyond_the_plan_limit() -> None:
    @mcache
    def f(**kw):
        return sorted(kw)

    for i in range(KeyMaker.MAX_PLANS + 50):
        assert f(**{f"k{i}": 1}) == [f"k{i}"]
        assert f(**{f"k{i}": 1}) == [f"k{i}"]
    info = f.cache_info()
    assert info.misses == KeyMaker.MAX_PLANS + 50
    assert info.hits == KeyMaker.MAX_PLANS + 50


def test_keyword_names_are_never_code() -> None:
    @mcache
    def f(**kw):
        return kw

    evil = {"a]; import os; k[": 1, "x' + '": 2}
    assert f(**evil) == evil
    assert f(**evil) == evil
    assert f.cache_info().hits == 1


def f8(a, b=2, *, c, d=4): ...
def f9(a, /, b=2, *rest, c=3, **kw): ...


SIGNATURES = [f1, f2, f3, f4, f5, f6, f7, f8, f9]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("func", SIGNATURES, ids=lambda f: f.__name__)
def test_wrapper_stores_the_keymaker_key(backend: str, func: Any) -> None:
    """Whatever the wrapper's hit path (exact signature or generic), it stores under exactly
    the key KeyMaker's reference walk makes, and rejects what Python's binding rejects."""
    f = on(backend)(func)
    store = store_of(f)
    names = ["a", "b", "c", "d", "rest", "z"]
    for nargs in range(5):
        for count in range(3):
            for kwnames in itertools.permutations(names, count):
                args = tuple(range(100, 100 + nargs))
                kwargs = {name: i for i, name in enumerate(kwnames)}
                try:
                    func(*args, **kwargs)  # the oracle: Python's own binding
                except TypeError:
                    with pytest.raises(TypeError):
                        f(*args, **kwargs)
                    continue
                f(*args, **kwargs)
                key = reference_key(func, args, kwargs)
                assert store.get(key, MISS) is not MISS, (args, kwargs, key)
                assert f.cache_delete(*args, **kwargs) is True
                assert len(store) == 0
