"""twat-cache backend plugin for cachebox: registers the `cachebox` backend.

Importing this module must not import cachebox itself: the store lives in `_store` and is
imported only when a cache is opened.
"""

from twat_cache.spec import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="cachebox",
    kinds=frozenset({"memory"}),
    policies=frozenset({"lru", "lfu", "fifo", "rr", "ttl"}),
    persistent=False,
    opener="twat_cache_cachebox._store:open_store",
    ranks={"mcache": ("memory", 90), "ucache": ("memory", 90)},
    requires=("cachebox",),
    description="cachebox (Rust): LRUCache/LFUCache/FIFOCache/RRCache, TTLCache for ttl",
    distribution="twat-cache-cachebox",
)
