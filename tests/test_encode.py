"""The key encoder (twat_cache.encode): rules, fast paths, and properties checked by Hypothesis.

Memory keys: equal iff the values are equal (Python `==`; `1 == 1.0 == True` share, as in
`functools.lru_cache`). Disk digests: equal iff the values are "typed-equal" (same types all
the way down, equal values, floats by their bits), and the same in every interpreter whatever
`PYTHONHASHSEED` is.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import pickle
import struct
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import run_python
from twat_cache import encode, keys
from twat_cache.encode import UncacheableError, disk_digest, memory_key

SALT = b"tests:f"


def mk(value: Any) -> Any:
    """The memory key of a one-argument call."""
    return memory_key((value,))


def dd(value: Any, salt: bytes = SALT) -> str:
    """The disk digest of a one-argument call key."""
    return disk_digest((value,), salt)


def dm(value: Any) -> str:
    """What a persistent store digests for a one-argument call with an unhashable argument."""
    return disk_digest(memory_key((value,)), SALT)


# --- rules ------------------------------------------------------------------------------------


def test_uncacheable_error_is_one_class_everywhere() -> None:
    assert keys.UncacheableError is UncacheableError
    assert issubclass(UncacheableError, TypeError)
    with pytest.raises(UncacheableError, match=r"^argument of type builtins\.generator cannot"):
        dd(i for i in range(3))


def test_error_names_the_argument_and_what_it_holds() -> None:
    class Holder:
        def __init__(self) -> None:
            self.lock = threading.Lock()

    with pytest.raises(UncacheableError) as info:
        disk_digest((1, Holder()), SALT)
    message = str(info.value)
    assert message.startswith(f"argument of type {__name__}.{Holder.__qualname__} cannot be keyed")
    assert "_thread.lock" in message
    with pytest.raises(UncacheableError, match=r"builtins\.list .* builtins\.memoryview"):
        mk([1, memoryview(bytearray(b"x"))])  # memory: a writable memoryview has no state
    import socket

    with socket.socket() as s, pytest.raises(UncacheableError, match="socket"):
        dd(s)


def test_disk_types_are_kept_apart() -> None:
    values = [1, 1.0, True, "1", b"1", None, (1,), [1], {1}, frozenset({1}), bytearray(b"1")]
    assert len({dd(v) for v in values}) == len(values)
    assert dd(0.0) != dd(-0.0)  # by bits
    assert dd(math.nan) == dd(math.nan)  # by bits: NaN keys are stable on disk
    assert dd(1) != disk_digest((1,), b"tests:g")  # the salt (a function's namespace)


def test_memory_keys_follow_equality() -> None:
    assert mk([1]) == mk([1.0]) == mk([True])  # lru_cache semantics, documented
    assert mk([0.0]) == mk([-0.0])
    assert mk({1, 2}) == mk(frozenset({1, 2}))  # set == frozenset in Python
    assert mk(bytearray(b"ab")) == mk(b"ab")
    assert mk([1, 2]) != mk((1, 2))
    assert mk({"a": 1, "b": [2]}) == mk({"b": [2], "a": 1})
    assert mk([[1], [2]]) != mk([[1, 2]])
    # both forms of a list (fast: hashable items; general: items that need encoding) agree
    assert mk([frozenset({1})]) == mk([{1}])


def test_ordered_dicts_keep_order_and_differ_from_dicts() -> None:
    ab = collections.OrderedDict(a=1, b=[2])
    ba = collections.OrderedDict(b=[2], a=1)
    assert mk(ab) != mk(ba)
    assert dd(ab) != dd(ba)
    assert mk(ab) == mk(collections.OrderedDict(a=1, b=[2]))
    assert mk(ab) != mk({"a": 1, "b": [2]})
    assert dd(ab) != dd({"a": 1, "b": [2]})


def test_dataclasses_and_objects_by_state_never_by_repr() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: list[int]

        def __repr__(self) -> str:
            return "Point"

    assert mk(Point(1, [2])) == mk(Point(1, [2]))
    assert mk(Point(1, [2])) != mk(Point(1, [3]))
    assert dd(Point(1, [2])) == dd(Point(1, [2]))
    assert dd(Point(1, [2])) != dd(Point(1, [3]))

    class Plain:  # no __dict__ fallback: its reduce state
        __slots__ = ("v",)

        def __init__(self, v: int) -> None:
            self.v = v

    assert dd(Plain(1)) != dd(Plain(2))
    assert dd(Plain(1)) == dd(Plain(1))


def test_callables_by_what_they_compute() -> None:
    def make(k: int) -> Any:
        return lambda v: v * k

    assert dd(make(2)) == dd(make(2))  # same code, same closure value
    assert dd(make(2)) != dd(make(3))
    assert dd(lambda v: v + 1) != dd(lambda v: v + 2)  # constants
    assert dd(lambda v: v + 1) != dd(lambda v: v - 1)  # bytecode
    assert dd(functools.partial(max, 1)) != dd(functools.partial(max, 2))
    assert dd(functools.partial(max, 1)) != dd(functools.partial(min, 1))

    def with_default(v: int, k: int = 1) -> int:
        return v * k

    other = with_default.__defaults__
    before = dd(with_default)
    with_default.__defaults__ = (2,)
    assert dd(with_default) != before
    with_default.__defaults__ = other

    def recursive(n: int) -> int:  # refers to itself through its closure: a cycle
        return 0 if n == 0 else recursive(n - 1)

    assert dd(recursive) == dd(recursive)
    assert dd(len) != dd(abs)
    assert dd(str.upper) != dd(str.lower)
    assert dd([].append) == dd([].append)


def test_referenced_globals_count(tmp_path: Path) -> None:
    module = tmp_path / "globmod.py"
    module.write_text("K = 2\ndef helper(v):\n    return v * K\nf = lambda v: helper(v)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import globmod  # type: ignore[import-not-found]

        first = dd(globmod.f)
        globmod.K = 3  # a constant the function reads (through a helper): another key
        assert dd(globmod.f) != first
        globmod.K = 2
        assert dd(globmod.f) == first
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("globmod", None)


def test_numpy_full_dtype_shape_and_content() -> None:
    np = pytest.importorskip("numpy")
    a = np.arange(6, dtype="<i4")
    variants = [
        a,
        a.reshape(2, 3),
        a.astype(">i4"),  # byte order
        a.view("<f4"),  # same bytes, other type
        a.view([("x", "<i4")]),
        a.view([("y", "<i4")]),
        a.view([("x", "<f4")]),
        a.astype("datetime64[s]"),
        a.astype("datetime64[ms]"),
        a.astype("timedelta64[s]"),
        a.astype(object),
    ]
    assert len({dd(v) for v in variants}) == len(variants)
    memory = [mk(v) for v in variants]
    assert all(memory[i] != memory[j] for i in range(len(memory)) for j in range(i))
    assert dd(a) == dd(a.copy())
    assert mk(a) == mk(a.copy())
    assert dd(np.asfortranarray(a.reshape(2, 3))) == dd(a.reshape(2, 3))  # content, not layout
    big = np.arange(100_000, dtype=np.float64)
    changed = big.copy()
    changed[50_000] += 1
    assert mk(big) != mk(changed)
    assert dd(big) != dd(changed)
    assert any(token is encode._HASHED for token in mk(big))  # digested above RAW_LIMIT
    seen: list[int] = []

    def fast_hash(buffer: memoryview) -> bytes:
        seen.append(len(buffer))
        return struct.pack("<q", hash(bytes(buffer)))

    disk_digest(big, SALT, buffer_hash=fast_hash)
    assert seen == [big.nbytes]
    assert dd(np.array([{"a": [1]}], dtype=object)) != dd(np.array([{"a": [2]}], dtype=object))


def test_self_referencing_and_deep_values() -> None:
    a: list[Any] = [1]
    a.append(a)
    b: list[Any] = [1]
    b.append(b)
    c: list[Any] = [2]
    c.append(c)
    assert mk(a) == mk(b) != mk(c)
    assert dd(a) == dd(b) != dd(c)
    d: dict[str, Any] = {}
    d["me"] = d
    assert dd(d) == dd(d)
    deep: list[Any] = [0]
    for _ in range(50_000):
        deep = [deep]
    assert mk(deep) == mk(deep)
    assert dd(deep) == dd(deep)
    deep_dict: dict[str, Any] = {}
    for _ in range(5_000):
        deep_dict = {"k": deep_dict, "v": [1]}
    assert dd(deep_dict) == dd(deep_dict)


def test_shared_sub_objects_do_not_explode() -> None:
    value: list[Any] = [0]
    for _ in range(60):  # 2**60 paths if shared objects were expanded without limit
        value = [value, value]
    with pytest.raises(UncacheableError, match="shares sub-objects"):
        dd(value)
    with pytest.raises(UncacheableError, match="shares sub-objects"):
        mk(value)
    row = [0] * 100
    grid = [row] * 1000  # a common idiom: one row shared a thousand times, fine
    assert dd(grid) == dd([[0] * 100 for _ in range(1000)])


def test_import_twat_cache_imports_no_encoder_dependency() -> None:
    out = run_python(
        """
        import sys
        import twat_cache, twat_cache.encode, twat_cache.identity
        from twat_cache.encode import disk_digest, memory_key
        memory_key(([1, 2], {"a": [1]}))
        disk_digest((1, "a", [1.5]), b"x")
        heavy = ("pickle", "numpy", "inspect", "typing", "logging")
        print(sorted(m for m in heavy if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_code_fingerprint_is_stable_across_hash_seeds() -> None:
    code = """
        from twat_cache.identity import code_fingerprint
        def f(x):
            return x in {"alpha", "beta", "gamma", "delta"} and (lambda: 1)()
        print(code_fingerprint(f))
        """
    prints = {run_python(code, env={"PYTHONHASHSEED": seed}).strip() for seed in "12"}
    assert len(prints) == 1
    (value,) = prints
    assert len(value) == 16
    assert int(value, 16) >= 0


# --- properties (Hypothesis) ------------------------------------------------------------------

# Small domains, so that equal values (and equal values of other types) come up often.
ints = st.integers(-3, 3) | st.integers()
floats = st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.5, 1e300, math.inf]) | st.floats(allow_nan=False)
scalars = (
    ints
    | floats
    | st.booleans()
    | st.none()
    | st.text(alphabet="ab", max_size=2)
    | st.binary(max_size=2)
)
hashables = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3).map(tuple) | st.frozensets(inner, max_size=3),
    max_leaves=6,
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(hashables, inner, max_size=3)
        | st.sets(hashables, max_size=3)
        | st.frozensets(hashables, max_size=3)
    ),
    max_leaves=10,
)

PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,  # never write a .hypothesis folder into the project
    suppress_health_check=[HealthCheck.too_slow],
)


def typed(value: Any) -> Any:
    """The oracle: a form equal for two values iff they are typed-equal."""
    kind = type(value)
    if kind is float:
        return ("float", struct.pack("<d", value))
    if kind in (list, tuple):
        return (kind.__name__, tuple(typed(v) for v in value))
    if kind is dict:
        return ("dict", frozenset((typed(k), typed(v)) for k, v in value.items()))
    if kind in (set, frozenset):
        return (kind.__name__, frozenset(typed(v) for v in value))
    return (kind.__name__, value)


def twin(value: Any, draw: Any, *, retype: bool, hashable: bool = False) -> Any:
    """A rebuilt copy of `value`, equal to it; `retype` swaps equal values of other types."""
    kind = type(value)
    if kind in (list, tuple):
        items = [twin(v, draw, retype=retype, hashable=hashable or kind is tuple) for v in value]
        return items if kind is list else tuple(items)
    if kind is dict:
        items = [
            (twin(k, draw, retype=retype, hashable=True), twin(v, draw, retype=retype))
            for k, v in value.items()
        ]
        return dict(draw(st.permutations(items)))
    if kind in (set, frozenset):
        members = draw(st.permutations(list(value)))
        rebuilt = {twin(v, draw, retype=retype, hashable=True) for v in members}
        if retype and not hashable and draw(st.booleans()):
            kind = set if kind is frozenset else frozenset
        return kind(rebuilt) if kind is frozenset else rebuilt
    if retype and kind in (int, float, bool) and draw(st.booleans()):
        if kind is bool:
            return int(value)
        if kind is int and abs(value) < 2**53:
            return float(value)
        if kind is float and value.is_integer() and math.isfinite(value):
            return int(value)
    return value


@PROPERTY
@given(values, values)
def test_memory_keys_equal_iff_values_equal(a: Any, b: Any) -> None:
    assert (mk(a) == mk(b)) == (a == b)
    if a == b:
        assert hash(mk(a)) == hash(mk(b))


@PROPERTY
@given(values, st.data())
def test_memory_keys_of_equal_values_are_equal(a: Any, data: Any) -> None:
    b = twin(a, data.draw, retype=True)
    assert a == b
    assert mk(a) == mk(b)
    assert hash(mk(a)) == hash(mk(b))


@PROPERTY
@given(values, values)
def test_disk_digests_equal_iff_typed_equal(a: Any, b: Any) -> None:
    same = typed(a) == typed(b)
    assert (dd(a) == dd(b)) == same
    # what persistent stores digest: the memory key the wrapper made of the call
    assert (dm(a) == dm(b)) == same


@PROPERTY
@given(values, st.data())
def test_disk_digests_of_typed_equal_values_are_equal(a: Any, data: Any) -> None:
    b = twin(a, data.draw, retype=False)
    assert typed(a) == typed(b)
    assert dd(a) == dd(b)
    assert dm(a) == dm(b)
    c = twin(a, data.draw, retype=True)
    assert (dd(a) == dd(c)) == (typed(a) == typed(c))


@pytest.mark.timeout(120)
@settings(max_examples=1, deadline=None, database=None)
@given(batch=st.lists(values, min_size=60, max_size=60))
def test_disk_digests_are_the_same_under_other_hash_seeds(
    batch: list[Any], tmp_path_factory: Any
) -> None:
    path = tmp_path_factory.mktemp("seeds") / "batch.pickle"
    path.write_bytes(pickle.dumps(batch))
    code = f"""
        import json, pickle
        from twat_cache.encode import disk_digest, memory_key
        batch = pickle.loads(open({str(path)!r}, "rb").read())
        print(json.dumps([
            [disk_digest((v,), {SALT!r}), disk_digest(memory_key((v,)), {SALT!r})] for v in batch
        ]))
        """
    here = [[dd(v), dm(v)] for v in batch]
    for seed in ("0", "1"):
        assert json.loads(run_python(code, env={"PYTHONHASHSEED": seed})) == here
