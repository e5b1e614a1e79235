"""The exceptions twat-cache raises on its own account (re-exported by `twat_cache.exceptions`).

Every one derives from `TwatCacheError`, so `except TwatCacheError` catches them all;
`ConfigurationError` is also a `ValueError`, so code that catches the `ValueError` of a bad option
keeps working. Kept free of imports: loading it costs nothing.
"""

from __future__ import annotations

__all__ = ["ConfigurationError", "EngineNotAvailableError", "TwatCacheError"]


class TwatCacheError(Exception):
    """The base class of every exception twat-cache defines; catch it to catch them all."""


class ConfigurationError(TwatCacheError, ValueError):
    """A decorator option or configuration value is invalid; the message names the option.

    Also a `ValueError`, the exception the decorators and `create_cache_config` document for a
    bad value, so either `except` clause works.
    """


class EngineNotAvailableError(TwatCacheError):
    """A backend (an "engine" in twat-cache 2.x) that was required by name cannot be used.

    Raised when the backend's plugin is not installed or its library fails to import, where
    falling back to another backend is not allowed.
    """
