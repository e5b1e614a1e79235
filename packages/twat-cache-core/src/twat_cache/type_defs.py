"""The type names of the original plan, at its module path (DESIGN §8).

`P` and `R` are the parameter specification and result type variables of the decorators'
signatures; `AsyncR` is the awaited result of a coroutine function; `CacheKey` is what a key
can be (a tuple of the call's arguments, or a string). Loads `typing`, which is why
`import twat_cache` does not import this module: it loads on first use.
"""

from __future__ import annotations

from typing import Any, TypeAlias, TypeVar

from twat_cache._types import P, R

__all__ = ["AsyncR", "CacheKey", "P", "R"]

AsyncR = TypeVar("AsyncR")
CacheKey: TypeAlias = str | tuple[Any, ...]
