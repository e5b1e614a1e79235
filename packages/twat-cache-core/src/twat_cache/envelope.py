"""The sealed envelope of every persistent entry: HMAC-SHA256, the secret's id, a deadline.

Layout (all of it but the MAC covered by the MAC, together with the entry's `context`):

    "TWC2" | flags (1) | secret id (8) | [deadline (8, big-endian double)] | HMAC (32) | payload

- The payload is a pickle, optionally encrypted with Fernet (`encrypt=True`, a key derived
  from the same secret; needs `cryptography`).
- `context` binds the envelope to where it is stored (the entry's key digest): an envelope
  copied under another key is refused.
- The header names the id of the secret that sealed it. An envelope sealed under ANOTHER secret
  raises `ForeignEntry` before any MAC is computed: callers treat it as a miss, warn at most once
  per cache and do NOT delete it (it belongs to a process with another secret). Anything else
  that does not verify raises `CorruptEntry`: tampered, truncated, not an envelope at all.
- Nothing is unpickled before the MAC matches, so a forged entry never runs code.
- `deadline` (wall-clock seconds, or None) is authenticated too; `unseal` returns it and leaves
  the decision (expired or not) to the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import pickle
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from twat_cache.secret import Secret

__all__ = [
    "HEADER_SIZE",
    "CorruptEntry",
    "EncryptionUnavailable",
    "ForeignEntry",
    "check_encryption",
    "deadline_of",
    "seal",
    "unseal",
]

MAGIC = b"TWC2"
#: flags
ENCRYPTED = 1
DEADLINE = 2
_KNOWN = ENCRYPTED | DEADLINE
_TAG = 8
_MAC = 32
_FIXED = len(MAGIC) + 1 + _TAG  # magic, flags, secret id
_DOUBLE = struct.Struct(">d")
#: The header of an envelope with a deadline: magic, flags, secret id, deadline.
_HEADER = struct.Struct(">4sB8sd")
#: Bytes to read of a stored envelope to find its deadline (`deadline_of`).
HEADER_SIZE = _HEADER.size
#: Payloads up to this size are MACed in one C call (copying them is cheaper than two updates).
_ONE_SHOT = 1 << 16

_fernets: dict[bytes, Any] = {}


class CorruptEntry(Exception):
    """A stored entry is truncated, tampered with or not an entry: a miss (drop it, log it)."""


class ForeignEntry(CorruptEntry):
    """An intact-looking entry sealed under another secret: a miss, but not ours to delete."""


class EncryptionUnavailable(ImportError):
    """`encrypt=True` needs the `cryptography` package (`pip install twat-cache[encrypt]`)."""


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


def _mac(key: bytes, head: bytes, context: bytes, payload: bytes | memoryview) -> bytes:
    """HMAC-SHA256 over the header (flags, id, deadline), the context and the payload."""
    start = head + len(context).to_bytes(4, "big") + context
    if len(payload) <= _ONE_SHOT:
        return hmac.digest(key, start + payload, "sha256")
    mac = hmac.new(key, start, hashlib.sha256)
    mac.update(payload)  # no copy of a large payload
    return mac.digest()


def seal(
    value: Any,
    *,
    secret: Secret,
    context: bytes,
    deadline: float | None = None,
    encrypt: bool = False,
) -> bytes:
    """Pickle `value` into an authenticated (optionally encrypted) envelope under `secret`.

    `context` binds the envelope to where it is stored (the entry's key): `unseal` with another
    context refuses it. `deadline` (epoch seconds) travels authenticated with it. Raises
    whatever pickling raises for a value that cannot be pickled, and `EncryptionUnavailable`
    for `encrypt=True` without `cryptography`.
    """
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    flags = 0
    if encrypt:
        payload = _fernet(secret.key).encrypt(payload)
        flags |= ENCRYPTED
    when = b""
    if deadline is not None:
        flags |= DEADLINE
        when = _DOUBLE.pack(float(deadline))
    head = MAGIC + bytes((flags,)) + secret.tag + when
    return b"".join((head, _mac(secret.key, head[4:], context, payload), payload))


def deadline_of(head: bytes, secret: Secret) -> float | None:
    """The deadline in an envelope's first `HEADER_SIZE` bytes, when `secret` sealed it with one.

    Read without authentication, only to find expired entries (prune, eviction): a forged
    header can at worst make its own entry, unreadable anyway, be collected early.
    """
    if len(head) < _HEADER.size:
        return None
    magic, flags, tag, deadline = _HEADER.unpack_from(head)
    if magic != MAGIC or not flags & DEADLINE or tag != secret.tag:
        return None
    return float(deadline)


def unseal(
    blob: bytes | bytearray | memoryview, *, secret: Secret, context: bytes
) -> tuple[Any, float | None]:
    """Verify an envelope made by `seal` under `secret`; return `(value, deadline)`.

    Raises `ForeignEntry` when another secret sealed it, `CorruptEntry` when it is not intact
    (or not an envelope at all: a column or file that holds something else). Nothing is
    unpickled before the HMAC matches.
    """
    if type(blob) is not bytes:
        # Only buffers: bytes(<int read from a tampered row>) would allocate that many bytes.
        if not isinstance(blob, (bytearray, memoryview)):
            raise CorruptEntry(f"not a twat-cache entry (a {type(blob).__name__})")
        blob = bytes(blob)
    if len(blob) < _FIXED + _MAC or blob[:4] != MAGIC:
        raise CorruptEntry("not a twat-cache entry (bad header or truncated)")
    flags = blob[4]
    if flags & ~_KNOWN:
        raise CorruptEntry(f"unknown entry flags {flags}")
    end = _FIXED + (_DOUBLE.size if flags & DEADLINE else 0)
    if len(blob) < end + _MAC:
        raise CorruptEntry("not a twat-cache entry (truncated header)")
    if blob[5:_FIXED] != secret.tag:
        raise ForeignEntry(
            f"sealed under another secret (id {blob[5:_FIXED].hex()}, this process: {secret.id})"
        )
    view = memoryview(blob)
    payload = view[end + _MAC :]  # a view: large entries are not copied
    if not hmac.compare_digest(
        view[end : end + _MAC], _mac(secret.key, blob[4:end], context, payload)
    ):
        raise CorruptEntry(
            "authentication failed (tampered, truncated or stored under another key)"
        )
    deadline = _DOUBLE.unpack_from(blob, _FIXED)[0] if flags & DEADLINE else None
    if flags & ENCRYPTED:
        try:
            payload = memoryview(_fernet(secret.key).decrypt(bytes(payload)))
        except EncryptionUnavailable:
            raise
        except Exception as exc:
            raise CorruptEntry(f"cannot decrypt entry: {exc}") from exc
    try:
        value = pickle.loads(payload)
    except Exception as exc:
        raise CorruptEntry(f"cannot unpickle entry: {exc}") from exc
    return value, deadline
