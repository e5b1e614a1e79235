"""The disk stores on the seam (issues 13 and 17): recovery, leftovers, expiry, bounds, verify.

Every test runs on each disk store it applies to: diskcache, klepto's SQL archive (kind "disk")
and klepto's directory archive (kind "file"); a store whose plugin is not installed is skipped.
Entries are damaged by editing the stored bytes directly. The full-disk test mounts a small
tmpfs (it needs root; skipped otherwise) under pytest's temporary folder.
"""

from __future__ import annotations

import gc
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import twat_cache as tc
from conftest import has, needs
from helpers import dead_pid, modes_under, python
from test_disk_helpers import backend_params, decorator, rewrite_entries, stored_blobs
from twat_cache.secret import load_secret
from twat_cache.testing import FakeClock, store_of
from twat_cache.ttl import TTLStore
from twat_cache.writers import HOST

pytestmark = pytest.mark.skipif(
    not (has("twat_cache_diskcache") or has("twat_cache_klepto")),
    reason="needs diskcache or klepto",
)

POLICIES = {
    "diskcache": ("fifo", "lru", "lfu"),
    "klepto-sql": ("fifo", "lru"),
    "klepto-dir": ("fifo", "lru"),
}


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def inner(f: object) -> object:
    """The backend's own store behind a decorated function (under a TTL layer, if any)."""
    store = store_of(f)
    return getattr(store, "inner", store)


def _is_ours(blob: bytes) -> bool:
    return blob[5:13] == load_secret().tag


# -- exact expiry: the envelope's deadline ---------------------------------------------------------


@pytest.mark.timeout(60)
def test_ttl_is_exact_through_the_entrys_deadline(backend):
    calls = []
    with FakeClock() as clock:

        @decorator(backend, "exact", ttl=100)
        def f(x):
            calls.append(x)
            return x

        assert f(1) == 1
        clock.advance(99.5)
        assert f(1) == 1
        assert calls == [1]
        clock.advance(1)  # past the deadline; the library's own expiry has not come yet
        assert f(1) == 1
        assert calls == [1, 1]
        assert f(1) == 1
        assert calls == [1, 1]
    store = store_of(f)
    assert store.handles_ttl
    assert not isinstance(store, TTLStore)  # the store expires entries itself


@pytest.mark.timeout(60)
def test_len_is_read_only_and_prune_collects_expired_entries(backend, cache_root):
    @decorator(backend, "counting", ttl=0.2)
    def f(x):
        return x

    f(1)
    f(2)
    time.sleep(1.2)  # past the ttl, and past diskcache's own expiry (rounded up to 1 s)
    folder = cache_root / "counting"
    assert len(stored_blobs(backend, folder)) == 2
    for _ in range(3):
        # expired entries are counted until they are collected: counting changes nothing
        assert f.cache_info().currsize == 2
        assert len(store_of(f)) == 2
    assert len(stored_blobs(backend, folder)) == 2
    assert tc.get_stats()  # get_stats counts too
    assert len(stored_blobs(backend, folder)) == 2
    assert store_of(f).prune() == 2
    assert f.cache_info().currsize == 0
    assert stored_blobs(backend, folder) == []


@pytest.mark.timeout(60)
def test_prune_never_drops_another_secrets_entries(backend, cache_root, monkeypatch):
    with FakeClock() as clock:

        @decorator(backend, "foreign-ttl", ttl=10)
        def f(x):
            return x

        monkeypatch.setenv("TWAT_CACHE_SECRET", "another process's secret")
        f(1)
        monkeypatch.delenv("TWAT_CACHE_SECRET")
        f(2)
        clock.advance(60)
        assert store_of(f).prune() == 1  # ours
        assert len(stored_blobs(backend, cache_root / "foreign-ttl")) == 1
        monkeypatch.setenv("TWAT_CACHE_SECRET", "another process's secret")
        assert store_of(f).prune() == 1  # its owner collects it
    assert stored_blobs(backend, cache_root / "foreign-ttl") == []


# -- bounds: max_bytes and maxsize by policy, the newest entry always survives --------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("policy", ["fifo", "lru", "lfu"])
def test_max_bytes_bounds_the_sealed_bytes_by_policy(backend, policy):
    if policy not in POLICIES[backend]:
        pytest.skip(f"{backend} does not honour {policy}")
    calls = []

    @decorator(backend, f"bytes-{policy}", max_bytes=1_000_000, policy=policy)
    def f(x):
        calls.append(x)
        return bytes([x]) * 300_000

    assert f.cache_backend == backend.split("-")[0]
    for x in range(3):
        f(x)
        time.sleep(0.01)
    if policy != "fifo":
        f(0)  # used (lru), and more often (lfu): 1 is now the first to go
        f(0)
        f(2)
    store = inner(f)
    assert 900_000 < store.nbytes() <= 1_000_000
    f(3)  # over the bound: one entry goes
    assert f.cache_info().currsize == 3
    assert 900_000 < store.nbytes() <= 1_000_000
    evicted = 0 if policy == "fifo" else 1
    with pytest.raises(KeyError):
        f.cache_get(evicted)
    for x in {0, 1, 2, 3} - {evicted}:
        assert f.cache_get(x) == bytes([x]) * 300_000
    assert calls == [0, 1, 2, 3]


@pytest.mark.timeout(60)
def test_the_newest_entry_always_survives_its_own_store(backend):
    @decorator(backend, "newest", max_bytes=500_000)
    def f(x, size):
        return b"n" * size

    f(1, 100_000)
    f(2, 100_000)
    f(3, 2_000_000)  # larger than the bound by itself
    store = inner(f)
    assert f.cache_get(3, 2_000_000) == b"n" * 2_000_000
    assert f.cache_info().currsize == 1
    assert store.nbytes() > 2_000_000
    f(4, 100_000)  # the big one is not the newest any more
    assert f.cache_info().currsize == 1
    assert f.cache_get(4, 100_000) == b"n" * 100_000
    assert store.nbytes() < 500_000


@pytest.mark.timeout(60)
def test_maxsize_and_max_bytes_together(backend):
    @decorator(backend, "both", maxsize=4, max_bytes=10_000_000)
    def f(x):
        return x

    for x in range(10):
        f(x)
    assert f.cache_info().currsize == 4
    assert inner(f).nbytes() < 10_000


# -- verify ----------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("size", [10, 100_000], ids=["small", "large"])
def test_verify_finds_and_drops_broken_entries_never_foreign_ones(
    backend, cache_root, monkeypatch, size
):
    @decorator(backend, "verify")
    def f(x):
        return bytes([x]) * size

    for x in (1, 2, 3):
        f(x)
    monkeypatch.setenv("TWAT_CACHE_SECRET", "another process's secret")
    f(4)
    monkeypatch.delenv("TWAT_CACHE_SECRET")
    damaged = []

    def damage_one_of_ours(blob: bytes) -> bytes:
        if _is_ours(blob) and not damaged:
            damaged.append(blob)
            return blob[:-1] + bytes([blob[-1] ^ 1])
        return blob

    assert rewrite_entries(backend, cache_root / "verify", damage_one_of_ours) == 4
    store = store_of(f)
    assert store.verify() == (4, 1)
    assert store.verify() == (4, 1)  # checking alone changes nothing
    assert store.verify(fix=True) == (4, 1)
    assert store.verify() == (3, 0)
    blobs = stored_blobs(backend, cache_root / "verify")
    assert len(blobs) == 3
    assert sum(not _is_ours(b) for b in blobs) == 1  # the other secret's entry stays


# -- corrupt entries: one warning per store --------------------------------------------------------


@pytest.mark.timeout(60)
def test_corrupt_entries_are_dropped_with_one_warning_per_store(backend, cache_root, caplog):
    calls = []

    @decorator(backend, "warn-once")
    def f(x):
        calls.append(x)
        return x

    for x in range(3):
        f(x)
    rewrite_entries(backend, cache_root / "warn-once", lambda blob: blob[: len(blob) // 2])
    with caplog.at_level(logging.DEBUG, logger="twat_cache"):
        for x in range(3):
            assert f(x) == x
    assert sorted(calls) == [0, 0, 1, 1, 2, 2]
    corrupt = [r for r in caplog.records if "corrupt" in r.getMessage()]
    assert [r.levelno for r in corrupt] == [logging.WARNING, logging.DEBUG, logging.DEBUG]


# -- the directory archive: damaged entries, temporary folders, symlinks --------------------------


def _archive(cache_root: Path, folder: str) -> Path:
    (root,) = [p for p in (cache_root / folder).glob("klepto-*") if p.is_dir()]
    return root


@needs("klepto")
@pytest.mark.timeout(60)
def test_dir_archive_drops_damaged_entries_and_never_counts_them(cache_root, caplog):
    calls = []

    @tc.bcache(folder_name="damaged", sql_backend=False)
    def f(x):
        calls.append(x)
        return x

    for x in range(4):
        f(x)
    root = _archive(cache_root, "damaged")
    entries = sorted(p for p in root.iterdir() if p.name.startswith("K_"))
    assert len(entries) == 4
    (entries[0] / "output.json").write_text('"VFdDMgAA')  # truncated JSON
    (entries[1] / "output.json").write_bytes(b"\x00\xffnot json")
    (entries[2] / "output.json").unlink()  # a folder left without its file
    temp = root / "K_.I_0123456789abcdef0123456789abcdef"  # a killed writer's (klepto's naming)
    temp.mkdir()
    (temp / "output.json").write_text('"half an ent')
    assert f.cache_info().currsize == 1  # only the intact entry
    assert len(store_of(f)) == 1
    calls.clear()
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        for x in range(4):
            assert f(x) == x
    assert len(calls) == 3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert "corrupt" in warnings[0].getMessage()
    assert f.cache_info().currsize == 4
    assert temp.is_dir()  # young: its writer may still be at work


@needs("klepto")
@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
@pytest.mark.timeout(60)
def test_dir_archive_never_reads_or_removes_through_a_symlink(cache_root, tmp_path):
    calls = []

    @tc.bcache(folder_name="linked-entry", sql_backend=False)
    def f(x):
        calls.append(x)
        return x

    f(1)
    root = _archive(cache_root, "linked-entry")
    (entry,) = [p for p in root.iterdir() if p.name.startswith("K_")]
    outside = tmp_path / "outside"
    entry.rename(outside)  # a valid entry, now outside the archive
    entry.symlink_to(outside, target_is_directory=True)
    assert f(1) == 1
    assert calls == [1, 1]  # the link was not followed: a miss
    assert (outside / "output.json").is_file()  # and its target is untouched
    f.cache_clear()
    assert (outside / "output.json").is_file()


@needs("diskcache")
@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
@pytest.mark.timeout(60)
def test_diskcache_prune_never_follows_a_symlinked_value_folder(cache_root, tmp_path):
    @tc.bcache(folder_name="linked-values")
    def f(x):
        return x

    f(1)
    (directory,) = (cache_root / "linked-values").glob("dc-*")
    outside = tmp_path / "outside" / "cd"
    outside.mkdir(parents=True)
    stray = outside / ("0" * 28 + ".val")
    stray.write_bytes(b"not ours")
    os.utime(stray, (0, 0))  # old enough to be a leftover, were it ours
    (directory / "ab").symlink_to(outside.parent, target_is_directory=True)
    store_of(f).prune()
    f.cache_clear()
    assert stray.read_bytes() == b"not ours"


# -- leftovers of writers: removed when the writer is dead or stale, kept while it may work --------


@pytest.mark.slow  # starts processes (or mounts a filesystem)
@needs("diskcache")
@pytest.mark.timeout(60)
def test_diskcache_leftover_value_files(cache_root):
    from twat_cache_diskcache import _store

    @tc.bcache(folder_name="leftovers")
    def f(x):
        return bytes([x]) * 100_000

    f(1)  # a referenced value file
    (directory,) = (cache_root / "leftovers").glob("dc-*")
    sub = directory / "ab" / "cd"
    sub.mkdir(parents=True, exist_ok=True)
    host = HOST
    live = sub / f"{'1' * 28}.{os.getpid()}-{host}.val"  # a write in progress here
    dead = sub / f"{'2' * 28}.{dead_pid()}-{host}.val"  # its writer is gone
    elsewhere = sub / f"{'3' * 28}.{dead_pid()}-00000000.val"  # another host's: may be alive
    plain = sub / f"{'4' * 28}.val"  # diskcache's own naming: no writer known
    stale = sub / f"{'5' * 28}.val"
    for path in (live, dead, elsewhere, plain, stale):
        path.write_bytes(b"partial")
    old = time.time() - 2 * _store.GRACE
    os.utime(stale, (old, old))
    store_of(f).prune()
    assert sorted(p.name for p in sub.iterdir()) == sorted(p.name for p in (live, elsewhere, plain))
    assert f(1) == bytes([1]) * 100_000
    assert f.cache_info().hits == 1  # the referenced file stayed
    for path in (live, elsewhere, plain):
        os.utime(path, (old, old))
    f.cache_clear()
    assert not sub.exists() or list(sub.iterdir()) == []


@pytest.mark.slow  # starts processes (or mounts a filesystem)
@needs("klepto")
@pytest.mark.timeout(60)
def test_dir_archive_leftover_temporary_folders(cache_root):
    from twat_cache_klepto import _store

    @tc.bcache(folder_name="temps", sql_backend=False)
    def f(x):
        return x

    f(1)
    root = _archive(cache_root, "temps")
    host = HOST
    live = root / f"K_.I_{os.getpid()}-{host}-aa"
    dead = root / f"K_.I_{dead_pid()}-{host}-bb"
    stale = root / "K_.I_cc"
    young = root / "K_.I_dd"
    for path in (live, dead, stale, young):
        path.mkdir()
        (path / "output.json").write_text('"partial')
    old = time.time() - 2 * _store.GRACE
    for path in (stale, stale / "output.json"):
        os.utime(path, (old, old))
    assert store_of(f).prune() == 0
    assert sorted(p.name for p in root.iterdir() if p.name.startswith("K_.I_")) == sorted(
        [live.name, young.name]
    )
    assert f.cache_info().currsize == 1


# -- a full disk -----------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path):
    """An 8 MB tmpfs under the test's temporary folder (root only; skipped where not allowed)."""
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        gc.collect()  # close the stores' files
        if subprocess.run(["umount", str(mount)], capture_output=True, check=False).returncode:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True, check=False)


def _fill(path: Path, leave: int = 0) -> None:
    """Take the free space of the filesystem of `path` but `leave` bytes (a growing file)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            try:
                while os.statvfs(path).f_bavail * os.statvfs(path).f_frsize >= leave + size:
                    os.write(fd, b"\0" * size)
            except OSError:
                continue
        if not leave:
            with pytest.raises(OSError):
                os.write(fd, b"\0")
    finally:
        os.close(fd)


@pytest.mark.slow  # starts processes (or mounts a filesystem)
@pytest.mark.timeout(120)
def test_a_full_disk_then_caching_again_and_clearing(backend, small_disk, caplog):
    """Issue 13: after a failed write the klepto SQL store never cached again in that process
    (PendingRollbackError); `cache_clear` raised on a full disk on diskcache."""
    calls = []

    @decorator(backend, small_disk / "cache")
    def f(x, size):
        calls.append(x)
        return bytes([x % 256]) * size

    mb = 1 << 20
    for x in range(3):
        f(x, mb)
    assert f.cache_info().currsize == 3
    _fill(small_disk / "filler", leave=mb)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert f(10, 3 * mb) == bytes([10]) * 3 * mb  # cannot be stored: returned anyway
    assert any("could not store" in r.getMessage() for r in caplog.records)
    # after the failed write, the next calls cache again
    calls.clear()
    for x in (100, 101, 100, 101):
        assert f(x, 1000) == bytes([x]) * 1000
    assert calls == [100, 101]
    assert f.cache_info().currsize == 5
    # a disk with not one free byte: clearing still works
    _fill(small_disk / "filler-2")
    f.cache_clear()
    assert f.cache_info().currsize == 0
    # ... and frees the space the entries took: caching works again
    calls.clear()
    for x in (7, 7):
        assert f(x, 1000) == bytes([x]) * 1000
    assert calls == [7]
    if backend != "klepto-sql":  # SQLite keeps the pages it frees in its file, for reuse
        for x in (8, 8):
            assert f(x, mb) == bytes([x]) * mb
        assert calls == [7, 8]
    store_of(f).close()


# -- secure=False: a cache a team shares follows the umask ----------------------------------------

SHARED = """
import os, sys
os.umask(0o022)
sys.path.insert(0, {tests!r})
from test_disk_helpers import decorator

@decorator({backend!r}, "team", secure={secure})
def shared(x):
    return bytes([x]) * 100_000  # large: diskcache keeps it in a file of its own

for i in range(3):
    shared(i)
    shared(i)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
@pytest.mark.parametrize("secure", [True, False])
def test_secure_false_gives_the_umasks_modes(backend, tmp_path, secure):
    root = tmp_path / "root"
    code = SHARED.format(tests=str(Path(__file__).parent), backend=backend, secure=secure)
    python("-c", code, env={"TWAT_CACHE_DIR": str(root)}, timeout=100)
    files, folders = modes_under(root)
    assert len(files) >= 3, files  # the marker, the entries (and databases), a lock file
    assert set(files.values()) == {"0o600" if secure else "0o644"}, files
    assert set(folders.values()) == {"0o700" if secure else "0o755"}, folders
