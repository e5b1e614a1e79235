"""The five decorators: `mcache`, `bcache`, `fcache`, `acache` and `ucache`.

Each works bare (`@mcache`) and called (`@mcache(maxsize=128)`), on functions, methods,
static and class methods and coroutine functions. Options are validated when the decorator is
called; the backend is chosen and its store opened when it is applied to a function.
"""

from __future__ import annotations

from twat_cache import chains, registry, stats
from twat_cache._log import logger
from twat_cache.config import CacheConfig
from twat_cache.keys import code_fingerprint, function_namespace
from twat_cache.paths import get_cache_path, write_marker
from twat_cache.wrapper import CacheState, build

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Literal, overload

    from twat_cache._types import CachedFunction, Decorator, P, Policy, R
else:
    from twat_cache._compat import overload

__all__ = ["acache", "bcache", "fcache", "mcache", "ucache"]


def _is_coroutine_function(func: Any) -> bool:
    import inspect  # noqa: PLC0415  (kept out of `import twat_cache`)

    return inspect.iscoroutinefunction(func)


def _is_target(obj: object) -> bool:
    """True when a decorator got the function itself (bare use), not its first option."""
    return callable(obj) or isinstance(obj, (staticmethod, classmethod))


def _default_folder(func: Callable[..., Any]) -> str:
    """A folder name of its own for a function decorated without `folder_name`."""
    import re  # noqa: PLC0415  (kept off `import twat_cache`)

    name = function_namespace(func).replace(":", ".")
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name)
    return re.sub(r"\.{2,}", ".", name).strip(".") or "default"


def _open(func: Callable[..., Any], choice: chains.Choice, name: str) -> tuple[Any, Any, str]:
    spec = registry.installed().get(choice.backend) or registry.discover().get(choice.backend)
    if spec is None:  # functools is built in, even when entry points are unreadable
        from twat_cache.backends.functools import BACKEND  # noqa: PLC0415

        spec = BACKEND
    config = choice.config.replace(kind=choice.kind)
    namespace = function_namespace(func)
    if config.check_code:
        namespace = f"{namespace}@{code_fingerprint(func)}"
    folder = None
    if spec.persistent:
        folder = get_cache_path(config.folder_name or _default_folder(func))
    context = registry.StoreContext(namespace=namespace, name=name, folder=folder)
    if config.encrypt:
        from twat_cache.envelope import check_encryption  # noqa: PLC0415

        check_encryption()
    store = registry.open_store(spec, config, context)
    if folder is not None:
        # `owned`: the names (relative to the folder) the store created, so that clearing
        # can remove exactly those and nothing the user keeps in the folder.
        owned = getattr(store, "owned", ())
        write_marker(folder, spec.name, namespace, kind=config.kind, ttl=config.ttl, names=owned)
    if config.ttl is not None and not spec.native_ttl:
        from twat_cache.store import TTLStore  # noqa: PLC0415

        store = TTLStore(store, config.ttl)
    return store, folder, namespace


def _decorate(decorator: str, func: Any, config: CacheConfig) -> Any:
    if isinstance(func, (staticmethod, classmethod)):
        return type(func)(_decorate(decorator, func.__func__, config))
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
    name = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"
    usable = registry.installed()
    failed: set[str] = set()
    while True:
        choice = chains.choose(decorator, config, usable, is_async=is_async, exclude=failed)
        try:
            store, folder, namespace = _open(func, choice, name)
            break
        except Exception as exc:
            if choice.backend == "functools" or choice.backend in failed:
                raise
            logger.warning(
                "twat_cache: %s: backend %r failed to open (%s: %s); trying the next one",
                name,
                choice.backend,
                type(exc).__name__,
                exc,
            )
            failed.add(choice.backend)
    if choice.warnings:
        logger.warning("twat_cache: %s (%s): %s", name, decorator, "; ".join(choice.warnings))
    state = CacheState(
        name=name,
        backend=choice.backend,
        kind=choice.kind,
        config=choice.config.replace(kind=choice.kind),
        store=store,
        namespace=namespace,
        folder=folder,
    )
    stats.register(state, func)
    return build(func, state, is_async=is_async)


def _apply(decorator: str, func: Any, options: dict[str, Any]) -> Any:
    config = CacheConfig(**options)
    if func is not None:
        return _decorate(decorator, func, config)
    return lambda f: _decorate(decorator, f, config)


@overload
def mcache(maxsize: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def mcache(
    maxsize: int | None = None,
    ttl: float | None = None,
    policy: Policy = "lru",
    *,
    typed: bool = False,
) -> Decorator: ...
def mcache(
    maxsize: Any = None, ttl: float | None = None, policy: Policy = "lru", *, typed: bool = False
) -> Any:
    """Cache in memory: cachebox, else cachetools, else the standard library.

    `maxsize` bounds the entries (None: unbounded), `ttl` expires them after that many seconds,
    `policy` picks the eviction (lru, lfu, fifo, rr, ttl); `typed=True` keeps `f(1)` and
    `f(1.0)` apart. Use bare (`@mcache`) or called (`@mcache(maxsize=128)`).
    """
    if _is_target(maxsize):
        return _apply("mcache", maxsize, {"kind": "memory"})
    return _apply(
        "mcache",
        None,
        {"kind": "memory", "maxsize": maxsize, "ttl": ttl, "policy": policy, "typed": typed},
    )


@overload
def bcache(folder_name: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def bcache(
    folder_name: str | None = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    sql_backend: bool = True,
    *,
    policy: Policy = "lru",
    typed: bool = False,
    encrypt: bool = False,
    check_code: bool = False,
) -> Decorator: ...
def bcache(
    folder_name: Any = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    sql_backend: bool = True,
    *,
    policy: Policy = "lru",
    typed: bool = False,
    encrypt: bool = False,
    check_code: bool = False,
) -> Any:
    """Cache in a database on disk: diskcache, else klepto's SQL archive, else memory.

    Entries persist across processes in `folder_name` (a name under the cache root or an
    absolute path; default: a folder named after the function). `maxsize` counts entries,
    `ttl` is seconds; `sql_backend=False` selects klepto's directory archive instead.
    """
    if _is_target(folder_name):
        return _apply("bcache", folder_name, {"kind": "disk"})
    return _apply(
        "bcache",
        None,
        {
            "kind": "disk",
            "folder_name": folder_name,
            "maxsize": maxsize,
            "ttl": ttl,
            "sql_backend": sql_backend,
            "policy": policy,
            "typed": typed,
            "encrypt": encrypt,
            "check_code": check_code,
        },
    )


@overload
def fcache(folder_name: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def fcache(
    folder_name: str | None = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    compress: bool | int = False,
    *,
    mmap_mode: Literal["r", "r+", "w+", "c"] | None = None,
    typed: bool = False,
    encrypt: bool = False,
    check_code: bool = False,
) -> Decorator: ...
def fcache(
    folder_name: Any = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    compress: bool | int = False,
    *,
    mmap_mode: Literal["r", "r+", "w+", "c"] | None = None,
    typed: bool = False,
    encrypt: bool = False,
    check_code: bool = False,
) -> Any:
    """Cache in files, NumPy-friendly: joblib, else klepto's directory archive, else memory.

    Results are files in `folder_name`; `compress` is True or a zlib level (0-9);
    `mmap_mode` loads large arrays memory-mapped; `check_code=True` drops entries when the
    function's code changes.
    """
    if _is_target(folder_name):
        return _apply("fcache", folder_name, {"kind": "file"})
    return _apply(
        "fcache",
        None,
        {
            "kind": "file",
            "folder_name": folder_name,
            "maxsize": maxsize,
            "ttl": ttl,
            "compress": compress,
            "mmap_mode": mmap_mode,
            "typed": typed,
            "encrypt": encrypt,
            "check_code": check_code,
        },
    )


@overload
def acache(maxsize: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def acache(
    maxsize: int | None = None,
    ttl: float | None = None,
    backend: str = "aiocache",
    *,
    policy: Policy = "lru",
    typed: bool = False,
    redis_url: str | None = None,
) -> Decorator: ...
def acache(
    maxsize: Any = None,
    ttl: float | None = None,
    backend: str = "aiocache",
    *,
    policy: Policy = "lru",
    typed: bool = False,
    redis_url: str | None = None,
) -> Any:
    """Cache the awaited results of a coroutine function: aiocache, else the memory chain.

    `backend` names the store: "aiocache" (default), "redis", or a memory backend name
    ("cachebox", "cachetools", "functools") used through the async wrapper. A plain function
    is a `TypeError` (use `mcache`).
    """
    if _is_target(maxsize):
        return _apply("acache", maxsize, {"kind": "async", "backend": "aiocache"})
    return _apply(
        "acache",
        None,
        {
            "kind": "async",
            "maxsize": maxsize,
            "ttl": ttl,
            "backend": backend,
            "policy": policy,
            "typed": typed,
            "redis_url": redis_url,
        },
    )


@overload
def ucache(folder_name: Callable[P, R], /) -> CachedFunction[P, R]: ...
@overload
def ucache(
    folder_name: str | None = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    preferred_engine: str | None = None,
    use_async: bool = False,
    *,
    policy: Policy = "lru",
    typed: bool = False,
    compress: bool | int = False,
    mmap_mode: Literal["r", "r+", "w+", "c"] | None = None,
    encrypt: bool = False,
    check_code: bool = False,
    redis_url: str | None = None,
) -> Decorator: ...
def ucache(
    folder_name: Any = None,
    maxsize: int | None = None,
    ttl: float | None = None,
    preferred_engine: str | None = None,
    use_async: bool = False,
    *,
    policy: Policy = "lru",
    typed: bool = False,
    compress: bool | int = False,
    mmap_mode: Literal["r", "r+", "w+", "c"] | None = None,
    encrypt: bool = False,
    check_code: bool = False,
    redis_url: str | None = None,
) -> Any:
    """Cache with the best backend for the job: memory without `folder_name`, disk with it.

    Preference: cachebox > klepto > diskcache > joblib > cachetools > functools, among memory
    backends without `folder_name` and persistent ones with it; coroutine functions (or
    `use_async=True`) use the async chain. `preferred_engine` picks a backend by name when it
    is installed (else a warning and the normal choice).
    """
    if _is_target(folder_name):
        return _apply("ucache", folder_name, {"kind": "memory"})
    return _apply(
        "ucache",
        None,
        {
            "kind": "disk" if folder_name is not None else "memory",
            "folder_name": folder_name,
            "maxsize": maxsize,
            "ttl": ttl,
            "preferred_engine": preferred_engine,
            "use_async": use_async,
            "policy": policy,
            "typed": typed,
            "compress": compress,
            "mmap_mode": mmap_mode,
            "encrypt": encrypt,
            "check_code": check_code,
            "redis_url": redis_url,
        },
    )
