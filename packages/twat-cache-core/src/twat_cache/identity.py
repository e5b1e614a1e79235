"""A cached function's identity: its namespace in disk keys, its code fingerprint, its name.

The namespace is part of every disk key, so two functions that share a folder never share
entries. It is `module:qualname`, stable across processes and runs, with two refinements:

- A function defined in `__main__` (a script, a notebook, `python -c`) would be `__main__:f`
  in every program. Its namespace names the script's resolved path instead, or, without a
  file, a digest of the function's code: `__main__[/home/me/run.py]:load`,
  `__main__[code:1f2e...]:load`. Two scripts that each define `load` never share entries.
- A function made by a factory (`make.<locals>.f`) may be made many times over other
  closure values or defaults: its namespace adds a digest of them (`#closure-...`), so
  `make(1)` and `make(100)` never share entries.
- Objects without code of their own get a namespace from what they compute: a
  `functools.partial` from its function and bound arguments, a bound method from its function
  and its `self`, a callable instance from its class and state (digests of their disk
  encodings). When those cannot be encoded, the namespace falls back to the object's id:
  correct, but private to the process.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["code_fingerprint", "display_name", "function_namespace"]

#: Hex digits of a digest shown inside a namespace.
_SHORT = 16


def _short_digest(value: object, salt: bytes) -> str | None:
    """A short stable digest of `value`, or None when it cannot be encoded."""
    from twat_cache.encode import UncacheableError, disk_digest  # noqa: PLC0415

    try:
        return disk_digest(value, salt)[:_SHORT]
    except (UncacheableError, RecursionError, ValueError):
        return None


def _names(func: Any) -> tuple[str, str]:
    """(module, qualname) of a function-like object, '?' where it has none."""
    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    return (
        module if isinstance(module, str) and module else "?",
        qualname if isinstance(qualname, str) and qualname else "?",
    )


#: Script path -> its resolved path, or "" when it is not a file (a script's functions are
#: decorated by the dozen; resolving the path once saves a few system calls each).
_resolved: dict[str, str] = {}


def _script(path: object) -> str:
    """The resolved path of the script `path` names, or "" when it names no file."""
    if not isinstance(path, str):
        return ""
    found = _resolved.get(path)
    if found is None:
        # ipykernel compiles each cell under a per-process temporary name: not an identity.
        ok = "ipykernel_" not in path and os.path.isfile(path)
        found = _resolved[path] = os.path.realpath(path) if ok else ""
    return found


def _main_tag(func: Any) -> str:
    """What tells a `__main__` function from another program's: script path, else code."""
    code = getattr(func, "__code__", None)
    main = sys.modules.get("__main__")
    for path in (getattr(code, "co_filename", None), getattr(main, "__file__", None)):
        found = _script(path)
        if found:
            return found
    if code is not None:
        from twat_cache.encode import code_digest  # noqa: PLC0415

        return f"code:{code_digest(code)[:_SHORT]}"
    return "unknown"


def function_namespace(func: Callable[..., Any]) -> str:
    """The identity of `func` in disk keys: `module:qualname`, stable across runs.

    `__main__` functions add their script's resolved path (or, without a file, a digest of
    their code); partials, bound methods and callable instances add a digest of what they
    are bound to (see the module docstring).
    """
    self_obj = getattr(func, "__self__", None)
    inner = getattr(func, "__func__", None)
    if inner is not None and self_obj is not None and hasattr(inner, "__code__"):
        # A bound method: the function plus the object it is bound to.
        return _bound(function_namespace(inner), "self", self_obj, func)
    if hasattr(func, "__code__"):
        module, qualname = _names(func)
        base = f"__main__[{_main_tag(func)}]:{qualname}" if module == "__main__" else None
        base = base or f"{module}:{qualname}"
        if "<locals>" in qualname and (
            func.__closure__ or getattr(func, "__defaults__", None) or func.__kwdefaults__
        ):
            # Made by a factory: each call of it may close over other values (or take other
            # defaults), and the qualname is the same for all. What they compute tells them apart.
            return _bound(base, "closure", _made_with(func), func)
        return base
    import functools  # noqa: PLC0415  (loaded at start-up anyway)

    if isinstance(func, functools.partial):
        base = f"functools.partial[{function_namespace(func.func)}]"
        return _bound(base, "args", (func.args, func.keywords), func)
    module, qualname = _names(func)
    if isinstance(func, type) or _is_named_global(func, module, qualname):
        return f"{module}:{qualname}"  # a class, a builtin function, a ufunc: by its name
    # A callable instance (or a bound builtin method): its class and its state.
    kind = type(func)
    return _bound(f"{kind.__module__}:{kind.__qualname__}()", "state", func, func)


def _made_with(func: Any) -> tuple[object, ...]:
    """What a nested function was made with: its closure's values, its defaults.

    A cell still empty at decoration (the function's own name, assigned by the decorator's
    result) is told from any value by its own marker.
    """
    cells = []
    for cell in func.__closure__ or ():
        try:
            cells.append((True, cell.cell_contents))
        except ValueError:  # empty
            cells.append((False, None))
    return (tuple(cells), func.__defaults__, func.__kwdefaults__)


def _is_named_global(func: Any, module: str, qualname: str) -> bool:
    """True when `module.qualname` resolves to `func` itself (a named, importable object)."""
    target: Any = sys.modules.get(module)
    for part in qualname.split("."):
        target = getattr(target, part, None)
    return target is func


def _bound(base: str, what: str, value: object, func: object) -> str:
    digest = _short_digest(value, what.encode())
    if digest is None:
        # Not encodable: correct within this process only.
        return f"{base}#{what}-id{id(func):x}"
    return f"{base}#{what}-{digest}"


def code_fingerprint(func: Callable[..., Any]) -> str:
    """A digest of `func`'s code (bytecode, names, constants, nested code), for `check_code`.

    16 hex digits, the same in every process and under any `PYTHONHASHSEED` (frozenset
    constants are encoded in a canonical order); "nocode" for objects without code.
    """
    code = getattr(func, "__code__", None)
    if code is None:
        return "nocode"
    from twat_cache.encode import code_digest  # noqa: PLC0415

    return code_digest(code)[:_SHORT]


def display_name(func: Callable[..., Any]) -> str:
    """`module.qualname`: the one name of a cached function in statistics and messages."""
    import functools  # noqa: PLC0415  (loaded at start-up anyway)

    if isinstance(func, functools.partial):
        return f"functools.partial({display_name(func.func)})"
    module, qualname = _names(func)
    if qualname == "?" and not isinstance(func, type):
        kind = type(func)
        return f"{kind.__module__}.{kind.__qualname__}()"
    return f"{module}.{qualname}"
