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
Policy = Literal["lru", "lfu", "fifo", "rr", "ttl"]
MmapMode = Literal["r", "r+", "w+", "c"]

__all__ = [
    "AsyncOptions",
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
    """bcache's keyword options."""

    use_sql: bool
    preferred_engine: str | None


class FileOptions(_Persistent, total=False):
    """fcache's keyword options."""

    mmap_mode: MmapMode | None
    preferred_engine: str | None


class AsyncOptions(MemoryOptions, total=False):
    """acache's keyword options (front and max_bytes only on network stores)."""

    policy: Policy
    url: str | None
    redis_url: str | None
    front: int | None
    front_ttl: float
    max_bytes: int | None
    encrypt: bool
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
    ) -> CachedFunction[P2, R2]: ...
    def __get__(self, instance: Any, owner: Any = None) -> Any:
        """Bind to `instance` (methods), as plain functions do."""
        ...


class Decorator(Protocol):
    """What a called decorator (`mcache(maxsize=10)`) returns: it keeps the function's signature."""

    def __call__(self, func: Callable[P, R], /) -> CachedFunction[P, R]:
        """Wrap `func` in its cache."""
        ...
