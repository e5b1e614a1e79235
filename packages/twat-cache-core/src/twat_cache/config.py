"""Validated configuration of one cache: `CacheConfig` and `create_cache_config`.

Everything a decorator accepts ends up here and is checked once, at decoration time, so a bad
argument fails where the user wrote it, with the field's name and what is allowed.
"""

from __future__ import annotations

import math

from twat_cache._frozen import Frozen
from twat_cache.paths import check_folder_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KINDS = ("memory", "disk", "file", "async")
POLICIES = ("lru", "lfu", "fifo", "rr", "ttl")
MMAP_MODES = ("r", "r+", "w+", "c")

#: The backends twat-cache ships (installed or not); other names come from entry points.
OUR_BACKENDS = (
    "cachebox",
    "cachetools",
    "functools",
    "diskcache",
    "klepto",
    "joblib",
    "aiocache",
    "redis",
)


class CacheConfig(Frozen):
    """The validated options of one cached function; frozen, and checked when it is created.

    `maxsize` is a positive int or None (unbounded in memory, the backend's documented default
    limit on disk); `ttl` is seconds (> 0) or None; `policy` is one of lru, lfu, fifo, rr, ttl;
    `folder_name` is a simple name under the cache root or an absolute path. `kind` is what the
    decorator asks for (memory, disk, file, async). The other fields are options of particular
    decorators and backends: `compress` (bool or zlib level 0-9), `sql_backend`, `backend` (the
    async backend's name), `typed` (1 and 1.0 are different keys), `encrypt`, `mmap_mode`,
    `check_code` (invalidate when the function's code changes) and `redis_url`. Any invalid
    value raises `ValueError` naming the field; `replace(**changes)` returns a validated copy.
    """

    __slots__ = (
        "maxsize",
        "ttl",
        "policy",
        "folder_name",
        "preferred_engine",
        "use_async",
        "kind",
        "sql_backend",
        "compress",
        "backend",
        "typed",
        "encrypt",
        "mmap_mode",
        "check_code",
        "redis_url",
    )

    maxsize: int | None
    ttl: float | None
    policy: str
    folder_name: str | None
    preferred_engine: str | None
    use_async: bool
    kind: str
    sql_backend: bool
    compress: bool | int
    backend: str | None
    typed: bool
    encrypt: bool
    mmap_mode: str | None
    check_code: bool
    redis_url: str | None

    def __init__(
        self,
        maxsize: int | None = None,
        ttl: float | None = None,
        policy: str = "lru",
        folder_name: str | None = None,
        preferred_engine: str | None = None,
        use_async: bool = False,
        kind: str = "memory",
        sql_backend: bool = True,
        compress: bool | int = False,
        backend: str | None = None,
        typed: bool = False,
        encrypt: bool = False,
        mmap_mode: str | None = None,
        check_code: bool = False,
        redis_url: str | None = None,
    ) -> None:
        _check_maxsize(maxsize)
        _check_choice("policy", policy, POLICIES)
        ttl = _check_ttl(ttl)
        if policy == "ttl" and ttl is None:
            raise ValueError("policy: 'ttl' needs a ttl (seconds > 0); got ttl=None")
        folder_name = check_folder_name(folder_name)
        _check_choice("kind", kind, KINDS)
        flags = {
            "use_async": use_async,
            "sql_backend": sql_backend,
            "typed": typed,
            "encrypt": encrypt,
            "check_code": check_code,
        }
        for name, flag in flags.items():
            _check_bool(name, flag)
        _check_compress(compress)
        if mmap_mode is not None:
            _check_choice("mmap_mode", mmap_mode, MMAP_MODES)
        names = {"preferred_engine": preferred_engine, "backend": backend, "redis_url": redis_url}
        for name, value in names.items():
            if value is not None and (not isinstance(value, str) or not value):
                raise ValueError(f"{name}: expected a non-empty string or None, got {value!r}")
        if preferred_engine is not None:
            _check_engine("preferred_engine", preferred_engine)
        if backend is not None:
            _check_engine("backend", backend)
        self._set(
            maxsize=maxsize,
            ttl=ttl,
            policy=policy,
            folder_name=folder_name,
            preferred_engine=preferred_engine,
            use_async=use_async,
            kind=kind,
            sql_backend=sql_backend,
            compress=compress,
            backend=backend,
            typed=typed,
            encrypt=encrypt,
            mmap_mode=mmap_mode,
            check_code=check_code,
            redis_url=redis_url,
        )


def create_cache_config(**kwargs: Any) -> CacheConfig:
    """Build a validated `CacheConfig` from keyword options; an unknown option is a `ValueError`.

    Accepts every `CacheConfig` field by name. Unknown names are rejected with the list of known
    ones, so a typo (`max_size=`) never silently turns a bounded cache into an unbounded one.
    """
    known = set(CacheConfig.__slots__)
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise ValueError(f"unknown cache option(s) {unknown}; known options: {sorted(known)}")
    return CacheConfig(**kwargs)


def known_engines() -> list[str]:
    """Names accepted by `preferred_engine`: our own backends and every registered entry point."""
    from twat_cache.registry import discover  # noqa: PLC0415  (registry imports this module)

    return sorted(set(OUR_BACKENDS) | set(discover()))


def _check_maxsize(maxsize: object) -> None:
    if maxsize is None:
        return
    if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
        raise ValueError(f"maxsize: expected a positive int (>= 1) or None, got {maxsize!r}")


def _check_ttl(ttl: object) -> float | None:
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)):
        raise ValueError(f"ttl: expected seconds as a number > 0 or None, got {ttl!r}")
    if math.isnan(ttl) or ttl <= 0:
        raise ValueError(f"ttl: expected seconds as a number > 0 or None, got {ttl!r}")
    return None if math.isinf(ttl) else float(ttl)


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: {value!r} is not one of {list(allowed)}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ValueError(f"{name}: expected True or False, got {value!r}")


def _check_compress(compress: object) -> None:
    if isinstance(compress, bool):
        return
    if not isinstance(compress, int) or not 0 <= compress <= 9:
        raise ValueError(f"compress: expected True, False or a level 0-9, got {compress!r}")


def _check_engine(name: str, value: str) -> None:
    known = known_engines()
    if value not in known:
        raise ValueError(f"{name}: unknown backend {value!r}; known backends: {known}")
