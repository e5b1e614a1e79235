"""The static types of the public API: `CachedFunction`, the decorators' keyword options.

Kept apart from the decorators so that `import twat_cache` does not import `typing`; type
checkers see these through `TYPE_CHECKING` imports, and `twat_cache.CachedFunction` loads this
module on first access. The option TypedDicts type each decorator's `**options` (PEP 692), so
mypy and pyright check option names and value types; their runtime checks live in `options`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, Concatenate, Literal, ParamSpec, Protocol, TypedDict, TypeVar, overload

from twat_cache.config import CacheConfig
from twat_cache.state import CacheInfo

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R2 = TypeVar("R2")
S = TypeVar("S")
R_co = TypeVar("R_co", covariant=True)
S_contra = TypeVar("S_contra", contravariant=True)
Policy = Literal["lru", "lfu", "fifo", "rr", "ttl"]
MmapMode = Literal["r", "r+", "w+", "c"]

__all__ = [
    "AsyncOptions",
    "BoundCachedFunction",
    "CachedClassMethod",
    "CachedFunction",
    "Decorator",
    "DiskOptions",
    "FileOptions",
    "MemoryOptions",
    "MmapMode",
    "Policy",
    "UniversalOptions",
]


class MemoryOptions(TypedDict, total=False):
    """Keyword options every decorator accepts (DESIGN §6)."""

    typed: bool
    ignore: str | Sequence[str]
    key: Callable[..., Hashable] | None
    cache_if: Callable[[Any], object] | None
    stale: float | None
    wait_timeout: float | None


class _Persistent(MemoryOptions, total=False):
    policy: Policy
    encrypt: bool
    check_code: bool
    secure: bool
    max_bytes: int | None
    front: int | None
    front_ttl: float
    backend: str | None


class DiskOptions(_Persistent, total=False):
    """bcache's keyword options (`url` picks the network store serving its scheme)."""

    use_sql: bool
    preferred_engine: str | None
    url: str | None
    redis_url: str | None


class FileOptions(_Persistent, total=False):
    """fcache's keyword options."""

    mmap_mode: MmapMode | None
    preferred_engine: str | None


class AsyncOptions(MemoryOptions, total=False):
    """acache's keyword options (front, max_bytes and the like only on network stores)."""

    policy: Policy
    url: str | None
    redis_url: str | None
    front: int | None
    front_ttl: float
    max_bytes: int | None
    encrypt: bool
    check_code: bool
    secure: bool


class UniversalOptions(_Persistent, total=False):
    """ucache's keyword options: every decorator's."""

    compress: bool | int
    mmap_mode: MmapMode | None
    sql_backend: bool
    use_sql: bool
    url: str | None
    redis_url: str | None


class CachedFunction(Protocol[P, R_co]):
    """A decorated function: callable with the original signature, plus the cache's handles.

    `cache` is the backend's native cache object, `cache_backend` its name and `cache_config`
    the validated config; `cache_info()`, `cache_clear()` (alias `clear()`) and
    `cache_delete(*args, **kwargs)` work like their functools namesakes; `cache_get`,
    `cache_set` and `cache_refresh` read, write and recompute one call's entry (awaitables on
    coroutine functions).
    """

    cache: Any
    cache_backend: str
    cache_config: CacheConfig

    @property
    def __wrapped__(self) -> Callable[P, R_co]:
        """The decorated function."""
        ...

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the function, or return its cached result."""
        ...

    def cache_info(self) -> CacheInfo:
        """Return (hits, misses, maxsize, currsize)."""
        ...

    def cache_clear(self) -> None:
        """Drop every entry and reset the counters."""
        ...

    def clear(self) -> None:
        """Alias of `cache_clear`."""
        ...

    def cache_delete(self, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Drop the entry of one call; True if there was one."""
        ...

    def cache_get(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """The cached value of one call; KeyError when there is none."""
        ...

    def cache_set(self, value: Any, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Store `value` as the result of one call."""
        ...

    def cache_refresh(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Compute one call again, store it and return it."""
        ...

    # Methods: reached through an instance, the cached function binds `self` like a function.
    @overload
    def __get__(
        self, instance: None, owner: type[Any] | None = None
    ) -> CachedFunction[P, R_co]: ...
    @overload
    def __get__(
        self: CachedFunction[Concatenate[S, P2], R2], instance: S, owner: type[Any] | None = None
    ) -> BoundCachedFunction[S, P2, R2]: ...
    def __get__(self, instance: Any, owner: Any = None) -> Any:
        """Bind to `instance` (methods), as plain functions do."""
        ...


class BoundCachedFunction(Protocol[S_contra, P, R_co]):
    """A cached method reached through its instance (or a class method through its class).

    Calls bind the instance like any method. The cache's handles are the function's own, not
    bound: `cache_get`, `cache_set`, `cache_refresh` and `cache_delete` take the instance (or
    the class) first again, as `Class.method.cache_get(obj, x)` does.
    """

    cache: Any
    cache_backend: str
    cache_config: CacheConfig

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the method, or return its cached result."""
        ...

    def cache_info(self) -> CacheInfo:
        """Return (hits, misses, maxsize, currsize)."""
        ...

    def cache_clear(self) -> None:
        """Drop every entry and reset the counters."""
        ...

    def clear(self) -> None:
        """Alias of `cache_clear`."""
        ...

    def cache_delete(self, instance: S_contra, /, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Drop the entry of one call (the instance first); True if there was one."""
        ...

    def cache_get(self, instance: S_contra, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """The cached value of one call (the instance first); KeyError when there is none."""
        ...

    def cache_set(
        self, value: Any, instance: S_contra, /, *args: P.args, **kwargs: P.kwargs
    ) -> Any:
        """Store `value` as the result of one call (the instance first)."""
        ...

    def cache_refresh(self, instance: S_contra, /, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Compute one call (the instance first) again, store it and return it."""
        ...


class CachedClassMethod(Protocol[P, R_co]):
    """A cached function whose first parameter is a class: what `@classmethod` goes over.

    mypy and pyright bind `cls` under `@classmethod` only for plain functions; over any other
    callable they use its `__get__`, which for `CachedFunction` cannot tell a class method
    from a method. So the decorators give a function whose first parameter is `type[...]`
    this type, whose `__get__` binds that parameter wherever it is reached from. Called
    directly (a function of a class outside a class body) it takes that parameter first, as
    any value; the rest of the signature is checked.
    """

    cache: Any
    cache_backend: str
    cache_config: CacheConfig

    def __call__(self, first: Any, /, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Call the function, or return its cached result."""
        ...

    def cache_info(self) -> CacheInfo:
        """Return (hits, misses, maxsize, currsize)."""
        ...

    def cache_clear(self) -> None:
        """Drop every entry and reset the counters."""
        ...

    def clear(self) -> None:
        """Alias of `cache_clear`."""
        ...

    def cache_delete(self, first: Any, /, *args: P.args, **kwargs: P.kwargs) -> bool:
        """Drop the entry of one call; True if there was one."""
        ...

    def cache_get(self, first: Any, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """The cached value of one call; KeyError when there is none."""
        ...

    def cache_set(self, value: Any, first: Any, /, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Store `value` as the result of one call."""
        ...

    def cache_refresh(self, first: Any, /, *args: P.args, **kwargs: P.kwargs) -> R_co:
        """Compute one call again, store it and return it."""
        ...

    def __get__(
        self, instance: object, owner: type[Any] | None = None
    ) -> BoundCachedFunction[Any, P, R_co]:
        """Bind the class (the first argument), as `classmethod` does."""
        ...


class Decorator(Protocol):
    """What a called decorator (`mcache(maxsize=10)`) returns: it keeps the function's signature."""

    @overload
    def __call__(
        self, func: Callable[Concatenate[type[Any], P], R], /
    ) -> CachedClassMethod[P, R]: ...
    @overload
    def __call__(self, func: Callable[P, R], /) -> CachedFunction[P, R]: ...
    def __call__(self, func: Callable[..., Any], /) -> Any:
        """Wrap `func` in its cache."""
        ...
