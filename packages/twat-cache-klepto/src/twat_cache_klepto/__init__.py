"""twat-cache backend plugin for klepto: registers the `klepto` backend.

Importing this module must not import klepto itself: the store lives in `_store` and is
imported only when a cache is opened. Kind "disk" is klepto's SQL archive in a SQLite file,
kind "file" its directory archive. klepto has no expiry and no size bound of its own: the store
expires entries by the deadline sealed in each (collected by sweeps and `prune`), `maxsize`
counts entries and `max_bytes` bounds their sealed bytes, evicting the oldest stored (fifo, ttl)
or the least recently used (lru); without them the archive is unbounded.
"""

from twat_cache.spec import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="klepto",
    kinds=frozenset({"disk", "file"}),
    policies=frozenset({"lru", "fifo", "ttl"}),
    persistent=True,
    ranks={
        "bcache": ("disk", 50),
        "bcache-dir": ("file", 90),
        "fcache": ("file", 50),
        "ucache-persistent": ("disk", 90),
    },
    opener="twat_cache_klepto._store:open_store",
    requires=("klepto",),
    description="klepto: SQL archive (disk) or directory archive (file)",
    distribution="twat-cache-klepto",
)
