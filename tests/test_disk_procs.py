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

    if crash:
        # Die by SIGKILL in the middle of writing the entry, as a power cut or kill -9 would.
        import signal

        def die():
            os.kill(os.getpid(), signal.SIGKILL)

        if crash == "diskcache":
            import diskcache.core

            def half_write(self, full_path, iterator, mode, encoding=None):
                data = b"".join(iterator)
                os.makedirs(os.path.dirname(full_path), exist_ok=True)
                with open(full_path, mode) as fh:
                    fh.write(data[: len(data) // 2])
                    fh.flush()
                die()

            diskcache.core.Disk._write = half_write
        elif crash == "klepto-sql":
            import sqlalchemy.engine

            def commit(self):
                die()  # the row is written but its transaction never commits

            sqlalchemy.engine.Connection.commit = commit
        else:
            import klepto._archives as ka

            real_json = ka.json

            class HalfJson:
                load = staticmethod(real_json.load)

                @staticmethod
                def dump(value, fh):
                    text = real_json.dumps(value)
                    fh.write(text[: len(text) // 2])
                    fh.flush()
                    die()

            ka.json = HalfJson

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


def test_writer_killed_half_way_leaves_no_half_entry(backend, run):
    size = 20_000  # a value of ~100 KB: diskcache writes it to its own file
    crashed = run.start(backend, 3, size=size, crash=backend)
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
