"""The cached callable of a plain function: its attributes, its slow path, its per-call controls.

`build` makes the wrapper users call: a stub that opens the cache on its first call and then
becomes the generated exact-signature hit path (`hotpath`). Everything after a failed lookup
is `SyncEngine.slow`: canonical keys for unhashable arguments, the disk digest of persistent
stores, the stale window, single flight (threads here, processes through the store's lock),
computing, `cache_if`, storing, the front tier and the warnings said once.
"""

from __future__ import annotations

import functools
import threading
import time
import weakref

from twat_cache import hotpath, switch
from twat_cache.binding import BadCall, KeyMaker, Params
from twat_cache.flights import Flights, reset_after_fork
from twat_cache.options import wait_timeout
from twat_cache.state import COMPUTE_HOOKS
from twat_cache.store import MISS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any

    from twat_cache.opening import Opened
    from twat_cache.state import CacheState
    from twat_cache.store import Store

__all__ = ["Engine", "SyncEngine", "attach", "build"]

#: What a failed lookup was, for the slow path.
UNHASHABLE: Any = type("Unhashable", (), {"__repr__": lambda self: "UNHASHABLE"})()
FAILED: Any = type("Failed", (), {"__repr__": lambda self: "FAILED"})()


class _Gate:
    """A store's mapping while `disabled()` is active somewhere: a miss where it is active here."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getitem__(self, key: Hashable) -> Any:
        if switch.is_disabled():
            raise KeyError(key)
        return self._inner[key]


class Engine:
    """What the sync and async wrappers share: opening, keys, the per-call controls' keys.

    `opened` is None until the first call (or a management call) opens the cache.
    """

    def __init__(
        self,
        func: Callable[..., Any],
        state: CacheState,
        params: Params,
        wrapper: Callable[..., Any],
    ) -> None:
        self.func = func
        self.state = state
        self.params = params
        # Held weakly: the wrapper holds the engine, and dropping it must free the cache.
        self.wrapper = weakref.ref(wrapper)
        config = state.record.config
        # In-process stores (memory, and async ones like aiocache's) hold `self` weakly; a
        # persistent store's keys are digests of the instance (`open` turns this off).
        weak_self = state.record.is_method and state.record.kind in ("memory", "async")
        self.keymaker = KeyMaker(
            params, typed=config.typed, ignore=config.ignore, weak_self=weak_self
        )
        self.key_fn = config.key
        self.cache_if = config.cache_if
        self._timeout = config.wait_timeout
        self.opened: Opened | None = None
        self._open_lock = threading.RLock()
        # memory caches of methods: the keys of each live instance, dropped when it dies
        self._instances: dict[Any, list[Hashable]] = {}
        self._instances_lock = threading.RLock()  # finalizers may run inside it (a collection)
        self._refreshing: set[Hashable] = set()
        self._refreshing_lock = threading.Lock()
        reset_after_fork(self)

    @property
    def timeout(self) -> float:
        """Seconds a call waits for another's computation (`wait_timeout=`, else the default)."""
        return wait_timeout(self._timeout)

    # -- opening ------------------------------------------------------------------------------

    def open(self, *, is_async: bool = False) -> Opened:
        """Open the cache (once); later calls return what was opened."""
        opened = self.opened
        if opened is None:
            with self._open_lock:
                opened = self.opened
                if opened is None:
                    # The store's machinery loads with the first call, not with the decoration.
                    from twat_cache.opening import open_cache  # noqa: PLC0415

                    opened = open_cache(self.state, is_async=is_async)
                    self.state.store = opened.store
                    self.state.front = opened.front
                    if opened.persistent and self.keymaker.weak_self:
                        # a persistent store's keys are digests of the instance itself (and
                        # plans made before opening, by a per-call control, are made again)
                        self.keymaker.weak_self = False
                        self.keymaker.plans.clear()
                    self.opened = opened
                    self.publish()
                    self.opened_hook(opened)
        return opened

    def opened_hook(self, opened: Opened) -> None:
        """Called once when the cache opens (the sync wrapper installs its hit path)."""

    def publish(self) -> None:
        """The wrapper's attributes that depend on what opened (a fallback may have happened)."""
        wrapper = self.wrapper()
        if wrapper is None or self.opened is None:
            return
        record = self.state.record
        wrapper.__dict__.update(
            cache=self.opened.store.native,
            cache_backend=record.backend,
            cache_config=record.config,
        )

    # -- keys ---------------------------------------------------------------------------------

    def call_key(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        """The key of a call (before canonicalization); raises BadCall when it does not bind."""
        if self.key_fn is not None:
            key: Hashable = self.key_fn(*args, **kwargs)
            return key
        return self.keymaker(args, kwargs)

    def keys(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Hashable, Hashable]:
        """(memory key, store key) of a call, for the per-call controls.

        Raises TypeError when the arguments do not bind, UncacheableError when they cannot be
        keyed.
        """
        try:
            key = self.call_key(args, kwargs)
        except BadCall:
            raise TypeError(
                f"{self.state.name}: the arguments do not match the function's signature"
            ) from None
        opened = self.open()
        return opened.memory_key(key), opened.store_key(key)

    def track_instance(self, key: Hashable, args: tuple[Any, ...]) -> None:
        """Memory caches of methods: drop an instance's entries when it is collected."""
        if not self.keymaker.weak_self or not args or type(key) is not tuple or not key:
            return
        ref = key[0]
        if not isinstance(ref, weakref.ref):
            return
        with self._instances_lock:
            keys = self._instances.get(ref)
            if keys is None:
                keys = self._instances[ref] = []
                weakref.finalize(args[0], _forget_instance, weakref.ref(self), ref)
            keys.append(key)

    def forget_instance(self, ref: Any) -> None:
        """An instance died: drop its entries."""
        with self._instances_lock:
            keys = self._instances.pop(ref, ())
        store = self.state.store
        if store is not None:
            for key in keys:
                try:
                    store.delete(key)
                except Exception:
                    continue

    def stored(self, key: Hashable, skey: Hashable, args: tuple[Any, ...], value: Any) -> None:
        """Store a computed result (unless `cache_if` refuses it); failures are logged once."""
        if self.cache_if is not None and not self.cache_if(value):
            return
        opened = self.opened
        assert opened is not None
        try:
            opened.store.set(skey, value)
        except Exception as exc:
            self.state.store_failed(exc)
            return
        if opened.front is not None:
            self.fill_front(key, value)
        self.track_instance(skey, args)

    def fill_front(self, key: Hashable, value: Any) -> None:
        """Put a value into the front tier (best effort)."""
        opened = self.opened
        if opened is not None and opened.front is not None:
            # A value the front cannot hold is still in the store. (contextlib is not imported
            # by decorating, and this is the only place that would want it.)
            try:  # noqa: SIM105
                opened.front.set(opened.memory_key(key), value)
            except Exception:
                pass

    def read(self, skey: Hashable) -> Any:
        """A store read off the hot path (fresh values only): errors are a miss, logged once."""
        opened = self.opened
        assert opened is not None
        try:
            return opened.store.get(skey, MISS)
        except Exception as exc:
            self.state.read_failed(exc)
            return MISS

    def lookup_stale(self, skey: Hashable) -> tuple[Any, bool]:
        """(value, fresh) from a store with a stale window; (MISS, False) on a miss."""
        opened = self.opened
        assert opened is not None
        try:
            return opened.store.lookup(skey)  # type: ignore[attr-defined,no-any-return]
        except Exception as exc:
            self.state.read_failed(exc)
            return MISS, False

    def start_refresh(self, skey: Hashable) -> bool:
        """Claim the one background refresh of `skey`; False when one is running."""
        with self._refreshing_lock:
            if skey in self._refreshing:
                return False
            self._refreshing.add(skey)
            return True

    def end_refresh(self, skey: Hashable) -> None:
        """The background refresh of `skey` is over."""
        with self._refreshing_lock:
            self._refreshing.discard(skey)

    def refresh_failed(self, exc: Exception) -> None:
        """Log a background refresh that raised; the stale value keeps being served."""
        from twat_cache._log import logger  # noqa: PLC0415

        logger.warning(
            "%s: refreshing a stale entry failed (%s: %s); the stale value stays until "
            "its ttl + stale",
            self.state.name,
            type(exc).__name__,
            exc,
        )

    def computed(self, started: float) -> None:
        """Report one computation's duration to the hooks (`instrument()`)."""
        if COMPUTE_HOOKS:
            elapsed = time.perf_counter() - started
            for hook in list(COMPUTE_HOOKS):
                hook(self.state, elapsed)

    def cache_delete(self, /, *args: Any, **kwargs: Any) -> bool:
        """Drop the entry of one call (the function's arguments); True if dropped."""
        try:
            key, skey = self.keys(args, kwargs)
        except (TypeError, uncacheable_error()):
            return False
        opened = self.open()
        if opened.front is not None:
            opened.front.delete(key)
        return bool(opened.store.delete(skey))

    def _after_fork(self) -> None:
        """In a forked child: fresh locks; the stores reopen their connections."""
        self._open_lock = threading.RLock()
        self._instances_lock = threading.RLock()  # finalizers may run inside it (a collection)
        self._refreshing_lock = threading.Lock()
        self._refreshing = set()
        opened = self.opened
        if opened is not None:
            opened.store.after_fork()
            if opened.front is not None:
                opened.front.after_fork()
            self.rewire()

    def rewire(self) -> None:
        """Read the store's hit-path callables again (after a fork)."""


def uncacheable_error() -> type[Exception]:
    """`encode.UncacheableError` (loaded with the store, at the first call)."""
    from twat_cache.encode import UncacheableError  # noqa: PLC0415

    return UncacheableError


def _forget_instance(engine_ref: weakref.ref[Engine], ref: Any) -> None:
    engine = engine_ref()
    if engine is not None:
        engine.forget_instance(ref)


class SyncEngine(Engine):
    """The slow path and per-call controls of a cached plain function."""

    def __init__(
        self,
        func: Callable[..., Any],
        state: CacheState,
        params: Params,
        wrapper: Callable[..., Any],
    ) -> None:
        super().__init__(func, state, params, wrapper)
        self.flights = Flights()
        self._mapping: Any = None
        self._get: Any = None
        self._gated = False
        # What the hit path reads now (gated while `disabled()` is active somewhere).
        self.cur_map: Any = None
        self.cur_get: Any = None

    def _namespace(self) -> dict[str, Any] | None:
        wrapper = self.wrapper()
        if wrapper is None:
            return None
        namespace: dict[str, Any] = getattr(wrapper, "__globals__")  # noqa: B009
        return namespace

    # -- the first call ------------------------------------------------------------------------

    def first(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The stub's first call: open the cache, install the hit path, answer the call."""
        self.open()
        if switch.env_disabled():
            return self.func(*args, **kwargs)
        return self.generic(args, kwargs)

    def opened_hook(self, opened: Opened) -> None:
        """Wire the hit path to the opened store (or the front) and install it."""
        ns = self._namespace()
        if ns is None:
            return
        ns.update(hotpath.CONSTANTS)
        ns.update(
            _tc_MISS=MISS,
            _tc_UNHASHABLE=UNHASHABLE,
            _tc_FAILED=FAILED,
            _tc_hits=self.state.hits.count,
            _tc_slow=self.slow,
            _tc_IGNORE=self.keymaker.ignore,
            _tc_ref=weakref.ref,
        )
        self.rewire()
        wrapper = self.wrapper()
        if switch.env_disabled():
            ns["_tc_first"] = self.passthrough
            return
        code = None
        if self.key_fn is None and wrapper is not None:
            code = hotpath.generate(
                self.keymaker,
                mapping=self._mapping is not None,
                name=getattr(self.func, "__name__", "wrapper"),
                qualname=getattr(self.func, "__qualname__", "wrapper"),
                filename=f"twat_cache-hit-path-{self.state.name}.py",
            )
        ns["_tc_first"] = self.generic
        if code is not None and wrapper is not None:
            code.install(wrapper, ns)
        switch.register(self)

    def rewire(self) -> None:
        """Read the store's hit-path callables again (a fork may have replaced them)."""
        opened = self.opened
        if opened is None:
            return
        if opened.front is None and opened.persistent:
            self._mapping, self._get = None, self._persistent_get
        else:
            reader = opened.front if opened.front is not None else opened.store
            self._mapping, self._get = reader.mapping, reader.get
        self._wire()

    def _wire(self) -> None:
        if self._gated:
            self.cur_map = _Gate(self._mapping) if self._mapping is not None else None
            self.cur_get = self._gated_get
        else:
            self.cur_map = self._mapping
            self.cur_get = self._get
        ns = self._namespace()
        if ns is not None:
            ns["_tc_map"] = self.cur_map
            ns["_tc_get"] = self.cur_get

    def gate(self, on: bool) -> None:
        """Route hit-path reads through the `disabled()` check (or back out of it)."""
        self._gated = on
        if self.opened is not None:
            self._wire()

    def _gated_get(self, key: Hashable, default: Any) -> Any:
        if switch.is_disabled():
            return default
        return self._get(key, default)

    def _persistent_get(self, key: Hashable, default: Any) -> Any:
        opened = self.opened
        assert opened is not None
        return opened.store.get(opened.store_key(key), default)

    # -- calls ----------------------------------------------------------------------------------

    def passthrough(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Caching is off for the process (`TWAT_CACHE_DISABLE`)."""
        return self.func(*args, **kwargs)

    def generic(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """A call through the stub (no exact hit path, or `key=`): make the key, then look."""
        try:
            key = self.call_key(args, kwargs)
        except BadCall:  # does not bind: let Python raise its TypeError
            return self.func(*args, **kwargs)
        mapping = self.cur_map
        try:
            if mapping is not None:
                try:
                    value = mapping[key]
                except KeyError:
                    value = MISS
            else:
                value = self.cur_get(key, MISS)
        except TypeError:
            value = UNHASHABLE
        except Exception:
            value = FAILED
        if value is not MISS and value is not UNHASHABLE and value is not FAILED:
            self.state.hits.tick()
            return value
        return self.slow(key, args, kwargs, value)

    def slow(self, key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any], why: Any) -> Any:
        """Finish a call whose hit-path lookup did not hit.

        `why` is MISS, UNHASHABLE (an unhashable argument: look again with the canonical key)
        or FAILED (the store raised, or a persistent key could not be made: look again, logged
        once, as a miss).
        """
        if switch.is_disabled():
            return self.func(*args, **kwargs)
        opened = self.opened
        assert opened is not None
        if key is None or (why is UNHASHABLE and self.keymaker.weak_self):
            # The hit path could not build it (an instance without weak refs), or built it
            # around an instance that cannot be hashed: the plans key that one by identity.
            key = self.call_key(args, kwargs)
        try:
            if why is UNHASHABLE and not opened.persistent:
                # A memory store and an unhashable argument: its canonical key, at once (the
                # common case, e.g. a list or an array argument, is a hit on that key).
                skey = opened.canonical(key)
                value = _read_quietly(opened.store, skey)
                if value is not MISS:
                    next(self.state.hits.count)
                    return value
                why = MISS
            else:
                skey = opened.store_key(key)
        except uncacheable_error() as exc:
            self.state.uncacheable(exc)
            return self.func(*args, **kwargs)
        if why is not MISS:
            if opened.front is not None:
                value = _read_quietly(opened.front, opened.memory_key(key))
            else:
                value = self.read(skey)
            if value is not MISS:
                self.state.hits.tick()
                return value
        if opened.front is not None:
            value = self.read_through(key, skey, args, kwargs)
            if value is not MISS:
                return value
        elif self.state.record.config.stale is not None:
            value, _ = self.serve_stale(key, skey, args, kwargs)
            if value is not MISS:
                return value
        return self.miss(key, skey, args, kwargs)

    def read_through(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """The front missed: read the store (stale window included) and fill the front."""
        fresh = True
        if self.state.record.config.stale is not None:
            value, fresh = self.serve_stale(key, skey, args, kwargs)
        else:
            value = self.read(skey)
            if value is not MISS:
                self.state.hits.tick()
        if value is not MISS and fresh:  # a stale value must not outlive its window
            self.fill_front(key, value)
        return value

    def serve_stale(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, bool]:
        """(value, fresh): a fresh value, or a stale one with a background refresh started.

        (MISS, False) when there is neither.
        """
        value, fresh = self.lookup_stale(skey)
        if value is MISS:
            return MISS, False
        self.state.hits.tick()
        if not fresh and self.start_refresh(skey):
            thread = threading.Thread(
                target=self._refresh_in_background,
                args=(key, skey, args, kwargs),
                name=f"twat_cache refresh {self.state.name}",
                daemon=True,
            )
            thread.start()
        return value, fresh

    def _refresh_in_background(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        try:
            self.flights.run(skey, lambda: self.compute(key, skey, args, kwargs), self.timeout)
        except Exception as exc:
            self.refresh_failed(exc)
        finally:
            self.end_refresh(skey)

    def miss(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Compute `key` once for all concurrent callers (threads; processes via the store)."""
        value, waited = self.flights.run(
            skey, lambda: self.lead(key, skey, args, kwargs), self.timeout
        )
        if waited:
            self.state.hits.tick()
        return value

    def lead(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """The leader of a flight: under the store's cross-process lock, re-check, compute."""
        opened = self.opened
        assert opened is not None
        lock = opened.store.flight_lock(skey)
        if lock is None:
            return self._recheck_and_compute(key, skey, args, kwargs)
        with lock:
            return self._recheck_and_compute(key, skey, args, kwargs)

    def _recheck_and_compute(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        value = self.read(skey)  # another thread or process may have stored it meanwhile
        if value is not MISS:
            self.state.hits.tick()
            self.fill_front(key, value)
            return value
        return self.compute(key, skey, args, kwargs)

    def compute(
        self, key: Hashable, skey: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Call the function, count the miss, store the result."""
        self.state.misses.tick()
        started = time.perf_counter()
        value = self.func(*args, **kwargs)
        self.computed(started)
        self.stored(key, skey, args, value)
        return value

    # -- per-call controls --------------------------------------------------------------------

    def cache_get(self, /, *args: Any, **kwargs: Any) -> Any:
        """The cached value of one call; KeyError when there is none."""
        key, skey = self.keys(args, kwargs)
        opened = self.open()
        if opened.front is not None:
            value = _read_quietly(opened.front, key)
            if value is not MISS:
                return value
        value = opened.store.get(skey, MISS)
        if value is MISS:
            raise KeyError(args if not kwargs else (args, kwargs))
        return value

    def cache_set(self, value: Any, /, *args: Any, **kwargs: Any) -> None:
        """Store `value` as the result of one call (unconditionally: no `cache_if`)."""
        key, skey = self.keys(args, kwargs)
        opened = self.open()
        opened.store.set(skey, value)
        if opened.front is not None:
            opened.front.set(key, value)

    def cache_refresh(self, /, *args: Any, **kwargs: Any) -> Any:
        """Compute one call again, store it (`cache_if` applies) and return it."""
        key, skey = self.keys(args, kwargs)
        self.open()
        value, _ = self.flights.run(
            skey, lambda: self.compute(key, skey, args, kwargs), self.timeout
        )
        return value


def _read_quietly(store: Store, key: Hashable) -> Any:
    try:
        return store.get(key, MISS)
    except Exception:
        return MISS


def attach(wrapper: Callable[..., Any], func: Callable[..., Any], engine: Engine) -> None:
    """Give `wrapper` functools' attributes and the cache's (info, clear, delete, ...)."""
    functools.update_wrapper(wrapper, func)
    state = engine.state
    state.open = _weak_opener(engine)
    # Bound methods, not closures: fewer objects per decoration (a program decorates by the
    # dozen while it starts, and the collector walks them all again at exit).
    attrs = wrapper.__dict__
    attrs["cache"] = _LazyNative(engine)
    attrs["cache_backend"] = state.record.backend
    attrs["cache_config"] = state.record.config
    attrs["cache_info"] = state.info
    attrs["cache_clear"] = attrs["clear"] = state.clear
    attrs["cache_delete"] = engine.cache_delete
    attrs["_twat_cache_engine"] = engine  # for twat_cache.testing.store_of and the command


def build(func: Callable[..., Any], state: CacheState, params: Params) -> Callable[..., Any]:
    """Return the cached wrapper of the plain function `func` (its store opens on first call)."""
    namespace = hotpath.new_globals(_unset)
    wrapper = hotpath.stub(namespace)
    engine = SyncEngine(func, state, params, wrapper)
    namespace["_tc_first"] = engine.first
    attach(wrapper, func, engine)
    wrapper.__dict__.update(
        cache_get=engine.cache_get, cache_set=engine.cache_set, cache_refresh=engine.cache_refresh
    )
    return wrapper


def _weak_opener(engine: Engine) -> Callable[[], Store]:
    """`state.open` without a reference cycle state -> engine -> state."""
    ref = weakref.ref(engine)

    def open_store() -> Store:
        alive = ref()
        if alive is None:
            raise RuntimeError("the cached function was dropped")
        return alive.open().store

    return open_store


def _unset(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:  # pragma: no cover
    raise RuntimeError("twat_cache: a wrapper was called before it was built")


class _LazyNative:
    """`wrapper.cache` before the first call: the backend's native object, opened on first use.

    Any attribute access (and `len()`, iteration, `in`, `repr`) opens the cache and forwards to
    the native object; `isinstance(wrapper.cache, cachebox.LRUCache)` works through
    `__class__`. Once the cache is open, `wrapper.cache` is the native object itself.
    """

    __slots__ = ("_engine",)

    def __init__(self, engine: Engine) -> None:
        object.__setattr__(self, "_engine", engine)

    def __getattribute__(self, name: str) -> Any:
        native = _native_of(self)
        return type(native) if name == "__class__" else getattr(native, name)

    def __len__(self) -> int:
        return len(_native_of(self))

    def __iter__(self) -> Any:
        return iter(_native_of(self))

    def __contains__(self, item: object) -> bool:
        return item in _native_of(self)

    def __repr__(self) -> str:
        return repr(_native_of(self))


def _native_of(proxy: _LazyNative) -> Any:
    engine: Engine = object.__getattribute__(proxy, "_engine")
    return engine.open().store.native
