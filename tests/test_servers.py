"""The real-server fixtures themselves (tests/servers.py): each starts, answers, stops.

They start several server processes (marked slow), and they run where a network store is
installed (the fixtures' only users): the single-backend and all-backends sessions. Every test
has a hard timeout; none times anything.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

import servers as srv
from conftest import has
from servers import (
    MemcachedPool,
    MemcachedServer,
    RedisCluster,
    RedisSentinel,
    RedisServer,
    ServerFactory,
    command,
    memcached_command,
    ping,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        not (has("twat_cache_redis") or has("twat_cache_memcached")),
        reason="the server fixtures are checked where a network store (their user) is installed",
    ),
]


def answers_within(port: int, seconds: float) -> bool:
    """True when PING gets any reply within `seconds` (False for a frozen server)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
            s.sendall(b"PING\r\n")
            return bool(s.recv(16))
    except OSError:
        return False


# --- missing binaries ---------------------------------------------------------------------------


@pytest.mark.parametrize("tool", ["redis-server", "redis-cli", "memcached"])
def test_missing_binary_skips_locally(monkeypatch: pytest.MonkeyPatch, tool: str) -> None:
    monkeypatch.setattr(srv, "find_exe", lambda name: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"{tool} is not installed"):
        srv.require_exe(tool)


@pytest.mark.parametrize("tool", ["redis-server", "redis-cli", "memcached"])
def test_missing_binary_fails_under_ci(monkeypatch: pytest.MonkeyPatch, tool: str) -> None:
    monkeypatch.setattr(srv, "find_exe", lambda name: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true: .*ensure-servers\.sh"):
        srv.require_exe(tool)


def test_old_module_still_importable() -> None:
    import redis_server

    assert redis_server.RedisServer is RedisServer
    assert redis_server.find_redis_server() == srv.find_exe("redis-server")


# --- a single Redis -----------------------------------------------------------------------------


def test_shared_redis_url_is_empty_and_exported(
    redis_url: str, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    assert (
        os.environ["TWAT_CACHE_REDIS_URL"]
        == redis_url
        == f"redis://127.0.0.1:{redis_server.port}/0"
    )
    assert redis_server.command("DBSIZE") == 0
    assert redis_server.command("SET", "k", "v") == "OK"
    assert redis_server.command("GET", "k") == b"v"


def test_redis_stop_start_restart_kill_on_its_port(private_redis: RedisServer) -> None:
    port = private_redis.port
    assert ping(port)
    private_redis.stop()
    assert not ping(port)
    private_redis.start()
    assert private_redis.port == port
    assert ping(port)
    private_redis.command("SET", "k", "v")
    private_redis.restart()
    assert private_redis.port == port
    assert private_redis.command("GET", "k") is None  # nothing persists
    private_redis.kill()
    assert not private_redis.running
    assert not ping(port)
    private_redis.start()
    assert ping(port)


def test_redis_freeze_accepts_connections_but_never_answers(private_redis: RedisServer) -> None:
    port = private_redis.port
    private_redis.freeze()
    try:
        assert private_redis.running
        # the kernel still completes the TCP handshake: a client sees a server that is silent
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.settimeout(0.3)
            s.sendall(b"PING\r\n")
            with pytest.raises(socket.timeout):
                s.recv(16)
    finally:
        private_redis.thaw()
    assert answers_within(port, 2)
    with private_redis.frozen_for():
        assert not answers_within(port, 0.2)
    assert ping(port)


def test_stop_of_a_frozen_server_and_finalizer(servers: ServerFactory) -> None:
    server = servers.redis()
    server.freeze()
    server.stop()  # SIGCONT first, then SIGTERM: it must not hang
    assert not server.running
    assert not ping(server.port)
    again = servers.redis()
    again.freeze()  # left frozen on purpose: the factory's finalizer must still stop it
    assert again.running


def test_factory_stops_everything(tmp_path: Path) -> None:
    factory = ServerFactory(tmp_path)
    server = factory.redis()
    pool = factory.memcached(2)
    procs = [server.proc, *(s.proc for s in pool.servers)]
    pool.servers[0].freeze()
    factory.close()
    assert all(p is not None and p.poll() is not None for p in procs)
    assert not ping(server.port)


def test_a_taken_port_is_replaced_on_first_start(tmp_path: Path) -> None:
    exe = srv.require_exe("redis-server")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        server = RedisServer(exe, tmp_path)
        server.port = taken  # as if another process had grabbed the free port first
        try:
            server.start()
            assert server.port != taken
            assert ping(server.port)
        finally:
            server.stop()


# --- Redis Cluster ------------------------------------------------------------------------------


def test_cluster_has_three_masters_covering_every_slot(
    redis_cluster: RedisCluster, redis_cluster_url: str
) -> None:
    assert redis_cluster_url == "redis+cluster://" + ",".join(
        f"127.0.0.1:{p}" for p in redis_cluster.ports
    )
    masters = redis_cluster.masters()
    assert sorted(masters) == sorted(n.address for n in redis_cluster.nodes)
    slots = sorted(s for ranges in masters.values() for a, b in ranges for s in range(a, b + 1))
    assert slots == list(range(16384))
    for node in redis_cluster.nodes:
        ci = redis_cluster.cluster_info(node)
        assert ci["cluster_state"] == "ok"
        assert ci["cluster_size"] == "3"
        assert node.command("DBSIZE") == 0


def test_cluster_routes_keys_and_heals_a_killed_node(
    redis_cluster: RedisCluster, redis_cluster_url: str
) -> None:
    owner = redis_cluster.node_for("alpha")
    assert owner.command("SET", "alpha", "1") == "OK"
    other = next(n for n in redis_cluster.nodes if n is not owner)
    with pytest.raises(srv.RedisReplyError, match="MOVED"):
        other.command("GET", "alpha")
    owner.kill()
    assert not ping(owner.port)
    redis_cluster.heal()  # restarted with its nodes.conf: it rejoins with its slots
    assert redis_cluster.node_for("alpha") is owner
    assert owner.command("GET", "alpha") is None  # nothing persisted


# --- Sentinel -----------------------------------------------------------------------------------


def test_sentinel_reports_the_master_and_its_replica(
    redis_sentinel: RedisSentinel, redis_sentinel_url: str
) -> None:
    group = redis_sentinel
    assert redis_sentinel_url == f"redis+sentinel://127.0.0.1:{group.sentinel.port}/twat"
    master = group.current_master()
    assert master is not None
    assert group.sentinel.master_address() == ("127.0.0.1", master.port)
    replicas = group.sentinel.replicas()
    assert [int(r["port"]) for r in replicas] == [
        s.port for s in group.data_servers if s is not master
    ]
    assert master.command("SET", "k", "v") == "OK"
    assert master.command("WAIT", 1, 2000) == 1  # the replica got it


@pytest.mark.timeout(90)
def test_sentinel_fails_over_to_the_replica(servers: ServerFactory) -> None:
    group = servers.sentinel()
    old = group.current_master()
    assert old is group.master
    old.kill()
    deadline = time.monotonic() + 60
    while group.current_master() is old and time.monotonic() < deadline:
        time.sleep(0.05)
    new = group.current_master()
    assert new is group.replica
    while command(new.port, "ROLE")[0] != b"master" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert new.command("SET", "k", "v") == "OK"
    group.heal()  # the old master comes back and is turned into a replica of the new one
    assert group.current_master() is new, group.sentinel.log_tail(4000)
    assert [int(r["port"]) for r in group.sentinel.replicas()] == [old.port]


# --- memcached ----------------------------------------------------------------------------------


def test_memcached_answers_version_and_flushes(
    memcached_server: MemcachedServer, memcached_url: str
) -> None:
    port = memcached_server.port
    assert memcached_url == f"memcached://127.0.0.1:{port}"
    assert memcached_command(port, "version").startswith("VERSION ")
    assert memcached_command(port, "set k 0 0 1\r\nv") == "STORED"
    memcached_server.flush()
    assert memcached_command(port, "get k") == "END"


def test_memcached_pool_url_and_freeze(
    memcached_pool: MemcachedPool, memcached_pool_url: str
) -> None:
    a, b = memcached_pool.servers
    assert memcached_pool_url == f"memcached://127.0.0.1:{a.port},127.0.0.1:{b.port}"
    with a.frozen_for():
        with socket.create_connection(("127.0.0.1", a.port), timeout=1) as s:
            s.settimeout(0.3)
            s.sendall(b"version\r\n")
            with pytest.raises(socket.timeout):
                s.recv(16)
        assert memcached_command(b.port, "version").startswith("VERSION ")
    assert memcached_command(a.port, "version").startswith("VERSION ")


def test_private_memcached_kill_and_restart(private_memcached: MemcachedPool) -> None:
    server = private_memcached.servers[0]
    assert memcached_command(server.port, "set k 0 0 1\r\nv") == "STORED"
    server.kill()
    with pytest.raises(OSError):
        memcached_command(server.port, "version", timeout=0.5)
    server.start()
    assert memcached_command(server.port, "get k") == "END"  # a fresh, empty server


def test_startups_are_recorded(redis_server: RedisServer) -> None:
    kinds = {kind for kind, _ in srv.STARTUPS}
    assert "redis" in kinds
    assert all(seconds >= 0 for _, seconds in srv.STARTUPS)
