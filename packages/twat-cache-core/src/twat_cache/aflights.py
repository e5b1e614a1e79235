"""Single flight for coroutine functions: concurrent tasks awaiting one key share one computation.

Flights are per event loop: tasks of one loop wait for each other; loops never wait on each
other (each `asyncio.run()` and each thread with a loop of its own computes for itself). A
computation that awaits its own key again, in a task it created (`await gather(f(x))` inside
`f(x)`), is recognized through the context the task inherited (`flights.COMPUTING`) and
computes. A wait ends after the timeout, after which the waiter computes. If the leader raises,
every waiter gets its exception (with the leader's traceback); if it is cancelled, one waiter
computes instead; a cancelled waiter leaves the computation alone.
"""

from __future__ import annotations

import contextlib
import threading

from twat_cache.flights import COMPUTING, reset_after_fork

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Hashable
    from types import TracebackType
    from typing import Any, TypeVar

    T = TypeVar("T")

__all__ = ["AsyncFlights"]


class _AsyncFlight:
    """One computation in progress on one loop; `loop` is kept so its id is not reused."""

    __slots__ = ("done", "error", "loop", "owner", "tb", "value")

    def __init__(self, owner: object, loop: asyncio.AbstractEventLoop) -> None:
        import asyncio  # noqa: PLC0415  (only once a coroutine runs)

        self.owner = owner
        self.loop = loop
        self.done = asyncio.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.tb: TracebackType | None = None


class AsyncFlights:
    """The computations in progress of one cache, by (event loop, store key)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # one table serves every thread's loop
        self._running: dict[tuple[int, Hashable], _AsyncFlight] = {}
        reset_after_fork(self)

    async def run(
        self, key: Hashable, work: Callable[[], Awaitable[T]], timeout: float
    ) -> tuple[T, bool]:
        """Await `work()` once for every concurrent task awaiting `key`; (result, waited)."""
        import asyncio  # noqa: PLC0415  (only once a coroutine runs)

        mark = (id(self), key)
        marks = COMPUTING.get()
        if mark in marks:
            return await work(), False
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        fkey = (id(loop), key)
        while True:
            with self._lock:
                flight = self._running.get(fkey)
                if flight is None or flight.loop is not loop:
                    flight = self._running[fkey] = _AsyncFlight(me, loop)
                    break
            if me is not None and flight.owner is me:
                return await work(), False
            try:
                await asyncio.wait_for(flight.done.wait(), timeout)
            except asyncio.TimeoutError:
                return await work(), False
            error = flight.error
            if error is None:
                return flight.value, True
            if isinstance(error, Exception):
                raise error.with_traceback(flight.tb)
            # the leader was cancelled: try to lead
        token = COMPUTING.set(marks | {mark})
        try:
            value = await work()
        except BaseException as exc:
            flight.error = exc
            flight.tb = exc.__traceback__
            raise
        else:
            flight.value = value
            return value, False
        finally:
            COMPUTING.reset(token)
            with self._lock:
                if self._running.get(fkey) is flight:
                    del self._running[fkey]
            # RuntimeError: the coroutine was closed after its loop was; nobody is waiting.
            with contextlib.suppress(RuntimeError):
                flight.done.set()

    def _after_fork(self) -> None:
        """In a forked child: no flights of the parent's loops."""
        self._lock = threading.Lock()
        self._running = {}
