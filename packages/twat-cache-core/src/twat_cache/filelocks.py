"""Cross-process single flight for folder-based stores: one lock file per key (filelock).

A store that keeps its entries in a folder mixes in `FolderLocks` and sets `locks` (the lock
folder), `name` and `namespace`; it then offers `flight_lock(key)` and `aflight_lock(key)`,
which the core holds around re-check, compute and store on a miss. A lock that cannot be made
never fails the call: the store computes without it and warns once. Only plugins that depend
on `filelock` use this module; the core never imports it.
"""

from __future__ import annotations

from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any

import filelock

from twat_cache._log import logger
from twat_cache.paths import FILE_MODE, secure_dir
from twat_cache.store import Store

__all__ = ["FolderLocks"]


class _FlightLock:
    """A per-key `filelock` lock that never fails the call it guards.

    When the lock file cannot be made (a read-only or vanished folder), the computation goes
    ahead without the cross-process lock and the store warns once: the caller still gets its
    result, as it does when storing fails.
    """

    __slots__ = ("_key", "_lock", "_store")

    def __init__(self, store: FolderLocks, key: Hashable) -> None:
        self._store = store
        self._key = key
        self._lock: Any = None

    def _make(self, factory: Any) -> Any:
        try:
            lock = factory(self._store.lock_path(self._key), mode=FILE_MODE)
        except OSError as exc:
            self._store.lock_failed(exc)
            return None
        return lock

    def __enter__(self) -> _FlightLock:
        lock = self._make(filelock.FileLock)
        if lock is not None:
            try:
                lock.acquire()
            except OSError as exc:
                self._store.lock_failed(exc)
                lock = None
        self._lock = lock
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()

    async def __aenter__(self) -> _FlightLock:
        lock = self._make(filelock.AsyncFileLock)
        if lock is not None:
            try:
                await lock.acquire()
            except OSError as exc:
                self._store.lock_failed(exc)
                lock = None
        self._lock = lock
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._lock is not None:
            await self._lock.release()


class FolderLocks(Store):
    """Base of folder-based stores: per-key lock files, and one warning when they fail."""

    blocking = True
    digest_keys = True

    locks: Path
    name: str
    namespace: str
    _lock_warned: bool = False

    def lock_path(self, key: Hashable) -> Path:
        """The lock file of `key` (its digest), creating the private lock folder if needed."""
        if not self.locks.is_dir():
            secure_dir(self.locks)
        return self.locks / (str(key) + ".lock")  # the key is the core's disk digest

    def lock_failed(self, exc: OSError) -> None:
        """Warn (once per store) that computations of this function are not serialized."""
        if not self._lock_warned:
            self._lock_warned = True
            logger.warning(
                "twat_cache: %s: no cross-process lock (%s: %s); computing without it",
                self.name,
                type(exc).__name__,
                exc,
            )

    def flight_lock(self, key: Hashable) -> AbstractContextManager[object]:  # type: ignore[override]
        """A per-key file lock: one process computes a missing key while the others wait."""
        return _FlightLock(self, key)

    def aflight_lock(self, key: Hashable) -> AbstractAsyncContextManager[object]:  # type: ignore[override]
        """The asyncio twin of `flight_lock` (filelock's AsyncFileLock)."""
        return _FlightLock(self, key)
