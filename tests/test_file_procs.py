"""fcache on joblib across real processes: shared entries, TTL, maxsize and single flight.

Each worker is a fresh interpreter (`sys.executable`) running a small script against the same
cache root; computations are counted as files the worker drops in a folder, never timed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import needs

pytestmark = [pytest.mark.slow, needs("joblib")]

pytest.importorskip("numpy")

WORKER = textwrap.dedent(
    """
    import json, os, sys, time, uuid
    from pathlib import Path

    import numpy as np
    from twat_cache import fcache

    folder, counts, n, bump = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    opts = json.loads(sys.argv[5])
    sleep = opts.pop("sleep", 0)
    ready = opts.pop("ready", None)
    go = opts.pop("go", None)
    listcomp = opts.pop("listcomp", False)

    if listcomp:  # a body with a nested code object (the comprehension, before Python 3.12)

        @fcache(folder_name=folder, **opts)
        def work(arr):
            Path(counts, uuid.uuid4().hex).touch()
            return arr * 2 + sum([0 for _ in range(3)])

    else:

        @fcache(folder_name=folder, **opts)
        def work(arr):
            Path(counts, uuid.uuid4().hex).touch()
            time.sleep(sleep)
            return arr * 2

    assert work.cache_backend == "joblib", work.cache_backend
    arr = np.arange(n, dtype=np.int64)
    arr[n // 2] += bump
    if ready:
        Path(ready, str(os.getpid())).touch()
        while not Path(go).exists():
            time.sleep(0.01)
    out = work(arr)
    assert (out == arr * 2).all()
    print(json.dumps({"info": list(work.cache_info()), "memmap": isinstance(out, np.memmap)}))
    """
)


@pytest.fixture
def run(tmp_path, cache_root):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    counts = tmp_path / "counts"
    counts.mkdir()
    env = {**os.environ, "TWAT_CACHE_DIR": str(cache_root)}

    def start(folder="procs", n=5000, bump=0, **opts):
        args = [
            sys.executable,
            str(script),
            folder,
            str(counts),
            str(n),
            str(bump),
            json.dumps(opts),
        ]
        return subprocess.Popen(
            args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def finish(proc):
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def once(**kw):
        return finish(start(**kw))

    def computed():
        return len(list(counts.iterdir()))

    once.start = start
    once.finish = finish
    once.computed = computed
    once.tmp = tmp_path
    return once


def entry_files(cache_root: Path, folder: str) -> list[Path]:
    return list((cache_root / folder).rglob("*.jbl"))


def test_equal_arrays_in_two_processes_share_an_entry(run, cache_root):
    run()
    assert run.computed() == 1
    second = run()  # a fresh process, an equal (not identical) array: a hit
    assert second["info"][:2] == [1, 0]
    assert run.computed() == 1
    run(bump=1)  # one element differs: computed
    assert run.computed() == 2
    assert len(entry_files(cache_root, "procs")) == 2


def test_large_arrays_share_an_entry_across_processes(run, cache_root):
    run(n=1_000_000)  # 8 MB: its key digests the content with the store's BLAKE3
    second = run(n=1_000_000)
    assert second["info"][:2] == [1, 0]
    assert run.computed() == 1
    run(n=1_000_000, bump=1)
    assert run.computed() == 2


def test_mmap_across_processes(run):
    run(n=100_000, mmap_mode="r")
    out = run(n=100_000, mmap_mode="r")
    assert out["memmap"] is True
    assert run.computed() == 1


def test_ttl_is_honoured_across_processes(run):
    run(ttl=60)
    run(ttl=60)
    assert run.computed() == 1  # fresh entry written by another process: a hit
    run(bump=5, ttl=0.5)
    time.sleep(1.0)
    run(bump=5, ttl=0.5)  # the deadline written by the first process has passed
    assert run.computed() == 3


def test_maxsize_is_honoured_across_processes(run, cache_root):
    for bump in range(5):
        run(bump=bump, maxsize=3)
    assert run.computed() == 5
    assert len(entry_files(cache_root, "procs")) == 3
    run(bump=4, maxsize=3)  # the newest entry survived
    assert run.computed() == 5


def test_four_processes_compute_once(run):
    ready = run.tmp / "ready"
    ready.mkdir()
    go = run.tmp / "go"
    procs = [run.start(sleep=1.0, ready=str(ready), go=str(go)) for _ in range(4)]
    deadline = time.monotonic() + 90
    while len(list(ready.iterdir())) < 4 and time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            break
        time.sleep(0.02)
    go.touch()
    results = [run.finish(p) for p in procs]
    assert run.computed() == 1
    assert sorted(r["info"][1] for r in results) == [0, 0, 0, 1]  # misses per process


def test_check_code_entries_are_shared_across_processes(run):
    run(check_code=True)
    run(check_code=True)
    assert run.computed() == 1


def test_check_code_with_nested_code_is_shared_across_processes(run):
    run(check_code=True, listcomp=True)
    run(check_code=True, listcomp=True)
    assert run.computed() == 1


# -- writers killed half-way (issue 13) ---------------------------------------------------------

STALLING = textwrap.dedent(
    """
    import os, time
    from pathlib import Path

    from twat_cache import fcache


    class Stall:
        # Pickled after 8 MB of the value are in the file: says so, then waits (for ever
        # unless STALL_GO names a file that appears), as a writer caught half-way.
        def __reduce__(self):
            Path(os.environ["STALL_READY"]).touch()
            go = os.environ.get("STALL_GO")
            while not (go and Path(go).exists()):
                time.sleep(0.01)
            return (str, ("stalled",))


    @fcache(folder_name="killed")
    def work(x):
        return [b"x" * (8 << 20), Stall()]
    """
)


@pytest.fixture
def stalling(tmp_path, cache_root, monkeypatch):
    """Start writers of `stallmod.work(1)` that stop half-way through storing the result.

    Returns `start(go=None) -> (process, temporary file)`, once the writer's temporary file
    holds the first 8 MB; the test process imports the same module, so its `work` has the
    writer's store.
    """
    (tmp_path / "stallmod.py").write_text(STALLING)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("stallmod", None)  # each test's own module, on its own cache root
    env = {**os.environ, "TWAT_CACHE_DIR": str(cache_root), "PYTHONPATH": str(tmp_path)}
    procs: list[subprocess.Popen[bytes]] = []

    def start(go: Path | None = None) -> tuple[subprocess.Popen[bytes], Path]:
        ready = tmp_path / f"ready-{len(procs)}"
        code = "import stallmod; stallmod.work(1)"
        extra = {"STALL_READY": str(ready), **({"STALL_GO": str(go)} if go else {})}
        proc = subprocess.Popen([sys.executable, "-c", code], env={**env, **extra})
        procs.append(proc)
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the writer ended before it stalled"
            assert time.monotonic() < deadline, "the writer never stalled"
            time.sleep(0.01)
        (tmp,) = temporaries(cache_root)
        assert tmp.stat().st_size >= 8 << 20  # a large partial value
        return proc, tmp

    yield start
    sys.modules.pop("stallmod", None)
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)


def temporaries(cache_root: Path) -> list[Path]:
    return [p for p in (cache_root / "killed").rglob(".tmp-*") if p.is_file()]


@pytest.mark.timeout(180)
@pytest.mark.parametrize("how", ["prune", "clear"])
def test_a_killed_writers_partial_file_is_removed(stalling, cache_root, how):
    import stallmod

    from twat_cache.testing import store_of

    for _ in range(2):
        proc, tmp = stalling()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert tmp.exists()
        if how == "prune":
            assert store_of(stallmod.work).prune() == 0  # not an entry: nothing to count
        else:
            stallmod.work.cache_clear()
        assert temporaries(cache_root) == []
    assert len(store_of(stallmod.work)) == 0


@pytest.mark.timeout(180)
def test_a_live_writers_temporary_file_is_left_alone(stalling, cache_root, tmp_path):
    import stallmod

    from twat_cache.testing import store_of

    go = tmp_path / "go"
    proc, tmp = stalling(go)
    store = store_of(stallmod.work)
    store.prune()
    stallmod.work.cache_clear()
    assert temporaries(cache_root) == [tmp]
    go.touch()
    assert proc.wait(timeout=120) == 0
    assert temporaries(cache_root) == []
    assert len(store) == 1  # its value was stored whole
