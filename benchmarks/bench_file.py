"""File rows: `@fcache` (joblib backend) against raw `joblib.Memory.cache` doing the same job.

- small-int hit (bar 0.5x, DESIGN section 4): joblib hashes the arguments through its own
  pickler, checks the function's code and reads the output file; ours digests the key, reads
  the file, checks its HMAC trailer and SHA-256, and unpickles (with the C unpickler when the
  payload holds no array).
- 8 MB array argument hit (informational): both hash the array's bytes (ours: the core's
  content digest; joblib: its hasher) and then read a small result.
- 8 MB array result store + load (informational): compute, write and read back an 8 MB array.
  Ours fsyncs every entry and hashes it on write and on read; joblib does neither.
- 8 MB array result hit with `mmap_mode="r"` (informational): both map the array from the file;
  ours verifies the file's bytes before mapping it.

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

MB8 = 1_000_000  # float64 elements: 8 MB


def _scratch() -> str:
    path = tempfile.mkdtemp(prefix="twat-cache-bench-file-")
    atexit.register(shutil.rmtree, path, True)
    return path


def _small() -> Callable[..., int]:
    """A new function object each time, so no two caches share a namespace."""

    def f(a: int, b: int = 2) -> int:
        return a + b

    return f


def _total() -> Callable[[Any], float]:
    def total(arr: Any) -> float:
        return float(arr[0])

    return total


def _produce(big: Any) -> Callable[[int], Any]:
    def produce(x: int) -> Any:
        return big

    return produce


def comparisons() -> list[Comparison]:
    """The fcache rows ([] when joblib or the joblib plugin is missing)."""
    if find_spec("twat_cache_joblib") is None or find_spec("joblib") is None:
        return []
    if find_spec("numpy") is None:
        return []
    import joblib
    import numpy as np

    from twat_cache import fcache

    os.environ.setdefault("TWAT_CACHE_DIR", _scratch())
    rows: list[Comparison] = []

    # 1. small-int hit
    ours = fcache(folder_name=_scratch())(_small())
    assert ours.cache_backend == "joblib", ours.cache_backend
    theirs = joblib.Memory(_scratch(), verbose=0).cache(_small())
    ours(1, 2)
    theirs(1, 2)
    rows.append(
        Comparison(
            name="fcache hit, small int arguments",
            ours=functools.partial(ours, 1, 2),
            theirs=functools.partial(theirs, 1, 2),
            theirs_name="joblib.Memory.cache",
            bar=0.5,
            group="file",
        )
    )

    # 2. hit with an 8 MB array argument
    arg = np.random.default_rng(0).random(MB8)
    ours_arr = fcache(folder_name=_scratch())(_total())
    theirs_arr = joblib.Memory(_scratch(), verbose=0).cache(_total())
    ours_arr(arg)
    theirs_arr(arg)
    rows.append(
        Comparison(
            name="fcache hit, 8 MB array argument",
            ours=functools.partial(ours_arr, arg),
            theirs=functools.partial(theirs_arr, arg),
            theirs_name="joblib.Memory.cache",
            bar=None,
            group="file",
        )
    )

    # 3. store + load of an 8 MB array result
    big = np.random.default_rng(1).random(MB8)
    ours_big = fcache(folder_name=_scratch())(_produce(big))
    theirs_big = joblib.Memory(_scratch(), verbose=0).cache(_produce(big))

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
            name="fcache store + load, 8 MB array result",
            ours=ours_store_load,
            theirs=theirs_store_load,
            theirs_name="joblib.Memory.cache (call + hit)",
            bar=None,
            group="file",
        )
    )

    # 4. memory-mapped hit of an 8 MB array result
    ours_map = fcache(folder_name=_scratch(), mmap_mode="r")(_produce(big))
    theirs_map = joblib.Memory(_scratch(), mmap_mode="r", verbose=0).cache(_produce(big))
    ours_map(0)
    theirs_map(0)
    rows.append(
        Comparison(
            name='fcache(mmap_mode="r") hit, 8 MB array result',
            ours=functools.partial(ours_map, 0),
            theirs=functools.partial(theirs_map, 0),
            theirs_name='joblib.Memory(mmap_mode="r").cache',
            bar=None,
            group="file",
        )
    )
    return rows
