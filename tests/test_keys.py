"""Keys: equal calls share an entry, different calls never do; disk keys are stable."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

import twat_cache as tc
from helpers import python
from twat_cache.keys import canonical, stable_digest


def test_positional_keyword_and_default_share_one_entry():
    calls = []

    @tc.mcache
    def f(a, b=2):
        calls.append((a, b))
        return a + b

    assert f(1) == f(a=1) == f(1, 2) == f(1, b=2) == f(b=2, a=1) == 3
    assert len(calls) == 1
    assert f(1, 3) == 4
    assert len(calls) == 2
    info = f.cache_info()
    assert (info.hits, info.misses, info.currsize) == (4, 2, 2)


def test_keyword_only_and_var_keyword_are_normalized():
    calls = []

    @tc.mcache
    def f(a, *rest, k=1, **extra):
        calls.append(1)
        return (a, rest, k, sorted(extra.items()))

    assert f(1, x=1, y=2) == f(1, y=2, x=1) == f(1, k=1, y=2, x=1)
    assert len(calls) == 1
    f(1, 2, 3)
    f(1, 2, 3, k=1)
    assert len(calls) == 2
    f(1, 2)
    assert len(calls) == 3


def test_bad_calls_raise_pythons_own_type_error():
    @tc.mcache
    def f(a, b=2):
        return a

    with pytest.raises(TypeError):
        f()
    with pytest.raises(TypeError):
        f(1, 2, 3)
    with pytest.raises(TypeError):
        f(1, c=3)


def test_unhashable_arguments_work_and_never_collide():
    calls = []

    @tc.mcache
    def f(x):
        calls.append(1)
        return repr(x)

    values = [
        [1, 2],
        [2, 1],
        (1, 2),
        {"a": 1, "b": 2},
        {"a": 2, "b": 1},
        {1, 2},
        [[1], {"x": [2]}],
        [[1], {"x": [3]}],
    ]
    results = [f(v) for v in values]
    assert len(calls) == len(values)
    assert results == [repr(v) for v in values]
    assert f({"b": 2, "a": 1}) == repr({"a": 1, "b": 2})  # equal dict, other order: a hit
    assert len(calls) == len(values)


def test_keys_never_go_through_str_or_repr():
    class Opaque:
        def __init__(self, value):
            self.value = value

        __hash__ = None  # type: ignore[assignment]

        def __repr__(self):
            return "Opaque(...)"

        __str__ = __repr__

    calls = []

    @tc.mcache
    def f(x):
        calls.append(1)
        return x.value

    assert f(Opaque(1)) == 1
    assert f(Opaque(2)) == 2
    assert len(calls) == 2


def test_large_numpy_arrays_differing_in_one_element_are_different_keys():
    np = pytest.importorskip("numpy")
    a = np.arange(5000, dtype=np.float64)
    b = a.copy()
    b[2500] += 1
    assert str(a) == str(b)  # NumPy abbreviates: a str() key would collide

    @tc.mcache
    def total(arr):
        return float(arr.sum())

    assert total(a) != total(b)
    assert total(a.copy()) == total(a)
    assert total.cache_info().misses == 2
    assert canonical(a) != canonical(a.astype(np.float32))
    assert canonical(a) != canonical(a.reshape(50, 100))


def test_pandas_objects_are_keyed_by_content():
    pd = pytest.importorskip("pandas")
    calls = []

    @tc.mcache
    def f(df):
        calls.append(1)
        return int(df["x"].sum())

    df1 = pd.DataFrame({"x": range(1000)})
    df2 = df1.copy()
    df2.loc[500, "x"] = -1
    assert f(df1) != f(df2)
    assert f(df1.copy()) == f(df1)
    assert len(calls) == 2


def test_dataclasses_and_sets():
    @dataclasses.dataclass
    class Point:
        x: int
        y: list[int]

    calls = []

    @tc.mcache
    def f(p):
        calls.append(1)
        return p.x

    f(Point(1, [1]))
    f(Point(1, [1]))
    f(Point(1, [2]))
    assert len(calls) == 2


def test_none_results_are_cached_and_exceptions_are_not():
    calls = []

    @tc.mcache
    def f(x):
        calls.append(x)
        if x < 0:
            raise ValueError("negative")
        return None

    assert f(1) is None
    assert f(1) is None
    assert calls == [1]
    for _ in range(2):
        with pytest.raises(ValueError, match="negative"):
            f(-1)
    assert calls == [1, -1, -1]


def test_typed_keeps_equal_values_of_different_types_apart():
    @tc.mcache(typed=True)
    def kind(x):
        return type(x).__name__

    assert [kind(1), kind(1.0), kind(True)] == ["int", "float", "bool"]


def test_methods_key_on_self():
    class Counter:
        def __init__(self, base):
            self.base = base
            self.calls = 0

        @tc.mcache
        def add(self, x):
            self.calls += 1
            return self.base + x

    a, b = Counter(10), Counter(20)
    assert (a.add(1), b.add(1), a.add(1)) == (11, 21, 11)
    assert (a.calls, b.calls) == (1, 1)


def test_stable_digest_tags_types_and_differs_per_namespace():
    digests = {stable_digest("m:f", (v,)) for v in (1, 1.0, True, "1", b"1", None)}
    assert len(digests) == 6
    assert stable_digest("m:f", (1,)) != stable_digest("m:g", (1,))
    assert stable_digest("m:f", (frozenset({1, 2}),)) == stable_digest("m:f", (frozenset({2, 1}),))
    # lists are keyed by content on disk too, and never like the tuple with the same items
    assert stable_digest("m:f", ([1],)) == stable_digest("m:f", ([1],))
    assert stable_digest("m:f", ([1],)) != stable_digest("m:f", ((1,),))


def test_stable_digest_is_the_same_in_another_interpreter():
    key = canonical((1, "x", [1, 2], {"a": (1.5, None)}, frozenset({"p", "q"})))
    here = stable_digest("mod:func", key)
    code = textwrap.dedent(
        """
        from twat_cache.keys import canonical, stable_digest
        key = canonical((1, "x", [1, 2], {"a": (1.5, None)}, frozenset({"p", "q"})))
        print(stable_digest("mod:func", key))
        """
    )
    for seed in ("1", "2"):
        assert python("-c", code, env={"PYTHONHASHSEED": seed}).stdout.strip() == here


def test_unpicklable_unhashable_argument_calls_through_with_one_warning(caplog):
    class Weird:
        __slots__ = ()
        __hash__ = None  # type: ignore[assignment]

        def __reduce__(self):
            raise TypeError("nope")

    calls = []

    @tc.mcache
    def f(x):
        calls.append(1)
        return 42

    with caplog.at_level("WARNING", logger="twat_cache"):
        assert f(Weird()) == 42
        assert f(Weird()) == 42
    assert len(calls) == 2
    assert len([r for r in caplog.records if "uncached" in r.getMessage()]) == 1
