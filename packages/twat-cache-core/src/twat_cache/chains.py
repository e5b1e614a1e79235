"""Which backend each decorator picks: the chains, as pure functions of the installed specs.

A chain is the installed specs that rank themselves in it (`BackendSpec.ranks`), highest rank
first. Every chain other than the memory ones falls back to the memory chain (`mcache`), and
every chain ends at the built-in functools backend. `choose` returns the pick and the warnings
to log; it has no side effects, so every install combination can be checked in-process by
passing a different set of specs.
"""

from __future__ import annotations

from twat_cache._frozen import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping

    from twat_cache.config import CacheConfig
    from twat_cache.spec import BackendSpec

__all__ = ["CLOSEST", "Choice", "chain", "chain_name", "choose", "steps"]

Step = tuple[str, str]  # (backend name, kind its store is opened as)

MEMORY_CHAINS = ("mcache", "ucache")
#: Chains whose backends persist: a policy none of them honours moves to the closest one
#: rather than to memory (a disk cache stays on disk).
PERSISTENT_CHAINS = ("bcache", "bcache-dir", "fcache", "ucache-persistent")
#: The built-in backend every chain ends at (registered like a plugin, by the core itself).
LAST: Step = ("functools", "memory")
#: For a policy no backend of a persistent chain honours: the policies to try instead, in order.
CLOSEST = {
    "lru": ("fifo",),
    "lfu": ("lru", "fifo"),
    "fifo": ("lru",),
    "rr": ("lru", "fifo"),
    "ttl": ("fifo", "lru"),
}


class Choice(Frozen):
    """The pick for one decorated function.

    `backend` and the `kind` its store is opened as, the `config` it is opened with (the
    policy may have moved to the closest one the backend honours) and the `warnings` to log.
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


def chain(name: str, specs: Mapping[str, BackendSpec]) -> list[Step]:
    """The steps of chain `name`: the specs ranked in it, highest rank first (then by name)."""
    ranked = [
        (-spec.ranks[name][1], spec.name, spec.ranks[name][0])
        for spec in specs.values()
        if name in spec.ranks
    ]
    return [(backend, kind) for _, backend, kind in sorted(ranked)]


def chain_name(decorator: str, config: CacheConfig, *, is_async: bool) -> str:
    """Which chain `decorator` walks for `config` (see `spec.CHAINS`)."""
    if decorator == "bcache":
        return "bcache" if config.sql_backend else "bcache-dir"
    if decorator == "ucache":
        if config.folder_name is not None:
            return "ucache-persistent"  # a coroutine's results persist too (async wrapper)
        return "acache" if (is_async or config.use_async) else "ucache"
    return decorator


def steps(name: str, specs: Mapping[str, BackendSpec]) -> tuple[list[Step], list[Step]]:
    """(primary steps, fallback steps) of chain `name`; the fallback is the memory chain.

    Remembered per `specs` object (the registry hands out one per discovery): pure, so a
    cached answer is the same answer.
    """
    memo = _steps.get((name, id(specs)))
    if memo is not None and memo[0] is specs:
        return list(memo[1]), list(memo[2])
    primary, fallback = _steps_of(name, specs)
    if len(_steps) < 64:
        _steps[(name, id(specs))] = (specs, tuple(primary), tuple(fallback))
    return primary, fallback


_steps: dict[
    tuple[str, int], tuple[Mapping[str, BackendSpec], tuple[Step, ...], tuple[Step, ...]]
] = {}


def _steps_of(name: str, specs: Mapping[str, BackendSpec]) -> tuple[list[Step], list[Step]]:
    primary = chain(name, specs)
    fallback = [] if name in MEMORY_CHAINS else chain("mcache", specs)
    if LAST not in primary and LAST not in fallback:
        fallback.append(LAST)
    return primary, fallback


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
    leads: Mapping[str, str] | None = None,
) -> Choice:
    """Pick the backend for one function from the `usable` backends (name -> spec).

    Walks the decorator's chain: the first usable backend that honours the policy. A
    `preferred_engine` that is usable and can serve goes first. When no backend of a
    persistent chain honours the policy, the first usable one of that chain is kept with the
    closest policy it honours (a disk cache stays on disk), with a warning; the memory
    fallback is used only when no backend of the chain is usable. Backends in `exclude`
    (those that failed to open) are passed over. The chain always ends at functools.
    `leads` ({chain: backend}, this project's packaging data, see `registry.leads`) names the
    backend a chain prefers even when it is not installed, so the warning can say what is
    missing and how to get it.
    """
    warnings: list[str] = []
    name = chain_name(decorator, config, is_async=is_async)
    primary, fallback = steps(name, usable)
    wanted = primary[0] if primary else (fallback[0] if fallback else LAST)
    lead = (leads or {}).get(name)
    if lead is not None and lead not in usable:
        lead_kind = "memory" if name in MEMORY_CHAINS else ("async" if name == "acache" else "disk")
        wanted = (lead, lead_kind)
    engine = config.preferred_engine
    if engine is not None:
        spec = usable.get(engine)
        need = "async" if name == "acache" else (wanted[1] if primary else "memory")
        engine_kind = _first_kind(spec, need, is_async=is_async) if spec else None
        if spec is not None and engine_kind is not None and engine not in exclude:
            primary = [(engine, engine_kind), *(s for s in primary if s[0] != engine)]
            wanted = (engine, engine_kind)
        elif engine == lead and spec is None:
            pass  # the chain's own first choice (acache's default): the usual fallback
        else:
            reason = "is not installed" if spec is None else "cannot serve this function"
            if engine in exclude:
                reason = "failed to open"
            # A url= names its store through preferred_engine (config): say which option.
            named = f"preferred_engine {engine!r}"
            if config.url is not None:
                named = f"the store url= names, {engine!r},"
            warnings.append(f"{named} {reason}; using normal selection")
            if name == "acache":
                # A store named for coroutines (a memory backend, a network store) that cannot
                # be had: the async wrapper over the memory chain, not the chain's other store.
                # That chain is then the normal selection: its first choice is the one wanted.
                primary = []
                wanted = fallback[0] if fallback else LAST
                lead = (leads or {}).get("mcache")
                if lead is not None and lead not in usable:
                    wanted = (lead, "memory")

    def live(candidates: list[Step]) -> list[Step]:
        return [
            (n, k)
            for n, k in candidates
            if n in usable and n not in exclude and usable[n].serves(k)
        ]

    live_primary, live_fallback = live(primary), live(fallback)
    if not live_fallback and not live_primary:
        live_fallback = [LAST]  # functools is built in; only a broken environment gets here
    policy = config.policy
    pick = next((s for s in live_primary if usable[s[0]].honours(policy)), None)
    if pick is None and live_primary and name in PERSISTENT_CHAINS:
        for closer in CLOSEST.get(policy, ()):
            pick = next((s for s in live_primary if usable[s[0]].honours(closer)), None)
            if pick is not None:
                warnings.append(
                    f"no installed {name} backend honours policy {policy!r}; "
                    f"using {pick[0]} with the closest policy, {closer!r}"
                )
                config = config.replace(policy=closer)
                break
    if pick is None:
        candidates = live_primary + live_fallback
        pick = next(
            (s for s in candidates if s[0] in usable and usable[s[0]].honours(policy)), None
        )
        if pick is None:
            pick = candidates[0]
            if policy != "lru":
                warnings.append(
                    f"no installed backend honours policy {policy!r}; "
                    f"using {pick[0]} with policy 'lru'"
                )
                config = config.replace(policy="lru")
    if pick != wanted:
        wanted_name, wanted_kind = wanted
        why = "is not installed" if wanted_name not in usable else "cannot serve this configuration"
        if wanted_name not in usable and wanted_name == lead:
            why += f" (pip install 'twat-cache[{lead}]')"
        if wanted_name in exclude:
            why = "failed to open"
        lost = ""
        if wanted_kind in {"disk", "file"} and pick[1] == "memory":
            lost = " (in memory only: results will not persist)"
        warnings.append(f"wanted backend {wanted_name!r} {why}; using {pick[0]!r}{lost}")
    return Choice(backend=pick[0], kind=pick[1], config=config, warnings=tuple(warnings))
