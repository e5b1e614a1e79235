"""twat-cache backend plugin for aiocache: registers the `aiocache` backend.

The store is aiocache's `SimpleMemoryCache` (in memory, per process) with what aiocache lacks
added around it: cached `None` results, `maxsize` with LRU (or FIFO) eviction, and the core's
collision-free keys. TTL is aiocache's own. Importing this module must not import aiocache
itself: the store lives in `_store` and is imported only when a cache is opened.
"""

from twat_cache.spec import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="aiocache",
    kinds=frozenset({"async"}),
    policies=frozenset({"lru", "fifo", "ttl"}),
    persistent=False,
    opener="twat_cache_aiocache._store:open_store",
    ranks={"acache": ("async", 90)},
    requires=("aiocache",),
    description="aiocache: asyncio memory cache (SimpleMemoryCache; LRU/FIFO maxsize, native ttl)",
    distribution="twat-cache-aiocache",
)
