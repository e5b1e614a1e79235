"""The cached callable of a coroutine function: the awaited result is cached, never the coroutine.

Stores are read the way that never blocks the event loop: memory stores directly (a hit never
suspends), asyncio-native stores (`AsyncStore`) through `get_nowait` and `aget`, and stores
that do I/O (`Store.blocking`: disk, files, network clients) in a worker thread, so storing or
loading a large value never stalls other tasks. Single flight is per event loop
(`aflights`); across processes it holds the store's `aflight_lock` when it has one.
"""

from __future__ import annotations

from twat_cache import hotpath, switch
from twat_cache.aflights import AsyncFlights
from twat_cache.binding import BadCall
from twat_cache.offload import to_thread
from twat_cache.store import MISS, AsyncStore
from twat_cache.ttl import AsyncTTLStore
from twat_cache.wrapper import Engine, attach, uncacheable_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable, Hashable
    from typing import Any

    from twat_cache.binding import Params
    from twat_cache.opening import Opened
    from twat_cache.state import CacheState
    from twat_cache.store import Store

__all__ = ["AsyncEngine", "build_async"]


class AsyncEngine(Engine):
    """The call path and per-call controls of a cached coroutine function."""

    def __init__(
        self,
        func: Callable[..., Any],
        state: CacheState,
        params: Params,
        wrapper: Callable[..., Any],
    ) -> None:
        super().__init__(func, state, params, wrapper)
        self.flights = AsyncFlights()
        self._background: set[asyncio.Task[Any]] = set()
        self._direct: Any = None  # set when the cache opens
        p = params
        self._fast_n = len(p.positional) if self.keymaker.simple and self.key_fn is None else -1

    async def first(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The stub's first call: open the cache, then answer the call."""
        await self.aopen()
        if switch.env_disabled():  # as every later call (`opened_hook`): straight through
            return await self.func(*args, **kwargs)
        return await self.call(args, kwargs)

    async def aopen(self) -> None:
        """Open the cache: in a worker thread when it keeps files (opening touches the disk)."""
        if self.opened is None:
            if self.state.record.folder is None:
                self.open(is_async=True)
            else:
                await to_thread(self.open, is_async=True)

    def opened_hook(self, opened: Opened) -> None:
        """Route the stub straight to `call` from now on, and pick the direct hit read."""
        store = opened.store
        self._direct = None
        if (
            opened.front is None
            and not opened.persistent
            and self.state.record.config.stale is None
        ):
            # A memory store read without awaiting: a hit is one call, no coroutine of ours.
            if isinstance(store, AsyncStore):
                if store.nowait_complete:
                    self._direct = store.get_nowait
            elif not store.blocking:
                self._direct = store.get
        wrapper = self.wrapper()
        if wrapper is not None:
            namespace: dict[str, Any] = getattr(wrapper, "__globals__")  # noqa: B009
            namespace["_tc_first"] = self.passthrough if switch.env_disabled() else self.call

    async def passthrough(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Caching is off for the process (`TWAT_CACHE_DISABLE`)."""
        return await self.func(*args, **kwargs)

    # -- store access that never blocks the loop ---------------------------------------------

    async def aread(self, skey: Hashable) -> Any:
        """A store read (fresh values): memory directly, async stores awaited, I/O in a thread."""
        store = self._store()
        try:
            if isinstance(store, AsyncStore):
                value = store.get_nowait(skey, MISS)
                if value is not MISS or store.nowait_complete:
                    return value
                return await store.aget(skey, MISS)
            if store.blocking:
                return await to_thread(store.get, skey, MISS)
            return store.get(skey, MISS)
        except Exception as exc:
            self.state.read_failed(exc)
            return MISS

    async def awrite(self, skey: Hashable, value: Any) -> None:
        """A store write, off the loop like `read`; failures are logged once."""
        store = self._store()
        try:
            if isinstance(store, AsyncStore):
                await store.aset(skey, value)
            elif store.blocking:
                await to_thread(store.set, skey, value)
            else:
                store.set(skey, value)
        except Exception as exc:
            self.state.store_failed(exc)

    async def alookup_stale(self, skey: Hashable) -> tuple[Any, bool]:
        """(value, fresh) through the stale window, off the loop for blocking stores."""
        store = self._store()
        if isinstance(store, AsyncTTLStore):  # an asyncio-native store: awaited
            try:
                return await store.alookup(skey)
            except Exception as exc:
                self.state.read_failed(exc)
                return MISS, False
        if store.blocking:
            found: tuple[Any, bool] = await to_thread(self.lookup_stale, skey)
            return found
        return self.lookup_stale(skey)

    def _store(self) -> Store:
        opened = self.opened
        assert opened is not None
        return opened.store

    # -- calls -------------------------------------------------------------------------------

    async def call(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """One call: key, front, store, then single flight on a miss."""
        if switch.is_disabled():
            return await self.func(*args, **kwargs)
        if not kwargs and len(args) == self._fast_n:
            key: Hashable = args
        else:
            try:
                key = self.call_key(args, kwargs)
            except BadCall:  # does not bind: let Python raise its TypeError
                return await self.func(*args, **kwargs)
        direct = self._direct
        if direct is not None:
            try:
                value = direct(key, MISS)
            except Exception:
                pass
            else:
                if value is not MISS:
                    next(self.state.hits.count)
                    return value
        opened = self.opened
        assert opened is not None
        try:
            if opened.front is not None:
                value = opened.front.get(opened.memory_key(key), MISS)
                if value is not MISS:
                    self.state.hits.tick()
                    return value
            skey = opened.store_key(key)
        except uncacheable_error() as exc:
            self.state.uncacheable(exc)
            return await self.func(*args, **kwargs)
        fresh = True
        if self.state.record.config.stale is not None:
            value, fresh = await self.alookup_stale(skey)
            if value is not MISS:
                self.state.hits.tick()
                if not fresh and self.start_refresh(skey):
                    self._spawn(self._refresh(key, skey, args, kwargs))
        else:
            value = await self.aread(skey)
            if value is not MISS:
                self.state.hits.tick()
        if value is not MISS:
            if fresh and opened.front is not None:  # a stale value must not outlive its window
                self.fill_front(key, value)
            return value
        value, waited = await self.flights.run(
            skey, lambda: self.lead(key, skey, args, kwargs), self.timeout
        )
        if waited:
            self.state.hits.tick()
        return value

    async def lead(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """The leader of a flight: under the store's async cross-process lock, re-check, compute."""
        lock = self._store().aflight_lock(skey)
        if lock is None:
            return await self._recheck_and_compute(key, skey, args, kwargs)
        async with lock:
            return await self._recheck_and_compute(key, skey, args, kwargs)

    async def _recheck_and_compute(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        value = await self.aread(skey)
        if value is not MISS:
            self.state.hits.tick()
            self.fill_front(key, value)
            return value
        return await self.compute(key, skey, args, kwargs)

    async def compute(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Await the function, count the miss, store the result (`cache_if` applies)."""
        import time  # noqa: PLC0415

        self.state.misses.tick()
        started = time.perf_counter()
        value = await self.func(*args, **kwargs)
        self.computed(started)
        if self.cache_if is None or self.cache_if(value):
            await self.awrite(skey, value)
            self.fill_front(key, value)
            self.track_instance(skey, args)
        return value

    async def _refresh(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        try:
            await self.flights.run(
                skey, lambda: self.compute(key, skey, args, kwargs), self.timeout
            )
        except Exception as exc:
            self.refresh_failed(exc)
        finally:
            self.end_refresh(skey)

    def _spawn(self, coro: Any) -> None:
        """Run `coro` as a background task, kept referenced until it ends."""
        import asyncio  # noqa: PLC0415

        task = asyncio.ensure_future(coro)
        self._background.add(task)  # a reference, so the task is not collected mid-flight
        task.add_done_callback(self._background.discard)

    # -- per-call controls (awaitables) -------------------------------------------------------

    async def cache_get(self, /, *args: Any, **kwargs: Any) -> Any:
        """The cached value of one call; KeyError when there is none (awaitable)."""
        await self.aopen()
        key, skey = self.keys(args, kwargs)
        opened = self.opened
        assert opened is not None
        if opened.front is not None:
            value = opened.front.get(key, MISS)
            if value is not MISS:
                return value
        value = await self.aread(skey)
        if value is MISS:
            raise KeyError(args if not kwargs else (args, kwargs))
        return value

    async def cache_set(self, value: Any, /, *args: Any, **kwargs: Any) -> None:
        """Store `value` as the result of one call (awaitable; no `cache_if`)."""
        await self.aopen()
        key, skey = self.keys(args, kwargs)
        store = self._store()
        if isinstance(store, AsyncStore):
            await store.aset(skey, value)
        elif store.blocking:
            await to_thread(store.set, skey, value)
        else:
            store.set(skey, value)
        self.fill_front(key, value)

    async def cache_refresh(self, /, *args: Any, **kwargs: Any) -> Any:
        """Compute one call again, store it (`cache_if` applies) and return it (awaitable)."""
        await self.aopen()
        key, skey = self.keys(args, kwargs)
        value, _ = await self.flights.run(
            skey, lambda: self.compute(key, skey, args, kwargs), self.timeout
        )
        return value


def build_async(func: Callable[..., Any], state: CacheState, params: Params) -> Callable[..., Any]:
    """Return the cached coroutine-function wrapper of `func` (its store opens on first call)."""
    namespace = hotpath.new_globals(_unset)
    wrapper = hotpath.stub(namespace, is_async=True)
    engine = AsyncEngine(func, state, params, wrapper)
    namespace["_tc_first"] = engine.first
    attach(wrapper, func, engine)
    wrapper.__dict__.update(
        cache_get=engine.cache_get, cache_set=engine.cache_set, cache_refresh=engine.cache_refresh
    )
    return wrapper


async def _unset(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:  # pragma: no cover
    raise RuntimeError("twat_cache: a wrapper was called before it was built")
