"""The joblib store: one authenticated joblib file per call, in the folder of a `joblib.Memory`.

Values are written with `joblib.dump` (NumPy arrays as raw buffers, optional zlib compression)
and read with `joblib.load` (optionally memory-mapped), so large arrays store and load the way
joblib does it. `native` is the `joblib.Memory` whose store folder (`<folder>/joblib`) holds the
entries; each function gets `<folder>/joblib/<function>-<hash>/<code>/<key digest>.jbl`.

A file is joblib's own bytes followed by a trailer: a `twat_cache.envelope` envelope (HMAC-SHA256
bound to the entry's key digest) over the payload's length, SHA-256, expiry deadline and flags,
then the trailer's length and a magic. The payload comes first so that an uncompressed file is
a plain joblib file that `joblib.load(path, mmap_mode=...)` can map at its own offsets; the
unpickler stops at the pickle's end and never reads the trailer. Nothing is unpickled (or
mapped) before the trailer's HMAC and the payload's digest match. Files are written to a
private temporary file, fsynced and renamed into place. TTL is native (the deadline lives in
the authenticated trailer, so an expired entry is dropped without loading it); `maxsize` counts
the files and evicts the least recently used (or, for policy "fifo", the oldest). A store
remembers the files it authenticated by their stat signature (inode, size, mtime, ctime), so a
repeated hit of an unchanged file skips re-hashing its payload.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import inspect
import io
import logging
import mmap
import os
import pickle
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any

import joblib

from twat_cache.config import CacheConfig
from twat_cache.envelope import CorruptEntry, ForeignEntry, seal, unseal
from twat_cache.folders import remove_owned
from twat_cache.locks import StripedLocks
from twat_cache.paths import FILE_MODE, private_dir
from twat_cache.record import CacheRecord as StoreContext
from twat_cache.secret import Secret, load_secret
from twat_cache.store import Store

logger = logging.getLogger("twat_cache")

__all__ = ["JoblibStore", "open_store"]

SUFFIX = ".jbl"
MAGIC = b"TWJ1"
FORMAT = 1
TAIL = struct.Struct(">I4s")  # trailer length, magic
COMPRESSED = 1
ENCRYPTED = 2
#: The payload holds no joblib array wrapper: it is a standard pickle that the C unpickler reads
#: exactly like joblib's (pure-Python) one, several times faster.
PLAIN = 4
#: In every pickle joblib writes with an array inside (`NumpyArrayWrapper`, old `NDArrayWrapper`).
_WRAPPER = b"ArrayWrapper"
#: The one single-flight lock file of a function (in its folder; byte-range stripes).
LOCK_FILE = ".flights.lock"
#: The folder joblib's `Memory` keeps its store in, inside the cache folder.
LOCATION = "joblib"
TMP_PREFIX = ".tmp-"
#: A temporary file older than this is a crashed writer's leftover; `clear()` removes it.
STALE_TMP_SECONDS = 600.0
#: Keep arrays exactly as stored (joblib would byte-swap big-endian arrays to native order);
#: a cache returns what the function returned. Older joblib versions lack the option.
_EXACT: dict[str, Any] = (
    {"ensure_native_byte_order": False}
    if "ensure_native_byte_order" in inspect.signature(joblib.load).parameters
    else {}
)
#: How many authenticated files one store remembers (see `JoblibStore._known`).
INDEX_LIMIT = 100_000
#: (payload length, flags, expiry deadline) from an entry's authenticated trailer.
Meta = tuple[int, int, "float | None"]
#: Code folder of a function cached without `check_code`.
ANY_CODE = "any"
#: The name `_function_dir_name` gives a function's folder.
_FUNCTION_DIR = re.compile(r"[A-Za-z0-9._-]{0,80}-[0-9a-f]{12}")
#: What `twat_cache.keys.code_fingerprint` returns.
_FINGERPRINT = re.compile(r"[0-9a-f]{16}|nocode")


class _HashingWriter:
    """A write-only file wrapper that hashes and counts what joblib writes through it.

    `tell()` is forwarded because joblib aligns array buffers on the file's real offsets,
    which is what lets an uncompressed entry be memory-mapped later. `arrays` tells whether
    joblib wrote an array wrapper (the name of its class appears in the stream).
    """

    __slots__ = ("_file", "_hash", "_tail", "arrays", "size")

    def __init__(self, file: io.BufferedWriter) -> None:
        self._file = file
        self._hash = hashlib.sha256()
        self._tail = b""
        self.arrays = False
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write `data` to the file and add it to the digest."""
        self._hash.update(data)
        if not self.arrays:
            chunk = self._tail + bytes(data)  # a name split across two writes is found too
            self.arrays = _WRAPPER in chunk
            self._tail = chunk[-len(_WRAPPER) :]
        written = self._file.write(data)
        self.size += written
        return written

    def tell(self) -> int:
        """The file's current offset."""
        return self._file.tell()

    def flush(self) -> None:
        """Flush the underlying file."""
        self._file.flush()

    def digest(self) -> bytes:
        """SHA-256 of everything written so far."""
        return self._hash.digest()


def _function_dir_name(base: str) -> str:
    """A readable, collision-free folder name for a function's `module:qualname`."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:80] or "function"
    return f"{slug}-{hashlib.sha256(base.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


class JoblibStore(Store):
    """A file store for one function on joblib's persistence, with authenticated entries.

    `native` is the `joblib.Memory` of the cache folder. `folder` is this function's entry
    folder (for the current code version when `check_code` is on). `get` returns `default`
    for a missing, expired, corrupt or tampered entry (the latter two are logged and deleted).
    """

    blocking = True
    digest_keys = True
    handles_ttl = True

    def __init__(self, config: CacheConfig, context: StoreContext) -> None:
        if context.folder is None:
            raise ValueError("context.folder: the joblib backend needs a cache folder, got None")
        compress = config.compress
        self._flags = (COMPRESSED if compress else 0) | (ENCRYPTED if config.encrypt else 0)
        self.mmap_mode = config.mmap_mode
        if self.mmap_mode is not None and self._flags:
            logger.warning(
                "%s: mmap_mode=%r is ignored because entries are %s; "
                "results are loaded into memory",
                context.name,
                self.mmap_mode,
                "encrypted" if config.encrypt else "compressed",
            )
            self.mmap_mode = None
        top = Path(context.folder)
        # What joblib is about to create in the folder is ours; what already exists (a user's
        # own .gitignore, say) is not: it is neither chmod-ed nor ever removed.
        created = [n for n in (LOCATION, ".gitignore") if not os.path.lexists(top / n)]
        private_dir(top / LOCATION)  # before joblib makes it with the umask's mode
        self.native = joblib.Memory(
            location=os.fspath(context.folder),
            mmap_mode=self.mmap_mode,
            compress=compress,
            verbose=0,
        )
        location = Path(self.native.store_backend.location)
        if ".gitignore" in created:
            _make_private(top / ".gitignore")  # written by joblib (umask's mode)
        namespace = context.namespace
        base, code = _split_namespace(namespace)
        self._function_dir = private_dir(location / _function_dir_name(base))
        self.folder = private_dir(self._function_dir / code)
        self.owned = (
            *created,
            os.path.relpath(self._function_dir, top).replace(os.sep, "/"),
        )
        # Entries of other code versions are removed when this version first stores a result,
        # not here: `twat-cache list` opens every namespace a folder ever had, old ones too.
        self._superseded = code != ANY_CODE
        self.namespace = namespace
        # Resolved once: a hit must not look the secret up again.
        self.maxsize = config.maxsize
        self.ttl = config.ttl
        self.compress: bool | int = compress
        self.encrypt = config.encrypt
        self._prefix = os.fspath(self.folder) + os.sep
        self.name = context.name
        self.flights = StripedLocks(self._function_dir / LOCK_FILE, name=context.name)
        self._foreign_warned = False
        self._recency = config.policy != "fifo"  # LRU-like policies record reads in atime
        # digest -> (file signature, trailer metadata) of files this process authenticated
        self._verified: dict[str, tuple[tuple[int, int, int, int, int], Meta]] = {}

    def digest(self, key: Hashable, secret: Secret | None = None) -> str:
        """The entry key of `key`: the core's disk digest, as it is.

        The core salts it with the function's namespace and the secret's id, so functions and
        secrets never share entries.
        """
        return str(key)

    def flight_lock(self, key: Hashable) -> AbstractContextManager[bool]:
        """Hold `key`'s stripe of the lock file: one process computes it, the others wait."""
        hash(key)
        return self.flights.hold(self.digest(key))

    def aflight_lock(self, key: Hashable) -> AbstractAsyncContextManager[bool]:
        """The asyncio twin of `flight_lock` (waits without blocking the event loop)."""
        hash(key)
        return self.flights.ahold(self.digest(key))

    # -- reading ------------------------------------------------------------------------------

    def get(self, key: Hashable, default: Any) -> Any:
        """Return the value stored for `key`, or `default` (missing, expired, corrupt)."""
        hash(key)  # arrays, DataFrames, lists: TypeError, so the core retries with a canonical key
        digest = self.digest(key)
        path = self._prefix + digest + SUFFIX
        try:
            file = open(path, "rb", buffering=0)  # noqa: SIM115  (closed below)
        except FileNotFoundError:
            return default
        try:
            with file:
                if self.mmap_mode is not None:
                    return self._get_mapped(file, path, digest, default)
                return self._get_read(file, path, digest, default)
        except ForeignEntry as exc:  # another secret's entry: a miss, not ours to delete
            if not self._foreign_warned:
                self._foreign_warned = True
                logger.warning("%s: ignoring cache file %s: %s", self.name, path, exc)
            return default
        except CorruptEntry as exc:
            self._discard(path, digest, exc)
            return default

    def _get_read(self, file: Any, path: str, digest: str, default: Any) -> Any:
        """Read the whole entry, authenticate it (unless known intact) and unpickle it."""
        data = file.readall()
        # Taken after the read: a change while reading shows as another signature.
        info = os.fstat(file.fileno())
        meta = self._known(digest, info)
        if meta is None:
            meta = self._check(data, digest)
            self._remember(digest, info, meta)
        n, flags, deadline = meta
        if deadline is not None and deadline < time.time():
            self._unlink(path, digest)
            return default
        if self.maxsize is not None and self._recency:
            self._touch(file, digest, info, meta)
        return self._load(data, n, flags, digest)

    def _get_mapped(self, file: Any, path: str, digest: str, default: Any) -> Any:
        """Authenticate an entry through a read-only map of the open file; joblib maps it."""
        info = os.fstat(file.fileno())
        meta = self._known(digest, info)
        if meta is None:
            if info.st_size < TAIL.size:
                raise CorruptEntry("truncated entry")
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view:
                meta = self._check(view, digest)  # hashes the map: no copy of the file
            self._remember(digest, info, meta)
        _n, flags, deadline = meta
        if deadline is not None and deadline < time.time():
            self._unlink(path, digest)
            return default
        if flags:  # no array to map (or compressed/encrypted): read it like any entry
            file.seek(0)
            return self._get_read(file, path, digest, default)
        if self.maxsize is not None and self._recency:
            info = self._touch(file, digest, info, meta)
        # joblib maps by path: make sure the path still names the file authenticated above,
        # so its unpickler never reads bytes that were not verified.
        if _signature(os.stat(path)) != _signature(info):
            return default  # replaced meanwhile by another writer: a miss, not corruption
        try:
            return joblib.load(path, mmap_mode=self.mmap_mode)
        except Exception as exc:
            raise _unloadable(exc) from exc

    def _known(self, digest: str, info: os.stat_result) -> Meta | None:
        """The metadata of an entry this process already authenticated, if the file is unchanged.

        A file's identity, size, mtime and ctime change with any write to it (ctime cannot be
        set back by a user), so an unchanged signature means unchanged, already verified bytes:
        a repeated hit skips hashing the payload (for an 8 MB array, most of a hit's cost).
        """
        known = self._verified.get(digest)
        if known is not None and known[0] == _signature(info):
            return known[1]
        return None

    def _remember(self, digest: str, info: os.stat_result, meta: Meta) -> None:
        verified = self._verified
        if len(verified) >= INDEX_LIMIT:
            verified.clear()  # a bound, not a policy: entries are re-verified once
        verified[digest] = (_signature(info), meta)

    def _touch(self, file: Any, digest: str, info: os.stat_result, meta: Meta) -> os.stat_result:
        """Record a read in the file's atime, for LRU eviction across processes.

        Set explicitly: relatime/noatime mounts do not record reads. Changing the atime changes
        the ctime, so the new signature is remembered (when nothing else changed meanwhile).
        """
        try:
            fd = file.fileno()
            if os.utime in os.supports_fd:
                os.utime(fd, ns=(time.time_ns(), info.st_mtime_ns))
            else:  # pragma: no cover  (platforms without futimens)
                os.utime(file.name, ns=(time.time_ns(), info.st_mtime_ns))
            after = os.fstat(fd)
        except OSError:
            return info
        if _signature(after)[:4] == _signature(info)[:4]:
            self._remember(digest, after, meta)
        return after

    def _check(self, data: bytes | mmap.mmap, digest: str) -> Meta:
        """Authenticate an entry; return (payload length, flags, deadline) or raise CorruptEntry."""
        size = len(data)
        if size < TAIL.size:
            raise CorruptEntry("truncated entry")
        length, magic = TAIL.unpack_from(data, size - TAIL.size)
        start = size - TAIL.size - length
        if magic != MAGIC or start < 0:
            raise CorruptEntry("not a twat-cache joblib entry (bad trailer or truncated)")
        trailer = data[start : size - TAIL.size]
        meta = unseal(trailer, secret=load_secret(), context=self._context(digest))[0]
        try:
            version, n, sha, deadline, flags = meta
        except (TypeError, ValueError) as exc:
            raise CorruptEntry("malformed entry trailer") from exc
        if version != FORMAT or n != start:
            raise CorruptEntry("entry trailer does not match the file (truncated, other format)")
        with memoryview(data) as whole, whole[:n] as payload:
            actual = hashlib.sha256(payload).digest()
        if not hmac.compare_digest(actual, sha):
            raise CorruptEntry("payload does not match its authenticated digest (tampered)")
        return n, flags, deadline

    def _load(self, data: bytes, n: int, flags: int, digest: str) -> Any:
        """Unpickle a verified payload with joblib (decrypting it first when it is sealed)."""
        try:
            if flags & PLAIN:
                with memoryview(data) as whole, whole[:n] as payload:
                    return pickle.loads(payload)  # authenticated by _check
            if flags & ENCRYPTED:
                with memoryview(data) as whole, whole[:n] as payload:
                    context = self._context(digest, payload=True)
                    raw = unseal(payload, secret=load_secret(), context=context)[0]
                return joblib.load(io.BytesIO(raw), **_EXACT)
            if flags & COMPRESSED:
                # joblib's zlib reader does not stop at the stream's end: give it the payload only.
                with memoryview(data) as whole, whole[:n] as payload:
                    stream = io.BytesIO(payload)
                return joblib.load(stream, **_EXACT)
            # An uncompressed pickle ends at its STOP opcode, so the trailer is never read; and
            # BytesIO shares a bytes object instead of copying it.
            return joblib.load(io.BytesIO(data), **_EXACT)
        except CorruptEntry:
            raise
        except Exception as exc:  # authenticated but unloadable (e.g. a class that was removed)
            raise _unloadable(exc) from exc

    # -- writing ------------------------------------------------------------------------------

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key` (atomically; evicting beyond `maxsize`).

        Raises whatever pickling raises for a value joblib cannot store; no file is left behind.
        """
        hash(key)
        secret = load_secret()
        digest = self.digest(key, secret)
        path = self._prefix + digest + SUFFIX
        deadline = None if self.ttl is None else time.time() + self.ttl
        fd, tmp = self._mkstemp()
        try:
            with open(fd, "wb") as file:
                sink = _HashingWriter(file)
                if self.encrypt:
                    buffer = io.BytesIO()
                    joblib.dump(value, buffer, compress=self.compress)
                    sealed = seal(
                        buffer.getvalue(),
                        secret=secret,
                        context=self._context(digest, payload=True),
                        encrypt=True,
                    )
                    del buffer
                    sink.write(sealed)
                else:
                    joblib.dump(value, sink, compress=self.compress)
                flags = self._flags if self._flags or sink.arrays else PLAIN
                trailer = seal(
                    (FORMAT, sink.size, sink.digest(), deadline, flags),
                    secret=secret,
                    context=self._context(digest),
                )
                file.write(trailer)
                file.write(TAIL.pack(len(trailer), MAGIC))
                file.flush()
                os.fsync(file.fileno())
                stamp = time.time_ns()  # explicit times: eviction order must not hang on fs clocks
                os.utime(tmp, ns=(stamp, stamp))
                if os.name != "nt":  # POSIX: rename the open file, then read its final ctime
                    os.replace(tmp, path)
                info = os.fstat(file.fileno())
            if os.name == "nt":  # pragma: no cover  (Windows cannot rename an open file)
                os.replace(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise
        self._remember(digest, info, (sink.size, flags, deadline))
        if self._superseded:
            self._superseded = False
            _remove_other_versions(self._function_dir, self.folder.name)
        if self.maxsize is not None:
            self._evict(self.maxsize)

    def _mkstemp(self) -> tuple[int, str]:
        """A private (0o600) temporary file in the entry folder, recreating a removed folder."""
        try:
            return tempfile.mkstemp(prefix=TMP_PREFIX, suffix=SUFFIX + ".part", dir=self.folder)
        except FileNotFoundError:  # cleared away (clear_cache, joblib's Memory.clear)
            self._recreate()
            return tempfile.mkstemp(prefix=TMP_PREFIX, suffix=SUFFIX + ".part", dir=self.folder)

    def _evict(self, maxsize: int) -> None:
        """Drop the least recently used (or, for fifo, the oldest) entries beyond `maxsize`."""
        entries: list[tuple[int, int, str]] = []
        with os.scandir(self.folder) as scan:
            for entry in scan:
                if entry.name.endswith(SUFFIX) and not entry.name.startswith(TMP_PREFIX):
                    try:
                        info = entry.stat()
                    except FileNotFoundError:
                        continue
                    used = info.st_atime_ns if self._recency else info.st_mtime_ns
                    entries.append((used, info.st_mtime_ns, entry.path))
        excess = len(entries) - maxsize
        if excess <= 0:
            return
        entries.sort()
        for _, _, path in entries[:excess]:
            self._unlink(path)

    # -- the rest of the Store protocol ---------------------------------------------------------

    def delete(self, key: Hashable) -> bool:
        """Drop `key`'s entry; True if there was one."""
        hash(key)
        digest = self.digest(key)
        return self._unlink(self._prefix + digest + SUFFIX, digest)

    def clear(self) -> None:
        """Drop every entry of this function (other functions in the folder keep theirs)."""
        self._verified.clear()
        cutoff = time.time() - STALE_TMP_SECONDS
        try:
            scan = os.scandir(self.folder)
        except FileNotFoundError:
            return
        with scan:
            for entry in scan:
                name = entry.name
                if name.startswith(TMP_PREFIX):
                    try:  # a writer's file in progress is left alone unless long abandoned
                        if entry.stat().st_mtime < cutoff:
                            _unlink_quietly(entry.path)
                    except FileNotFoundError:
                        pass
                elif name.endswith(SUFFIX):
                    _unlink_quietly(entry.path)

    def clear_all(self) -> None:
        """Drop every entry in this cache folder, whichever function (or code version) wrote it.

        joblib's own items in the folder (`native`'s store) are cleared too.
        """
        self._verified.clear()
        location = self.folder.parent.parent
        with os.scandir(location) as scan:
            # Only the function folders twat-cache makes (never a link, never another name).
            children = [
                e.name
                for e in scan
                if _FUNCTION_DIR.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
            ]
        remove_owned(location, children)
        self._recreate()

    def prune(self) -> int:
        """Delete the expired (and the unreadable) entries in this cache folder; return how many.

        Only each file's authenticated trailer is read, never its payload.
        """
        removed = 0
        now = time.time()
        for root, _dirs, files in os.walk(self.folder.parent.parent):
            for name in files:
                if not name.endswith(SUFFIX) or name.startswith(TMP_PREFIX):
                    continue
                path = os.path.join(root, name)
                try:
                    deadline = self._deadline(path, name[: -len(SUFFIX)])
                except FileNotFoundError:
                    continue
                except ForeignEntry:
                    continue  # another secret's entry: its owner prunes it
                except (CorruptEntry, OSError) as exc:
                    self._discard(path, name[: -len(SUFFIX)], exc)
                    removed += 1
                    continue
                if deadline is not None and deadline < now and self._unlink(path):
                    removed += 1
        return removed

    def _deadline(self, path: str, digest: str) -> float | None:
        """The authenticated expiry deadline of an entry file, reading only its trailer."""
        with open(path, "rb", buffering=0) as file:
            size = os.fstat(file.fileno()).st_size
            if size < TAIL.size:
                raise CorruptEntry("truncated entry")
            file.seek(size - TAIL.size)
            length, magic = TAIL.unpack(file.read(TAIL.size))
            start = size - TAIL.size - length
            if magic != MAGIC or start < 0:
                raise CorruptEntry("not a twat-cache joblib entry (bad trailer or truncated)")
            file.seek(start)
            trailer = file.read(length)
        meta = unseal(trailer, secret=load_secret(), context=self._context(digest))[0]
        try:
            version, n, _sha, deadline, _flags = meta
        except (TypeError, ValueError) as exc:
            raise CorruptEntry("malformed entry trailer") from exc
        if version != FORMAT or n != start:
            raise CorruptEntry("entry trailer does not match the file (truncated, other format)")
        return deadline  # type: ignore[no-any-return]

    def __len__(self) -> int:
        try:
            scan = os.scandir(self.folder)
        except FileNotFoundError:
            return 0
        with scan:
            return sum(
                1 for e in scan if e.name.endswith(SUFFIX) and not e.name.startswith(TMP_PREFIX)
            )

    # -- helpers --------------------------------------------------------------------------------

    def _recreate(self) -> None:
        """Create the entry folder again, every level 0o700 (mkdir's parents get the umask's)."""
        private_dir(self.folder)  # the levels that are missing, each 0o700

    @staticmethod
    def _context(digest: str, *, payload: bool = False) -> bytes:
        """What an envelope is bound to: the entry's key digest (and which envelope it is)."""
        return (b"joblib-payload\x00" if payload else b"joblib\x00") + digest.encode()

    def _unlink(self, path: str, digest: str | None = None) -> bool:
        """Remove an entry file and its lock file; True if the entry existed."""
        if digest is None:
            digest = os.path.basename(path)[: -len(SUFFIX)]
        self._verified.pop(digest, None)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    def _discard(self, path: str, digest: str, exc: Exception) -> None:
        """Log and delete a corrupt or tampered entry, so the call recomputes it."""
        logger.warning("dropping unreadable cache file %s: %s", path, exc)
        self._verified.pop(digest, None)
        _unlink_quietly(path)


def _unloadable(exc: Exception) -> CorruptEntry:
    """An authenticated entry joblib cannot load (e.g. its class was removed): drop it."""
    return CorruptEntry(f"joblib could not load the entry: {type(exc).__name__}: {exc}")


def _signature(info: os.stat_result) -> tuple[int, int, int, int, int]:
    """What identifies one version of a file: inode, device, size, mtime and ctime."""
    return (info.st_ino, info.st_dev, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def _make_private(path: Path) -> None:
    """Give a file joblib created the cache's file mode (0o600)."""
    with contextlib.suppress(OSError):
        path.chmod(FILE_MODE)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _split_namespace(namespace: str) -> tuple[str, str]:
    """(module:qualname, code folder) of a store's namespace.

    With `check_code` the core appends "@<code fingerprint>" to the namespace; entries of each
    code version live in a folder of their own. "@" appears in no module or qualified name.
    """
    head, sep, tail = namespace.rpartition("@")
    if sep and head and _FINGERPRINT.fullmatch(tail):
        return head, tail
    return namespace, ANY_CODE


def _remove_other_versions(function_dir: Path, code: str) -> None:
    """Delete entries a function stored under other code versions (`check_code`).

    Those entries can never be read again by this code (their keys include the old code's
    fingerprint), so keeping them would only fill the disk. Entries stored without
    `check_code` (folder "any") are left alone.
    """
    try:
        scan = os.scandir(function_dir)
    except FileNotFoundError:
        return
    with scan:
        stale = [
            e.path
            for e in scan
            if e.name not in (code, ANY_CODE) and e.is_dir(follow_symlinks=False)
        ]
    for path in stale:
        logger.debug("removing entries of another code version: %s", path)
        shutil.rmtree(path, ignore_errors=True)


def open_store(config: CacheConfig, context: StoreContext) -> JoblibStore:
    """Open the joblib store for one function (the registry's opener)."""
    return JoblibStore(config, context)
