"""The five decorators: `mcache`, `bcache`, `fcache`, `acache` and `ucache`.

Each works bare (`@mcache`) and called (`@mcache(maxsize=128)`), on functions, methods,
static and class methods and coroutine functions. The options are checked when the decorator
is called (`options` declares each one once); when it is applied to a function the backend is
chosen and the function's record made; the store opens at the first call (`opening`), so
decorating costs nothing of the backend libraries.
"""

from __future__ import annotations

from twat_cache import chains, registry, stats
from twat_cache._log import notice_choice
from twat_cache.async_wrapper import build_async
from twat_cache.binding import params_of
from twat_cache.config import CacheConfig
from twat_cache.identity import code_fingerprint, display_name, function_namespace
from twat_cache.options import OPTIONS, ConfigurationError, check_fits
from twat_cache.paths import folder_for
from twat_cache.record import CacheRecord
from twat_cache.state import CacheState
from twat_cache.wrapper import build

TYPE_CHECKING = False
if not TYPE_CHECKING:  # at run time (typing stays unimported); before the block type checkers
    from twat_cache._compat import overload  # read, so documentation tools see typing.overload
if TYPE_CHECKING:
    import sys
    from collections.abc import Callable
    from typing import Any, Concatenate, overload

    from twat_cache._types import (
        AsyncOptions,
        CachedClassMethod,
        CachedFunction,
        Decorator,
        DiskOptions,
        FileOptions,
        MemoryOptions,
        P,
        Policy,
        R,
        UniversalOptions,
    )
    from twat_cache.binding import Params
    from twat_cache.spec import BackendSpec

    if sys.version_info >= (3, 11):
        from typing import Unpack
    else:
        from typing_extensions import Unpack

__all__ = ["acache", "bcache", "fcache", "mcache", "ucache"]

_CO_COROUTINE = 0x80
#: "not given": an alias (use_sql) may then set the option without a conflict.
_UNSET: Any = type("Unset", (), {"__repr__": lambda self: "True"})()
#: acache's backend when not given: aiocache, unless url= names a network store.
_AIOCACHE: Any = type("Unset", (), {"__repr__": lambda self: "'aiocache'"})()


def _is_coroutine_function(func: Any) -> bool:
    code = getattr(func, "__code__", None)
    if type(func).__name__ == "function" and code is not None:
        return bool(code.co_flags & _CO_COROUTINE) or (
            getattr(func, "_is_coroutine_marker", None) is not None
        )
    import inspect  # noqa: PLC0415  (only for callables that are not plain functions)

    return inspect.iscoroutinefunction(func)


def _is_target(obj: object) -> bool:
    """True when a decorator got the function itself (bare use), not its first option."""
    return callable(obj) or isinstance(obj, (staticmethod, classmethod))


def _in_class_body(func: Any, params: Params) -> bool:
    """True for a method: defined in a class body, its first parameter `self` (or `cls`).

    The name matters: `@staticmethod` written above the decorator hands over a plain function
    defined in a class body, whose first argument is an ordinary value, not the instance.
    """
    parts = (getattr(func, "__qualname__", None) or "").split(".")
    if len(parts) < 2 or parts[-2] == "<locals>":
        return False
    return bool(params.positional) and params.positional[0] in ("self", "cls")


def _spec(name: str) -> BackendSpec:
    spec = registry.spec(name)
    if spec is None:
        from twat_cache.backends.functools import BACKEND  # noqa: PLC0415

        spec = BACKEND
    return spec


def _check_ignore(func: Any, config: CacheConfig, params: Any) -> None:
    if not config.ignore:
        return
    known = set(params.names())
    unknown = [n for n in config.ignore if n not in known]
    if unknown and params.varkw is None:
        raise ConfigurationError(
            f"ignore: {unknown} not among the parameters of {display_name(func)} "
            f"({', '.join(params.names()) or 'none'})"
        )


def _check_core_options(spec: BackendSpec, config: CacheConfig) -> None:
    """Run the chosen backend's checks of the core options it reads.

    A malformed server URL is the caller's error: said at decoration, never a silent fall
    back to another store at the first call.
    """
    for name, check in spec.options.items():
        value = getattr(config, name, None) if name in OPTIONS else None
        if value is None:
            continue
        try:
            check(value)
        except ConfigurationError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{name}: {exc}") from None


def _decorate(decorator: str, func: Any, config: CacheConfig, *, method: bool | None = None) -> Any:
    if isinstance(func, (staticmethod, classmethod)):
        inner = _decorate(decorator, func.__func__, config, method=isinstance(func, classmethod))
        return type(func)(inner)
    if not callable(func):
        raise TypeError(f"{decorator}: expected a function to decorate, got {func!r}")
    is_async = _is_coroutine_function(func)
    if decorator == "acache" and not is_async:
        raise TypeError(
            f"acache: {getattr(func, '__qualname__', func)!r} is not a coroutine function "
            "(async def); use mcache for plain functions"
        )
    if decorator == "ucache" and config.use_async and not is_async:
        raise TypeError(
            f"ucache(use_async=True): {getattr(func, '__qualname__', func)!r} is not a "
            "coroutine function (async def); drop use_async for plain functions"
        )
    params = params_of(func)
    _check_ignore(func, config, params)
    namespace = function_namespace(func)
    if config.check_code:
        namespace = f"{namespace}@{code_fingerprint(func)}"
    chain = chains.chain_name(decorator, config, is_async=is_async)
    quick = registry.lead_choice(chain, config.policy, config.preferred_engine)
    if quick is not None:  # the chain's lead: no other plugin's spec needs loading
        choice = chains.Choice(backend=quick[0], kind=quick[1], config=config)
    else:
        choice = chains.choose(
            decorator, config, registry.installed(), is_async=is_async, leads=registry.leads()
        )
    spec = _spec(choice.backend)
    _check_core_options(spec, config)
    if not spec.persistent:
        for option in ("front", "max_bytes"):
            if getattr(config, option) is not None and choice.kind == "async":
                raise ConfigurationError(
                    f"{option}: only for persistent caches; {choice.backend} keeps this "
                    "coroutine function's results in memory"
                )
    if config.encrypt and spec.persistent:
        from twat_cache.envelope import check_encryption  # noqa: PLC0415

        check_encryption()
    config = choice.config
    if choice.kind == "memory" and config.kind in ("disk", "file", "async"):
        # A persistent cache that fell back to memory (logged by the choice): its front and
        # byte bound have nothing to apply to, and the code must run as it would on disk.
        config = config.replace(kind="memory", front=None, max_bytes=None)
    elif config.kind != choice.kind:
        config = config.replace(kind=choice.kind)
    record = CacheRecord(
        name=display_name(func),
        namespace=namespace,
        decorator=decorator,
        backend=choice.backend,
        kind=choice.kind,
        config=config,
        folder=folder_for(config.folder_name, namespace) if spec.folders else None,
        is_async=is_async,
        is_method=_in_class_body(func, params) if method is None else method,
    )
    if choice.warnings:
        notice_choice(decorator, choice.warnings)
    state = CacheState(record)
    if stats.register(state, func) != record.name:
        state.record = record.replace(name=state.name)
    if is_async:
        return build_async(func, state, params)
    return build(func, state, params)


#: Configs of option sets seen before: a program decorates many functions alike, and
#: checking 23 options costs more than all the rest of a decoration.
_configs: dict[tuple[tuple[str, type, Any], ...], CacheConfig] = {}


def _config(options: dict[str, Any]) -> CacheConfig:
    """The validated config of `options`, made once per distinct (hashable) option set."""
    try:
        # The type too: `ttl=True` must not find the config of `ttl=1` (True == 1).
        key = tuple(sorted((name, type(value), value) for name, value in options.items()))
        config = _configs.get(key)
    except TypeError:  # an unhashable option value (ignore=[...]): checked every time
        return CacheConfig(**options)
    if config is None:
        config = CacheConfig(**options)
        if len(_configs) < 256:
            _configs[key] = config
    return config


def _apply(decorator: str, func: Any, options: dict[str, Any]) -> Any:
    check_fits(decorator, options)  # an option this decorator can never use is an error
    config = _config(options)
    if func is not None:
        return _decorate(decorator, func, config)
    return lambda f: _decorate(decorator, f, config)


@overload
def mcache(maxsize: Callable[Concatenate[type[Any], P], R], /) -> CachedClassMethod[P, R]: ...
@overload
def mcache(maxsize: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def mcache(
    maxsize: int | None = None,
    ttl: float | None = None,
    policy: Policy = "lru",
    **options: Unpack[MemoryOptions],
) -> Decorator: ...
def mcache(
    maxsize: Any = None, ttl: float | None = None, policy: Policy = "lru", **options: Any
) -> Any:
    """Cache in memory: cachebox, else cachetools, else the standard library.

    `maxsize` bounds the entries (None: unbounded), `ttl` expires them after that many seconds,
    `policy` picks the eviction (lru, lfu, fifo, rr, ttl). Keyword options: `typed`, `ignore`,
    `key`, `cache_if`, `stale`, `wait_timeout` (see `twat_cache.options`); an option for
    folders, files or servers (`folder_name`, `compress`, `url`, `front`...) is a
    `ConfigurationError`. Use bare (`@mcache`) or called (`@mcache(maxsize=128)`).
    """
    if _is_target(maxsize):
        return _apply("mcache", maxsize, {"kind": "memory"})
    return _apply(
        "mcache",
        None,
        {**options, "kind": "memory", "maxsize": maxsize, "ttl": ttl, "policy": policy},
    )


@overload
def bcache(folder_name: Callable[Concatenate[type[Any], P], R], /) -> CachedClassMethod[P, R]: ...
@overload
def bcache(folder_name: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def bcache(
    folder_name: str | None = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    sql_backend: bool = True,
    **options: Unpack[DiskOptions],
) -> Decorator: ...
def bcache(
    folder_name: Any = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    sql_backend: Any = _UNSET,
    **options: Any,
) -> Any:
    """Cache in a database on disk: diskcache, else klepto's SQL archive, else memory.

    Entries persist across processes in `folder_name` (a name under the cache root or an
    absolute path; default: a folder named after the function). `maxsize` counts entries,
    `ttl` is seconds; `sql_backend=False` (alias `use_sql`; both given and different is a
    `ValueError`) selects a directory archive. Keyword options: `policy`, `typed`, `encrypt`,
    `check_code`, `secure` (False: files and folders follow the umask, for a cache a team
    shares), `preferred_engine` (alias `backend`), `url` (alias `redis_url`: the entries go to
    the network store serving its scheme instead), `ignore`, `key`, `cache_if`, `stale`,
    `max_bytes`, `front`, `front_ttl` (with `front`), `wait_timeout`.
    """
    if _is_target(folder_name):
        return _apply("bcache", folder_name, {"kind": "disk"})
    return _apply(
        "bcache",
        None,
        {
            **options,
            "kind": "disk",
            "folder_name": folder_name,
            "maxsize": maxsize,
            "ttl": ttl,
            **({} if sql_backend is _UNSET else {"sql_backend": sql_backend}),
        },
    )


@overload
def fcache(folder_name: Callable[Concatenate[type[Any], P], R], /) -> CachedClassMethod[P, R]: ...
@overload
def fcache(folder_name: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def fcache(
    folder_name: str | None = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    compress: bool | int = False,
    **options: Unpack[FileOptions],
) -> Decorator: ...
def fcache(
    folder_name: Any = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    compress: bool | int = False,
    **options: Any,
) -> Any:
    """Cache in files, NumPy-friendly: joblib, else klepto's directory archive, else memory.

    Results are files in `folder_name`; `compress` is True or a zlib level (0-9). Keyword
    options: `mmap_mode` (load large arrays memory-mapped), `policy`, `typed`, `encrypt`,
    `check_code` (drop entries when the function's code changes), `secure` (False: files and
    folders follow the umask), `preferred_engine` (alias `backend`), `ignore`, `key`,
    `cache_if`, `stale`, `max_bytes`, `front`, `front_ttl`, `wait_timeout`.
    """
    if _is_target(folder_name):
        return _apply("fcache", folder_name, {"kind": "file"})
    return _apply(
        "fcache",
        None,
        {
            **options,
            "kind": "file",
            "folder_name": folder_name,
            "maxsize": maxsize,
            "ttl": ttl,
            "compress": compress,
        },
    )


@overload
def acache(maxsize: Callable[Concatenate[type[Any], P], R], /) -> CachedClassMethod[P, R]: ...
@overload
def acache(maxsize: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def acache(
    maxsize: int | None = None,
    ttl: float | None = None,
    backend: str = "aiocache",
    **options: Unpack[AsyncOptions],
) -> Decorator: ...
def acache(
    maxsize: Any = None, ttl: float | None = None, backend: Any = _AIOCACHE, **options: Any
) -> Any:
    """Cache the awaited results of a coroutine function: aiocache, else the memory chain.

    `backend` names the store: "aiocache" (default), a network store ("redis", "memcached"),
    or a memory backend name used through the async wrapper; without it, `url=` (alias
    `redis_url=`) picks the network store serving the URL's scheme. A plain function is a
    `TypeError` (use `mcache`). Keyword options: `policy`, `typed`, `url`, `ignore`, `key`,
    `cache_if`, `stale`, `wait_timeout`, and on network stores `front`, `front_ttl`,
    `max_bytes`, `encrypt`, `check_code`, `secure`.
    """
    if _is_target(maxsize):
        return _apply("acache", maxsize, {"kind": "async", "preferred_engine": "aiocache"})
    if backend is not _AIOCACHE:
        # Under its own name, so an error (or a disagreeing preferred_engine) names `backend`.
        options = {**options, "backend": backend}
    elif not _names_store(options):
        options = {**options, "preferred_engine": "aiocache"}
    return _apply("acache", None, {**options, "kind": "async", "maxsize": maxsize, "ttl": ttl})


@overload
def ucache(folder_name: Callable[Concatenate[type[Any], P], R], /) -> CachedClassMethod[P, R]: ...
@overload
def ucache(folder_name: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def ucache(
    folder_name: str | None = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    preferred_engine: str | None = None,
    use_async: bool = False,
    **options: Unpack[UniversalOptions],
) -> Decorator: ...
def ucache(
    folder_name: Any = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    preferred_engine: str | None = None,
    use_async: bool = False,
    **options: Any,
) -> Any:
    """Cache with the best backend for the job: memory without `folder_name`, disk with it.

    Preference: cachebox > klepto > diskcache > joblib > cachetools > functools, among memory
    backends without `folder_name` and persistent ones with it; coroutine functions (or
    `use_async=True`) use the async chain. `preferred_engine` (alias `backend`) picks a backend
    by name when it is installed (else a warning and the normal choice); without it, `url=`
    (alias `redis_url=`) picks the network store serving the URL's scheme. Every keyword
    option of the other decorators is accepted.
    """
    if _is_target(folder_name):
        return _apply("ucache", folder_name, {"kind": "memory"})
    # `backend` (the plan's name) stays in the options: CacheConfig checks it under that name.
    engine = preferred_engine if preferred_engine is not None else options.get("backend")
    # A url= names a network store: front and max_bytes apply there, as with a folder.
    persistent = folder_name is not None or _gives_url(options) or _names_persistent(engine)
    return _apply(
        "ucache",
        None,
        {
            **options,
            "kind": "disk" if persistent else "memory",
            "folder_name": folder_name,
            "maxsize": maxsize,
            "ttl": ttl,
            "preferred_engine": preferred_engine,
            "use_async": use_async,
        },
    )


def _names_persistent(engine: str | None) -> bool:
    """True when `engine` names an installed persistent backend (its options are allowed)."""
    if engine is None:
        return False
    spec = registry.spec(engine)
    return spec is not None and spec.persistent


def _gives_url(options: dict[str, Any]) -> bool:
    """True when `url=` (or its alias `redis_url=`) is given: it names a network store."""
    return options.get("url") is not None or options.get("redis_url") is not None


def _names_store(options: dict[str, Any]) -> bool:
    """True when acache's options name its store otherwise than by `backend`."""
    return options.get("preferred_engine") is not None or _gives_url(options)
