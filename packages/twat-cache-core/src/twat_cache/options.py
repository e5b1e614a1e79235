"""The options a decorator accepts: each one declared once here, with its default and its check.

`CacheConfig` is built from this table, so a bad value fails where the user wrote it with the
option's name, what was wrong and what is allowed. Each check returns the normalized value or
raises `ConfigurationError` (a `ValueError`). Each option also says which decorators can use
it: given to another one with a value other than its default, it is an error when the
function is decorated (`check_fits`), never silently ignored. `ALIASES` maps the names of the
original plan and of twat-cache 2.x (DESIGN §8) to today's names. Options of a plugin beyond
these are declared by its `BackendSpec.options` and checked the same way.
"""

from __future__ import annotations

import math
import os

from twat_cache._frozen import Frozen
from twat_cache.errors import TwatCacheError
from twat_cache.spec import KINDS, POLICIES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["ALIASES", "DECORATORS", "OPTIONS", "ConfigurationError", "Option", "check_fits"]

MMAP_MODES = ("r", "r+", "w+", "c")


class ConfigurationError(TwatCacheError, ValueError):
    """A bad option: names the option, what was wrong and what is allowed.

    Also a `ValueError`, the exception the decorators and `create_cache_config` document for
    a bad value, so either `except` clause works.
    """


#: Every decorator, in the order of the documentation.
DECORATORS = ("mcache", "bcache", "fcache", "acache", "ucache")
#: The decorators that can keep entries out of this process: on disk, in files, or on a
#: network store (acache with url= or a network backend).
PERSISTENT = ("bcache", "fcache", "acache", "ucache")


class Option(Frozen):
    """One decorator option: its name, default, check (value -> normalized value) and doc.

    `decorators` are those that can use it (default: all); `scope` says in a few words what
    it is for ("persistent caches"), for the error a decorator that cannot use it gives.
    """

    __slots__ = ("name", "default", "check", "doc", "decorators", "scope")

    name: str
    default: Any
    check: Callable[[str, Any], Any]
    doc: str
    decorators: tuple[str, ...]
    scope: str

    def __init__(
        self,
        name: str,
        default: Any,
        check: Callable[[str, Any], Any],
        doc: str,
        decorators: tuple[str, ...] = DECORATORS,
        scope: str = "",
    ) -> None:
        self._set(
            name=name, default=default, check=check, doc=doc, decorators=decorators, scope=scope
        )


def _fail(name: str, expected: str, value: object) -> ConfigurationError:
    return ConfigurationError(f"{name}: expected {expected}, got {value!r}")


def positive_int(name: str, value: Any) -> int | None:
    """None, or an int >= 1 (bool is refused)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(name, "a positive int (>= 1) or None", value)
    return value


def seconds(name: str, value: Any) -> float | None:
    """None, or a number of seconds > 0 (infinity means None: no expiry)."""
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or math.isnan(value)
        or value <= 0
    ):
        raise _fail(name, "seconds as a number > 0, or None", value)
    return None if math.isinf(value) else float(value)


def flag(name: str, value: Any) -> bool:
    """True or False."""
    if not isinstance(value, bool):
        raise _fail(name, "True or False", value)
    return value


def choice(allowed: tuple[str, ...], *, optional: bool = False) -> Callable[[str, Any], Any]:
    """A check accepting one of `allowed` (and None when `optional`)."""

    def check(name: str, value: Any) -> Any:
        if value is None and optional:
            return None
        if value not in allowed:
            raise ConfigurationError(
                f"{name}: {value!r} is not one of {list(allowed)}"
                + (" (or None)" if optional else "")
            )
        return value

    return check


def text(name: str, value: Any) -> str | None:
    """None, or a non-empty str."""
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(name, "a non-empty string or None", value)
    return value


def engine(name: str, value: Any) -> str | None:
    """None, or the name of an installed backend or of this project's plugin family."""
    value = text(name, value)
    if value is None:
        return None
    from twat_cache import registry  # noqa: PLC0415  (reads the entry points once)

    known = registry.known_names()
    if value not in known:
        raise ConfigurationError(f"{name}: unknown backend {value!r}; known backends: {known}")
    return str(value)


def compress_level(name: str, value: Any) -> bool | int:
    """True, False, or a zlib level 0-9."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, int) or not 0 <= value <= 9:
        raise _fail(name, "True, False or a level 0-9", value)
    return value


def folder(name: str, value: Any) -> str | None:
    """None, a simple name under the cache root, or an absolute path (see `paths`)."""
    from twat_cache.paths import check_folder_name  # noqa: PLC0415

    try:
        return check_folder_name(value)
    except ValueError as exc:
        raise ConfigurationError(str(exc)) from None


def names(name: str, value: Any) -> tuple[str, ...]:
    """A parameter name or a sequence of them (checked against the function when decorating)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = (value,)
    try:
        items = tuple(value)
    except TypeError:
        raise _fail(name, "a parameter name or a sequence of names", value) from None
    for item in items:
        if not isinstance(item, str) or not item.isidentifier():
            raise _fail(name, "parameter names (identifiers)", item)
    return items


def function(name: str, value: Any) -> Any:
    """None, or a callable."""
    if value is not None and not callable(value):
        raise _fail(name, "a callable or None", value)
    return value


#: Seconds a call waits for another's computation of its key, unless configured.
DEFAULT_WAIT_TIMEOUT = 60.0
#: The environment variable that sets that wait (seconds, a finite number >= 0).
ENV_WAIT_TIMEOUT = "TWAT_CACHE_WAIT_TIMEOUT"


def wait_seconds(name: str, value: Any) -> float | None:
    """None (the default: `$TWAT_CACHE_WAIT_TIMEOUT`, else 60 s), or finite seconds >= 0.

    0 means never wait: a call whose key another is computing computes it too.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(name, "seconds as a number >= 0, or None", value)
    if not 0 <= value < math.inf:  # also refuses nan
        raise _fail(name, "a finite number of seconds >= 0, or None", value)
    return float(value)


def wait_timeout(value: float | None = None) -> float:
    """The wait for another's computation in seconds: `value`, else the environment's, else 60.

    `value` is a checked `wait_timeout=` (or None); `$TWAT_CACHE_WAIT_TIMEOUT` is read on
    each call, so a change is seen by caches already open. A bad variable is a
    `ConfigurationError` naming it and what is allowed. Every wait of the library (threads,
    tasks, processes, servers) reads its timeout here.
    """
    if value is not None:
        return value
    raw = os.environ.get(ENV_WAIT_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_WAIT_TIMEOUT
    try:
        parsed: Any = float(raw)
    except ValueError:
        parsed = raw
    checked = wait_seconds(f"${ENV_WAIT_TIMEOUT}", parsed)
    return DEFAULT_WAIT_TIMEOUT if checked is None else checked


OPTIONS: dict[str, Option] = {
    option.name: option
    for option in (
        Option(
            "maxsize",
            None,
            positive_int,
            "entries kept (None: unbounded in memory, "
            "the backend's documented default limit on disk)",
        ),
        Option("ttl", None, seconds, "seconds an entry stays fresh (None: no expiry)"),
        Option("policy", "lru", choice(POLICIES), "eviction: lru, lfu, fifo, rr or ttl"),
        Option(
            "folder_name",
            None,
            folder,
            "a name under the cache root, or an absolute path",
            ("bcache", "fcache", "ucache"),
            "caches in a folder",
        ),
        Option("preferred_engine", None, engine, "a backend to use when installed"),
        Option("use_async", False, flag, "ucache: use the async chain", ("ucache",), "ucache"),
        Option(
            "sql_backend",
            True,
            flag,
            "bcache: False selects a directory archive",
            ("bcache", "ucache"),
            "disk databases",
        ),
        Option(
            "compress",
            False,
            compress_level,
            "fcache: True or a zlib level 0-9",
            ("fcache", "ucache"),
            "caches in files",
        ),
        Option("typed", False, flag, "1 and 1.0 are different calls in memory keys too"),
        Option(
            "encrypt",
            False,
            flag,
            "encrypt persistent entries at rest (cryptography)",
            PERSISTENT,
            "persistent caches",
        ),
        Option(
            "mmap_mode",
            None,
            choice(MMAP_MODES, optional=True),
            "fcache: load arrays memory-mapped (r, r+, w+, c)",
            ("fcache", "ucache"),
            "caches in files",
        ),
        Option(
            "check_code",
            False,
            flag,
            "drop persistent entries when the function's code changes",
            PERSISTENT,
            "persistent caches",
        ),
        Option(
            "url",
            None,
            text,
            "a network store's server URL; its scheme picks the store unless a backend is named "
            "(else $TWAT_CACHE_URL, which only gives the address)",
            ("bcache", "acache", "ucache"),
            "network stores",
        ),
        Option(
            "secure",
            True,
            flag,
            "False: files and folders follow the umask (a shared cache)",
            PERSISTENT,
            "persistent caches",
        ),
        Option("ignore", (), names, "parameters left out of the key"),
        Option("key", None, function, "builds the key from the call's arguments"),
        Option("cache_if", None, function, "stores a result only when it returns true"),
        Option("stale", None, seconds, "after ttl, serve the old value this long while refreshing"),
        Option(
            "max_bytes",
            None,
            positive_int,
            "total size bound of a persistent cache",
            PERSISTENT,
            "persistent caches",
        ),
        Option(
            "front",
            None,
            positive_int,
            "entries of an in-process memory tier in front",
            PERSISTENT,
            "persistent caches",
        ),
        Option(
            "front_ttl",
            1.0,
            seconds,
            "seconds a front entry stays (default 1.0; needs front)",
            PERSISTENT,
            "persistent caches",
        ),
        Option(
            "wait_timeout",
            None,
            wait_seconds,
            "seconds a call waits for another's computation of its key before computing",
        ),
        Option("kind", "memory", choice(KINDS), "what the decorator asks for"),
    )
}

#: Names of the original plan and of twat-cache 2.x -> today's option.
ALIASES = {"use_sql": "sql_backend", "redis_url": "url", "backend": "preferred_engine"}


#: What each decorator keeps its results in, for the error naming an option it cannot use.
_KEEPS = {
    "mcache": "mcache keeps results in this process's memory",
    "bcache": "bcache keeps results in a database on disk (or on a network store, with url=)",
    "fcache": "fcache keeps results in files",
    "acache": "acache keeps results in memory or on a network store (with url= or backend=)",
    "ucache": "ucache picks memory, disk or a network store",
}
#: The options (and aliases) some decorator cannot use: the only ones `check_fits` looks at.
_LIMITED = {
    alias: OPTIONS[name]
    for alias, name in (*((n, n) for n in OPTIONS), *ALIASES.items())
    if OPTIONS[name].decorators != DECORATORS
}


def check_fits(decorator: str | None, given: Mapping[str, Any]) -> None:
    """Refuse an option `decorator` can never use, and `front_ttl` without `front`.

    `given` are the options as the caller wrote them (aliases included). An option at its
    default value, or None, is not an error anywhere (code passing `folder_name=None` to every
    decorator keeps working); another value given to a decorator the option's table entry
    does not list raises `ConfigurationError` naming the option, why, and the decorators that
    take it. `decorator=None` (`create_cache_config`) checks only `front_ttl`. A value the
    chosen store cannot use because a backend is missing is not an error: that is a
    fallback, logged when the function is decorated.
    """
    limited = _LIMITED
    for name, value in given.items():
        option = limited.get(name)
        if option is None or value is None:
            continue
        if type(value) in (bool, int, float, str) and value == option.default:
            continue
        if decorator is not None and decorator not in option.decorators:
            shown = "..." if option.name == "url" else repr(value)  # a URL may hold a password
            raise ConfigurationError(
                f"{name}: only for {option.scope} ({', '.join(option.decorators)}); "
                f"{_KEEPS[decorator]} (got {name}={shown})"
            )
        if option.name == "front_ttl" and given.get("front") is None:
            raise ConfigurationError(
                "front_ttl: sets how long entries of the front tier stay, and needs front= "
                f"(the number of entries it keeps); got front_ttl={value!r} without front"
            )


def env_flag(name: str) -> bool:
    """True when environment variable `name` is 1, true, yes or on (any case)."""
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}
