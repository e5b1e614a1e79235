"""`TwatCacheError`, the root of the exceptions twat-cache defines.

Each exception is defined where it is raised (`options.ConfigurationError`,
`registry.EngineNotAvailableError`, ...) and derives from this class, so
`except TwatCacheError` catches them all; `twat_cache.exceptions` re-exports them.
"""

from __future__ import annotations

__all__ = ["TwatCacheError"]


class TwatCacheError(Exception):
    """The base class of every exception twat-cache defines; catch it to catch them all."""
