r"""The secret that authenticates every stored entry: where it lives, how it is made and repaired.

The HMAC key of the envelopes (see `envelope`) lives OUTSIDE every cache folder, so sharing or
copying a cache folder never shares the power to forge entries:

1. `$TWAT_CACHE_SECRET`, when set: the key is derived from its value (share the value between
   hosts that share a cache, e.g. on Redis);
2. else a random 32-byte key file `secret` in twat-cache's config folder (`config_root()`:
   `$XDG_CONFIG_HOME/twat_cache` or `~/.config/twat_cache` on Linux, `~/Library/Application
   Support/twat_cache` on macOS, `%APPDATA%\\twat_cache` on Windows), created once with mode
   0o600 (its folder 0o700 when twat-cache creates it).

Creating and repairing the key file is serialized between processes by a lock file next to it,
so processes starting at once all end up with one key. A key file that is corrupt (not 32
bytes), a symlink, group/world readable or writable, or not owned by the user is replaced by a
new key with one WARNING on the `twat_cache` logger: entries sealed with the old key become
misses (an attacker who could read or plant the old key cannot forge new entries).

The key is resolved once per process per source (per `TWAT_CACHE_SECRET` value, per config
folder) and cached, so `load_secret()` on a hot path costs a few dictionary lookups, with no
`pathlib` and no file access; deleting the key file later changes nothing for this process.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import suppress

from twat_cache._log import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ENV_SECRET", "KEY_FILE", "KEY_SIZE", "Secret", "config_root", "load_secret"]

ENV_SECRET = "TWAT_CACHE_SECRET"
#: Name of the key file in `config_root()`.
KEY_FILE = "secret"
KEY_SIZE = 32
#: Bytes of the key's id (`Secret.id` is their hex form, twice as long).
ID_SIZE = 8

_WINDOWS = sys.platform == "win32"
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)

_lock = threading.Lock()
#: TWAT_CACHE_SECRET value (str, or bytes as os.environ keeps it on POSIX) -> its Secret
_by_value: dict[object, Secret] = {}
#: the variables that decide the config folder -> the key file's Secret
_by_place: dict[tuple[object, ...], Secret] = {}
_environ = os.environ
_RAW_ENV = not _WINDOWS and isinstance(getattr(os.environ, "_data", None), dict)
#: What decides the config folder where os.environ's own dict is not used (Windows).
_PLACE = ("XDG_CONFIG_HOME", "HOME", "APPDATA", "USERPROFILE")


class Secret:
    """One secret: `key` (32 bytes, never shown) and `id`, a short hex tag derived from it.

    The id is a one-way digest of the key: safe to log, to put in entry headers and names, and
    equal for two processes exactly when they share the key. Frozen; compared by key.
    """

    __slots__ = ("id", "key", "tag")

    key: bytes
    id: str
    #: `id` as bytes (what envelope headers carry).
    tag: bytes

    def __init__(self, key: bytes) -> None:
        if type(key) is not bytes or len(key) != KEY_SIZE:
            raise ValueError(f"key: expected {KEY_SIZE} bytes, got {type(key).__name__}")
        import hashlib  # noqa: PLC0415  (kept off `import twat_cache`)

        tag = hashlib.sha256(b"twat-cache-secret-id\x00" + key).digest()[:ID_SIZE]
        object.__setattr__(self, "key", key)
        object.__setattr__(self, "tag", tag)
        object.__setattr__(self, "id", tag.hex())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Secret is frozen; cannot set {name}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Secret is frozen")

    def __eq__(self, other: object) -> bool:
        if type(other) is not Secret:
            return NotImplemented
        import hmac  # noqa: PLC0415

        return hmac.compare_digest(self.key, other.key)

    def __hash__(self) -> int:
        return hash(self.tag)

    def __repr__(self) -> str:
        return f"Secret(id={self.id!r})"

    def __reduce__(self) -> tuple[object, ...]:
        return (Secret, (self.key,))


def config_root() -> Path:
    """twat-cache's folder in the user's config folder, where the key file lives (see module)."""
    from pathlib import Path  # noqa: PLC0415

    from twat_cache.paths import config_root_str  # noqa: PLC0415

    return Path(config_root_str())


def load_secret() -> Secret:
    """The secret of this process: `$TWAT_CACHE_SECRET`, else the config folder's key file.

    The key file is created (0o600) when missing and replaced, with one warning, when it is
    corrupt, a symlink, readable or writable by others, or owned by another user. Resolved once
    per process per source, then answered from memory. Should the key file be impossible to
    create (a read-only config folder), a key for this process only is used, with one warning:
    caching keeps working, and other processes simply do not read these entries.
    """
    if _RAW_ENV:
        # os.environ's own dict (bytes keys on POSIX): a lookup of a missing variable through
        # os.environ.get raises and catches KeyError, which would triple the cost of a hit.
        data = _environ._data  # type: ignore[attr-defined]
        raw = data.get(b"TWAT_CACHE_SECRET")
        if raw:
            secret = _by_value.get(raw)
            if secret is None:
                secret = _by_value[raw] = _from_value(os.fsdecode(raw))
            return secret
        place: tuple[object, ...] = (data.get(b"XDG_CONFIG_HOME"), data.get(b"HOME"))
    else:
        value = _environ.get(ENV_SECRET)
        if value:
            secret = _by_value.get(value)
            if secret is None:
                secret = _by_value[value] = _from_value(value)
            return secret
        place = tuple(_environ.get(name) for name in _PLACE)
    secret = _by_place.get(place)
    if secret is None:
        secret = _from_file(place)
    return secret


def _from_value(value: str) -> Secret:
    import hashlib  # noqa: PLC0415

    derived = hashlib.sha256(b"twat-cache-secret\x00" + value.encode("utf-8", "surrogatepass"))
    return Secret(derived.digest())


def _from_file(place: tuple[object, ...]) -> Secret:
    from twat_cache.paths import config_root_str  # noqa: PLC0415

    with _lock:
        secret = _by_place.get(place)
        if secret is not None:
            return secret
        folder = config_root_str()
        path = os.path.join(folder, KEY_FILE)
        key, problem = _read_key(path)
        if key is None:
            key = _make_key(folder, path, problem)
        secret = _by_place[place] = Secret(key)
        return secret


def _read_key(path: str) -> tuple[bytes | None, str | None]:
    """(key, None) for a sound key file; (None, what is wrong) otherwise (None: it is missing)."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except FileNotFoundError:
        return None, None
    except OSError as exc:  # ELOOP: a symlink; EACCES: not ours
        return None, f"cannot be opened safely ({type(exc).__name__}: {exc})"
    try:
        import stat  # noqa: PLC0415

        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, "is not a regular file"
        if not _WINDOWS:
            if info.st_uid != os.geteuid():
                return None, f"is owned by another user (uid {info.st_uid})"
            mode = stat.S_IMODE(info.st_mode)
            if mode & 0o077:
                return None, f"is readable or writable by others (mode {mode:#o})"
        data = os.read(fd, KEY_SIZE + 1)
    except OSError as exc:
        return None, f"cannot be read ({type(exc).__name__}: {exc})"
    finally:
        os.close(fd)
    if len(data) != KEY_SIZE:
        return None, f"is corrupt ({len(data)} bytes, expected {KEY_SIZE})"
    return data, None


def _make_key(folder: str, path: str, problem: str | None) -> bytes:
    """Create (or replace) the key file under the config folder's lock; return the key in it."""
    import secrets  # noqa: PLC0415

    from twat_cache.locks import file_lock  # noqa: PLC0415
    from twat_cache.paths import private_dir  # noqa: PLC0415

    try:
        private_dir(folder)
        with file_lock(os.path.join(folder, KEY_FILE + ".lock")):
            # Another process may have created or repaired it while we waited: use its key.
            key, problem_now = _read_key(path)
            if key is not None:
                return key
            _write_private(folder, path, secrets.token_bytes(KEY_SIZE))
            key, problem_now = _read_key(path)
            if key is None:
                raise OSError(f"the new key file {problem_now or 'vanished'}")
    except OSError as exc:
        logger.warning(
            "cannot create the secret key file %s (%s: %s); using a key for this "
            "process only: entries it stores are misses for other processes",
            path,
            type(exc).__name__,
            exc,
        )
        return secrets.token_bytes(KEY_SIZE)
    if problem is not None:
        logger.warning(
            "the secret key file %s %s; replaced it with a new key (entries "
            "sealed with the old key are misses from now on)",
            path,
            problem,
        )
    return key


def _write_private(folder: str, path: str, data: bytes) -> None:
    """Write `data` to a new 0o600 file and rename it over `path` (replacing a bad one)."""
    import tempfile  # noqa: PLC0415

    fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=folder)
    try:
        if not _WINDOWS:
            os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)  # replaces a symlink itself, never its target
    except BaseException:
        if fd >= 0:
            os.close(fd)
        with suppress(OSError):
            os.unlink(tmp)
        raise


def forget() -> None:
    """Drop the secrets this process resolved (tests; after rotating a key file by hand)."""
    with _lock:
        _by_value.clear()
        _by_place.clear()
