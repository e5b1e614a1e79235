"""Network rows (informational): a hit through twat-cache against the raw client's read.

Each store gets a throw-away server of its own, started on a free port of 127.0.0.1 just
before its rows are measured (`redis-server`, `memcached`) and stopped at exit; the URL is
passed to the decorator (`redis_url=`/`url=`), never through a `TWAT_CACHE_*` variable. Without
the server's executable, the client library or the plugin, the row says so ("n/a").

The raw side is what a hand-written memo over the same client costs at least: one `GET` round
trip plus `pickle.loads`. Ours adds the key's stable digest and the check of the sealed
envelope. Both sides read one small value over the same kind of connection; the round trip
dominates, so the ratio shows how much of a hit is our own work.
"""

from __future__ import annotations

import asyncio
import functools
import pickle
from collections.abc import Callable
from importlib.util import find_spec
from typing import Any

from common import named
from harness import Comparison
from servers import find_executable, start_memcached, start_redis, start_redis_cluster

EXPIRE = 600
RAW_KEY = "twat_cache_bench:raw"


def _fresh(name: str) -> Callable[..., Any]:
    def f(a: int, b: int = 2) -> dict[str, int]:
        return {"a": a, "b": b}

    return named(f, name)


def _afresh(name: str) -> Callable[..., Any]:
    async def f(a: int, b: int = 2) -> dict[str, int]:
        return {"a": a, "b": b}

    return named(f, name)


def _backends() -> dict[str, Any]:
    import twat_cache

    found: dict[str, Any] = twat_cache.available_backends().get("backends", {})
    return found


class _Redis:
    """The redis rows' shared state: one server, started by the first row's setup."""

    def __init__(self, sync_row: Comparison, async_row: Comparison) -> None:
        self.sync_row = sync_row
        self.async_row = async_row
        self.url = ""

    def start(self) -> None:
        if self.url:
            return
        exe = find_executable("redis-server")
        assert exe is not None
        self.url = start_redis(exe).url

    def setup_sync(self) -> None:
        import redis

        from twat_cache import ucache

        self.start()
        client = redis.Redis.from_url(self.url, socket_connect_timeout=2)
        value = _fresh("v")(1)
        client.set(RAW_KEY, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), ex=EXPIRE)

        def raw_get() -> Any:
            return pickle.loads(client.get(RAW_KEY))  # type: ignore[arg-type]

        ours = ucache(preferred_engine="redis", ttl=EXPIRE, redis_url=self.url)(_fresh("redis"))
        if ours.cache_backend != "redis":
            raise RuntimeError(f"ucache(preferred_engine='redis') chose {ours.cache_backend}")
        hit = functools.partial(ours, 1)
        if hit() != value or hit() != raw_get():  # the second call is a hit
            raise RuntimeError("ucache(redis) and the raw read disagree")
        self.sync_row.ours, self.sync_row.theirs = hit, raw_get

    def setup_async(self) -> None:
        import redis
        import redis.asyncio as aioredis

        from twat_cache import acache

        self.start()
        value = _fresh("v")(1)
        redis.Redis.from_url(self.url).set(
            RAW_KEY, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), ex=EXPIRE
        )
        ours = acache(backend="redis", ttl=EXPIRE, redis_url=self.url)(_afresh("aredis"))
        asyncio.run(ours(1))  # stored; the harness's own loop opens its own connection
        client = aioredis.Redis.from_url(self.url)  # connects lazily, in the harness's loop

        async def raw_get() -> Any:
            return pickle.loads(await client.get(RAW_KEY))  # type: ignore[arg-type]

        self.async_row.ours, self.async_row.theirs = functools.partial(ours, 1), raw_get


def _redis_rows() -> list[Comparison]:
    names = ("ucache(redis) hit", "acache(backend='redis') hit")
    why = ""
    if find_spec("twat_cache_redis") is None or find_spec("redis") is None:
        why = "the redis plugin or redis-py is not installed"
    elif find_executable("redis-server") is None:
        why = "no redis-server executable to start a throw-away server"
    if why:
        return [Comparison.skipped(n, why, group="network") for n in names]
    sync_row = Comparison(
        names[0],
        _nothing,
        _nothing,
        "redis",
        None,
        group="network",
        theirs_doc="redis-py GET + pickle.loads, same local server",
    )
    async_row = Comparison(
        names[1],
        _nothing,
        _nothing,
        "aredis",
        None,
        group="network",
        async_=True,
        theirs_doc="redis.asyncio GET + pickle.loads, same local server",
    )
    state = _Redis(sync_row, async_row)
    sync_row.setup = state.setup_sync
    async_row.setup = state.setup_async
    return [sync_row, async_row]


def _nothing() -> None:
    return None


def _cluster_row() -> Comparison:
    name = "ucache(redis+cluster) hit"
    why = ""
    if find_spec("twat_cache_redis") is None or find_spec("redis") is None:
        why = "the redis plugin or redis-py is not installed"
    elif find_executable("redis-server") is None or find_executable("redis-cli") is None:
        why = "no redis-server/redis-cli executable to start a throw-away cluster"
    if why:
        return Comparison.skipped(name, why, group="network")
    row = Comparison(
        name,
        _nothing,
        _nothing,
        "rc",
        None,
        group="network",
        theirs_doc="redis-py RedisCluster GET + pickle.loads, same local 3-node cluster",
    )

    def setup() -> None:
        from redis.cluster import ClusterNode, RedisCluster

        from twat_cache import ucache

        exe, cli = find_executable("redis-server"), find_executable("redis-cli")
        assert exe is not None
        assert cli is not None
        cluster = start_redis_cluster(exe, cli)
        nodes = [ClusterNode("127.0.0.1", n.port) for n in cluster.nodes]
        client = RedisCluster(startup_nodes=nodes)
        value = _fresh("v")(1)
        client.set(RAW_KEY, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), ex=EXPIRE)

        def raw_get() -> Any:
            return pickle.loads(client.get(RAW_KEY))  # type: ignore[arg-type]

        ours = ucache(preferred_engine="redis", ttl=EXPIRE, url=cluster.url)(_fresh("cluster"))
        if ours.cache_backend != "redis":
            raise RuntimeError(f"ucache(preferred_engine='redis') chose {ours.cache_backend}")
        hit = functools.partial(ours, 1)
        if hit() != value or hit() != raw_get():
            raise RuntimeError("ucache(redis+cluster) and the raw read disagree")
        row.ours, row.theirs = hit, raw_get

    row.setup = setup
    return row


def _memcached_row() -> Comparison:
    name = "ucache(memcached) hit"
    if "memcached" not in _backends():
        return Comparison.skipped(
            name, "the memcached plugin is not installed", group="network", theirs_name="mc"
        )
    exe = find_executable("memcached")
    if exe is None:
        return Comparison.skipped(
            name, "no memcached executable to start a throw-away server", group="network"
        )
    if find_spec("pymemcache") is None:
        return Comparison.skipped(name, "pymemcache is not installed", group="network")
    row = Comparison(
        name,
        _nothing,
        _nothing,
        "mc",
        None,
        group="network",
        theirs_doc="pymemcache GET + pickle.loads, same local server",
    )

    def setup() -> None:
        from pymemcache.client.base import Client

        from twat_cache import ucache

        server = start_memcached(exe)
        client = Client(("127.0.0.1", server.port))
        value = _fresh("v")(1)
        client.set(RAW_KEY, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL), expire=EXPIRE)

        def raw_get() -> Any:
            return pickle.loads(client.get(RAW_KEY))

        decorator = ucache(preferred_engine="memcached", ttl=EXPIRE, url=server.url)
        ours = decorator(_fresh("memcached"))
        if ours.cache_backend != "memcached":
            raise RuntimeError(f"ucache(preferred_engine='memcached') chose {ours.cache_backend}")
        hit = functools.partial(ours, 1)
        if hit() != value or hit() != raw_get():
            raise RuntimeError("ucache(memcached) and the raw read disagree")
        row.ours, row.theirs = hit, raw_get

    row.setup = setup
    return row


def comparisons(quick: bool = False) -> list[Comparison]:
    """The network rows; each is "n/a" (with the reason) when it cannot run here."""
    return [*_redis_rows(), _cluster_row(), _memcached_row()]
