"""The joblib store's own bookkeeping (issue 13): writers' leftovers, `len()`, `max_bytes`,
`nbytes()`, `verify()`, TTL on the core's clock, other secrets' entries, older formats and the
BLAKE3 digests.

One process here (`test_file_procs.py` kills real writers). Sizes and calls are counted, never
timed.
"""

from __future__ import annotations

import logging
import os
import pickle
import sys
import time
from pathlib import Path

import pytest

from conftest import needs
from helpers import dead_pid, modes_under, python, warnings_of
from twat_cache.testing import FakeClock, store_of
from twat_cache.writers import HOST

pytestmark = needs("joblib")

np = pytest.importorskip("numpy")


def entries(func) -> list[Path]:
    """The entry files of a decorated function (every secret's)."""
    folder = store_of(func).folder
    return sorted(p for p in Path(folder).iterdir() if p.suffix == ".jbl")


def counted(**options):
    """An fcache'd function returning `size` bytes, with its list of computed calls."""
    from twat_cache import fcache

    calls: list[int] = []

    @fcache(**options)
    def blob(x, size=1000):
        calls.append(x)
        return bytes([x % 256]) * size

    return blob, calls


# -- leftovers of killed writers ------------------------------------------------------------------


def _leftovers(folder: Path) -> dict[str, Path]:
    """Temporary files as a killed or a live writer leaves them, by what they stand for."""

    host = HOST
    names = {
        "dead": f".tmp-{host}-{dead_pid()}-abc123.jbl.part",
        "live": f".tmp-{host}-{os.getppid()}-def456.jbl.part",  # pytest's parent runs
        "mine": f".tmp-{host}-{os.getpid()}-ghi789.jbl.part",  # another thread may be writing
        "other-host": f".tmp-0000beef-{dead_pid()}-jkl012.jbl.part",
        "old": ".tmp-0000beef-1-mno345.jbl.part",
        "unnamed": ".tmp-pqr678.jbl.part",  # format 1: no writer in the name
    }
    paths = {}
    for what, name in names.items():
        path = folder / name
        path.write_bytes(b"\x80partial" * 1000)
        paths[what] = path
    hour_ago = time.time() - 3600
    os.utime(paths["old"], (hour_ago, hour_ago))
    return paths


@pytest.mark.timeout(120)
@pytest.mark.parametrize("how", ["prune", "clear"])
def test_temporary_files_of_dead_writers_go_and_live_writers_stay(how):
    blob, _ = counted()
    blob(1)
    store = store_of(blob)
    paths = _leftovers(Path(store.folder))
    if how == "prune":
        assert store.prune() == 0  # leftovers are not entries
    else:
        blob.cache_clear()
    gone = {what for what, path in paths.items() if not path.exists()}
    assert gone == {"dead", "old"}


# -- len() is read-only, TTL on the core's clock --------------------------------------------------


def test_len_counts_without_expiring_and_ttl_follows_the_core_clock():
    with FakeClock() as fake:
        blob, calls = counted(ttl=60)
        for x in range(3):
            blob(x)
        fake.advance(59)
        blob(0)
        assert calls == [0, 1, 2]  # fresh for 60 s of the core's clock
        fake.advance(2)
        files = entries(blob)
        assert blob.cache_info().currsize == 3
        assert len(store_of(blob)) == 3  # expired, but counting removes nothing
        assert entries(blob) == files
        blob(0)
        assert calls == [0, 1, 2, 0]  # expired by the core's clock (not the wall clock)
        assert store_of(blob).prune() == 2
        assert len(store_of(blob)) == 1


# -- max_bytes, nbytes ----------------------------------------------------------------------------


def sizes(func) -> int:
    return sum(p.stat().st_size for p in entries(func))


def test_nbytes_is_the_size_of_the_entries():
    blob, _ = counted()
    store = store_of(blob)
    assert store.nbytes() == 0
    blob(1, 10_000)
    blob(2, 20_000)
    assert store.nbytes() == sizes(blob)
    assert 30_000 < store.nbytes() < 31_000


@pytest.mark.parametrize("policy", ["lru", "fifo"])
def test_max_bytes_is_enforced_on_every_store_by_policy(policy):
    from twat_cache import ucache

    calls: list[int] = []

    @ucache(folder_name=f"mb-{policy}", preferred_engine="joblib", policy=policy, max_bytes=35_000)
    def blob(x, size=10_000):
        calls.append(x)
        return bytes([x]) * size

    assert blob.cache_backend == "joblib"
    for x in range(3):
        blob(x)
        assert sizes(blob) <= 35_000
    blob(0)  # a read: refreshes 0 under lru, not under fifo
    assert calls == [0, 1, 2]
    blob(3)  # one entry must go
    assert sizes(blob) <= 35_000
    assert len(entries(blob)) == 3
    calls.clear()
    blob(3)
    blob(2)
    if policy == "lru":
        blob(0)
        assert calls == []  # 1 was the least recently used
        blob(1)
        assert calls == [1]
    else:
        blob(1)
        assert calls == []  # 0 was the oldest
        blob(0)
        assert calls == [0]


def test_the_newest_entry_survives_a_max_bytes_it_exceeds():
    blob, calls = counted(max_bytes=5_000)
    blob(1, 1000)
    blob(2, 8000)  # alone beyond the bound: everything else goes, it stays
    assert [p.stat().st_size > 8000 for p in entries(blob)] == [True]
    blob(2, 8000)
    assert calls == [1, 2]
    blob(3, 1000)  # now the big one goes
    assert len(entries(blob)) == 1
    assert sizes(blob) <= 5_000


def test_max_bytes_with_maxsize_both_hold():
    blob, _ = counted(max_bytes=1_000_000, maxsize=2)
    for x in range(4):
        blob(x, 100)
    assert len(entries(blob)) == 2


# -- verify ---------------------------------------------------------------------------------------


def test_verify_authenticates_every_entry_and_fix_drops_the_broken(caplog):
    blob, calls = counted()
    for x in range(4):
        blob(x, 5000)
    store = store_of(blob)
    assert store.verify() == (4, 0)
    one, two, three, _ = entries(blob)
    with open(one, "r+b") as fh:  # a flipped payload byte, in place
        fh.seek(100)
        byte = fh.read(1)
        fh.seek(100)
        fh.write(bytes([byte[0] ^ 1]))
    two.write_bytes(two.read_bytes()[:-10])  # truncated
    three.write_bytes(b"")  # empty
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert store.verify() == (4, 3)
        assert len(entries(blob)) == 4  # without fix: nothing removed, nothing logged
        assert warnings_of(caplog) == []
        assert store.verify(fix=True) == (4, 3)
    assert len(entries(blob)) == 1
    assert store.verify() == (1, 0)
    calls.clear()
    for x in range(4):
        blob(x, 5000)
    assert len(calls) == 3


UNPICKLED: list[int] = []


def _unpickled() -> str:
    UNPICKLED.append(1)
    return "loaded"


class Loud:
    """Records every time it is unpickled."""

    def __reduce__(self):
        return (_unpickled, ())


def test_verify_never_unpickles_a_payload():
    from twat_cache import fcache

    @fcache
    def loud(x):
        return [Loud(), np.arange(10)] if x else Loud()

    loud(0)
    loud(1)
    UNPICKLED.clear()
    assert store_of(loud).verify() == (2, 0)
    assert store_of(loud).verify(fix=True) == (2, 0)
    assert UNPICKLED == []
    assert loud(0) == "loaded"
    assert UNPICKLED == [1]


# -- other secrets' entries -----------------------------------------------------------------------


def test_other_secrets_entries_are_never_counted_evicted_cleared_or_verified(monkeypatch, caplog):
    monkeypatch.setenv("TWAT_CACHE_SECRET", "one")
    blob, calls = counted(maxsize=3, ttl=3600)
    for x in range(3):
        blob(x)
    theirs = entries(blob)
    monkeypatch.setenv("TWAT_CACHE_SECRET", "two")
    store = store_of(blob)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        for x in range(5):  # misses; maxsize evicts among this secret's entries only
            blob(x)
        assert len(store) == 3
        assert store.verify(fix=True) == (3, 0)
        assert store.prune() == 0
        blob.cache_clear()
        assert len(store) == 0
        assert store.nbytes() == 0
    assert warnings_of(caplog) == []
    assert entries(blob) == theirs  # all still there
    monkeypatch.setenv("TWAT_CACHE_SECRET", "one")
    calls.clear()
    for x in range(3):
        blob(x)
    assert calls == []


def test_another_secrets_entry_under_our_name_is_a_miss_with_one_warning(monkeypatch, caplog):
    monkeypatch.setenv("TWAT_CACHE_SECRET", "one")
    blob, calls = counted()
    blob(1)
    blob(2)
    foreign = [p.read_bytes() for p in entries(blob)]
    monkeypatch.setenv("TWAT_CACHE_SECRET", "two")
    blob(1)
    blob(2)
    ours = [p for p in entries(blob) if p.read_bytes() not in foreign]
    for path, data in zip(ours, foreign):  # copied in, as from a shared or restored folder
        path.write_bytes(data)
    calls.clear()
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        blob(1)
        blob(2)
        store_of(blob).verify(fix=True)
    assert calls == [1, 2]
    assert sum("ignoring cache file" in m for m in warnings_of(caplog)) == 1


# -- older formats --------------------------------------------------------------------------------


def _format_1_entry(path: Path, digest: str, value: object) -> None:
    """An entry file as format 1 wrote it (SHA-256 payload digest), under this secret."""
    import hashlib

    from twat_cache.envelope import seal
    from twat_cache.secret import load_secret
    from twat_cache_joblib import _store

    payload = pickle.dumps(value)
    trailer = seal(
        (1, len(payload), hashlib.sha256(payload).digest(), None, _store.PLAIN),
        secret=load_secret(),
        context=b"joblib\x00" + digest.encode(),
    )
    path.write_bytes(payload + trailer + _store.TAIL.pack(len(trailer), _store.MAGIC))


def test_entries_of_an_older_format_are_quiet_misses_and_pruned(caplog):
    blob, calls = counted()
    blob(1)
    (current,) = entries(blob)
    _, _, rest = current.name.partition("-")
    digest = rest[: -len(".jbl")]
    _format_1_entry(current, digest, b"old")  # the same name, the old trailer
    legacy = current.with_name(f"{'ab' * 32}.jbl")  # format 1's name: the digest alone
    _format_1_entry(legacy, "ab" * 32, b"old")
    with caplog.at_level(logging.DEBUG, logger="twat_cache"):
        assert blob(1) == bytes([1]) * 1000
        assert calls == [1, 1]
        assert store_of(blob).prune() == 1  # the legacy file
    assert not legacy.exists()
    assert warnings_of(caplog) == []
    assert [p.name for p in entries(blob)] == [current.name]


# -- BLAKE3 ---------------------------------------------------------------------------------------


def test_large_array_keys_are_digested_with_blake3_and_stay_faithful():
    from twat_cache import fcache

    calls = []

    @fcache
    def first(arr):
        calls.append(1)
        return float(arr[0])

    store = store_of(first)
    assert store.buffer_hash is not None
    a = np.random.default_rng(0).random(1_000_000)
    first(a)
    first(a.copy())
    b = a.copy()
    b[-1] += 1.0
    first(b)
    first(a.astype(np.float32))
    assert len(calls) == 3
    import blake3

    view = memoryview(a).cast("B")
    assert store.buffer_hash(view) == blake3.blake3(view).digest()


# -- secure=False: a cache a team shares follows the umask ----------------------------------------

SHARED = """
import os
os.umask(0o022)
from twat_cache import fcache

@fcache(folder_name="team", preferred_engine="joblib", secure={secure})
def shared(x):
    return bytes([x]) * 1000

for i in range(3):
    shared(i)
    shared(i)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
@pytest.mark.parametrize("secure", [True, False])
def test_secure_false_gives_the_umasks_modes(tmp_path, secure):
    root = tmp_path / "root"
    python("-c", SHARED.format(secure=secure), env={"TWAT_CACHE_DIR": str(root)}, timeout=100)
    files, folders = modes_under(root)
    assert len([path for path in files if path.endswith(".jbl")]) == 3, files
    assert len(files) >= 6, files  # the marker, joblib's .gitignore, the entries, a lock file
    assert set(files.values()) == {"0o600" if secure else "0o644"}, files
    assert len(folders) >= 4, folders  # team, joblib, the function's folder, its code version's
    assert set(folders.values()) == {"0o700" if secure else "0o755"}, folders
