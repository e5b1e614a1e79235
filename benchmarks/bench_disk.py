"""Disk rows: `@bcache` hits against raw `diskcache.Cache.memoize`, and klepto against its archives.

Both sides of a diskcache row use the same eviction policy, since that decides what a hit costs:
diskcache's least-recently-used policy writes the access time on every hit (a transaction),
least-recently-stored does not. `bcache`'s default policy is "lru", so the first row compares it
with a `Cache(eviction_policy="least-recently-used")`; `bcache(policy="fifo")` maps to
least-recently-stored, diskcache's own default, which the second row compares with a default
`Cache`. The klepto rows are informational: ours reads a sealed entry (HMAC verified, then
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

    rows = []
    for policy, eviction in (("lru", "least-recently-used"), ("fifo", "least-recently-stored")):
        ours = bcache(folder_name=_scratch(), policy=policy)(_fresh())
        assert ours.cache_backend == "diskcache", ours.cache_backend
        raw = diskcache.Cache(_scratch(), eviction_policy=eviction)
        theirs = raw.memoize()(_fresh())
        label = "bcache" if policy == "lru" else 'bcache(policy="fifo")'
        rows.append(
            _row(
                f"{label} hit (diskcache {eviction})",
                ours,
                theirs,
                f"diskcache.Cache(eviction_policy={eviction!r}).memoize",
                1.0,
            )
        )
    # Defaults side by side (informational): bcache's default policy is lru, which costs
    # diskcache a write per hit; raw memoize's default Cache does not track use.
    ours = bcache(folder_name=_scratch())(_fresh())
    theirs = diskcache.Cache(_scratch()).memoize()(_fresh())
    rows.append(_row("bcache hit, both defaults", ours, theirs, "diskcache.Cache().memoize", None))
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
