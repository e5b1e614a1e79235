"""Cross-process single flight from the standard library (`twat_cache.locks.StripedLocks`).

Issue 14: the cross-process file lock had no timeout, and a computation that called its own key
from a child process deadlocked (the child waited on its parent). Issue 16: one lock file per key
(100,000 entries left 100,000 lock files). Real processes throughout: multiprocessing with fork
and spawn, kill -9. Every test that could hang has a hard timeout; nothing is timed.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from twat_cache.locks import StripedLocks, wait_timeout
from twat_cache.options import DEFAULT_WAIT_TIMEOUT

POSIX = sys.platform != "win32"
LINUX = sys.platform.startswith("linux")
METHODS = [
    pytest.param("fork", marks=pytest.mark.skipif(not POSIX, reason="no fork")),
    "spawn",
    pytest.param("forkserver", marks=pytest.mark.skipif(not LINUX, reason="ancestors: Linux")),
]
D1 = "00000001" + "ab" * 28  # stripe 1
D1_TWIN = "00000401" + "cd" * 28  # stripe 1025 % 1024 == 1: shares D1's stripe
D2 = "00000002" + "ef" * 28  # stripe 2


# -- workers (module level, so spawn can import them) ---------------------------------------------


def _holder(path: str, digest: str, ready: Any, release: Any) -> None:
    """Hold `digest`'s stripe until told to let go."""
    with StripedLocks(path, timeout=30).hold(digest) as taken:
        assert taken
        ready.set()
        release.wait(120)


def _asker(path: str, digest: str, timeout: float, out: Any) -> None:
    """Ask for `digest`'s stripe; report whether it was taken."""
    with StripedLocks(path, timeout=timeout).hold(digest) as taken:
        out.put(taken)


def _serialized(path: str, digest: str, log: str, go: Any) -> None:
    """Log start and end of a critical section held on `digest`."""
    go.wait(60)
    with StripedLocks(path, timeout=60).hold(digest) as taken:
        with open(log, "a") as fh:
            fh.write(f"start {os.getpid()} {taken}\n")
        time.sleep(0.3)
        with open(log, "a") as fh:
            fh.write(f"end {os.getpid()}\n")


def _in_fork_child(lock: StripedLocks, out: Any) -> None:
    """After fork: nothing held; the parent's stripe answers False, any other True."""
    held = lock.held()
    with lock.hold(D1) as parents:
        pass
    with lock.hold(D2) as free:
        pass
    out.put((held, parents, free))


def start(method: str, target: Any, *args: Any) -> Any:
    ctx = multiprocessing.get_context(method)
    proc = ctx.Process(target=target, args=args, daemon=True)
    proc.start()
    return proc


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "flights.lock")


# -- one process ----------------------------------------------------------------------------------


def test_hold_nested_and_shared_by_threads_without_blocking(path):
    lock = StripedLocks(path)
    with lock.hold(D1) as outer:
        with lock.hold(D1) as inner, lock.hold(D1_TWIN) as twin:
            assert (outer, inner, twin) == (True, True, True)
            assert lock.held() == {1: 3}
        got: list[bool] = []

        def other_thread() -> None:
            with lock.hold(D1) as taken:
                got.append(taken)

        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join(30)
        assert got == [True]  # a thread never waits on its own process's stripe
    assert lock.held() == {}


def test_two_instances_on_one_file_share_the_process_lock(path):
    one, two = StripedLocks(path), StripedLocks(path)
    with one.hold(D1), two.hold(D1) as taken:
        assert taken
        assert one.held() == two.held() == {1: 2}
    assert one.held() == {}


def test_stripes_and_digest_validation(path):
    lock = StripedLocks(path, stripes=16)
    assert lock.stripe("0000000f") == 15
    assert lock.stripe("00000010" + "0" * 56) == 0
    assert lock.stripe("ffffffff") == 0xFFFFFFFF % 16
    for bad in ("", "xyz", None, 12):
        with pytest.raises(ValueError, match="digest"):
            lock.hold(bad)  # type: ignore[arg-type]
    for stripes in (0, -1, True, 1.5, 1 << 21):
        with pytest.raises(ValueError, match="stripes"):
            StripedLocks(path, stripes=stripes)  # type: ignore[arg-type]


def test_wait_timeout_configuration(monkeypatch, path):
    assert wait_timeout() == DEFAULT_WAIT_TIMEOUT == 60.0
    assert StripedLocks(path).timeout == 60.0
    monkeypatch.setenv("TWAT_CACHE_WAIT_TIMEOUT", "2.5")
    assert wait_timeout() == 2.5
    assert StripedLocks(path).timeout == 2.5
    assert StripedLocks(path, timeout=0).timeout == 0.0
    for bad in ("abc", "-1", "inf", "nan", "1e999"):
        monkeypatch.setenv("TWAT_CACHE_WAIT_TIMEOUT", bad)
        with pytest.raises(ValueError, match="TWAT_CACHE_WAIT_TIMEOUT"):
            StripedLocks(path)
    monkeypatch.delenv("TWAT_CACHE_WAIT_TIMEOUT")
    for bad in (-0.1, float("inf"), float("nan"), True, "5"):
        with pytest.raises(ValueError, match="timeout"):
            StripedLocks(path, timeout=bad)  # type: ignore[arg-type]


def test_one_lock_file_for_10000_keys(tmp_path, path):
    import hashlib

    lock = StripedLocks(path)
    for i in range(10_000):
        with lock.hold(hashlib.sha256(str(i).encode()).hexdigest()) as taken:
            assert taken
    assert [p.name for p in tmp_path.iterdir()] == ["flights.lock"]
    assert os.path.getsize(path) <= 8 * lock.stripes  # pid slots only
    if POSIX:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_a_lock_file_that_cannot_be_made_degrades_with_one_warning(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")  # even root cannot create a file below it
    lock = StripedLocks(blocker / "flights.lock", name="demo")
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        for digest in (D1, D2, D1):
            with lock.hold(digest) as taken:
                assert taken is False
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(messages) == 1
    assert "demo: no cross-process lock" in messages[0]


def test_missing_folders_are_created_private(tmp_path):
    lock = StripedLocks(tmp_path / "a" / "b" / "flights.lock")
    with lock.hold(D1) as taken:
        assert taken
    if POSIX:
        for folder in (tmp_path / "a", tmp_path / "a" / "b"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@pytest.mark.skipif(not POSIX, reason="symlinks")
def test_a_planted_symlink_is_never_written_through(tmp_path, caplog):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (tmp_path / "flights.lock").symlink_to(victim)
    lock = StripedLocks(tmp_path / "flights.lock")
    with caplog.at_level(logging.WARNING, logger="twat_cache"), lock.hold(D1) as taken:
        assert taken is False
    assert victim.read_bytes() == b"precious"


# -- several processes ----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_another_process_holding_times_out_with_one_warning(path, caplog):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = start("spawn", _holder, path, D1, ready, release)
    try:
        assert ready.wait(30)
        lock = StripedLocks(path, timeout=0.3, name="waiter")
        with caplog.at_level(logging.WARNING, logger="twat_cache"):
            for _ in range(2):
                with lock.hold(D1) as taken:
                    assert taken is False  # waited 0.3 s, then computes anyway
            with lock.hold(D2) as other:
                assert other is True  # another stripe is free
        warned = [r.getMessage() for r in caplog.records if "waited" in r.getMessage()]
        assert len(warned) == 1
        assert "waiter" in warned[0]
    finally:
        release.set()
        proc.join(30)
    with StripedLocks(path, timeout=10).hold(D1) as taken:
        assert taken


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_two_processes_serialize_on_one_key(path, tmp_path):
    ctx = multiprocessing.get_context("spawn")
    go = ctx.Event()
    log = tmp_path / "log"
    procs = [start("spawn", _serialized, path, D1, str(log), go) for _ in range(2)]
    go.set()
    for proc in procs:
        proc.join(50)
        assert proc.exitcode == 0
    lines = log.read_text().split("\n")[:-1]
    assert len(lines) == 4
    first, second = lines[0].split()[1], lines[2].split()[1]
    assert lines == [f"start {first} True", f"end {first}", f"start {second} True", f"end {second}"]
    assert first != second


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.parametrize("method", METHODS)
def test_a_child_asking_for_its_parents_stripe_gets_an_answer(path, method):
    ctx = multiprocessing.get_context(method)
    out = ctx.Queue()
    with StripedLocks(path).hold(D1) as taken:
        assert taken
        # The child would wait 600 s for a stranger; its parent must not make it wait at all
        # (the parent may be waiting for the child), so it answers False at once.
        proc = start(method, _asker, path, D1, 600.0, out)
        assert out.get(timeout=40) is False
        proc.join(30)
    proc = start(method, _asker, path, D1, 600.0, out)  # released: the child takes it
    assert out.get(timeout=40) is True
    proc.join(30)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_threads_of_a_process_do_not_release_each_others_stripe(path):
    lock = StripedLocks(path)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    entered, leave = threading.Event(), threading.Event()

    def thread_holder() -> None:
        with lock.hold(D1_TWIN):  # the same stripe as D1
            entered.set()
            leave.wait(30)

    with lock.hold(D1):
        thread = threading.Thread(target=thread_holder)
        thread.start()
        assert entered.wait(30)
        leave.set()
        thread.join(30)  # the thread let go; this process still holds the stripe
        start("spawn", _asker, path, D1, 0.3, out).join(30)
        assert out.get(timeout=30) is False
    start("spawn", _asker, path, D1, 30.0, out).join(30)
    assert out.get(timeout=30) is True


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.skipif(not POSIX, reason="kill -9")
def test_kill_9_of_a_holder_releases_the_stripe(path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = start("spawn", _holder, path, D1, ready, release)
    assert ready.wait(30)
    with StripedLocks(path, timeout=0.2).hold(D1) as taken:
        assert taken is False
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(30)
    with StripedLocks(path, timeout=30).hold(D1) as taken:
        assert taken is True


@pytest.mark.slow
@pytest.mark.timeout(60)
@pytest.mark.skipif(not POSIX, reason="fork")
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_fork_child_starts_with_no_held_stripes(path):
    lock = StripedLocks(path, timeout=600)
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    entered, leave = threading.Event(), threading.Event()

    def computing() -> None:  # another thread is inside a computation when we fork
        with lock.hold(D1):
            entered.set()
            leave.wait(30)

    thread = threading.Thread(target=computing)
    thread.start()
    assert entered.wait(30)
    try:
        proc = start("fork", _in_fork_child, lock, out)
        held, parents, free = out.get(timeout=40)
        proc.join(30)
    finally:
        leave.set()
        thread.join(30)
    assert held == {}
    assert parents is False  # the parent holds it: answered at once, never waited 600 s
    assert free is True


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_ahold_waits_without_blocking_the_event_loop(path):
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    proc = start("spawn", _holder, path, D1, ready, release)
    assert ready.wait(30)
    lock = StripedLocks(path, timeout=0.5)

    async def main() -> tuple[bool, bool, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        task = asyncio.ensure_future(ticker())
        async with lock.ahold(D1) as waited:
            pass
        async with lock.ahold(D2) as free:
            pass
        done.set()
        await task
        return waited, free, ticks

    try:
        waited, free, ticks = asyncio.run(main())
    finally:
        release.set()
        proc.join(30)
    assert (waited, free) == (False, True)
    assert ticks > 5  # the loop kept running while ahold waited (blocking it gives 1)
