"""The generated hit path: a function with the decorated function's own signature.

Python's C-level argument binding does the key normalization: `f(1)`, `f(a=1)` and `f(1, b=2)`
all arrive as `a, b` with the default filled in, and the key is one tuple display laid out by
`binding.KeyMaker.layout`. A hit is that tuple, one lookup in the store's `mapping` (a Rust or
C lookup) or one call of its `get`, and one counter tick; everything else is the slow path's.

How it is wired. A decorated function starts as a small stub that opens the store on its first
call; the stub then takes the generated code (`function.__code__` is assigned, with the
function's defaults) and the names the code reads live in the wrapper's own globals dict
(`_tc_map`, `_tc_get`, `_tc_hit`, `_tc_slow`, ...). So the object the user holds never changes,
decorating costs no code generation, and switching caching off (`disabled()`) or reopening a
store after `fork()` is a change of those names, not of the code.

The generated source is kept with its code, as attrs does for its generated methods: it is
registered in `linecache` when that is loaded (for `inspect.getsource`), and the wrapper's
globals carry a `__loader__` whose `get_source` returns it, so every traceback shows the lines
of the hit path even when `linecache` is imported only later (importing it for the first call
would cost more than the call).
"""

from __future__ import annotations

import builtins
import functools
import itertools
import sys
from keyword import iskeyword
from types import FunctionType  # no cost: functools, imported above, imports types

from twat_cache.binding import KW, TYPES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import CodeType
    from typing import Any

    from twat_cache.binding import KeyMaker

__all__ = ["PREFIX", "HotCode", "SourceLoader", "generate", "new_globals", "stub"]

PREFIX = "_tc_"
_counter = itertools.count()


class SourceLoader:
    """The `__loader__` of one wrapper's globals: `linecache` asks it for the generated source."""

    __slots__ = ("source",)

    def __init__(self, source: str) -> None:
        self.source = source

    def get_source(self, name: str) -> str:
        """The generated source (whatever `name` linecache passes)."""
        return self.source


def new_globals(first: Callable[[tuple[Any, ...], dict[str, Any]], Any]) -> dict[str, Any]:
    """The globals dict of one new wrapper; `first` is called on the stub's first call."""
    return {
        "__builtins__": builtins,
        "__name__": f"twat_cache.hotpath.{next(_counter)}",
        "__loader__": SourceLoader(""),
        "_tc_first": first,
    }


_STUB_SOURCE = "def _tc_wrapper(*args, **kwargs):\n    return _tc_first(args, kwargs)\n"
_ASTUB_SOURCE = (
    "async def _tc_wrapper(*args, **kwargs):\n    return await _tc_first(args, kwargs)\n"
)


def stub(namespace: dict[str, Any], *, is_async: bool = False) -> Callable[..., Any]:
    """A new stub function over `namespace` (made by `new_globals`)."""
    source = _ASTUB_SOURCE if is_async else _STUB_SOURCE
    function: Callable[..., Any] = FunctionType(_compiled(source, "twat_cache-stub.py"), namespace)
    namespace["__loader__"].source = source
    return function


@functools.lru_cache(maxsize=256)
def _compiled(source: str, filename: str) -> CodeType:
    """The code of the function `_tc_wrapper` that `source` defines, as if read from `filename`.

    Functions with the same parameters share it. `exec` of the text, not `compile()`: the
    builtin's first call in a process builds the `ast` module's node types (1-3 ms, as much
    as decorating 50 functions), which running a string does not need.
    """
    scratch: dict[str, Any] = {"__builtins__": builtins, "_": None}  # `_`: default values
    exec(source, scratch)
    code: CodeType = scratch["_tc_wrapper"].__code__
    return code.replace(co_filename=filename)


class HotCode:
    """A generated hit path: its code object, defaults and the source it was made from."""

    __slots__ = ("code", "defaults", "kwdefaults", "source")

    def __init__(
        self,
        code: CodeType,
        defaults: tuple[Any, ...] | None,
        kwdefaults: dict[str, Any] | None,
        source: str,
    ) -> None:
        self.code = code
        self.defaults = defaults
        self.kwdefaults = kwdefaults
        self.source = source

    def install(self, function: Callable[..., Any], namespace: dict[str, Any]) -> None:
        """Give `function` (a stub over `namespace`) this code and its defaults."""
        namespace["__loader__"].source = self.source
        lines = sys.modules.get("linecache")
        if lines is not None:  # loaded already (inspect, traceback): register, as attrs does
            filename = self.code.co_filename
            text = self.source.splitlines(keepends=True)
            lines.cache[filename] = (len(self.source), None, text, filename)
        target: Any = function
        target.__code__ = self.code
        target.__defaults__ = self.defaults
        target.__kwdefaults__ = self.kwdefaults


def _lookup_lines(mapping: bool, key: str) -> list[str]:
    """The lookup of key expression `key` in a `mapping` subscript or a `get` call.

    A hit counts itself and returns; anything else falls through with `_tc_value` set to
    MISS, _tc_UNHASHABLE or _tc_FAILED. The key is built inside the subscript (no local to
    store and load on a hit) and built again for the slow path only on a miss. A hit ticks
    the counter with the builtin `next` on an `itertools.count`: one C call no other thread
    can interleave (`hits += 1` can lose ticks), cheaper than the count's own `__next__`.
    """
    lines = ["    try:"]
    if mapping:  # subscript: no argument parsing; KeyError is a miss
        lines += [
            f"        _tc_value = _tc_map[{key}]",
            "    except KeyError:",
            "        _tc_value = _tc_MISS",
        ]
    else:
        lines += [f"        _tc_value = _tc_get({key}, _tc_MISS)"]
    lines += [
        "    except TypeError:",
        "        _tc_value = _tc_UNHASHABLE",
        "    except Exception:",
        "        _tc_value = _tc_FAILED",
        "    else:",
    ]
    if mapping:
        lines += ["        next(_tc_hits)", "        return _tc_value"]
    else:
        lines += [
            "        if _tc_value is not _tc_MISS:",
            "            next(_tc_hits)",
            "            return _tc_value",
        ]
    return lines


def generate(
    keymaker: KeyMaker, *, mapping: bool, name: str, qualname: str, filename: str
) -> HotCode | None:
    """The exact-signature hit path for `keymaker`'s parameters, or None when it cannot be made.

    None for parameter names that are not plain identifiers or that start with the generated
    code's own prefix; the generic stub path then stays (correct, a little slower).
    """
    p = keymaker.params
    names = p.names()
    if any(not n.isidentifier() or iskeyword(n) or n.startswith(PREFIX) for n in names):
        return None
    signature: list[str] = []
    for i, param in enumerate(p.positional):
        signature.append(f"{param}=_" if param in p.defaults else param)
        if p.posonly and i == p.posonly - 1:
            signature.append("/")
    if p.varargs is not None:
        signature.append(f"*{p.varargs}")
    elif p.kwonly:
        signature.append("*")
    signature.extend(f"{param}=_" if param in p.defaults else param for param in p.kwonly)
    if p.varkw is not None:
        signature.append(f"**{p.varkw}")

    # The key: KeyMaker's layout for a call passing every parameter by name.
    elements: list[str] = []
    values: list[str] = []
    for param in p.positional:
        if param not in keymaker.ignore:
            elements.append(param)
            values.append(param)
    if keymaker.weak_self and elements and elements[0] == p.positional[0]:
        elements[0] = f"_tc_ref({elements[0]})"
    if p.varargs is not None and p.varargs not in keymaker.ignore:
        elements.append(f"*{p.varargs}")
    if p.kwonly or p.varkw is not None:
        elements.append("_tc_KW")
        for param in p.kwonly:
            if param not in keymaker.ignore:
                elements.append(param)
                values.append(param)
    if p.varkw is not None and p.varkw not in keymaker.ignore:
        elements.append(f"*_tc_items({p.varkw}, _tc_IGNORE)")
    if keymaker.typed:
        if p.varargs is not None or p.varkw is not None:
            return None  # the types of *args/**kwargs: the plans' generic path
        elements.append("_tc_TYPES")
        elements.extend(f"type({v})" for v in values)
    call_args = list(p.positional) + ([f"*{p.varargs}"] if p.varargs else [])
    call_kwargs = [f"{param!r}: {param}" for param in p.kwonly]
    if p.varkw is not None:
        call_kwargs.append(f"**{p.varkw}")
    args_expr = f"({', '.join(call_args)},)" if call_args else "()"
    kwargs_expr = f"{{{', '.join(call_kwargs)}}}" if call_kwargs else "_tc_NOKW"
    key = f"({', '.join(elements)},)" if elements else "()"
    if keymaker.weak_self:  # an instance that cannot be referenced weakly: the slow path keys it
        head = [
            "    try:",
            f"        _tc_key = {key}",
            "    except TypeError:",
            f"        return _tc_slow(None, {args_expr}, {kwargs_expr}, _tc_UNHASHABLE)",
        ]
        key = "_tc_key"
    else:
        head = []
    lines = [
        f"def _tc_wrapper({', '.join(signature)}):",
        *head,
        *_lookup_lines(mapping, key),
        f"    return _tc_slow({key}, {args_expr}, {kwargs_expr}, _tc_value)",
    ]
    source = "\n".join(lines) + "\n"
    code = _compiled(source, filename)
    changes: dict[str, Any] = {"co_name": name}
    if hasattr(code, "co_qualname"):
        changes["co_qualname"] = qualname
    code = code.replace(**changes)
    defaults = tuple(p.defaults[n] for n in p.positional if n in p.defaults) or None
    kwdefaults = {n: p.defaults[n] for n in p.kwonly if n in p.defaults} or None
    return HotCode(code, defaults, kwdefaults, source)


def kw_items(kwargs: dict[str, Any], ignore: frozenset[str]) -> list[tuple[str, Any]]:
    """The **kwargs part of a key, as the layout has it: sorted (name, value) pairs."""
    if not kwargs:
        return []
    if ignore:
        return sorted(item for item in kwargs.items() if item[0] not in ignore)
    return sorted(kwargs.items())


#: Names every generated hit path reads besides the store's and the state's.
CONSTANTS = {"_tc_KW": KW, "_tc_TYPES": TYPES, "_tc_items": kw_items, "_tc_NOKW": {}}
