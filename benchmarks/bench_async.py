"""Async rows: `@acache` hits against raw `aiocache.cached` and a hand-written async dict memo.

Both sides decorate the same two-parameter coroutine function (`b` has a default), warm the
entry on a throwaway loop, and the harness awaits one hit per operation in its own loop.
aiocache's side is `aiocache.cached()` as a user writes it (its defaults: `SimpleMemoryCache`,
its string key builder, a 5 s timeout per call); the function returns a non-None value, since
aiocache would recompute a None every time. The dict memo is the floor any async cache sits
on: one `dict` lookup inside a coroutine.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from importlib.util import find_spec
from typing import Any

from harness import Comparison


def _fresh() -> Callable[..., Awaitable[int]]:
    """A new coroutine function each time, so no two decorators share anything."""

    async def f(a: int, b: int = 2) -> int:
        return a + b

    return f


def _dict_memo(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """The hand-written async memo: positional arguments as the key of a plain dict."""
    cache: dict[tuple[Any, ...], Any] = {}

    async def memo(*args: Any) -> Any:
        try:
            return cache[args]
        except KeyError:
            pass
        value = cache[args] = await func(*args)
        return value

    return memo


async def _warm(*calls: Callable[[], Awaitable[object]]) -> None:
    for call in calls:
        await call()
        await call()


def comparisons(quick: bool = False) -> list[Comparison]:
    """The acache rows whose libraries are installed (none without aiocache)."""
    if find_spec("aiocache") is None or find_spec("twat_cache_aiocache") is None:
        return []
    from aiocache import cached

    from twat_cache import acache

    ours = acache(_fresh())
    if ours.cache_backend != "aiocache":  # pragma: no cover - only when the plugin is broken
        return []
    theirs = cached()(_fresh())
    memo = _dict_memo(_fresh())
    rows = []
    for how, args, kwargs in (("", (1, 2), {}), (", keyword", (1,), {"b": 2})):
        mine = functools.partial(ours, *args, **kwargs)
        raw = functools.partial(theirs, *args, **kwargs)
        asyncio.run(_warm(mine, raw))
        rows.append(
            Comparison(
                name=f"acache hit{how}",
                ours=mine,
                theirs=raw,
                theirs_name="aio",
                bar=0.1,
                group="async",
                async_=True,
                theirs_doc="aiocache.cached() (its defaults: SimpleMemoryCache, 5 s timeout)",
            )
        )
    mine = functools.partial(ours, 1, 2)
    floor = functools.partial(memo, 1, 2)
    asyncio.run(_warm(mine, floor))
    rows.append(
        Comparison(
            name="acache hit",
            ours=mine,
            theirs=floor,
            theirs_name="amemo",
            bar=None,
            group="async",
            async_=True,
            theirs_doc="hand-written async dict memo (the floor: one dict lookup)",
        )
    )
    return rows
