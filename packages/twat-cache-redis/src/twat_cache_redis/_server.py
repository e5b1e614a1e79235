"""The connection side of the Redis stores: clients, circuit breakers, one set per server URL.

Every store of one URL in a process shares one `Server`: its redis-py clients (a sync client,
and one asyncio client per event loop) and its breakers. Clients are built with short socket
timeouts and NO retries (`Retry(NoBackoff(), 0)`, also for the sentinels' own connections):
redis-py's defaults retry ten times with back-off, which turns one unresponsive server into
seconds per call. A Redis Cluster's sync client is built lazily, under the breaker, because
its constructor talks to the cluster.

A `Breaker` per server (and, in a cluster, per node) makes an unresponsive server cost one
timeout: the first failure opens it (one WARNING per outage), calls then skip the network
(misses, dropped writes, no lock) and a background thread probes the server about every
`RETRY_INTERVAL` seconds; the first probe that answers closes it (INFO: caching resumes).

After `fork()` the child forgets every `Server` (new clients, new breakers, no probe
threads): it never uses, or shuts down, the parent's sockets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import AsyncIterator, Callable
from typing import Any

from twat_cache_redis._url import Target

logger = logging.getLogger("twat_cache")

__all__ = ["OUTAGE", "RETRY_INTERVAL", "Breaker", "Server", "forget_servers", "server_for"]

#: Seconds between two probes of a server that failed (with up to 20 % jitter).
RETRY_INTERVAL = 1.0


def _outage_errors() -> tuple[type[BaseException], ...]:
    """What "the server cannot be used right now" looks like in redis-py (see FINDINGS)."""
    from redis import exceptions as e  # noqa: PLC0415

    return (
        e.ConnectionError,  # refused, reset; MasterNotFoundError, BusyLoadingError
        e.TimeoutError,  # an unresponsive server (not a ConnectionError!)
        e.ClusterError,  # ClusterDownError, MasterDownError
        e.RedisClusterException,  # not a RedisError: the cluster constructor, slot coverage
        e.ReadOnlyError,  # a replica where a master was expected
        OSError,
    )


OUTAGE = _outage_errors()


class Breaker:
    """A circuit breaker for one server or cluster node (see the module docstring).

    `closed` is read on every call (a plain attribute: no lock on the hot path). `failed(exc)`
    opens it and starts the probe thread; `probe` is called by that thread and closes the
    breaker when it returns without raising.
    """

    __slots__ = ("__weakref__", "closed", "lock", "name", "probe", "shown", "thread")

    def __init__(self, name: str, shown: str, probe: Callable[[], object]) -> None:
        self.name = name
        self.shown = shown
        self.probe = probe
        self.closed = True
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def failed(self, exc: BaseException, who: str = "") -> None:
        """Open the breaker (one WARNING when it was closed) and make sure a probe runs."""
        with self.lock:
            first = self.closed
            self.closed = False
            start = self.thread is None or not self.thread.is_alive()
            if start:
                self.thread = threading.Thread(
                    target=_probe_loop,
                    args=(weakref.ref(self),),
                    name=f"twat_cache redis probe {self.shown}",
                    daemon=True,
                )
        if first:
            logger.warning(
                "%sRedis at %s does not answer (%s: %s); calls run uncached "
                "until it is back (probed every %.1f s)",
                f"{who}: " if who else "",
                self.shown,
                type(exc).__name__,
                exc,
                RETRY_INTERVAL,
            )
        if start and self.thread is not None:
            self.thread.start()

    def recovered(self) -> None:
        """Close the breaker; INFO when it was open."""
        with self.lock:
            was_open = not self.closed
            self.closed = True
        if was_open:
            logger.info("Redis at %s answers again; caching resumes", self.shown)

    def probe_once(self) -> bool:
        """Try the server once; close the breaker when it answers. True when closed."""
        try:
            self.probe()
        except Exception as exc:
            logger.debug("probe of %s failed: %s", self.shown, exc)
            return False
        self.recovered()
        return True


def _probe_loop(ref: weakref.ref[Breaker]) -> None:
    """Probe until the server answers, or the breaker is gone (its stores were dropped)."""
    while True:
        time.sleep(RETRY_INTERVAL * (1 + 0.2 * random.random()))  # jitter
        breaker = ref()
        if breaker is None or breaker.closed:
            return
        pid = os.getpid()
        if breaker.probe_once():
            return
        if os.getpid() != pid:  # pragma: no cover  (forked while probing)
            return
        del breaker


def _no_retry(asynchronous: bool = False) -> Any:
    """A fresh `Retry(NoBackoff(), 0)`: redis-py retries nothing itself."""
    from redis.backoff import NoBackoff  # noqa: PLC0415

    if asynchronous:
        from redis.asyncio.retry import Retry as AsyncRetry  # noqa: PLC0415

        return AsyncRetry(NoBackoff(), 0)
    from redis.retry import Retry  # noqa: PLC0415

    return Retry(NoBackoff(), 0)


def make_client(target: Target, *, asynchronous: bool = False) -> Any:
    """A redis-py client (sync, or redis.asyncio) for `target`, with short timeouts, no retry.

    Only the sync cluster client does I/O when it is made (it reads the slot map).
    """
    timeouts: dict[str, Any] = dict(target.timeouts)
    if target.kind == "single":
        if asynchronous:
            import redis.asyncio as aioredis  # noqa: PLC0415

            return aioredis.Redis.from_url(target.url, retry=_no_retry(True), **timeouts)
        import redis  # noqa: PLC0415

        return redis.Redis.from_url(target.url, retry=_no_retry(), **timeouts)
    creds: dict[str, Any] = {"username": target.username, "password": target.password}
    if target.kind == "cluster":
        if asynchronous:
            from redis.asyncio.cluster import ClusterNode as AsyncNode  # noqa: PLC0415
            from redis.asyncio.cluster import RedisCluster as AsyncCluster  # noqa: PLC0415

            return AsyncCluster(
                startup_nodes=[AsyncNode(h, p) for h, p in target.hosts],
                retry=_no_retry(True),
                require_full_coverage=False,
                ssl=target.ssl,
                **creds,
                **timeouts,
            )
        from redis.cluster import ClusterNode, RedisCluster  # noqa: PLC0415

        node: Any = ClusterNode  # untyped in redis-py
        return RedisCluster(
            startup_nodes=[node(h, p) for h, p in target.hosts],
            retry=_no_retry(),
            require_full_coverage=False,
            ssl=target.ssl,
            **creds,
            **timeouts,
        )
    sentinel_kwargs: dict[str, Any] = {**timeouts, "retry": _no_retry(asynchronous)}
    if target.sentinel_password:
        sentinel_kwargs["password"] = target.sentinel_password
    master: dict[str, Any] = {"db": target.db, "retry": _no_retry(asynchronous), **creds}
    if asynchronous:
        from redis.asyncio.sentinel import Sentinel as AsyncSentinel  # noqa: PLC0415

        if target.ssl:
            from redis.asyncio.sentinel import (  # noqa: PLC0415
                SentinelManagedSSLConnection as AsyncSSL,
            )

            master["connection_class"] = AsyncSSL
        make: Any = AsyncSentinel  # untyped in redis-py
        asentinel = make(list(target.hosts), sentinel_kwargs=sentinel_kwargs, **timeouts)
        return asentinel.master_for(target.service, **master, **timeouts)
    from redis.sentinel import Sentinel, SentinelManagedSSLConnection  # noqa: PLC0415

    if target.ssl:
        master["connection_class"] = SentinelManagedSSLConnection
    make_sentinel: Any = Sentinel  # untyped in redis-py
    sentinel = make_sentinel(list(target.hosts), sentinel_kwargs=sentinel_kwargs, **timeouts)
    return sentinel.master_for(target.service, **master, **timeouts)


class Server:
    """The clients and breakers of one server URL in this process (shared by its stores)."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.cluster = target.kind == "cluster"
        self.lock = threading.Lock()
        self._client: Any = None
        self.breaker = Breaker("*", target.shown, self._probe)
        self.nodes: dict[str, Breaker] = {}
        # loop -> (client, closer): the closer is an async generator parked at its `yield`
        self._aclients: dict[asyncio.AbstractEventLoop, tuple[Any, Any]] = {}

    # -- the sync client --------------------------------------------------------------------

    def client(self) -> Any:
        """The sync client; a cluster's is made here on first use (it does I/O, may raise)."""
        client = self._client
        if client is None:
            with self.lock:
                client = self._client
                if client is None:
                    client = self._client = make_client(self.target)
        return client

    def built(self) -> Any:
        """The sync client if it was made, else None (never does I/O)."""
        return self._client

    def _probe(self) -> None:
        self.client().ping()

    # -- cluster nodes ----------------------------------------------------------------------

    def node_breaker(self, key: str) -> Breaker:
        """The breaker guarding `key`: its cluster node's, or the server's (not a cluster)."""
        if not self.cluster:
            return self.breaker
        client = self._client
        if client is None:  # an asyncio client's slot map will do (no I/O either way)
            client = next((c for c, _ in list(self._aclients.values())), None)
            if client is None:
                return self.breaker
        try:
            name = client.get_node_from_key(key).name
        except Exception:  # no slot map yet, or the slot is not covered
            return self.breaker
        breaker = self.nodes.get(name)
        if breaker is None:
            with self.lock:
                breaker = self.nodes.get(name)
                if breaker is None:
                    breaker = self.nodes[name] = Breaker(
                        name, f"{self.target.shown} (node {name})", self._node_probe(name)
                    )
        return breaker

    def _node_probe(self, name: str) -> Callable[[], object]:
        def probe() -> object:
            client = self.client()
            node = client.get_node(node_name=name)
            if node is None:  # not a primary any more: nothing to wait for
                return True
            return client.get_redis_connection(node).ping()

        return probe

    def breaker_of(self, exc: BaseException, key: str | None) -> Breaker:
        """Which breaker a failure belongs to: cluster-wide errors open the server's."""
        from redis import exceptions as e  # noqa: PLC0415

        if key is None or not self.cluster or isinstance(exc, (e.ClusterError,)):
            return self.breaker
        if isinstance(exc, e.RedisClusterException):
            return self.breaker
        return self.node_breaker(key)

    # -- asyncio clients --------------------------------------------------------------------

    def aclient_nowait(self) -> Any:
        """The running loop's asyncio client if there is one (no await), else None."""
        entry = self._aclients.get(asyncio.get_running_loop())
        return None if entry is None else entry[0]

    async def aclient(self) -> Any:
        """The redis.asyncio client of the running event loop (made on first use).

        The loop tracks a parked async generator per client, so `asyncio.run` (which calls
        `loop.shutdown_asyncgens()` before closing the loop) closes the client's connections
        while its loop still runs, instead of leaving sockets to the garbage collector.
        """
        loop = asyncio.get_running_loop()
        entry = self._aclients.get(loop)
        if entry is not None:
            return entry[0]
        client = make_client(self.target, asynchronous=True)
        if self.cluster:
            await client.initialize()  # reads the slot map; may raise (the breaker opens)
        closer = self._closer(loop, client)
        with self.lock:
            for old in [lp for lp in self._aclients if lp.is_closed()]:
                del self._aclients[old]
            self._aclients[loop] = (client, closer)
        await closer.__anext__()  # park it: from now on the loop tracks it
        return client

    async def _closer(self, loop: asyncio.AbstractEventLoop, client: Any) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with self.lock:
                if self._aclients.get(loop, (None,))[0] is client:
                    del self._aclients[loop]
            try:
                close = getattr(client, "aclose", None) or client.close
                await close()
            except Exception as exc:  # the server may be gone; the sockets close anyway
                logger.debug("closing a Redis client failed: %s", exc)

    def close(self) -> None:
        """Close the sync client's connections (the next call makes a new client)."""
        with self.lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception as exc:
                logger.debug("closing a Redis client failed: %s", exc)


_servers: dict[str, Server] = {}
_servers_lock = threading.Lock()


def server_for(target: Target) -> Server:
    """The process's `Server` for `target` (one per URL)."""
    server = _servers.get(target.url)
    if server is None:
        with _servers_lock:
            server = _servers.get(target.url)
            if server is None:
                server = _servers[target.url] = Server(target)
    return server


def forget_servers() -> None:
    """Forget every `Server`: the next call makes new clients and closed breakers.

    Run in a child made by `fork()` (never the parent's sockets, locks or probe threads), and
    by tests that need a fresh start.
    """
    global _servers_lock
    _servers.clear()
    _servers_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=forget_servers)
