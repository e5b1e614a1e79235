"""Every cache of this process, for `get_stats()` and `clear_cache()`."""

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

    from twat_cache.wrapper import CacheState

_lock = threading.Lock()
_caches: dict[str, CacheState] = {}
_owners: dict[tuple[str, str], weakref.ref[Any]] = {}

__all__ = ["clear_cache", "get_stats", "register"]


def register(state: CacheState, func: Any) -> str:
    """Record a new cache under a unique name and return that name.

    Two different functions with the same namespace in the same folder would share entries,
    so that is logged as a warning.
    """
    with _lock:
        name = state.name
        n = 2
        while name in _caches:
            name = f"{state.name}#{n}"
            n += 1
        state.name = name
        _caches[name] = state
        if state.folder is not None:
            slot = (str(state.folder), state.namespace)
            previous = _owners.get(slot)
            other = previous() if previous is not None else None
            if other is not None and other is not func:
                logger.warning(
                    "twat_cache: two different functions use namespace %r in folder %s; "
                    "they will share cache entries",
                    state.namespace,
                    state.folder,
                )
            try:  # noqa: SIM105  (contextlib is kept off `import twat_cache`)
                _owners[slot] = weakref.ref(func)
            except TypeError:  # callables without weakref support are not tracked
                pass
        return name


def get_stats() -> dict[str, dict[str, Any]]:
    """Statistics of every cache created in this process, by cache name.

    Each value has `hits`, `misses`, `size`, `backend`, `maxsize`, `ttl`, `kind` and `folder`
    (None for memory caches).
    """
    with _lock:
        states = list(_caches.values())
    return {
        s.name: {
            "hits": s.hits,
            "misses": s.misses,
            "size": s.size(),
            "backend": s.backend,
            "maxsize": s.config.maxsize,
            "ttl": s.config.ttl,
            "kind": s.kind,
            "folder": str(s.folder) if s.folder is not None else None,
        }
        for s in states
    }


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
    with _lock:
        states = list(_caches.values())
    live: dict[str, set[str]] = {}
    clear_all: dict[str, Any] = {}
    for state in states:
        folder = None if state.folder is None else resolve_cache_path(state.folder)
        if target is not None and folder != target and not _meant_for(state, target):
            continue
        try:
            state.clear()
        except Exception as exc:
            logger.warning("twat_cache: clearing %s failed: %s", state.name, exc)
        if folder is not None:
            live.setdefault(str(folder), set()).add(state.namespace)
            hook = getattr(state.store, "clear_all", None)
            if hook is not None:
                clear_all[str(folder)] = hook
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
            logger.info("twat_cache: not clearing %s: it is a symbolic link", folder)
            continue
        if not is_marked(folder):
            continue
        if str(folder) in clear_all:  # the store knows its folder's layout best
            try:
                clear_all[str(folder)]()
            except Exception as exc:
                logger.warning("twat_cache: clearing %s failed: %s", folder, exc)
        else:  # the stores of the functions not live here: reopen and clear them
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
        logger.info("twat_cache: removed the files of the caches in %s (%s)", folder, problem)
    else:
        logger.warning("twat_cache: clearing the other caches in %s failed: %s", folder, problem)


def _meant_for(state: CacheState, target: Path) -> bool:
    """True for a cache that asked for folder `target` but fell back to memory."""
    wanted = state.config.folder_name
    return state.folder is None and wanted is not None and resolve_cache_path(wanted) == target
