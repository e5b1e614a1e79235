"""Where the Redis store connects: the URL from `url=` or the environment, parsed and checked.

Accepted forms (DESIGN §5):

    redis://[[user]:password@]host[:port][/db][?option=value&...]     one server
    rediss://...                                                      the same over TLS
    unix://[[user]:password@]/path/to/socket[?db=N&...]              a local socket
    redis+cluster://[[user]:password@]host:port[,host:port...][?...]  Redis Cluster (db 0 only)
    redis+sentinel://[[user]:password@]host:port[,host:port...]/service[?db=N&...]
                                                                      the master Sentinel names
    rediss+cluster://, rediss+sentinel://                              the same over TLS

Query options: `socket_timeout` and `socket_connect_timeout` (seconds, default 0.5 and 0.25:
an unresponsive server costs one short timeout), `db` (sentinel, unix) and
`sentinel_password` (sentinel). `redis://`, `rediss://` and `unix://` URLs also take every
query option redis-py's `from_url` knows. The URL comes from `url=` (alias `redis_url=`),
else from `$TWAT_CACHE_REDIS_URL` or `$TWAT_CACHE_URL` (the first one that names a Redis
server), and is checked when the store opens, with a `ValueError` naming where it came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

__all__ = [
    "DEFAULT_TIMEOUTS",
    "ENV_REDIS_URL",
    "ENV_URL",
    "SCHEMES",
    "Target",
    "parse_url",
    "redact",
    "resolve_target",
]

ENV_URL = "TWAT_CACHE_URL"
ENV_REDIS_URL = "TWAT_CACHE_REDIS_URL"
SINGLE = ("redis", "rediss", "unix")
CLUSTER = ("redis+cluster", "rediss+cluster")
SENTINEL = ("redis+sentinel", "rediss+sentinel")
SCHEMES = SINGLE + CLUSTER + SENTINEL
#: Short on purpose: a frozen server costs one of these, then the breaker answers for it.
DEFAULT_TIMEOUTS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.5}
_GROUP_OPTIONS = {
    "redis+cluster": ("socket_timeout", "socket_connect_timeout"),
    "redis+sentinel": ("socket_timeout", "socket_connect_timeout", "db", "sentinel_password"),
}
_FORMS = (
    "redis://host:6379/0, rediss://..., unix:///path/to/socket, "
    "redis+cluster://host:port,host:port, redis+sentinel://host:port,host:port/service"
)


@dataclass(frozen=True)
class Target:
    """A parsed server URL: what kind of deployment, where, and how to connect.

    `kind` is "single", "cluster" or "sentinel". `url` is the URL as given (passed to redis-py
    for single servers), `hosts` the (host, port) list of a cluster's startup nodes or of the
    sentinels, `service` the sentinel's master name, `db` the database, `timeouts` the socket
    timeouts, `ssl` True for the `rediss` forms, `username`/`password` the credentials and
    `sentinel_password` the sentinels' own password. `shown` is the URL without its password.
    """

    kind: str
    url: str
    shown: str
    hosts: tuple[tuple[str, int], ...] = ()
    service: str = ""
    db: int = 0
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    timeouts: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_TIMEOUTS))

    def __hash__(self) -> int:
        return hash(self.url)


def redact(url: str) -> str:
    """`url` with its password replaced by `***`, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    creds, at, hosts = netloc.rpartition("@")
    if not at:
        return url
    user, colon, _password = creds.partition(":")
    shown = f"{user}:***" if colon else "***"
    return f"{scheme}://{shown}@{hosts}{slash}{tail}"


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"{name}: expected seconds > 0, got {raw!r}")
    return value


def _hosts(netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    """`h:p,h:p` (IPv6 in brackets) -> ((host, port), ...)."""
    out = []
    for raw in netloc.split(","):
        part = raw.strip()
        if not part:
            raise ValueError("an empty host in the host list")
        if part.startswith("["):
            host, _, rest = part[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
        elif part.count(":") == 1:
            host, _, port_text = part.partition(":")
        elif ":" in part:
            raise ValueError(f"{part!r}: put an IPv6 address in brackets, [::1]:6379")
        else:
            host, port_text = part, ""
        if not host:
            raise ValueError(f"{part!r} has no host")
        try:
            port = int(port_text) if port_text else default_port
        except ValueError:
            raise ValueError(f"{part!r}: the port is not a number") from None
        if not 0 < port < 65536:
            raise ValueError(f"{part!r}: the port is out of range")
        out.append((host, port))
    return tuple(out)


def _single(url: str, scheme: str, shown: str) -> Target:
    """A redis://, rediss:// or unix:// URL, checked with redis-py's own parser."""
    import redis  # noqa: PLC0415

    parts = urlsplit(url)
    _ = parts.port  # a non-numeric or out-of-range port raises ValueError
    if scheme == "unix" and not parts.path:
        raise ValueError("a unix:// URL needs the socket's path")
    if scheme != "unix" and not parts.hostname:
        raise ValueError("the URL names no host")
    pool = redis.ConnectionPool.from_url(url, **DEFAULT_TIMEOUTS)
    try:
        pool.make_connection()  # unknown query options fail here (no I/O happens)
    except TypeError as exc:
        raise ValueError(f"unknown query option ({exc})") from None
    finally:
        pool.disconnect()
    kwargs: dict[str, Any] = pool.connection_kwargs
    timeouts = {name: kwargs.get(name) or DEFAULT_TIMEOUTS[name] for name in DEFAULT_TIMEOUTS}
    return Target(
        kind="single",
        url=url,
        shown=shown,
        db=int(kwargs.get("db") or 0),
        ssl=scheme == "rediss",
        timeouts=timeouts,
    )


def _group(url: str, scheme: str, shown: str) -> Target:
    """A redis+cluster:// or redis+sentinel:// URL (parsed by hand: urlsplit reads one host)."""
    base = scheme.replace("rediss", "redis")
    rest = url.split("://", 1)[1]
    rest, _, fragment = rest.partition("#")
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    creds, at, hostlist = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = creds.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    if not hostlist:
        raise ValueError("the URL names no host")
    default_port = 26379 if base == "redis+sentinel" else 6379
    hosts = _hosts(hostlist, default_port)
    options: dict[str, str] = {}
    for name, values in parse_qs(query, keep_blank_values=True, strict_parsing=False).items():
        if name not in _GROUP_OPTIONS[base]:
            allowed = ", ".join(_GROUP_OPTIONS[base])
            raise ValueError(f"unknown query option {name!r} (allowed: {allowed})")
        options[name] = values[-1]
    timeouts = dict(DEFAULT_TIMEOUTS)
    for name in DEFAULT_TIMEOUTS:
        if name in options:
            timeouts[name] = _seconds(name, options[name])
    path = path.strip("/")
    service = ""
    db = 0
    if base == "redis+cluster":
        if path not in ("", "0"):
            raise ValueError("a cluster has only database 0 (leave the path empty)")
    else:
        service = unquote(path)
        if not service or "/" in service:
            raise ValueError("a sentinel URL ends with /service_name (the monitored master)")
        raw_db = options.get("db", "0")
        if not raw_db.isdigit():
            raise ValueError(f"db: expected a database number, got {raw_db!r}")
        db = int(raw_db)
    del fragment
    return Target(
        kind="cluster" if base == "redis+cluster" else "sentinel",
        url=url,
        shown=shown,
        hosts=hosts,
        service=service,
        db=db,
        ssl=scheme.startswith("rediss"),
        username=username,
        password=password,
        sentinel_password=options.get("sentinel_password"),
        timeouts=timeouts,
    )


def parse_url(url: str, source: str = "url") -> Target:
    """Parse a Redis server URL; `ValueError` naming `source` and the accepted forms if bad."""
    shown = redact(url) if isinstance(url, str) else repr(url)
    try:
        if not isinstance(url, str) or "://" not in url:
            raise ValueError("not a URL (scheme://...)")
        scheme = url.split("://", 1)[0].lower()
        if scheme not in SCHEMES:
            raise ValueError(f"the scheme must be one of {', '.join(s + '://' for s in SCHEMES)}")
        if scheme in SINGLE:
            return _single(url, scheme, shown)
        return _group(url, scheme, shown)
    except ValueError as exc:
        raise ValueError(
            f"redis backend: malformed server URL {shown!r} from {source} (set url=/redis_url= "
            f"or ${ENV_REDIS_URL} / ${ENV_URL}; forms: {_FORMS}): {exc}"
        ) from None


def resolve_target(url: str | None) -> Target:
    """The server to use: `url` (the option), else the first Redis URL in the environment.

    `$TWAT_CACHE_REDIS_URL`, then `$TWAT_CACHE_URL`: a `$TWAT_CACHE_URL` that names another
    kind of server (memcached://) is passed over when `$TWAT_CACHE_REDIS_URL` is set, and is a
    clear error when it is the only one. No URL at all is a `ValueError` saying how to give one.
    """
    if url:
        return parse_url(url, "url= (alias redis_url=)")
    found = [(name, os.environ.get(name, "")) for name in (ENV_REDIS_URL, ENV_URL)]
    found = [(name, value) for name, value in found if value.strip()]
    if not found:
        raise ValueError(
            "redis backend: no server URL; pass url='redis://host:6379/0' (alias redis_url=) "
            f"to the decorator or set ${ENV_REDIS_URL} or ${ENV_URL}"
        )
    for name, value in found:
        if value.split("://", 1)[0].lower() in SCHEMES:
            return parse_url(value, f"${name}")
    name, value = found[0]
    return parse_url(value, f"${name}")
