"""twat-cache: one caching decorator per job, on the fastest backend installed.

`mcache` (memory), `bcache` (disk database), `fcache` (files, NumPy-friendly), `acache`
(async) and `ucache` (picks for you) choose among the installed backend plugins and fall back
to the standard library. Importing this package imports no backend library; the modules of
the original plan (`twat_cache.cache`, `utils`, `type_defs`, `exceptions`) load on first use.
"""

from __future__ import annotations

from twat_cache._version import __version__
from twat_cache.config import CacheConfig, create_cache_config
from twat_cache.decorators import acache, bcache, fcache, mcache, ucache
from twat_cache.errors import TwatCacheError
from twat_cache.options import ConfigurationError
from twat_cache.paths import get_cache_path
from twat_cache.registry import EngineNotAvailableError
from twat_cache.state import CacheInfo
from twat_cache.stats import clear_cache, get_stats
from twat_cache.switch import disabled

__all__ = [
    "CacheConfig",
    "CacheInfo",
    "CachedFunction",
    "ConfigurationError",
    "EngineNotAvailableError",
    "TwatCacheError",
    "__version__",
    "acache",
    "available_backends",
    "bcache",
    "clear_cache",
    "create_cache_config",
    "disabled",
    "fcache",
    "get_cache_path",
    "get_stats",
    "instrument",
    "mcache",
    "ucache",
]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from twat_cache._types import CachedFunction
    from twat_cache.otel import instrument


#: The module paths of the original plan (DESIGN §8), loaded on first use, never on import.
_MIGRATION_MODULES = ("cache", "exceptions", "type_defs", "utils")


def __getattr__(name: str) -> object:
    # Loaded on first use: `CachedFunction` is a typing Protocol (typing costs ~7 ms), and
    # `instrument` imports OpenTelemetry when it is installed.
    if name == "CachedFunction":
        from twat_cache._types import CachedFunction  # noqa: PLC0415

        return CachedFunction
    if name == "instrument":
        from twat_cache.otel import instrument  # noqa: PLC0415

        return instrument
    if name in _MIGRATION_MODULES:
        from twat_cache.registry import resolve  # noqa: PLC0415

        return resolve(f"twat_cache.{name}")
    raise AttributeError(f"module 'twat_cache' has no attribute {name!r}")


def available_backends() -> dict[str, Any]:
    """What is installed, what each backend can do, and which backend each decorator would pick.

    Returns `{"backends": {name: {...}}, "picks": {decorator: name}, "chains": {...},
    "missing": {...}}`. Each backend entry has `kinds`, `policies`, `persistent`, `usable`
    (its library imports), `ranks`, `distribution`, `description` and `install` (the pip
    command that installs it). `picks` covers mcache, bcache, fcache, acache, ucache, ucache
    with a folder_name and ucache on a coroutine; `chains` lists each chain's installed
    backends best first; `missing` names this project's plugins that are not installed, with
    their install commands.
    """
    from twat_cache import chains, registry  # noqa: PLC0415

    specs = registry.discover()
    usable = registry.installed()
    backends = {
        name: {
            "kinds": sorted(spec.kinds),
            "policies": sorted(spec.policies),
            "persistent": spec.persistent,
            "usable": name in usable,
            "ranks": {chain: list(rank) for chain, rank in spec.ranks.items()},
            "distribution": spec.distribution,
            "description": spec.description,
            "install": registry.install_hint(name),
        }
        for name, spec in specs.items()
    }
    cases: dict[str, tuple[str, CacheConfig, bool]] = {
        "mcache": ("mcache", CacheConfig(kind="memory"), False),
        "bcache": ("bcache", CacheConfig(kind="disk"), False),
        "fcache": ("fcache", CacheConfig(kind="file"), False),
        "acache": ("acache", CacheConfig(kind="async", preferred_engine="aiocache"), True),
        "ucache": ("ucache", CacheConfig(kind="memory"), False),
        "ucache(folder_name)": ("ucache", CacheConfig(kind="disk", folder_name="x"), False),
        "ucache(async)": ("ucache", CacheConfig(kind="async"), True),
    }
    leads = registry.leads()
    picks = {
        label: chains.choose(decorator, config, usable, is_async=is_async, leads=leads).backend
        for label, (decorator, config, is_async) in cases.items()
    }
    chain_steps = {}
    for name in (
        "mcache",
        "bcache",
        "bcache-dir",
        "fcache",
        "acache",
        "ucache",
        "ucache-persistent",
    ):
        primary, fallback = chains.steps(name, usable)
        chain_steps[name] = [backend for backend, _ in primary + fallback]
    missing = {
        name: registry.install_hint(name) for name in registry.family() if name not in usable
    }
    return {"backends": backends, "picks": picks, "chains": chain_steps, "missing": missing}
