"""The hot path of cached coroutine functions: the awaited result is cached, never the coroutine.

Single flight is per event loop: concurrent tasks awaiting one key wait for one computation.
If it raises, every waiter gets the exception; if the computing task is cancelled, a waiter
takes over (nobody hangs). Stores may be synchronous (memory, disk: called directly) or
asynchronous (`aget`/`aset`, awaited).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Hashable
from typing import Any

from twat_cache.keys import KeyMaker
from twat_cache.store import MISS
from twat_cache.wrapper import CacheState, _Flight, _slow_key

__all__ = ["build_async"]


def build_async(
    func: Callable[..., Any], state: CacheState, keymaker: KeyMaker
) -> Callable[..., Any]:
    """Return the cached coroutine-function wrapper of `func` over `state.store`."""
    store = state.store
    is_async_store = state.is_async_store
    get = store.get if not is_async_store else None
    aget = store.aget if is_async_store else None
    fast_n = keymaker.npos if keymaker.fast and not keymaker.varargs else -1
    flights: dict[Hashable, _Flight] = {}
    flights_lock = threading.Lock()
    aflight_lock = getattr(store, "aflight_lock", None)

    async def read(key: Hashable) -> Any:
        try:
            if aget is not None:
                return await aget(key, MISS)
            return get(key, MISS)  # type: ignore[misc]
        except TypeError:
            raise
        except Exception as exc:
            state.warn_once(
                "get", "twat_cache: reading the cache of %s failed (%s: %s)", state.name, type(exc).__name__, exc
            )
            return MISS

    async def write(key: Hashable, value: Any) -> None:
        try:
            if is_async_store:
                await store.aset(key, value)
            else:
                store.set(key, value)
        except Exception as exc:
            state.warn_once(
                "set",
                "twat_cache: could not store a result of %s (%s: %s); it is returned uncached",
                state.name,
                type(exc).__name__,
                exc,
            )

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not kwargs and len(args) == fast_n:
            key: Hashable = args
        else:
            key = _slow_key(state, keymaker, args, kwargs)
            if key is None:
                return await func(*args, **kwargs)
        try:
            value = get(key, MISS) if get is not None else await read(key)
        except TypeError:
            key = _slow_key(state, keymaker, args, kwargs)
            if key is None:
                return await func(*args, **kwargs)
            value = await read(key)
        except Exception:
            value = await read(key)
        if value is not MISS:
            state.hits += 1
            return value
        return await miss(key, args, kwargs)

    async def miss(key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        me = asyncio.current_task()
        with flights_lock:
            flight = flights.get(key)
            # A flight of another event loop (another thread, or an earlier asyncio.run) is not ours.
            leader = flight is None or flight.loop is not loop
            if leader:
                flight = flights[key] = _Flight(me, asyncio.Event(), loop)
        assert flight is not None
        if not leader:
            if flight.owner is me:  # the coroutine awaited its own key
                return await func(*args, **kwargs)
            await flight.done.wait()
            if flight.error is None:
                state.hits += 1
                return flight.value
            if isinstance(flight.error, Exception):
                raise flight.error
            return await wrapper(*args, **kwargs)  # the leader was cancelled: try again
        try:
            if aflight_lock is None:
                value = await _compute(key, args, kwargs)
            else:
                async with aflight_lock(key):
                    value = await _compute(key, args, kwargs)
            flight.value = value
            return value
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with flights_lock:
                if flights.get(key) is flight:
                    del flights[key]
            flight.done.set()

    async def _compute(key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        value = await read(key)
        if value is not MISS:
            state.hits += 1
            return value
        state.misses += 1
        value = await func(*args, **kwargs)
        await write(key, value)
        return value

    return wrapper
