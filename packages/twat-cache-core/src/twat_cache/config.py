"""Validated configuration of one cache: `CacheConfig` and `create_cache_config`.

Everything a decorator accepts ends up here and is checked once, when the decorator is called,
against the table in `options`: a bad argument fails where the user wrote it, with the
option's name and what is allowed. Options a plugin declares beyond the core's
(`BackendSpec.options`) are kept in `CacheConfig.options` and read like fields.
"""

from __future__ import annotations

from twat_cache._frozen import Frozen
from twat_cache.options import ALIASES, OPTIONS, ConfigurationError, check_fits

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable, Mapping
    from typing import Any

__all__ = ["CacheConfig", "ConfigurationError", "create_cache_config"]

# The slot order is the table's order, then the plugin options.
_FIELDS = (*OPTIONS, "options")


class CacheConfig(Frozen):
    """The validated options of one cached function; frozen, and checked when it is created.

    Fields are the options of `twat_cache.options.OPTIONS` (maxsize, ttl, policy, folder_name,
    preferred_engine, use_async, sql_backend, compress, typed, encrypt, mmap_mode, check_code,
    url, secure, ignore, key, cache_if, stale, max_bytes, front, front_ttl, wait_timeout, kind)
    plus `options`, the options of plugins, which are also readable as attributes. The names of
    the original plan are accepted as aliases: `use_sql` (sql_backend), `redis_url` (url) and
    `backend` (preferred_engine). A `url` without `preferred_engine` sets it to the network
    store serving the URL's scheme (`BackendSpec.schemes`). Any invalid value raises
    `ConfigurationError`, a `ValueError` naming the option; `replace(**changes)` returns a
    validated copy.
    """

    __slots__ = _FIELDS

    maxsize: int | None
    ttl: float | None
    policy: str
    folder_name: str | None
    preferred_engine: str | None
    use_async: bool
    sql_backend: bool
    compress: bool | int
    typed: bool
    encrypt: bool
    mmap_mode: str | None
    check_code: bool
    url: str | None
    secure: bool
    ignore: tuple[str, ...]
    key: Callable[..., Hashable] | None
    cache_if: Callable[[Any], object] | None
    stale: float | None
    max_bytes: int | None
    front: int | None
    front_ttl: float
    wait_timeout: float | None
    kind: str
    options: Mapping[str, Any]

    def __init__(self, **values: Any) -> None:
        plugin = dict(values.pop("options", None) or {})
        for alias, name in ALIASES.items():
            if alias in values:
                # Checked under the name the caller wrote, so an error names `use_sql`.
                value = OPTIONS[name].check(alias, values.pop(alias))
                given = values.get(name)
                if value is not None and given is not None and given != value:
                    raise ConfigurationError(
                        f"{alias} and {name} name the same option and disagree: "
                        f"{alias}={value!r}, {name}={given!r}; give one of them"
                    )
                if given is None:
                    values[name] = value
        unknown = sorted(set(values) - set(OPTIONS))
        if unknown:
            plugin.update({name: values.pop(name) for name in unknown})
        checked = {
            name: option.check(name, values.get(name, option.default))
            for name, option in OPTIONS.items()
        }
        _check_together(checked)
        self._set(**checked, options=_check_plugin_options(plugin))

    def __getattr__(self, name: str) -> Any:
        # Plugin options and the aliases read like fields.
        if name in ALIASES:
            return getattr(self, ALIASES[name])
        options = object.__getattribute__(self, "options")
        if name in options:
            return options[name]
        raise AttributeError(f"CacheConfig has no option {name!r}")

    def __hash__(self) -> int:
        return hash((self.kind, self.maxsize, self.ttl, self.policy, self.folder_name))

    def as_dict(self) -> dict[str, Any]:
        """The options and their values, in declaration order (plugin options last)."""
        data = {name: getattr(self, name) for name in OPTIONS}
        data["options"] = dict(self.options)
        return data


def _check_together(values: dict[str, Any]) -> None:
    """Checks that involve several options."""
    if values["policy"] == "ttl" and values["ttl"] is None:
        raise ConfigurationError("policy: 'ttl' needs a ttl (seconds > 0); got ttl=None")
    if values["stale"] is not None and values["ttl"] is None:
        raise ConfigurationError(
            f"stale: {values['stale']!r} needs a ttl (stale serves entries past their ttl)"
        )
    if values["url"] is not None:
        _pick_by_url(values)
    if values["kind"] == "memory":
        for name in ("front", "max_bytes"):
            if values[name] is not None:
                raise ConfigurationError(
                    f"{name}: only for persistent caches (bcache, fcache, ucache with a "
                    f"folder_name, network stores); this cache is in memory"
                )
    elif values["kind"] == "async" and (
        values["front"] is not None or values["max_bytes"] is not None
    ):
        _check_async_store(values)


def _check_async_store(values: dict[str, Any]) -> None:
    """`front` and `max_bytes` on a coroutine function need a persistent store named.

    acache keeps results in memory unless `url=` or `backend=` names a network (or disk)
    store. Said when decorating whatever is installed, except that a named store whose
    plugin is missing is a fallback (dropping them, with its notice), never an error.
    """
    from twat_cache import registry  # noqa: PLC0415

    engine = values["preferred_engine"]
    spec = None if engine is None else registry.spec(engine)
    if engine is None or (spec is not None and not spec.persistent):
        name = "front" if values["front"] is not None else "max_bytes"
        store = "the async chain" if engine is None else repr(engine)
        raise ConfigurationError(
            f"{name}: only for persistent caches; {store} keeps this coroutine function's "
            "results in memory (name a network store: url=..., or backend='redis')"
        )


def _pick_by_url(values: dict[str, Any]) -> None:
    """A `url=` names its network store: set `preferred_engine`, or check the one named.

    Without a backend named, the installed store whose spec claims the URL's scheme (or the
    member of this project's family that would, when it is not installed: the decorator then
    falls back with its one notice) becomes `preferred_engine`. A named backend must serve the
    scheme, or read `url=` itself (a plugin declaring the option without schemes). Only the
    scheme is shown in errors: the rest of a URL may hold a password.
    """
    from twat_cache import registry  # noqa: PLC0415  (specs are loaded only when a URL is given)

    url = values["url"]
    scheme = url.partition("://")[0].lower() if "://" in url else None
    engine = values["preferred_engine"]
    if engine is None:
        owners = registry.url_schemes()
        owner = owners.get(scheme) if scheme is not None else None
        if owner is None:
            what = (
                "not a URL (scheme://...)"
                if scheme is None
                else f"no network store serves {scheme}://"
            )
            raise ConfigurationError(
                f"url: {what}; the schemes served are "
                f"{', '.join(f'{s}://' for s in sorted(owners)) or 'none'}"
            )
        values["preferred_engine"] = owner
        return
    served = registry.schemes_of(engine)
    if scheme is not None and scheme in served:
        return
    if served:
        raise ConfigurationError(
            f"url: backend {engine!r} serves {', '.join(f'{s}://' for s in served)}, not "
            + ("a URL without a scheme" if scheme is None else f"{scheme}://")
            + "; give a URL of its kind, or leave the backend out to pick it by the URL"
        )
    spec = registry.spec(engine)
    if spec is not None and "url" in spec.options:
        return  # a store that reads url= itself
    raise ConfigurationError(
        f"url: backend {engine!r} has no server to connect to; url= is for network stores "
        f"({', '.join(f'{s}://' for s in sorted(registry.url_schemes()))}); "
        "leave url out, or name a network store"
    )


def _check_plugin_options(options: dict[str, Any]) -> dict[str, Any]:
    """Check options no core entry declares against the installed plugins' declarations."""
    if not options:
        return {}
    from twat_cache import registry  # noqa: PLC0415

    declared: dict[str, Callable[[Any], Any]] = {}
    for spec in registry.discover().values():
        for name, check in spec.options.items():
            declared.setdefault(name, check)
    unknown = sorted(set(options) - set(declared))
    if unknown:
        known = sorted({*OPTIONS, *ALIASES, *declared} - {"kind"})
        raise ConfigurationError(f"unknown cache option(s) {unknown}; known options: {known}")
    checked = {}
    for name, value in options.items():
        try:
            checked[name] = declared[name](value)
        except ConfigurationError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{name}: {exc}") from None
    return checked


def create_cache_config(**kwargs: Any) -> CacheConfig:
    """Build a validated `CacheConfig` from keyword options; an unknown option is an error.

    Accepts every option by name, the aliases of the original plan (`use_sql`, `redis_url`,
    `backend`) and the options installed plugins declare. Unknown names are rejected with the
    list of known ones, so a typo (`max_size=`) never silently turns a bounded cache into an
    unbounded one; so is `front_ttl` without `front`.
    """
    check_fits(None, kwargs)
    return CacheConfig(**kwargs)
