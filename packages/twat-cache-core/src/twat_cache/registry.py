"""Backend discovery: entry points read once from the installed distributions, loaded lazily.

Three entry-point groups matter: `twat_cache.backends` (an installed plugin: name -> its
`BackendSpec`), `twat_cache.family` (declared in the core's own packaging data: the plugins
of this project, installed or not, so that `preferred_engine="diskcache"` is a known name with
an install hint even before the plugin is installed) and `twat_cache.schemes` (also the core's
packaging data: the URL schemes of the family's network stores, so that `url="redis://..."`
names its store before that plugin is installed; an installed spec's own `schemes` win).

Discovery reads `entry_points.txt` of the distributions on `sys.path` directly: the same files
`importlib.metadata` reads, without importing it (it costs about 30 ms, more than all of
`import twat_cache`). A path entry that is not a folder (a zip) is read through
`importlib.metadata`. The first distribution of a name on `sys.path` wins, as in Python's own
import. A spec that fails to load is logged and skipped, never fatal. Nothing is read on
`import twat_cache`: at the first decoration.
"""

from __future__ import annotations

import os
import sys
import threading

from twat_cache._log import logger
from twat_cache.errors import TwatCacheError
from twat_cache.spec import BackendSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any


GROUP = "twat_cache.backends"
FAMILY = "twat_cache.family"
SCHEMES = "twat_cache.schemes"

__all__ = [
    "FAMILY",
    "GROUP",
    "SCHEMES",
    "EngineNotAvailableError",
    "Registry",
    "discover",
    "family",
    "install_hint",
    "installed",
    "is_usable",
    "lead_choice",
    "leads",
    "require",
    "resolve",
    "schemes_of",
    "spec",
    "url_schemes",
]


class EngineNotAvailableError(TwatCacheError):
    """A backend required by name cannot be used: its plugin or its library is not installed.

    Raised where falling back to another backend is not an option (reopening a cache folder
    written by that backend); the decorators warn and fall back instead.
    """


#: (entry name, "module:attr", distribution) for each entry of a group
Entry = tuple[str, str, str]


def _normalize(name: str) -> str:
    """A distribution name as PEP 503 compares them (lowercase, runs of -_. as one -)."""
    # str methods, not a loop over characters: every installed distribution's name passes here
    out = name.lower().replace("_", "-").replace(".", "-")
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")


def _parse(text: str, distribution: str, found: dict[str, list[Entry]]) -> None:
    """Add the entries of our groups from one `entry_points.txt` (an INI file) to `found`."""
    group = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[" and line[-1] == "]":
            group = line[1:-1].strip()
            continue
        if group in found and "=" in line:
            name, _, value = line.partition("=")
            found[group].append((name.strip(), value.strip(), distribution))


def _read(path: str) -> bytes | None:
    """The bytes of file `path`, or None when it cannot be read.

    `os.open`/`os.read`, not `open()`: a file object costs twice the system calls, and this
    runs for every installed distribution while a program starts.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return os.read(fd, os.fstat(fd).st_size)  # a small regular file: one read
    except OSError:
        return None
    finally:
        os.close(fd)


def scan_entry_points(path: list[str] | None = None) -> dict[str, list[Entry]]:
    """The entries of our three groups on `path` (default `sys.path`), in path order.

    Reads `<dist>.dist-info/entry_points.txt` (and `.egg-info`) of every distribution folder;
    only the first distribution of a (normalized) name counts.
    """
    found: dict[str, list[Entry]] = {GROUP: [], FAMILY: [], SCHEMES: []}
    seen: set[str] = set()
    archives = []
    for entry in sys.path if path is None else path:
        folder = entry or os.curdir
        try:
            names = os.listdir(folder)
        except NotADirectoryError:
            archives.append(folder)
            continue
        except OSError:
            continue
        if path is None:
            _LISTED.update(names)
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            distribution = _normalize(name.rpartition(".")[0].partition("-")[0])
            if distribution in seen:
                continue
            seen.add(distribution)
            data = _read(os.path.join(folder, name, "entry_points.txt"))
            if data is not None and b"twat_cache." in data:  # decoded only with entries of ours
                _parse(data.decode("utf-8", "replace"), distribution, found)
    if archives:  # zipped distributions: the standard library knows how to read them
        from importlib.metadata import distributions  # noqa: PLC0415  (rare, and slow)

        for dist in distributions(path=archives):
            distribution = _normalize(dist.metadata["Name"] or "")
            if distribution in seen:
                continue
            seen.add(distribution)
            for ep in dist.entry_points:
                if ep.group in found:
                    found[ep.group].append((ep.name, ep.value, distribution))
    return found


class Registry:
    """The backends of this process: entry points read once, specs loaded when needed.

    `entries()` (names and where their specs live) costs one scan of the installed
    distributions; a spec's module is imported the first time it is needed (`spec(name)`),
    and all of them by `discover()`. Decorating a function usually needs one spec: the one
    its chain leads with (`lead_choice`).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._entries: dict[str, tuple[str, str]] | None = None
        self._loaded: dict[str, BackendSpec | None] = {}
        self._specs: dict[str, BackendSpec] | None = None
        self._family: dict[str, str] = {}
        self._leads: dict[str, str] = {}
        self._family_schemes: dict[str, str] = {}
        self._url_schemes: dict[str, str] | None = None
        self._usable: dict[str, bool] = {}
        self._installed: dict[str, BackendSpec] | None = None

    def entries(self, *, refresh: bool = False) -> dict[str, tuple[str, str]]:
        """{name: ("module:attr", distribution)} of the installed plugins (nothing imported)."""
        with self._lock:
            if self._entries is not None and not refresh:
                return self._entries
            found = scan_entry_points()
            family: dict[str, str] = {}
            leads: dict[str, str] = {}
            for name, value, _distribution in found[FAMILY]:
                family.setdefault(name, _plugin_distribution(value))
                _, _, extras = value.partition("[")
                for chain_name in extras.rstrip("]").split(","):
                    if chain_name.strip():
                        leads.setdefault(chain_name.strip(), name)
            # A scheme's entry names the family member's spec, as its family entry does.
            members = {value.partition("[")[0].strip(): name for name, value, _ in found[FAMILY]}
            family_schemes: dict[str, str] = {}
            for scheme, value, _distribution in found[SCHEMES]:
                member = members.get(value.strip())
                if member is not None:
                    family_schemes.setdefault(scheme.lower(), member)
            entries: dict[str, tuple[str, str]] = {}
            for name, value, distribution in found[GROUP]:
                entries.setdefault(name, (value, distribution))
            self._family, self._leads, self._entries = family, leads, entries
            self._family_schemes = family_schemes
            self._url_schemes = None
            self._loaded = {}
            self._specs = None
            self._usable.clear()
            self._installed = None
            return entries

    def spec(self, name: str) -> BackendSpec | None:
        """The spec of installed plugin `name` (its module imported now), or None."""
        loaded = self._loaded
        if name in loaded:
            return loaded[name]
        entry = self.entries().get(name)
        with self._lock:
            if name not in self._loaded:
                self._loaded[name] = None if entry is None else _load(name, *entry)
            return self._loaded[name]

    def discover(self, *, refresh: bool = False) -> dict[str, BackendSpec]:
        """{name: spec} of every installed plugin whose spec loads (first entry of a name wins)."""
        with self._lock:
            entries = self.entries(refresh=refresh)
            specs = self._specs
            if specs is None:
                specs = {}
                for name in entries:
                    spec = self.spec(name)
                    if spec is not None:
                        specs[name] = spec
                self._specs = specs
            return specs

    def family(self) -> dict[str, str]:
        """{backend name: distribution} of this project's plugins, installed or not.

        The dict is shared: do not change it.
        """
        self.entries()
        return self._family

    def leads(self) -> dict[str, str]:
        """{chain: backend} the chains of this project prefer, installed or not.

        The core's packaging data lists each plugin of the family as an entry point of group
        `twat_cache.family` whose extras name the chains it leads, e.g.
        `diskcache = "twat_cache_diskcache:BACKEND [bcache]"`.
        """
        self.entries()
        return self._leads

    def lead_choice(self, chain: str, policy: str, engine: str | None) -> tuple[str, str] | None:
        """(backend, kind) when `chain`'s lead settles the choice without the other specs.

        That is when nothing but this project's family is installed (a third-party plugin
        may rank higher), no other backend is asked for by name (`engine`), and the lead is
        installed,
        usable and honours the policy: the lead ranks first among the family's specs by
        construction (a test holds the specs to it). None: the caller walks the whole chain.
        """
        entries = self.entries()
        lead = self._leads.get(chain)
        if lead is None or lead not in entries:
            return None
        if engine is not None and engine != lead:
            return None
        family = self._family
        for name, (_value, distribution) in entries.items():
            if name not in family and distribution != _CORE:
                return None
        spec = self.spec(lead)
        if spec is None or chain not in spec.ranks or not spec.honours(policy):
            return None
        if not self.is_usable(spec):
            return None
        return spec.name, spec.ranks[chain][0]

    def url_schemes(self) -> dict[str, str]:
        """{URL scheme: backend} for `url=`: what each network store serves, installed or not.

        The installed specs' `schemes` (every spec is loaded: call this only when a URL is
        given), a usable store first when two claim one scheme; then the family's packaging
        data for the members that are not installed, so a URL names its store before the
        plugin is installed (the decorator falls back with the usual notice). The dict is
        shared: do not change it.
        """
        found = self._url_schemes
        if found is not None:
            return found
        with self._lock:
            specs = self.discover()
            found = {}
            for usable in (True, False):
                for spec in specs.values():
                    if self.is_usable(spec) is usable:
                        for scheme in spec.schemes:
                            found.setdefault(scheme, spec.name)
            for scheme, member in self._family_schemes.items():
                if member not in specs:
                    found.setdefault(scheme, member)
            if self._specs is specs:  # not refreshed meanwhile
                self._url_schemes = found
            return found

    def schemes_of(self, name: str) -> tuple[str, ...]:
        """The URL schemes backend `name` serves: its spec's, else the family's data, else ()."""
        found = self.spec(name)
        if found is not None:
            return found.schemes
        return tuple(s for s, member in self._family_schemes.items() if member == name)

    def is_usable(self, spec: BackendSpec) -> bool:
        """True when every library `spec` requires can be imported (found without importing)."""
        usable = self._usable.get(spec.name)
        if usable is None:
            usable = all(_findable(lib) for lib in spec.requires)
            self._usable[spec.name] = usable
        return usable

    def installed(self) -> dict[str, BackendSpec]:
        """The discovered backends whose libraries are present, in discovery order."""
        installed = self._installed
        if installed is None:
            specs = self.discover()
            installed = {name: s for name, s in specs.items() if self.is_usable(s)}
            if self._specs is specs:  # not refreshed meanwhile
                self._installed = installed
        return installed


#: The core's own distribution (its built-in backend is registered like a plugin).
_CORE = "twat-cache-core"


def _load(name: str, value: str, distribution: str) -> BackendSpec | None:
    """Import one entry point's spec; log and return None when it cannot be used."""
    try:
        obj = resolve(value)
    except Exception as exc:
        logger.warning("skipping backend plugin %r (%s): %s", name, value, exc)
        return None
    if not isinstance(obj, BackendSpec):
        logger.warning(
            "skipping backend plugin %r: %s is a %s, not a BackendSpec",
            name,
            value,
            type(obj).__name__,
        )
        return None
    if obj.name != name:
        logger.warning("skipping backend plugin %r: its spec is named %r", name, obj.name)
        return None
    spec: BackendSpec = obj
    if not spec.distribution:
        spec = spec.replace(distribution=distribution)
    return spec


def resolve(value: str) -> Any:
    """The object an entry point's value names: `module` or `module:attr.attr`, imported now.

    `__import__` and `sys.modules`, not `importlib.import_module`: the `importlib` package
    (and the `warnings` module it imports) is not loaded at start-up, and loading it cost a
    decoration ~0.4 ms.
    """
    module_name, _, attr = value.partition(":")
    module_name = module_name.strip()
    __import__(module_name)
    obj: Any = sys.modules[module_name]
    for part in attr.strip().split(".") if attr.strip() else ():
        obj = getattr(obj, part)
    return obj


def _plugin_distribution(value: str) -> str:
    """The distribution of a family entry `twat_cache_x:BACKEND [...]`: `twat-cache-x`."""
    return _normalize(value.partition(":")[0].strip().partition(".")[0])


#: Names in the folders of `sys.path`, as the last scan listed them: a library found there
#: (a package folder, a module file) needs no walk of the import finders.
_LISTED: set[str] = set()


def _findable(module: str) -> bool:
    """True when `module` (top-level) is imported or an import finder can find it."""
    if module in sys.modules or module in _LISTED:
        return True
    for finder in sys.meta_path:  # what importlib.util.find_spec does, without importing it
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        try:
            if find_spec(module, None) is not None:
                return True
        except (ImportError, ValueError):
            return False
    return False


_registry = Registry()


def discover(*, refresh: bool = False) -> dict[str, BackendSpec]:
    """The installed plugins' specs, {name: spec}; `refresh=True` reads the entry points again."""
    return _registry.discover(refresh=refresh)


def family() -> dict[str, str]:
    """{backend name: distribution} of this project's plugins, installed or not."""
    return _registry.family()


def leads() -> dict[str, str]:
    """{chain: backend} this project's chains prefer, installed or not."""
    return _registry.leads()


def installed() -> dict[str, BackendSpec]:
    """The installed plugins whose libraries are importable, {name: spec}."""
    return _registry.installed()


def is_usable(spec: BackendSpec) -> bool:
    """True when every library `spec` requires is importable."""
    return _registry.is_usable(spec)


def known_names() -> list[str]:
    """Backend names `preferred_engine` accepts: installed plugins and this project's family.

    From the entry points alone: no plugin's module is imported to know its name.
    """
    entries, family_ = _registry.entries(), family()
    cached = _known.get(id(entries))
    if cached is None or cached[0] is not entries:
        cached = _known[id(entries)] = (entries, sorted(set(entries) | set(family_)))
    return cached[1]


_known: dict[int, tuple[dict[str, tuple[str, str]], list[str]]] = {}


def spec(name: str) -> BackendSpec | None:
    """The spec of installed plugin `name` (imported on first use), or None."""
    return _registry.spec(name)


def url_schemes() -> dict[str, str]:
    """{URL scheme: backend} of the network stores (see `Registry.url_schemes`)."""
    return _registry.url_schemes()


def schemes_of(name: str) -> tuple[str, ...]:
    """The URL schemes backend `name` serves, installed or one of this project's family."""
    return _registry.schemes_of(name)


def lead_choice(chain: str, policy: str, engine: str | None) -> tuple[str, str] | None:
    """(backend, kind) when `chain`'s lead settles the choice (see `Registry.lead_choice`)."""
    return _registry.lead_choice(chain, policy, engine)


def require(name: str) -> BackendSpec:
    """The spec of installed, usable backend `name`; `EngineNotAvailableError` otherwise."""
    spec = _registry.spec(name)
    if spec is None:
        hint = install_hint(name)
        raise EngineNotAvailableError(
            f"backend {name!r} is not installed" + (f" ({hint})" if hint else "")
        )
    if not is_usable(spec):
        raise EngineNotAvailableError(
            f"backend {name!r} is registered but its library ({', '.join(spec.requires)}) "
            "cannot be imported"
        )
    return spec


def install_hint(name: str) -> str:
    """How to install backend `name` (`pip install 'twat-cache[<extra>]'`), or ''.

    '' for a backend built into the core (functools: nothing to install) and for a name that
    is neither installed nor one of this project's plugins.
    """
    found = _registry.spec(name)
    if found is not None and found.opener.startswith("twat_cache."):
        return ""  # built in
    extra = found.extra if found is not None else (name if name in family() else "")
    return f"pip install 'twat-cache[{extra}]'" if extra else ""


def iter_specs() -> Iterator[BackendSpec]:
    """Every installed spec, usable or not."""
    yield from discover().values()
