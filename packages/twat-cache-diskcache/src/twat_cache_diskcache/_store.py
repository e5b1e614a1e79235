"""The diskcache store: one `diskcache.Cache` per cached function, under the function's folder.

Layout: `<folder>/dc-<sha256(namespace)[:24]>/` holds the function's own `diskcache.Cache`: its
SQLite index `cache.db` (with `cache.db-wal` and `cache.db-shm`), the value files of large
entries (`ab/cd/<random>.<pid>-<host>.val`, above diskcache's 32 KiB `disk_min_file_size`), and
`flights.lock`, the ONE lock file of the cross-process single flight
(`twat_cache.locks.StripedLocks`: byte-range stripes, so lock files never grow with the keys).
That sub-folder is all the store creates in the folder (`owned`), so clearing never touches
anything else there. Folders it creates are 0o700, files 0o600 (value files are created with
that mode: never readable by others, not even while they are written).

One Cache per function (rather than one shared Cache with a tag per function) keeps `clear()`,
`len()` and the bounds to that function's own entries using diskcache's own cheap operations
(`Cache.clear`, the `count` and `size` it maintains with triggers), and keeps unrelated
functions from contending for one SQLite write lock.

Entries. The key is the core's disk digest (salted with the function's namespace and the
secret's id: functions and secrets never share entries), stored as its 32 raw bytes. The value
is an `envelope.seal(...)` envelope, verified by `envelope.unseal` before anything is unpickled;
diskcache stores those bytes as they are (no pickling of its own), and the `Disk` used here
refuses any row that is not raw bytes, so a tampered index can never make diskcache unpickle
something. A corrupt entry is dropped (one warning per store, then debug messages); an entry
sealed under another secret is a miss (at most one warning per store) and is never deleted,
not by `get`, `prune`, `verify(fix=True)` nor the byte bound's eviction order beyond its turn.

Expiry. The envelope carries the exact deadline (`ttl` seconds from `twat_cache.clock.now()`):
an entry past it is a miss, whether or not diskcache has collected it. diskcache's own expiry
(`expire=`, the ttl rounded up to whole seconds) is the garbage collector: expired rows are
deleted as the store writes, and by `prune()`.

Bounds. `maxsize` counts entries; `max_bytes` bounds the total size of the sealed entries (the
`size` column counts every entry's sealed bytes, in the row or in its file, so diskcache's
`size` setting is that total); without `max_bytes`, diskcache's default 1 GiB is the bound. After
each store that exceeds a bound, entries are evicted in the policy's order (lru: least recently
used, lfu: least frequently used, fifo/ttl: least recently stored), expired ones first, never the
entry just stored: the newest entry always survives its own store. diskcache's own culling
(`cull_limit`) is off: it costs three statements on every store (a third of a store's time)
and could evict the entry just stored; the 1 GiB default bound is checked every 64 stores or
8 MiB written instead. Tracking use (lru, lfu) costs diskcache a write transaction on every hit
(about 4x the cost of a read-only hit), so it is paid only when a bound makes the order matter.

Counting. `len()` and `nbytes()` read diskcache's `count` and `size` settings: read-only and
O(1). They include expired entries diskcache has not collected yet; `prune()` removes them.

Leftovers. diskcache writes a large value's file before the row that references it, so a
writer killed in between leaves an unreferenced file. Value files carry their writer's pid and
host in their names; `prune()` and `clear()` remove unreferenced value files whose writer is
provably dead (this host, pid gone), or that are older than `GRACE` seconds (a writer may be in
progress otherwise), rows whose value file is missing, and empty value folders. A write that
fails (disk full, read-only folder) removes its own partial file and rolls back, so the next
calls cache again. On a full disk `clear()` deletes the value files first (which frees the
space SQLite needs to delete rows); if SQLite still cannot delete, the store's database is
removed and made anew.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import math
import os
import re
import sqlite3
import stat
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any

import diskcache
from diskcache.core import MODE_BINARY, MODE_RAW, UNKNOWN

from twat_cache import clock
from twat_cache.config import CacheConfig
from twat_cache.envelope import (
    HEADER_SIZE,
    CorruptEntry,
    ForeignEntry,
    deadline_of,
    seal,
    unseal,
)
from twat_cache.folders import remove_owned
from twat_cache.locks import StripedLocks
from twat_cache.paths import file_mode, private_dir
from twat_cache.record import CacheRecord
from twat_cache.secret import load_secret
from twat_cache.store import Store
from twat_cache.writers import HOST, writer_gone

logger = logging.getLogger("twat_cache")

__all__ = [
    "DEFAULT_SIZE_LIMIT",
    "GRACE",
    "POLICIES",
    "DiskcacheStore",
    "PrivateDisk",
    "open_store",
]

#: twat-cache policy -> diskcache eviction_policy.
POLICIES = {
    "lru": "least-recently-used",
    "lfu": "least-frequently-used",
    "fifo": "least-recently-stored",
    "ttl": "least-recently-stored",  # one ttl for every entry: the oldest stored expires first
}
#: The column each eviction policy evicts by (smallest first).
_ORDER = {
    "least-recently-used": "access_time",
    "least-frequently-used": "access_count",
    "least-recently-stored": "store_time",
}
#: diskcache's own default bound on the bytes stored, kept as the default limit (`max_bytes`).
DEFAULT_SIZE_LIMIT = 2**30
#: Seconds an unreferenced value file is left alone when its writer may still be alive.
GRACE = 600.0
#: Without a bound of its own, the default byte bound is checked after this many stores...
CHECK_EVERY = 64
#: ... or this many bytes stored, whichever comes first.
CHECK_BYTES = 8 << 20
#: Expired rows collected per check (diskcache collects up to 10 per store).
EXPIRED_BATCH = 10 * CHECK_EVERY

_ABSENT: Any = object()
#: The single-flight lock file inside a function's folder.
LOCK_FILE = "flights.lock"
_NAMESPACE_DIR = re.compile(r"dc-[0-9a-f]{24}")
_HEX2 = re.compile(r"[0-9a-f]{2}")
#: A value file's name: diskcache's random hex, then (ours) the writer's pid and host.
_VALUE_FILE = re.compile(r"[0-9a-f]{28}(?:\.(\d+)-([0-9a-f]{8}))?\.val")
_WRITE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


_SELECT = (
    "SELECT rowid, mode, filename, value FROM Cache WHERE key = ? AND raw = 1"
    " AND (expire_time IS NULL OR expire_time > ?)"
)
#: What a hit updates to keep the eviction order (diskcache's `EVICTION_POLICY[...]["get"]`).
_TOUCH = {
    "least-recently-used": "UPDATE Cache SET access_time = :now WHERE rowid = :rowid",
    "least-frequently-used": (
        "UPDATE Cache SET access_count = access_count + 1 WHERE rowid = :rowid"
    ),
}
_INSERT = (
    "INSERT INTO Cache(key, raw, store_time, expire_time, access_time, access_count, tag, size,"
    " mode, filename, value) VALUES (?, 1, ?, ?, ?, 0, NULL, ?, ?, ?, ?)"
)


class _Refused(bytes):
    """What `PrivateDisk.fetch` returns for a row that is not raw bytes: never a valid envelope."""


class PrivateDisk(diskcache.Disk):  # type: ignore[misc]
    """diskcache's `Disk`, made private and safe for twat-cache's sealed entries.

    - Value files are created 0o600 (folders 0o700) from the start, named after their writer
      (`<random>.<pid>-<host>.val`) so that leftovers of a killed writer can be told from a
      write in progress; a write that fails removes its partial file.
    - Every entry's `size` is its sealed size, in the row or in a file, so diskcache's `size`
      setting is the total the byte bound counts.
    - Only raw bytes are ever read back: a row whose mode says "pickle" or "text" (which could
      only come from tampering) is refused before diskcache would unpickle it, and non-raw
      keys are never unpickled either.
    """

    def __init__(self, directory: str, **kwargs: Any) -> None:
        super().__init__(directory, **kwargs)
        #: the value file this thread wrote last (removed again if its row is not stored)
        self.written = threading.local()
        #: False for a cache a team shares (`secure=False`): files follow the umask
        self.secure = True

    def filename(self, key: Any = UNKNOWN, value: Any = UNKNOWN) -> tuple[str, str]:
        """A new value file's name: `ab/cd/<28 hex>.<pid>-<host>.val`."""
        hex_name = os.urandom(16).hex()
        name = f"{hex_name[4:]}.{os.getpid()}-{HOST}.val"
        filename = os.path.join(hex_name[:2], hex_name[2:4], name)
        return filename, os.path.join(self._directory, filename)

    def store(self, value: Any, read: bool, key: Any = UNKNOWN) -> Any:
        """Store sealed bytes in the row (small) or a private file (large); size: their length."""
        self.written.name = None
        if type(value) is not bytes or read:  # never from twat-cache
            return super().store(value, read, key=key)
        size = len(value)
        if size < self.min_file_size:
            return size, MODE_RAW, None, sqlite3.Binary(value)
        filename, full_path = self.filename(key, value)
        self._write_private(full_path, value)
        self.written.name = filename
        return size, MODE_BINARY, filename, None

    def _write_private(self, full_path: str, data: bytes) -> None:
        """Write `data` to a new 0o600 file; on any failure remove what was written."""
        for attempt in range(10):
            try:
                fd = os.open(full_path, _WRITE_FLAGS, file_mode(self.secure))
                break
            except FileNotFoundError:
                # A new sub-folder (or another cache removed an empty one meanwhile).
                if attempt == 9:
                    raise
                private_dir(os.path.dirname(full_path), secure=self.secure)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(full_path)
            raise
        os.close(fd)

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


def _private_file(path: Path, secure: bool = True) -> None:
    """Create `path` empty, 0o600 (secure=False: the umask's), if missing.

    SQLite keeps a database file's mode, and gives it to the log files it makes beside it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode(secure))
    except FileExistsError:
        return
    os.close(fd)


def namespace_dir(folder: Path, namespace: str) -> Path:
    """The subfolder of `folder` holding the Cache of the function `namespace`."""
    return folder / ("dc-" + hashlib.sha256(namespace.encode()).hexdigest()[:24])


def _db_key(digest: str) -> bytes | str:
    """The row key of a digest: its 32 raw bytes (half the size of its hex form)."""
    try:
        return bytes.fromhex(digest)
    except ValueError:  # not a digest of the core's (a caller's own key): stored as text
        return digest


def _digest_of(db_key: Any) -> str | None:
    """The digest a row key stands for (the envelope's context), None for foreign keys."""
    if isinstance(db_key, (bytes, bytearray, memoryview)):
        return bytes(db_key).hex()
    if isinstance(db_key, str):
        return db_key
    return None


class DiskcacheStore(Store):
    """A twat-cache store over one `diskcache.Cache` (see the module docstring)."""

    blocking = True
    digest_keys = True
    handles_ttl = True

    def __init__(self, config: CacheConfig, ctx: CacheRecord) -> None:
        if ctx.folder is None:
            raise ValueError("diskcache: the store needs a folder (the record's folder is None)")
        self.namespace = ctx.namespace
        self.name = ctx.name
        self.ttl = config.ttl
        # diskcache's expiry is the garbage collector only: the envelope's deadline is exact.
        self.expire = None if config.ttl is None else float(max(1, math.ceil(config.ttl)))
        self.maxsize = config.maxsize
        self.max_bytes = config.max_bytes
        self.limit = DEFAULT_SIZE_LIMIT if config.max_bytes is None else config.max_bytes
        self.encrypt = config.encrypt
        policy = POLICIES.get(config.policy)
        if policy is None:
            allowed = ", ".join(sorted(POLICIES))
            raise ValueError(f"diskcache: policy must be one of {allowed}, got {config.policy!r}")
        self.bounded = config.maxsize is not None or config.max_bytes is not None
        if not self.bounded:
            policy = POLICIES["fifo"]  # only the default byte bound evicts: keep hits read-only
        self.policy = policy
        self.secure = config.secure
        self.directory = private_dir(
            namespace_dir(Path(ctx.folder), ctx.namespace), secure=config.secure
        )
        self.owned = (self.directory.name,)
        self.flights = StripedLocks(
            self.directory / LOCK_FILE,
            name=ctx.name,
            secure=config.secure,
            timeout=config.wait_timeout,
        )
        self._warned: set[str] = set()
        self._pending = 0
        self._pending_bytes = 0
        self._touch = _TOUCH.get(self.policy)
        # Opened at the first operation that needs it: opening a diskcache.Cache writes its
        # settings, and counting (`twat-cache list`) must change nothing on disk.
        self._native: diskcache.Cache | None = None

    @property
    def native(self) -> diskcache.Cache:
        """The function's `diskcache.Cache` (opened, and created if need be, on first use)."""
        cache = self._native
        return self._open() if cache is None else cache

    @native.setter
    def native(self, cache: diskcache.Cache) -> None:
        self._native = cache

    def _open(self) -> diskcache.Cache:
        _private_file(self.directory / diskcache.core.DBNAME, self.secure)
        cache = diskcache.Cache(
            str(self.directory),
            disk=PrivateDisk,
            eviction_policy=self.policy,
            size_limit=self.limit,
            cull_limit=0,  # this store evicts (see the module docstring)
            statistics=False,  # twat-cache counts hits itself; diskcache's counters cost writes
            tag_index=False,
        )
        cache._disk.secure = self.secure
        self._get = cache.get
        self._native = cache
        return cache

    # -- messages ---------------------------------------------------------------------------

    def _once(self, topic: str, message: str, *args: object) -> None:
        """A warning the first time per store and topic, a debug message after that."""
        if topic in self._warned:
            logger.debug(message, *args)
        else:
            self._warned.add(topic)
            logger.warning(message, *args)

    # -- the Store protocol -----------------------------------------------------------------

    def get(self, key: Hashable, default: Any) -> Any:
        """Return the value for `key`, or `default` (missing, expired, or not intact)."""
        secret = load_secret()
        digest = key if type(key) is str else str(key)
        blob = self._read(_db_key(digest))
        if blob is _ABSENT:
            return default
        try:
            value, deadline = unseal(blob, secret=secret, context=digest.encode())
        except ForeignEntry as exc:  # another secret's entry: not ours to delete
            self._once("foreign", "%s: ignoring a cache entry (%s)", self.name, exc)
            return default
        except CorruptEntry as exc:
            self._once("corrupt", "%s: dropping a corrupt cache entry (%s)", self.name, exc)
            with contextlib.suppress(Exception):  # a read-only folder: a miss all the same
                self.native.delete(_db_key(digest), retry=True)
            return default
        if deadline is not None and deadline <= clock.now():
            return default  # expired: diskcache collects it later
        return value

    def _read(self, db_key: bytes | str) -> Any:
        """The stored bytes of `db_key` (rows diskcache considers expired are not found).

        Returns `_ABSENT` on a miss. A hit is the SELECT of `Cache.get`'s fast path, without
        its Python layers. With lru or lfu, the hit then updates the row's use as `Cache.get`
        does, but as a statement of its own rather than in a transaction with the SELECT: the
        order is kept as well (a row replaced in between merely gets the touch), and a hit that
        cannot write (a busy or full database) is still a hit.
        """
        cache = self._native
        if cache is None:
            cache = self._open()
        now = time.time()
        try:
            rows = cache._sql(_SELECT, (db_key, now)).fetchall()
        except sqlite3.OperationalError:  # busy (a long checkpoint): diskcache's own retries
            return self._get(db_key, _ABSENT, retry=True)
        if not rows:
            return _ABSENT
        ((rowid, mode, filename, value),) = rows
        touch = self._touch
        if touch is not None:
            with contextlib.suppress(sqlite3.Error):
                cache._sql(touch, {"now": now, "rowid": rowid})
        if filename is None and mode == MODE_RAW:
            return value
        try:
            return cache._disk.fetch(mode, filename, value, False)
        except OSError:  # removed before it could be read
            return _ABSENT

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` sealed (with its deadline), then keep the bounds."""
        secret = load_secret()
        digest = key if type(key) is str else str(key)
        deadline = None if self.ttl is None else clock.now() + self.ttl
        blob = seal(
            value, secret=secret, context=digest.encode(), deadline=deadline, encrypt=self.encrypt
        )
        db_key = _db_key(digest)
        try:
            self._write(db_key, blob)
        except BaseException:
            self._undo_write()
            raise
        self._pending += 1
        self._pending_bytes += len(blob)
        if self.bounded or self._pending >= CHECK_EVERY or self._pending_bytes >= CHECK_BYTES:
            try:
                self._keep_bounds(db_key)
            except (sqlite3.Error, OSError) as exc:  # the entry is stored; evicting failed
                self._once("bounds", "%s: could not evict entries (%s)", self.name, exc)

    def _write(self, db_key: bytes | str, blob: bytes) -> None:
        """`Cache.set`, optimistic: one INSERT when the key is new (after a miss, it is).

        diskcache's `set` runs a transaction (BEGIN, SELECT, INSERT or UPDATE, COMMIT) so that
        it can remove an old value's file; a new key needs none of that, and a single INSERT is
        atomic by itself. When the key is there (an older or expired entry), or the database is
        busy, the store falls back to that transaction, with the same columns.
        """
        cache = self.native
        now = time.time()
        expire_time = None if self.expire is None else now + self.expire
        size, mode, filename, db_value = cache._disk.store(blob, False)
        try:
            cache._sql(_INSERT, (db_key, now, expire_time, now, size, mode, filename, db_value))
            return
        except sqlite3.IntegrityError:
            pass  # the key has a row: replace it (and remove its old value file)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        columns = (expire_time, None, size, mode, filename, db_value)
        with cache._transact(True, filename) as (sql, cleanup):
            rows = sql(
                "SELECT rowid, filename FROM Cache WHERE key = ? AND raw = 1", (db_key,)
            ).fetchall()
            if rows:
                ((rowid, old_filename),) = rows
                cleanup(old_filename)
                cache._row_update(rowid, now, columns)
            else:
                cache._row_insert(db_key, True, now, columns)

    def _undo_write(self) -> None:
        """After a failed store: remove its value file, end a transaction left open."""
        disk = self.native._disk
        name = getattr(disk.written, "name", None)
        disk.written.name = None
        if name is not None:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self.directory, name))
        with contextlib.suppress(Exception):
            con = self.native._con
            if con.in_transaction:
                con.execute("ROLLBACK")
            self.native._txn_id = None

    def _keep_bounds(self, keep: bytes | str | None) -> None:
        """Collect expired rows, then evict beyond `maxsize` and the byte bound, never `keep`.

        One read of diskcache's `count` and `size` settings when nothing is to be done; one
        transaction otherwise, whose value files are removed once it commits. Expired rows are
        collected every `CHECK_EVERY` stores (or `CHECK_BYTES`), and whenever a bound is passed.
        """
        collect = self._pending >= CHECK_EVERY or self._pending_bytes >= CHECK_BYTES
        if collect:
            self._pending = self._pending_bytes = 0
        cache = self.native
        sql = cache._sql_retry
        count, size = _totals(sql)
        over = (self.maxsize is not None and count > self.maxsize) or size > self.limit
        if not over and not (collect and self.expire is not None):
            return
        now = time.time()
        with cache._transact(retry=True) as (sql, cleanup):
            if self.expire is not None:
                limit = -1 if over else EXPIRED_BATCH
                rows = sql(
                    "SELECT rowid, filename FROM Cache WHERE expire_time IS NOT NULL"
                    " AND expire_time < ? ORDER BY expire_time LIMIT ?",
                    (now, limit),
                ).fetchall()
                _delete_rows(sql, cleanup, rows)
                if not over:
                    return
                count, size = _totals(sql)
            excess = count - self.maxsize if self.maxsize is not None else 0
            extra = size - self.limit
            if excess <= 0 and extra <= 0:
                return
            order = _ORDER[self.policy]
            where, params = "", []
            if keep is not None:
                where, params = " WHERE NOT (key = ? AND raw = 1)", [keep]
            cursor = sql(f"SELECT rowid, filename, size FROM Cache{where} ORDER BY {order}", params)
            victims = []
            for rowid, filename, nbytes in cursor:
                if excess <= 0 and extra <= 0:
                    break
                victims.append((rowid, filename))
                excess -= 1
                extra -= nbytes or 0
            cursor.close()
            _delete_rows(sql, cleanup, victims)

    def delete(self, key: Hashable) -> bool:
        """Drop the entry for `key`; True if there was one."""
        digest = key if type(key) is str else str(key)
        return bool(self.native.delete(_db_key(digest), retry=True))

    def flight_lock(self, key: Hashable) -> AbstractContextManager[bool]:
        """Hold `key`'s stripe of the lock file: one process computes it, the others wait."""
        return self.flights.hold(str(key))

    def aflight_lock(self, key: Hashable) -> AbstractAsyncContextManager[bool]:
        """The asyncio twin of `flight_lock` (waits without blocking the event loop)."""
        return self.flights.ahold(str(key))

    def clear(self) -> None:
        """Drop every entry of this function, and the leftovers of killed writers.

        Works on a full disk (see the module docstring). The lock file stays: there is one per
        function, and a process holding it must keep excluding the others.
        """
        if not _clear_cache(self.native, self.directory, self.name):
            _wipe(self.native, self.directory)  # the last resort: a new, empty database
            self._open()
        _remove_leftovers(self.native, self.directory)

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
                if _clear_cache(other, directory, self.name):
                    _remove_leftovers(other, directory)
                else:
                    _wipe(other, directory)
            finally:
                other.close()

    def prune(self) -> int:
        """Drop expired entries and the leftovers of killed writers; return how many entries.

        Expired: diskcache's own expiry, and entries past their envelope's deadline (which
        diskcache keeps a little longer: its expiry is rounded up). Entries of another secret
        are left to their owners.
        """
        dropped = int(self.native.expire(retry=True))
        dropped += self._drop_past_deadline()
        _remove_leftovers(self.native, self.directory)
        with contextlib.suppress(sqlite3.Error):
            self.native._sql("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        return dropped

    def _drop_past_deadline(self) -> int:
        """Delete rows whose envelope deadline (ours: this secret's) has passed."""
        if self.expire is None:
            return 0
        secret = load_secret()
        now = clock.now()
        doomed = []
        rows = self.native._sql_retry(
            "SELECT rowid, filename, substr(value, 1, ?) FROM Cache WHERE expire_time IS NOT NULL",
            (HEADER_SIZE,),
        ).fetchall()
        for rowid, filename, in_row in rows:
            head = in_row if filename is None else _read_head(self.directory, filename)
            deadline = deadline_of(bytes(head or b""), secret)
            if deadline is not None and deadline <= now:
                doomed.append((rowid, filename))
        if not doomed:
            return 0
        with self.native._transact(retry=True) as (sql, cleanup):
            return _delete_rows(sql, cleanup, doomed, match=True)

    def __len__(self) -> int:
        """Entries stored (diskcache's own count: read-only, O(1)); see the module docstring."""
        cache = self._native
        if cache is None:
            return self._settings()[0]
        return len(cache)

    def nbytes(self) -> int:
        """The sealed bytes of the entries (what `max_bytes` bounds)."""
        cache = self._native
        if cache is None:
            return self._settings()[1]
        return _totals(cache._sql_retry)[1]

    def _settings(self) -> tuple[int, int]:
        """(count, size) of a database this process has not opened, read without opening it.

        Opening the Cache writes its settings; this only reads. (A read-only connection would
        leave SQLite's `-wal` and `-shm` files behind; this one, the last to close, removes
        them as the Cache's own would.)
        """
        db = self.directory / diskcache.core.DBNAME
        if not db.is_file():
            return 0, 0
        try:
            with contextlib.closing(sqlite3.connect(db, timeout=60)) as con:
                return _totals(con.execute)
        except sqlite3.Error:  # not a database yet (just made), or unreadable: open it
            return _totals(self.native._sql_retry)

    def verify(self, fix: bool = False) -> tuple[int, int]:
        """Authenticate every entry; with `fix`, drop the broken ones. (checked, broken).

        Each entry is unsealed fully (the MAC covers the payload) and its value discarded.
        Entries of another secret are checked but never broken: they are someone else's.
        """
        secret = load_secret()
        disk = self.native._disk
        checked, bad = 0, []
        for rowid, db_key, mode, filename, value in _rows(self.native):
            checked += 1
            digest = _digest_of(db_key)
            try:
                blob = disk.fetch(mode, filename, value, False)
                if digest is None:
                    raise CorruptEntry("not a twat-cache key")
                unseal(blob, secret=secret, context=digest.encode())
            except ForeignEntry:
                continue
            except (CorruptEntry, OSError):
                bad.append((rowid, filename))
        if fix and bad:
            with self.native._transact(retry=True) as (sql, cleanup):
                _delete_rows(sql, cleanup, bad, match=True)
        return checked, len(bad)

    def close(self) -> None:
        """Close diskcache's SQLite connections."""
        if self._native is not None:
            self._native.close()


# -- what the store, and clearing other functions' Caches, share -------------------------------


def _totals(sql: Any) -> tuple[int, int]:
    """The `count` and `size` settings diskcache keeps."""
    values = dict(sql("SELECT key, value FROM Settings WHERE key IN ('count', 'size')").fetchall())
    return int(values.get("count") or 0), int(values.get("size") or 0)


def _delete_rows(
    sql: Any, cleanup: Any, rows: list[tuple[int, Any]], *, match: bool = False
) -> int:
    """Delete rows by rowid (and, with `match`, only while they still name that file)."""
    deleted = 0
    for rowid, filename in rows:
        if match:
            cursor = sql("DELETE FROM Cache WHERE rowid = ? AND filename IS ?", (rowid, filename))
        else:
            cursor = sql("DELETE FROM Cache WHERE rowid = ?", (rowid,))
        if cursor.rowcount:
            deleted += 1
            cleanup(filename)
    return deleted


def _rows(cache: diskcache.Cache) -> Iterator[tuple[int, Any, int, Any, Any]]:
    """Every row (rowid, key, mode, filename, value), read in short batches."""
    last = 0
    while True:
        rows = cache._sql_retry(
            "SELECT rowid, key, mode, filename, value FROM Cache WHERE rowid > ? AND raw = 1"
            " ORDER BY rowid LIMIT 100",
            (last,),
        ).fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][0]


def _read_head(directory: Path, filename: str) -> bytes:
    """The first bytes of a value file (b"" when it cannot be read)."""
    try:
        fd = os.open(os.path.join(directory, filename), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return b""
    try:
        return os.read(fd, HEADER_SIZE)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _clear_cache(cache: diskcache.Cache, directory: Path, name: str) -> bool:
    """Delete every row and value file of `cache`; False when SQLite cannot, even after the files.

    diskcache deletes rows, then their files. On a full disk deleting rows fails (SQLite needs
    room in its write-ahead log), so the value files are removed first and the rows again.
    """
    try:
        cache.clear(retry=True)
        return True
    except sqlite3.Error as exc:
        problem: Exception = exc
    _end_transaction(cache)
    try:
        filenames = [
            row[0] for row in cache._sql("SELECT filename FROM Cache WHERE filename IS NOT NULL")
        ]
    except sqlite3.Error:
        filenames = []
    for filename in filenames:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, filename))
    try:
        cache.clear(retry=True)
        return True
    except sqlite3.Error as exc:
        problem = exc
    _end_transaction(cache)
    logger.warning(
        "%s: could not delete the entries in %s (%s); removing its database",
        name,
        directory,
        problem,
    )
    return False


def _wipe(cache: diskcache.Cache, directory: Path) -> None:
    """Close `cache` and remove its database and value folders (its next opening makes anew).

    The last resort of clearing on a full disk. Processes that have the database open keep
    their (removed) copy until they reopen it: their entries are lost, never mixed up.
    """
    with contextlib.suppress(Exception):
        cache.close()
    names = [f"{diskcache.core.DBNAME}{suffix}" for suffix in ("", "-wal", "-shm")]
    with contextlib.suppress(OSError), os.scandir(directory) as scan:
        names += [e.name for e in scan if _HEX2.fullmatch(e.name)]
    remove_owned(directory, names)


def _end_transaction(cache: diskcache.Cache) -> None:
    with contextlib.suppress(Exception):
        con = cache._con
        if con.in_transaction:
            con.execute("ROLLBACK")
        cache._txn_id = None


def _remove_leftovers(cache: diskcache.Cache, directory: Path) -> int:
    """Remove leftovers of writers; return how many files and rows.

    That is: value files no row references (of dead writers, or older than GRACE), rows whose
    value file is gone, and empty value folders. Never follows a symbolic link: the walk stays
    in real folders below `directory`.
    """
    try:
        found = list(_value_files(directory))
    except OSError:
        return 0
    try:
        rows = cache._sql_retry(
            "SELECT rowid, filename FROM Cache WHERE filename IS NOT NULL"
        ).fetchall()
    except sqlite3.Error:
        return 0
    referenced = {os.path.normpath(filename) for _, filename in rows}
    removed = 0
    now = time.time()
    present = set()
    for relative, info in found:
        present.add(relative)
        if relative in referenced:
            continue
        match = _VALUE_FILE.fullmatch(os.path.basename(relative))
        dead = match is not None and match[1] is not None and writer_gone(int(match[1]), match[2])
        # Referenced meanwhile (a slow writer committing now)? Check again before removing.
        if dead or (now - info.st_mtime > GRACE and not _referenced(cache, relative)):
            removed += remove_owned(directory, [relative.replace(os.sep, "/")])
    dangling = [
        (rowid, filename)
        for rowid, filename in rows
        if os.path.normpath(filename) not in present
        and not os.path.lexists(os.path.join(directory, filename))
    ]
    if dangling:
        with contextlib.suppress(sqlite3.Error), cache._transact(retry=True) as (sql, _):
            removed += _delete_rows(sql, lambda _name: None, dangling, match=True)
    _remove_empty_folders(directory)
    return removed


def _referenced(cache: diskcache.Cache, relative: str) -> bool:
    rows = cache._sql_retry(
        "SELECT 1 FROM Cache WHERE filename = ? LIMIT 1", (relative,)
    ).fetchall()
    return bool(rows)


def _value_files(directory: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of every regular file in the two levels of value folders."""
    with os.scandir(directory) as top:
        firsts = [e for e in top if _HEX2.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
    for first in firsts:
        try:
            with os.scandir(first.path) as scan:
                seconds = [
                    e for e in scan if _HEX2.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
                ]
            for second in seconds:
                with os.scandir(second.path) as scan:
                    for entry in scan:
                        info = entry.stat(follow_symlinks=False)
                        if stat.S_ISREG(info.st_mode):
                            yield os.path.join(first.name, second.name, entry.name), info
        except OSError as exc:
            if exc.errno != errno.ENOENT:  # removed meanwhile: nothing to do
                raise


def _remove_empty_folders(directory: Path) -> None:
    """Remove the empty value folders (`rmdir` never removes anything else)."""
    with contextlib.suppress(OSError), os.scandir(directory) as top:
        firsts = [
            e.name for e in top if _HEX2.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
        ]
    for first in firsts:
        path = os.path.join(directory, first)
        with contextlib.suppress(OSError), os.scandir(path) as scan:
            seconds = [e.name for e in scan if e.is_dir(follow_symlinks=False)]
        for second in seconds:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(path, second))
        with contextlib.suppress(OSError):
            os.rmdir(path)


def open_store(config: CacheConfig, context: CacheRecord) -> DiskcacheStore:
    """Open the diskcache store for one function."""
    return DiskcacheStore(config, context)
