"""`CacheRecord`: what is known about one decorated function, computed once and passed along.

Built when a function is decorated: its display name (for statistics and messages), its
namespace (its identity in persistent keys), the decorator and chain, the chosen backend and
the kind its store is opened as, the validated config, its cache folder (persistent backends)
and what kind of callable it is. Stores receive it when they are opened
(`opener(config, record)`), so no part of the core or a plugin computes these facts again.
"""

from __future__ import annotations

import os

from twat_cache._frozen import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from twat_cache.config import CacheConfig

__all__ = ["CacheRecord"]


class CacheRecord(Frozen):
    """The facts about one cached function (see the module docstring).

    `name`: unique display name (`module.qualname`, `#2`... for repeats) used by `get_stats()`
    and in messages; `namespace`: identity in persistent keys (`module:qualname`, plus a code
    fingerprint with `check_code`); `decorator`: mcache, bcache, fcache, acache or ucache;
    `backend`/`kind`: the chosen backend and the kind its store is opened as; `config`: the
    validated options (after selection: the policy may have moved); `folder`: the path (a
    str) of the cache folder of a persistent backend (None in memory); `is_async`: a
    coroutine function; `is_method`:
    defined in a class body (its first argument is the instance).
    """

    __slots__ = (
        "name",
        "namespace",
        "decorator",
        "backend",
        "kind",
        "config",
        "folder",
        "is_async",
        "is_method",
    )

    name: str
    namespace: str
    decorator: str
    backend: str
    kind: str
    config: CacheConfig
    folder: str | None
    is_async: bool
    is_method: bool

    def __init__(
        self,
        name: str,
        namespace: str,
        decorator: str = "ucache",
        backend: str = "functools",
        kind: str = "memory",
        config: CacheConfig | None = None,
        folder: str | os.PathLike[str] | None = None,
        is_async: bool = False,
        is_method: bool = False,
    ) -> None:
        if config is None:
            from twat_cache.config import CacheConfig  # noqa: PLC0415

            config = CacheConfig(kind=kind)
        self._set(
            name=name,
            namespace=namespace,
            decorator=decorator,
            backend=backend,
            kind=kind,
            config=config,
            folder=None if folder is None else os.fspath(folder),
            is_async=is_async,
            is_method=is_method,
        )
