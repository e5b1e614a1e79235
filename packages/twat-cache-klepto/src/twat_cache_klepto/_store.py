"""The klepto stores: a SQL archive in SQLite (kind "disk") or a directory archive (kind "file").

kind "disk" (bcache's second choice, ucache's first persistent one): klepto's
`sqltable_archive` on `sqlite:///<folder>/klepto.sqlite`, one table per function
(`t_<sha256(namespace)[:32]>`), through SQLAlchemy (klepto needs it for a keyed table: without
it klepto keeps every old value of a key and scans the whole table on each lookup). The archive
is opened unserialized, so the column holds twat-cache's sealed bytes and klepto never unpickles
anything. The database is created 0o600 in WAL mode, so readers in other processes do not block
a writer. Next to klepto's tables the store keeps `twat_cache_totals` (entries and sealed bytes
per table, kept by triggers), so that `len()` and the bounds cost one read instead of a scan.
Every failed statement is rolled back at once, so one failed write (a full disk) never leaves
the connection unusable: the next calls cache again.

kind "file" (fcache's second choice, `bcache(sql_backend=False)`): klepto's `dir_archive` in
`<folder>/klepto-<sha256(namespace)[:24]>/`, one folder `K_<key>` per entry holding
`output.json`, the sealed envelope as base64 text in JSON (klepto's JSON protocol: reading a
tampered file never unpickles). The store reads and writes that layout itself, the way the
archive does (a temporary folder `K_.I_<...>` renamed into place), because klepto's own writes
swallow errors (a full disk would leave half an entry under the real name) and its reads hide a
damaged entry as a silent miss. Its temporary folders are named after their writer
(`K_.I_<pid>-<host>-<random>`). `native` is the `dir_archive`, which reads these entries.

Both:
- Keys are the core's disk digests (salted with the function's namespace and the secret's id:
  functions and secrets never share entries); values are `envelope.seal(...)` envelopes,
  verified before unpickling. A corrupt entry is dropped with one warning per store (then debug
  messages); an entry sealed under another secret is a miss (at most one warning per store)
  and is never deleted (not by reads, `prune`, `verify(fix=True)` nor expiry sweeps).
- Expiry: the envelope carries the exact deadline (`ttl` from `twat_cache.clock.now()`), so an
  entry past it is a miss. klepto has no expiry of its own: expired entries are collected by
  sweeps that run as the store grows (amortized: a sweep after as many stores as there were
  entries at the last one), and by `prune()`.
- Bounds: `maxsize` counts entries, `max_bytes` bounds the sealed bytes (the directory store
  counts a file's size as the envelope it decodes to); after a store beyond a bound, expired
  entries go first, then the oldest stored (fifo, ttl) or least recently used (lru: a hit
  moves the entry), never the entry just stored: the newest entry always survives its store.
- `len()` is read-only: the SQL store reads its totals, the directory store counts complete
  entries (a folder with its data file; never a temporary folder or a folder left without its
  file). Expired entries not yet collected are counted; `prune()` removes them.
- Leftovers: `prune()` and `clear()` remove the temporary folders of writers that are provably
  dead (this host, pid gone) or older than `GRACE` seconds, entry folders without their file,
  and shrink the SQLite write-ahead log (uncommitted pages of a killed writer stay there until a
  checkpoint).
- Cross-process single flight uses ONE lock file per function (`klepto-<hash>.lock`, byte-range
  stripes: `twat_cache.locks.StripedLocks`). What each store creates in the folder is listed in
  `owned` (recorded in the folder's marker), so clearing never touches anything else there.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import sqlite3
import stat
import struct
import threading
import time
import weakref
from collections.abc import Hashable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any

from twat_cache import clock
from twat_cache.config import CacheConfig
from twat_cache.envelope import (
    HEADER_SIZE,
    MAGIC,
    CorruptEntry,
    ForeignEntry,
    deadline_of,
    seal,
    unseal,
)
from twat_cache.folders import remove_owned
from twat_cache.locks import StripedLocks, file_lock
from twat_cache.paths import file_mode, folder_mode, private_dir
from twat_cache.record import CacheRecord
from twat_cache.secret import load_secret
from twat_cache.store import Store
from twat_cache.writers import HOST, writer_gone

logger = logging.getLogger("twat_cache")

__all__ = ["DB_NAME", "GRACE", "KleptoDirStore", "KleptoSQLStore", "open_store"]

DB_NAME = "klepto.sqlite"
#: The SQLite file and its companions (journal, WAL, shared memory, our opening lock).
_DB_FILES = ("", "-journal", "-wal", "-shm", ".lock")
#: The table of entries and sealed bytes per klepto table (kept by triggers).
TOTALS = "twat_cache_totals"
POLICIES = ("lru", "fifo", "ttl")
#: Seconds a temporary folder is left alone when its writer may still be alive.
GRACE = 600.0
#: Fewest stores between two expiry sweeps.
MIN_SWEEP = 64
#: The directory store re-counts its entries at least every this many stores (other processes).
RESCAN_EVERY = 32
_ABSENT: Any = object()
_BROKEN = b""  # what a damaged entry reads as: `unseal` refuses it
_ENTRY = "K_"  # klepto's prefix of an entry's folder in a dir_archive
_TEMP = "K_.I_"  # ... and of the temporary folder it writes an entry in before renaming it
_DATA = "output.json"  # the entry's file (klepto's JSON protocol)
_ENTRY_NAME = re.compile(r"K_[0-9a-f]{64}")
_OUR_TEMP = re.compile(r"K_\.I_(\d+)-([0-9a-f]{8})-[0-9a-f]+")
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_DIR_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_DIR_FD = os.open in os.supports_dir_fd and hasattr(os, "O_NOFOLLOW") and hasattr(os, "O_DIRECTORY")
_WRITE_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _private_file(path: Path, secure: bool = True) -> None:
    """Create `path` empty, 0o600 (secure=False: the umask's), if missing.

    SQLite keeps a database file's mode, and gives it to the log files it makes beside it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode(secure))
    except FileExistsError:
        return
    os.close(fd)


def _ns_hash(namespace: str, n: int) -> str:
    return hashlib.sha256(namespace.encode()).hexdigest()[:n]


class _KleptoStore(Store):
    """What both archives share: keys, envelopes, expiry, bounds, messages, locks."""

    blocking = True
    digest_keys = True
    handles_ttl = True

    native: Any
    owned: tuple[str, ...]

    def __init__(self, config: CacheConfig, ctx: CacheRecord, lock_file: Path) -> None:
        if config.policy not in POLICIES:
            raise ValueError(
                f"klepto: policy must be one of {', '.join(POLICIES)}, got {config.policy!r}"
            )
        self.namespace = ctx.namespace
        self.name = ctx.name
        self.folder = Path(ctx.folder or ".")
        self.ttl = config.ttl
        self.maxsize = config.maxsize
        self.max_bytes = config.max_bytes
        self.bounded = config.maxsize is not None or config.max_bytes is not None
        self.encrypt = config.encrypt
        # LRU order only matters when something is evicted: without a bound, hits stay reads.
        self.touch_on_hit = config.policy == "lru" and self.bounded
        self.secure = config.secure
        self.flights = StripedLocks(
            lock_file, name=ctx.name, secure=config.secure, timeout=config.wait_timeout
        )
        self._warned: set[str] = set()
        self._mutex = threading.RLock()  # klepto's archives are not thread-safe
        self._stores_since_sweep = 0
        self._sweep_after = MIN_SWEEP

    def flight_lock(self, key: Hashable) -> AbstractContextManager[bool]:
        """Hold `key`'s stripe of the lock file: one process computes it, the others wait."""
        return self.flights.hold(str(key))

    def aflight_lock(self, key: Hashable) -> AbstractAsyncContextManager[bool]:
        """The asyncio twin of `flight_lock` (waits without blocking the event loop)."""
        return self.flights.ahold(str(key))

    def _once(self, topic: str, message: str, *args: object) -> None:
        """A warning the first time per store and topic, a debug message after that."""
        if topic in self._warned:
            logger.debug(message, *args)
        else:
            self._warned.add(topic)
            logger.warning(message, *args)

    # -- what each archive provides -------------------------------------------------------
    def _read(self, digest: str) -> Any:
        """The stored envelope, `_ABSENT`, or `_BROKEN` (a damaged entry)."""
        raise NotImplementedError

    def _write(self, digest: str, blob: bytes) -> None:
        raise NotImplementedError

    def _drop(self, digest: str) -> bool:
        raise NotImplementedError

    def _touch(self, digest: str) -> None:
        raise NotImplementedError

    def _after_store(self, digest: str, size: int) -> None:
        """Keep the bounds after storing `digest` (`size` sealed bytes)."""
        raise NotImplementedError

    def _count(self) -> int:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    def _sweep(self) -> int:
        """Drop this secret's entries past their deadline; return how many."""
        raise NotImplementedError

    def _leftovers(self) -> int:
        """Remove what killed writers left; return how many things."""
        raise NotImplementedError

    def _entries(self) -> Iterator[tuple[str, Any]]:
        """(digest, stored envelope or `_BROKEN`) of every entry, for `verify`."""
        raise NotImplementedError

    # -- the Store protocol ----------------------------------------------------------------
    def get(self, key: Hashable, default: Any) -> Any:
        """Return the value for `key`, or `default` (missing, expired, or not intact)."""
        secret = load_secret()
        digest = str(key)
        with self._mutex:
            blob = self._read(digest)
            if blob is _ABSENT:
                return default
            try:
                value, deadline = unseal(blob, secret=secret, context=digest.encode())
            except ForeignEntry as exc:  # another secret's entry: not ours to delete
                self._once("foreign", "%s: ignoring a cache entry (%s)", self.name, exc)
                return default
            except CorruptEntry as exc:
                self._once(
                    "corrupt",
                    "%s: dropping a corrupt cache entry (%s)",
                    self.name,
                    exc,
                )
                with contextlib.suppress(Exception):  # a read-only folder: a miss all the same
                    self._drop(digest)
                return default
            if deadline is not None and deadline <= clock.now():
                return default  # expired: collected by the next sweep or prune
            if self.touch_on_hit:
                self._touch(digest)
            return value

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` sealed (with its deadline), then keep the bounds and sweep."""
        secret = load_secret()
        digest = str(key)
        deadline = None if self.ttl is None else clock.now() + self.ttl
        blob = seal(
            value, secret=secret, context=digest.encode(), deadline=deadline, encrypt=self.encrypt
        )
        with self._mutex:
            self._write(digest, blob)
            try:
                if self.ttl is not None:
                    self._stores_since_sweep += 1
                    if self._stores_since_sweep >= self._sweep_after:
                        self._sweep()
                        self._stores_since_sweep = 0
                        self._sweep_after = max(MIN_SWEEP, self._count())
                if self.bounded:
                    self._after_store(digest, len(blob))
            except Exception as exc:  # the entry is stored; collecting or evicting failed
                self._once("bounds", "%s: could not evict entries (%s)", self.name, exc)

    def _over(self, entries: int, nbytes: int) -> tuple[int, int]:
        """(entries, bytes) beyond the bounds (<= 0: within)."""
        return (
            entries - self.maxsize if self.maxsize is not None else 0,
            nbytes - self.max_bytes if self.max_bytes is not None else 0,
        )

    def delete(self, key: Hashable) -> bool:
        """Drop the entry for `key`; True if there was one."""
        with self._mutex:
            return self._drop(str(key))

    def clear(self) -> None:
        """Drop every entry of this function and the leftovers of killed writers.

        Its one lock file stays: a process holding it must keep excluding the others.
        """
        with self._mutex:
            self._clear()
            self._leftovers()

    def __len__(self) -> int:
        """The entries stored (read-only; see the module docstring)."""
        with self._mutex:
            return self._count()

    def clear_all(self) -> None:
        """Drop every klepto entry in this store's folder, whichever function wrote it.

        Every function's table in the folder's SQLite file is emptied (rows deleted through
        SQLite, safe while other processes have it open) and every directory archive emptied.
        """
        self.clear()
        with self._mutex:
            _clear_folder(self.folder)

    def prune(self) -> int:
        """Drop expired entries (this secret's) and the leftovers of killed writers.

        Returns how many entries were dropped.
        """
        with self._mutex:
            dropped = self._sweep()
            self._leftovers()
            return dropped

    def verify(self, fix: bool = False) -> tuple[int, int]:
        """Authenticate every entry; with `fix`, drop the broken ones. (checked, broken).

        Each entry is unsealed fully (the MAC covers the payload) and its value discarded.
        Entries of another secret are checked but never broken: they are someone else's.
        """
        secret = load_secret()
        checked, bad = 0, []
        with self._mutex:
            for digest, blob in self._entries():
                checked += 1
                try:
                    unseal(blob, secret=secret, context=digest.encode())
                except ForeignEntry:
                    continue
                except CorruptEntry:
                    bad.append(digest)
            if fix:
                for digest in bad:
                    self._drop(digest)
        return checked, len(bad)


# ---------------------------------------------------------------------------------------------
# The SQL archive


class KleptoSQLStore(_KleptoStore):
    """klepto's `sqltable_archive` in `<folder>/klepto.sqlite`, one table per function."""

    def __init__(self, config: CacheConfig, ctx: CacheRecord) -> None:
        folder = Path(ctx.folder or ".")
        tag = _ns_hash(ctx.namespace, 32)
        lock = f"klepto-{tag[:24]}.lock"
        super().__init__(config, ctx, folder / lock)
        from klepto.archives import sqltable_archive  # noqa: PLC0415  (heavy: only when opened)

        self.db_path = folder / DB_NAME
        self.table = f"t_{tag}"
        self.owned = (*(DB_NAME + s for s in _DB_FILES), lock)
        # klepto (through SQLAlchemy) checks for the table, then creates it: processes opening
        # the same function at once would race between the two, so opening is serialized.
        opening = folder / (DB_NAME + ".lock")
        _private_file(opening, self.secure)  # (file_lock would make it 0o600)
        with file_lock(opening):
            _prepare_db(self.db_path, self.secure)
            self.native = sqltable_archive(
                f"sqlite:///{self.db_path}?table={self.table}",
                cached=False,  # no in-memory layer: other processes' writes must be seen
                serialized=False,  # a plain column: klepto stores our bytes, never unpickles
                connect_args={"check_same_thread": False, "timeout": 60},
            )
            self._kept = _prepare_totals(self.db_path, self.table)
        import sqlalchemy  # noqa: PLC0415  (klepto imported it already)

        self._sql = sqlalchemy
        self._conn = self.native._conn
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=functools.partial(_after_fork, weakref.ref(self)))

    def _reopen_in_child(self) -> None:
        """After fork: never touch the parent's SQLite connection; open this process's own."""
        self._mutex = threading.RLock()  # another thread may have held it at the fork
        engine = self.native._engine
        engine.dispose(close=False)  # forget the parent's pooled connections without closing
        self._conn = self.native._conn = engine.connect()

    @contextlib.contextmanager
    def _rollback_on_error(self) -> Iterator[None]:
        """Roll the connection back when a statement fails (else it is unusable after)."""
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):
                self._conn.rollback()
            raise

    def _exec(self, statement: str, **params: Any) -> Any:
        with self._rollback_on_error():
            result = self._conn.execute(self._sql.text(statement), params)
            self._conn.commit()
        return result

    def _query(self, statement: str, **params: Any) -> list[Any]:
        with self._rollback_on_error():
            return list(self._conn.execute(self._sql.text(statement), params).fetchall())

    def _read(self, digest: str) -> Any:
        with self._rollback_on_error():
            return self.native.get(digest, _ABSENT)

    def _write(self, digest: str, blob: bytes) -> None:
        try:
            with self._rollback_on_error():
                self.native[digest] = blob
        except self._sql.exc.IntegrityError:
            # klepto inserts when the key was absent a moment ago: another process inserted it
            # first. The connection is rolled back; storing again takes klepto's update path.
            with self._rollback_on_error():
                self.native[digest] = blob

    def _drop(self, digest: str) -> bool:
        with self._rollback_on_error():
            return self.native.pop(digest, _ABSENT) is not _ABSENT

    def _touch(self, digest: str) -> None:
        # Row order is SQLite's rowid (insertion order); moving a hit to the end makes it LRU.
        self._exec(
            f"UPDATE {self.table} SET rowid = (SELECT max(rowid) + 1 FROM {self.table}) "
            "WHERE Kkey = :k",
            k=digest,
        )

    def _totals(self) -> tuple[int, int]:
        """(entries, sealed bytes): the kept totals, else (a read-only database) counted."""
        if self._kept:
            try:
                rows = self._query(
                    f"SELECT entries, bytes FROM {TOTALS} WHERE tbl = :t", t=self.table
                )
            except self._sql.exc.OperationalError:
                rows = []
            if rows:
                return int(rows[0][0]), int(rows[0][1])
            self._kept = False
        rows = self._query(f"SELECT count(*), total(length(Kval)) FROM {self.table}")
        return int(rows[0][0]), int(rows[0][1])

    def _after_store(self, digest: str, size: int) -> None:
        excess, extra = self._over(*self._totals())
        if excess <= 0 and extra <= 0:
            return
        if self.ttl is not None and self._sweep():
            excess, extra = self._over(*self._totals())
        victims: list[int] = []
        with self._rollback_on_error():
            result = self._conn.execute(
                self._sql.text(
                    f"SELECT rowid, length(Kval) FROM {self.table} WHERE Kkey != :k ORDER BY rowid"
                ),
                {"k": digest},
            )
            for rowid, nbytes in result:
                if excess <= 0 and extra <= 0:
                    break
                victims.append(int(rowid))
                excess -= 1
                extra -= int(nbytes or 0)
            result.close()
            for start in range(0, len(victims), 500):
                chunk = victims[start : start + 500]
                marks = ",".join(str(v) for v in chunk)  # ints from SQLite: safe to inline
                self._conn.execute(
                    self._sql.text(f"DELETE FROM {self.table} WHERE rowid IN ({marks})")
                )
            self._conn.commit()

    def _count(self) -> int:
        return self._totals()[0]

    def nbytes(self) -> int:
        """The sealed bytes of the entries (what `max_bytes` bounds)."""
        with self._mutex:
            return self._totals()[1]

    def _sweep(self) -> int:
        secret = load_secret()
        result = self._exec(
            f"DELETE FROM {self.table} WHERE substr(Kval, 1, 4) = :magic"
            " AND hex(substr(Kval, 5, 1)) IN ('02', '03') AND substr(Kval, 6, 8) = :tag"
            " AND substr(Kval, 14, 8) <= :now",
            magic=MAGIC,
            tag=secret.tag,
            # big-endian doubles of positive numbers sort as their bytes do
            now=struct.pack(">d", clock.now()),
        )
        return int(result.rowcount or 0)

    def _leftovers(self) -> int:
        # A killed writer's uncommitted pages stay in the write-ahead log (SQLite ignores them)
        # until a checkpoint: write back what is committed and truncate the log.
        with contextlib.suppress(sqlite3.Error, OSError):
            _checkpoint(self.db_path)
        return 0

    def _entries(self) -> Iterator[tuple[str, Any]]:
        last = ""
        while True:
            rows = self._query(
                f"SELECT Kkey, Kval FROM {self.table} WHERE Kkey > :last ORDER BY Kkey LIMIT 100",
                last=last,
            )
            if not rows:
                return
            for key, value in rows:
                yield str(key), value
            last = str(rows[-1][0])

    def _clear(self) -> None:
        try:
            with self._rollback_on_error():
                self.native.clear()
        except self._sql.exc.OperationalError:
            # A full disk: SQLite needs room in its log to delete, and with secure_delete (how
            # Python's SQLite is built) it writes every freed page, zeroed, into the log. Delete
            # once more without zeroing the freed pages (their entries are sealed, encrypted
            # with encrypt=True), after writing the log back where it can be.
            with contextlib.suppress(sqlite3.Error, OSError):
                _checkpoint(self.db_path)
            with self._rollback_on_error():
                previous = self._conn.exec_driver_sql("PRAGMA secure_delete").scalar()
                self._conn.exec_driver_sql("PRAGMA secure_delete = FAST")
                try:
                    self.native.clear()
                finally:
                    self._conn.exec_driver_sql(f"PRAGMA secure_delete = {int(previous or 0)}")

    def close(self) -> None:
        """Close the archive's database connection."""
        self._conn.close()
        self.native._engine.dispose()


def _after_fork(ref: weakref.ref[KleptoSQLStore]) -> None:
    store = ref()
    if store is not None:
        store._reopen_in_child()


def _prepare_db(path: Path, secure: bool = True) -> None:
    """Create the SQLite file 0o600 and switch it to WAL (persistent) before klepto opens it."""
    if path.exists():
        return
    _private_file(path, secure)
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=60)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:  # e.g. a read-only folder: klepto's own open reports it
        logger.debug("could not switch %s to WAL: %s", path, exc)


def _prepare_totals(path: Path, table: str) -> bool:
    """Create the totals of `table` (counted once) and the triggers that keep them.

    False when that is impossible (a read-only database): the store then counts.
    """
    t = table
    size = "coalesce(length({}.Kval), 0)"
    statements = [
        f"CREATE TABLE IF NOT EXISTS {TOTALS} (tbl TEXT PRIMARY KEY, entries INTEGER NOT NULL,"
        " bytes INTEGER NOT NULL)",
        f"INSERT OR IGNORE INTO {TOTALS} SELECT '{t}', count(*), total(length(Kval)) FROM {t}",
        f"CREATE TRIGGER IF NOT EXISTS {t}_ins AFTER INSERT ON {t} BEGIN UPDATE {TOTALS}"
        f" SET entries = entries + 1, bytes = bytes + {size.format('NEW')}"
        f" WHERE tbl = '{t}'; END",
        f"CREATE TRIGGER IF NOT EXISTS {t}_upd AFTER UPDATE OF Kval ON {t} BEGIN"
        f" UPDATE {TOTALS} SET bytes = bytes + {size.format('NEW')} - {size.format('OLD')}"
        f" WHERE tbl = '{t}'; END",
        f"CREATE TRIGGER IF NOT EXISTS {t}_del AFTER DELETE ON {t} BEGIN UPDATE {TOTALS}"
        f" SET entries = entries - 1, bytes = bytes - {size.format('OLD')}"
        f" WHERE tbl = '{t}'; END",
    ]
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=60, isolation_level=None)) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    conn.execute(statement)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
    except sqlite3.Error as exc:  # a read-only database: counted by scanning instead
        logger.debug("could not keep totals in %s: %s", path, exc)
        return False
    return True


def _checkpoint(path: Path) -> None:
    """Write the log's committed pages back and truncate it (a busy reader just delays it)."""
    if not path.is_file():
        return
    with contextlib.closing(sqlite3.connect(path, timeout=5)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _clear_folder(folder: Path) -> None:
    """Empty every klepto table and directory archive twat-cache made in `folder`."""
    db = folder / DB_NAME
    if db.is_file():
        with contextlib.closing(sqlite3.connect(db, timeout=60)) as conn:
            tables = [
                row[0]
                for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if re.fullmatch(r"t_[0-9a-f]{32}", row[0])
            ]
            for table in tables:
                conn.execute(f"DELETE FROM {table}")
            conn.commit()
    for root in folder.glob("klepto-*"):
        if (
            not re.fullmatch(r"klepto-[0-9a-f]{24}", root.name)
            or root.is_symlink()  # never emptied through a link
            or not root.is_dir()
        ):
            continue
        _clear_dir_archive(root)


# ---------------------------------------------------------------------------------------------
# The directory archive


def _decode(data: bytes) -> bytes:
    """The envelope in an entry's file (JSON text of its base64), or `_BROKEN`."""
    data = data.strip()
    try:
        if len(data) >= 2 and data[:1] == b'"' and data[-1:] == b'"' and b"\\" not in data:
            return base64.b64decode(data[1:-1], validate=True)
        text = json.loads(data)
        if isinstance(text, str):
            return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        pass
    return _BROKEN


def _open_data(entry: str) -> int | None:
    """A descriptor of an entry's file, never through a symlink (the folder or the file).

    None when there is no such entry; raises OSError when it is there but not a readable file.
    """
    if not _DIR_FD:
        if os.path.islink(entry):
            raise OSError(f"{entry} is a symbolic link")
        try:
            return os.open(os.path.join(entry, _DATA), _OPEN_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None
    try:
        folder = os.open(entry, _DIR_FLAGS)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        return os.open(_DATA, _OPEN_FLAGS, dir_fd=folder)
    except FileNotFoundError:
        raise OSError(f"{entry} has no {_DATA}") from None
    finally:
        os.close(folder)


#: Base64 is encoded and decoded in slices of this many bytes of text (3 MiB of data): one
#: call on 50 MB would hold the GIL for 50-100 ms (an event loop in another thread would stall).
_B64_CHUNK = 4 << 20


def _read_envelope(entry: str) -> bytes | None:
    """The envelope stored in an entry (its file's quoted base64, decoded in slices).

    None when there is no entry, `_BROKEN` when it is not a readable file of that form.
    """
    try:
        fd = _open_data(entry)
    except OSError:  # a symlink (ELOOP, ENOTDIR), no file, unreadable: not an entry of ours
        return _BROKEN
    if fd is None:
        return None
    try:
        size = os.fstat(fd).st_size
        text = size - 2
        if text < 0 or text % 4 or os.read(fd, 1) != b'"':
            return _decode(_read_rest(fd, size))  # another form of JSON text (or damage)
        parts = []
        while text > 0:
            data = _read_exactly(fd, min(_B64_CHUNK, text))
            parts.append(base64.b64decode(data, validate=True))
            text -= len(data)
        if os.read(fd, 2) != b'"':
            return _BROKEN
        return b"".join(parts)
    except (OSError, binascii.Error, ValueError):
        return _BROKEN
    finally:
        os.close(fd)


def _read_exactly(fd: int, n: int) -> bytes:
    """`n` bytes from `fd` (OSError when the file ends before)."""
    data = os.read(fd, n)
    if len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = os.read(fd, n - got)
        if not more:
            raise OSError("the entry's file ended early")
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _read_rest(fd: int, size: int) -> bytes:
    """The whole file (from its start)."""
    os.lseek(fd, 0, os.SEEK_SET)
    return _read_exactly(fd, size) if size else b""


def _write_envelope(fd: int, blob: bytes) -> None:
    """Write `blob` as klepto's JSON text of its base64 (`"..."`), encoded in slices."""
    _write_all(fd, b'"')
    view = memoryview(blob)
    step = _B64_CHUNK // 4 * 3
    for start in range(0, len(view), step):
        _write_all(fd, base64.b64encode(view[start : start + step]))
    _write_all(fd, b'"')


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_file(entry: str, limit: int = -1) -> bytes | None:
    """The bytes of an entry's file (the first `limit`).

    None when there is no entry, `_BROKEN` when it is not a readable file in a real folder.
    """
    try:
        fd = _open_data(entry)
    except OSError:  # a symlink (ELOOP, ENOTDIR), no file, unreadable: not an entry of ours
        return _BROKEN
    if fd is None:
        return None
    try:
        if limit >= 0:
            return os.read(fd, limit)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return _BROKEN
    finally:
        os.close(fd)


#: The smallest envelope (header and MAC, an empty payload) as the quoted base64 of a file.
_SMALLEST = 2 + 4 * ((len(MAGIC) + 1 + 8 + 32 + 2) // 3)
_MAGIC_B64 = base64.b64encode(MAGIC + b"\x00\x00")[:5]  # the first 5 chars: "TWC2" + 6 bits


def _complete(entry: str) -> bool:
    """True when an entry's file has the form of one (see `KleptoDirStore._count`)."""
    try:
        fd = _open_data(entry)
    except OSError:
        return False
    if fd is None:
        return False
    try:
        size = os.fstat(fd).st_size
        if size < _SMALLEST or (size - 2) % 4:
            return False
        head = os.read(fd, 6)
        os.lseek(fd, size - 1, os.SEEK_SET)
        return head[1:] == _MAGIC_B64 and os.read(fd, 1) == b'"'
    except OSError:
        return False
    finally:
        os.close(fd)


def _clear_dir_archive(root: Path) -> None:
    """Remove every entry folder, and the temporary folders of dead or stale writers."""
    try:
        with os.scandir(root) as scan:
            names = [e.name for e in scan if e.name.startswith(_ENTRY)]
    except FileNotFoundError:
        return
    entries = [n for n in names if not n.startswith(_TEMP)]
    remove_owned(root, entries)
    _remove_stale_temps(root, [n for n in names if n.startswith(_TEMP)])


def _remove_stale_temps(root: Path, names: list[str]) -> int:
    """Remove the temporary folders whose writer is dead, or that are older than GRACE."""
    stale = []
    now = time.time()
    for name in names:
        match = _OUR_TEMP.fullmatch(name)
        if match is not None and writer_gone(int(match[1]), match[2]):
            stale.append(name)
            continue
        path = os.path.join(root, name)
        try:
            newest = os.lstat(path).st_mtime
            with os.scandir(path) as scan:
                for entry in scan:
                    newest = max(newest, entry.stat(follow_symlinks=False).st_mtime)
        except FileNotFoundError:
            continue
        except OSError:
            pass
        if now - newest > GRACE:
            stale.append(name)
    return remove_owned(root, stale)


def _stamp(entry: str) -> None:
    """Set an entry folder's mtime to now, to the nanosecond: the eviction order.

    The kernel's own timestamps are coarse (a few ms): entries stored in a burst would tie.
    """
    now = time.time_ns()
    with contextlib.suppress(OSError):
        os.utime(entry, ns=(now, now), follow_symlinks=False)


class KleptoDirStore(_KleptoStore):
    """klepto's `dir_archive` in `<folder>/klepto-<hash>/`, one folder per entry."""

    def __init__(self, config: CacheConfig, ctx: CacheRecord) -> None:
        root = Path(ctx.folder or ".") / f"klepto-{_ns_hash(ctx.namespace, 24)}"
        super().__init__(config, ctx, root.with_name(root.name + ".lock"))
        from klepto.archives import dir_archive  # noqa: PLC0415  (heavy: only when opened)

        private_dir(root, secure=self.secure)
        self.root = root
        self.owned = (root.name, root.name + ".lock")
        self.native = dir_archive(
            str(root),
            cached=False,  # no in-memory layer: other processes' writes must be seen
            serialized=True,
            protocol="json",  # JSON, not dill: reading a tampered file must never unpickle
            permissions=folder_mode(self.secure),
        )
        #: (entries, sealed bytes) as last counted plus what this process stored since
        self._estimate: tuple[int, int] | None = None
        self._stores_since_scan = 0

    def _entry(self, digest: str) -> str:
        return os.path.join(self.root, _ENTRY + digest)

    def _read(self, digest: str) -> Any:
        blob = _read_envelope(self._entry(digest))
        return _ABSENT if blob is None else blob

    def _write(self, digest: str, blob: bytes) -> None:
        """Write the entry as klepto does: a temporary folder, renamed into place.

        But private, with every error raised and nothing half-written left under its name.
        """
        temp = f"{_TEMP}{os.getpid()}-{HOST}-{os.urandom(8).hex()}"
        temp_path = os.path.join(self.root, temp)
        try:
            os.mkdir(temp_path, folder_mode(self.secure))
        except FileNotFoundError:  # the archive's folder was removed: make it again
            private_dir(self.root, secure=self.secure)
            os.mkdir(temp_path, folder_mode(self.secure))
        try:
            fd = os.open(os.path.join(temp_path, _DATA), _WRITE_FLAGS, file_mode(self.secure))
            try:
                _write_envelope(fd, blob)  # the JSON text klepto writes
            finally:
                os.close(fd)
            entry = self._entry(digest)
            _stamp(temp_path)
            try:
                os.rename(temp_path, entry)
            except OSError:
                # The entry exists: move it aside, put the new one in place, remove the old.
                old = f"{_TEMP}{os.getpid()}-{HOST}-{os.urandom(8).hex()}"
                try:
                    os.rename(entry, os.path.join(self.root, old))
                except FileNotFoundError:
                    old = ""
                os.rename(temp_path, entry)
                if old:
                    remove_owned(self.root, [old])
        except BaseException:
            remove_owned(self.root, [temp])
            raise

    def _drop(self, digest: str) -> bool:
        return remove_owned(self.root, [_ENTRY + digest]) > 0

    def _touch(self, digest: str) -> None:
        _stamp(self._entry(digest))

    def _scan(self) -> list[tuple[int, str, int]]:
        """(mtime ns, folder name, sealed bytes) of every complete entry (read-only)."""
        found = []
        try:
            with os.scandir(self.root) as scan:
                names = [
                    (e.name, e.stat(follow_symlinks=False).st_mtime_ns)
                    for e in scan
                    if _ENTRY_NAME.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
                ]
        except FileNotFoundError:
            return []
        for name, mtime in names:
            try:
                info = os.lstat(os.path.join(self.root, name, _DATA))
            except OSError:
                continue  # removed meanwhile, or broken (no file): not an entry
            if stat.S_ISREG(info.st_mode) and info.st_size > 2:
                found.append((mtime, name, (info.st_size - 2) * 3 // 4))
        return found

    def _count(self) -> int:
        """Count the complete entries (read-only).

        Complete: a real folder with its file, whole by its form (quoted base64 of an
        envelope: its header read, its length consistent).
        """
        return sum(1 for _, name, _ in self._scan() if _complete(os.path.join(self.root, name)))

    def nbytes(self) -> int:
        """The sealed bytes of the entries (what `max_bytes` bounds; files hold them as base64)."""
        return sum(size for _, _, size in self._scan())

    def _after_store(self, digest: str, size: int) -> None:
        estimate = self._estimate
        if estimate is not None and self._stores_since_scan < RESCAN_EVERY:
            estimate = (estimate[0] + 1, estimate[1] + size)
            excess, extra = self._over(*estimate)
            if excess <= 0 and extra <= 0:
                self._estimate = estimate
                self._stores_since_scan += 1
                return
        entries = self._scan()
        count, nbytes = len(entries), sum(s for _, _, s in entries)
        excess, extra = self._over(count, nbytes)
        if (excess > 0 or extra > 0) and self.ttl is not None and self._sweep():
            entries = self._scan()
            count, nbytes = len(entries), sum(s for _, _, s in entries)
            excess, extra = self._over(count, nbytes)
        keep = _ENTRY + digest
        victims = []
        for _, name, entry_size in sorted(entries):
            if excess <= 0 and extra <= 0:
                break
            if name == keep:
                continue
            victims.append(name)
            excess -= 1
            extra -= entry_size
            count -= 1
            nbytes -= entry_size
        remove_owned(self.root, victims)
        self._estimate = (count, nbytes)
        self._stores_since_scan = 0

    def _sweep(self) -> int:
        secret = load_secret()
        now = clock.now()
        expired = []
        head = len(base64.b64encode(bytes(HEADER_SIZE))) + 1  # the quote, then the header
        for _, name, _ in self._scan():
            data = _read_file(os.path.join(self.root, name), head)
            if not data or data[:1] != b'"':
                continue
            try:
                header = base64.b64decode(data[1:head], validate=True)
            except (binascii.Error, ValueError):
                continue
            deadline = deadline_of(header, secret)
            if deadline is not None and deadline <= now:
                expired.append(name)
        self._estimate = None
        return remove_owned(self.root, expired)

    def _leftovers(self) -> int:
        try:
            with os.scandir(self.root) as scan:
                found = [(e.name, e.is_dir(follow_symlinks=False)) for e in scan]
        except FileNotFoundError:
            return 0
        temps = [n for n, _ in found if n.startswith(_TEMP)]
        removed = _remove_stale_temps(self.root, temps)
        # entry folders left without their file (not ours, or damaged): nothing to read
        broken = [
            n
            for n, is_dir in found
            if is_dir
            and _ENTRY_NAME.fullmatch(n)
            and not os.path.lexists(os.path.join(self.root, n, _DATA))
        ]
        removed += remove_owned(self.root, broken)
        self._estimate = None
        return removed

    def _entries(self) -> Iterator[tuple[str, Any]]:
        try:
            with os.scandir(self.root) as scan:
                names = [e.name for e in scan if _ENTRY_NAME.fullmatch(e.name)]
        except FileNotFoundError:
            return
        for name in names:
            blob = self._read(name[len(_ENTRY) :])
            if blob is not _ABSENT:
                yield name[len(_ENTRY) :], blob

    def _clear(self) -> None:
        _clear_dir_archive(self.root)
        self._estimate = None

    def close(self) -> None:
        """Nothing to close: a directory archive holds no open handles."""


def open_store(config: CacheConfig, context: CacheRecord) -> _KleptoStore:
    """Open the klepto store for one function: SQL archive for kind "disk", directory for "file"."""
    if context.folder is None:
        raise ValueError("klepto: the store needs a folder (the record's folder is None)")
    private_dir(Path(context.folder or "."), secure=config.secure)
    if config.kind == "file":
        return KleptoDirStore(config, context)
    return KleptoSQLStore(config, context)
