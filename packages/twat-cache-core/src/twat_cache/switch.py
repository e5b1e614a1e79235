"""Switching caching off: `disabled()` in a thread or task, `TWAT_CACHE_DISABLE` in a process.

`disabled()` follows `contextvars`: tasks created inside the block inherit it, other threads do
not. While any block is active anywhere, every live wrapper reads its store through a gate that
checks the context, so the hit path costs nothing extra when caching is never switched off.
`TWAT_CACHE_DISABLE` (1, true, yes, on; any case) is read when a cache opens (its first call):
such caches call the function directly, always.
"""

from __future__ import annotations

import contextvars
import threading
import weakref

from twat_cache.options import env_flag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from contextlib import AbstractContextManager
    from typing import Any, Protocol

    class Gated(Protocol):
        """A wrapper engine whose store reads can be gated."""

        def gate(self, on: bool) -> None:
            """Route store reads through (or back out of) the disabled check."""


__all__ = ["ENV_DISABLE", "disabled", "env_disabled", "is_disabled", "register"]

ENV_DISABLE = "TWAT_CACHE_DISABLE"

_off: contextvars.ContextVar[bool] = contextvars.ContextVar("twat_cache_disabled", default=False)
_lock = threading.Lock()
_active = 0
_engines: weakref.WeakSet[Any] = weakref.WeakSet()


def env_disabled() -> bool:
    """True when `$TWAT_CACHE_DISABLE` switches caching off for the process."""
    return env_flag(ENV_DISABLE)


def is_disabled() -> bool:
    """True when caching is off for the current thread or task."""
    return _off.get()


def register(engine: Gated) -> None:
    """Track a live wrapper engine, gated at once if a `disabled()` block is active."""
    with _lock:
        _engines.add(engine)
        if _active:
            engine.gate(True)


class _Disabled:
    """The context manager `disabled()` returns (re-entrant, usable in `async with` too)."""

    __slots__ = ("_tokens",)

    def __init__(self) -> None:
        self._tokens: list[contextvars.Token[bool]] = []

    def __enter__(self) -> None:
        global _active
        with _lock:
            _active += 1
            if _active == 1:
                for engine in list(_engines):
                    engine.gate(True)
        self._tokens.append(_off.set(True))

    def __exit__(self, *exc: object) -> None:
        global _active
        _off.reset(self._tokens.pop())
        with _lock:
            _active -= 1
            if _active == 0:
                for engine in list(_engines):
                    engine.gate(False)

    async def __aenter__(self) -> None:
        self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


def disabled() -> AbstractContextManager[None]:
    """Switch caching off in this thread or task: calls go straight to the functions.

    `with twat_cache.disabled(): ...` (also `async with`). Tasks created inside the block
    inherit it; other threads keep caching. Nothing is read from or written to any cache
    inside the block, and the counters do not move.
    """
    return _Disabled()


def _iter() -> Iterator[Any]:  # pragma: no cover  (debugging aid)
    return iter(list(_engines))
