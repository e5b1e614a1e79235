"""Safe storage for every persistent backend: authenticated entries, atomic writes, private files.

Every entry a disk, file or network backend stores is a sealed envelope:
`MAGIC | flags | HMAC-SHA256 | payload`, where the payload is a pickle (optionally encrypted
with Fernet) and the HMAC covers the flags, the payload and the entry's own key, so an entry
copied under another key is refused too. The HMAC is verified before anything is unpickled.
The secret comes from `$TWAT_CACHE_SECRET`, else from a key file created 0o600 in the cache
root. Files are written to a private temporary file and renamed into place, so a writer killed
half-way never leaves a half entry under the real name.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import pickle
import secrets
import sys
import tempfile
import threading
from contextlib import suppress
from pathlib import Path
from typing import Any

from twat_cache.paths import FILE_MODE, cache_root, secure_dir

logger = logging.getLogger("twat_cache")

__all__ = ["CorruptEntry", "EncryptionUnavailable", "atomic_write", "seal", "secret_key", "unseal"]

MAGIC = b"TWC1"
_PLAIN = 0
_ENCRYPTED = 1
_MAC_SIZE = 32
_HEADER = len(MAGIC) + 1 + _MAC_SIZE
_ONE_SHOT = 1 << 16  # payloads up to this size are MACed in one C call (a copy is cheaper)
KEY_FILE = ".twat_cache_secret"

_lock = threading.Lock()
_keys: dict[str, bytes] = {}
_env_keys: dict[str, bytes] = {}
_fernets: dict[bytes, Any] = {}


class CorruptEntry(Exception):
    """A stored entry is truncated, tampered with, or from another secret: treat it as a miss."""


class EncryptionUnavailable(ImportError):
    """`encrypt=True` needs the `cryptography` package (`pip install twat-cache[encrypt]`)."""


def secret_key(root: Path | None = None) -> bytes:
    """The HMAC secret: `$TWAT_CACHE_SECRET`, else the root's key file (created 0o600 once)."""
    env = os.environ.get("TWAT_CACHE_SECRET")
    if env:
        derived = _env_keys.get(env)
        if derived is None:
            derived = _env_keys[env] = hashlib.sha256(
                b"twat-cache-secret\x00" + env.encode()
            ).digest()
        return derived
    if root is None:
        # Every hit of a disk cache needs the key: remember it per $TWAT_CACHE_DIR value so the
        # hot path skips building the root's Path (the key file itself never changes).
        spot = os.environ.get("TWAT_CACHE_DIR")
        if spot:
            cached = _keys.get(spot)
            if cached is not None:
                return cached
        root = cache_root()
    cached = _keys.get(str(root))
    if cached is not None:
        return cached
    with _lock:
        path = root / KEY_FILE
        key = _read_key(path)
        if key is None:
            secure_dir(root)
            with suppress(FileExistsError):  # another process won the race: use its key
                atomic_write(path, secrets.token_bytes(32), overwrite=False)
            key = _read_key(path)
            if key is None:
                raise OSError(f"twat_cache: cannot read or create the key file {path}")
        _keys[str(root)] = key
        spot = os.environ.get("TWAT_CACHE_DIR")
        if spot and Path(spot).expanduser() == root:
            _keys[spot] = key
        return key


def _read_key(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return data if len(data) == 32 else None


def _fernet(key: bytes) -> Any:
    try:
        import base64  # noqa: PLC0415

        from cryptography.fernet import Fernet  # noqa: PLC0415
    except ImportError as exc:
        raise EncryptionUnavailable(
            "encrypt=True needs the 'cryptography' package: pip install 'twat-cache[encrypt]'"
        ) from exc
    fernet = _fernets.get(key)
    if fernet is None:
        derived = hashlib.sha256(b"twat-cache-encrypt\x00" + key).digest()
        fernet = _fernets[key] = Fernet(base64.urlsafe_b64encode(derived))
    return fernet


def check_encryption() -> None:
    """Raise `EncryptionUnavailable` now (at decoration time) if `cryptography` is missing."""
    _fernet(b"\x00" * 32)


def _mac(key: bytes, flags: int, context: bytes, payload: bytes | memoryview) -> bytes:
    """HMAC-SHA256 over flags, context and payload (one C call for small payloads)."""
    head = bytes((flags,)) + context + b"\x00"
    if len(payload) <= _ONE_SHOT:
        return hmac.digest(key, head + payload, "sha256")
    mac = hmac.new(key, head, hashlib.sha256)
    mac.update(payload)  # no copy of a large payload
    return mac.digest()


def seal(
    value: Any, *, context: bytes = b"", encrypt: bool = False, root: Path | None = None
) -> bytes:
    """Pickle `value` into an authenticated (and optionally encrypted) envelope.

    `context` binds the envelope to where it is stored (the entry's key): `unseal` with another
    context refuses it. Raises whatever pickling raises for a value that cannot be pickled.
    """
    key = secret_key(root)
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    flags = _PLAIN
    if encrypt:
        payload = _fernet(key).encrypt(payload)
        flags = _ENCRYPTED
    return b"".join((MAGIC, bytes((flags,)), _mac(key, flags, context, payload), payload))


def unseal(blob: bytes | memoryview, *, context: bytes = b"", root: Path | None = None) -> Any:
    """Verify an envelope made by `seal` and return its value; `CorruptEntry` if it is not intact.

    Nothing is unpickled before the HMAC matches, so a tampered entry never runs code.
    """
    if type(blob) is not bytes:
        # Only buffers: bytes(<int read from a tampered row>) would allocate that many bytes.
        if not isinstance(blob, (bytearray, memoryview)):
            raise CorruptEntry(f"not a twat-cache entry (a {type(blob).__name__})")
        blob = bytes(blob)
    if len(blob) < _HEADER or blob[:4] != MAGIC:
        raise CorruptEntry("not a twat-cache entry (bad header or truncated)")
    flags = blob[4]
    view = memoryview(blob)
    payload = view[_HEADER:]  # a view: large entries are not copied
    key = secret_key(root)
    if not hmac.compare_digest(view[5:_HEADER], _mac(key, flags, context, payload)):
        raise CorruptEntry("authentication failed (tampered, truncated, or another secret)")
    if flags == _ENCRYPTED:
        try:
            payload = memoryview(_fernet(key).decrypt(bytes(payload)))
        except EncryptionUnavailable:
            raise
        except Exception as exc:
            raise CorruptEntry(f"cannot decrypt entry: {exc}") from exc
    elif flags != _PLAIN:
        raise CorruptEntry(f"unknown entry flags {flags}")
    try:
        return pickle.loads(payload)
    except Exception as exc:
        raise CorruptEntry(f"cannot unpickle entry: {exc}") from exc


def atomic_write(path: Path, data: bytes, *, overwrite: bool = True) -> None:
    """Write `data` to `path` through a private temp file + fsync + rename (mode 0o600).

    With `overwrite=False` an existing `path` is left alone and `FileExistsError` is raised.
    """
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        if sys.platform != "win32":
            os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if path exists: no clobbering a concurrent writer
            os.unlink(tmp)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
