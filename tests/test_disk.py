"""Disk caching on diskcache and klepto (SQL and directory archives), in one process.

Every test runs on each disk backend that is installed and skips the others. Entries are
tampered with by editing the stored bytes directly (the SQLite rows, the value files).
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading
import time
from pathlib import Path

import pytest

import twat_cache as tc
from conftest import has, needs
from test_disk_helpers import backend_params, decorator, rewrite_entries, stored_blobs
from twat_cache.locks import StripedLocks
from twat_cache.testing import store_of

pytestmark = pytest.mark.skipif(
    not (has("twat_cache_diskcache") or has("twat_cache_klepto")),
    reason="needs diskcache or klepto",
)

BIG = 100_000  # bytes: above diskcache's 32 KiB threshold, so the value lives in its own file


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_hits_misses_none_and_exceptions(backend, cache_root):
    calls = []

    @decorator(backend, "basic")
    def f(x, y=2):
        calls.append((x, y))
        if x < 0:
            raise ValueError("negative")
        return None if x == 0 else x * y

    assert f.cache_backend == backend.split("-")[0]
    assert f(3) == 6
    assert f(3) == 6
    assert f(x=3, y=2) == 6  # same call, same entry
    assert f(0) is None
    assert f(0) is None  # None is cached
    for _ in range(2):
        with pytest.raises(ValueError, match="negative"):
            f(-1)
    assert calls == [(3, 2), (0, 2), (-1, 2), (-1, 2)]  # exceptions are never cached
    assert f.cache_info()[:2] == (3, 4)
    assert f.cache_info().currsize == 2
    assert f.cache_delete(3) is True
    assert f.cache_delete(3) is False
    assert f(3) == 6
    assert calls[-1] == (3, 2)


def test_unhashable_arguments(backend):
    calls = []

    @decorator(backend, "unhashable")
    def f(items, options):
        calls.append(1)
        return sum(items) + len(options)

    assert f([1, 2, 3], {"a": 1}) == 7
    assert f([1, 2, 3], {"a": 1}) == 7
    assert f([1, 2, 4], {"a": 1}) == 8
    assert len(calls) == 2


def test_files_and_folders_are_private(backend, cache_root):
    @decorator(backend, "private")
    def f(x):
        return b"v" * (BIG if x else 10)

    f(0)
    f(1)
    folder = cache_root / "private"
    seen = 0
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        else:
            assert mode == 0o600, path
        seen += 1
    assert seen > 3


def test_two_functions_in_one_folder_never_share(backend, cache_root):
    @decorator(backend, "shared")
    def f(x):
        return ("f", x)

    @decorator(backend, "shared")
    def g(x):
        return ("g", x)

    assert f(1) == ("f", 1)
    assert g(1) == ("g", 1)
    assert f(1) == ("f", 1)
    assert g.cache_info().currsize == 1
    f.cache_clear()  # clears f's entries only
    assert f.cache_info().currsize == 0
    assert g.cache_info().currsize == 1
    assert g(1) == ("g", 1)
    assert g.cache_info().hits == 1


def test_maxsize_counts_entries_and_evicts_the_oldest(backend):
    calls = []

    @decorator(backend, "bounded", maxsize=3, policy="fifo" if backend == "diskcache" else "lru")
    def f(x):
        calls.append(x)
        return bytes([x]) * BIG  # large values: a byte-based limit would count differently

    for x in range(5):
        f(x)
    assert f.cache_info().currsize == 3
    calls.clear()
    for x in (2, 3, 4):
        f(x)
    assert calls == []
    f(0)  # evicted: recomputed
    assert calls == [0]
    assert f.cache_info().currsize == 3


def test_lru_keeps_what_is_used(backend):
    calls = []

    @decorator(backend, "lru", maxsize=2, policy="lru")
    def f(x):
        calls.append(x)
        return x

    f(1)
    time.sleep(0.01)  # distinct timestamps for the directory archive's order
    f(2)
    time.sleep(0.01)
    f(1)  # a hit: 1 is now the most recently used
    time.sleep(0.01)
    f(3)  # evicts 2, not 1
    calls.clear()
    f(1)
    assert calls == []
    f(2)
    assert calls == [2]


def test_ttl_expires_entries(backend):
    calls = []

    @decorator(backend, "ttl", ttl=0.5)
    def f(x):
        calls.append(x)
        return x

    f(1)
    f(1)
    assert calls == [1]
    time.sleep(0.7)
    f(1)
    assert calls == [1, 1]


def _flip_last(blob: bytes) -> bytes:
    return blob[:-1] + bytes([blob[-1] ^ 1])


CHANGES = {
    "flipped": _flip_last,
    "truncated": lambda blob: blob[: len(blob) // 2],
    "header-only": lambda blob: blob[:10],
    "empty": lambda blob: b"",
    "garbage": lambda blob: b"not a cache entry at all",
}


@pytest.mark.parametrize("change", list(CHANGES), ids=list(CHANGES))
@pytest.mark.parametrize("size", [10, BIG], ids=["small", "large"])
def test_tampered_or_truncated_entry_is_a_logged_miss(backend, cache_root, caplog, change, size):
    calls = []

    @decorator(backend, "tamper")
    def f(x):
        calls.append(x)
        return b"x" * size

    assert f(1) == b"x" * size
    assert rewrite_entries(backend, cache_root / "tamper", CHANGES[change]) == 1
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert f(1) == b"x" * size  # recomputed, never a crash
    assert calls == [1, 1]
    assert any("corrupt" in r.getMessage() for r in caplog.records)
    assert f(1) == b"x" * size  # the entry was overwritten with a good one
    assert calls == [1, 1]


def test_entry_copied_under_another_key_is_refused(backend, cache_root):
    calls = []

    @decorator(backend, "swap")
    def f(x):
        calls.append(x)
        return x * 10

    f(1)
    f(2)
    blobs = stored_blobs(backend, cache_root / "swap")
    assert len(blobs) == 2
    one = blobs[0]
    rewrite_entries(backend, cache_root / "swap", lambda _blob: one)  # both rows hold one envelope
    calls.clear()
    assert (f(1), f(2)) == (10, 20)
    assert len(calls) == 1  # the entry under the other key was refused and recomputed


def test_secret_is_required_to_read(backend, cache_root, monkeypatch):
    calls = []

    @decorator(backend, "secret")
    def f(x):
        calls.append(x)
        return x

    f(1)
    monkeypatch.setenv("TWAT_CACHE_SECRET", "another secret")
    f(1)
    assert calls == [1, 1]


@needs("diskcache")
def test_diskcache_never_unpickles_a_forged_row(cache_root, tmp_path):
    import pickle
    import sqlite3

    canary = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (canary,))

    @tc.bcache(folder_name="forged")
    def f(x):
        return x

    f(1)
    (db,) = (cache_root / "forged").glob("dc-*/cache.db")
    con = sqlite3.connect(db)
    con.execute("UPDATE Cache SET mode = 4, value = ?", (pickle.dumps(Exploit()),))  # MODE_PICKLE
    con.commit()
    con.close()
    assert f(1) == 1
    assert not canary.exists()


def test_unpicklable_result_is_returned_with_one_warning(backend, caplog):
    calls = []

    @decorator(backend, "unpicklable")
    def f(x):
        calls.append(x)
        return threading.Lock()

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert f(1) is not None
        assert f(2) is not None
        assert f(1) is not None
    assert calls == [1, 2, 1]
    warnings = [r for r in caplog.records if "could not store" in r.getMessage()]
    assert len(warnings) == 1


def test_failing_write_is_returned_with_one_warning(backend, monkeypatch, caplog):
    @decorator(backend, "failing")
    def f(x):
        return x + 1

    store = store_of(f)
    store = getattr(store, "inner", store)

    def refuse(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_write", refuse)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert [f(1), f(2), f(1)] == [2, 3, 2]
    assert len([r for r in caplog.records if "could not store" in r.getMessage()]) == 1


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0, reason="root ignores modes")
def test_read_only_folder_still_answers(backend, cache_root, caplog):
    @decorator(backend, "readonly")
    def f(x):
        return b"r" * (BIG + x)

    f(0)
    folder = cache_root / "readonly"
    paths = [folder, *folder.rglob("*")]
    for path in paths:
        path.chmod(0o500 if path.is_dir() else 0o400)
    try:
        with caplog.at_level(logging.WARNING, logger="twat_cache"):
            assert f(1) == b"r" * (BIG + 1)
            assert f(2) == b"r" * (BIG + 2)
        assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 2
    finally:
        for path in paths:
            path.chmod(0o700 if path.is_dir() else 0o600)


@pytest.mark.skipif(not has("cryptography"), reason="needs cryptography")
def test_encrypt_true_stores_ciphertext(backend, cache_root):
    calls = []

    @decorator(backend, "encrypted", encrypt=True)
    def f(x):
        calls.append(x)
        return "plain-text-marker" * 3

    assert f(1) == "plain-text-marker" * 3
    assert f(1) == "plain-text-marker" * 3
    assert calls == [1]
    (blob,) = stored_blobs(backend, cache_root / "encrypted")
    assert b"plain-text-marker" not in blob


def test_encrypt_without_cryptography_is_a_clear_error(backend, monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography", None)
    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)
    with pytest.raises(ImportError, match="cryptography"):

        @decorator(backend, "noencrypt", encrypt=True)
        def f(x):
            return x


def test_clear_cache_and_get_stats(backend, cache_root):
    calls = []

    @decorator(backend, "area-a")
    def a(x):
        calls.append(("a", x))
        return x

    @decorator(backend, "area-b")
    def b(x):
        calls.append(("b", x))
        return x

    a(1)
    b(1)
    outsider = cache_root / "not-a-cache"
    outsider.mkdir()
    (outsider / "keep.txt").write_text("mine")
    stats = tc.get_stats()
    mine = {
        k: v
        for k, v in stats.items()
        if v["folder"] in {str(cache_root / "area-a"), str(cache_root / "area-b")}
    }
    assert len(mine) == 2
    for entry in mine.values():
        assert entry["backend"] == backend.split("-")[0]
        assert entry["size"] == 1
        assert entry["misses"] == 1
    tc.clear_cache("area-a")
    assert a.cache_info().currsize == 0
    assert b.cache_info().currsize == 1
    tc.clear_cache()
    assert b.cache_info().currsize == 0
    assert (outsider / "keep.txt").read_text() == "mine"
    calls.clear()
    a(1)
    b(1)
    assert calls == [("a", 1), ("b", 1)]


def test_store_offers_flight_locks(backend):
    @decorator(backend, "locks")
    def f(x):
        return x

    store = store_of(f)
    digest = "0" * 64  # persistent stores are keyed by the core's disk digests
    lock = store.flight_lock(digest)
    assert lock is not None
    with lock:
        pass
    alock = store.aflight_lock(digest)
    assert alock is not None

    async def use() -> None:
        async with alock:
            pass

    asyncio.run(use())


def test_coroutine_results_persist(backend):
    calls = []

    @decorator(backend, "coro")
    async def f(x):
        calls.append(x)
        return x * 2

    async def run() -> list[int]:
        return [await f(2), await f(2)]

    assert asyncio.run(run()) == [4, 4]
    assert calls == [2]


def test_threads_share_one_store(backend):
    calls = []

    @decorator(backend, "threads")
    def f(x):
        calls.append(x)
        time.sleep(0.05)
        return x

    results: list[int] = []
    threads = [threading.Thread(target=lambda i=i: results.append(f(i % 3))) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(i % 3 for i in range(12))
    assert sorted(calls) == [0, 1, 2]


def test_prune_drops_expired_entries(backend):
    @decorator(backend, "prune", ttl=0.3)
    def f(x):
        return x

    @decorator(backend, "prune")
    def g(x):
        return x

    f(1)
    f(2)
    g(1)
    store = store_of(f)
    store = getattr(store, "inner", store)  # klepto's ttl comes from the core's TTLStore
    time.sleep(0.5)
    assert store.prune() == 2
    assert store_of(g).prune() == 0  # no ttl: nothing expires
    assert g.cache_info().currsize == 1


def test_clear_all_empties_the_folder_for_every_function(backend):
    @decorator(backend, "everyone")
    def f(x):
        return x

    @decorator(backend, "everyone")
    def g(x):
        return x

    f(1)
    g(1)
    store_of(f).clear_all()
    assert f.cache_info().currsize == 0
    assert g.cache_info().currsize == 0


def test_two_functions_with_one_namespace_in_one_folder_warn(backend, caplog):
    def make(offset):
        def twin(x):  # both are make.<locals>.twin over the same value: the same namespace
            return x + offset

        return twin

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        first = decorator(backend, "twins")(make(0))
        second = decorator(backend, "twins")(make(0))  # while `first` is alive
        other = decorator(backend, "twins")(make(1))  # another closure value: its own entries
    assert first is not second
    assert [r.getMessage() for r in caplog.records].count(
        next(r.getMessage() for r in caplog.records if "share cache entries" in r.getMessage())
    ) == 1
    assert (first(1), other(1)) == (1, 2)


def test_lock_folder_that_cannot_be_made_still_answers(backend, tmp_path, caplog):
    calls = []

    @decorator(backend, "nolock")
    def f(x):
        calls.append(x)
        return x

    @decorator(backend, "nolock")
    async def g(x):
        calls.append(x)
        return x

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for func in (f, g):
        store = store_of(func)
        store = getattr(store, "inner", store)
        # a lock file that cannot be created, even by root
        store.flights = StripedLocks(blocker / "flights.lock", name=store.name)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert [f(1), f(2), f(1)] == [1, 2, 1]
        assert asyncio.run(g(3)) == 3
    assert calls == [1, 2, 3]
    assert len([r for r in caplog.records if "no cross-process lock" in r.getMessage()]) == 2


@needs("diskcache")
@pytest.mark.parametrize(
    ("options", "eviction"),
    [
        ({}, "least-recently-stored"),  # no maxsize: only the 1 GiB backstop, hits stay reads
        ({"maxsize": 10}, "least-recently-used"),
        ({"maxsize": 10, "policy": "lfu"}, "least-frequently-used"),
        ({"maxsize": 10, "policy": "fifo"}, "least-recently-stored"),
    ],
)
def test_diskcache_policy_mapping(options, eviction):
    @tc.bcache(folder_name="policies", **options)
    def f(x):
        return x

    assert f.cache_backend == "diskcache"
    assert f.cache.eviction_policy == eviction
    assert f.cache.size_limit == 2**30
