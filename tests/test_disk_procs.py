"""Disk caches across real processes: persistence, ttl, stable keys, single flight, kill -9.

Each test starts fresh interpreters (`sys.executable`) running a small worker script against the
same cache root; computations are counted as files the worker drops in a folder, never timed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import has
from test_disk_helpers import backend_params

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(240),  # each test starts interpreters: a hang must fail, not freeze
    pytest.mark.skipif(
        not (has("twat_cache_diskcache") or has("twat_cache_klepto")),
        reason="needs diskcache or klepto",
    ),
]

WORKER = textwrap.dedent(
    """
    import json, os, sys, time, uuid
    from pathlib import Path

    import twat_cache as tc

    backend, folder, counts, arg, size = sys.argv[1:6]
    opts = json.loads(sys.argv[6])
    crash = opts.pop("crash", None)
    crash_after = int(opts.pop("crash_after", 32768))
    action = opts.pop("action", None)
    go = opts.pop("go", None)
    sleep = opts.pop("sleep", 0)
    coroutine = opts.pop("coroutine", False)
    if backend == "klepto-dir":
        deco = tc.bcache(folder_name=folder, sql_backend=False, **opts)
    else:
        deco = tc.ucache(folder_name=folder, preferred_engine=backend.split("-")[0], **opts)

    if coroutine:
        import asyncio

        @deco
        async def awork(x):
            Path(counts, uuid.uuid4().hex).touch()
            await asyncio.sleep(sleep)
            return [x] + [7] * int(size)

        def work(x):
            return asyncio.run(awork(x))

        work.cache_backend = awork.cache_backend
        work.cache_info = awork.cache_info
    else:

        @deco
        def work(x):
            Path(counts, uuid.uuid4().hex).touch()
            time.sleep(sleep)
            return [x] + [7] * int(size)

    assert work.cache_backend == backend.split("-")[0], work.cache_backend

    if crash == "klepto-sql":
        # Die by SIGKILL with the entry's row written but its transaction never committed.
        import signal

        import sqlalchemy.engine

        def commit(self):
            os.kill(os.getpid(), signal.SIGKILL)

        sqlalchemy.engine.Connection.commit = commit
    elif crash:
        # Die by SIGKILL half-way through the first large write of a file in the cache root,
        # whichever way the store writes it (a file object, or os.write on a descriptor).
        import builtins, signal

        root = os.path.realpath(os.environ["TWAT_CACHE_DIR"])
        real_open, real_write = builtins.open, os.write

        def ours(path):
            return os.path.realpath(path).startswith(root + os.sep)

        def die():
            os.kill(os.getpid(), signal.SIGKILL)

        class Dying:
            def __init__(self, fh):
                self.fh, self.n = fh, 0

            def write(self, data):
                self.n += len(data)
                if self.n >= crash_after:
                    self.fh.write(data[: len(data) // 2])
                    self.fh.flush()
                    die()
                return self.fh.write(data)

            def __getattr__(self, name):
                return getattr(self.fh, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self.fh.__exit__(*exc)

        def dying_open(file, mode="r", *args, **kwargs):
            fh = real_open(file, mode, *args, **kwargs)
            if isinstance(file, (str, os.PathLike)) and set(mode) & set("wxa+") and ours(file):
                return Dying(fh)
            return fh

        def dying_write(fd, data):
            if len(data) >= crash_after and ours(f"/proc/self/fd/{fd}"):
                real_write(fd, bytes(data[: len(data) // 2]))
                die()
            return real_write(fd, data)

        builtins.open, os.write = dying_open, dying_write

    if action:
        from twat_cache.testing import store_of

        if action == "prune":
            done = {"pruned": store_of(work).prune()}
        else:
            work.cache_clear()
            done = {"cleared": True}
        # measured while the store is open (SQLite tidies its log when the last one closes)
        files = [p for p in Path(os.environ["TWAT_CACHE_DIR"], folder).rglob("*") if p.is_file()]
        done["bytes"] = sum(p.stat().st_size for p in files if not p.is_symlink())
        print(json.dumps(done))
        sys.exit(0)

    if go:
        Path(go + "." + str(os.getpid())).touch()
        while not Path(go).exists():
            time.sleep(0.01)
    result = work(int(arg))
    assert result == [int(arg)] + [7] * int(size), "wrong value"
    print(json.dumps({"hits": work.cache_info().hits, "misses": work.cache_info().misses}))
    """
)


@pytest.fixture(params=backend_params())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bytecode for the workers, kept for the session in a temporary prefix (never the tree).

    Under PYTHONDONTWRITEBYTECODE every worker would compile SQLAlchemy and klepto again
    (over a second each); a private prefix lets the second worker on start from bytecode.
    """
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def run(tmp_path: Path, cache_root: Path, pycache: Path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    counts = tmp_path / "counts"
    counts.mkdir()

    def start(backend: str, arg: int = 1, *, size: int = 10, seed: str = "0", **opts: object):
        env = dict(os.environ, TWAT_CACHE_DIR=str(cache_root), PYTHONHASHSEED=seed)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
        cmd = [sys.executable, str(script), backend, "shared", str(counts), str(arg), str(size)]
        return subprocess.Popen(
            [*cmd, json.dumps(opts)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def finish(proc: subprocess.Popen[str], *, ok: bool = True) -> dict[str, int]:
        out, err = proc.communicate(timeout=120)
        if ok:
            assert proc.returncode == 0, err
            return json.loads(out.strip().splitlines()[-1])
        return {}

    def once(backend: str, arg: int = 1, **opts: object) -> dict[str, int]:
        return finish(start(backend, arg, **opts))

    run_ = type("Run", (), {})()
    run_.start, run_.finish, run_.once = start, finish, once
    run_.computations = lambda: len(list(counts.iterdir()))
    return run_


def test_result_persists_across_processes_and_hash_seeds(backend, run):
    assert run.once(backend, 5, seed="1") == {"hits": 0, "misses": 1}
    assert run.once(backend, 5, seed="2") == {"hits": 1, "misses": 0}  # another salt: same key
    assert run.once(backend, 6, seed="3") == {"hits": 0, "misses": 1}
    assert run.computations() == 2


def test_ttl_holds_across_processes(backend, run):
    ttl = 3.0
    start = time.time()
    assert run.once(backend, 1, ttl=ttl)["misses"] == 1
    last_store = time.time()  # the entry was stored between `start` and now
    second = run.once(backend, 1, ttl=ttl)
    if time.time() < start + ttl:  # looked up before the entry could expire: a hit
        assert second == {"hits": 1, "misses": 0}
    elif second["misses"]:  # a stalled machine outlived the ttl: it was stored again
        last_store = time.time()
    time.sleep(max(0.0, last_store + ttl + 0.3 - time.time()))
    assert run.once(backend, 1, ttl=ttl) == {"hits": 0, "misses": 1}


@pytest.mark.parametrize("coroutine", [False, True], ids=["function", "coroutine"])
def test_single_flight_across_four_processes(backend, run, tmp_path, coroutine):
    go = str(tmp_path / "go")
    procs = [run.start(backend, 9, go=go, sleep=1.0, coroutine=coroutine) for _ in range(4)]
    deadline = time.time() + 90
    while len(list(tmp_path.glob("go.*"))) < 4 and time.time() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.02)
    Path(go).touch()  # all four are imported and decorated: release them at once
    results = [run.finish(p) for p in procs]
    assert run.computations() == 1
    assert sorted(r["misses"] for r in results) == [0, 0, 0, 1]


def crash_for(backend: str) -> str:
    """How a worker of `backend` dies mid-write: in SQLite's commit, or half-way in a file."""
    return "klepto-sql" if backend == "klepto-sql" else "write"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_writer_killed_half_way_leaves_no_half_entry(backend, run):
    size = 20_000  # a value of ~100 KB: diskcache writes it to its own file
    crashed = run.start(backend, 3, size=size, crash=crash_for(backend))
    run.finish(crashed, ok=False)
    assert crashed.returncode == -9
    assert run.computations() == 1
    # A reader sees a miss (never a half value), computes, and stores a good entry.
    assert run.once(backend, 3, size=size) == {"hits": 0, "misses": 1}
    assert run.once(backend, 3, size=size) == {"hits": 1, "misses": 0}
    assert run.computations() == 2


def test_clear_cache_drops_entries_other_processes_wrote(backend, run, cache_root):
    import twat_cache as tc
    from test_disk_helpers import decorator

    assert run.once(backend, 4) == {"hits": 0, "misses": 1}

    @decorator(backend, "shared")
    def mine(x):
        return x

    mine(1)
    tc.clear_cache("shared")  # the folder is open here: its store clears every function's entries
    assert mine.cache_info().currsize == 0
    assert run.once(backend, 4) == {"hits": 0, "misses": 1}
    assert run.computations() == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_uses_its_own_connection(backend, tmp_path):
    import multiprocessing

    from test_disk_helpers import decorator

    counts = tmp_path / "forked"
    counts.mkdir()

    @decorator(backend, "forked")
    def f(x):
        (counts / f"{x}-{os.getpid()}").touch()
        return x * 3

    assert f(1) == 3  # the parent opened (and used) its connection before forking
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_child_calls, args=(f,))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert f(2) == 6  # the child stored it
    assert f(1) == 3
    assert sorted(p.name.split("-")[0] for p in counts.iterdir()) == ["1", "2"]


def _child_calls(f) -> None:
    assert f(1) == 3
    assert f(2) == 6
    assert f(2) == 6


def _tree(folder: Path) -> tuple[int, list[str]]:
    """Bytes of every file below `folder`, and the names that look like partial writes."""
    total, partial = 0, []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            total += path.stat().st_size
        if path.name.endswith(".val") or path.name.startswith("K_.I_"):
            partial.append(str(path.relative_to(folder)))
    return total, partial


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
@pytest.mark.timeout(300)
@pytest.mark.parametrize("action", ["prune", "clear"])
def test_writers_killed_mid_write_leave_nothing_after_prune_or_clear(
    backend, run, cache_root, action
):
    """Issue 13: three writers SIGKILLed while writing values of several MB left 100+ MiB that
    `prune` never removed. Their leftovers (diskcache's value files, klepto's temporary entry
    folders, the uncommitted pages in SQLite's log) must go with `prune`, and with `clear`."""
    size = 1_500_000  # a pickled value of ~3 MB
    for arg in (11, 12, 13):
        crashed = run.start(backend, arg, size=size, crash=crash_for(backend), crash_after=1 << 20)
        run.finish(crashed, ok=False)
        assert crashed.returncode == -9
    folder = cache_root / "shared"
    before, _ = _tree(folder)
    assert before > 1_000_000  # the kills left partial data behind (SQLite: its log)
    done = run.once(backend, 0, action=action)
    assert done.pop("bytes") < 256_000, done  # the databases and lock files, nearly empty
    assert done == ({"pruned": 0} if action == "prune" else {"cleared": True})
    after, partial = _tree(folder)
    assert partial == []
    assert after < 256_000, after
    # and the cache still works
    assert run.once(backend, 11, size=size) == {"hits": 0, "misses": 1}
    assert run.once(backend, 11, size=size) == {"hits": 1, "misses": 0}
