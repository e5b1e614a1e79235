"""The `twat_cache` logger, looked up on first use so that `import twat_cache` skips `logging`.

The library logs only through this logger and never configures handlers.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging


class _LazyLogger:
    """Forwards every attribute to `logging.getLogger("twat_cache")`, importing logging then."""

    __slots__ = ()

    def __getattr__(self, name: str) -> object:
        import logging  # noqa: PLC0415  (about 10 ms at import time otherwise)

        return getattr(logging.getLogger("twat_cache"), name)


logger: logging.Logger = _LazyLogger()  # type: ignore[assignment]
