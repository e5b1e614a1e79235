"""The exceptions, at the module path of twat-cache 2.x and the original plan (DESIGN §8).

`from twat_cache.exceptions import TwatCacheError, ConfigurationError, EngineNotAvailableError`.
`ConfigurationError` is also a `ValueError`. Not imported by `import twat_cache`: it loads on
first use.
"""

from __future__ import annotations

from twat_cache.errors import ConfigurationError, EngineNotAvailableError, TwatCacheError

__all__ = ["ConfigurationError", "EngineNotAvailableError", "TwatCacheError"]
