"""The cached callable: hot path, single flight, statistics and the functools-style attributes.

`build` turns a function, a chosen store and its config into the wrapper users call. A hit is
one call into the store's `get` (for cachebox a Rust lookup) after the key is made: positional
calls that already are their own key skip normalization. Everything slow lives on the miss
path: single flight (threads, asyncio tasks, and processes where the store offers a lock),
storing, and the warnings.
"""

from __future__ import annotations

import builtins
import functools
import threading
from collections import namedtuple
from collections.abc import Callable, Hashable

from twat_cache._log import logger
from twat_cache._missing import MISS
from twat_cache.encode import UncacheableError, memory_key
from twat_cache.keys import _KW, KeyMaker, _BadCall

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NamedTuple

    from twat_cache.config import CacheConfig

__all__ = ["CacheInfo", "CacheState", "build"]


if TYPE_CHECKING:

    class CacheInfo(NamedTuple):
        """Statistics of one cache, shaped like `functools.lru_cache`'s `cache_info()`."""

        hits: int
        misses: int
        maxsize: int | None
        currsize: int

else:  # the same tuple without importing typing (as functools does for its _CacheInfo)
    CacheInfo = namedtuple("CacheInfo", ["hits", "misses", "maxsize", "currsize"])
    CacheInfo.__doc__ = "Statistics of one cache, shaped like lru_cache's `cache_info()`."


class CacheState:
    """Everything about one cached function except its hot path: identity, store, counters.

    `hits` counts calls answered without computing (waiters of a single flight included);
    `misses` counts computations. Warnings about storing or keying are logged once per cache.
    """

    def __init__(
        self,
        *,
        name: str,
        backend: str,
        kind: str,
        config: CacheConfig,
        store: Any,
        namespace: str,
        folder: Any,
    ) -> None:
        self.name = name
        self.backend = backend
        self.kind = kind
        self.config = config
        self.store = store
        self.namespace = namespace
        self.folder = folder
        self.is_async_store = hasattr(store, "aget")
        self.hits = 0
        self.misses = 0
        self._warned: set[str] = set()

    def warn_once(self, topic: str, message: str, *args: object) -> None:
        """Log `message` at WARNING the first time `topic` comes up for this cache."""
        if topic not in self._warned:
            self._warned.add(topic)
            logger.warning(message, *args)

    def read_failed(self, exc: Exception) -> None:
        """A store read raised: the call is a miss; said once per cache."""
        self.warn_once(
            "get",
            "twat_cache: reading the cache of %s failed (%s: %s)",
            self.name,
            type(exc).__name__,
            exc,
        )

    def uncacheable(self, exc: Exception) -> None:
        """An argument cannot be keyed: the call runs uncached; said once per cache."""
        self.warn_once("key", "twat_cache: %s is called uncached: %s", self.name, exc)

    def store_failed(self, exc: Exception) -> None:
        """Storing a result raised: the result is still returned; said once per cache."""
        self.warn_once(
            "set",
            "twat_cache: could not store a result of %s (%s: %s); it is returned uncached",
            self.name,
            type(exc).__name__,
            exc,
        )

    def size(self) -> int:
        """The number of entries in the store (0 if the store cannot tell)."""
        try:
            return len(self.store)
        except Exception:
            return 0

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        self.store.clear()
        self.hits = 0
        self.misses = 0

    def info(self) -> CacheInfo:
        """The `cache_info()` tuple."""
        return CacheInfo(self.hits, self.misses, self.config.maxsize, self.size())


class _Flight:
    """One computation in progress; waiters block on `done` and then read `value` or `error`."""

    __slots__ = ("done", "error", "loop", "owner", "value")

    def __init__(self, owner: object, done: Any, loop: object = None) -> None:
        self.owner = owner
        self.done = done
        self.loop = loop
        self.value: Any = None
        self.error: BaseException | None = None


def _key_of(keymaker: KeyMaker, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
    """The canonical key of a call, for `cache_delete` (raises _BadCall / UncacheableError)."""
    key: Hashable = keymaker(args, kwargs)
    try:
        hash(key)
    except TypeError:
        key = memory_key(key)  # type: ignore[arg-type]
    return key


def build(func: Callable[..., Any], state: CacheState, *, is_async: bool) -> Callable[..., Any]:
    """Return the cached wrapper of `func` over `state.store`, with every public attribute."""
    keymaker = KeyMaker(func, typed=state.config.typed)
    if is_async:
        from twat_cache.async_wrapper import build_async  # noqa: PLC0415  (imports asyncio)

        wrapper = build_async(func, state, keymaker)
    else:
        wrapper = _build_sync(func, state, keymaker)
    functools.update_wrapper(wrapper, func)

    def cache_info() -> CacheInfo:
        return state.info()

    def cache_clear() -> None:
        state.clear()

    def cache_delete(*args: Any, **kwargs: Any) -> bool:
        try:
            key = _key_of(keymaker, args, kwargs)
            return bool(state.store.delete(key))
        except (_BadCall, UncacheableError):  # such a call is never stored
            return False

    cache_info.__doc__ = "Return (hits, misses, maxsize, currsize) of this cache."
    cache_clear.__doc__ = "Drop every cached entry of this function and reset its counters."
    cache_delete.__doc__ = "Drop the entry of one call (the function's arguments); True if dropped."
    attrs = wrapper.__dict__
    attrs["cache"] = state.store.native
    attrs["cache_backend"] = state.backend
    attrs["cache_config"] = state.config
    attrs["cache_info"] = cache_info
    attrs["cache_clear"] = cache_clear
    attrs["clear"] = cache_clear
    attrs["cache_delete"] = cache_delete
    attrs["_twat_cache_state"] = state
    return wrapper


def _slow_key(
    state: CacheState, keymaker: KeyMaker, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Hashable | None:
    """The key of a call that did not take the fast path; None means "call uncached"."""
    try:
        key: Hashable = keymaker(args, kwargs)
    except _BadCall:
        return None
    try:
        hash(key)
    except TypeError:
        return _memory_key(state, key)
    return key


def _memory_key(state: CacheState, key: Any) -> Hashable | None:
    """`encode.memory_key` of a call key that is not hashable; None means "call uncached"."""
    try:
        return memory_key(key)
    except UncacheableError as exc:
        state.uncacheable(exc)
        return None


def _store_result(state: CacheState, key: Hashable, value: Any) -> None:
    try:
        state.store.set(key, value)
    except Exception as exc:
        state.store_failed(exc)


def _lookup(state: CacheState, key: Hashable) -> Any:
    """A store read off the hot path: store errors are a miss, logged once.

    `_UNCACHEABLE` when the store cannot encode the key (a persistent store meeting an
    argument such as a lock or a generator): the caller runs the call uncached.
    """
    try:
        return state.store.get(key, MISS)
    except UncacheableError as exc:
        state.uncacheable(exc)
        return _UNCACHEABLE
    except Exception as exc:
        state.read_failed(exc)
        return MISS


_NO_KWARGS: dict[str, Any] = {}
_PREFIX = "_tc_"
# What a failed lookup was, for the slow path (set outside the handler so that an exception
# from the function itself is not chained to the lookup's KeyError/TypeError).
_UNHASHABLE: Any = object()
_FAILED: Any = object()
_UNCACHEABLE: Any = object()


def _lookup_source(mapping: bool, indent: str) -> list[str]:
    """Lines of the hot path after `_tc_key` is made.

    A hit returns; anything else falls through with `_tc_value` set to MISS, _UNHASHABLE or
    _FAILED.
    """
    lines = ["try:"]
    if mapping:  # subscript: no argument parsing; KeyError is a miss
        lines += ["    _tc_value = _tc_map[_tc_key]"]
        lines += ["except KeyError:", "    _tc_value = _tc_MISS"]
    else:
        lines += ["    _tc_value = _tc_get(_tc_key, _tc_MISS)"]
    lines += [
        "except TypeError:",
        "    _tc_value = _tc_UNHASHABLE",
        "except Exception:",
        "    _tc_value = _tc_FAILED",
        "else:",
    ]
    if mapping:
        lines += ["    _tc_state.hits += 1", "    return _tc_value"]
    else:
        lines += [
            "    if _tc_value is not _tc_MISS:",
            "        _tc_state.hits += 1",
            "        return _tc_value",
        ]
    return [indent + line for line in lines]


def _kw_items(kwargs: dict[str, Any]) -> Any:
    """The **kwargs part of a key, as KeyMaker lays it out: sorted (name, value) pairs."""
    return sorted(kwargs.items()) if kwargs else ()


@functools.lru_cache(maxsize=256)
def _compiled(source: str) -> Any:
    """The code object of a generated hit path; functions with the same parameters share it."""
    return compile(source, "<twat_cache hit path>", "exec")


def _exact_source(
    func: Callable[..., Any], keymaker: KeyMaker, mapping: bool
) -> tuple[str, list[Any]] | None:
    """Source (and default values) of a hit path with `func`'s own signature, or None.

    Python's C-level argument binding does KeyMaker's work: `f(1)`, `f(a=1)` and `f(1, b=2)`
    all arrive as `a, b` with the default filled in, and the key is the tuple KeyMaker makes
    for that call: the positional parameters, then any extra positionals, then (when there
    are keyword-only parameters or **kwargs) a marker, the keyword-only values in order and
    the sorted leftover keyword pairs. So a hit is one tuple display and one store lookup,
    with no `*args`/`**kwargs` packing and no key plan; the call's arguments are rebuilt for
    the function only on a miss. `typed=True` keeps the generic wrapper (its key depends on
    the values' types), as does a signature whose names are not plain identifiers or start
    with `_tc_`, the prefix of the generated code's own names.
    """
    if keymaker.typed:
        return None
    import inspect  # noqa: PLC0415  (kept out of `import twat_cache`; KeyMaker loaded it)
    from keyword import iskeyword  # noqa: PLC0415

    kinds = inspect.Parameter
    params = keymaker.params
    names = [p.name for p in params]
    if any(not n.isidentifier() or iskeyword(n) or n.startswith(_PREFIX) for n in names):
        return None
    positional = [
        p for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
    ]
    varargs = next((p.name for p in params if p.kind is kinds.VAR_POSITIONAL), None)
    varkw = next((p.name for p in params if p.kind is kinds.VAR_KEYWORD), None)
    kwonly = [p for p in params if p.kind is kinds.KEYWORD_ONLY]

    defaults: list[Any] = []
    signature: list[str] = []

    def declare(p: Any) -> str:
        if p.default is p.empty:
            return str(p.name)
        defaults.append(p.default)
        return f"{p.name}=_tc_d{len(defaults) - 1}"

    for i, p in enumerate(positional):
        signature.append(declare(p))
        nxt = positional[i + 1].kind if i + 1 < len(positional) else None
        if p.kind is kinds.POSITIONAL_ONLY and nxt is not kinds.POSITIONAL_ONLY:
            signature.append("/")
    if varargs is not None:
        signature.append(f"*{varargs}")
    elif kwonly:
        signature.append("*")
    signature.extend(declare(p) for p in kwonly)
    if varkw is not None:
        signature.append(f"**{varkw}")

    key = [p.name for p in positional]
    call_args = list(key)
    if varargs is not None:
        key.append(f"*{varargs}")
        call_args.append(f"*{varargs}")
    if kwonly or varkw is not None:
        key.append("_tc_KW")
        key.extend(p.name for p in kwonly)
    if varkw is not None:
        key.append(f"*_tc_items({varkw})")
    call_kwargs = [f"{p.name!r}: {p.name}" for p in kwonly]
    if varkw is not None:
        call_kwargs.append(f"**{varkw}")
    simple = varargs is None and not kwonly and varkw is None  # the key is the args tuple
    args_expr = "_tc_key" if simple else (f"({', '.join(call_args)},)" if call_args else "()")
    kwargs_expr = f"{{{', '.join(call_kwargs)}}}" if call_kwargs else "_tc_none"

    lines = [
        "def _tc_make(_tc_get, _tc_map, _tc_MISS, _tc_UNHASHABLE, _tc_FAILED, _tc_state,"
        " _tc_slow, _tc_none, _tc_KW, _tc_items, *_tc_defaults):",
        *(f"    _tc_d{i} = _tc_defaults[{i}]" for i in range(len(defaults))),
        f"    def _tc_wrapper({', '.join(signature)}):",
        f"        _tc_key = ({', '.join(key)},)" if key else "        _tc_key = ()",
        *_lookup_source(mapping, "        "),
        f"        return _tc_slow(_tc_key, {args_expr}, {kwargs_expr}, _tc_value)",
        "    return _tc_wrapper",
    ]
    return "\n".join(lines) + "\n", defaults


def _build_sync(
    func: Callable[..., Any], state: CacheState, keymaker: KeyMaker
) -> Callable[..., Any]:
    store = state.store
    get = store.get
    # A store may offer `mapping`: an object whose `[key]` is its `get` with KeyError for a
    # miss (cachebox's cache, a dict). Subscripting skips the call's argument parsing.
    mapping = getattr(store, "mapping", None)
    fast_n = keymaker.npos if keymaker.fast and not keymaker.varargs else -1
    # Keys of every other call shape (keywords, defaults left out): one compiled function
    # per shape, looked up here without a Python frame for KeyMaker.__call__.
    plans = keymaker.plans
    flights: dict[Hashable, _Flight] = {}
    flights_lock = threading.Lock()
    get_ident = threading.get_ident
    flight_lock = getattr(store, "flight_lock", None)

    def generic(*args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != fast_n:
            shape = (len(args), *kwargs)
            try:
                key: Hashable = plans[shape](args, kwargs)
            except KeyError:  # a shape not seen yet: make its plan
                key = _slow_key(state, keymaker, args, kwargs)
                if key is None:
                    return func(*args, **kwargs)
            except _BadCall:  # does not bind: let Python raise its TypeError
                return func(*args, **kwargs)
        else:
            key = args
        try:
            value = get(key, MISS)
        except TypeError:
            value = _UNHASHABLE
        except Exception:
            value = _FAILED
        else:
            if value is not MISS:
                state.hits += 1
                return value
        return slow(key, args, kwargs, value)

    def slow(key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any], why: Any) -> Any:
        """Finish a call whose lookup did not hit.

        `why` is MISS (compute), _UNHASHABLE (an unhashable argument: canonicalize the key and
        look again) or _FAILED (the store raised: read again, logged once, as a miss).
        """
        if why is not MISS:
            if why is _FAILED:  # hash() may fail with more than TypeError (a memoryview)
                try:
                    hash(key)
                except Exception:
                    why = _UNHASHABLE
            if why is _UNHASHABLE:  # `key` is the call's key as KeyMaker lays it out
                key = _memory_key(state, key)
                if key is None:
                    return func(*args, **kwargs)
            value = _lookup(state, key)
            if value is _UNCACHEABLE:
                return func(*args, **kwargs)
            if value is not MISS:
                state.hits += 1
                return value
        return miss(key, args, kwargs)

    def miss(key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        me = get_ident()
        with flights_lock:
            flight = flights.get(key)
            leader = flight is None
            if flight is None:
                flight = flights[key] = _Flight(me, threading.Event())
        if not leader:
            if flight.owner == me:  # the function recursed into its own key
                return func(*args, **kwargs)
            flight.done.wait()
            if flight.error is None:
                state.hits += 1
                return flight.value
            if isinstance(flight.error, Exception):
                raise flight.error
            return wrapper(*args, **kwargs)  # the leader was interrupted: try again
        try:
            if flight_lock is None:
                value = _compute(key, args, kwargs)
            else:
                with flight_lock(key):
                    value = _compute(key, args, kwargs)
            flight.value = value
            return value
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with flights_lock:
                flights.pop(key, None)
            flight.done.set()

    def _compute(key: Hashable, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        value = _lookup(state, key)  # another thread or process may have stored it meanwhile
        if value is not MISS and value is not _UNCACHEABLE:
            state.hits += 1
            return value
        state.misses += 1
        value = func(*args, **kwargs)
        _store_result(state, key, value)
        return value

    wrapper: Callable[..., Any] = generic
    exact = _exact_source(func, keymaker, mapping is not None)
    if exact is not None:
        source, defaults = exact
        namespace: dict[str, Any] = {}
        try:
            exec(_compiled(source), {"__builtins__": builtins}, namespace)  # see _exact_source
        except SyntaxError:  # a __signature__ Python itself would not accept
            pass
        else:
            context = (get, mapping, MISS, _UNHASHABLE, _FAILED, state, slow, _NO_KWARGS)
            wrapper = namespace["_tc_make"](*context, _KW, _kw_items, *defaults)
            # Binding errors name the function (co_name; co_qualname on 3.11+), as its own would.
            name = getattr(func, "__name__", None)
            changes: dict[str, Any] = {"co_name": name if isinstance(name, str) else "wrapper"}
            qualname = getattr(func, "__qualname__", None)
            if hasattr(wrapper.__code__, "co_qualname") and isinstance(qualname, str):
                changes["co_qualname"] = qualname
            wrapper.__code__ = wrapper.__code__.replace(**changes)
    return wrapper
