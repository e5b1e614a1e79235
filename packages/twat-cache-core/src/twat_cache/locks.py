"""Cross-process single flight from the standard library: one lock file, many byte-range stripes.

A persistent store serializes the computation of a missing key across processes with
`StripedLocks`: ONE lock file per store, and a byte-range lock (POSIX record locks through
`fcntl.lockf`, `msvcrt.locking` on Windows) on stripe `int(digest[:8], 16) % stripes` of it. The
number of lock files is therefore bounded by the number of stores, never by the keys seen, and
two keys that share a stripe merely share a wait (never an entry).

`hold(digest)` yields True when the stripe was taken and False when it was not: the wait timed
out, the lock file cannot be made (one warning), or the holder is an ancestor process of the
caller. The caller computes in every case, so a waiter never hangs: a function that calls its own
key from a child process (its parent holds the stripe and waits for the child) gets an answer,
as with `functools.lru_cache`. The holder's pid is written at the stripe's slot of the file (a
separate byte range from the lock bytes, which Windows locks mandatorily), and the caller's
parent chain is compared with it.

POSIX record locks belong to a process, not to a thread or a file descriptor: a second lock of a
range the process holds "succeeds", and closing any descriptor of the file drops all of the
process's locks on it. So one `_LockFile` per path and process keeps a count of holders per
stripe: threads of one process share a held stripe (never blocking each other; in-process single
flight is the wrapper's job) and the range is unlocked when the last of them leaves. The file is
opened when the process takes its first stripe and closed when it releases its last one, which
also picks up a lock file that was removed meanwhile. A child made by `fork()` holds no record
locks: `os.register_at_fork` gives it empty counts and fresh mutexes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import suppress

from twat_cache._log import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

__all__ = ["DEFAULT_TIMEOUT", "ENV_TIMEOUT", "StripedLocks", "file_lock", "wait_timeout"]

#: Seconds a caller waits for another process computing the same key, unless configured.
DEFAULT_TIMEOUT = 60.0
#: The environment variable that sets the default wait (seconds, a number >= 0).
ENV_TIMEOUT = "TWAT_CACHE_WAIT_TIMEOUT"
#: Lock bytes live far beyond the pid slots: locking past the end of a file is allowed on every
#: platform and writes nothing, and on Windows (mandatory locks) the slots stay readable.
LOCK_BASE = 1 << 30
#: Bytes per pid slot (little-endian pid of the stripe's holder; 0 when free).
SLOT = 8
#: Longest pause between two attempts while waiting (seconds).
MAX_BACKOFF = 0.05

_FLAGS = (
    os.O_RDWR
    | os.O_CREAT
    | getattr(os, "O_NOFOLLOW", 0)  # a planted symlink never makes us write elsewhere
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)
_FILE_MODE = 0o600

if sys.platform == "win32":  # pragma: no cover  (exercised on Windows only)
    import msvcrt

    def _try_lock(fd: int, offset: int) -> None:
        os.lseek(fd, offset, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int, offset: int) -> None:
        os.lseek(fd, offset, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

    def _busy(exc: OSError) -> bool:
        return True  # msvcrt reports a locked range as a plain OSError (EACCES / EDEADLOCK)

    def _pread(fd: int, n: int, offset: int) -> bytes:
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, n)

    def _pwrite(fd: int, data: bytes, offset: int) -> None:
        os.lseek(fd, offset, os.SEEK_SET)
        os.write(fd, data)

else:
    import errno
    import fcntl

    def _try_lock(fd: int, offset: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, offset, os.SEEK_SET)

    def _unlock(fd: int, offset: int) -> None:
        fcntl.lockf(fd, fcntl.LOCK_UN, 1, offset, os.SEEK_SET)

    def _busy(exc: OSError) -> bool:
        return exc.errno in (errno.EACCES, errno.EAGAIN)

    def _pread(fd: int, n: int, offset: int) -> bytes:
        return os.pread(fd, n, offset)

    def _pwrite(fd: int, data: bytes, offset: int) -> None:
        os.pwrite(fd, data, offset)


def wait_timeout(value: object = None) -> float:
    """The cross-process wait in seconds: `value`, else `$TWAT_CACHE_WAIT_TIMEOUT`, else 60.

    A number >= 0 (0: never wait) that is finite; anything else raises `ValueError` naming where
    the bad value came from and what is allowed.
    """
    source = "timeout"
    if value is None:
        raw = os.environ.get(ENV_TIMEOUT)
        if raw is None or not raw.strip():
            return DEFAULT_TIMEOUT
        source = f"${ENV_TIMEOUT}"
        try:
            value = float(raw)
        except ValueError:
            value = raw
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{source}: expected seconds as a number >= 0, got {value!r}")
    seconds = float(value)
    import math  # noqa: PLC0415

    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{source}: expected a finite number of seconds >= 0, got {value!r}")
    return seconds


class _LockFile:
    """The lock file at one path, as this process uses it (see the module docstring).

    `held` counts this process's holders per stripe; `fd` is open exactly while some stripe is
    held. Every field is guarded by `mutex`, which is never held while waiting.
    """

    __slots__ = ("fd", "held", "mutex", "path", "secure")

    def __init__(self, path: str, secure: bool = True) -> None:
        self.path = path
        self.secure = secure
        self.fd: int | None = None
        self.held: dict[int, int] = {}
        self.mutex = threading.Lock()

    def try_acquire(self, stripe: int) -> int | OSError | None:
        """Take `stripe` without waiting.

        Returns None when taken (or already held by this process), the holder's pid (0 when
        unknown) when another process holds it, or the `OSError` that made locking impossible.
        """
        with self.mutex:
            count = self.held.get(stripe)
            if count:
                self.held[stripe] = count + 1
                return None
            fd = self.fd
            if fd is None:
                try:
                    fd = self.fd = _open_lock_file(self.path, self.secure)
                except OSError as exc:
                    return exc
            try:
                _try_lock(fd, LOCK_BASE + stripe)
            except OSError as exc:
                if not _busy(exc):
                    self._close_if_idle()
                    return exc
                try:
                    data = _pread(fd, SLOT, stripe * SLOT)
                except OSError:
                    data = b""
                self._close_if_idle()
                return int.from_bytes(data, "little") if len(data) == SLOT else 0
            self.held[stripe] = 1
            # The pid is a hint for ancestor detection: failing to write it is harmless.
            with suppress(OSError):
                _pwrite(fd, _pid_bytes(), stripe * SLOT)
            return None

    def release(self, stripe: int) -> None:
        """Drop one holder of `stripe`; the last one clears the pid slot and unlocks the range."""
        with self.mutex:
            count = self.held.get(stripe, 0) - 1
            if count > 0:
                self.held[stripe] = count
                return
            self.held.pop(stripe, None)
            fd = self.fd
            if fd is None:  # pragma: no cover  (reset by fork while held: nothing to unlock)
                return
            with suppress(OSError):
                _pwrite(fd, bytes(SLOT), stripe * SLOT)
            try:
                _unlock(fd, LOCK_BASE + stripe)
            except OSError as exc:  # pragma: no cover  (closing below releases it anyway)
                logger.debug("unlocking %s failed: %s", self.path, exc)
            self._close_if_idle()

    def _close_if_idle(self) -> None:
        """Close the file once no stripe is held (closing drops every lock of this process)."""
        if not self.held and self.fd is not None:
            fd, self.fd = self.fd, None
            with suppress(OSError):
                os.close(fd)

    def reset_after_fork(self) -> None:
        """In a fork child: no record lock was inherited; forget the parent's holders."""
        self.mutex = threading.Lock()
        self.held = {}
        fd, self.fd = self.fd, None
        if fd is not None:
            with suppress(OSError):
                os.close(fd)  # the child's copy only: the parent's locks are its own


def _open_lock_file(path: str, secure: bool = True) -> int:
    """Open (creating 0o600, and its missing folders 0o700) the lock file at `path`.

    With `secure=False` (a cache a team shares) what is created gets the umask's mode.
    """
    mode = _FILE_MODE if secure else 0o666
    try:
        fd = os.open(path, _FLAGS, mode)
    except FileNotFoundError:
        from twat_cache.paths import private_dir  # noqa: PLC0415  (paths imports config)

        private_dir(os.path.dirname(path), secure=secure)
        fd = os.open(path, _FLAGS, mode)
    return fd


_files: dict[str, _LockFile] = {}
_path_mutexes: dict[str, threading.Lock] = {}
_files_lock = threading.Lock()
_pid: list[bytes] = []
_chain: list[tuple[int, frozenset[int]]] = []


def _lock_file(path: str, secure: bool = True) -> _LockFile:
    """The one `_LockFile` of `path` in this process (two would release each other's locks)."""
    key = os.path.normcase(os.path.abspath(path))
    with _files_lock:
        file = _files.get(key)
        if file is None:
            file = _files[key] = _LockFile(key, secure)
        elif not secure:
            file.secure = False  # one user shares the cache: the file it creates follows the umask
        return file


def _pid_bytes() -> bytes:
    if not _pid:
        _pid.append(os.getpid().to_bytes(SLOT, "little"))
    return _pid[0]


def _after_fork_in_child() -> None:
    global _files_lock
    _files_lock = threading.Lock()
    _pid.clear()
    _chain.clear()
    _path_mutexes.clear()
    for file in _files.values():
        file.reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _parent_of(pid: int) -> int:
    """The parent of `pid` from /proc (Linux); 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return 0
    # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
    fields = stat[stat.rfind(b")") + 2 :].split()
    try:
        return int(fields[1])
    except (IndexError, ValueError):
        return 0


def ancestors() -> frozenset[int]:
    """The pids of this process's parent chain (Linux: up to init; elsewhere: the parent).

    Cached per process and recomputed when the parent changes (re-parenting, fork).
    """
    parent = os.getppid()
    if _chain and _chain[0][0] == parent:
        return _chain[0][1]
    chain: set[int] = set()
    pid = parent
    while pid > 1 and pid not in chain and len(chain) < 4096:
        chain.add(pid)
        pid = _parent_of(pid) if sys.platform.startswith("linux") else 0
    found = frozenset(chain)
    _chain[:] = [(parent, found)]
    return found


class _Hold:
    """The context manager of one `hold`/`ahold`: enters with True when the stripe was taken."""

    __slots__ = ("locks", "stripe", "taken")

    def __init__(self, locks: StripedLocks, stripe: int) -> None:
        self.locks = locks
        self.stripe = stripe
        self.taken = False

    def __enter__(self) -> bool:
        self.taken = self.locks._acquire(self.stripe)
        return self.taken

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.taken:
            self.taken = False
            self.locks._file.release(self.stripe)

    async def __aenter__(self) -> bool:
        self.taken = await self.locks._aacquire(self.stripe)
        return self.taken

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(kind, exc, tb)


class StripedLocks:
    """Bounded cross-process locks for one store: one file at `path`, `stripes` byte ranges.

    `timeout` is how long `hold` waits for another process (seconds; default
    `$TWAT_CACHE_WAIT_TIMEOUT`, else 60); `name` names the store in the (at most one per
    kind) warnings; `secure=False` (the cache's option) creates the lock file with the
    umask's mode rather than 0o600. Construction touches no file: the lock file is made on
    the first hold.
    Every process using one file must use the same `stripes` (stores pass the default), or
    they merely stop excluding each other.
    """

    __slots__ = ("_file", "_warned", "name", "path", "stripes", "timeout")

    def __init__(
        self,
        path: str | os.PathLike[str] | Path,
        *,
        stripes: int = 1024,
        timeout: float | None = None,
        name: str | None = None,
        secure: bool = True,
    ) -> None:
        if isinstance(stripes, bool) or not isinstance(stripes, int) or not 1 <= stripes <= 1 << 20:
            raise ValueError(f"stripes: expected an int from 1 to 1048576, got {stripes!r}")
        self.path = os.fspath(path)
        self.stripes = stripes
        self.timeout = wait_timeout(timeout)
        self.name = name or self.path
        self._file = _lock_file(self.path, secure)
        self._warned: set[str] = set()

    def stripe(self, digest: str) -> int:
        """The stripe of a hex `digest`: `int(digest[:8], 16) % stripes`."""
        try:
            return int(digest[:8], 16) % self.stripes
        except (TypeError, ValueError):
            raise ValueError(
                f"digest: expected a hex string of at least one digit, got {digest!r}"
            ) from None

    def hold(self, digest: str) -> _Hold:
        """Hold `digest`'s stripe against other processes; enters with True when taken.

        False means the caller goes ahead unlocked: the wait timed out, the holder is an
        ancestor of this process, or no lock file can be made here.
        """
        return _Hold(self, self.stripe(digest))

    def ahold(self, digest: str) -> _Hold:
        """The asyncio twin of `hold`: `async with`; waiting sleeps, never blocking the loop."""
        return _Hold(self, self.stripe(digest))

    def held(self) -> dict[int, int]:
        """How many holders this process has per stripe of the file (a copy: tests, stats)."""
        with self._file.mutex:
            return dict(self._file.held)

    # -- waiting --------------------------------------------------------------------------------

    def _attempt(self, stripe: int) -> bool | float:
        """One try: True taken, False give up (reason logged), or a positive float: keep waiting."""
        outcome = self._file.try_acquire(stripe)
        if outcome is None:
            return True
        if isinstance(outcome, OSError):
            self._warn(
                "open",
                "%s: no cross-process lock (%s: %s); computing without it",
                self.name,
                type(outcome).__name__,
                outcome,
            )
            return False
        if outcome and outcome in ancestors():
            return False  # our ancestor holds it and may be waiting for us: compute
        return 1.0

    def _give_up(self, waited: float) -> bool:
        self._warn(
            "timeout",
            "%s: waited %.1f s for another process computing the same key; computing it here too",
            self.name,
            waited,
        )
        return False

    def _acquire(self, stripe: int) -> bool:
        result = self._attempt(stripe)
        if result is not True and result is not False:
            start = time.monotonic()
            deadline = start + self.timeout
            delay = 0.001
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return self._give_up(now - start)
                time.sleep(min(delay, deadline - now))
                delay = min(delay * 2, MAX_BACKOFF)
                result = self._attempt(stripe)
                if result is True or result is False:
                    break
        return bool(result)

    async def _aacquire(self, stripe: int) -> bool:
        import asyncio  # noqa: PLC0415  (imported already by whoever runs a coroutine)

        result = self._attempt(stripe)
        if result is not True and result is not False:
            start = time.monotonic()
            deadline = start + self.timeout
            delay = 0.001
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return self._give_up(now - start)
                await asyncio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, MAX_BACKOFF)
                result = self._attempt(stripe)
                if result is True or result is False:
                    break
        return bool(result)

    def _warn(self, topic: str, message: str, *args: object) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            logger.warning(message, *args)
        else:
            logger.debug(message, *args)


def file_lock(path: str | os.PathLike[str], *, timeout: float = 30.0) -> _FileLock:
    """An exclusive whole-file lock on `path` (created 0o600) for short critical sections.

    Used where every process must agree on one outcome (creating or repairing the secret,
    creating an SQLite schema). Enters with True when locked, False when `timeout` passed or
    the file cannot be made; the caller then goes ahead (and re-checks what it protects).
    """
    return _FileLock(os.fspath(path), timeout)


class _FileLock:
    """See `file_lock`: an in-process mutex per path, then a record lock on its own descriptor.

    Record locks do not exclude threads of one process (and closing a descriptor drops them),
    so threads of a process first queue on the path's mutex.
    """

    __slots__ = ("fd", "mutex", "path", "timeout")

    def __init__(self, path: str, timeout: float) -> None:
        self.path = os.path.normcase(os.path.abspath(path))
        self.timeout = timeout
        self.fd: int | None = None
        with _files_lock:
            mutex = _path_mutexes.get(self.path)
            if mutex is None:
                mutex = _path_mutexes[self.path] = threading.Lock()
        self.mutex = mutex

    def __enter__(self) -> bool:
        deadline = time.monotonic() + self.timeout
        if not self.mutex.acquire(timeout=self.timeout):
            return False
        try:
            fd = _open_lock_file(self.path)
        except OSError as exc:
            self.mutex.release()
            logger.debug("cannot lock %s: %s", self.path, exc)
            return False
        delay = 0.001
        while True:
            try:
                _try_lock(fd, LOCK_BASE)
            except OSError as exc:
                if not _busy(exc) or time.monotonic() >= deadline:
                    os.close(fd)
                    self.mutex.release()
                    logger.debug("cannot lock %s: %s", self.path, exc)
                    return False
                time.sleep(delay)
                delay = min(delay * 2, MAX_BACKOFF)
                continue
            self.fd = fd
            return True

    def __exit__(self, *exc: object) -> None:
        fd, self.fd = self.fd, None
        if fd is None:
            return
        try:
            with suppress(OSError):  # closing releases it anyway
                _unlock(fd, LOCK_BASE)
        finally:
            os.close(fd)
            self.mutex.release()
