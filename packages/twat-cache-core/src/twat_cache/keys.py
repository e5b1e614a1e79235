"""Cache keys: one normalized key per distinct call, for memory and, digested, for disk.

A call's key is the tuple of its arguments bound to the parameters of the object actually
called (a `functools.wraps` wrapper's own signature, not the wrapped function's), with
defaults filled in, so `f(1)`, `f(a=1)` and `f(1, b=2)` (where `b` defaults to 2) are one
key. Encoding the key is `twat_cache.encode`'s job (`memory_key` for unhashable arguments,
`disk_digest` for persistent stores); a function's identity is `twat_cache.identity`'s. The
names re-exported here keep older imports working.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from twat_cache.encode import UncacheableError, _Tag, disk_digest, memory_key
from twat_cache.identity import code_fingerprint, function_namespace

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "KeyMaker",
    "UncacheableError",
    "canonical",
    "code_fingerprint",
    "function_namespace",
    "stable_digest",
]


class _BadCall(Exception):
    """The arguments do not bind to the signature; the caller gets Python's own TypeError."""


_KW = _Tag("kw")
_TYPES = _Tag("types")


def canonical(obj: Any) -> Hashable:
    """A hashable form of one value, equal for equal contents (`encode.memory_key` of `(obj,)`).

    Kept for older imports; the wrapper calls `encode.memory_key` on whole call keys.
    """
    return memory_key((obj,))


def stable_digest(namespace: str, key: Hashable) -> str:
    """SHA-256 hex digest of a call key in a function's namespace, the same in every process.

    `encode.disk_digest(key, namespace.encode())`, after checking that `key` is hashable:
    stores call this with the keys the wrapper gives them, and a `TypeError` for an
    unhashable key is what tells the wrapper to retry with `encode.memory_key(key)`. Raises
    `encode.UncacheableError` (a `TypeError`) for a value that cannot be encoded faithfully.
    """
    hash(key)
    return disk_digest(key, namespace.encode("utf-8", "surrogatepass"))


class KeyMaker:
    """Normalizes a call's arguments to one key, given the function's signature.

    `fast` tells the wrapper that a call with only positional arguments, as many as the
    positional parameters (or more, when there is `*args`), already is its own key; every
    other call goes through `__call__`. Calls that do not bind raise `_BadCall` so that the
    function itself can raise Python's usual TypeError.

    A call's binding depends only on its shape: the number of positional arguments and the
    names of the keyword arguments, in order. `plans` maps a shape `(nargs, *names)` to a small
    compiled function `(args, kwargs) -> key` made once per shape, so a keyword call costs one
    dict lookup and one tuple build instead of a walk over the signature.
    """

    __slots__ = (
        "defaults",
        "fast",
        "kwonly",
        "names",
        "npos",
        "params",
        "plans",
        "posonly",
        "typed",
        "varargs",
        "varkw",
    )

    #: Shapes remembered per function; a function called with ever new keyword names
    #: (through **kwargs) stays correct on the generic path beyond this.
    MAX_PLANS = 256

    def __init__(self, func: Callable[..., Any], *, typed: bool = False) -> None:
        import inspect  # noqa: PLC0415  (kept out of `import twat_cache`)

        kinds = inspect.Parameter
        # The signature of the object actually called: a functools.wraps wrapper that takes
        # other parameters than the function it wraps must accept every call it accepts.
        params = list(inspect.signature(func, follow_wrapped=False).parameters.values())
        self.params = tuple(params)  # for the wrapper's exact-signature hit path
        self.names = tuple(
            p.name for p in params if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
        )
        self.posonly = frozenset(p.name for p in params if p.kind is kinds.POSITIONAL_ONLY)
        self.npos = len(self.names)
        self.defaults = {p.name: p.default for p in params if p.default is not p.empty}
        self.varargs = any(p.kind is kinds.VAR_POSITIONAL for p in params)
        self.kwonly = tuple(p.name for p in params if p.kind is kinds.KEYWORD_ONLY)
        self.varkw = any(p.kind is kinds.VAR_KEYWORD for p in params)
        self.typed = typed
        self.fast = not (self.kwonly or self.varkw or typed)
        self.plans: dict[tuple[Any, ...], Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {}

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Return the normalized key of the call `(args, kwargs)`."""
        shape = (len(args), *kwargs)
        try:
            plan = self.plans[shape]
        except KeyError:
            plan = self.plan(len(args), tuple(kwargs))
        return plan(args, kwargs)  # type: ignore[no-any-return]

    def plan(
        self, nargs: int, kwnames: tuple[str, ...]
    ) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
        """Return (and remember) the key function for calls of one shape.

        The shape's key is laid out by `_layout`, the one place that knows how a call binds;
        the function built from it only indexes `args`/`kwargs` and inserts constants. A shape
        that does not bind gets a function raising `_BadCall`; a typed key keeps the generic
        path, since its type markers depend on the values.
        """
        plan: Callable[[tuple[Any, ...], dict[str, Any]], Any]
        if self.typed:
            plan = self._generic
        else:
            try:
                plan = _compile(self._layout(nargs, kwnames))
            except _BadCall:
                plan = _bad_call
        if len(self.plans) < self.MAX_PLANS:
            shape = (nargs, *kwnames)
            self.plans[shape] = plan
        return plan

    def _layout(self, nargs: int, kwnames: tuple[str, ...]) -> list[tuple[str, Any]]:
        """Where each element of a shape's key comes from, or `_BadCall` if it does not bind.

        Elements are ("a", index), ("k", name), ("item", name) for a `(name, value)` pair of
        **kwargs, or ("c", constant). Mirrors `_generic` exactly (they must give equal keys).
        """
        npos = self.npos
        if nargs > npos and not self.varargs:
            raise _BadCall
        rest = list(kwnames)
        out: list[tuple[str, Any]] = [("a", i) for i in range(min(nargs, npos))]
        defaults = self.defaults
        for name in self.names[nargs:]:
            if name in rest and name not in self.posonly:
                out.append(("k", name))
                rest.remove(name)
            elif name in defaults:
                out.append(("c", defaults[name]))
            else:
                raise _BadCall
        out.extend(("a", i) for i in range(npos, nargs))
        if self.kwonly or self.varkw:
            out.append(("c", _KW))
            for name in self.kwonly:
                if name in rest:
                    out.append(("k", name))
                    rest.remove(name)
                elif name in defaults:
                    out.append(("c", defaults[name]))
                else:
                    raise _BadCall
            if rest:
                if not self.varkw:
                    raise _BadCall
                out.extend(("item", name) for name in sorted(rest))
        elif rest:
            raise _BadCall
        return out

    def _generic(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """The key of any call, walking the signature (typed keys and the reference layout)."""
        n = len(args)
        npos = self.npos
        if n > npos and not self.varargs:
            raise _BadCall
        rest = dict(kwargs) if kwargs else {}
        values = list(args[:npos])
        defaults = self.defaults
        for name in self.names[n:]:
            if name in rest and name not in self.posonly:
                values.append(rest.pop(name))
            elif name in defaults:
                values.append(defaults[name])
            else:
                raise _BadCall
        if n > npos:
            values.extend(args[npos:])
        if self.kwonly or self.varkw:
            values.append(_KW)
            for name in self.kwonly:
                if name in rest:
                    values.append(rest.pop(name))
                elif name in defaults:
                    values.append(defaults[name])
                else:
                    raise _BadCall
            if rest:
                if not self.varkw:
                    raise _BadCall
                values.extend(sorted(rest.items()))
        elif rest:
            raise _BadCall
        if self.typed:
            values.append(_TYPES)
            values.extend([type(v) for v in values[:-1]])
        return tuple(values)


def _bad_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    raise _BadCall


def _compile(layout: list[tuple[str, Any]]) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
    """Build `lambda a, k: (<elements>,)` for a key layout.

    Why generated code: one tuple display of indexings is the fastest key Python can build
    (no loop, no per-element calls). The source holds only the names `a`, `k`, `c<i>` and
    integer indices; every default value and keyword name arrives as a bound constant, never
    as text, so no argument or name can change what the code does.
    """
    consts: list[Any] = []
    parts: list[str] = []

    def const(value: Any) -> str:
        consts.append(value)
        return f"c{len(consts) - 1}"

    for kind, what in layout:
        if kind == "a":
            parts.append(f"a[{int(what)}]")
        elif kind == "k":
            parts.append(f"k[{const(what)}]")
        elif kind == "item":
            name = const(what)
            parts.append(f"({name}, k[{name}])")
        else:
            parts.append(const(what))
    params = "".join(f", c{i}=_c[{i}]" for i in range(len(consts)))
    body = f"({', '.join(parts)},)" if parts else "()"
    fn: Callable[[tuple[Any, ...], dict[str, Any]], Any] = eval(
        f"lambda a, k{params}: {body}", {"__builtins__": {}}, {"_c": consts}
    )
    return fn
