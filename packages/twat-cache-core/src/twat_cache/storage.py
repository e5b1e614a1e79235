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
from pathlib import Path
from typing import Any

from twat_cache.paths import FILE_MODE, cache_root, secure_dir

logger = logging.getLogger("twat_cache")

__all__ = ["CorruptEntry", "EncryptionUnavailable", "atomic_write", "secret_key", "seal", "unseal"]

MAGIC = b"TWC1"
_PLAIN = 0
_ENCRYPTED = 1
_MAC_SIZE = 32
_HEADER = len(MAGIC) + 1 + _MAC_SIZE
KEY_FILE = ".twat_cache_secret"

_lock = threading.Lock()
_keys: dict[str, bytes] = {}


class CorruptEntry(Exception):
    """A stored entry is truncated, tampered with, or from another secret: treat it as a miss."""


class EncryptionUnavailable(ImportError):
    """`encrypt=True` needs the `cryptography` package (`pip install twat-cache[encrypt]`)."""


def secret_key(root: Path | None = None) -> bytes:
    """The HMAC secret: `$TWAT_CACHE_SECRET`, else the root's key file (created 0o600 once)."""
    env = os.environ.get("TWAT_CACHE_SECRET")
    if env:
        return hashlib.sha256(b"twat-cache-secret\x00" + env.encode()).digest()
    root = cache_root() if root is None else root
    cached = _keys.get(str(root))
    if cached is not None:
        return cached
    with _lock:
        path = root / KEY_FILE
        key = _read_key(path)
        if key is None:
            secure_dir(root)
            try:
                atomic_write(path, secrets.token_bytes(32), overwrite=False)
            except FileExistsError:
                pass  # another process won the race; use its key
            key = _read_key(path)
            if key is None:
                raise OSError(f"twat_cache: cannot read or create the key file {path}")
        _keys[str(root)] = key
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
    derived = hashlib.sha256(b"twat-cache-encrypt\x00" + key).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def check_encryption() -> None:
    """Raise `EncryptionUnavailable` now (at decoration time) if `cryptography` is missing."""
    _fernet(b"\x00" * 32)


def seal(value: Any, *, context: bytes = b"", encrypt: bool = False, root: Path | None = None) -> bytes:
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
    mac = hmac.new(key, bytes([flags]) + context + b"\x00" + payload, hashlib.sha256).digest()
    return MAGIC + bytes([flags]) + mac + payload


def unseal(blob: bytes | memoryview, *, context: bytes = b"", root: Path | None = None) -> Any:
    """Verify an envelope made by `seal` and return its value; `CorruptEntry` if it is not intact.

    Nothing is unpickled before the HMAC matches, so a tampered entry never runs code.
    """
    data = bytes(blob)
    if len(data) < _HEADER or not data.startswith(MAGIC):
        raise CorruptEntry("not a twat-cache entry (bad header or truncated)")
    flags = data[len(MAGIC)]
    mac = data[len(MAGIC) + 1 : _HEADER]
    payload = data[_HEADER:]
    key = secret_key(root)
    expected = hmac.new(key, bytes([flags]) + context + b"\x00" + payload, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise CorruptEntry("authentication failed (tampered, truncated, or another secret)")
    if flags == _ENCRYPTED:
        try:
            payload = _fernet(key).decrypt(payload)
        except EncryptionUnavailable:
            raise
        except Exception as exc:
            raise CorruptEntry(f"cannot decrypt entry: {exc}") from exc
    elif flags != _PLAIN:
        raise CorruptEntry(f"unknown entry flags {flags}")
    try:
        return pickle.loads(payload)  # noqa: S301  (authenticated above)
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
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
