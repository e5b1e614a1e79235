"""Memory rows: `@mcache` hits against functools.lru_cache, cachebox.cached, cachetools.cached.

Each row decorates the same two-parameter function (`b` has a default) on both sides, warms
the entry, and times one hit, called positionally (`f(1, 2)`) and with a keyword
(`f(1, b=2)`). Calls are `functools.partial` objects so no Python frame of the harness sits
between the loop and the decorated function.
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
) -> list[Comparison]:
    """The positional and the keyword row of one pairing (entries warmed first)."""
    rows = []
    for how, args, kwargs in (("positional", (1, 2), {}), ("keyword", (1,), {"b": 2})):
        ours(*args, **kwargs)
        theirs(*args, **kwargs)
        rows.append(
            Comparison(
                name=f"{label} hit, {how}",
                ours=functools.partial(ours, *args, **kwargs),
                theirs=functools.partial(theirs, *args, **kwargs),
                theirs_name=theirs_name,
                bar=bar,
                group="memory",
            )
        )
    return rows


def comparisons() -> list[Comparison]:
    """Every memory row whose libraries are installed."""
    from twat_cache import mcache, ucache

    rows: list[Comparison] = []
    default = mcache(_fresh())
    rows += _rows(
        f"@mcache ({default.cache_backend})",
        default,
        functools.lru_cache(maxsize=None)(_fresh()),
        "functools.lru_cache(None)",
        2.5,
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
            name=f"@mcache ({ours_kw.cache_backend}) hit, keyword-only parameter",
            ours=functools.partial(ours_kw, 1, b=2),
            theirs=functools.partial(theirs_kw, 1, b=2),
            theirs_name="functools.lru_cache(None)",
            bar=None,
            group="memory",
        )
    )
    if find_spec("cachebox") and find_spec("twat_cache_cachebox"):
        import cachebox

        ours = ucache(preferred_engine="cachebox")(_fresh())
        if ours.cache_backend == "cachebox":
            rows += _rows(
                "mcache on cachebox",
                ours,
                cachebox.cached(cachebox.LRUCache(0))(_fresh()),
                "cachebox.cached(LRUCache(0))",
                1.0,
            )
            bounded = mcache(maxsize=128)(_fresh())
            rows += _rows(
                "mcache(maxsize=128) on cachebox",
                bounded,
                cachebox.cached(cachebox.LRUCache(128))(_fresh()),
                "cachebox.cached(LRUCache(128))",
                1.0,
            )
    if find_spec("cachetools") and find_spec("twat_cache_cachetools"):
        import threading

        import cachetools

        for maxsize, size in ((None, float("inf")), (128, 128)):
            ours = ucache(preferred_engine="cachetools", maxsize=maxsize)(_fresh())
            if ours.cache_backend != "cachetools":
                continue
            rows += _rows(
                f"mcache(maxsize={maxsize}) on cachetools",
                ours,
                cachetools.cached(cachetools.LRUCache(size), lock=threading.Lock())(_fresh()),
                f"cachetools.cached(LRUCache({maxsize}), lock)",
                None,
            )
    return rows
