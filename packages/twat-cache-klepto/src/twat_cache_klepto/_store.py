"""The klepto stores: a SQL archive in SQLite (kind "disk") or a directory archive (kind "file").

- kind "disk" (bcache's second choice, ucache's first persistent one): klepto's
  `sqltable_archive` on `sqlite:///<folder>/klepto.sqlite`, one table per function
  (`t_<sha256(namespace)[:32]>`), through SQLAlchemy (klepto needs it for a keyed table: without
  it klepto keeps every old value of a key and scans the whole table on each lookup). The
  archive is opened unserialized, so the column holds twat-cache's sealed bytes and klepto
  never unpickles anything. The database is created 0o600 in WAL mode, so readers in other
  processes do not block a writer.
- kind "file" (fcache's second choice, `bcache(sql_backend=False)`): klepto's `dir_archive` in
  `<folder>/klepto-<sha256(namespace)[:24]>/`, one subfolder per entry. klepto's serialized
  archives read entries with pickle (dill); to keep a tampered file from ever being unpickled the
  archive uses klepto's JSON protocol, and the sealed envelope is stored as base64 text inside.

Both: keys are `keys.stable_digest(namespace + secret id, key)` (processes with different
secrets never overwrite or drop each other's entries); values are `envelope.seal(...)`
envelopes, verified before unpickling (a corrupt entry is logged, dropped and missed; an entry
sealed under another secret is a miss, warned about once and left alone). klepto has no
expiry, so the backend declares `native_ttl=False` and the core adds its `TTLStore`. klepto has
no size bound either: `maxsize=None` means unbounded (the documented default); a `maxsize`
counts entries, and storing beyond it evicts the oldest stored entries (policy fifo/ttl) or the
least recently used ones (policy lru: a hit then refreshes the entry's position, one small write).
Cross-process single flight uses ONE lock file per function (`klepto-<hash>.lock`, byte-range
stripes: `twat_cache.locks.StripedLocks`). What each store creates in the folder is listed in
`owned` (recorded in the folder's marker), so clearing never touches anything else there.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import logging
import os
import re
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any

from twat_cache.config import CacheConfig
from twat_cache.envelope import CorruptEntry, ForeignEntry, seal, unseal
from twat_cache.folders import remove_owned
from twat_cache.locks import StripedLocks, file_lock
from twat_cache.paths import FILE_MODE, FOLDER_MODE, private_dir
from twat_cache.record import CacheRecord
from twat_cache.secret import Secret, load_secret
from twat_cache.store import Store

logger = logging.getLogger("twat_cache")

__all__ = ["DB_NAME", "KleptoDirStore", "KleptoSQLStore", "open_store"]

DB_NAME = "klepto.sqlite"
#: The SQLite file and its companions (journal, WAL, shared memory, our opening lock).
_DB_FILES = ("", "-journal", "-wal", "-shm", ".lock")
POLICIES = ("lru", "fifo", "ttl")
_ABSENT: Any = object()
_POSIX = sys.platform != "win32"
_ENTRY = "K_"  # klepto's prefix of an entry's folder in a dir_archive
_TEMP = "K_.I_"  # ... and of the temporary folder it writes an entry in before renaming it


def _private_file(path: Path) -> None:
    """Create `path` empty with mode 0o600 if missing (SQLite keeps, and copies, its mode)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)


def _ns_hash(namespace: str, n: int) -> str:
    return hashlib.sha256(namespace.encode()).hexdigest()[:n]


class _KleptoStore(Store):
    """What both archives share: keys, envelopes, corrupt-entry handling, locks, eviction."""

    blocking = True
    digest_keys = True

    native: Any
    owned: tuple[str, ...]

    def __init__(self, config: CacheConfig, ctx: CacheRecord, lock_file: Path) -> None:
        if config.policy not in POLICIES:
            raise ValueError(
                f"klepto: policy must be one of {', '.join(POLICIES)}, got {config.policy!r}"
            )
        self.namespace = ctx.namespace
        # Resolved once: a hit must not look the secret up again.
        self.name = ctx.name
        self.folder = Path(ctx.folder or ".")
        self.ttl = config.ttl
        self.maxsize = config.maxsize
        self.encrypt = config.encrypt
        # LRU order only matters when something is evicted: without a bound, hits stay reads.
        self.touch_on_hit = config.policy == "lru" and config.maxsize is not None
        self.flights = StripedLocks(lock_file, name=ctx.name)
        self._foreign_warned = False
        self._mutex = threading.RLock()  # klepto's archives are not thread-safe

    def digest(self, key: Hashable, secret: Secret | None = None) -> str:
        """The entry key of `key`: the core's disk digest, as it is.

        The core salts it with the function's namespace and the secret's id, so functions and
        secrets never share entries.
        """
        return str(key)

    def flight_lock(self, key: Hashable) -> AbstractContextManager[bool]:
        """Hold `key`'s stripe of the lock file: one process computes it, the others wait."""
        return self.flights.hold(self.digest(key))

    def aflight_lock(self, key: Hashable) -> AbstractAsyncContextManager[bool]:
        """The asyncio twin of `flight_lock` (waits without blocking the event loop)."""
        return self.flights.ahold(self.digest(key))

    def _foreign(self, exc: ForeignEntry) -> None:
        if not self._foreign_warned:
            self._foreign_warned = True
            logger.warning("%s: ignoring a cache entry (%s)", self.name, exc)

    # -- what each archive provides -------------------------------------------------------
    def _read(self, digest: str) -> Any:
        raise NotImplementedError

    def _write(self, digest: str, blob: bytes) -> None:
        raise NotImplementedError

    def _drop(self, digest: str) -> bool:
        raise NotImplementedError

    def _touch(self, digest: str) -> None:
        raise NotImplementedError

    def _evict(self, excess: int) -> None:
        raise NotImplementedError

    def _count(self) -> int:
        raise NotImplementedError

    def _clear(self) -> None:
        raise NotImplementedError

    # -- the Store protocol ----------------------------------------------------------------
    def get(self, key: Hashable, default: Any) -> Any:
        """Return the value for `key`, or `default` (missing or not intact)."""
        secret = load_secret()
        digest = self.digest(key, secret)
        with self._mutex:
            blob = self._read(digest)
            if blob is _ABSENT:
                return default
            try:
                value = unseal(blob, secret=secret, context=digest.encode())[0]
            except ForeignEntry as exc:  # another secret's entry: not ours to delete
                self._foreign(exc)
                return default
            except CorruptEntry as exc:
                logger.warning("%s: dropping a corrupt cache entry (%s)", self.name, exc)
                self._drop(digest)
                return default
            if self.touch_on_hit:
                self._touch(digest)
            return value

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` sealed, then evict beyond `maxsize` entries."""
        secret = load_secret()
        digest = self.digest(key, secret)
        blob = seal(value, secret=secret, context=digest.encode(), encrypt=self.encrypt)
        with self._mutex:
            self._write(digest, blob)
            if self.maxsize is not None:
                excess = self._count() - self.maxsize
                if excess > 0:
                    self._evict(excess)

    def delete(self, key: Hashable) -> bool:
        """Drop the entry for `key`; True if there was one."""
        digest = self.digest(key)
        with self._mutex:
            return self._drop(digest)

    def clear(self) -> None:
        """Drop every entry of this function (its one lock file stays, see diskcache's)."""
        with self._mutex:
            self._clear()

    def __len__(self) -> int:
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
        """Drop the entries whose ttl has passed; return how many.

        klepto has no expiry: with a `ttl` the core stores `(deadline, value)` pairs, so each
        entry is verified and read to find its deadline. Without a ttl nothing expires.
        """
        if self.ttl is None:
            return 0
        now = time.time()
        dropped = 0
        secret = load_secret()
        with self._mutex:
            for digest in self._digests():
                blob = self._read(digest)
                if blob is _ABSENT:
                    continue
                try:
                    deadline, _ = unseal(blob, secret=secret, context=digest.encode())[0]
                    expired = deadline < now
                except ForeignEntry:
                    continue  # another secret's entry: its owner prunes it
                except (CorruptEntry, TypeError, ValueError):
                    expired = True  # not an intact entry: nothing worth keeping
                if expired and self._drop(digest):
                    dropped += 1
        return dropped

    def _digests(self) -> list[str]:
        raise NotImplementedError


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
        with file_lock(folder / (DB_NAME + ".lock")):
            _prepare_db(self.db_path)
            self.native = sqltable_archive(
                f"sqlite:///{self.db_path}?table={self.table}",
                cached=False,  # no in-memory layer: other processes' writes must be seen
                serialized=False,  # a plain column: klepto stores our bytes, never unpickles
                connect_args={"check_same_thread": False, "timeout": 60},
            )
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

    def _read(self, digest: str) -> Any:
        return self.native.get(digest, _ABSENT)

    def _write(self, digest: str, blob: bytes) -> None:
        try:
            self.native[digest] = blob
        except self._sql.exc.IntegrityError:
            # klepto inserts when the key was absent a moment ago: another process inserted it
            # first. The connection is rolled back; storing again takes klepto's update path.
            self._conn.rollback()
            self.native[digest] = blob

    def _drop(self, digest: str) -> bool:
        return self.native.pop(digest, _ABSENT) is not _ABSENT

    def _exec(self, statement: str, **params: Any) -> Any:
        try:
            result = self._conn.execute(self._sql.text(statement), params)
            self._conn.commit()
        except BaseException:
            self._conn.rollback()
            raise
        return result

    def _touch(self, digest: str) -> None:
        # Row order is SQLite's rowid (insertion order); moving a hit to the end makes it LRU.
        self._exec(
            f"UPDATE {self.table} SET rowid = (SELECT max(rowid) + 1 FROM {self.table}) "
            "WHERE Kkey = :k",
            k=digest,
        )

    def _evict(self, excess: int) -> None:
        self._exec(
            f"DELETE FROM {self.table} WHERE rowid IN "
            f"(SELECT rowid FROM {self.table} ORDER BY rowid LIMIT :n)",
            n=excess,
        )

    def _count(self) -> int:
        # klepto's len() opens an ORM session per call; one COUNT on the archive's connection
        # is the same query without the session (and its pooled connection).
        result = self._conn.execute(self._sql.text(f"SELECT count(*) FROM {self.table}"))
        return int(result.scalar_one())

    def _digests(self) -> list[str]:
        return [str(k) for k in self.native]

    def _clear(self) -> None:
        self.native.clear()

    def close(self) -> None:
        """Close the archive's database connection."""
        self._conn.close()
        self.native._engine.dispose()


def _after_fork(ref: weakref.ref[KleptoSQLStore]) -> None:
    store = ref()
    if store is not None:
        store._reopen_in_child()


def _prepare_db(path: Path) -> None:
    """Create the SQLite file 0o600 and switch it to WAL (persistent) before klepto opens it."""
    if path.exists():
        return
    _private_file(path)
    try:
        with sqlite3.connect(path, timeout=60) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        conn.close()
    except sqlite3.Error as exc:  # e.g. a read-only folder: klepto's own open reports it
        logger.debug("could not switch %s to WAL: %s", path, exc)


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
        remove_owned(root, [c.name for c in root.iterdir() if c.name.startswith(_ENTRY)])


class KleptoDirStore(_KleptoStore):
    """klepto's `dir_archive` in `<folder>/klepto-<hash>/`, one subfolder per entry."""

    def __init__(self, config: CacheConfig, ctx: CacheRecord) -> None:
        root = Path(ctx.folder or ".") / f"klepto-{_ns_hash(ctx.namespace, 24)}"
        super().__init__(config, ctx, root.with_name(root.name + ".lock"))
        from klepto.archives import dir_archive  # noqa: PLC0415  (heavy: only when opened)

        private_dir(root)
        self.root = root
        self.owned = (root.name, root.name + ".lock")
        self.native = dir_archive(
            str(root),
            cached=False,  # no in-memory layer: other processes' writes must be seen
            serialized=True,
            protocol="json",  # JSON, not dill: reading a tampered file must never unpickle
            permissions=FOLDER_MODE,
        )

    def _entry(self, digest: str) -> Path:
        return self.root / (_ENTRY + digest)

    def _read(self, digest: str) -> Any:
        text = self.native.get(digest, _ABSENT)
        if text is _ABSENT:
            return _ABSENT
        if not isinstance(text, str):
            return b""  # not ours: unseal refuses it
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return b""

    def _write(self, digest: str, blob: bytes) -> None:
        self.native[digest] = base64.b64encode(blob).decode("ascii")
        # klepto swallows write errors (read-only folder, disk full): check the entry landed,
        # so the core can tell the caller once that results are not being stored.
        entry = self._entry(digest)
        data = entry / self.native._file
        if not data.is_file():
            raise OSError(f"klepto could not write the cache entry {entry}")
        if _POSIX:
            os.chmod(data, FILE_MODE)  # klepto writes with the umask's mode

    def _drop(self, digest: str) -> bool:
        entry = self._entry(digest)
        if not entry.exists():
            return False
        del self.native[digest]
        return True

    def _touch(self, digest: str) -> None:
        with contextlib.suppress(OSError):
            os.utime(self._entry(digest))  # eviction goes by the entry folders' mtime

    def _entries(self) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(self.root) as it:
                return [e for e in it if e.name.startswith(_ENTRY) and not e.name.startswith(_TEMP)]
        except FileNotFoundError:
            return []

    def _evict(self, excess: int) -> None:
        aged = []
        for entry in self._entries():
            try:
                aged.append((entry.stat().st_mtime_ns, entry.name))
            except OSError:
                continue  # removed meanwhile
        for _, name in sorted(aged)[:excess]:
            del self.native[name[len(_ENTRY) :]]

    def _digests(self) -> list[str]:
        return [e.name[len(_ENTRY) :] for e in self._entries()]

    def _count(self) -> int:
        # klepto's len() also counts the temporary folders of writes in progress (or killed)
        return len(self._entries())

    def _clear(self) -> None:
        # Everything in the archive's folder is the archive's: its entries and the temporary
        # folders of writes in progress or killed. Removed without following a symlink.
        try:
            with os.scandir(self.root) as scan:
                names = [e.name for e in scan if e.name.startswith(_ENTRY)]
        except FileNotFoundError:
            return
        remove_owned(self.root, names)

    def close(self) -> None:
        """Nothing to close: a directory archive holds no open handles."""


def open_store(config: CacheConfig, context: CacheRecord) -> _KleptoStore:
    """Open the klepto store for one function: SQL archive for kind "disk", directory for "file"."""
    if context.folder is None:
        raise ValueError("klepto: the store needs a folder (the record's folder is None)")
    private_dir(Path(context.folder or "."))
    if config.kind == "file":
        return KleptoDirStore(config, context)
    return KleptoSQLStore(config, context)
