"""twat-cache backend plugin for Redis: registers the `redis` backend.

One cache shared by every process, on any host, that reaches one Redis server:
`ucache(preferred_engine="redis", redis_url=...)` for plain functions and
`acache(backend="redis")` for coroutine functions; the URL comes from `redis_url` or
`$TWAT_CACHE_REDIS_URL`. Entries are the core's sealed envelopes under namespaced keys, expire
by Redis' own TTL, and are single-flighted across processes with redis-py's Lock. `maxsize` is
not a per-function count: Redis' `maxmemory` and `maxmemory-policy` (allkeys-lru, allkeys-lfu,
allkeys-random, volatile-ttl: the policies listed below) bound and evict, server-wide. Hosts
sharing a server must share `$TWAT_CACHE_SECRET`. Details: `twat_cache_redis._store`.

Importing this module must not import redis itself: the stores live in `_store` and are
imported only when a cache is opened.
"""

from twat_cache.spec import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="redis",
    kinds=frozenset({"disk", "async"}),
    # eviction is the server's maxmemory-policy; these are the ones Redis offers
    policies=frozenset({"lru", "lfu", "rr", "ttl"}),
    persistent=True,
    folders=False,
    opener="twat_cache_redis._store:open_store",
    requires=("redis",),
    description="Redis: one cache shared by processes on several hosts (redis-py)",
    distribution="twat-cache-redis",
)
