"""How a call becomes a key: the parameters of the object actually called, and one layout.

`Params` reads the parameters from the function's own code object (what Python itself binds
a call with), so a `functools.wraps` wrapper with parameters of its own is keyed by its own
signature, never by the wrapped function's, and no `inspect` import is needed for plain
functions. `layout` says, once, what a call's key holds: the positional parameters (with
defaults filled in), extra positionals, then, when there are keyword-only parameters or
`**kwargs`, a marker, the keyword-only values and the sorted leftover keyword pairs; minus the
`ignore`d names; with `self` held weakly for memory caches of methods; plus the argument types
when `typed`. The generated hit path (`hotpath`) and the per-call-shape plans (`KeyMaker`)
both follow it, so `f(1)`, `f(a=1)` and `f(1, b=2)` (where `b` defaults to 2) are one key.
"""

from __future__ import annotations

from twat_cache._frozen import Frozen
from twat_cache.tags import Tag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

__all__ = ["KW", "TYPES", "BadCall", "KeyMaker", "Params", "Tag", "params_of"]

_CO_VARARGS = 0x04
_CO_VARKEYWORDS = 0x08


KW = Tag("kw")
TYPES = Tag("types")


class BadCall(Exception):
    """The arguments do not bind to the signature; the caller gets Python's own TypeError."""


class Params(Frozen):
    """The parameters of a callable, as Python binds a call to it.

    `positional`: names of the positional(-or-keyword) parameters; `posonly`: how many of
    them are positional-only; `varargs`/`varkw`: the names of `*args`/`**kwargs` or None;
    `kwonly`: keyword-only names; `defaults`: {name: default}.
    """

    __slots__ = ("positional", "posonly", "varargs", "kwonly", "varkw", "defaults")

    positional: tuple[str, ...]
    posonly: int
    varargs: str | None
    kwonly: tuple[str, ...]
    varkw: str | None
    defaults: dict[str, Any]

    def __init__(
        self,
        positional: tuple[str, ...],
        posonly: int,
        varargs: str | None,
        kwonly: tuple[str, ...],
        varkw: str | None,
        defaults: dict[str, Any],
    ) -> None:
        self._set(
            positional=tuple(positional),
            posonly=posonly,
            varargs=varargs,
            kwonly=tuple(kwonly),
            varkw=varkw,
            defaults=dict(defaults),
        )

    def __hash__(self) -> int:
        return hash((self.positional, self.posonly, self.varargs, self.kwonly, self.varkw))

    def names(self) -> tuple[str, ...]:
        """Every parameter name, in order."""
        star = (self.varargs,) if self.varargs else ()
        kw = (self.varkw,) if self.varkw else ()
        return (*self.positional, *star, *self.kwonly, *kw)


def params_of(func: Callable[..., Any]) -> Params:
    """The parameters of the object called: read from its code object when it is a function.

    Other callables (partials, builtins, classes, callable objects, bound methods) go through
    `inspect.signature(func, follow_wrapped=False)`, which follows no `__wrapped__`.
    """
    code = getattr(func, "__code__", None)
    if type(func).__name__ == "function" and code is not None:
        n = code.co_argcount
        k = code.co_kwonlyargcount
        varnames = code.co_varnames
        positional = varnames[:n]
        kwonly = varnames[n : n + k]
        i = n + k
        varargs = varkw = None
        if code.co_flags & _CO_VARARGS:
            varargs = varnames[i]
            i += 1
        if code.co_flags & _CO_VARKEYWORDS:
            varkw = varnames[i]
        defaults: dict[str, Any] = {}
        values = func.__defaults__ or ()
        if values:
            defaults.update(zip(positional[n - len(values) :], values, strict=True))
        defaults.update(func.__kwdefaults__ or {})
        return Params(positional, code.co_posonlyargcount, varargs, kwonly, varkw, defaults)
    import inspect  # noqa: PLC0415  (only for callables that are not plain functions)

    kinds = inspect.Parameter
    parameters = list(inspect.signature(func, follow_wrapped=False).parameters.values())
    return Params(
        positional=tuple(
            p.name
            for p in parameters
            if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)
        ),
        posonly=sum(1 for p in parameters if p.kind is kinds.POSITIONAL_ONLY),
        varargs=next((p.name for p in parameters if p.kind is kinds.VAR_POSITIONAL), None),
        kwonly=tuple(p.name for p in parameters if p.kind is kinds.KEYWORD_ONLY),
        varkw=next((p.name for p in parameters if p.kind is kinds.VAR_KEYWORD), None),
        defaults={p.name: p.default for p in parameters if p.default is not p.empty},
    )


# A key element's source: ("a", index) a positional argument, ("k", name) a keyword argument,
# ("item", name) a (name, value) pair of **kwargs, ("c", value) a constant (a default, a marker).
Source = tuple[str, object]


class KeyMaker:
    """Normalizes a call's arguments to one key, given the callable's `Params`.

    `plans` maps a call shape `(nargs, *keyword names)` to a small compiled function
    `(args, kwargs) -> key` made once per shape, so a keyword call costs one dict lookup and one
    tuple build. A shape that does not bind raises `BadCall`, so that the function itself raises
    Python's usual TypeError. `ignore` drops parameters from the key; `typed` adds the
    argument types; `weak_self` holds the first argument through `weakref.ref` (memory caches
    of methods must not keep instances alive).
    """

    __slots__ = ("ignore", "params", "plans", "typed", "weak_self")

    #: Shapes remembered per function; calls with ever new keyword names stay correct beyond.
    MAX_PLANS = 256

    def __init__(
        self,
        params: Params,
        *,
        typed: bool = False,
        ignore: tuple[str, ...] = (),
        weak_self: bool = False,
    ) -> None:
        self.params = params
        self.typed = typed
        self.ignore = frozenset(ignore)
        self.weak_self = weak_self and bool(params.positional)
        self.plans: dict[tuple[Any, ...], Callable[[tuple[Any, ...], dict[str, Any]], Any]] = {}

    @property
    def simple(self) -> bool:
        """True when a call with exactly the positional parameters is its own key."""
        p = self.params
        return not (p.kwonly or p.varkw or p.varargs or self.typed or self.ignore or self.weak_self)

    def __call__(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Return the normalized key of the call `(args, kwargs)` (raises `BadCall`)."""
        shape = (len(args), *kwargs)
        try:
            plan = self.plans[shape]
        except KeyError:
            plan = self.plan(len(args), tuple(kwargs))
        return plan(args, kwargs)  # type: ignore[no-any-return]

    def plan(
        self, nargs: int, kwnames: tuple[str, ...]
    ) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
        """Return (and remember) the key function for calls of one shape."""
        plan: Callable[[tuple[Any, ...], dict[str, Any]], Any]
        try:
            plan = self._compile(self.layout(nargs, kwnames))
        except BadCall:
            plan = _bad_call
        if len(self.plans) < self.MAX_PLANS:
            shape = (nargs, *kwnames)
            self.plans[shape] = plan
        return plan

    def layout(self, nargs: int, kwnames: tuple[str, ...]) -> list[tuple[str, Source]]:
        """(parameter name, source) of each key element for one call shape; BadCall if unbound.

        The one description of a key: `hotpath` generates the exact-signature hit path from
        `layout_names()`, which is this with every parameter passed by name.
        """
        p = self.params
        npos = len(p.positional)
        if nargs > npos and not p.varargs:
            raise BadCall
        rest = list(kwnames)
        for index in range(p.posonly, min(nargs, npos)):
            if p.positional[index] in rest:  # given by position and by keyword
                raise BadCall
        out: list[tuple[str, Source]] = [
            (p.positional[i], ("a", i)) for i in range(min(nargs, npos))
        ]
        for index, name in enumerate(p.positional[nargs:], start=nargs):
            if name in rest and index >= p.posonly:
                out.append((name, ("k", name)))
                rest.remove(name)
            elif name in p.defaults:
                out.append((name, ("c", p.defaults[name])))
            else:
                raise BadCall
        out.extend((p.varargs or "*", ("a", i)) for i in range(npos, nargs))
        if p.kwonly or p.varkw:
            out.append(("", ("c", KW)))
            for name in p.kwonly:
                if name in rest:
                    out.append((name, ("k", name)))
                    rest.remove(name)
                elif name in p.defaults:
                    out.append((name, ("c", p.defaults[name])))
                else:
                    raise BadCall
            if rest:
                if not p.varkw:
                    raise BadCall
                if p.varkw not in self.ignore:
                    out.extend((name, ("item", name)) for name in sorted(rest))
        elif rest:
            raise BadCall
        return [(name, source) for name, source in out if name not in self.ignore]

    def _compile(
        self, layout: list[tuple[str, Source]]
    ) -> Callable[[tuple[Any, ...], dict[str, Any]], Any]:
        """Build `lambda a, k: (<elements>,)` for a layout.

        Why generated code: one tuple display of indexings is the fastest key Python can build.
        The source holds only the names `a`, `k`, `c<i>`, `r`, `t` and integer indices; every
        default value and keyword name arrives as a bound constant, never as text.
        """
        consts: list[Any] = []
        parts: list[str] = []
        values: list[str] = []  # the argument values, for typed keys

        def const(value: Any) -> str:
            consts.append(value)
            return f"c{len(consts) - 1}"

        first = self.params.positional[0] if self.params.positional else None
        for position, (name, (kind, what)) in enumerate(layout):
            label = ""
            if kind == "a":
                value = f"a[{int(what)}]"  # type: ignore[call-overload]
            elif kind in ("k", "item"):
                label = const(what)
                value = f"k[{label}]"
            else:
                value = const(what)
            if what is KW and kind == "c":
                parts.append(value)
                continue
            values.append(value)
            if kind == "item":
                parts.append(f"({label}, {value})")
            elif position == 0 and self.weak_self and name == first:
                parts.append(f"r({value})")
            else:
                parts.append(value)
        if self.typed:
            parts.append(const(TYPES))
            parts.extend(f"t({v})" for v in values)
        params = "".join(f", c{i}=_c[{i}]" for i in range(len(consts)))
        body = f"({', '.join(parts)},)" if parts else "()"
        fn: Callable[[tuple[Any, ...], dict[str, Any]], Any] = eval(
            f"lambda a, k{params}, r=_r, t=_t: {body}",
            {"__builtins__": {}},
            {"_c": consts, "_r": weak_or_strong, "_t": type},
        )
        return fn


def weak_or_strong(obj: object) -> object:
    """A weak reference to `obj` for a key, or `obj` itself when it cannot be referenced weakly.

    An instance that cannot be hashed (a plain `@dataclass`, say) is keyed by identity: one
    entry set per instance, as the methods of such objects are called on one instance again.
    """
    from weakref import ref  # noqa: PLC0415  (weakref is imported by threading already)

    try:
        held = ref(obj)
    except TypeError:
        return obj
    try:
        hash(held)
    except TypeError:
        return identity_ref(obj)
    return held


#: `weakref.ref` subclass hashed and compared by its referent's identity (made on first use).
_IDENTITY_REF: list[type] = []


def identity_ref(obj: object) -> object:
    """A weak reference to `obj` that is hashed and compared by identity, not by `obj`'s value."""
    if not _IDENTITY_REF:
        from weakref import ref  # noqa: PLC0415

        class IdentityRef(ref):  # type: ignore[type-arg]
            __slots__ = ("_id",)

            def __init__(self, obj: object) -> None:  # ref.__new__ made the reference
                self._id = id(obj)

            def __hash__(self) -> int:
                return self._id

            def __eq__(self, other: object) -> bool:
                if self is other:
                    return True
                if type(other) is not type(self):
                    return NotImplemented
                mine = self()
                return mine is not None and mine is other()

        _IDENTITY_REF.append(IdentityRef)
    return _IDENTITY_REF[0](obj)


def _bad_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    raise BadCall
