"""twat-cache backend plugin for Redis: registers the `redis` backend.

Importing this module must not import redis itself: the stores live in `_store` and are
imported only when a cache is opened.
"""

from twat_cache.registry import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="redis",
    kinds=frozenset({"disk", "async"}),
    policies=frozenset({"lru", "lfu", "rr", "ttl"}),
    persistent=True,
    native_ttl=True,
    opener="twat_cache_redis._store:open_store",
    requires=("redis",),
    description="Redis: one cache shared by processes on several hosts",
    distribution="twat-cache-redis",
)
