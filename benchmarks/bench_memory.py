"""Memory rows: `@mcache` hits against functools.lru_cache, cachebox.cached, cachetools.cached.

Each row decorates the same two-parameter function (`b` has a default) on both sides, warms
the entry, and times one hit, called positionally (`f(1, 2)`) and with a keyword
(`f(1, b=2)`). Calls are `functools.partial` objects so no Python frame of the harness sits
between the loop and the decorated function.

Unhashable arguments (DESIGN §4): a hit with a list of 100 ints against `cachetools.cached`
keyed on `hashkey(tuple(values))` (cachetools' documented convention for custom keys; with an
unbounded LRUCache and a lock, like the cachetools rows above, since `@mcache` is unbounded and
thread-safe), and a hit with a 1,000-element float64 array against a hand-written dict memo
keyed on `(dtype.str, shape, tobytes())`, the cheapest faithful key of an array.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from harness import Comparison


def _target(a: int, b: int = 2) -> int:
    return a + b


def _fresh() -> Callable[..., int]:
    """A new function object each time, so no two decorators share anything."""

    def f(a: int, b: int = 2) -> int:
        return a + b

    return f


def _rows(
    label: str,
    ours: Callable[..., Any],
    theirs: Callable[..., Any],
    theirs_name: str,
    bar: float | None,
    theirs_doc: str,
) -> list[Comparison]:
    """The positional and the keyword row of one pairing (entries warmed first)."""
    rows = []
    for how, args, kwargs in (("", (1, 2), {}), (", keyword", (1,), {"b": 2})):
        ours(*args, **kwargs)
        theirs(*args, **kwargs)
        rows.append(
            Comparison(
                name=f"{label} hit{how}",
                ours=functools.partial(ours, *args, **kwargs),
                theirs=functools.partial(theirs, *args, **kwargs),
                theirs_name=theirs_name,
                bar=bar,
                group="memory",
                theirs_doc=theirs_doc,
            )
        )
    return rows


def _unhashable_rows() -> list[Comparison]:
    """A list of 100 ints and a 1,000-element array as the argument (DESIGN §4)."""
    rows: list[Comparison] = []
    from twat_cache import mcache

    if find_spec("cachetools"):
        import math
        import threading

        import cachetools
        import cachetools.keys

        def first(values: list[int]) -> int:
            return values[0]

        def first_ref(values: list[int]) -> int:
            return values[0]

        def tuple_key(values: list[int]) -> Any:
            return cachetools.keys.hashkey(tuple(values))

        values = list(range(100))
        ours = mcache(first)
        theirs = cachetools.cached(
            cachetools.LRUCache(math.inf), key=tuple_key, lock=threading.Lock()
        )(first_ref)
        ours(values)
        theirs(values)
        rows.append(
            Comparison(
                name="mcache hit, list of 100 ints",
                ours=functools.partial(ours, values),
                theirs=functools.partial(theirs, values),
                theirs_name="ct-tuple",
                bar=3.0,
                group="memory",
                theirs_doc="cachetools.cached(LRUCache(inf), key=lambda v: "
                "hashkey(tuple(v)), lock=Lock())",
            )
        )
    if find_spec("numpy"):
        import numpy as np

        def head(arr: Any) -> float:
            return float(arr[0])

        memo: dict[tuple[Any, ...], float] = {}

        def head_memo(arr: Any) -> float:
            key = (arr.dtype.str, arr.shape, arr.tobytes())
            try:
                return memo[key]
            except KeyError:
                pass
            value = memo[key] = float(arr[0])
            return value

        arr = np.random.default_rng(2).random(1000)
        ours_arr = mcache(head)
        ours_arr(arr)
        head_memo(arr)
        rows.append(
            Comparison(
                name="mcache hit, 1,000-float array",
                ours=functools.partial(ours_arr, arr),
                theirs=functools.partial(head_memo, arr),
                theirs_name="np-memo",
                bar=1.5,
                group="memory",
                theirs_doc="hand-written dict memo keyed on (dtype.str, shape, tobytes())",
            )
        )
    return rows


def comparisons(quick: bool = False) -> list[Comparison]:
    """Every memory row whose libraries are installed (`quick` changes nothing here)."""
    from twat_cache import mcache, ucache

    rows: list[Comparison] = []
    default = mcache(_fresh())
    rows += _rows(
        "mcache",
        default,
        functools.lru_cache(maxsize=None)(_fresh()),
        "lru",
        2.5,
        "functools.lru_cache(maxsize=None)",
    )

    def kwonly(a: int, *, b: int = 2) -> int:  # keyword-only: the generic path with key plans
        return a + b

    def kwonly_ref(a: int, *, b: int = 2) -> int:
        return a + b

    ours_kw = mcache(kwonly)
    theirs_kw = functools.lru_cache(maxsize=None)(kwonly_ref)
    ours_kw(1, b=2)
    theirs_kw(1, b=2)
    rows.append(
        Comparison(
            name="mcache hit, keyword-only param",
            ours=functools.partial(ours_kw, 1, b=2),
            theirs=functools.partial(theirs_kw, 1, b=2),
            theirs_name="lru",
            bar=None,
            group="memory",
        )
    )
    if find_spec("cachebox") and find_spec("twat_cache_cachebox"):
        import cachebox

        ours = ucache(preferred_engine="cachebox")(_fresh())
        if ours.cache_backend == "cachebox":
            rows += _rows(
                "ucache(cachebox)",
                ours,
                cachebox.cached(cachebox.LRUCache(0))(_fresh()),
                "cb",
                1.0,
                "cachebox.cached(cachebox.LRUCache(0))",
            )
            bounded = mcache(maxsize=128)(_fresh())
            rows += _rows(
                "mcache(maxsize=128)",
                bounded,
                cachebox.cached(cachebox.LRUCache(128))(_fresh()),
                "cb-128",
                1.0,
                "cachebox.cached(cachebox.LRUCache(128))",
            )
    if find_spec("cachetools") and find_spec("twat_cache_cachetools"):
        import threading

        import cachetools

        for maxsize, size in ((None, float("inf")), (128, 128)):
            ours = ucache(preferred_engine="cachetools", maxsize=maxsize)(_fresh())
            if ours.cache_backend != "cachetools":
                continue
            code = "ct" if maxsize is None else "ct-128"
            rows += _rows(
                "ucache(cachetools)" if maxsize is None else "ucache(cachetools, 128)",
                ours,
                cachetools.cached(cachetools.LRUCache(size), lock=threading.Lock())(_fresh()),
                code,
                None,
                f"cachetools.cached(cachetools.LRUCache({size}), lock=threading.Lock())",
            )
    rows += _unhashable_rows()
    return rows
