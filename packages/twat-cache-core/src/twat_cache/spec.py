"""`BackendSpec`: everything the core needs to know about a backend, declared by its plugin.

A plugin's entry point (group `twat_cache.backends`) names one `BackendSpec`. The spec says
which kinds of cache the backend serves, which eviction policies it honours, whether entries
persist, its rank in each decorator's chain, the options it accepts beyond the core's, and
where its store lives (`opener`, imported only when a cache is opened). The chains of DESIGN §3
are the ranks the installed specs declare: the core's code names no plugin.
"""

from __future__ import annotations

from twat_cache._frozen import Frozen

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["CHAINS", "KINDS", "POLICIES", "BackendSpec"]

KINDS = ("memory", "disk", "file", "async")
POLICIES = ("lru", "lfu", "fifo", "rr", "ttl")
#: The chains a spec can rank itself in: a decorator, or a variant of one.
CHAINS = {
    "mcache": "memory caches (mcache; the fallback of every other chain)",
    "bcache": "disk databases (bcache)",
    "bcache-dir": "bcache(sql_backend=False): a directory archive",
    "fcache": "files (fcache)",
    "acache": "coroutine functions (acache, ucache on a coroutine)",
    "ucache": "ucache without folder_name (memory)",
    "ucache-persistent": "ucache with folder_name",
}


class BackendSpec(Frozen):
    """What a backend is and can do; a plugin's entry point names one of these.

    `kinds`: the subset of memory, disk, file, async it serves. `policies`: the eviction
    policies it honours. `persistent`: entries survive the process (the store gets a folder,
    the secret and digest keys). `ranks`: {chain: (kind, rank)}, its place in each chain of
    `CHAINS` it joins (higher first; the kind its store is opened as there). `options`:
    {name: check} for options of its own beyond the core's, or for a core option whose value
    it reads (a server URL): each check returns the normalized value or raises `ValueError`,
    and a core option's check runs when a function is decorated with this backend chosen.
    `opener`: "module:function", called as `opener(config, record)` to open a store.
    `requires`: import names of the libraries it needs (checked without importing them).
    `extra`: the `twat-cache[...]` extra that installs it (default: its name). `folders`: its
    stores keep files in a cache folder (default: when persistent; a network store has none).
    `schemes`: the URL schemes a network store serves (`("memcached",)`): a decorator given
    `url=` and no backend by name picks the installed store whose spec claims the URL's
    scheme, and an explicit backend must claim it (default: none, the store has no server).
    """

    __slots__ = (
        "name",
        "kinds",
        "policies",
        "persistent",
        "ranks",
        "options",
        "opener",
        "requires",
        "description",
        "distribution",
        "extra",
        "folders",
        "schemes",
    )

    name: str
    kinds: frozenset[str]
    policies: frozenset[str]
    persistent: bool
    ranks: Mapping[str, tuple[str, int]]
    options: Mapping[str, Callable[[Any], Any]]
    opener: str
    requires: tuple[str, ...]
    description: str
    distribution: str
    extra: str
    folders: bool
    schemes: tuple[str, ...]

    def __init__(
        self,
        name: str,
        kinds: frozenset[str] | set[str] | tuple[str, ...],
        policies: frozenset[str] | set[str] | tuple[str, ...],
        persistent: bool,
        opener: str,
        ranks: Mapping[str, tuple[str, int]] | None = None,
        options: Mapping[str, Callable[[Any], Any]] | None = None,
        requires: tuple[str, ...] = (),
        description: str = "",
        distribution: str = "",
        extra: str = "",
        folders: bool | None = None,
        schemes: tuple[str, ...] | list[str] = (),
    ) -> None:
        kinds = frozenset(kinds)
        policies = frozenset(policies)
        ranks = dict(ranks or {})
        if not name or not isinstance(name, str):
            raise ValueError(f"BackendSpec.name: expected a non-empty str, got {name!r}")
        for what, values, allowed in (("kinds", kinds, KINDS), ("policies", policies, POLICIES)):
            unknown = sorted(values - set(allowed))
            if unknown:
                raise ValueError(f"BackendSpec({name}).{what}: {unknown} not in {list(allowed)}")
        for chain, rank in ranks.items():
            if chain not in CHAINS:
                raise ValueError(f"BackendSpec({name}).ranks: unknown chain {chain!r}")
            if not (isinstance(rank, tuple) and len(rank) == 2 and rank[0] in kinds):
                raise ValueError(
                    f"BackendSpec({name}).ranks[{chain!r}]: expected (kind it serves, int), "
                    f"got {rank!r}"
                )
        if not isinstance(schemes, (tuple, list)) or not all(
            isinstance(s, str) and s and s == s.lower() and ":" not in s and "/" not in s
            for s in schemes
        ):
            raise ValueError(
                f"BackendSpec({name}).schemes: expected lowercase URL schemes without '://' "
                f"(('redis', 'rediss')), got {schemes!r}"
            )
        if ":" not in opener:
            raise ValueError(f"BackendSpec({name}).opener: expected 'module:function'")
        self._set(
            name=name,
            kinds=kinds,
            policies=policies,
            persistent=bool(persistent),
            ranks=ranks,
            options=dict(options or {}),
            opener=opener,
            requires=tuple(requires),
            description=description,
            distribution=distribution,
            extra=extra or name,
            folders=bool(persistent) if folders is None else bool(folders),
            schemes=tuple(schemes),
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name, self.opener))

    def serves(self, kind: str) -> bool:
        """True when this backend serves caches of `kind`."""
        return kind in self.kinds

    def honours(self, policy: str) -> bool:
        """True when this backend honours the eviction `policy`."""
        return policy in self.policies
