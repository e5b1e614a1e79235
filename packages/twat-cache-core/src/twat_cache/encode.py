"""The key encoder: memory keys for calls that cannot be hashed, typed digests for disk keys.

A call's key is the tuple of its bound argument values (`keys.KeyMaker`). Two encodings turn
it into what a store needs, with one rule: an argument is encoded faithfully or not at all.

`memory_key(key)` serves memory caches when `hash(key)` fails. Hashable values stay as they
are (`functools.lru_cache` semantics: `1 == 1.0 == True` share an entry, identity-hashed
objects are told apart by identity). Unhashable ones become a flat run of tokens led by
private markers, by content: lists, tuples holding unhashable values, dicts (order-
insensitive; `OrderedDict` ordered), sets, bytearrays, NumPy arrays (full dtype, shape,
content), and every other object through the state its `__reduce_ex__(4)` reports, never its
type name plus `__dict__`, never `repr`/`str`.

`disk_digest(key, salt)` serves persistent stores: SHA-256 (faster than blake2b on the
machines measured, which have SHA extensions) over the salt and a typed, canonical byte
encoding of the key, identical in every process whatever `PYTHONHASHSEED` is: `1`, `1.0`,
`True` and `"1"` differ; floats are encoded by their exact bits; sets and dicts in a canonical
order; callables by what they compute (code, defaults, closure values, cheap globals).

Both encoders walk values with an explicit stack (no Python recursion), so a list nested
thousands deep is fine, and they detect cycles: a container met again inside itself becomes a
back-reference to how many levels up it is. Anything that cannot be encoded faithfully (a
lock, a generator, an open file, an object whose reduce fails) raises `UncacheableError`; the
wrapper then runs the call uncached and warns once per cache.

Importing this module imports nothing beyond the interpreter's start-up modules: hashlib,
struct, copyreg and NumPy are imported inside the functions that need them, NumPy only once an
array has been seen (recognised by its type's module and name).
"""

from __future__ import annotations

import sys
from collections import OrderedDict

from twat_cache.tags import Tag

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any

__all__ = ["RAW_LIMIT", "Tag", "UncacheableError", "code_digest", "disk_digest", "memory_key"]

#: Arrays (and unordered items on disk) up to this many bytes are keyed by their raw bytes;
#: larger ones by a SHA-256 digest of their content (collision-resistant).
RAW_LIMIT = 64 * 1024
#: Longer encodings of one set member or dict item are digested before sorting, which bounds
#: the copying of deeply nested dicts and sets.
_ITEM_LIMIT = 256
#: How often one encoding may meet a container it already finished (shared sub-objects are
#: expanded again; this stops a structure that shares exponentially, such as `[a, a]` nested).
_MAX_REVISITS = 200_000
#: How many containers and objects one encoding may open in all.
_MAX_NODES = 5_000_000
#: Code encodings kept for reuse (code objects are immutable; functions are encoded often).
_CODE_CACHE_SIZE = 2048


class UncacheableError(TypeError):
    """An argument cannot be encoded faithfully in a cache key.

    The message reads "argument of type <module.qualname> cannot be keyed: <why>"; `kind`
    and `why` hold those two parts ("" when raised elsewhere). The wrapper catches it and runs
    the call uncached (one warning per cache); it is a `TypeError` so that code catching the
    old error keeps working.
    """

    kind = ""
    why = ""


#: Markers other modules put in keys (the call layout's keyword marker, say) are `Tag`s too.
_Tag = Tag


class _SetToken(frozenset):  # type: ignore[type-arg]
    """A `set` in a memory key: equal to the frozenset of its members, as `set == frozenset`.

    On disk (typed) it is encoded as a set, not a frozenset.
    """

    __slots__ = ()


class _BytesToken(bytes):
    """A `bytearray` in a memory key: equal to the same `bytes`, as in Python; typed on disk."""

    __slots__ = ()


# Markers of memory keys. Each structure is a marker followed by a fixed layout, so a run of
# tokens parses one way only; user values never are these objects.
_LIST = _Tag("list")  # _LIST, n, <n items>
_LEAFLIST = _Tag("list=")  # _LEAFLIST, tuple of n hashable items
_TUPLE = _Tag("tuple")  # _TUPLE, n, <n items>   (a tuple of hashable tokens is itself)
_DICT = _Tag("dict")  # _DICT, frozenset of (key, <value tokens>) tuples
_ODICT = _Tag("odict")  # _ODICT, n, <n times: key, value tokens>
_ARRAY = _Tag("ndarray")  # _ARRAY, dtype, shape, bytes | _HASHED digest
_OBJARRAY = _Tag("ndarray[object]")  # _OBJARRAY, dtype, shape, <list of the elements>
_HASHED = _Tag("sha256")
_CONTENT = _Tag("content")  # _CONTENT, type, disk digest (pandas objects)
_OBJECT = _Tag("object")  # _OBJECT, callable, args, state, listitems, dictitems, setter
_GLOBAL = _Tag("global")  # _GLOBAL, type, name  (reduce named a global)
_REF = _Tag("ref")  # _REF, levels up
# Markers used on disk only.
_EMPTY_CELL = _Tag("empty cell")
_BY_NAME = _Tag("by name")

# Work-stack operations of both encoders.
_ENC, _EXIT, _SEQ_END, _ITEM_BEGIN, _ITEM_END, _DICT_END, _LEAF, _UNORDERED_END = range(8)
_RAW, _CODE_END = 8, 9

_BIG_ENDIAN = sys.byteorder == "big"
_ndarray: Any = None  # numpy.ndarray once one has been seen (never imported to check)
_code_cache: dict[Any, bytes] = {}


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _uncacheable(root: object, obj: object, why: str) -> UncacheableError:
    """The error for `obj` (found inside the argument `root`) that cannot be encoded."""
    if type(root) is tuple and len(root) == 2 and type(root[0]) is str:
        root = root[1]  # a (name, value) pair of **kwargs: name the value
    if root is None:
        root = obj
    detail = why if obj is root else f"it holds a {_type_name(type(obj))} object ({why})"
    kind = _type_name(type(root))
    error = UncacheableError(f"argument of type {kind} cannot be keyed: {detail}")
    error.kind, error.why = kind, detail
    return error


def _is_ndarray(kind: type) -> bool:
    """True for exactly `numpy.ndarray` (subclasses go through their reduce)."""
    global _ndarray
    if kind is _ndarray:
        return True
    if kind.__name__ == "ndarray" and kind.__module__ == "numpy":
        _ndarray = kind
        return True
    return False


def _reduce(obj: Any) -> Any:
    """What pickle would record for `obj` (protocol 4), or the reason it cannot be encoded.

    Returns a global name (str) or a tuple padded to (callable, args, state, listitems,
    dictitems, state_setter), with the item iterators consumed. Sets (and subclasses) carry
    their members as a frozenset, so their order never matters.
    """
    import copyreg  # noqa: PLC0415  (loaded at start-up anyway; kept off the import path)

    kind = type(obj)
    try:
        reducer = copyreg.dispatch_table.get(kind)
        rv = reducer(obj) if reducer is not None else obj.__reduce_ex__(4)
    except Exception as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from exc
    if isinstance(rv, str):
        return rv
    if not isinstance(rv, tuple) or not 2 <= len(rv) <= 6:
        raise ValueError(f"its __reduce_ex__ returned {type(rv).__name__}, not a tuple")
    func, args, state, listitems, dictitems, setter = rv + (None,) * (6 - len(rv))
    if not isinstance(args, tuple):
        raise ValueError("its __reduce_ex__ returned arguments that are not a tuple")
    if isinstance(obj, (set, frozenset)) and len(args) == 1 and isinstance(args[0], list):
        args = (frozenset(args[0]),)
    if listitems is not None:
        listitems = list(listitems)
    if dictitems is not None:
        items = list(dictitems)
        dictitems = OrderedDict(items) if isinstance(obj, OrderedDict) else dict(items)
    return (func, args, state, listitems, dictitems, setter)


def _sha256(data: bytes | memoryview) -> bytes:
    sha256 = _hashing[0] or _load_hashing()
    return sha256(data).digest()  # type: ignore[no-any-return]


def _array_buffer(arr: Any) -> memoryview:
    """The content of a non-object array as a C-ordered byte buffer (datetime64 included).

    `memoryview` refuses datetime64/timedelta64 (no buffer format), so the array is viewed as
    bytes; a non-contiguous array is copied first.
    """
    import numpy  # noqa: PLC0415  (only reached with an array in hand)

    flat = numpy.ascontiguousarray(arr).reshape(-1)
    return memoryview(flat.view(numpy.uint8))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Memory keys


def memory_key(key: tuple[Any, ...]) -> Hashable:
    """A hashable key for the call key `key` whose `hash()` failed.

    Hashable elements are kept as they are. A list of hashable values costs one `tuple()`;
    a small NumPy array its dtype, shape and `tobytes()`. Other unhashable values become a
    flat run of marker-led tokens (see the module docstring), equal for equal values. Raises
    `UncacheableError` for a value that cannot be encoded faithfully.
    """
    out: list[Any] = []
    append = out.append
    for item in key:
        kind = type(item)
        if kind is list:
            items = tuple(item)
            try:
                hash(items)
            except Exception:  # TypeError; ValueError for a writable memoryview
                pass
            else:
                append(_LEAFLIST)
                append(items)
                continue
        elif kind is _ndarray or _is_ndarray(kind):
            dtype = item.dtype
            if not dtype.hasobject and item.nbytes <= RAW_LIMIT:
                out += (_ARRAY, dtype, item.shape, item.tobytes())
                continue
        else:
            try:
                hash(item)
            except Exception:
                pass
            else:
                append(item)
                continue
        _memory_value(item, out)
    return tuple(out)


def _memory_value(root: Any, out: list[Any]) -> None:
    """Append the tokens of one unhashable value to `out` (iterative, cycle-safe)."""
    stack: list[tuple[Any, ...]] = [(_ENC, root)]
    push = stack.append
    pop = stack.pop
    append = out.append
    active: dict[int, int] = {}  # id -> depth of the containers being encoded (cycles)
    done: dict[int, Any] = {}  # id -> object: finished containers, kept alive (ids stay unique)
    depth = 0
    revisits = 0
    nodes = 0
    while stack:
        entry = pop()
        op = entry[0]
        if op == _ENC:
            x = entry[1]
            kind = type(x)
            if kind is set:
                append(_SetToken(x))
                continue
            if kind is bytearray:
                append(_BytesToken(x))
                continue
            if kind is not list and kind is not dict and kind is not OrderedDict:
                if kind is _ndarray or _is_ndarray(kind):
                    _memory_array(x, out, push)
                    continue
                try:
                    hash(x)
                except Exception:  # TypeError; ValueError for a writable memoryview
                    pass
                else:
                    append(x)
                    continue
            # An unhashable container or object: open it.
            ident = id(x)
            if ident in active:
                out += (_REF, depth - active[ident])
                continue
            nodes += 1
            if ident in done:
                revisits += 1
                if revisits > _MAX_REVISITS:
                    raise _uncacheable(root, x, "it shares sub-objects too often to be keyed")
            if nodes > _MAX_NODES:
                raise _uncacheable(root, x, "it is too large to be keyed")
            if kind is list or kind is tuple:
                items = tuple(x)
                if kind is list:
                    try:
                        hash(items)
                    except Exception:
                        pass
                    else:
                        out += (_LEAFLIST, items)
                        continue
                active[ident] = depth
                depth += 1
                push((_EXIT, x))
                push((_SEQ_END, len(out), len(items), _LIST if kind is list else _TUPLE))
                out += (None, None)  # the marker and length, filled in at _SEQ_END
                stack.extend([(_ENC, item) for item in reversed(items)])
                continue
            if kind is dict:
                try:
                    frozen = frozenset(x.items())
                except Exception:
                    pass
                else:
                    out += (_DICT, frozen)
                    continue
                active[ident] = depth
                depth += 1
                frame: list[Any] = [[], 0]
                push((_EXIT, x))
                push((_DICT_END, frame))
                for k, v in x.items():
                    push((_ITEM_END, frame))
                    push((_ENC, v))
                    push((_ITEM_BEGIN, frame, k))
                continue
            if kind is OrderedDict:
                active[ident] = depth
                depth += 1
                push((_EXIT, x))
                out += (_ODICT, len(x))
                for k, v in reversed(x.items()):
                    push((_ENC, v))
                    push((_LEAF, k))
                continue
            if kind.__module__.startswith("pandas"):
                # pandas objects hold identity-hashed parts (the block manager): their
                # content is what matters, so they are keyed by their disk digest.
                out += (_CONTENT, kind, disk_digest(x, b"pandas"))
                continue
            # Any other unhashable object: the state its reduce reports.
            try:
                rv = _reduce(x)
            except ValueError as exc:
                raise _uncacheable(root, x, str(exc)) from None
            if type(rv) is str:
                out += (_GLOBAL, kind, rv)
                continue
            active[ident] = depth
            depth += 1
            push((_EXIT, x))
            append(_OBJECT)
            stack.extend([(_ENC, part) for part in reversed(rv)])
        elif op == _EXIT:
            x = entry[1]
            depth -= 1
            del active[id(x)]
            done[id(x)] = x
        elif op == _SEQ_END:
            _, pos, n, marker = entry
            if len(out) - pos - 2 == n:  # every item was one hashable token: collapse
                items = tuple(out[pos + 2 :])
                out[pos:] = [_LEAFLIST, items] if marker is _LIST else [items]
            else:
                out[pos] = marker
                out[pos + 1] = n
        elif op == _ITEM_BEGIN:
            frame = entry[1]
            frame[1] = len(out)
            append(entry[2])
        elif op == _ITEM_END:
            frame = entry[1]
            start = frame[1]
            frame[0].append(tuple(out[start:]))
            del out[start:]
        elif op == _DICT_END:
            out += (_DICT, frozenset(entry[1][0]))
        else:  # _LEAF
            append(entry[1])


def _memory_array(arr: Any, out: list[Any], push: Callable[[tuple[Any, ...]], None]) -> None:
    """Tokens of a NumPy array: dtype (names, types, offsets, byte order), shape, content."""
    dtype = arr.dtype
    if dtype.hasobject:  # object arrays (and records with object fields): element-wise
        out += (_OBJARRAY, dtype, arr.shape)
        push((_ENC, arr.ravel().tolist()))
    elif arr.nbytes <= RAW_LIMIT:
        out += (_ARRAY, dtype, arr.shape, arr.tobytes())
    else:
        out += (_ARRAY, dtype, arr.shape, _HASHED, _sha256(_array_buffer(arr)))


# --------------------------------------------------------------------------------------------
# Disk digests


def disk_digest(
    key: object,
    salt: bytes,
    *,
    buffer_hash: Callable[[memoryview], bytes] | None = None,
) -> str:
    """The SHA-256 hex digest of `salt` and a typed, canonical encoding of `key`.

    Identical in every process and interpreter run (no salted `hash()`, sets and dicts in a
    canonical order). `buffer_hash`, when given, digests the content of arrays larger than
    `RAW_LIMIT` instead of SHA-256 (a plugin may pass a faster collision-resistant hash).
    Raises `UncacheableError` for a value that cannot be encoded faithfully.
    """
    sha256 = _hashing[0] or _load_hashing()
    out: list[bytes] = [b"twat-cache key 2\0%d:" % len(salt), salt]
    if type(key) is tuple:  # the usual key: a few scalars, encoded without the work stack
        flat = _flat(key)
        if flat is not None:
            out.append(b"(%d:" % len(key))
            out += flat
            return sha256(b"".join(out)).hexdigest()  # type: ignore[no-any-return]
    _disk_value(key, out, buffer_hash)
    return sha256(b"".join(out)).hexdigest()  # type: ignore[no-any-return]


_hashing: list[Any] = [None, None]  # hashlib.sha256 and the float packer, loaded on first use


def _load_hashing() -> Any:
    import hashlib  # noqa: PLC0415  (kept off `import twat_cache`)
    import struct  # noqa: PLC0415

    _hashing[1] = struct.Struct("<d").pack
    _hashing[0] = hashlib.sha256
    return hashlib.sha256


def _flat(items: tuple[Any, ...] | list[Any], nested: bool = True) -> list[bytes] | None:
    """The encodings of a sequence of plain scalars, or None if it holds anything else.

    Exactly the bytes `_disk_value` writes for these items. With `nested`, tuples of plain
    scalars count as plain too (one level: the helper calls itself at most once).

    A long run of only ints (64-bit) or only floats is packed by `array` in one C call, under
    a tag of its own; which form a sequence gets depends on its values only.
    """
    if len(items) > 16:
        kinds = set(map(type, items))
        if kinds in ({int}, {float}):
            from array import array  # noqa: PLC0415  (kept off `import twat_cache`)

            try:
                packed = array("q", items) if kinds == {int} else array("d", items)
            except OverflowError:  # an int beyond 64 bits: one by one
                pass
            else:
                if _BIG_ENDIAN:  # little-endian everywhere, so hosts agree
                    packed.byteswap()
                return [(b"I" if kinds == {int} else b"D") + packed.tobytes()]
    pack_double = _hashing[1]
    parts: list[bytes] = []
    append = parts.append
    for x in items:
        kind = type(x)
        if kind is int:
            append(b"i%d;" % x)
        elif kind is str:
            data = x.encode("utf-8", "surrogatepass")
            append(b"s%d:" % len(data))
            append(data)
        elif kind is float:
            append(b"f" + pack_double(x))
        elif x is None:
            append(b"N")
        elif kind is bool:
            append(b"T" if x else b"F")
        elif kind is bytes:
            append(b"b%d:" % len(x))
            append(x)
        elif kind is _Tag:
            append(b"#%d:" % len(x.name) + x.name.encode())
        elif kind is tuple and nested:
            inner = _flat(x, nested=False)
            if inner is None:
                return None
            append(b"(%d:" % len(x))
            parts += inner
        else:
            return None
    return parts


def code_digest(code: Any) -> str:
    """A hex digest of a code object's encoding (bytecode, constants, names), stable anywhere."""
    return disk_digest(code, b"code")


def _disk_value(
    root: Any, out: list[bytes], buffer_hash: Callable[[memoryview], bytes] | None
) -> None:
    """Append the typed encoding of `root` to `out` (iterative, cycle-safe, canonical)."""
    if _hashing[0] is None:
        _load_hashing()
    pack_double = _hashing[1]
    stack: list[tuple[Any, ...]] = [(_ENC, root)]
    push = stack.append
    pop = stack.pop
    append = out.append
    active: dict[int, int] = {}
    done: dict[int, Any] = {}
    named: dict[int, int] = {}  # id(function or local class) -> index: encoded once per key
    keep: list[Any] = []  # objects whose ids are in `named`
    depth = 0
    revisits = 0
    nodes = 0
    arg: Any = root if type(root) is not tuple else None  # the argument being encoded
    while stack:
        entry = pop()
        op = entry[0]
        if op == _ENC:
            x = entry[1]
            kind = type(x)
            if depth == 1 and type(root) is tuple:
                arg = x
            # Scalars first: the common keys are made of them.
            if kind is int:
                append(b"i%d;" % x)
            elif kind is str:
                data = x.encode("utf-8", "surrogatepass")
                append(b"s%d:" % len(data))
                append(data)
            elif kind is float:
                append(b"f" + pack_double(x))
            elif x is None:
                append(b"N")
            elif kind is bool:
                append(b"T" if x else b"F")
            elif kind is bytes:
                append(b"b%d:" % len(x))
                append(x)
            elif kind is _Tag:
                append(b"#%d:" % len(x.name) + x.name.encode())
            elif kind is complex:
                append(b"c" + pack_double(x.real) + pack_double(x.imag))
            elif kind is bytearray or kind is _BytesToken:
                append(b"B%d:" % len(x))
                append(bytes(x))
            else:
                # Containers and objects.
                ident = id(x)
                if ident in active:
                    append(b"R%d;" % (depth - active[ident]))
                    continue
                if ident in named:
                    append(b"@%d;" % named[ident])
                    continue
                nodes += 1
                if ident in done:
                    revisits += 1
                    if revisits > _MAX_REVISITS:
                        raise _uncacheable(arg, x, "it shares sub-objects too often to be keyed")
                if nodes > _MAX_NODES:
                    raise _uncacheable(arg, x, "it is too large to be keyed")
                if kind is tuple or kind is list:
                    append(b"(%d:" % len(x) if kind is tuple else b"[%d:" % len(x))
                    flat = _flat(x)
                    if flat is not None:
                        out += flat
                        continue
                    active[ident] = depth
                    depth += 1
                    push((_EXIT, x))
                    stack.extend([(_ENC, item) for item in reversed(x)])
                elif kind is dict or kind is set or kind is frozenset or kind is _SetToken:
                    active[ident] = depth
                    depth += 1
                    push((_EXIT, x))
                    if kind is dict:
                        header = b"{%d:" % len(x)
                        frame: list[Any] = [[], 0, 0]
                        push((_UNORDERED_END, frame, header))
                        for k, v in x.items():
                            push((_ITEM_END, frame))
                            push((_ENC, v))
                            push((_ENC, k))
                            push((_ITEM_BEGIN, frame))
                    else:
                        header = (b">%d:" if kind is frozenset else b"<%d:") % len(x)
                        frame = [[], 0, 0]
                        push((_UNORDERED_END, frame, header))
                        for member in x:
                            push((_ITEM_END, frame))
                            push((_ENC, member))
                            push((_ITEM_BEGIN, frame))
                elif kind is OrderedDict:
                    append(b"O%d:" % len(x))
                    active[ident] = depth
                    depth += 1
                    push((_EXIT, x))
                    for k, v in reversed(x.items()):
                        push((_ENC, v))
                        push((_ENC, k))
                elif kind is _ndarray or _is_ndarray(kind):
                    _disk_array(x, out, push, buffer_hash)
                    done[ident] = x
                else:
                    depth = _disk_object(x, kind, arg, out, stack, active, named, keep, depth)
        elif op == _EXIT:
            x = entry[1]
            depth -= 1
            del active[id(x)]
            done[id(x)] = x
        elif op == _ITEM_BEGIN:
            frame = entry[1]
            frame[1] = len(out)
            frame[2] = len(named)
        elif op == _ITEM_END:
            frame = entry[1]
            start = frame[1]
            item = b"".join(out[start:])
            del out[start:]
            # Functions first met inside this member are forgotten after it, so that each
            # member's encoding is independent of the (hash) order members are visited in.
            for _ in range(len(named) - frame[2]):
                named.popitem()
            # A long member is represented by its digest: sorting stays cheap, and nested
            # dicts and sets are not copied once per level.
            frame[0].append(b"r" + item if len(item) <= _ITEM_LIMIT else b"h" + _sha256(item))
        elif op == _UNORDERED_END:
            _, frame, header = entry
            append(header)
            for item in sorted(frame[0]):
                append(b"%d:" % len(item))
                append(item)
        elif op == _RAW:
            append(entry[1])
        elif op == _CODE_END:
            _, code, start = entry
            blob = b"".join(out[start:])
            out[start:] = [blob]
            if len(_code_cache) >= _CODE_CACHE_SIZE:
                _code_cache.clear()
            _code_cache[code] = blob


def _disk_array(
    arr: Any,
    out: list[bytes],
    push: Callable[[tuple[Any, ...]], None],
    buffer_hash: Callable[[memoryview], bytes] | None,
) -> None:
    """Encode a NumPy array: its full dtype, shape and content (element-wise for objects)."""
    dtype = arr.dtype
    out.append(b"A")
    shape = arr.shape
    if dtype.hasobject:
        push((_ENC, arr.ravel().tolist()))
    elif arr.nbytes <= RAW_LIMIT:
        data = arr.tobytes()
        push((_RAW, b"r%d:" % len(data) + data))
    else:
        buffer = _array_buffer(arr)
        if buffer_hash is not None:
            digest = bytes(buffer_hash(buffer))
            push((_RAW, b"x%d:" % len(digest) + digest))
        else:
            push((_RAW, b"h" + _sha256(buffer)))
    push((_ENC, shape))
    push((_ENC, dtype))


def _cheap_global(value: Any, home: dict[str, Any]) -> Any:
    """What of a global a function reads goes into its encoding, or `_EMPTY_CELL` to leave out.

    Modules, classes and builtins go by name; functions of the same module by their own
    encoding (cycles are back-references), other functions by name; constants (numbers,
    strings, bytes, small tuples or frozensets of those) by value; anything else (mutable
    containers, instances) is left out: encoding it on every call could cost more than the
    call saves.
    """
    import types  # noqa: PLC0415  (loaded at start-up anyway)

    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is types.FunctionType:
        if value.__globals__ is home:
            return value
        return (_BY_NAME, value.__module__, value.__qualname__)
    if kind is types.ModuleType:
        return (_BY_NAME, value.__name__)
    if isinstance(value, type):
        return value
    if kind is types.BuiltinFunctionType:
        return (_BY_NAME, getattr(value, "__module__", None), value.__qualname__)
    if (
        (kind is tuple or kind is frozenset)
        and len(value) <= 64
        and _SCALARS.issuperset(map(type, value))
    ):
        return value
    return _EMPTY_CELL


_SCALARS = frozenset({int, float, str, bytes, bool, complex, type(None)})


def _global_names(code: Any) -> list[str]:
    """The names a code object (and the code nested in it) may read as globals, sorted."""
    names: set[str] = set()
    todo = [code]
    while todo:
        current = todo.pop()
        names.update(current.co_names)
        todo.extend(c for c in current.co_consts if hasattr(c, "co_code"))
    return sorted(names)


def _disk_object(
    x: Any,
    kind: type,
    arg: Any,
    out: list[bytes],
    stack: list[tuple[Any, ...]],
    active: dict[int, int],
    named: dict[int, int],
    keep: list[Any],
    depth: int,
) -> int:
    """Encode a value that is not a scalar, builtin container or array; returns the depth.

    Functions are encoded by what they compute; classes, modules and builtins by name;
    everything else by its reduce. What is pushed is processed before the caller's stack
    goes on, so the encoding is the same as a recursive walk would give.
    """
    import types  # noqa: PLC0415  (loaded at start-up anyway)

    append = out.append
    push = stack.append
    ident = id(x)

    def enter(tag: bytes) -> None:
        nonlocal depth
        append(tag)
        active[ident] = depth
        depth += 1
        push((_EXIT, x))

    if kind is types.FunctionType:
        named[ident] = len(named)
        keep.append(x)
        state = x.__dict__.get("_twat_cache_state") if x.__dict__ else None
        wrapped = x.__dict__.get("__wrapped__") if state is not None else None
        if wrapped is not None:  # a twat-cache wrapper computes what its function computes
            append(b"W")
            push((_ENC, wrapped))
            return depth
        code = x.__code__
        cells = []
        for cell in x.__closure__ or ():
            try:
                cells.append(cell.cell_contents)
            except ValueError:  # an empty cell (a name assigned after the def)
                cells.append(_EMPTY_CELL)
        home = x.__globals__
        cheap = []
        for name in _global_names(code):
            if name in home:
                value = _cheap_global(home[name], home)
                if value is not _EMPTY_CELL:
                    cheap.append((name, value))
        append(b"L")
        parts = (
            x.__module__,
            x.__qualname__,
            code,
            x.__defaults__,
            x.__kwdefaults__,
            tuple(cells),
            tuple(cheap),
        )
        stack.extend([(_ENC, part) for part in reversed(parts)])
        return depth
    if kind is types.CodeType:
        cached = _code_cache.get(x)
        if cached is not None:
            append(cached)
            return depth
        push((_CODE_END, x, len(out)))
        append(b"C")
        fields = (
            x.co_argcount,
            x.co_posonlyargcount,
            x.co_kwonlyargcount,
            x.co_flags,
            x.co_code,
            x.co_consts,
            x.co_names,
            x.co_varnames,
            x.co_freevars,
            x.co_cellvars,
            getattr(x, "co_exceptiontable", b""),
        )
        push((_ENC, fields))
        return depth
    if kind is types.MethodType:
        enter(b"m")
        push((_ENC, x.__self__))
        push((_ENC, x.__func__))
        return depth
    if kind is types.ModuleType:
        append(b"M")
        push((_ENC, x.__name__))
        return depth
    if isinstance(x, type):
        return _disk_class(x, out, stack, active, named, keep, depth)
    if kind is types.BuiltinFunctionType and (
        x.__self__ is None or type(x.__self__) is types.ModuleType
    ):
        append(b"g")
        push((_ENC, (getattr(x, "__module__", None), x.__qualname__)))
        return depth
    module = kind.__module__
    if module == "numpy.dtypes" or (module == "numpy" and kind.__name__ == "dtype"):
        append(b"d")
        push((_ENC, (x.str, x.descr, x.itemsize, x.isalignedstruct)))
        return depth
    try:
        rv = _reduce(x)
    except ValueError as exc:
        raise _uncacheable(arg, x, str(exc)) from None
    if type(rv) is str:  # a global: pickle would record its name
        where = getattr(x, "__module__", None) or module
        if getattr(sys.modules.get(where), rv, None) is not x:
            raise _uncacheable(arg, x, f"its reduce names {rv!r}, which is not it in {where}")
        module = where
        append(b"g")
        push((_ENC, (module, rv)))
        return depth
    enter(b"o")
    stack.extend([(_ENC, part) for part in reversed(rv)])
    return depth


def _disk_class(
    cls: type,
    out: list[bytes],
    stack: list[tuple[Any, ...]],
    active: dict[int, int],
    named: dict[int, int],
    keep: list[Any],
    depth: int,
) -> int:
    """Encode a class by module and qualified name; a class made in a function also by methods.

    Two classes made by one factory share their qualified name but may differ in what their
    methods close over, so such a class adds its functions (methods, static and class
    methods, property accessors: code, defaults, closure values). Data attributes are left
    out: classes often keep counters or registries there, which would change every key.
    """
    import types  # noqa: PLC0415  (loaded at start-up anyway)

    ident = id(cls)
    named[ident] = len(named)
    keep.append(cls)
    out.append(b"t")
    name = (cls.__module__, cls.__qualname__)
    if "<locals>" not in cls.__qualname__:
        stack.append((_ENC, name))
        return depth
    active[ident] = depth
    depth += 1
    stack.append((_EXIT, cls))
    methods: list[tuple[str, Any]] = []
    for attr, value in sorted(vars(cls).items()):
        if isinstance(value, (staticmethod, classmethod)):
            methods.append((attr, value.__func__))
        elif isinstance(value, property):
            methods.append((attr, (value.fget, value.fset, value.fdel)))
        elif type(value) is types.FunctionType:
            methods.append((attr, value))
    stack.append((_ENC, (name, cls.__bases__, tuple(methods))))
    return depth
