"""twat-cache backend plugin for joblib: registers the `joblib` backend.

Importing this module must not import joblib itself: the store lives in `_store` and is
imported only when a cache is opened.
"""

from twat_cache.registry import BackendSpec

__version__ = "3.0.0"

BACKEND = BackendSpec(
    name="joblib",
    kinds=frozenset({"file"}),
    policies=frozenset({"lru", "ttl"}),
    persistent=True,
    native_ttl=False,
    opener="twat_cache_joblib._store:open_store",
    requires=("joblib",),
    description="joblib: NumPy-friendly files",
    distribution="twat-cache-joblib",
)
