"""What the network stores share: server lists, seconds, circuit breakers, one object per URL.

The Redis and memcached plugins import this module (when a store opens, or when they check a
`url=`); the core never does on `import twat_cache` or to decorate (only `flights` reaches for
`env_seconds`, at a call, when `$TWAT_CACHE_WAIT_TIMEOUT` is set). It knows no client library
and uses the standard library alone:

- `parse_hosts` reads the `host:port,host:port` list of a URL (IPv6 addresses in brackets);
  `seconds` / `env_seconds` read a number of seconds from a URL's query or the environment;
  `env_url` picks the server URL from the environment variables a store reads.
- `Breaker` is the circuit breaker of one server: the first failure opens it (ONE warning per
  outage), calls then skip the server, and a background thread probes it every
  `RETRY_INTERVAL` seconds (with jitter) until it answers (INFO: caching resumes). The
  interval is read at each use, so tests shorten it here, in one place.
- `PerProcess` keeps one object per key (the clients of one URL) in this process and forgets
  them all in a child made by `fork()`, which must never use its parent's sockets.
"""

from __future__ import annotations

import os
import threading
import time
import weakref

from twat_cache._log import logger

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from typing import Any, TypeVar

    K = TypeVar("K", bound=Hashable)
    V = TypeVar("V")

__all__ = [
    "RETRY_INTERVAL",
    "Breaker",
    "PerProcess",
    "env_seconds",
    "env_url",
    "parse_hosts",
    "seconds",
]

#: Seconds between two probes of a server that failed (with up to 20 % jitter).
RETRY_INTERVAL = 1.0


# --- where the servers are -----------------------------------------------------------------------


def seconds(name: str, raw: str) -> float:
    """The text `raw` as a finite number of seconds > 0; else a `ValueError` naming `name`.

    `name` says where the text came from (a query option, `$VARIABLE`), so the message points
    at what to fix: `timeout: expected seconds > 0, got 'soon'`.
    """
    try:
        value = float(raw)
    except ValueError:
        value = -1.0  # reported below like any other bad value
    if not 0 < value < float("inf"):  # also refuses nan
        raise ValueError(f"{name}: expected seconds > 0, got {raw!r}")
    return value


def env_seconds(variable: str, default: float) -> float:
    """`$variable` as seconds > 0 (see `seconds`), or `default` when it is unset or empty."""
    raw = os.environ.get(variable)
    return seconds(f"${variable}", raw) if raw else default


def env_url(variables: tuple[str, ...], schemes: tuple[str, ...]) -> tuple[str, str] | None:
    """The server URL of the environment: ("$NAME", url), or None when no variable is set.

    `variables` in order of preference (the store's own first, then the generic
    `$TWAT_CACHE_URL`); the first set one whose scheme is in `schemes` wins, so a generic URL
    naming another kind of server is passed over. When none names such a server, the first
    set one is returned: parsing it then says what is wrong with it.
    """
    found = [(name, os.environ.get(name, "")) for name in variables]
    found = [(name, value) for name, value in found if value.strip()]
    if not found:
        return None
    for name, value in found:
        if value.split("://", 1)[0].lower() in schemes:
            return f"${name}", value
    name, value = found[0]
    return f"${name}", value


def parse_hosts(netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    """`host[:port],host[:port]...` -> ((host, port), ...), in order, repeats kept.

    An IPv6 address goes in brackets (`[::1]:6379`); a missing port is `default_port`; each
    entry is percent-decoded (`%25` in an IPv6 zone). A bad entry is a `ValueError` naming it
    and what is wrong; callers add which option or variable the URL came from.
    """
    from urllib.parse import unquote  # noqa: PLC0415  (flights imports this module cheaply)

    hosts = []
    for raw in netloc.split(","):
        part = unquote(raw.strip())
        if not part:
            raise ValueError("an empty host in the host list")
        if part.startswith("["):
            host, bracket, rest = part[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"{part!r}: expected [address] or [address]:port")
            port_text = rest[1:]
        elif part.count(":") == 1:
            host, _, port_text = part.partition(":")
        elif ":" in part:
            raise ValueError(f"{part!r}: put an IPv6 address in brackets, [::1]:{default_port}")
        else:
            host, port_text = part, ""
        if not host:
            raise ValueError(f"{part!r} has no host")
        try:
            port = int(port_text) if port_text else default_port
        except ValueError:
            raise ValueError(f"{part!r}: the port is not a number") from None
        if not 0 < port < 65536:
            raise ValueError(f"{part!r}: the port is out of range (1 to 65535)")
        hosts.append((host, port))
    return tuple(hosts)


# --- circuit breakers ----------------------------------------------------------------------------


class Breaker:
    """The circuit breaker of one server (or cluster node): see the module docstring.

    `what` names the kind of server in messages ("Redis", "memcached"), `shown` the server
    (its URL without the password, or host:port), `probe` asks it something cheap and raises
    when it does not answer, and `effect` says what calls do meanwhile. `closed` is read on
    every call: a plain attribute, no lock on the hot path.
    """

    __slots__ = ("__weakref__", "closed", "effect", "lock", "probe", "shown", "thread", "what")

    def __init__(
        self,
        what: str,
        shown: str,
        probe: Callable[[], object],
        *,
        effect: str = "calls run uncached",
    ) -> None:
        self.what = what
        self.shown = shown
        self.probe = probe
        self.effect = effect
        self.closed = True
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def failed(self, exc: BaseException, who: str = "") -> None:
        """Open the breaker (one WARNING, for `who`, if it was closed); make sure a probe runs."""
        with self.lock:
            first = self.closed
            self.closed = False
            start = self.thread is None or not self.thread.is_alive()
            if start:
                # weakly: a breaker whose stores were dropped ends its probe thread
                self.thread = threading.Thread(
                    target=_probe_loop,
                    args=(weakref.ref(self),),
                    name=f"twat_cache probe of {self.what} at {self.shown}",
                    daemon=True,
                )
        if first:
            logger.warning(
                "%s%s at %s does not answer (%s: %s); %s until it is back (probed every %.1f s)",
                f"{who}: " if who else "",
                self.what,
                self.shown,
                type(exc).__name__,
                exc,
                self.effect,
                RETRY_INTERVAL,
            )
        if start and self.thread is not None:
            self.thread.start()  # outside the lock: the thread may fail at once

    def recovered(self) -> None:
        """Close the breaker; INFO when it was open."""
        with self.lock:
            was_open = not self.closed
            self.closed = True
        if was_open:
            logger.info("%s at %s answers again; caching resumes", self.what, self.shown)

    def probe_once(self) -> bool:
        """Ask the server once; close the breaker when it answers. True when it answered."""
        try:
            self.probe()
        except Exception as exc:  # any failure means "not yet": the next probe tries again
            logger.debug("probe of %s at %s failed: %s", self.what, self.shown, exc)
            return False
        self.recovered()
        return True


def _probe_loop(ref: weakref.ref[Breaker]) -> None:
    """Probe until the server answers, or the breaker is gone (its stores were dropped)."""
    import random  # noqa: PLC0415  (only once a server failed)

    while True:
        # read at each turn, so that a test's shorter interval applies to running threads too;
        # the jitter keeps many processes from probing a recovering server all at once
        time.sleep(RETRY_INTERVAL * (1 + 0.2 * random.random()))
        breaker = ref()
        if breaker is None or breaker.closed:
            return
        pid = os.getpid()
        if breaker.probe_once():
            return
        if os.getpid() != pid:  # pragma: no cover  (forked while probing: the child stops)
            return
        del breaker  # no strong reference while sleeping


# --- one object per URL in this process ----------------------------------------------------------


class PerProcess:
    """One object per key (a URL's clients and breakers) in this process, made on first use.

    `get(key, make)` returns the object made by `make(key)` the first time that key was asked
    for. `forget()` drops them all; it runs by itself in a child made by `fork()` (registered
    with `os.register_at_fork`, so make one per module, not per store), which then makes new
    clients instead of using, or shutting down, its parent's sockets, locks or threads.
    """

    def __init__(self) -> None:
        self._objects: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=self.forget)

    def get(self, key: K, make: Callable[[K], V]) -> V:
        """The object of `key`, made by `make(key)` when there is none yet (once per key)."""
        found: V | None = self._objects.get(key)
        if found is None:
            with self._lock:
                found = self._objects.get(key)
                if found is None:
                    found = self._objects[key] = make(key)
        return found

    def forget(self) -> None:
        """Drop every object: the next `get` makes new ones (after fork, and for tests)."""
        self._objects = {}
        # a new lock too: after fork, another thread of the parent may have held the old one
        self._lock = threading.Lock()
