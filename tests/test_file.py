"""fcache on joblib: content-hashed NumPy/pandas arguments, array results, compression, mmap,
TTL, maxsize, permissions, tampering, unpicklable results and `check_code`.

Everything here runs in one process; `test_file_procs.py` covers several processes.
Computations are counted, never timed.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path

import pytest

from conftest import needs
from helpers import run_python, twat_cache, warnings_of
from twat_cache.testing import store_of

pytestmark = needs("joblib")

np = pytest.importorskip("numpy")


def entries(func) -> list[Path]:
    """The entry files of a decorated function (its own folder, current code version)."""
    folder = store_of(func).folder
    return sorted(p for p in Path(folder).iterdir() if p.suffix == ".jbl")


def test_fcache_picks_joblib(caplog):
    import joblib

    from twat_cache import fcache

    with caplog.at_level(logging.WARNING, logger="twat_cache"):

        @fcache
        def double(x):
            return 2 * x

        assert double(4) == 8
        assert double(4) == 8
    assert double.cache_backend == "joblib"
    assert isinstance(double.cache, joblib.Memory)
    assert double.cache_info().hits == 1
    assert double.cache_info().misses == 1
    assert double.cache_info().currsize == 1
    assert warnings_of(caplog) == []


def test_plugin_import_does_not_import_joblib():
    code = "import sys, twat_cache, twat_cache_joblib; print('joblib' in sys.modules)"
    assert run_python(code).strip() == "False"


def test_arrays_hash_by_content():
    from twat_cache import fcache

    calls = []

    @fcache
    def total(arr):
        calls.append(1)
        return float(arr.sum())

    a = np.arange(5000, dtype=np.float64)
    b = a.copy()
    b[2500] += 1.0
    assert total(a) != total(b)
    assert len(calls) == 2
    assert total(a.copy()) == float(a.sum())  # equal content: the same entry
    assert total(arr=a) == float(a.sum())  # keyword or positional: the same call
    assert len(calls) == 2
    # same bytes, other dtype or shape: other calls
    total(a.astype(np.float32))
    total(a.reshape(50, 100))
    assert len(calls) == 4


def test_large_arrays_are_not_abbreviated():
    """NumPy abbreviates big arrays in str(); keys never go through it."""
    from twat_cache import fcache

    calls = []

    @fcache
    def first_diff(arr):
        calls.append(1)
        return int(arr[5000])

    a = np.zeros(10_000, dtype=np.int64)
    b = a.copy()
    b[5000] = 1
    assert str(a) == str(b)
    assert first_diff(a) == 0
    assert first_diff(b) == 1
    assert len(calls) == 2


def test_pandas_arguments_hash_by_content():
    pd = pytest.importorskip("pandas")
    from twat_cache import fcache

    calls = []

    @fcache
    def summary(obj):
        calls.append(1)
        return float(obj.to_numpy().sum())

    df = pd.DataFrame({"a": np.arange(5000), "b": np.ones(5000)})
    df2 = df.copy()
    df2.loc[1234, "a"] = -1
    assert summary(df) != summary(df2)
    assert summary(df.copy()) == summary(df)
    assert len(calls) == 2
    s = pd.Series(np.arange(100.0))
    s2 = s.copy()
    s2.iloc[50] = 0.5
    assert summary(s) != summary(s2)
    summary(s.copy())
    assert len(calls) == 4


def test_nested_lists_and_dicts():
    from twat_cache import fcache

    calls = []

    @fcache
    def size(spec):
        calls.append(1)
        return len(spec["items"]) + len(spec["meta"])

    spec = {"items": [1, 2, [3, 4]], "meta": {"a": np.arange(3), "b": (1, 2)}}
    same = {"meta": {"b": (1, 2), "a": np.arange(3)}, "items": [1, 2, [3, 4]]}
    other = {"items": [1, 2, [3, 5]], "meta": {"a": np.arange(3), "b": (1, 2)}}
    assert size(spec) == size(same) == 5
    assert len(calls) == 1
    size(other)
    assert len(calls) == 2


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.arange(1000, dtype=np.float32).reshape(10, 100),
        lambda: np.asfortranarray(np.arange(600, dtype=np.int64).reshape(20, 30)),
        lambda: np.arange(50) % 3 == 0,
        lambda: np.arange(10, dtype=np.complex128) * 1j,
        lambda: np.arange(10, dtype=">i4"),
        lambda: np.array(3.5),
        lambda: np.zeros((0, 3), dtype=np.uint8),
        lambda: np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "i4"), ("b", "f8")]),
        lambda: np.array(["x", None, 3], dtype=object),
        lambda: {"arrays": [np.ones(5), np.arange(3)], "n": 3, "none": None},
    ],
    ids=[
        "f32-2d",
        "fortran",
        "bool",
        "complex",
        "bigendian",
        "0d",
        "empty",
        "struct",
        "object",
        "nested",
    ],
)
def test_array_results_round_trip(make):
    from twat_cache import fcache

    calls = []

    @fcache
    def produce():
        calls.append(1)
        return make()

    fresh = produce()
    loaded = produce()
    assert len(calls) == 1
    expected = make()
    if isinstance(expected, dict):
        assert loaded["n"] == 3
        assert loaded["none"] is None
        for got, want in zip(loaded["arrays"], expected["arrays"]):
            np.testing.assert_array_equal(got, want)
        return
    for got in (fresh, loaded):
        assert got.dtype == expected.dtype
        assert got.shape == expected.shape
        if expected.dtype != object:
            assert got.tobytes() == expected.tobytes()
        else:
            assert got.tolist() == expected.tolist()


def test_compress_shrinks_a_compressible_8mb_array(tmp_path):
    from twat_cache import fcache

    arr = np.tile(np.arange(1000, dtype=np.float64), 1000)  # 8 MB, very compressible
    assert arr.nbytes == 8_000_000

    @fcache(folder_name=str(tmp_path / "plain"))
    def plain():
        return arr

    @fcache(folder_name=str(tmp_path / "small"), compress=True)
    def small():
        return arr

    @fcache(folder_name=str(tmp_path / "level"), compress=9)
    def level():
        return arr

    for f in (plain, small, level):
        f()
        np.testing.assert_array_equal(f(), arr)
        assert f.cache_info().hits == 1
    size_plain = entries(plain)[0].stat().st_size
    size_small = entries(small)[0].stat().st_size
    size_level = entries(level)[0].stat().st_size
    assert size_plain >= arr.nbytes
    assert size_small < size_plain / 10
    assert size_level <= size_small


def test_mmap_mode_returns_memmap():
    from twat_cache import fcache

    calls = []

    @fcache(mmap_mode="r")
    def table(n):
        calls.append(1)
        return {"data": np.arange(n, dtype=np.float64), "n": n}

    table(100_000)
    out = table(100_000)
    assert len(calls) == 1
    assert isinstance(out["data"], np.memmap)
    assert out["data"].filename == str(entries(table)[0])
    assert not out["data"].flags.writeable
    np.testing.assert_array_equal(out["data"], np.arange(100_000, dtype=np.float64))
    assert out["n"] == 100_000


def test_mmap_entry_is_verified_before_mapping(caplog):
    from twat_cache import fcache

    calls = []

    @fcache(mmap_mode="r")
    def arr():
        calls.append(1)
        return np.zeros(10_000)

    arr()
    (path,) = entries(arr)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the array's bytes
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        out = arr()
    assert len(calls) == 2
    assert not out.any()
    assert any("dropping unreadable cache file" in m for m in warnings_of(caplog))


def test_mmap_with_compress_loads_in_memory(caplog):
    from twat_cache import fcache

    with caplog.at_level(logging.WARNING, logger="twat_cache"):

        @fcache(mmap_mode="r", compress=True)
        def arr():
            return np.ones(1000)

        arr()  # the store opens (and says so) on the first call
    assert any("mmap_mode='r' is ignored" in m for m in warnings_of(caplog))
    out = arr()
    assert not isinstance(out, np.memmap)
    assert arr.cache_info().hits == 1


def test_ttl_expires_on_disk():
    from twat_cache import fcache

    calls = []

    @fcache(ttl=0.4)
    def stamp(x):
        calls.append(x)
        return np.full(3, x)

    stamp(1)
    stamp(1)
    assert len(calls) == 1
    time.sleep(0.6)
    stamp(1)
    assert len(calls) == 2
    assert len(entries(stamp)) == 1  # the expired file was replaced, not kept beside


def test_maxsize_counts_files_and_evicts_least_recently_used():
    from twat_cache import fcache

    calls = []

    @fcache(maxsize=3)
    def square(x):
        calls.append(x)
        return np.full(10, x * x)

    for x in range(3):
        square(x)
    square(0)  # 0 is now the most recently used
    square(3)  # evicts 1, the least recently used
    assert len(entries(square)) == 3
    assert square.cache_info().currsize == 3
    calls.clear()
    square(0)
    square(2)
    square(3)
    assert calls == []
    square(1)
    assert calls == [1]
    assert len(entries(square)) == 3


def test_fifo_policy_evicts_the_oldest():
    from twat_cache import ucache

    calls = []

    @ucache(folder_name="fifo", maxsize=2, preferred_engine="joblib", policy="fifo")
    def ident(x):
        calls.append(x)
        return x

    assert ident.cache_backend == "joblib"
    ident(1)
    ident(2)
    ident(1)  # a read does not refresh a FIFO entry
    ident(3)  # evicts 1
    calls.clear()
    ident(2)
    ident(1)
    assert calls == [1]


def test_permissions(cache_root):
    from twat_cache import fcache

    @fcache(ttl=100, maxsize=10)
    def value(x):
        return np.arange(x)

    value(10)
    value(10)
    folder = Path(value.cache.location)
    seen_files = 0
    for path in [folder, *folder.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, path
        else:
            seen_files += 1
            assert mode == 0o600, path
    assert seen_files >= 3  # the entry, its lock, joblib's .gitignore (and the marker)


@pytest.mark.parametrize("where", ["payload", "trailer", "truncate", "empty", "garbage"])
def test_tampered_or_truncated_file_is_a_logged_miss(caplog, where):
    from twat_cache import fcache

    calls = []

    @fcache
    def make(x):
        calls.append(x)
        return {"a": np.arange(100), "x": x}

    make(1)
    (path,) = entries(make)
    data = bytearray(path.read_bytes())
    if where == "payload":
        data[40] ^= 0x01
    elif where == "trailer":
        data[-20] ^= 0x01
    elif where == "truncate":
        data = data[: len(data) // 2]
    elif where == "empty":
        data = bytearray()
    else:
        data = bytearray(b"\x80\x04garbage that is no pickle" * 3)
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        out = make(1)
    assert out["x"] == 1
    assert len(calls) == 2
    assert sum("dropping unreadable cache file" in m for m in warnings_of(caplog)) == 1
    make(1)
    assert len(calls) == 2  # recomputed entry is sound again


def test_tampering_that_restores_the_mtime_is_still_detected(caplog):
    """A repeated hit skips re-hashing only while the file's signature (ctime included) holds."""
    from twat_cache import fcache

    calls = []

    @fcache
    def make(x):
        calls.append(x)
        return np.arange(1000) + x

    make(1)
    make(1)  # a verified hit: remembered
    (path,) = entries(make)
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[200] ^= 0x01
    with open(path, "r+b") as fh:  # in place: same inode, same size
        fh.write(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        out = make(1)
    np.testing.assert_array_equal(out, np.arange(1000) + 1)
    assert len(calls) == 2
    assert any("dropping unreadable cache file" in m for m in warnings_of(caplog))


def test_entry_copied_under_another_key_is_refused(caplog):
    from twat_cache import fcache

    @fcache
    def ident(x):
        return x

    ident(1)
    ident(2)
    one, two = entries(ident)
    two.write_bytes(one.read_bytes())
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        assert ident(1) == 1
        assert ident(2) == 2
    assert ident.cache_info().misses == 3
    assert any("dropping unreadable cache file" in m for m in warnings_of(caplog))


def test_unpicklable_result_is_returned_with_one_warning(caplog):
    from twat_cache import fcache

    class Unpicklable:
        # Not threading.Lock: once dill is imported (klepto does), it can pickle locks.
        def __reduce_ex__(self, protocol):
            raise TypeError("cannot pickle this")

    calls = []

    @fcache
    def make_lock(x):
        calls.append(x)
        return Unpicklable()

    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        first = make_lock(1)
        second = make_lock(1)
    assert isinstance(first, Unpicklable)
    assert isinstance(second, Unpicklable)
    assert len(calls) == 2
    assert len([m for m in warnings_of(caplog) if "could not store" in m]) == 1
    folder = store_of(make_lock).folder
    assert [p for p in Path(folder).iterdir() if p.is_file()] == []  # no temp file left


def test_none_is_cached_and_exceptions_are_not():
    from twat_cache import fcache

    calls = []

    @fcache
    def maybe(x):
        calls.append(x)
        if x < 0:
            raise ValueError("negative")
        return None

    assert maybe(1) is None
    assert maybe(1) is None
    assert len(calls) == 1
    for _ in range(2):
        with pytest.raises(ValueError):
            maybe(-1)
    assert len(calls) == 3


def test_delete_clear_and_len_are_per_function(cache_root):
    from twat_cache import fcache

    @fcache(folder_name="shared")
    def f(x):
        return x

    @fcache(folder_name="shared")
    def g(x):
        return -x

    for x in range(3):
        f(x)
        g(x)
    assert f.cache_info().currsize == 3
    assert g.cache_info().currsize == 3
    assert f.cache_delete(1) is True
    assert f.cache_delete(1) is False
    assert f.cache_info().currsize == 2
    f.cache_clear()
    assert f.cache_info().currsize == 0
    assert g.cache_info().currsize == 3
    assert g(2) == -2
    assert g.cache_info().hits == 1


def test_clear_cache_folder_and_prune(cache_root):
    from twat_cache import clear_cache, fcache

    @fcache(folder_name="pr", ttl=0.3)
    def short(x):
        return x

    @fcache(folder_name="pr")
    def long(x):
        return x

    short(1)
    short(2)
    long(1)
    time.sleep(0.5)
    assert store_of(short).prune() == 2
    assert short.cache_info().currsize == 0
    assert long.cache_info().currsize == 1
    clear_cache("pr")
    assert long.cache_info().currsize == 0


def test_encrypted_entries_round_trip():
    pytest.importorskip("cryptography")
    from twat_cache import fcache

    secret = np.arange(1000) * 7919

    @fcache(encrypt=True)
    def hidden():
        return {"secret": secret}

    hidden()
    np.testing.assert_array_equal(hidden()["secret"], secret)
    assert hidden.cache_info().hits == 1
    raw = entries(hidden)[0].read_bytes()
    assert secret.tobytes()[:64] not in raw


CODE_V1 = """
from twat_cache import fcache
CALLS = []

@fcache(folder_name="versions", check_code={check})
def compute(x):
    CALLS.append(x)
    return x + 1
"""

CODE_V2 = CODE_V1.replace("return x + 1", "return x + 100")


def _define(source: str, check: bool) -> dict:
    namespace = {"__name__": "twat_file_check_code_mod"}
    exec(compile(source.format(check=check), "<check_code>", "exec"), namespace)
    return namespace


def test_check_code_invalidates_changed_code():
    v1 = _define(CODE_V1, True)
    assert v1["compute"](1) == 2
    assert v1["compute"](1) == 2
    assert v1["CALLS"] == [1]
    v2 = _define(CODE_V2, True)
    assert v2["compute"](1) == 101  # the old entry is not reused
    assert v2["CALLS"] == [1]
    # the old version's entries were removed from disk, not only skipped
    store = store_of(v2["compute"])
    files = list(store.folder.parent.rglob("*.jbl"))
    assert len(files) == 1
    assert v2["compute"].cache_info().currsize == 1
    # the same code again reuses its entries
    v2b = _define(CODE_V2, True)
    assert v2b["compute"](1) == 101
    assert v2b["CALLS"] == []


def test_check_code_is_off_by_default():
    v1 = _define(CODE_V1, False)
    assert v1["compute"](1) == 2
    v2 = _define(CODE_V2, False)
    assert v2["compute"](1) == 2  # joblib would recompute; we reuse unless asked not to
    assert v2["CALLS"] == []


def test_methods_include_self():
    from twat_cache import fcache

    class Scaler:
        def __init__(self, k):
            self.k = k

        def __getstate__(self):
            return {"k": self.k}

        @fcache
        def scale(self, arr):
            return arr * self.k

    a = np.arange(5)
    np.testing.assert_array_equal(Scaler(2).scale(a), a * 2)
    np.testing.assert_array_equal(Scaler(3).scale(a), a * 3)


def test_bad_folder_value_is_rejected():
    from twat_cache import fcache

    with pytest.raises(ValueError, match="folder_name"):
        fcache(folder_name="../escape")
    with pytest.raises(ValueError, match="compress"):
        fcache(compress=11)
    with pytest.raises(ValueError, match="mmap_mode"):
        fcache(mmap_mode="x")  # type: ignore[arg-type]


def test_env_cache_root_is_used(cache_root):
    from twat_cache import fcache

    @fcache
    def one():
        return 1

    one()
    assert str(Path(one.cache.location)).startswith(str(cache_root))
    assert os.path.isdir(Path(one.cache.location) / "joblib")


def _cli(root, *args):
    import json

    return json.loads(twat_cache(*args, "--json", env={"TWAT_CACHE_DIR": str(root)}).stdout)


def test_cli_counts_and_prunes_joblib_folders_without_touching_other_versions(cache_root):
    v1 = _define(CODE_V1, True)
    v1["compute"](1)
    v2 = _define(CODE_V2, True)
    v2["compute"](1)
    v2["compute"](2)
    plain = _define(CODE_V1.replace("compute", "other"), False)
    plain["other"](1)

    @fcache_ttl
    def short(x):
        return x

    short(1)
    files_before = sorted(p.name for p in cache_root.rglob("*.jbl"))
    assert len(files_before) == 4  # v1's entry was removed when v2 first stored
    [row] = [r for r in _cli(cache_root, "list")["caches"] if r["name"] == "versions"]
    assert row["backend"] == "joblib"
    assert row["entries"] == 4  # v1's namespace (still in the marker) counts 0
    assert (
        sorted(p.name for p in cache_root.rglob("*.jbl")) == files_before
    )  # listing deletes nothing
    time.sleep(0.4)
    [row] = [r for r in _cli(cache_root, "prune")["caches"] if r["name"] == "versions"]
    assert row["pruned"] == 1
    assert row["entries"] == 3


def fcache_ttl(func):
    from twat_cache import fcache

    return fcache(folder_name="versions", ttl=0.2)(func)


def test_native_memory_clear_then_store_again_keeps_folders_private():
    from twat_cache import fcache

    @fcache
    def ident(x):
        return x

    ident(1)
    ident.cache.clear(warn=False)  # joblib's own clear removes <folder>/joblib entirely
    assert ident.cache_info().currsize == 0
    assert ident(1) == 1
    assert ident.cache_info().misses == 2
    assert ident(1) == 1
    assert ident.cache_info().hits == 1
    folder = Path(ident.cache.location)
    for path in folder.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), path
