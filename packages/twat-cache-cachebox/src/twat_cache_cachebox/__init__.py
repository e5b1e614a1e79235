"""twat-cache backend plugin for cachebox: registers the `cachebox` backend.

Importing this module must not import cachebox itself: the store lives in `_store` and is
imported only when a cache is opened.
"""

from twat_cache.registry import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="cachebox",
    kinds=frozenset({"memory"}),
    policies=frozenset({"lru", "lfu", "fifo", "rr", "ttl"}),
    persistent=False,
    native_ttl=True,
    opener="twat_cache_cachebox._store:open_store",
    requires=("cachebox",),
    # native_ttl: the store applies `ttl` itself for every policy (TTLCache for ttl/fifo,
    # the core's TTLStore over LRU/LFU/RR, which cachebox has no expiring variant of).
    description="cachebox (Rust): LRUCache/LFUCache/FIFOCache/RRCache, TTLCache for ttl",
    distribution="twat-cache-cachebox",
)
