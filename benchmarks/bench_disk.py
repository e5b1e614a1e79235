"""Disk rows: `@bcache` hits against raw `diskcache.Cache.memoize`, and klepto against its archives.

Both sides of a diskcache row use the same eviction policy, since that decides what a hit costs:
diskcache's least-recently-used and least-frequently-used policies write on every hit (a
transaction), least-recently-stored (its default) does not. `bcache` without `maxsize` keeps
diskcache's default order for its 1 GiB backstop, so the first row compares defaults with
defaults; with a `maxsize`, lru and lfu are tracked and compared with a raw Cache tracking the
same. The klepto rows are informational: ours reads a sealed entry (HMAC verified, then
unpickled) from klepto's SQL or directory archive; theirs is the same archive's own lookup of a
value it pickled itself (dill) -- no authentication.

Every cache lives in a temporary folder removed at exit; when `TWAT_CACHE_DIR` is not set it
points at a temporary folder too, so the secret's key file is never written to the user's home.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from harness import Comparison


def _scratch() -> str:
    path = tempfile.mkdtemp(prefix="twat-cache-bench-disk-")
    atexit.register(shutil.rmtree, path, True)
    return path


def _fresh() -> Callable[..., int]:
    """A new function object each time, so no two caches share a namespace."""

    def f(a: int, b: int = 2) -> int:
        return a + b

    return f


def _row(
    name: str,
    ours: Callable[..., Any],
    theirs: Callable[..., Any],
    theirs_name: str,
    bar: float | None,
) -> Comparison:
    ours(1, 2)
    theirs(1, 2)
    return Comparison(
        name=name,
        ours=functools.partial(ours, 1, 2),
        theirs=functools.partial(theirs, 1, 2),
        theirs_name=theirs_name,
        bar=bar,
        group="disk",
    )


def _diskcache_rows() -> list[Comparison]:
    import diskcache

    from twat_cache import bcache

    cases = (
        ("bcache hit (defaults)", {}, None),
        ('bcache(maxsize=1000) hit, policy "lru"', {"maxsize": 1000}, "least-recently-used"),
        (
            'bcache(maxsize=1000, policy="lfu") hit',
            {"maxsize": 1000, "policy": "lfu"},
            "least-frequently-used",
        ),
    )
    rows = []
    for name, options, eviction in cases:
        ours = bcache(folder_name=_scratch(), **options)(_fresh())
        assert ours.cache_backend == "diskcache", ours.cache_backend
        if eviction is None:
            raw, theirs_name = diskcache.Cache(_scratch()), "diskcache.Cache().memoize"
        else:
            raw = diskcache.Cache(_scratch(), eviction_policy=eviction)
            theirs_name = f"diskcache.Cache(eviction_policy={eviction!r}).memoize"
        rows.append(_row(name, ours, raw.memoize()(_fresh()), theirs_name, 1.0))
    return rows


def _klepto_rows() -> list[Comparison]:
    from klepto.archives import dir_archive, sqltable_archive

    from twat_cache import bcache, ucache

    rows = []
    ours_sql = ucache(folder_name=_scratch(), preferred_engine="klepto")(_fresh())
    db = os.path.join(_scratch(), "raw.sqlite")
    archive = sqltable_archive(f"sqlite:///{db}?table=memo", cached=False)
    rows.append(
        _row(
            "ucache on klepto (SQL archive) hit",
            ours_sql,
            _archive_lookup(archive),
            "klepto sqltable_archive.get (sqlite, dill)",
            None,
        )
    )
    ours_dir = bcache(folder_name=_scratch(), sql_backend=False)(_fresh())
    folder = dir_archive(os.path.join(_scratch(), "raw"), cached=False)
    rows.append(
        _row(
            "bcache(sql_backend=False) on klepto (dir archive) hit",
            ours_dir,
            _archive_lookup(folder),
            "klepto dir_archive.get (dill)",
            None,
        )
    )
    return rows


def _archive_lookup(archive: Any) -> Callable[..., Any]:
    """klepto's own memoized lookup: the call's key in the archive, computed on a miss."""

    def f(a: int, b: int = 2) -> Any:
        key = f"{a}-{b}"
        value = archive.get(key, None)
        if value is None:
            value = archive[key] = a + b
        return value

    return f


def comparisons() -> list[Comparison]:
    """Every disk row whose libraries are installed ([] when neither diskcache nor klepto is)."""
    have_diskcache = find_spec("twat_cache_diskcache") is not None and find_spec("diskcache")
    have_klepto = find_spec("twat_cache_klepto") is not None and find_spec("klepto")
    if not (have_diskcache or have_klepto):
        return []
    os.environ.setdefault("TWAT_CACHE_DIR", _scratch())
    rows: list[Comparison] = []
    if have_diskcache:
        rows += _diskcache_rows()
    if have_klepto:
        rows += _klepto_rows()
    return rows
