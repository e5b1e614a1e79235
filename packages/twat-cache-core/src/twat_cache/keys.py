"""Cache keys: one normalized key per distinct call, for memory and, digested, for disk.

A call's key is the tuple of its arguments bound to the function's parameters with defaults
filled in, so `f(1)`, `f(a=1)` and `f(1, b=2)` (where `b` defaults to 2) are one key. Arguments
that cannot be hashed (lists, dicts, sets, NumPy arrays, pandas objects, plain dataclasses) are
turned into a canonical, hashable form by content; never through `str()` or `repr()`, which
abbreviate large arrays. Disk keys are a SHA-256 over a type-tagged byte encoding of the
function's namespace and that key: stable across processes and interpreter runs.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "KeyMaker",
    "UncacheableError",
    "canonical",
    "function_namespace",
    "stable_digest",
]


class UncacheableError(TypeError):
    """An argument can be neither hashed nor pickled, so no key can be made for the call."""


class _BadCall(Exception):
    """The arguments do not bind to the signature; the caller gets Python's own TypeError."""


class _Tag:
    """A marker inside canonical keys; compared by identity, encoded on disk by its name."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


_KW = _Tag("kw")
_TYPES = _Tag("types")
_LIST = _Tag("list")
_DICT = _Tag("dict")
_SET = _Tag("set")
_ARRAY = _Tag("ndarray")
_PANDAS = _Tag("pandas")
_OBJECT = _Tag("object")
_EMPTY = object()


def _digest(data: bytes | memoryview) -> bytes:
    import hashlib  # noqa: PLC0415  (kept off `import twat_cache`)

    return hashlib.blake2b(data, digest_size=20).digest()


def _pickled(obj: object) -> bytes:
    import pickle  # noqa: PLC0415  (only reached for unhashable or disk-keyed arguments)

    try:
        return pickle.dumps(obj, protocol=4)
    except Exception as exc:
        raise UncacheableError(
            f"argument of type {type(obj).__qualname__} is neither hashable nor picklable, "
            f"so no cache key can be made for it: {exc}"
        ) from exc


def _ndarray_key(arr: Any) -> tuple[Any, ...]:
    if arr.dtype.hasobject:
        content = _digest(_pickled(arr))
    else:
        import numpy  # noqa: PLC0415  (only reached when a NumPy array is passed)

        content = _digest(memoryview(numpy.ascontiguousarray(arr)).cast("B"))  # type: ignore[arg-type]
    return (_ARRAY, arr.dtype.str, arr.shape, content)


def canonical(obj: Any) -> Hashable:
    """Return a hashable form of `obj` that is equal for equal contents and differs otherwise.

    Hashable values are returned as they are. Lists, dicts and sets become tagged tuples and
    frozensets of canonical items; NumPy arrays become (dtype, shape, content digest); pandas
    objects and other unhashable objects a digest of their pickle. Raises `UncacheableError`
    for an object that is neither hashable nor picklable.
    """
    kind = type(obj)
    if kind is tuple:
        return tuple(canonical(item) for item in obj)
    if kind is list:
        return (_LIST, *(canonical(item) for item in obj))
    if kind is dict:
        return (_DICT, frozenset((canonical(k), canonical(v)) for k, v in obj.items()))
    if kind is set:
        return (_SET, frozenset(obj))
    module = kind.__module__
    if module == "numpy" and kind.__name__ == "ndarray":
        return _ndarray_key(obj)
    if module.startswith("pandas"):
        return (_PANDAS, kind.__qualname__, _digest(_pickled(obj)))
    try:
        hash(obj)
    except TypeError:
        pass
    else:
        return obj  # type: ignore[no-any-return]
    if isinstance(obj, (list, tuple, dict, set)):  # subclasses: keep their type in the key
        base: Any = kind.__base__
        return (_OBJECT, _type_name(kind), canonical(base(obj)))
    fields = getattr(kind, "__dataclass_fields__", None)
    if fields is not None:
        return (_OBJECT, _type_name(kind), tuple((n, canonical(getattr(obj, n))) for n in fields))
    try:
        return (_OBJECT, _type_name(kind), _digest(_pickled(obj)))
    except UncacheableError:
        state = getattr(obj, "__dict__", None)
        if state is None:
            raise
        return (_OBJECT, _type_name(kind), canonical(state))


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


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
        params = list(inspect.signature(func).parameters.values())
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


def function_namespace(func: Callable[..., Any]) -> str:
    """The identity of `func` in disk keys: `module:qualname` (stable across runs)."""
    module = getattr(func, "__module__", None) or "?"
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", "?")
    return f"{module}:{qualname}"


def code_fingerprint(func: Callable[..., Any]) -> str:
    """A digest of `func`'s bytecode, names and constants, for opt-in invalidation on code changes.

    Nested code objects (inner functions, lambdas, comprehensions) are digested recursively and
    frozenset constants in a sorted order, so the fingerprint is the same in every process
    (`repr` of a code object holds its memory address; a frozenset's order depends on hash
    randomisation).
    """
    import hashlib  # noqa: PLC0415  (kept off `import twat_cache`)

    code = getattr(func, "__code__", None)
    if code is None:
        return "nocode"
    h = hashlib.sha256()
    _digest_code(code, h.update)
    return h.hexdigest()[:16]


def _digest_code(code: Any, out: Callable[[bytes], object]) -> None:
    out(code.co_code)
    out(repr((code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars)).encode())
    for const in code.co_consts:
        out(_const_bytes(const))


def _const_bytes(const: object) -> bytes:
    import hashlib  # noqa: PLC0415  (kept off `import twat_cache`)

    if hasattr(const, "co_code"):
        h = hashlib.sha256()
        _digest_code(const, h.update)
        return b"C" + h.digest()
    if isinstance(const, tuple):
        return b"(" + b",".join(_const_bytes(c) for c in const) + b")"
    if isinstance(const, frozenset):
        return b"{" + b",".join(sorted(_const_bytes(c) for c in const)) + b"}"
    return f"{type(const).__name__}:{const!r}".encode()  # str, bytes, numbers, None, Ellipsis


def stable_digest(namespace: str, key: Hashable) -> str:
    """SHA-256 hex digest of `namespace` and a normalized `key`, the same in every process.

    The encoding tags every value with its type, so `1`, `1.0`, `True` and `"1"` differ on
    disk; other hashable objects are encoded by their pickle. Raises `TypeError` for list, dict
    or set values (the wrapper passes canonical keys here, where those are already tuples).
    """
    import hashlib  # noqa: PLC0415  (kept off `import twat_cache`)

    h = hashlib.sha256()
    _encode(namespace, h.update)
    _encode(key, h.update)
    return h.hexdigest()


def _encode(obj: Any, out: Callable[[bytes], object]) -> None:
    kind = type(obj)
    if obj is None:
        out(b"N")
    elif kind is bool:
        out(b"T" if obj else b"F")
    elif kind is int:
        out(b"i%d;" % obj)
    elif kind is float:
        out(b"f" + obj.hex().encode() + b";")
    elif kind is str:
        data = obj.encode("utf-8", "surrogatepass")
        out(b"s%d:" % len(data))
        out(data)
    elif kind is bytes:
        out(b"b%d:" % len(obj))
        out(obj)
    elif kind is tuple:
        out(b"(%d:" % len(obj))
        for item in obj:
            _encode(item, out)
        out(b")")
    elif kind is _Tag:
        out(b"#" + obj.name.encode() + b";")
    elif kind is frozenset:
        import hashlib  # noqa: PLC0415  (kept off `import twat_cache`)

        parts = []
        for item in obj:
            sub = hashlib.sha256()
            _encode(item, sub.update)
            parts.append(sub.digest())
        out(b"{%d:" % len(parts))
        for part in sorted(parts):
            out(part)
        out(b"}")
    elif kind is type:
        out(b"t" + _type_name(obj).encode() + b";")
    elif kind in (list, dict, set, bytearray):
        raise TypeError(f"unhashable type: {kind.__name__!r}")
    else:
        hash(obj)  # an unhashable value (an ndarray, say) must be canonicalized by the caller
        name = _type_name(kind).encode()
        try:
            data = _pickled(obj)
        except UncacheableError:
            # Not picklable (e.g. an instance of a class defined in a function): its type and
            # state are still the same in every process.
            state = getattr(obj, "__dict__", None)
            if state is None:
                raise
            out(b"o%d:%s" % (len(name), name))
            _encode(canonical(state), out)
            return
        out(b"p%d:%s%d:" % (len(name), name, len(data)))
        out(data)
