"""Disk rows: `@bcache` against raw `diskcache.Cache.memoize`, and klepto against its archives.

Every twat-cache here sits where a user's would: in its default folder under the cache root
(HOME is a fresh temporary folder, no `TWAT_CACHE_*` variable is set), with the secret in its
default place. The raw caches live in folders under the same HOME.

Hits: both sides of a diskcache row use the same eviction policy, since that decides what a
hit costs: diskcache's least-recently-used and least-frequently-used policies write on every
hit (a transaction), least-recently-stored (its default) does not. `bcache` without `maxsize`
keeps diskcache's default order for its 1 GiB backstop, so the first row compares defaults
with defaults; with a `maxsize`, lru and lfu are tracked and compared with a raw Cache
tracking the same.

Scale (DESIGN §4: flat from 1 to 100,000 entries): one bcache and one raw memoize are filled
alike, through the decorated functions, with the same small values (a dict of an int, a
float and a short string), and only ever grow: 10,000 entries, then 20,000, then 100,000.
At each size a hit (a key from the middle of the fill) is compared with the same decorator's
hit on a cache holding one entry (bar 1.3x) and with the raw memoize's hit at the same size
(bar 1.0x). At 20,000 entries the two folders are compared by files (os.walk; bar: at most
1,100 more than raw diskcache's) and bytes on disk (allocated blocks; bar 1.2x), and at
20,000 and 100,000 the cost of storing new keys (a miss: compute, store) is compared with the
same number of new keys per slice on both sides, so both caches hold the same count
throughout (bar 1.2x).

`bcache(front=128)` (issue 17) against an `@mcache` hit, bar 2x, when the option exists.

The klepto rows are informational: ours reads a sealed entry (HMAC verified, then unpickled)
from klepto's SQL or directory archive; theirs is the same archive's own lookup of a value it
pickled itself (dill) -- no authentication.
"""

from __future__ import annotations

import functools
import itertools
import os
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from common import count_files, disk_bytes, named, scratch, size_label
from harness import Comparison

FILL_FOLDER = "bench-bcache-fill"


def _fresh(name: str) -> Callable[..., int]:
    """A new function object of its own name, so no two caches share a namespace."""

    def f(a: int, b: int = 2) -> int:
        return a + b

    return named(f, name)


def _fill_fn(name: str) -> Callable[[int], dict[str, Any]]:
    """The function of the fills: the same small value for a key on both sides."""

    def value(i: int) -> dict[str, Any]:
        return {"id": i, "score": i / 7, "label": f"item-{i}"}

    return named(value, name)


def _row(
    name: str,
    ours: Callable[..., Any],
    theirs: Callable[..., Any],
    theirs_name: str,
    bar: float | None,
    theirs_doc: str,
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
        theirs_doc=theirs_doc,
    )


def _hit_rows() -> list[Comparison]:
    import diskcache

    from twat_cache import bcache

    cases = (
        (
            "bcache hit",
            {},
            None,
            "dc",
            "diskcache.Cache(dir).memoize(), its defaults; in an @N row (N entries), the "
            "same fill, same values; files and disk use counted with os.walk",
        ),
        (
            "bcache(maxsize=1000) hit",
            {"maxsize": 1000},
            "least-recently-used",
            "dc-lru",
            "diskcache.Cache(dir, eviction_policy='least-recently-used').memoize()",
        ),
        (
            'bcache(1000, policy="lfu") hit',
            {"maxsize": 1000, "policy": "lfu"},
            "least-frequently-used",
            "dc-lfu",
            "diskcache.Cache(dir, eviction_policy='least-frequently-used').memoize()",
        ),
    )
    rows = []
    for i, (name, options, eviction, code, doc) in enumerate(cases):
        fn = _fresh(f"hit_{i}")
        ours = bcache(**options)(fn) if options else bcache(fn)
        assert ours.cache_backend == "diskcache", ours.cache_backend
        if eviction is None:
            raw = diskcache.Cache(scratch("diskcache"))
        else:
            raw = diskcache.Cache(scratch("diskcache"), eviction_policy=eviction)
        rows.append(_row(name, ours, raw.memoize()(_fresh(f"hit_{i}_ref")), code, 1.0, doc))
    return rows


def _front_row() -> Comparison:
    """`bcache(front=128)` hot hit vs an `@mcache` hit (issue 17), or n/a without `front`."""
    from twat_cache import bcache, mcache

    name = "bcache(front=128) hot hit"
    try:
        decorator = bcache(front=128)  # type: ignore[call-overload]
    except (TypeError, ValueError) as exc:
        return Comparison.skipped(
            name,
            f"not available: bcache(front=...) raised {type(exc).__name__}",
            group="disk",
            theirs_name="mcache",
        )
    ours = decorator(_fresh("front"))
    theirs = mcache(_fresh("front_ref"))
    for _ in range(3):  # store, then hits that fill and use the front tier
        ours(1, 2)
        theirs(1, 2)
    return Comparison(
        name=name,
        ours=functools.partial(ours, 1, 2),
        theirs=functools.partial(theirs, 1, 2),
        theirs_name="mcache",
        bar=2.0,
        group="disk",
        theirs_doc="@mcache hit (default backend), same function",
    )


class DiskFill:
    """One bcache and one raw diskcache memoize, filled alike; they only ever grow."""

    def __init__(self) -> None:
        import diskcache

        from twat_cache import bcache, get_cache_path

        self.ours = bcache(folder_name=FILL_FOLDER)(_fill_fn("fill"))
        self.folder = str(get_cache_path(FILL_FOLDER))
        self.raw_dir = scratch("diskcache-fill")
        self.theirs = diskcache.Cache(self.raw_dir).memoize()(_fill_fn("fill_ref"))
        self.size = 0
        # New keys for the store rows: never a key of the fill, the same sequence both sides.
        self.ours_new = itertools.count(10**9)
        self.theirs_new = itertools.count(10**9)

    def grow_to(self, n: int) -> None:
        """Store keys until both hold at least `n` fill entries (stores add their own)."""
        ours, theirs = self.ours, self.theirs
        for i in range(self.size, n):
            ours(i)
            theirs(i)
        self.size = max(self.size, n)

    def store_ours(self) -> object:
        return self.ours(next(self.ours_new))

    def store_theirs(self) -> object:
        return self.theirs(next(self.theirs_new))


def _scale_rows(quick: bool) -> list[Comparison]:
    """Hits at 10k and 100k entries, files and bytes at 20k, stores at 20k and 100k."""
    from twat_cache import bcache

    hit_sizes, store_sizes = (
        ((100, 1000), (200, 1000)) if quick else ((10**4, 10**5), (20_000, 10**5))
    )
    fill = DiskFill()
    one = bcache(_fill_fn("one"))
    one(0)
    one_hit = functools.partial(one, 0)
    stores = 5 if quick else 25

    def hit_rows(n: int) -> list[Comparison]:
        grow = functools.partial(fill.grow_to, n)
        key = n // 2
        label = size_label(n)
        return [
            Comparison(
                name=f"bcache hit @{label}",
                ours=functools.partial(fill.ours, key),
                theirs=one_hit,
                theirs_name="self@1",
                bar=1.3,
                group="disk",
                theirs_doc="the same decorator's hit on a cache holding 1 entry",
                setup=grow,
                repeat=False,  # the fill grows after this row
            ),
            Comparison(
                name=f"bcache hit @{label}",
                ours=functools.partial(fill.ours, key),
                theirs=functools.partial(fill.theirs, key),
                theirs_name="dc",
                bar=1.0,
                group="disk",
                setup=grow,
                repeat=False,
            ),
        ]

    def store_row(n: int) -> Comparison:
        return Comparison(
            name=f"bcache miss+store @{size_label(n)}",
            ours=fill.store_ours,
            theirs=fill.store_theirs,
            theirs_name="dc",
            bar=1.2,
            group="disk",
            setup=functools.partial(fill.grow_to, n),
            number=stores,
            repeat=False,
        )

    def files() -> tuple[float, float]:
        return float(count_files(fill.folder)), float(count_files(fill.raw_dir))

    def used() -> tuple[float, float]:
        return float(disk_bytes(fill.folder)), float(disk_bytes(fill.raw_dir))

    n20 = store_sizes[0]
    return [
        *hit_rows(hit_sizes[0]),
        Comparison.untimed(
            f"bcache files @{size_label(n20)}",
            files,
            "dc",
            unit="files",
            limit=1100,
            group="disk",
            setup=functools.partial(fill.grow_to, n20),
        ),
        Comparison.untimed(
            f"bcache disk use @{size_label(n20)}",
            used,
            "dc",
            unit="bytes",
            bar=1.2,
            group="disk",
            setup=functools.partial(fill.grow_to, n20),
        ),
        store_row(n20),
        *hit_rows(hit_sizes[1]),
        store_row(store_sizes[1]),
    ]


def _klepto_rows() -> list[Comparison]:
    from klepto.archives import dir_archive, sqltable_archive

    from twat_cache import bcache, ucache

    rows = []
    ours_sql = ucache(folder_name="bench-klepto-sql", preferred_engine="klepto")(
        _fresh("klepto_sql")
    )
    db = os.path.join(scratch("klepto-sql"), "raw.sqlite")
    archive = sqltable_archive(f"sqlite:///{db}?table=memo", cached=False)
    rows.append(
        _row(
            "ucache(klepto) hit",
            ours_sql,
            _archive_lookup(archive),
            "kl-sql",
            None,
            "klepto sqltable_archive.get (sqlite, dill), no authentication",
        )
    )
    ours_dir = bcache(sql_backend=False)(_fresh("klepto_dir"))
    folder = dir_archive(os.path.join(scratch("klepto-dir"), "raw"), cached=False)
    rows.append(
        _row(
            "bcache(sql_backend=False) hit",
            ours_dir,
            _archive_lookup(folder),
            "kl-dir",
            None,
            "klepto dir_archive.get (dill), no authentication",
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


def comparisons(quick: bool = False) -> list[Comparison]:
    """Every disk row whose libraries are installed ([] when neither diskcache nor klepto is).

    `quick` shrinks the fills (hits at 100 and 1,000 entries, files at 200) for smoke tests.
    """
    have_diskcache = find_spec("twat_cache_diskcache") is not None and find_spec("diskcache")
    have_klepto = find_spec("twat_cache_klepto") is not None and find_spec("klepto")
    rows: list[Comparison] = []
    if have_diskcache:
        rows += _hit_rows()
        rows.append(_front_row())
        rows += _scale_rows(quick)
    if have_klepto:
        rows += _klepto_rows()
    return rows
