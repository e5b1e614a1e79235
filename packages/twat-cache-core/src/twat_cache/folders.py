"""Cache folders on disk: reopening the stores their marker records.

A cache folder's marker (see `paths.write_marker`) names its backend and, per function, the
kind and ttl its store was opened with. `opened_stores` reopens those stores through the
registry, so the command and `clear_cache` can count, prune or clear entries of functions
that are not live in this process.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from twat_cache import registry
from twat_cache.config import CacheConfig
from twat_cache.record import CacheRecord

__all__ = ["FolderError", "namespaces", "opened_stores", "per_namespace"]


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
    spec = registry.discover().get(backend)
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
                stores.append((namespace, registry.open_store(spec, config, context)))
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
