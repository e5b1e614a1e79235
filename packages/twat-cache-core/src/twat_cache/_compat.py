"""Run-time stand-ins for `typing` helpers, so that `import twat_cache` does not import typing.

Type checkers read the real ones (behind `TYPE_CHECKING`); ruff is told to treat this module
like `typing` (`lint.typing-modules`).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def overload(func: Any) -> Any:
    """`typing.overload` at run time: only the last, real definition of a name counts."""
    return func
