"""The hot path of cached coroutine functions: the awaited result is cached, never the coroutine.

Stores may be synchronous (memory, disk: called directly, a hit never suspends) or
asynchronous (`aget`/`aset`, awaited). An async store that can answer from memory without
awaiting offers `get_nowait(key, default)`; the hit path then calls it directly (aiocache).

Single flight is per event loop: concurrent tasks awaiting one key wait for one computation.
If it raises, every waiter gets that exception and the next call computes again; if the
computing task is cancelled (or its coroutine is closed), the waiters retry and one of them
computes; a cancelled waiter leaves the computation alone. Loops never wait on each other:
each `asyncio.run()` and each thread with a loop of its own has its own flights (two loops
may compute one key at the same time; both results are correct, the later one is kept).
A store's `aflight_lock(key)` (an async context manager) extends single flight across
processes; a synchronous `flight_lock` is not used here, since holding a blocking lock across
an `await` can stall or deadlock the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Hashable
from types import TracebackType
from typing import Any

from twat_cache.encode import UncacheableError
from twat_cache.keys import KeyMaker
from twat_cache.store import MISS
from twat_cache.wrapper import _UNCACHEABLE, CacheState, _slow_key

__all__ = ["build_async"]


class _AsyncFlight:
    """One computation in progress on one event loop; waiters await `done`, then read the outcome.

    `loop` is kept (a strong reference) so the loop's id, part of the flight's key, cannot be
    reused by a new loop while this flight is registered.
    """

    __slots__ = ("done", "error", "loop", "owner", "tb", "value")

    def __init__(self, owner: object, loop: asyncio.AbstractEventLoop) -> None:
        self.owner = owner
        self.loop = loop
        self.done = asyncio.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.tb: TracebackType | None = None


def build_async(
    func: Callable[..., Any], state: CacheState, keymaker: KeyMaker
) -> Callable[..., Any]:
    """Return the cached coroutine-function wrapper of `func` over `state.store`."""
    store = state.store
    get: Callable[[Hashable, Any], Any] | None
    aget: Callable[[Hashable, Any], Any] | None
    if state.is_async_store:
        get = getattr(store, "get_nowait", None)
        aget = store.aget
    else:
        get = store.get
        aget = None
    fast_n = keymaker.npos if keymaker.fast and not keymaker.varargs else -1
    flights: dict[tuple[int, Hashable], _AsyncFlight] = {}
    flights_lock = threading.Lock()  # flights is shared by every thread's loop
    aflight_lock = getattr(store, "aflight_lock", None)
    get_running_loop = asyncio.get_running_loop
    current_task = asyncio.current_task

    async def read(key: Hashable) -> Any:
        """Read the store off the hot path (canonical key); an error is a miss, logged once.

        `_UNCACHEABLE` when the store cannot encode the key: the call then runs uncached.
        """
        try:
            if get is not None:
                return get(key, MISS)
            return await aget(key, MISS)  # type: ignore[misc]
        except UncacheableError as exc:
            state.uncacheable(exc)
            return _UNCACHEABLE
        except Exception as exc:
            state.read_failed(exc)
            return MISS

    async def write(key: Hashable, value: Any) -> None:
        try:
            if aget is not None:
                await store.aset(key, value)
            else:
                store.set(key, value)
        except Exception as exc:
            state.store_failed(exc)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kwargs and len(args) == fast_n:
            key: Hashable = args
        else:
            key = _slow_key(state, keymaker, args, kwargs)
            if key is None:
                return await func(*args, **kwargs)
        try:
            value = get(key, MISS) if get is not None else await aget(key, MISS)  # type: ignore[misc]
        except TypeError:  # an unhashable argument on the fast path: canonicalize and retry
            key = _slow_key(state, keymaker, args, kwargs)
            if key is None:
                return await func(*args, **kwargs)
            value = await read(key)
        except Exception:
            value = await read(key)
        if value is _UNCACHEABLE:
            return await func(*args, **kwargs)
        if value is not MISS:
            state.hits += 1
            return value
        return await miss(key, args, kwargs)

    async def miss(key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        try:
            hash(key)
        except TypeError:  # a store answered MISS for an unhashable fast-path key
            canonical_key = _slow_key(state, keymaker, args, kwargs)
            if canonical_key is None:
                return await func(*args, **kwargs)
            key = canonical_key
        try:
            loop = get_running_loop()
        except RuntimeError:  # driven by something other than asyncio: no single flight
            return await compute(key, args, kwargs)
        me = current_task()
        fkey = (id(loop), key)
        with flights_lock:
            flight = flights.get(fkey)
            leader = flight is None or flight.loop is not loop
            if leader:
                flight = flights[fkey] = _AsyncFlight(me, loop)
        assert flight is not None
        if not leader:
            if me is not None and flight.owner is me:  # the coroutine awaited its own key
                return await func(*args, **kwargs)
            await flight.done.wait()  # a cancelled waiter just leaves; the leader goes on
            error = flight.error
            if error is None:
                state.hits += 1
                return flight.value
            if isinstance(error, Exception):
                raise error.with_traceback(flight.tb)  # the leader's traceback, not a growing one
            return await wrapper(*args, **kwargs)  # the leader was cancelled: try again
        try:
            if aflight_lock is None:
                value = await compute(key, args, kwargs)
            else:
                async with aflight_lock(key):
                    value = await compute(key, args, kwargs)
        except BaseException as exc:
            flight.error = exc
            flight.tb = exc.__traceback__
            raise
        else:
            flight.value = value
            return value
        finally:
            with flights_lock:
                if flights.get(fkey) is flight:
                    del flights[fkey]
            # RuntimeError: the coroutine was closed after its loop was; nobody is waiting.
            with contextlib.suppress(RuntimeError):
                flight.done.set()

    async def compute(key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        value = await read(key)  # another loop, thread or process may have stored it meanwhile
        if value is not MISS and value is not _UNCACHEABLE:
            state.hits += 1
            return value
        state.misses += 1
        value = await func(*args, **kwargs)
        await write(key, value)
        return value

    return wrapper
