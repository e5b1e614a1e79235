"""twat-cache backend plugin for Redis: registers the `redis` backend.

One cache shared by every process, on any host, that reaches one Redis server, a Redis
Cluster or the master a Sentinel names: `ucache(preferred_engine="redis", url=...)` for plain
functions and `acache(backend="redis", url=...)` for coroutine functions. The URL comes from
`url=` (alias `redis_url=`), else `$TWAT_CACHE_REDIS_URL` or `$TWAT_CACHE_URL`: `redis://`,
`rediss://`, `unix://`, `redis+cluster://h:p,h:p`, `redis+sentinel://h:p,h:p/service`.
Entries are the core's sealed envelopes (with the exact deadline) under keys namespaced by the
secret's id and the function; `maxsize` and `max_bytes` are kept per function, approximately
by the policy (lru, lfu, fifo, rr, ttl); single flight across processes uses a Redis lock.
An unresponsive server costs one short timeout, then a circuit breaker answers for it until a
probe succeeds. Hosts sharing a server must share `$TWAT_CACHE_SECRET`. Details:
`twat_cache_redis._store` (layout, bounds, faults) and `twat_cache_redis._url` (URLs).

Importing this module must not import redis itself: the stores live in `_store` and are
imported only when a cache is opened.
"""

from __future__ import annotations

from twat_cache.spec import BackendSpec

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a few ms to import: the spec is loaded at decoration
    from typing import Any

__version__ = "3.0.0"


def _check_url(url: Any) -> Any:
    """Check a `url=` given to the decorator (when redis is the chosen backend)."""
    from twat_cache_redis._url import parse_url  # noqa: PLC0415

    parse_url(url, "url=")
    return url


BACKEND = BackendSpec(
    name="redis",
    kinds=frozenset({"disk", "async"}),
    # maxsize/max_bytes per function, kept by a sorted set scored by the policy
    policies=frozenset({"lru", "lfu", "fifo", "rr", "ttl"}),
    persistent=True,
    options={"url": _check_url},
    folders=False,
    # `url=` with one of these picks this store (`_url.SCHEMES`, which parses them).
    schemes=(
        "redis",
        "rediss",
        "unix",
        "redis+cluster",
        "rediss+cluster",
        "redis+sentinel",
        "rediss+sentinel",
    ),
    opener="twat_cache_redis._store:open_store",
    requires=("redis",),
    description="Redis: one cache shared by processes on several hosts (redis-py)",
    distribution="twat-cache-redis",
)
