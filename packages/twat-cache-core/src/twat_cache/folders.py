"""Cache folders on disk: what twat-cache owns in them, removing only that, reopening stores.

A cache folder's marker (see `paths.write_marker`) names its backend and, per function, the
kind and ttl its store was opened with, and the names (paths relative to the folder) the store
created there. `owned_names` reads those, `remove_owned` deletes exactly them (never following
a symlink out of the folder, never touching a name the marker does not list), and
`remove_temp_files` deletes twat-cache's own temporary files (`.twat_cache.tmp-*`) that a
killed writer left. `opened_stores` reopens the stores through the registry, so the command and
`clear_cache` can count, prune or clear entries of functions that are not live in this process.

A user's existing folder can be a `folder_name`: nothing in it that twat-cache did not create
is ever deleted, and the folder keeps its mode (see `paths.private_dir`).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from twat_cache import registry
from twat_cache._log import logger
from twat_cache.config import CacheConfig
from twat_cache.opening import open_store
from twat_cache.paths import MARKER, TMP_PREFIX
from twat_cache.record import CacheRecord

__all__ = [
    "FolderError",
    "check_name",
    "namespaces",
    "opened_stores",
    "owned_names",
    "per_namespace",
    "remove_owned",
    "remove_temp_files",
]

#: Deeper trees than this are not walked (twat-cache's own are a few levels deep).
MAX_DEPTH = 32
_FD_WALK = (
    os.open in os.supports_dir_fd
    and os.unlink in os.supports_dir_fd
    and os.rmdir in os.supports_dir_fd
    and os.stat in os.supports_dir_fd
    and os.scandir in os.supports_fd
    and hasattr(os, "O_NOFOLLOW")
    and hasattr(os, "O_DIRECTORY")
)
_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


class FolderError(Exception):
    """A folder's stores cannot be reopened (backend missing, or the marker is unclear)."""


def namespaces(meta: dict[str, object]) -> list[str]:
    """The functions (namespaces) a folder's marker lists."""
    names = meta.get("namespaces")
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str)]


def per_namespace(meta: dict[str, object], key: str, namespace: str) -> Any:
    """`meta[key]`, or `meta[key][namespace]` when the marker records it per function."""
    value = meta.get(key)
    if isinstance(value, dict):
        return value.get(namespace)
    return value


@contextmanager
def opened_stores(
    folder: Path, meta: dict[str, object], *, name: str = "twat-cache", skip: Collection[str] = ()
) -> Iterator[list[tuple[str, Any]]]:
    """Open the store of every function the folder's marker lists, through the registry.

    Raises `FolderError` when the backend is unknown or not installed, or serves several
    on-disk kinds and the marker does not record which one. The configuration is rebuilt from
    the marker (`kind` and `ttl`, each a value or a {namespace: value} map, when recorded;
    otherwise the backend's one on-disk kind), which is all a store needs to find its entries.
    """
    backend = meta.get("backend")
    if not isinstance(backend, str):
        raise FolderError("the marker names no backend")
    spec = registry.spec(backend)
    if spec is None:
        raise FolderError(f"backend {backend!r} is not installed")
    if not registry.is_usable(spec):
        raise FolderError(f"backend {backend!r} is registered but its library is missing")
    on_disk = [k for k in ("disk", "file") if spec.serves(k)]
    stores: list[tuple[str, Any]] = []
    try:
        for namespace in namespaces(meta):
            if namespace in skip:
                continue
            kind = per_namespace(meta, "kind", namespace)
            if not isinstance(kind, str) or not spec.serves(kind):
                if len(on_disk) > 1:
                    # Opening the wrong kind would create that kind's files in the folder
                    # (klepto: an SQL archive next to a directory archive): do not guess.
                    raise FolderError(
                        f"the marker does not say which kind of {backend} store "
                        f"({' or '.join(on_disk)}) {namespace} uses"
                    )
                kind = on_disk[0] if on_disk else "disk"
            ttl = per_namespace(meta, "ttl", namespace)
            config = CacheConfig(
                kind=kind,
                folder_name=str(folder),
                ttl=float(ttl) if isinstance(ttl, (int, float)) and ttl > 0 else None,
            )
            context = CacheRecord(
                name=f"{name}:{folder.name}",
                namespace=namespace,
                backend=backend,
                kind=kind,
                config=config,
                folder=folder,
            )
            try:
                stores.append((namespace, open_store(spec, config, context)))
            except Exception as exc:
                raise FolderError(
                    f"cannot open the {backend} store of {namespace}: {type(exc).__name__}: {exc}"
                ) from exc
        yield stores
    finally:
        for _, store in stores:
            # Closing is best effort: the numbers are already read.
            with suppress(Exception):
                store.close()


# ---------------------------------------------------------------------------------------------
# Ownership


def check_name(name: object) -> list[str] | None:
    """The parts of an owned name ("dc-1a2b" or "joblib/f-1a2b"), or None when it is not safe.

    Safe: a non-empty relative path with "/" separators, no "." or ".." part, no NUL or
    backslash, and not the marker. A marker edited to list "../elsewhere" or "/home" lists
    nothing removable.
    """
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        return None
    if name.startswith("/") or os.path.isabs(name) or (os.altsep and os.altsep in name):
        return None
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts) or parts == [MARKER]:
        return None
    if sys.platform == "win32" and any(":" in p for p in parts):  # drive or stream names
        return None
    return parts


def owned_names(meta: dict[str, object], namespace: str | None = None) -> list[str]:
    """The names the marker says twat-cache's stores created (of one function, or of all)."""
    owned = meta.get("owned")
    if not isinstance(owned, dict):
        return []
    lists = [owned.get(namespace)] if namespace is not None else list(owned.values())
    names: set[str] = set()
    for items in lists:
        if isinstance(items, list):
            names.update(n for n in items if check_name(n) is not None)
    return sorted(names)


def remove_owned(folder: str | os.PathLike[str], names: Iterable[str]) -> int:
    """Delete `names` (relative to `folder`) and nothing else; return how many were removed.

    A name that is a folder is removed with everything in it; a symlink (to a file or a folder)
    is unlinked and its target left alone; a name reached through a symlinked parent is not
    touched at all. On POSIX the walk is descriptor-based (`O_NOFOLLOW`, `dir_fd`), so a
    symlink swapped in meanwhile is never followed either. Unsafe names (see `check_name`) are
    skipped; a failure to remove one name is logged and the others are still removed.
    """
    removed = 0
    base = os.fspath(folder)
    for name in names:
        parts = check_name(name)
        if parts is None:
            logger.warning("not removing %r from %s: not a safe name", name, base)
            continue
        try:
            done = _remove_fd(base, parts) if _FD_WALK else _remove_paths(base, parts)
        except OSError as exc:
            logger.warning("could not remove %s from %s: %s", name, base, exc)
            continue
        removed += done
    return removed


def remove_temp_files(folder: str | os.PathLike[str]) -> int:
    """Delete twat-cache's temporary files (`.twat_cache.tmp-*`) directly in `folder`."""
    base = os.fspath(folder)
    try:
        with os.scandir(base) as scan:
            names = [e.name for e in scan if e.name.startswith(TMP_PREFIX)]
    except OSError:
        return 0
    removed = 0
    for name in names:
        path = os.path.join(base, name)
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                continue  # never ours: atomic_write makes files
            os.unlink(path)
            removed += 1
        except FileNotFoundError:
            continue
        except OSError as exc:
            logger.warning("could not remove %s: %s", path, exc)
    return removed


def _remove_fd(base: str, parts: list[str]) -> int:
    """`remove_owned` for one name, walking by descriptors (POSIX)."""
    try:
        top = os.open(base, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return 0
    fds = [top]
    try:
        for part in parts[:-1]:
            try:
                fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    return 0  # missing, or a symlink on the way: never followed
                raise
        return _remove_at(fds[-1], parts[-1], 0)
    finally:
        for fd in reversed(fds):
            os.close(fd)


def _remove_at(parent: int, name: str, depth: int) -> int:
    """Remove `name` in the folder open as `parent`: unlink a file or link, empty a folder."""
    try:
        info = os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return 0
    if not stat.S_ISDIR(info.st_mode):
        with suppress(FileNotFoundError):
            os.unlink(name, dir_fd=parent)
        return 1
    if depth >= MAX_DEPTH:
        raise OSError(errno.ELOOP, f"{name}: folders nested deeper than {MAX_DEPTH}")
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link meanwhile
            with suppress(FileNotFoundError):
                os.unlink(name, dir_fd=parent)
            return 1
        if exc.errno == errno.ENOENT:
            return 0
        raise
    try:
        with os.scandir(fd) as scan:
            children = [e.name for e in scan]
        for child in children:
            _remove_at(fd, child, depth + 1)
    finally:
        os.close(fd)
    with suppress(FileNotFoundError):
        os.rmdir(name, dir_fd=parent)
    return 1


def _is_link(path: str) -> bool:
    isjunction = getattr(os.path, "isjunction", None)  # Windows directory junctions (3.12+)
    return os.path.islink(path) or bool(isjunction is not None and isjunction(path))


def _remove_paths(base: str, parts: list[str]) -> int:
    """`remove_owned` for one name by paths with lstat checks (platforms without `dir_fd`)."""
    import shutil  # noqa: PLC0415

    path = base
    for part in parts[:-1]:
        path = os.path.join(path, part)
        if _is_link(path) or not os.path.isdir(path):
            return 0
    path = os.path.join(path, parts[-1])
    if not os.path.lexists(path):
        return 0
    if _is_link(path) or not os.path.isdir(path):
        os.unlink(path)
    else:
        shutil.rmtree(path)  # never follows links inside (it unlinks them)
    return 1
