"""`get_cache_path` at the module path of the original plan (DESIGN §8).

`from twat_cache.utils import get_cache_path` keeps working; it is the function `twat_cache`
exports. Not imported by `import twat_cache`: it loads on first use.
"""

from __future__ import annotations

from twat_cache import get_cache_path

__all__ = ["get_cache_path"]
