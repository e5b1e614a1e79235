"""The static types of the public API: `CachedFunction`, and what a called decorator returns.

Kept apart from the decorators so that `import twat_cache` does not import `typing`; type
checkers see these through `TYPE_CHECKING` imports, and `twat_cache.CachedFunction` loads this
module on first access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Concatenate, Literal, ParamSpec, Protocol, TypeVar, overload

from twat_cache.config import CacheConfig
from twat_cache.wrapper import CacheInfo

P = ParamSpec("P")
P2 = ParamSpec("P2")
R = TypeVar("R")
R2 = TypeVar("R2")
S = TypeVar("S")
Policy = Literal["lru", "lfu", "fifo", "rr", "ttl"]
MmapMode = Literal["r", "r+", "w+", "c"]

__all__ = ["CachedFunction", "Decorator", "MmapMode", "Policy"]


class CachedFunction(Protocol[P, R]):
    """A decorated function: callable with the original signature, plus the cache's handles.

    `cache` is the backend's native cache object, `cache_backend` its name and `cache_config`
    the validated config; `cache_info()`, `cache_clear()` (alias `clear()`) and
    `cache_delete(*args, **kwargs)` work like their functools namesakes.
    """

    cache: Any
    cache_backend: str
    cache_config: CacheConfig
    __wrapped__: Callable[P, R]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
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

    # Methods: reached through an instance, the cached function binds `self` like a function.
    @overload
    def __get__(self, instance: None, owner: type[Any] | None = None) -> CachedFunction[P, R]: ...
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
