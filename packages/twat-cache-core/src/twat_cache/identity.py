"""A decorated function's identity: its namespace in disk keys, and how it is named.

(Provisional: the keys work replaces this module with the full rules of DESIGN §3 Identity.)
"""

from __future__ import annotations

from twat_cache.keys import code_fingerprint, function_namespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["code_fingerprint", "display_name", "function_namespace"]


def display_name(func: Callable[..., Any]) -> str:
    """`module.qualname`: the one form used in statistics and messages."""
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    return f"{module}.{qualname or type(func).__name__}"
