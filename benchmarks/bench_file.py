"""File rows: `@fcache` (joblib backend) against raw `joblib.Memory.cache` doing the same job.

Every fcache sits in its default folder under the cache root (HOME is a fresh temporary
folder, no `TWAT_CACHE_*` variable is set); joblib's caches live in folders under that HOME.

- small-int hit (bar 0.5x, DESIGN §4): joblib hashes the arguments through its own pickler,
  checks the function's code and reads the output file; ours digests the key, reads the file,
  checks its authentication and unpickles.
- 8 MB array argument hit (bar 0.2x): both hash the array's bytes (ours: the core's content
  digest; joblib: its hasher) and then read a small result.
- 8 MB array result store + load (bar 1.0x): compute, write and read back an 8 MB array.
- 8 MB array result hit with `mmap_mode="r"` (informational): both map the array from the file.
- scale: one fcache and one joblib cache filled alike (through the decorated functions, the
  same small values) to 10,000 and then 100,000 entries; a hit (a key from the middle of the
  fill) against the same decorator's hit on a cache holding one entry (bar 1.3x, DESIGN §4:
  flat) and against joblib's hit at the same size (bar 0.5x, the fcache hit bar).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from common import named, scratch, size_label
from harness import Comparison

MB8 = 1_000_000  # float64 elements: 8 MB
FILL_FOLDER = "bench-fcache-fill"


def _small(name: str) -> Callable[..., int]:
    """A new function object of its own name, so no two caches share a namespace."""

    def f(a: int, b: int = 2) -> int:
        return a + b

    return named(f, name)


def _total(name: str) -> Callable[[Any], float]:
    def total(arr: Any) -> float:
        return float(arr[0])

    return named(total, name)


def _produce(big: Any, name: str) -> Callable[[int], Any]:
    def produce(x: int) -> Any:
        return big

    return named(produce, name)


def _fill_fn(name: str) -> Callable[[int], dict[str, Any]]:
    def value(i: int) -> dict[str, Any]:
        return {"id": i, "score": i / 7, "label": f"item-{i}"}

    return named(value, name)


class FileFill:
    """One fcache and one raw joblib cache, filled alike; they only ever grow."""

    def __init__(self) -> None:
        import joblib

        from twat_cache import fcache

        self.ours = fcache(folder_name=FILL_FOLDER)(_fill_fn("fill"))
        self.theirs = joblib.Memory(scratch("joblib-fill"), verbose=0).cache(_fill_fn("fill_ref"))
        self.size = 0

    def grow_to(self, n: int) -> None:
        """Store keys until both hold at least `n` entries.

        The two fills run side by side (joblib's in a thread): each store waits on the disk
        much of its time, and the fills are not what is measured, only their result.
        """
        start = self.size

        def fill(func: Callable[[int], Any]) -> None:
            for i in range(start, n):
                func(i)

        worker = threading.Thread(target=fill, args=(self.theirs,))
        worker.start()
        try:
            fill(self.ours)
        finally:
            worker.join()
        self.size = max(self.size, n)


def _scale_rows(quick: bool) -> list[Comparison]:
    from twat_cache import fcache

    fill = FileFill()
    one = fcache(_fill_fn("one"))
    one(0)
    rows = []
    for n in (100, 1000) if quick else (10**4, 10**5):
        grow = functools.partial(fill.grow_to, n)
        key, label = n // 2, size_label(n)
        rows.append(
            Comparison(
                name=f"fcache hit @{label}",
                ours=functools.partial(fill.ours, key),
                theirs=functools.partial(one, 0),
                theirs_name="self@1",
                bar=1.3,
                group="file",
                theirs_doc="the same decorator's hit on a cache holding 1 entry",
                setup=grow,
                repeat=False,  # the fill grows after this row
            )
        )
        rows.append(
            Comparison(
                name=f"fcache hit @{label}",
                ours=functools.partial(fill.ours, key),
                theirs=functools.partial(fill.theirs, key),
                theirs_name="jl",
                bar=0.5,
                group="file",
                setup=grow,
                repeat=False,
            )
        )
    return rows


def comparisons(quick: bool = False) -> list[Comparison]:
    """The fcache rows ([] when joblib, NumPy or the joblib plugin is missing).

    `quick` shrinks the fill (hits at 100 and 1,000 entries) for smoke tests.
    """
    if find_spec("twat_cache_joblib") is None or find_spec("joblib") is None:
        return []
    if find_spec("numpy") is None:
        return []
    import joblib
    import numpy as np

    from twat_cache import fcache

    rows: list[Comparison] = []

    def memory(label: str, **options: Any) -> Any:
        return joblib.Memory(scratch(label), verbose=0, **options)

    # 1. small-int hit
    ours = fcache(_small("hit_small"))
    assert ours.cache_backend == "joblib", ours.cache_backend
    theirs = memory("joblib").cache(_small("hit_small_ref"))
    ours(1, 2)
    theirs(1, 2)
    rows.append(
        Comparison(
            name="fcache hit",
            ours=functools.partial(ours, 1, 2),
            theirs=functools.partial(theirs, 1, 2),
            theirs_name="jl",
            bar=0.5,
            group="file",
            theirs_doc="joblib.Memory(dir).cache; in an @N row, the same fill, same values",
        )
    )

    # 2. hit with an 8 MB array argument
    arg = np.random.default_rng(0).random(MB8)
    ours_arr = fcache(_total("hit_array_arg"))
    theirs_arr = memory("joblib").cache(_total("hit_array_arg_ref"))
    ours_arr(arg)
    theirs_arr(arg)
    rows.append(
        Comparison(
            name="fcache hit, 8 MB array arg",
            ours=functools.partial(ours_arr, arg),
            theirs=functools.partial(theirs_arr, arg),
            theirs_name="jl",
            bar=0.2,
            group="file",
        )
    )

    # 3. store + load of an 8 MB array result
    big = np.random.default_rng(1).random(MB8)
    ours_big = fcache(_produce(big, "store_load"))
    theirs_big = memory("joblib").cache(_produce(big, "store_load_ref"))

    def ours_store_load() -> object:
        ours_big.cache_delete(0)
        ours_big(0)  # miss: compute and store
        return ours_big(0)  # hit: load

    def theirs_store_load() -> object:
        theirs_big.call(0)  # compute and store (joblib's forced call)
        return theirs_big(0)  # hit: load

    ours_store_load()
    theirs_store_load()
    rows.append(
        Comparison(
            name="fcache store+load, 8 MB result",
            ours=ours_store_load,
            theirs=theirs_store_load,
            theirs_name="jl-call",
            bar=1.0,
            group="file",
            theirs_doc="joblib: MemorizedFunc.call(x) (compute and store), then a hit",
        )
    )

    # 4. memory-mapped hit of an 8 MB array result
    ours_map = fcache(mmap_mode="r")(_produce(big, "mmap"))
    theirs_map = memory("joblib", mmap_mode="r").cache(_produce(big, "mmap_ref"))
    ours_map(0)
    theirs_map(0)
    rows.append(
        Comparison(
            name='fcache(mmap_mode="r") hit, 8 MB',
            ours=functools.partial(ours_map, 0),
            theirs=functools.partial(theirs_map, 0),
            theirs_name="jl-mmap",
            bar=None,
            group="file",
            theirs_doc="joblib.Memory(dir, mmap_mode='r').cache",
        )
    )
    rows += _scale_rows(quick)
    return rows
