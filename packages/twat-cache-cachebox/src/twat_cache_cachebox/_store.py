"""The cachebox store: each policy onto cachebox's own Rust cache classes.

cachebox's caches are thread-safe (a lock inside the Rust object), so the store adds none and
its `get` *is* the cache's Rust `get`, and `mapping` is the cache itself: a hit goes from the
wrapper straight into Rust.

TTL: cachebox's `TTLCache` is a FIFO queue whose entries expire after one ttl and are swept on
every insert, which is exactly `policy="ttl"` and `policy="fifo"` with a ttl: the store then
handles the ttl itself. cachebox has no LRU, LFU or random cache with expiry, so for those the
store keeps the policy's own class and the core's TTL layer stamps and sweeps entries.

Loading: the cache classes live in cachebox's Rust extension `cachebox._core`; the package's
`__init__` also imports its decorator helpers, which import `asyncio` and `inspect` (about
35 ms, more than all of twat-cache's first call may cost). The extension is therefore loaded
by itself, under its own name, when cachebox is not imported yet: the classes are the very
same objects `cachebox.LRUCache` & co. are when the program imports cachebox later.
"""

from __future__ import annotations

import sys

from twat_cache.store import MISS, Store

TYPE_CHECKING = False
if TYPE_CHECKING:  # `typing` costs more to import than the rest of a first call
    from typing import Any

    from twat_cache.config import CacheConfig
    from twat_cache.record import CacheRecord

__all__ = ["CacheboxStore", "load_core", "make_native", "open_store"]


def load_core() -> Any:
    """Cachebox's Rust extension module (`cachebox._core`), without cachebox's `__init__`."""
    core = sys.modules.get("cachebox._core")
    if core is not None:
        return core
    import os  # noqa: PLC0415
    from importlib import machinery  # noqa: PLC0415  (importlib.util would import contextlib)

    spec = machinery.PathFinder.find_spec("cachebox")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        for suffix in machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_core" + suffix)
            if os.path.exists(path):
                loader = machinery.ExtensionFileLoader("cachebox._core", path)
                core_spec = machinery.ModuleSpec("cachebox._core", loader, origin=path)
                module = loader.create_module(core_spec)
                loader.exec_module(module)
                sys.modules["cachebox._core"] = module
                return module
    import cachebox  # noqa: PLC0415  (a layout this loader does not know: the usual way)

    return cachebox


def make_native(maxsize: int | None, policy: str, ttl: float | None) -> tuple[Any, bool]:
    """Return the cachebox cache for `policy` and whether it applies `ttl` itself.

    `maxsize=None` becomes cachebox's 0 (unbounded). With a ttl, `ttl` and `fifo` become a
    `TTLCache(maxsize, ttl)`; the other policies keep their class and return False, so the
    core adds expiry on top.
    """
    size = 0 if maxsize is None else maxsize
    if ttl is not None and policy in ("ttl", "fifo"):
        # cachebox's TTLCache is a Python subclass of the extension's (in cachebox itself).
        import cachebox  # noqa: PLC0415

        return cachebox.TTLCache(size, ttl), True
    core = load_core()
    classes = {
        "lru": core.LRUCache,
        "lfu": core.LFUCache,
        "fifo": core.FIFOCache,
        "rr": core.RRCache,
    }
    if policy not in classes:
        raise ValueError(
            f"policy: expected one of lru, lfu, fifo, rr (or ttl with a ttl), got {policy!r}"
        )
    return classes[policy](size), False


class CacheboxStore(Store):
    """A store over one cachebox cache; `get` is the cache's own Rust `get`, `mapping` the cache."""

    def __init__(self, native: Any, *, handles_ttl: bool) -> None:
        self.native = native
        self.mapping = native
        self.handles_ttl = handles_ttl
        # The bound Rust method: no Python frame between the wrapper and the lookup.
        self.get = native.get  # type: ignore[method-assign]

    def set(self, key: Any, value: Any) -> None:
        """Store `value` for `key` (the cache evicts by its policy when full)."""
        self.native.insert(key, value)

    def delete(self, key: Any) -> bool:
        """Drop `key`; True if there was an entry."""
        return self.native.pop(key, MISS) is not MISS

    def clear(self) -> None:
        """Drop every entry."""
        self.native.clear()

    def __len__(self) -> int:
        return len(self.native)

    def items(self) -> list[tuple[Any, Any]]:
        """A snapshot of the entries."""
        return list(self.native.items())


def open_store(config: CacheConfig, record: CacheRecord) -> CacheboxStore:
    """Open the cachebox store for one function (ttl natively where cachebox has it)."""
    native, applies_ttl = make_native(config.maxsize, config.policy, config.ttl)
    return CacheboxStore(native, handles_ttl=applies_ttl)
