"""twat-cache: one caching decorator per job, on the fastest backend installed.

`mcache` (memory), `bcache` (disk database), `fcache` (files, NumPy-friendly), `acache`
(async) and `ucache` (picks for you) choose among the installed backend plugins and fall back
to the standard library. Importing this package imports no backend library.
"""

from __future__ import annotations

from twat_cache._version import __version__
from twat_cache.config import CacheConfig, create_cache_config
from twat_cache.decorators import acache, bcache, fcache, mcache, ucache
from twat_cache.paths import get_cache_path
from twat_cache.stats import clear_cache, get_stats
from twat_cache.wrapper import CacheInfo

__all__ = [
    "CacheConfig",
    "CacheInfo",
    "CachedFunction",
    "__version__",
    "acache",
    "available_backends",
    "bcache",
    "clear_cache",
    "create_cache_config",
    "fcache",
    "get_cache_path",
    "get_stats",
    "mcache",
    "ucache",
]


TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from twat_cache._types import CachedFunction


#: The module paths of the original plan (DESIGN §8), loaded on first use, never on import.
_MIGRATION_MODULES = ("cache", "exceptions", "type_defs", "utils")


def __getattr__(name: str) -> object:
    # `CachedFunction` is a typing Protocol: loading it on first use keeps `typing` off import.
    if name == "CachedFunction":
        from twat_cache._types import CachedFunction  # noqa: PLC0415

        return CachedFunction
    if name in _MIGRATION_MODULES:
        from importlib import import_module  # noqa: PLC0415

        return import_module(f"twat_cache.{name}")
    raise AttributeError(f"module 'twat_cache' has no attribute {name!r}")


def available_backends() -> dict[str, Any]:
    """What is installed, what each backend can do, and which backend each decorator would pick.

    Returns `{"backends": {name: {...}}, "picks": {decorator: name}}`. Each backend entry has
    `kinds`, `policies`, `persistent`, `native_ttl`, `usable` (its library imports),
    `distribution` and `description`; `picks` covers mcache, bcache, fcache, acache, ucache,
    and ucache with a folder_name.
    """
    from twat_cache import chains, registry  # noqa: PLC0415

    specs = registry.discover()
    usable = registry.installed()
    backends = {
        name: {
            "kinds": sorted(spec.kinds),
            "policies": sorted(spec.policies),
            "persistent": spec.persistent,
            "native_ttl": spec.native_ttl,
            "usable": name in usable,
            "distribution": spec.distribution,
            "description": spec.description,
        }
        for name, spec in specs.items()
    }
    cases: dict[str, tuple[str, CacheConfig, bool]] = {
        "mcache": ("mcache", CacheConfig(kind="memory"), False),
        "bcache": ("bcache", CacheConfig(kind="disk"), False),
        "fcache": ("fcache", CacheConfig(kind="file"), False),
        "acache": ("acache", CacheConfig(kind="async"), True),
        "ucache": ("ucache", CacheConfig(kind="memory"), False),
        "ucache(folder_name)": ("ucache", CacheConfig(kind="disk", folder_name="x"), False),
        "ucache(async)": ("ucache", CacheConfig(kind="async"), True),
    }
    picks = {
        label: chains.choose(decorator, config, usable, is_async=is_async).backend
        for label, (decorator, config, is_async) in cases.items()
    }
    return {"backends": backends, "picks": picks}
