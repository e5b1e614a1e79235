"""twat-cache backend plugin for cachetools: registers the `cachetools` backend.

Importing this module must not import cachetools itself: the store lives in `_store` and is
imported only when a cache is opened.
"""

from twat_cache.spec import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="cachetools",
    kinds=frozenset({"memory"}),
    policies=frozenset({"lru", "lfu", "fifo", "rr", "ttl"}),
    persistent=False,
    opener="twat_cache_cachetools._store:open_store",
    ranks={"mcache": ("memory", 50), "ucache": ("memory", 50)},
    requires=("cachetools",),
    description="cachetools: LRUCache/LFUCache/FIFOCache/RRCache, TTLCache for ttl; locked",
    distribution="twat-cache-cachetools",
)
