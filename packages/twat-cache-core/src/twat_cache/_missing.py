"""`MISS`, the sentinel a store's `get` returns for a missing entry (so `None` can be cached)."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class _Miss:
    """The type of `MISS`; one instance, which pickles back to the same instance."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISS"

    def __reduce__(self) -> str:
        return "MISS"


MISS: Any = _Miss()
