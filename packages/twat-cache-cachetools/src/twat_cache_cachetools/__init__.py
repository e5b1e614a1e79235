"""twat-cache backend plugin for cachetools: registers the `cachetools` backend.

Importing this module must not import cachetools itself: the store lives in `_store` and is
imported only when a cache is opened.
"""

from twat_cache.registry import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="cachetools",
    kinds=frozenset({"memory"}),
    policies=frozenset({"lru", "lfu", "fifo", "rr", "ttl"}),
    persistent=False,
    native_ttl=True,
    opener="twat_cache_cachetools._store:open_store",
    requires=("cachetools",),
    # native_ttl: the store applies `ttl` itself for every policy (TTLCache for ttl/lru,
    # the core's TTLStore over LFU/FIFO/RR, which cachetools has no expiring variant of).
    description="cachetools: LRUCache/LFUCache/FIFOCache/RRCache, TTLCache for ttl; locked",
    distribution="twat-cache-cachetools",
)
