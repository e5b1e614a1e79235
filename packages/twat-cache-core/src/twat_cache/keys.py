"""Older import paths of the key helpers.

The rules live in `encode` (keys), `binding` (calls) and `identity` (functions); the names
here keep earlier imports working.
"""

from __future__ import annotations

from twat_cache.binding import KW as _KW
from twat_cache.binding import TYPES as _TYPES
from twat_cache.binding import BadCall as _BadCall
from twat_cache.binding import KeyMaker
from twat_cache.encode import UncacheableError, disk_digest, memory_key
from twat_cache.identity import code_fingerprint, function_namespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Hashable
    from typing import Any

__all__ = [
    "KeyMaker",
    "UncacheableError",
    "canonical",
    "code_fingerprint",
    "function_namespace",
    "stable_digest",
]

_ = (_KW, _TYPES, _BadCall)  # older private imports


def canonical(obj: Any) -> Hashable:
    """A hashable form of one value, equal for equal contents (`encode.memory_key((obj,))`)."""
    return memory_key((obj,))


def stable_digest(namespace: str, key: Hashable) -> str:
    """The disk digest of a call key in a function's namespace (`encode.disk_digest`)."""
    return disk_digest(key, namespace.encode("utf-8", "surrogatepass"))
