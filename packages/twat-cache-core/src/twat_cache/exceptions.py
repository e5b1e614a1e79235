"""The exceptions, at the module path of twat-cache 2.x and the original plan (DESIGN §8).

Each is defined where it is raised and re-exported here: `TwatCacheError` (the root),
`ConfigurationError` (a bad option; also a `ValueError`), `EngineNotAvailableError` (a backend
required by name is not installed), `UncacheableError` (an argument cannot be keyed; the
wrapper runs such calls uncached), `CorruptEntry`/`ForeignEntry` (a stored entry is not
intact, or was sealed under another secret) and `EncryptionUnavailable` (`encrypt=True`
without `cryptography`). Not imported by `import twat_cache`: it loads on first use.
"""

from __future__ import annotations

from twat_cache.encode import UncacheableError
from twat_cache.errors import TwatCacheError
from twat_cache.options import ConfigurationError
from twat_cache.registry import EngineNotAvailableError

__all__ = [
    "ConfigurationError",
    "EngineNotAvailableError",
    "TwatCacheError",
    "UncacheableError",
]
