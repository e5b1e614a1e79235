"""`clear_cache` and `get_stats` at the module path of the original plan (DESIGN §8).

`from twat_cache.cache import clear_cache, get_stats` keeps working; the functions are the ones
`twat_cache` exports (3.x signatures: `get_stats()` covers every cache of the process,
`clear_cache(folder_name=None)`). Not imported by `import twat_cache`: it loads on first use.
"""

from __future__ import annotations

from twat_cache import clear_cache, get_stats

__all__ = ["clear_cache", "get_stats"]
