"""twat-cache backend plugin for joblib: registers the `joblib` backend (behind `fcache`).

Each call's result is one file written with `joblib.dump` straight into the file (NumPy arrays
as raw buffers, optional compression, optional memory-mapped loads) and authenticated with the
core's envelope (`twat_cache.envelope`): an HMAC-SHA256 trailer over the payload's BLAKE3
digest, checked before anything is unpickled or mapped. BLAKE3 (the `blake3` package, a
dependency of this plugin only) also digests large array arguments in this store's keys
(`Store.buffer_hash`). TTL is native (the deadline is in the file's authenticated trailer, on
the core's clock); `maxsize` counts files and `max_bytes` their total size, evicting the least
recently read ("lru", "ttl") or the oldest ("fifo"), never the entry just stored. `prune()`
also removes temporary files of writers that died half-way; `verify(fix)` authenticates
every file without unpickling; `nbytes()` tells the bytes on disk.

Importing this module must not import joblib itself: the store lives in `_store` and is
imported only when a cache is opened.
"""

from twat_cache.spec import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="joblib",
    kinds=frozenset({"file"}),
    policies=frozenset({"lru", "fifo", "ttl"}),
    persistent=True,
    ranks={"fcache": ("file", 90), "ucache-persistent": ("file", 70)},
    opener="twat_cache_joblib._store:open_store",
    requires=("joblib",),
    description="joblib: one authenticated joblib file per call; NumPy-friendly, compression, mmap",
    distribution="twat-cache-joblib",
)
