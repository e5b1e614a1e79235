"""`Tag`: the markers inside keys (the keyword marker of a call's layout, the encoder's own).

A tag compares by identity in memory keys and is encoded on disk by its name; no user value is
ever a tag. Kept in a module of its own so that the call layout (`binding`) does not load the
key encoder (`encode`) at decoration time.
"""

from __future__ import annotations

__all__ = ["Tag"]


class Tag:
    """A marker in keys; compared by identity in memory, encoded on disk by its name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"
