"""`Frozen`: the small immutable records of the core (configs, specs, choices).

They behave like frozen dataclasses (equality, hash and repr by field, `replace`) but cost no
import of `dataclasses`/`inspect`, which would make up a third of `import twat_cache`.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _F = TypeVar("_F", bound="Frozen")


class FrozenError(AttributeError):
    """Raised when code assigns to a field of a frozen record."""


class Frozen:
    """Base of immutable records.

    Subclasses list their fields in `__slots__` and set them once in `__init__` through `_set`;
    assignment afterwards raises `FrozenError`.
    """

    __slots__: tuple[str, ...] = ()

    def _set(self, **values: Any) -> None:
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenError(f"{type(self).__name__} is frozen; use .replace({name}=...)")

    def __delattr__(self, name: str) -> None:
        raise FrozenError(f"{type(self).__name__} is frozen")

    def as_dict(self) -> dict[str, Any]:
        """The fields and their values, in declaration order."""
        return {name: getattr(self, name) for name in self.__slots__}

    def replace(self: _F, **changes: Any) -> _F:
        """A copy with `changes` applied, built (and so validated) like a new record."""
        unknown = sorted(set(changes) - set(self.__slots__))
        if unknown:
            raise ValueError(f"unknown field(s) {unknown}; fields: {list(self.__slots__)}")
        return type(self)(**{**self.as_dict(), **changes})

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    def __hash__(self) -> int:
        return hash((type(self).__name__, *(getattr(self, n) for n in self.__slots__)))

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.as_dict()))


def _rebuild(kind: type[Frozen], values: dict[str, Any]) -> Frozen:
    return kind(**values)
