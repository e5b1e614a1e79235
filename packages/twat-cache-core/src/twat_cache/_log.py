"""The `twat_cache` logger, looked up on first use so that `import twat_cache` skips `logging`.

The library logs only through this logger and never configures handlers; messages do not
repeat the logger's name (a format with `%(name)s` shows it once). Quiet it like any logger:
`logging.getLogger("twat_cache").setLevel(logging.ERROR)`.
"""

from __future__ import annotations

import threading

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

__all__ = ["forget_notices", "logger", "notice_choice", "notice_once"]


class _LazyLogger:
    """Forwards every attribute to `logging.getLogger("twat_cache")`, importing logging then."""

    __slots__ = ()

    def __getattr__(self, name: str) -> object:
        import logging  # noqa: PLC0415  (about 10 ms at import time otherwise)

        return getattr(logging.getLogger("twat_cache"), name)


logger: logging.Logger = _LazyLogger()  # type: ignore[assignment]

_said: set[str] = set()
_said_lock = threading.Lock()


def notice_once(message: str) -> None:
    """Log `message` at WARNING once per process (a fallback: once per backend, not function)."""
    with _said_lock:
        if message in _said:
            return
        _said.add(message)
    logger.warning("%s", message)


def notice_choice(decorator: str, warnings: tuple[str, ...]) -> None:
    """Log a backend choice's warnings, each once per process (not once per function)."""
    for warning in warnings:
        notice_once(f"{decorator}: {warning}")


def forget_notices() -> None:
    """Forget which notices were given, so each is logged again (for tests)."""
    with _said_lock:
        _said.clear()
