"""Keys (provisional stand-in until the key encoder lands): memory canonical forms, disk digests."""

from __future__ import annotations

from twat_cache.keys import UncacheableError, canonical, stable_digest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

__all__ = ["UncacheableError", "disk_digest", "memory_key"]


def memory_key(key: tuple[object, ...]) -> Hashable:
    """A hashable key equal for equal calls (canonical forms for unhashable arguments)."""
    return canonical(key)


def disk_digest(
    key: object, salt: bytes, *, buffer_hash: Callable[[memoryview], bytes] | None = None
) -> str:
    """The stable digest of `key` under `salt` (the function's namespace)."""
    return stable_digest(salt.decode("utf-8", "surrogatepass"), canonical(key))
