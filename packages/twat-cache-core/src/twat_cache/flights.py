"""Single flight within a process: concurrent callers of one key wait for one computation.

A `Flights` table belongs to one cache and is keyed exactly like its store (the disk digest
for persistent stores), so calls that get different entries never share a computation.

Waiting never deadlocks:
- a computation that calls its own key again, directly, from a task it awaits or from a
  thread started with its context, is recognized by a context variable (tasks inherit it)
  and computes, as `functools.lru_cache` would;
- a waiter whose leader is blocked joining the waiter's thread (or waiting on the future the
  waiter's thread runs) computes at once: the leader's frames say so;
- any other wait ends after a timeout (`wait_timeout=`, `$TWAT_CACHE_WAIT_TIMEOUT`, 60 s),
  after which the waiter computes itself.
If the leader raises, every waiter gets its exception; if it is interrupted
(KeyboardInterrupt, a cancelled task), one waiter computes instead. A child made by `fork()`
starts with no flights and fresh locks (`os.register_at_fork`), so it never waits for a
computation of its parent's threads.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
import weakref

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any, TypeVar

    T = TypeVar("T")

__all__ = ["COMPUTING", "Flights", "reset_after_fork"]


#: The (table id, key) pairs being computed by this context and the contexts it started.
COMPUTING: contextvars.ContextVar[frozenset[tuple[int, Hashable]]] = contextvars.ContextVar(
    "twat_cache_computing", default=frozenset()
)

_tables: weakref.WeakSet[Any] = weakref.WeakSet()


def reset_after_fork(obj: Any) -> None:
    """Call `obj._after_fork()` in every child made by `fork()` (held weakly)."""
    _tables.add(obj)


class _Flight:
    """One computation in progress: waiters block on `done`, then read `value` or `error`."""

    __slots__ = ("done", "error", "owner", "value")

    def __init__(self, owner: int) -> None:
        self.owner = owner
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None


class Flights:
    """The computations in progress of one cache, by store key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, _Flight] = {}
        reset_after_fork(self)

    def run(self, key: Hashable, work: Callable[[], T], timeout: float) -> tuple[T, bool]:
        """Run `work` once for every concurrent caller of `key`; return (result, waited).

        `waited` is True when the result is another caller's computation. `work` re-checks
        the store before computing, so a waiter that computes after a timeout still finds an
        entry stored meanwhile.
        """
        mark = (id(self), key)
        marks = COMPUTING.get()
        if mark in marks:  # our own computation (or one that started us) asks for its key
            return work(), False
        me = threading.get_ident()
        while True:
            with self._lock:
                flight = self._running.get(key)
                if flight is None:
                    flight = self._running[key] = _Flight(me)
                    break
            if flight.owner == me:  # re-entered without our context (a generator, a callback)
                return work(), False
            if not _wait(flight, timeout):
                return work(), False
            error = flight.error
            if error is None:
                return flight.value, True
            if isinstance(error, Exception):
                raise error
            # the leader was interrupted (KeyboardInterrupt, SystemExit): try to lead
        token = COMPUTING.set(marks | {mark})
        try:
            value = work()
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            flight.value = value
            return value, False
        finally:
            COMPUTING.reset(token)
            with self._lock:
                if self._running.get(key) is flight:
                    del self._running[key]
            flight.done.set()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        self._running = {}


def _wait(flight: _Flight, timeout: float) -> bool:
    """Wait for `flight`; False when it is no use waiting longer (timeout, or deadlock)."""
    deadline = time.monotonic() + timeout
    step = 0.02
    while True:
        left = deadline - time.monotonic()
        if flight.done.wait(max(0.0, min(step, left))):
            return True
        if left <= 0 or _leader_waits_for_me(flight.owner):
            return flight.done.is_set()
        step = min(step * 2, 0.5)


def _leader_waits_for_me(leader: int) -> bool:
    """True when thread `leader` is blocked joining this thread, or on a future it runs."""
    frame = sys._current_frames().get(leader)
    if frame is None:  # the leader's thread is gone: its flight will never land
        return True
    me = threading.current_thread()
    mine = _my_futures()
    join_code = threading.Thread.join.__code__
    future_codes = _future_wait_codes()
    while frame is not None:
        code = frame.f_code
        if code is join_code or code in future_codes:
            target = frame.f_locals.get("self")
            if target is me or (mine and target in mine):
                return True
        frame = frame.f_back
    return False


def _future_wait_codes() -> frozenset[Any]:
    futures = sys.modules.get("concurrent.futures._base")
    if futures is None:
        return frozenset()
    future = futures.Future
    return frozenset({future.result.__code__, future.exception.__code__})


def _my_futures() -> list[Any]:
    """The futures this thread runs as a `concurrent.futures` worker."""
    thread = sys.modules.get("concurrent.futures.thread")
    if thread is None:
        return []
    run_code = thread._WorkItem.run.__code__
    found = []
    frame: Any = sys._getframe(2)
    while frame is not None:
        if frame.f_code is run_code:
            item = frame.f_locals.get("self")
            if item is not None:
                found.append(item.future)
        frame = frame.f_back
    return found


def _after_fork_in_child() -> None:
    for obj in list(_tables):
        obj._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
