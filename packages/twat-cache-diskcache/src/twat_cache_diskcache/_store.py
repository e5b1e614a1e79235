"""The diskcache store: one `diskcache.Cache` per cached function, under the function's folder.

Layout: `<folder>/dc-<sha256(namespace)[:24]>/` holds the function's own `diskcache.Cache`
(its SQLite index `cache.db` plus value files for large entries) and `flights.lock`, the ONE
lock file of the cross-process single flight (`twat_cache.locks.StripedLocks`: byte-range
stripes, so the number of lock files never grows with the keys). That sub-folder is all the
store creates in the folder (`owned`), so clearing never touches anything else there.

One Cache per function (rather than one shared Cache with a tag per function) keeps `clear()`,
`len()` and the `maxsize` count to that function's own entries using diskcache's own cheap
operations (`Cache.clear`, the maintained `count`), and keeps unrelated functions from
contending for one SQLite write lock.

Keys are `keys.stable_digest(namespace + secret id, key)` (SHA-256 hex: stable across processes
and runs; processes with different secrets use different keys, so they never overwrite or drop
each other's entries); values are `envelope.seal(...)` envelopes, verified by `envelope.unseal`
before anything is unpickled. An entry sealed under another secret is a miss (one warning) and
is left alone; a corrupt one is dropped. diskcache stores those bytes as they are (no pickling
of its own); the `Disk` used here refuses any row that is not raw bytes, so a tampered index
can never make diskcache unpickle something. Expiry is diskcache's own (`expire=`).

Limits: a `maxsize` is a count of entries: after each store, entries beyond it are culled in
diskcache's own eviction order for the policy (lru: least recently used, lfu: least frequently
used, fifo/ttl: least recently stored), expired entries first. The default, `maxsize=None`, sets
no bound on the number of entries; diskcache's own default `size_limit` of 1 GiB (bytes of
stored values) is then the only bound, a backstop culled in diskcache's default order (least
recently stored). Tracking use (lru, lfu) costs diskcache a write transaction on every hit
(about 4x the cost of a read-only hit), so it is paid only when a `maxsize` makes the order
matter.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import EVICTION_POLICY, MODE_BINARY, MODE_RAW

from twat_cache.config import CacheConfig
from twat_cache.envelope import CorruptEntry, ForeignEntry, seal, unseal
from twat_cache.locks import StripedLocks
from twat_cache.paths import FILE_MODE, FOLDER_MODE, private_dir
from twat_cache.record import CacheRecord
from twat_cache.secret import Secret, load_secret
from twat_cache.store import Store

logger = logging.getLogger("twat_cache")

__all__ = ["DEFAULT_SIZE_LIMIT", "POLICIES", "DiskcacheStore", "open_store"]

#: twat-cache policy -> diskcache eviction_policy.
POLICIES = {
    "lru": "least-recently-used",
    "lfu": "least-frequently-used",
    "fifo": "least-recently-stored",
    "ttl": "least-recently-stored",  # one ttl for every entry: the oldest stored expires first
}
#: diskcache's own default bound on the bytes stored (values), kept as the default limit.
DEFAULT_SIZE_LIMIT = 2**30

_ABSENT: Any = object()
_POSIX = sys.platform != "win32"
#: The single-flight lock file inside a function's folder.
LOCK_FILE = "flights.lock"
_NAMESPACE_DIR = re.compile(r"dc-[0-9a-f]{24}")


class _Refused(bytes):
    """What `PrivateDisk.fetch` returns for a row that is not raw bytes: never a valid envelope."""


class PrivateDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's `Disk`, made private and safe for twat-cache's sealed entries.

    Value files (large entries) are made 0o600 in 0o700 folders. Only raw bytes are ever read
    back: a row whose mode says "pickle" or "text" (which could only come from tampering) is
    refused before diskcache would unpickle it, and non-raw keys are never unpickled either.
    """

    def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
        """Store like diskcache, then make a value file (and its folders) private."""
        result = super().store(value, read, key=key)
        filename = result[2]
        if filename is not None and _POSIX:
            full = Path(self._directory) / filename
            os.chmod(full, FILE_MODE)
            os.chmod(full.parent, FOLDER_MODE)
            os.chmod(full.parent.parent, FOLDER_MODE)
        return result

    def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
        """Return the stored bytes; refuse (without unpickling) anything that is not bytes."""
        if mode not in (MODE_RAW, MODE_BINARY) or read:
            return _Refused()
        return super().fetch(mode, filename, value, read)

    def get(self, key: Any, raw: bool) -> Any:
        """Return a stored key; keys stored pickled (never by twat-cache) are not unpickled."""
        if not raw:
            return _Refused()
        return super().get(key, raw)


def _private_file(path: Path) -> None:
    """Create `path` empty with mode 0o600 if missing (SQLite keeps, and copies, its mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def namespace_dir(folder: Path, namespace: str) -> Path:
    """The subfolder of `folder` holding the Cache of the function `namespace`."""
    return folder / ("dc-" + hashlib.sha256(namespace.encode()).hexdigest()[:24])


class DiskcacheStore(Store):
    """A twat-cache store over one `diskcache.Cache` (see the module docstring)."""

    blocking = True
    digest_keys = True
    handles_ttl = True

    def __init__(self, config: CacheConfig, ctx: CacheRecord) -> None:
        if ctx.folder is None:
            raise ValueError("diskcache: the store needs a folder (the record's folder is None)")
        self.namespace = ctx.namespace
        # Resolved once: a hit must not look the secret up again.
        self.name = ctx.name
        self.ttl = config.ttl
        self.maxsize = config.maxsize
        self.encrypt = config.encrypt
        policy = POLICIES.get(config.policy)
        if policy is None:
            allowed = ", ".join(sorted(POLICIES))
            raise ValueError(f"diskcache: policy must be one of {allowed}, got {config.policy!r}")
        if config.maxsize is None:
            policy = POLICIES["fifo"]  # only the byte backstop evicts: keep hits read-only
        self.policy = policy
        self.directory = private_dir(namespace_dir(Path(ctx.folder), ctx.namespace))
        self.owned = (self.directory.name,)
        self.flights = StripedLocks(self.directory / LOCK_FILE, name=ctx.name)
        self._foreign_warned = False
        _private_file(self.directory / diskcache.core.DBNAME)
        self.native: diskcache.Cache = diskcache.Cache(
            str(self.directory),
            disk=PrivateDisk,
            eviction_policy=policy,
            size_limit=DEFAULT_SIZE_LIMIT,
            statistics=False,  # twat-cache counts hits itself; diskcache's counters cost writes
            tag_index=False,
        )
        self._get = self.native.get
        self._cull_select = EVICTION_POLICY[policy]["cull"]

    def digest(self, key: Hashable, secret: Secret | None = None) -> str:
        """The entry key of `key`: the core's disk digest, as it is.

        The core salts it with the function's namespace and the secret's id, so functions and
        secrets never share entries.
        """
        return str(key)

    def get(self, key: Hashable, default: Any) -> Any:
        """Return the value for `key`, or `default` (missing, expired, or not intact)."""
        secret = load_secret()
        digest = self.digest(key, secret)
        blob = self._get(digest, _ABSENT, retry=True)
        if blob is _ABSENT:
            return default
        try:
            return unseal(blob, secret=secret, context=digest.encode())[0]
        except ForeignEntry as exc:  # another secret's entry: not ours to delete
            if not self._foreign_warned:
                self._foreign_warned = True
                logger.warning("%s: ignoring a cache entry (%s)", self.name, exc)
            return default
        except CorruptEntry as exc:
            logger.warning("%s: dropping a corrupt cache entry (%s)", self.name, exc)
            self.native.delete(digest, retry=True)
            return default

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` sealed, with the ttl, then cull beyond `maxsize` entries."""
        secret = load_secret()
        digest = self.digest(key, secret)
        blob = seal(value, secret=secret, context=digest.encode(), encrypt=self.encrypt)
        self.native.set(digest, blob, expire=self.ttl, retry=True)
        if self.maxsize is not None and len(self.native) > self.maxsize:
            self._cull()

    def _cull(self) -> None:
        """Drop expired entries, then the entries beyond `maxsize` in diskcache's policy order."""
        cache = self.native
        if self.ttl is not None:
            cache.expire(retry=True)
        excess = len(cache) - (self.maxsize or 0)
        if excess <= 0:
            return
        # diskcache culls by bytes (size_limit) only; the count bound reuses its own ordering
        # query for the policy inside its own transaction, so files are cleaned up its way.
        select = self._cull_select.format(fields="rowid, filename", now=0)
        with cache._transact(retry=True) as (sql, cleanup):
            rows = sql(select, (excess,)).fetchall()
            if rows:
                marks = ",".join("?" * len(rows))
                sql(f"DELETE FROM Cache WHERE rowid IN ({marks})", [row[0] for row in rows])
                for _, filename in rows:
                    cleanup(filename)

    def delete(self, key: Hashable) -> bool:
        """Drop the entry for `key`; True if there was one."""
        return bool(self.native.delete(self.digest(key), retry=True))

    def flight_lock(self, key: Hashable) -> AbstractContextManager[bool]:
        """Hold `key`'s stripe of the lock file: one process computes it, the others wait."""
        return self.flights.hold(self.digest(key))

    def aflight_lock(self, key: Hashable) -> AbstractAsyncContextManager[bool]:
        """The asyncio twin of `flight_lock` (waits without blocking the event loop)."""
        return self.flights.ahold(self.digest(key))

    def clear(self) -> None:
        """Drop every entry of this function (other functions' Caches are separate folders).

        The lock file stays: there is one per function, and a process holding it must keep
        excluding the others.
        """
        self.native.clear(retry=True)

    def clear_all(self) -> None:
        """Drop every entry in this store's folder, whichever function (or process) wrote it.

        Each function's Cache is cleared through diskcache (safe while other processes have it
        open), never by deleting its files.
        """
        self.clear()
        for directory in self.directory.parent.glob("dc-*"):
            if (
                directory == self.directory
                or not _NAMESPACE_DIR.fullmatch(directory.name)
                or directory.is_symlink()  # never cleared through a link
                or not (directory / diskcache.core.DBNAME).is_file()
            ):
                continue
            other = diskcache.Cache(str(directory), disk=PrivateDisk)
            try:
                other.clear(retry=True)
            finally:
                other.close()

    def prune(self) -> int:
        """Drop the expired entries now (diskcache otherwise drops them as it stores); how many."""
        return int(self.native.expire(retry=True))

    def __len__(self) -> int:
        if self.ttl is not None:
            self.native.expire(retry=True)  # expired rows linger until culled: do not count them
        return len(self.native)

    def close(self) -> None:
        """Close diskcache's SQLite connections."""
        self.native.close()


def open_store(config: CacheConfig, context: CacheRecord) -> DiskcacheStore:
    """Open the diskcache store for one function."""
    return DiskcacheStore(config, context)
