"""Every cache of this process, for `get_stats()` and `clear_cache()`.

The registry holds caches weakly: a cache the program drops (its decorated function) is freed
with its values, and leaves the statistics.
"""

from __future__ import annotations

import os
import threading
import weakref

from twat_cache._log import logger
from twat_cache.paths import cache_root, is_marked, resolve_cache_path

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from twat_cache.state import CacheState

_lock = threading.Lock()
_caches: dict[str, weakref.ref[CacheState]] = {}
_owners: dict[tuple[str, str], weakref.ref[Any]] = {}

__all__ = ["clear_cache", "get_stats", "live_states", "register"]


def register(state: CacheState, func: Any) -> str:
    """Record a new cache (weakly) under a unique name and return that name.

    Two different functions with the same namespace in the same folder would share entries,
    so that is logged as a warning.
    """
    shared = False
    with _lock:
        name = state.name
        n = 2
        while (ref := _caches.get(name)) is not None and ref() is not None:
            name = f"{state.name}#{n}"
            n += 1
        state.name = name
        _caches[name] = weakref.ref(state)
        folder = state.record.folder
        if folder is not None:
            slot = (str(folder), state.record.namespace)
            previous = _owners.get(slot)
            other = previous() if previous is not None else None
            shared = other is not None and other is not func
            try:  # noqa: SIM105  (contextlib is kept off `import twat_cache`)
                _owners[slot] = weakref.ref(func)
            except TypeError:  # callables without weakref support are not tracked
                pass
        if len(_caches) > _sweep_at[0]:
            _sweep()
    if shared:  # logged outside the lock: logging may run a collection, and callbacks
        logger.warning(
            "two different functions use namespace %r in folder %s; they will share cache entries",
            state.record.namespace,
            folder,
        )
    return name


# Dead entries are swept when the registry has doubled since the last sweep (no weakref
# callbacks: one running during a collection inside `register` would need the lock it holds).
_sweep_at = [64]


def _sweep() -> None:
    for name in [n for n, ref in _caches.items() if ref() is None]:
        del _caches[name]
    for slot in [s for s, ref in _owners.items() if ref() is None]:
        del _owners[slot]
    _sweep_at[0] = max(64, 2 * len(_caches))


def live_states() -> list[CacheState]:
    """The caches of this process that are still alive."""
    with _lock:
        refs = list(_caches.values())
    return [state for ref in refs if (state := ref()) is not None]


def get_stats() -> dict[str, dict[str, Any]]:
    """Statistics of every live cache of this process, by cache name.

    Each value has `hits`, `misses`, `size`, `backend`, `maxsize`, `ttl`, `kind` and `folder`
    (None for memory caches).
    """
    return {state.name: state.stats() for state in live_states()}


def clear_cache(folder_name: str | os.PathLike[str] | None = None) -> None:
    """Clear every cache of this process and the on-disk caches under the cache root.

    With `folder_name`, only the caches in that folder (a name under the root, or an absolute
    path). Only folders twat-cache uses (they hold its marker file) are cleared, and in them
    only what twat-cache wrote: each function's entries through its store, else the files and
    folders the marker records as created by twat-cache. A user's own files in a folder used
    as `folder_name` stay, and a cache folder that is a symbolic link is never cleared through
    the link (its target may be anything).
    """
    target = None if folder_name is None else resolve_cache_path(folder_name)
    states = live_states()
    live: dict[str, set[str]] = {}
    clear_all: dict[str, Any] = {}
    for state in states:
        folder = None if state.record.folder is None else resolve_cache_path(state.record.folder)
        if target is not None and folder != target and not _meant_for(state, target):
            continue
        try:
            state.clear()
        except Exception as exc:
            logger.warning("clearing %s failed: %s", state.name, exc)
        if folder is not None and state.store is not None:
            live.setdefault(str(folder), set()).add(state.record.namespace)
            clear_all[str(folder)] = state.store.clear_all
    if target is not None:
        folders = [target] if target.is_dir() else []
    else:
        root = cache_root()
        try:
            folders = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
        except OSError:
            folders = []
    for folder in folders:
        if os.path.islink(folder):
            # Whatever the link points to is not known to be a cache: never empty it.
            logger.info("not clearing %s: it is a symbolic link", folder)
            continue
        if not is_marked(folder):
            continue
        if str(folder) in clear_all:  # a store open here knows its folder's layout best
            try:
                clear_all[str(folder)]()
            except Exception as exc:
                logger.warning("clearing %s failed: %s", folder, exc)
        # the stores of the functions not live here: reopen and clear them
        _clear_recorded(folder, skip=live.get(str(folder), set()))
        from twat_cache.folders import remove_temp_files  # noqa: PLC0415

        remove_temp_files(folder)


def _clear_recorded(folder: Path, skip: set[str]) -> None:
    """Clear the stores of the functions `folder`'s marker records, except those in `skip`.

    The stores are reopened through their backend, which clears them safely even while other
    processes use them. When that is impossible (the backend is not installed, or a store does
    not open), the files and folders the marker records as twat-cache's are removed instead;
    nothing else in the folder is touched.
    """
    from twat_cache import folders  # noqa: PLC0415
    from twat_cache.paths import read_marker  # noqa: PLC0415

    meta = read_marker(folder)
    if not [n for n in folders.namespaces(meta) if n not in skip]:
        return
    try:
        with folders.opened_stores(folder, meta, name="clear_cache", skip=skip) as stores:
            for _, store in stores:
                store.clear()
        return
    except Exception as exc:
        problem = exc
    in_use = {name for namespace in skip for name in folders.owned_names(meta, namespace)}
    owned = [
        name
        for namespace in folders.namespaces(meta)
        if namespace not in skip
        for name in folders.owned_names(meta, namespace)
        if name not in in_use  # shared with a live store here (one SQLite file): keep
    ]
    if owned:
        folders.remove_owned(folder, owned)
        logger.info("removed the files of the caches in %s (%s)", folder, problem)
    else:
        logger.warning("clearing the other caches in %s failed: %s", folder, problem)


def _meant_for(state: CacheState, target: Path) -> bool:
    """True for a cache that asked for folder `target` but fell back to memory."""
    wanted = state.record.config.folder_name
    return (
        state.record.folder is None and wanted is not None and resolve_cache_path(wanted) == target
    )
