"""The joblib store: one authenticated joblib file per call, in the folder of a `joblib.Memory`.

Values are written with `joblib.dump` (NumPy arrays as raw buffers, optional zlib compression)
straight into the entry's file and read with one read (or memory-mapped by `joblib.load`), so
large arrays store and load the way joblib does it. `native` is the `joblib.Memory` whose store
folder (`<folder>/joblib`) holds the entries; each function gets
`<folder>/joblib/<function>-<hash>/<code>/<secret id>-<key digest>.jbl`.

A file is joblib's own bytes followed by a trailer: a `twat_cache.envelope` envelope (HMAC-SHA256
bound to the entry's key digest) over the format version, the payload's length, its BLAKE3
digest, the expiry deadline and flags, then the trailer's length and a magic. The payload comes
first so that an uncompressed file is a plain joblib file that `joblib.load(path, mmap_mode=...)`
can map at its own offsets; the unpickler stops at the pickle's end and never reads the trailer.
Nothing is unpickled (or mapped) before the trailer's HMAC and the payload's digest match.

Files are written to a temporary file named after the writer (host and process id) and renamed
into place, without fsync: the authenticated trailer already turns a torn write into a miss
(see `JoblibStore.set`). A temporary file whose writer is dead (a process of this host that no
longer runs) is removed by `prune()` and `clear()` at once; others only when long abandoned.

The entry name starts with the id of the secret that sealed it: `len()`, `clear()`, eviction,
`nbytes()` and `verify()` see this secret's entries only, so processes with different secrets
sharing a folder never count, evict or delete each other's entries.

TTL is native (the deadline lives in the authenticated trailer and follows `twat_cache.clock`,
so an expired entry is dropped without loading it). `maxsize` (files) and `max_bytes` (their
total size) are enforced on every store, evicting the least recently used (or, for policy
"fifo", the oldest) entries, never the one just stored. A store remembers the files it
authenticated by their stat signature (inode, size, mtime, ctime), so a repeated hit of an
unchanged file skips re-hashing its payload. BLAKE3 also digests large array arguments in this
store's keys (`buffer_hash`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import inspect
import io
import logging
import mmap
import os
import pickle
import re
import secrets
import shutil
import stat
import struct
import time
from collections.abc import Hashable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from pathlib import Path
from typing import Any

import joblib
from blake3 import blake3

from twat_cache import clock
from twat_cache.config import CacheConfig
from twat_cache.envelope import CorruptEntry, ForeignEntry, seal, unseal
from twat_cache.folders import remove_owned
from twat_cache.locks import StripedLocks
from twat_cache.paths import FILE_MODE, file_mode, private_dir
from twat_cache.record import CacheRecord
from twat_cache.secret import ID_SIZE, Secret, load_secret
from twat_cache.store import Store
from twat_cache.writers import HOST, writer_gone

logger = logging.getLogger("twat_cache")

__all__ = ["JoblibStore", "open_store"]

SUFFIX = ".jbl"
MAGIC = b"TWJ1"
#: The entry format, in the authenticated trailer (the magic stays: an older file is then
#: recognized as ours and dropped quietly). 1: SHA-256 payload digest, `<digest>.jbl`;
#: 2: BLAKE3 payload digest, `<secret id>-<digest>.jbl`.
FORMAT = 2
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
#: Temporary files: `.tmp-<host tag>-<pid>-<random>.jbl.part` (format 1: `.tmp-<random>...`).
TMP_PREFIX = ".tmp-"
TMP_SUFFIX = SUFFIX + ".part"
#: A temporary file not written to for this long is a crashed writer's leftover, whoever wrote
#: it (a writer on another host, or one whose process id was reused); `prune`/`clear` remove it.
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
#: Files from this size on are authenticated through a read-only map instead of a copy.
MAP_AT = 1 << 20
#: (payload length, flags, expiry deadline) from an entry's authenticated trailer.
Meta = tuple[int, int, "float | None"]
#: Code folder of a function cached without `check_code`.
ANY_CODE = "any"
#: The name `_function_dir_name` gives a function's folder.
_FUNCTION_DIR = re.compile(r"[A-Za-z0-9._-]{0,80}-[0-9a-f]{12}")
#: What `twat_cache.keys.code_fingerprint` returns.
_FINGERPRINT = re.compile(r"[0-9a-f]{16}|nocode")
#: An entry's name: the sealing secret's id, the key digest (format 2), or the digest alone
#: (format 1, sealed by an unknown secret).
_ENTRY = re.compile(rf"(?:([0-9a-f]{{{2 * ID_SIZE}}})-)?([0-9a-f]{{32,128}})\.jbl")
#: This host, in temporary names (a process id is only meaningful on its own host).
#: Flags of a new temporary file: exclusive, never through a symbolic link
_TMP_FLAGS = (
    os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
)


def _buffer_hash(buffer: memoryview) -> bytes:
    """BLAKE3 of a large contiguous buffer (the core's disk keys of big array arguments).

    Collision-resistant like SHA-256 and several times faster (8 MB: ~1 ms against ~4-8 ms),
    single-threaded: a thread pool costs more than it saves below a few MB, and on a busy
    machine the other cores are not free anyway.
    """
    return blake3(buffer).digest()


class _HashingWriter:
    """A write-only file wrapper that hashes (BLAKE3) and counts what joblib writes through it.

    `tell()` is forwarded because joblib aligns array buffers on the file's real offsets,
    which is what lets an uncompressed entry be memory-mapped later. `arrays` tells whether
    joblib wrote an array wrapper (the name of its class appears in the stream).
    """

    __slots__ = ("_file", "_hash", "_tail", "arrays", "size")

    def __init__(self, file: io.BufferedWriter) -> None:
        self._file = file
        self._hash = blake3()
        self._tail = b""
        self.arrays = False
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Write `data` to the file and add it to the digest."""
        self._hash.update(data)
        if not self.arrays:
            self._look(data)
        written = self._file.write(data)
        self.size += written
        return written

    def _look(self, data: bytes | bytearray | memoryview) -> None:
        """Look for the array wrapper's name, also across two writes, without copying `data`."""
        if isinstance(data, memoryview):
            data = data.tobytes()  # pickle hands out views of bytearrays and buffers only
        edge = len(_WRAPPER) - 1
        self.arrays = _WRAPPER in data or _WRAPPER in self._tail + data[:edge]
        self._tail = (self._tail + data[-edge:])[-edge:]

    def tell(self) -> int:
        """The file's current offset."""
        return self._file.tell()

    def flush(self) -> None:
        """Flush the underlying file."""
        self._file.flush()

    def digest(self) -> bytes:
        """BLAKE3 of everything written so far."""
        return self._hash.digest()


class _OldFormat(CorruptEntry):
    """An authentic entry of an older format: a miss, removed without a warning."""


def _function_dir_name(base: str) -> str:
    """A readable, collision-free folder name for a function's `module:qualname`."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._")[:80] or "function"
    return f"{slug}-{hashlib.sha256(base.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"


class JoblibStore(Store):
    """A file store for one function on joblib's persistence, with authenticated entries.

    `native` is the `joblib.Memory` of the cache folder. `folder` is this function's entry
    folder (for the current code version when `check_code` is on). `get` returns `default`
    for a missing, expired, corrupt or tampered entry (the latter two are logged and deleted),
    and for an entry sealed under another secret (logged once per store, never deleted).
    """

    blocking = True
    digest_keys = True
    handles_ttl = True

    def __init__(self, config: CacheConfig, context: CacheRecord) -> None:
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
        #: False for a cache a team shares (`secure=False`): files and folders follow the umask
        self.secure = config.secure
        # What joblib is about to create in the folder is ours; what already exists (a user's
        # own .gitignore, say) is not: it is neither chmod-ed nor ever removed.
        created = [n for n in (LOCATION, ".gitignore") if not os.path.lexists(top / n)]
        private_dir(top / LOCATION, secure=self.secure)  # before joblib makes it
        self.native = joblib.Memory(
            location=os.fspath(context.folder),
            mmap_mode=self.mmap_mode,
            compress=compress,
            verbose=0,
        )
        location = Path(self.native.store_backend.location)
        if ".gitignore" in created and self.secure:
            _make_private(top / ".gitignore")  # written by joblib (umask's mode)
        namespace = context.namespace
        base, code = _split_namespace(namespace)
        self._function_dir = private_dir(location / _function_dir_name(base), secure=self.secure)
        self.folder = private_dir(self._function_dir / code, secure=self.secure)
        self.owned = (
            *created,
            os.path.relpath(self._function_dir, top).replace(os.sep, "/"),
        )
        # Entries of other code versions are removed when this version first stores a result,
        # not here: `twat-cache list` opens every namespace a folder ever had, old ones too.
        self._superseded = code != ANY_CODE
        self.namespace = namespace
        self.buffer_hash = _buffer_hash
        self.maxsize = config.maxsize
        self.max_bytes = config.max_bytes
        self._bounded = self.maxsize is not None or self.max_bytes is not None
        self.ttl = config.ttl
        self.compress: bool | int = compress
        self.encrypt = config.encrypt
        self._prefix = os.fspath(self.folder) + os.sep
        # The current secret and the path prefix of its entries (made again when it changes;
        # one tuple, so that threads never see one without the other).
        self._current: tuple[Secret | None, str] = (None, self._prefix)
        self.name = context.name
        self.flights = StripedLocks(
            self._function_dir / LOCK_FILE,
            name=context.name,
            secure=config.secure,
            timeout=config.wait_timeout,
        )
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

    def _entry_stem(self) -> tuple[Secret, str]:
        """The current secret and `<folder>/<secret id>-`, the start of its entries' paths."""
        secret = load_secret()
        current = self._current
        if current[0] is not secret:
            current = self._current = (secret, f"{self._prefix}{secret.id}-")
        return secret, current[1]

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
        """Return the value stored for `key`, or `default` (missing, expired, corrupt, foreign)."""
        hash(key)  # arrays, DataFrames, lists: TypeError, so the core retries with a canonical key
        digest = self.digest(key)
        secret, stem = self._entry_stem()
        path = stem + digest + SUFFIX
        try:
            file = open(path, "rb", buffering=0)  # noqa: SIM115  (closed below)
        except FileNotFoundError:
            return default
        try:
            with file:
                if self.mmap_mode is not None:
                    return self._get_mapped(file, path, digest, secret, default)
                return self._get_read(file, path, digest, secret, default)
        except ForeignEntry as exc:  # another secret's entry: a miss, not ours to delete
            self._warn_foreign(path, exc)
            return default
        except CorruptEntry as exc:
            self._discard(path, digest, exc)
            return default

    def _get_read(self, file: Any, path: str, digest: str, secret: Secret, default: Any) -> Any:
        """Authenticate an entry (unless known intact) and load it, reading the file once.

        A small file is read whole and checked in memory. A large one is checked through a
        read-only map (no copy), and its arrays are then read by joblib straight from the
        open file into the arrays, as joblib reads its own files: the bytes read are those of
        the file just authenticated (a writer replacing the entry renames another file into
        place, which leaves this open one as it was).
        """
        fd = file.fileno()
        info = os.fstat(fd)
        meta = self._known(digest, info)
        data = None
        if meta is None:
            if info.st_size >= MAP_AT:
                with mmap.mmap(fd, 0, access=mmap.ACCESS_READ) as view:
                    meta = self._check(view, digest, secret)
            else:
                data = file.readall()
                info = os.fstat(fd)  # after the read: a change while reading shows
                meta = self._check(data, digest, secret)
            self._remember(digest, info, meta)
        n, flags, deadline = meta
        if deadline is not None and deadline <= clock.now():
            self._unlink(path, digest)
            return default
        if self._bounded and self._recency:
            self._touch(file, digest, info, meta)
        if data is None:
            if not flags:  # arrays, uncompressed: joblib reads them from the file
                try:
                    return joblib.load(io.BufferedReader(file), **_EXACT)
                except Exception as exc:
                    raise _unloadable(exc) from exc
            data = file.readall()
        return self._load(data, n, flags, digest, secret)

    def _get_mapped(self, file: Any, path: str, digest: str, secret: Secret, default: Any) -> Any:
        """Authenticate an entry through a read-only map of the open file; joblib maps it."""
        info = os.fstat(file.fileno())
        meta = self._known(digest, info)
        if meta is None:
            if info.st_size < TAIL.size:
                raise CorruptEntry("truncated entry")
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view:
                meta = self._check(view, digest, secret)  # hashes the map: no copy of the file
            self._remember(digest, info, meta)
        _n, flags, deadline = meta
        if deadline is not None and deadline <= clock.now():
            self._unlink(path, digest)
            return default
        if flags:  # no array to map (or compressed/encrypted): read it like any entry
            file.seek(0)
            return self._get_read(file, path, digest, secret, default)
        if self._bounded and self._recency:
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

    def _check(self, data: bytes | mmap.mmap, digest: str, secret: Secret) -> Meta:
        """Authenticate an entry; return (payload length, flags, deadline) or raise CorruptEntry.

        The trailer's HMAC first (`ForeignEntry` when another secret sealed it, `_OldFormat`
        for an authentic entry of another format), then the payload's BLAKE3 digest.
        """
        size = len(data)
        if size < TAIL.size:
            raise CorruptEntry("truncated entry")
        length, magic = TAIL.unpack_from(data, size - TAIL.size)
        start = size - TAIL.size - length
        if magic != MAGIC or start < 0:
            raise CorruptEntry("not a twat-cache joblib entry (bad trailer or truncated)")
        trailer = data[start : size - TAIL.size]
        n, expected, deadline, flags = _trailer(trailer, digest, secret, start)
        with memoryview(data) as whole, whole[:n] as payload:
            actual = blake3(payload).digest()
        if not hmac.compare_digest(actual, expected):
            raise CorruptEntry("payload does not match its authenticated digest (tampered)")
        return n, flags, deadline

    def _load(self, data: bytes, n: int, flags: int, digest: str, secret: Secret) -> Any:
        """Unpickle a verified payload with joblib (decrypting it first when it is sealed)."""
        try:
            if flags & PLAIN:
                with memoryview(data) as whole, whole[:n] as payload:
                    return pickle.loads(payload)  # authenticated by _check
            if flags & ENCRYPTED:
                with memoryview(data) as whole, whole[:n] as payload:
                    context = _context(digest, payload=True)
                    raw = unseal(payload, secret=secret, context=context)[0]
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
        """Store `value` for `key` (atomically; evicting beyond `maxsize` and `max_bytes`).

        Raises whatever pickling raises for a value joblib cannot store; no file is left behind.
        """
        hash(key)
        secret, stem = self._entry_stem()
        digest = self.digest(key, secret)
        path = stem + digest + SUFFIX
        deadline = None if self.ttl is None else clock.now() + self.ttl
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
                        context=_context(digest, payload=True),
                        encrypt=True,
                    )
                    del buffer
                    sink.write(sealed)
                else:
                    joblib.dump(value, sink, compress=self.compress)  # arrays straight to the file
                flags = self._flags if self._flags or sink.arrays else PLAIN
                trailer = seal(
                    (FORMAT, sink.size, sink.digest(), deadline, flags),
                    secret=secret,
                    context=_context(digest),
                )
                file.write(trailer)
                file.write(TAIL.pack(len(trailer), MAGIC))
                file.flush()
                # No fsync: the rename below makes the entry appear whole or not at all to other
                # processes, and after a crash (power loss) that kept the rename but not all of
                # the data, the file's bytes do not match the BLAKE3 digest in its authenticated
                # trailer (or the trailer is gone): a miss that is dropped and recomputed, never
                # a wrong value. fsync would cost more than the write itself on many disks.
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
        if self._bounded:
            self._evict(secret, keep=path)

    def _mkstemp(self) -> tuple[int, str]:
        """A private (0o600) temporary file in the entry folder, named after this writer.

        The name carries this host's tag and this process's id, so that `prune` and `clear`
        remove the file at once when this process dies half-way (SIGKILL, power loss), and
        leave it alone while it writes. A removed folder is recreated.
        """
        # Not tempfile.mkstemp: it always makes 0o600, and a shared cache wants the umask's.
        prefix = f"{TMP_PREFIX}{HOST}-{os.getpid()}-"
        mode = file_mode(self.secure)
        for attempt in range(100):
            tmp = os.path.join(self.folder, f"{prefix}{secrets.token_hex(8)}{TMP_SUFFIX}")
            try:
                return os.open(tmp, _TMP_FLAGS, mode), tmp
            except FileExistsError:
                continue
            except FileNotFoundError:  # cleared away (clear_cache, joblib's Memory.clear)
                if attempt:
                    raise
                self._recreate()
        raise FileExistsError(errno.EEXIST, "no free temporary file name", self.folder)

    def _evict(self, secret: Secret, keep: str) -> None:
        """Drop entries beyond `maxsize` and `max_bytes`: least recently used first (fifo: oldest).

        Only this secret's entries count and go; `keep` (the entry just stored) always stays,
        even when it alone is larger than `max_bytes`.
        """
        entries = [
            (info.st_atime_ns if self._recency else info.st_mtime_ns, info.st_mtime_ns, path, size)
            for path, info in self._own(secret)
            for size in (info.st_size,)
        ]
        count = len(entries)
        total = sum(e[3] for e in entries)
        maxsize = count if self.maxsize is None else self.maxsize
        max_bytes = total if self.max_bytes is None else self.max_bytes
        if count <= maxsize and total <= max_bytes:
            return
        entries.sort()
        for _, _, path, size in entries:
            if count <= maxsize and total <= max_bytes:
                break
            if path == keep:
                continue
            if self._unlink(path):
                count -= 1
                total -= size

    # -- the rest of the Store protocol ---------------------------------------------------------

    def delete(self, key: Hashable) -> bool:
        """Drop `key`'s entry; True if there was one."""
        hash(key)
        digest = self.digest(key)
        return self._unlink(self._entry_stem()[1] + digest + SUFFIX, digest)

    def clear(self) -> None:
        """Drop every entry of this function under the current secret, and writers' leftovers.

        Other functions in the folder keep theirs, and so do other secrets (their entries are
        theirs to clear). Temporary files of dead writers go; those of live writers stay.
        """
        self._verified.clear()
        secret = load_secret()
        now = time.time()
        try:
            scan = os.scandir(self.folder)
        except FileNotFoundError:
            return
        with scan:
            names = [e.name for e in scan if e.is_file(follow_symlinks=False)]
        for name in names:
            path = self._prefix + name
            if name.startswith(TMP_PREFIX):
                _remove_leftover(path, name, now)
                continue
            parsed = _parse(name)
            if parsed is None:
                continue  # not an entry of twat-cache's
            tag, digest = parsed
            if tag == secret.id or (tag is None and self._older_own(path, digest, secret)):
                _unlink_quietly(path)

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
        """Delete expired and unreadable entries in this cache folder; return how many.

        Every function's folder is swept: writers' leftovers (temporary files of dead
        processes, or long abandoned ones) and entries of older formats go too. Only each
        file's authenticated trailer is read, never its payload. Entries of other secrets are
        left to their owners.
        """
        removed = 0
        now = clock.now()
        wall = time.time()
        secret = load_secret()
        for root, _dirs, files in os.walk(self.folder.parent.parent):
            for name in files:
                path = os.path.join(root, name)
                if name.startswith(TMP_PREFIX):
                    _remove_leftover(path, name, wall)
                    continue
                parsed = _parse(name)
                if parsed is None:
                    continue
                tag, digest = parsed
                if tag is not None and tag != secret.id:
                    continue  # another secret's entry: its owner prunes it
                try:
                    deadline = self._deadline(path, digest, secret)
                except FileNotFoundError:
                    continue
                except ForeignEntry:
                    continue
                except _OldFormat:
                    removed += self._unlink(path, digest)
                    continue
                except (CorruptEntry, OSError) as exc:
                    self._discard(path, digest, exc)
                    removed += 1
                    continue
                if deadline is not None and deadline <= now and self._unlink(path, digest):
                    removed += 1
        return removed

    def verify(self, fix: bool = False) -> tuple[int, int]:
        """Authenticate every entry of this function; with `fix`, delete the broken ones.

        Each file's trailer (HMAC) and payload digest are checked without unpickling anything
        (the payload is hashed through a read-only map). Returns (checked, broken). Entries of
        other secrets are neither: they are not this secret's to judge, and never deleted.
        An authentic entry of an older format counts as broken (it can never be read again).
        """
        secret = load_secret()
        checked = broken = 0
        try:
            scan = os.scandir(self.folder)
        except FileNotFoundError:
            return (0, 0)
        with scan:
            names = [e.name for e in scan if e.is_file(follow_symlinks=False)]
        for name in names:
            parsed = _parse(name)
            if parsed is None:
                continue
            tag, digest = parsed
            if tag is not None and tag != secret.id:
                continue
            path = self._prefix + name
            try:
                self._verify_file(path, digest, secret)
            except FileNotFoundError:
                continue
            except ForeignEntry:
                continue
            except (CorruptEntry, OSError) as exc:
                checked += 1
                broken += 1
                if fix:
                    self._discard(path, digest, exc)
                continue
            checked += 1
        return (checked, broken)

    def _verify_file(self, path: str, digest: str, secret: Secret) -> Meta:
        """Authenticate one entry file (trailer and payload digest) through a read-only map."""
        with open(path, "rb", buffering=0) as file:
            size = os.fstat(file.fileno()).st_size
            if size < TAIL.size:
                raise CorruptEntry("truncated entry")
            with mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return self._check(view, digest, secret)

    def _deadline(self, path: str, digest: str, secret: Secret) -> float | None:
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
        return _trailer(trailer, digest, secret, start)[2]

    def _older_own(self, path: str, digest: str, secret: Secret) -> bool:
        """True for a format-1 entry (no secret id in its name) that is not another secret's."""
        try:
            self._deadline(path, digest, secret)
        except ForeignEntry:
            return False
        except (CorruptEntry, OSError):
            return True
        return True

    def __len__(self) -> int:
        """The entries of this function under the current secret (read-only: a scan of names)."""
        tag = load_secret().id
        try:
            scan = os.scandir(self.folder)
        except FileNotFoundError:
            return 0
        with scan:
            return sum(1 for e in scan if _tag_of(e.name) == tag)

    def nbytes(self) -> int:
        """The bytes this function's entries (under the current secret) take on disk."""
        return sum(info.st_size for _, info in self._own(load_secret()))

    # -- helpers --------------------------------------------------------------------------------

    def _own(self, secret: Secret) -> Iterator[tuple[str, os.stat_result]]:
        """(path, lstat) of every entry file of this function sealed under `secret`."""
        try:
            scan = os.scandir(self.folder)
        except FileNotFoundError:
            return
        with scan:
            for entry in scan:
                if _tag_of(entry.name) != secret.id:
                    continue
                try:
                    info = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if stat.S_ISREG(info.st_mode):
                    yield entry.path, info

    def _recreate(self) -> None:
        """Create the entry folder again, every level 0o700 (mkdir's parents get the umask's)."""
        private_dir(self.folder, secure=self.secure)  # only the levels that are missing

    def _unlink(self, path: str, digest: str | None = None) -> bool:
        """Remove an entry file; True if the entry existed."""
        if digest is None:
            parsed = _parse(os.path.basename(path))
            digest = parsed[1] if parsed is not None else ""
        self._verified.pop(digest, None)
        try:
            os.unlink(path)
        except FileNotFoundError:
            return False
        return True

    def _discard(self, path: str, digest: str, exc: Exception) -> None:
        """Delete a corrupt or tampered entry (logged; quietly for an older format)."""
        if isinstance(exc, _OldFormat):
            logger.debug("removing cache file of an older format %s", path)
        else:
            logger.warning("dropping unreadable cache file %s: %s", path, exc)
        self._verified.pop(digest, None)
        _unlink_quietly(path)

    def _warn_foreign(self, path: str, exc: Exception) -> None:
        """Log an entry of another secret once per store (it is a miss, and stays)."""
        if not self._foreign_warned:
            self._foreign_warned = True
            logger.warning("%s: ignoring cache file %s: %s", self.name, path, exc)


def _context(digest: str, *, payload: bool = False) -> bytes:
    """What an envelope is bound to: the entry's key digest (and which envelope it is)."""
    return (b"joblib-payload\x00" if payload else b"joblib\x00") + digest.encode()


def _trailer(
    trailer: bytes, digest: str, secret: Secret, start: int
) -> tuple[int, bytes, float | None, int]:
    """(payload length, payload digest, deadline, flags) of an authenticated trailer."""
    meta = unseal(trailer, secret=secret, context=_context(digest))[0]
    try:
        version, n, expected, deadline, flags = meta
    except (TypeError, ValueError) as exc:
        raise CorruptEntry("malformed entry trailer") from exc
    if version != FORMAT:
        raise _OldFormat(f"an entry of format {version!r} (this version reads {FORMAT})")
    if n != start:
        raise CorruptEntry("entry trailer does not match the file (truncated)")
    return n, expected, deadline, flags


def _parse(name: str) -> tuple[str | None, str] | None:
    """(secret id or None for format 1, key digest) of an entry file name; None if not one."""
    match = _ENTRY.fullmatch(name)
    if match is None:
        return None
    return match[1], match[2]


def _tag_of(name: str) -> str | None:
    """The secret id an entry file name starts with (None for anything else)."""
    if not name.endswith(SUFFIX):
        return None
    parsed = _parse(name)
    return None if parsed is None else parsed[0]


def _remove_leftover(path: str, name: str, now: float) -> bool:
    """Remove a temporary file whose writer is gone; True if it was removed.

    Gone: a process of this host that no longer runs (removed at once), or, whoever wrote it,
    nothing written to the file for `STALE_TMP_SECONDS`. A live writer's file stays.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    if not (_writer_dead(name) or info.st_mtime < now - STALE_TMP_SECONDS):
        return False
    _unlink_quietly(path)
    return True


def _writer_dead(name: str) -> bool:
    """True when a temporary file's name says its writer was a process of this host now gone."""
    host, _, rest = name[len(TMP_PREFIX) :].partition("-")
    pid, _, _ = rest.partition("-")
    # Another host's, or an older name (no pid): only its age tells.
    return pid.isdigit() and writer_gone(int(pid), host)


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


def open_store(config: CacheConfig, context: CacheRecord) -> JoblibStore:
    """Open the joblib store for one function (the registry's opener)."""
    return JoblibStore(config, context)
