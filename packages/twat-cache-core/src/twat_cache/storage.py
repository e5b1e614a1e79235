"""Safe storage helpers: the envelope for plugins written against 3.0 betas, and atomic writes.

The envelope lives in `twat_cache.envelope` (`seal(value, secret=..., context=...)`, `unseal`
returning `(value, deadline)`) and the secret in `twat_cache.secret`. This module keeps the
older import path and call shape working for existing plugins and examples: `seal(value,
context=...)` and `unseal(blob, context=...) -> value`, with the process's secret
(`load_secret()`) unless one is passed. `atomic_write` (in `paths`) is re-exported here for
the same reason.
"""

from __future__ import annotations

from twat_cache import envelope
from twat_cache.envelope import (
    CorruptEntry,
    EncryptionUnavailable,
    ForeignEntry,
    check_encryption,
)
from twat_cache.paths import atomic_write
from twat_cache.secret import Secret, load_secret

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CorruptEntry",
    "EncryptionUnavailable",
    "ForeignEntry",
    "Secret",
    "atomic_write",
    "check_encryption",
    "load_secret",
    "seal",
    "unseal",
]


def seal(
    value: Any,
    *,
    context: bytes = b"",
    encrypt: bool = False,
    deadline: float | None = None,
    secret: Secret | None = None,
) -> bytes:
    """`envelope.seal` with the process's secret unless `secret` is given."""
    return envelope.seal(
        value,
        secret=load_secret() if secret is None else secret,
        context=context,
        deadline=deadline,
        encrypt=encrypt,
    )


def unseal(
    blob: bytes | bytearray | memoryview, *, context: bytes = b"", secret: Secret | None = None
) -> Any:
    """`envelope.unseal`, returning the value only (the deadline is dropped)."""
    secret = load_secret() if secret is None else secret
    return envelope.unseal(blob, secret=secret, context=context)[0]
