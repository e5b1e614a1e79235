"""Redis rows (informational): a cached hit through twat-cache against the raw client's read.

Needs the redis plugin and a server at `$TWAT_CACHE_REDIS_URL` (no rows otherwise). The raw
side is what a hand-written Redis memo costs at least: one `GET` round trip plus
`pickle.loads`. Ours adds the key's stable digest and the HMAC check of the sealed envelope.
Both sides read one small value over the same kind of connection; the round trip dominates,
so the ratio shows how much of a hit is our own work. Every key written here expires after
10 minutes (nothing is left behind on a shared server).
"""

from __future__ import annotations

import asyncio
import functools
import os
import pickle
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from harness import Comparison

EXPIRE = 600
RAW_KEY = "twat_cache_bench:raw"


def _fresh() -> Callable[..., Any]:
    def f(a: int, b: int = 2) -> dict[str, int]:
        return {"a": a, "b": b}

    return f


def _afresh() -> Callable[..., Any]:
    async def f(a: int, b: int = 2) -> dict[str, int]:
        return {"a": a, "b": b}

    return f


def comparisons() -> list[Comparison]:
    """The Redis rows, or [] when the plugin, the client or a reachable server is missing."""
    url = os.environ.get("TWAT_CACHE_REDIS_URL")
    if not url or find_spec("redis") is None or find_spec("twat_cache_redis") is None:
        return []
    import redis
    import redis.asyncio as aioredis

    from twat_cache import acache, ucache

    client = redis.Redis.from_url(url, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        return []
    value = _fresh()(1)
    client.set(RAW_KEY, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), ex=EXPIRE)

    def raw_get() -> Any:
        return pickle.loads(client.get(RAW_KEY))  # type: ignore[arg-type]

    ours = ucache(preferred_engine="redis", ttl=EXPIRE)(_fresh())
    if ours.cache_backend != "redis":  # pragma: no cover - plugin broken
        return []
    hit = functools.partial(ours, 1)
    if hit() != value or hit() != raw_get():  # the second call is a hit
        raise RuntimeError("bench_redis: ucache(redis) and the raw read disagree")

    rows = [
        Comparison(
            name="ucache(redis) hit",
            ours=hit,
            theirs=raw_get,
            theirs_name="redis GET + pickle.loads",
            bar=None,
            group="redis",
        )
    ]

    aours = acache(backend="redis", ttl=EXPIRE)(_afresh())
    asyncio.run(aours(1))  # stored; the harness's own loop opens its own connection
    aclient = aioredis.Redis.from_url(url)  # connects lazily, in the harness's loop

    async def araw_get() -> Any:
        return pickle.loads(await aclient.get(RAW_KEY))  # type: ignore[arg-type]

    rows.append(
        Comparison(
            name="acache(backend='redis') hit",
            ours=functools.partial(aours, 1),
            theirs=araw_get,
            theirs_name="redis.asyncio GET + pickle.loads",
            bar=None,
            group="redis",
            async_=True,
        )
    )
    return rows
