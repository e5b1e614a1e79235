"""Which backend each decorator picks: the fallback chains, as pure functions of what is installed.

`choose` takes the decorator's name, its config and the usable backends, and returns the pick
plus the warnings to log. It has no side effects, so every install combination can be checked
in-process by passing a different set of backends.
"""

from __future__ import annotations

from twat_cache._frozen import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from twat_cache.config import CacheConfig
    from twat_cache.registry import BackendSpec

__all__ = ["CHAINS", "Choice", "candidates", "choose"]

Step = tuple[str, str]  # (backend name, kind the store is opened as)

MEMORY: tuple[Step, ...] = (
    ("cachebox", "memory"),
    ("cachetools", "memory"),
    ("functools", "memory"),
)
CHAINS: dict[str, tuple[Step, ...]] = {
    "mcache": MEMORY,
    "bcache": (("diskcache", "disk"), ("klepto", "disk"), *MEMORY),
    "bcache-dir": (("klepto", "file"), *MEMORY),
    "fcache": (("joblib", "file"), ("klepto", "file"), *MEMORY),
    "acache": (("aiocache", "async"), *MEMORY),
    "ucache": MEMORY,
    "ucache-persistent": (("klepto", "disk"), ("diskcache", "disk"), ("joblib", "file"), *MEMORY),
}


class Choice(Frozen):
    """The pick for one decorated function.

    `backend` and the `kind` its store is opened as, the `config` it is opened with (the
    policy may have fallen back to lru) and the `warnings` to log.
    """

    __slots__ = ("backend", "kind", "config", "warnings")

    backend: str
    kind: str
    config: CacheConfig
    warnings: tuple[str, ...]

    def __init__(
        self, backend: str, kind: str, config: CacheConfig, warnings: tuple[str, ...] = ()
    ) -> None:
        self._set(backend=backend, kind=kind, config=config, warnings=tuple(warnings))


def candidates(decorator: str, config: CacheConfig, *, is_async: bool) -> tuple[Step, ...]:
    """The chain of (backend, kind) steps `decorator` tries for `config`, best first."""
    if decorator == "bcache" and not config.sql_backend:
        return CHAINS["bcache-dir"]
    if decorator == "ucache" and config.folder_name is not None:
        return CHAINS["ucache-persistent"]  # a coroutine's results persist too (async wrapper)
    if decorator == "acache" or (decorator == "ucache" and (is_async or config.use_async)):
        wanted = config.backend or "aiocache"
        if wanted == "aiocache":
            return CHAINS["acache"]
        kind = "async" if wanted not in {name for name, _ in MEMORY} else "memory"
        return ((wanted, kind), *MEMORY)
    return CHAINS[decorator]


def _first_kind(spec: BackendSpec, need: str, *, is_async: bool) -> str | None:
    """The kind to open `spec` as when it is asked for by name (preferred_engine)."""
    order = (
        (need, "disk", "file", "memory", "async") if is_async else (need, "disk", "file", "memory")
    )
    for kind in order:
        if kind == "async" and not is_async:
            continue
        if spec.serves(kind):
            return kind
    return None


def choose(
    decorator: str,
    config: CacheConfig,
    usable: Mapping[str, BackendSpec],
    *,
    is_async: bool,
    exclude: Collection[str] = (),
) -> Choice:
    """Pick the backend for one function from the `usable` backends (name -> spec).

    Walks the decorator's chain and takes the first backend that is usable, serves the step's
    kind and honours the policy. A `preferred_engine` that is usable goes first. If no usable
    backend honours the policy, the first usable one is used with LRU. Backends in `exclude`
    (those that failed to open) are passed over. The chain always ends at functools.
    """
    warnings: list[str] = []
    steps = list(candidates(decorator, config, is_async=is_async))
    wanted_name, wanted_kind = steps[0]
    engine = config.preferred_engine
    if engine is not None:
        spec = usable.get(engine)
        kind = _first_kind(spec, wanted_kind, is_async=is_async) if spec else None
        if spec is not None and kind is not None and engine not in exclude:
            steps.insert(0, (engine, kind))
            wanted_name, wanted_kind = engine, kind
        else:
            reason = "is not installed" if spec is None else "cannot serve this function"
            if engine in exclude:
                reason = "failed to open"
            warnings.append(f"preferred_engine {engine!r} {reason}; using normal selection")
    live = [
        (name, kind)
        for name, kind in steps
        if name in usable and name not in exclude and usable[name].serves(kind)
    ]
    if not live:  # functools is built in; only a broken environment gets here
        live = [("functools", "memory")]
    pick = (
        next(((n, k) for n, k in live if usable[n].honours(config.policy)), None)
        if usable
        else None
    )
    if pick is None:
        pick = live[0]
        if config.policy != "lru":
            warnings.append(
                f"no installed backend honours policy {config.policy!r}; "
                f"using {pick[0]} with policy 'lru'"
            )
            config = config.replace(policy="lru")
    name, kind = pick
    if (name, kind) != (wanted_name, wanted_kind):
        why = "is not installed" if wanted_name not in usable else "cannot serve this configuration"
        if wanted_name in exclude:
            why = "failed to open"
        lost = ""
        if wanted_kind in {"disk", "file"} and kind == "memory":
            lost = " (in memory only: results will not persist)"
        warnings.append(f"wanted backend {wanted_name!r} {why}; using {name!r}{lost}")
    return Choice(backend=name, kind=kind, config=config, warnings=tuple(warnings))
