"""twat-cache backend plugin for diskcache: registers the `diskcache` backend.

Importing this module must not import diskcache itself: the store lives in `_store` and is
imported only when a cache is opened. Policies map to diskcache's eviction policies (lru:
least-recently-used, lfu: least-frequently-used, fifo and ttl: least-recently-stored). Expiry
is exact by the deadline sealed in each entry; diskcache's own expiry collects them. `maxsize`
counts entries and `max_bytes` bounds their sealed bytes (default: diskcache's 1 GiB).
"""

from twat_cache.spec import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="diskcache",
    kinds=frozenset({"disk"}),
    policies=frozenset({"lru", "lfu", "fifo", "ttl"}),
    persistent=True,
    ranks={"bcache": ("disk", 90), "ucache-persistent": ("disk", 80)},
    opener="twat_cache_diskcache._store:open_store",
    requires=("diskcache",),
    description="diskcache: SQLite index + files",
    distribution="twat-cache-diskcache",
)
