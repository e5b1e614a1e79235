"""Timing of the key encoder's fast paths (a script, not a test): min/min of interleaved slices.

Run: .nox/tests-all/bin/python benchmarks/time_keys.py
"""

from __future__ import annotations

import threading
import time

import cachetools
import numpy as np

import twat_cache as tc
from twat_cache.encode import disk_digest, memory_key
from twat_cache.keys import stable_digest

SLICES = 40


def per_call(fn, arg, n):
    best = float("inf")
    for _ in range(SLICES):
        t = time.perf_counter()
        for _ in range(n):
            fn(arg)
        best = min(best, (time.perf_counter() - t) / n)
    return best


def pair(name, ours, theirs, arg, n=2000, bar=None, their_arg=None):
    their_arg = arg if their_arg is None else their_arg
    # interleave: alternate slices of both sides
    a = b = float("inf")
    for _ in range(SLICES):
        t = time.perf_counter()
        for _ in range(n):
            ours(arg)
        a = min(a, (time.perf_counter() - t) / n)
        t = time.perf_counter()
        for _ in range(n):
            theirs(their_arg)
        b = min(b, (time.perf_counter() - t) / n)
    verdict = "" if bar is None else ("PASS" if a / b <= bar else "FAIL")
    times = f"ours {a * 1e9:8.0f} ns  theirs {b * 1e9:8.0f} ns"
    print(f"{name:60s} {times}  ratio {a / b:5.2f}x {verdict}")


def main():
    lst = list(range(100))

    @tc.mcache
    def f_list(x):
        return 1

    @cachetools.cached(cachetools.LRUCache(maxsize=2**30))
    def ct_tuple(x):
        return 1

    tup = tuple(lst)
    f_list(lst)
    ct_tuple(tup)
    print("backend:", f_list.cache_backend)
    pair(
        "mcache hit, list of 100 ints vs cachetools.cached, tuple",
        f_list,
        ct_tuple,
        lst,
        bar=3.0,
        their_arg=tup,
    )

    @cachetools.cached(cachetools.LRUCache(maxsize=2**30), lock=threading.Lock())
    def ct_tuple_locked(x):
        return 1

    ct_tuple_locked(tup)
    pair(
        "mcache hit, list of 100 ints vs cachetools.cached+lock, tuple",
        f_list,
        ct_tuple_locked,
        lst,
        bar=3.0,
        their_arg=tup,
    )

    # numpy: hand-written dict memo
    arr = np.arange(1000, dtype=np.float64)
    memo = {}

    def hand(a):
        k = (a.dtype.str, a.shape, a.tobytes())
        try:
            return memo[k]
        except KeyError:
            memo[k] = v = 1
            return v

    @tc.mcache
    def f_arr(a):
        return 1

    hand(arr)
    f_arr(arr)
    pair("mcache hit, 1,000-element array vs hand dict memo", f_arr, hand, arr, bar=1.5)

    # encoder alone
    for label, key in [
        ("(1,)", (1,)),
        ("(1, 'abc', 2.5)", (1, "abc", 2.5)),
        ("((1, 2), 'x', None, True)", ((1, 2), "x", None, True)),
        ("(list of 100 ints,)", (lst,)),
        ("({'a': 1, 'b': [1, 2]},)", ({"a": 1, "b": [1, 2]},)),
    ]:
        t = per_call(lambda k: disk_digest(k, b"mod:f"), key, 2000)
        print(f"disk_digest{label:40s} {t * 1e9:8.0f} ns")
    for label, key in [
        ("(list of 100 ints,)", (lst,)),
        ("(1000-element array,)", (arr,)),
        ("({'a': 1, 'b': [1, 2]},)", ({"a": 1, "b": [1, 2]},)),
        ("([[1], [2], [3]],)", ([[1], [2], [3]],)),
    ]:
        t = per_call(memory_key, key, 2000)
        print(f"memory_key{label:41s} {t * 1e9:8.0f} ns")
    lam = lambda v: v + 1  # noqa: E731
    t = per_call(lambda k: disk_digest(k, b"mod:f"), (lam, 3), 2000)
    print(f"disk_digest{'(lambda, 3)':40s} {t * 1e9:8.0f} ns")
    t = per_call(lambda k: stable_digest("mod:f", k), (1, "abc"), 2000)
    print(f"stable_digest{'(1, abc)':38s} {t * 1e9:8.0f} ns")


if __name__ == "__main__":
    main()
