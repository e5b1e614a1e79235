"""Backend discovery: entry points of group `twat_cache.backends`, read once, loaded lazily.

Each entry point names a `BackendSpec`: what the backend serves and honours, and where its
store lives (`opener`, a "module:function" string imported only when a cache is opened). A
plugin whose spec fails to load is logged and skipped, never fatal. Reading entry points
happens at the first decoration (or `available_backends()`), not on `import twat_cache`.
"""

from __future__ import annotations

import importlib
import threading

from twat_cache._frozen import Frozen
from twat_cache._log import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from twat_cache.config import CacheConfig

GROUP = "twat_cache.backends"

__all__ = ["GROUP", "BackendSpec", "discover", "is_usable", "open_store"]


class BackendSpec(Frozen):
    """What a backend is and can do; a plugin's entry point points at one of these.

    `kinds` is the subset of {"memory", "disk", "file", "async"} it serves (an "async" backend
    has an `AsyncStore`); `policies` the eviction policies it honours; `persistent` whether
    entries survive the process; `native_ttl` whether its store applies `ttl` itself (else the
    core's `TTLStore` does); `requires` the import names of the libraries it needs, checked
    without importing them; `opener` is "module:function", called as `opener(config, context)`
    to open a store for one function.
    """

    __slots__ = (
        "name",
        "kinds",
        "policies",
        "persistent",
        "native_ttl",
        "opener",
        "requires",
        "description",
        "distribution",
    )

    name: str
    kinds: frozenset[str]
    policies: frozenset[str]
    persistent: bool
    native_ttl: bool
    opener: str
    requires: tuple[str, ...]
    description: str
    distribution: str

    def __init__(
        self,
        name: str,
        kinds: frozenset[str],
        policies: frozenset[str],
        persistent: bool,
        native_ttl: bool,
        opener: str,
        requires: tuple[str, ...] = (),
        description: str = "",
        distribution: str = "",
    ) -> None:
        self._set(
            name=name,
            kinds=frozenset(kinds),
            policies=frozenset(policies),
            persistent=persistent,
            native_ttl=native_ttl,
            opener=opener,
            requires=tuple(requires),
            description=description,
            distribution=distribution,
        )

    def serves(self, kind: str) -> bool:
        """True when this backend serves caches of `kind`."""
        return kind in self.kinds

    def honours(self, policy: str) -> bool:
        """True when this backend honours the eviction `policy`."""
        return policy in self.policies


class StoreContext(Frozen):
    """What a store needs to know about the function it caches.

    `namespace` is the function's identity (`module:qualname`, plus a code fingerprint when
    `check_code` is on); `folder` the resolved cache folder for persistent backends (None for
    memory); `name` the cache's name in `get_stats()`; `extra` free-form options.
    """

    __slots__ = ("namespace", "name", "folder", "extra")

    namespace: str
    name: str
    folder: Any
    extra: dict[str, Any]

    def __init__(
        self, namespace: str, name: str, folder: Any = None, extra: dict[str, Any] | None = None
    ) -> None:
        self._set(namespace=namespace, name=name, folder=folder, extra=dict(extra or {}))


_lock = threading.Lock()
_specs: dict[str, BackendSpec] | None = None
_usable: dict[str, bool] = {}


def discover(*, refresh: bool = False) -> dict[str, BackendSpec]:
    """Read every `twat_cache.backends` entry point once and return {name: spec}.

    Entry points that fail to load, or load something other than a `BackendSpec`, are logged
    at WARNING and skipped. `refresh=True` reads them again (after installing a plugin).
    """
    global _specs
    with _lock:
        if _specs is not None and not refresh:
            return _specs
        from importlib.metadata import entry_points  # noqa: PLC0415  (import-time cost)

        found: dict[str, BackendSpec] = {}
        for ep in entry_points(group=GROUP):
            if ep.name in found:
                continue
            try:
                spec = ep.load()
            except Exception as exc:
                logger.warning(
                    "twat_cache: skipping backend plugin %r (%s): %s", ep.name, ep.value, exc
                )
                continue
            if not isinstance(spec, BackendSpec):
                logger.warning(
                    "twat_cache: skipping backend plugin %r: %s is a %s, not a BackendSpec",
                    ep.name,
                    ep.value,
                    type(spec).__name__,
                )
                continue
            found[ep.name] = spec
        _specs = found
        _usable.clear()
        return found


def is_usable(spec: BackendSpec) -> bool:
    """True when every library `spec` requires can be imported (checked without importing)."""
    usable = _usable.get(spec.name)
    if usable is None:
        import importlib.util  # noqa: PLC0415  (imports contextlib: kept off `import twat_cache`)

        try:
            usable = all(importlib.util.find_spec(lib) is not None for lib in spec.requires)
        except (ImportError, ValueError):
            usable = False
        _usable[spec.name] = usable
    return usable


def installed() -> dict[str, BackendSpec]:
    """The discovered backends whose libraries are present, in discovery order."""
    return {name: spec for name, spec in discover().items() if is_usable(spec)}


def open_store(spec: BackendSpec, config: CacheConfig, context: StoreContext) -> Any:
    """Import `spec.opener` and open a store for one function; errors propagate to the caller."""
    module_name, _, attr = spec.opener.partition(":")
    opener: Callable[[CacheConfig, StoreContext], Any] = getattr(
        importlib.import_module(module_name), attr
    )
    return opener(config, context)
