"""Safe storage helpers: the envelope for plugins written against 3.0 betas, and atomic writes.

The envelope lives in `twat_cache.envelope` (`seal(value, secret=..., context=...)`, `unseal`
returning `(value, deadline)`) and the secret in `twat_cache.secret`. This module keeps the
older import path and call shape working for existing plugins and examples: `seal(value,
context=...)` and `unseal(blob, context=...) -> value`, with the process's secret
(`load_secret()`) unless one is passed. It also holds `atomic_write`: a private temporary file,
flushed, fsynced and renamed into place, so a writer killed half-way never leaves half a file
under the real name.
"""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import suppress

from twat_cache import envelope
from twat_cache.envelope import (
    CorruptEntry,
    EncryptionUnavailable,
    ForeignEntry,
    check_encryption,
)
from twat_cache.paths import FILE_MODE, TMP_PREFIX, file_mode
from twat_cache.secret import Secret, load_secret

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
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


def atomic_write(
    path: Path | str, data: bytes, *, overwrite: bool = True, secure: bool = True
) -> None:
    """Write `data` to `path` through a private temp file + fsync + rename (mode 0o600).

    The temporary file is named `.twat_cache.tmp-*` in the same folder, so a killed writer's
    leftover is recognisably twat-cache's (clearing removes it). With `overwrite=False` an
    existing `path` is left alone and `FileExistsError` is raised. With `secure=False` (a
    cache a team shares) the file gets the umask's mode instead of 0o600.
    """
    folder = os.path.dirname(os.fspath(path)) or "."
    fd, tmp = _temp_file(folder) if secure else _shared_temp_file(folder)
    try:
        if secure and sys.platform != "win32":
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


def _temp_file(folder: str) -> tuple[int, str]:
    """A new private (0o600) temporary file in `folder`: (descriptor, path)."""
    return tempfile.mkstemp(prefix=TMP_PREFIX, dir=folder)


def _shared_temp_file(folder: str) -> tuple[int, str]:
    """A new temporary file in `folder` created 0o666 less the umask: (descriptor, path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, TMP_PREFIX + os.urandom(8).hex())
        try:
            return os.open(tmp, flags, file_mode(secure=False)), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {folder}")  # pragma: no cover
