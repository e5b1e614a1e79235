"""The Redis backend against a real redis-server (tests/servers.py starts it).

Counts calls, never times them. Subprocess tests share the config folder (hence the HMAC secret)
and TWAT_CACHE_REDIS_URL with the parent, as processes on several hosts would share
TWAT_CACHE_SECRET and the server.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import needs
from helpers import python, run_python, warnings_of
from servers import RedisServer
from twat_cache.testing import store_of

pytestmark = needs("redis")


@pytest.fixture(autouse=True)
def _fresh_servers() -> None:
    """Each test starts with new clients and closed breakers (no outage of a previous test)."""
    from twat_cache_redis._server import forget_servers

    forget_servers()


def until(condition: Any, timeout: float = 10.0) -> None:
    """Wait until `condition()` is true (polled), failing the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


URL_ENV = "TWAT_CACHE_REDIS_URL"


def raw(url: str) -> Any:
    """A plain redis-py client on the test server (to look at and tamper with keys)."""
    import redis

    return redis.Redis.from_url(url)


def keys_of(func: Any, url: str) -> set[bytes]:
    store = store_of(func)
    return set(raw(url).scan_iter(match=store.pattern))


# --- plugin wiring ----------------------------------------------------------------------------


def test_plugin_import_does_not_import_redis() -> None:
    out = run_python(
        "import sys, twat_cache_redis; print('redis' in sys.modules)", timeout=60
    ).strip()
    assert out == "False"


def test_registered_spec() -> None:
    from twat_cache import registry
    from twat_cache_redis import BACKEND

    assert registry.discover()["redis"] is BACKEND
    assert BACKEND.kinds == {"disk", "async"}
    assert BACKEND.persistent
    assert not BACKEND.folders  # a network store keeps no files


def test_no_url_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from twat_cache import CacheConfig
    from twat_cache.record import CacheRecord as StoreContext
    from twat_cache_redis._store import open_store

    monkeypatch.delenv(URL_ENV, raising=False)
    ctx = StoreContext(namespace="m:f", name="m.f")
    with pytest.raises(ValueError, match=r"redis_url.*TWAT_CACHE_REDIS_URL"):
        open_store(CacheConfig(kind="disk"), ctx)
    for bad in ("redis://localhost:notaport/0", "unix://"):
        with pytest.raises(ValueError, match="malformed") as info:
            open_store(CacheConfig(kind="disk", redis_url=bad), ctx)
        assert "redis_url" in str(info.value)
        assert URL_ENV in str(info.value)
    # A URL of no Redis scheme never reaches the store: the config refuses it.
    for bad in ("http://localhost:6379", "localhost:6379"):
        for named in ({}, {"preferred_engine": "redis"}):
            with pytest.raises(ValueError, match=r"^url: .*redis://"):
                CacheConfig(kind="disk", redis_url=bad, **named)


def test_no_url_falls_back_with_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from twat_cache import ucache

    monkeypatch.delenv(URL_ENV, raising=False)
    calls = []

    @ucache(preferred_engine="redis")
    def f(x: int) -> int:
        calls.append(x)
        return x

    assert f(1) == f(1) == 1  # the store opens, and fails over, on the first call
    assert f.cache_backend != "redis"
    assert calls == [1]
    assert any("redis" in m and URL_ENV in m for m in warnings_of(caplog))


def test_lock_timeout_env_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    from twat_cache_redis._store import lock_timeout

    monkeypatch.setenv("TWAT_CACHE_REDIS_LOCK_TIMEOUT", "2.5")
    assert lock_timeout() == 2.5
    for bad in ("0", "-1", "nan", "inf", "soon"):
        monkeypatch.setenv("TWAT_CACHE_REDIS_LOCK_TIMEOUT", bad)
        with pytest.raises(ValueError, match="TWAT_CACHE_REDIS_LOCK_TIMEOUT"):
            lock_timeout()


# --- the contract on a live server --------------------------------------------------------------


def test_hits_none_exceptions_delete_and_native(redis_url: str) -> None:
    import redis

    from twat_cache import ucache

    calls: list[Any] = []

    @ucache(preferred_engine="redis")
    def f(x: int, y: int = 2) -> int | None:
        calls.append(x)
        if x < 0:
            raise ValueError("negative")
        return None if x == 0 else x * y

    assert f.cache_backend == "redis"
    assert isinstance(f.cache, redis.Redis)
    assert f(3) == f(3) == f(x=3) == f(3, y=2) == 6
    assert f(0) is None
    assert f(0) is None
    assert calls == [3, 0]
    for _ in range(2):
        with pytest.raises(ValueError, match="negative"):
            f(-1)
    assert calls == [3, 0, -1, -1]
    info = f.cache_info()
    assert (info.hits, info.misses, info.currsize) == (4, 4, 2)
    assert f.cache_delete(3) is True
    assert f.cache_delete(3) is False
    assert f(3) == 6
    assert calls[-1] == 3


def test_unhashable_arguments(redis_url: str) -> None:
    from twat_cache import ucache

    calls = []

    @ucache(preferred_engine="redis")
    def total(xs: list[int], opts: dict[str, int]) -> int:
        calls.append(1)
        return sum(xs) * opts["k"]

    assert total([1, 2], {"k": 2}) == total([1, 2], {"k": 2}) == 6
    assert total([1, 2], {"k": 3}) == 9
    assert len(calls) == 2
    assert len(store_of(total)) == 2


def test_key_layout_and_namespacing(redis_url: str) -> None:
    from twat_cache import ucache

    @ucache(preferred_engine="redis")
    def f(x: int) -> str:
        return f"f{x}"

    @ucache(preferred_engine="redis")
    def g(x: int) -> str:
        return f"g{x}"

    assert (f(1), g(1), f(1), g(1)) == ("f1", "g1", "f1", "g1")
    fkeys, gkeys = keys_of(f, redis_url), keys_of(g, redis_url)
    assert len(fkeys) == len(gkeys) == 1
    assert fkeys.isdisjoint(gkeys)
    (fkey,) = fkeys
    namespace = store_of(f).namespace
    assert namespace.endswith("test_key_layout_and_namespacing.<locals>.f")
    from twat_cache.secret import load_secret

    prefix = f"twat_cache:{load_secret().id}:{namespace}:"
    assert fkey.startswith(prefix.encode())
    assert len(fkey) == len(prefix) + 64
    assert raw(redis_url).get(fkey).startswith(b"TWC2")  # the core's sealed envelope
    assert len(store_of(f)) == 1


def test_ttl_is_native(redis_url: str) -> None:
    from twat_cache import ucache

    calls = []

    @ucache(preferred_engine="redis", ttl=0.3)
    def f(x: int) -> int:
        calls.append(x)
        return x

    assert f(1) == f(1) == 1
    assert calls == [1]
    (key,) = keys_of(f, redis_url)
    assert 0 < raw(redis_url).pttl(key) <= 300
    time.sleep(0.6)
    assert f(1) == 1
    assert calls == [1, 1]


def test_clear_only_this_functions_keys(redis_url: str) -> None:
    from twat_cache import ucache

    client = raw(redis_url)
    client.set("unrelated", b"keep me")
    client.set("twat_cache:someone.else:f:" + "0" * 64, b"keep me too")
    calls = []

    @ucache(preferred_engine="redis")
    def f(x: int) -> int:
        calls.append(("f", x))
        return x

    @ucache(preferred_engine="redis")
    def g(x: int) -> int:
        calls.append(("g", x))
        return x

    for x in range(5):
        f(x)
        g(x)
    assert len(store_of(f)) == len(store_of(g)) == 5
    f.cache_clear()
    assert f.cache_info().currsize == 0
    assert len(store_of(g)) == 5
    assert client.get("unrelated") == b"keep me"
    assert client.get("twat_cache:someone.else:f:" + "0" * 64) == b"keep me too"
    n = len(calls)
    g(1)
    assert len(calls) == n  # g still hits
    f(1)
    assert calls[-1] == ("f", 1)  # f recomputes


def test_clear_with_glob_characters_in_namespace(redis_url: str) -> None:
    from twat_cache import CacheConfig
    from twat_cache.record import CacheRecord as StoreContext
    from twat_cache_redis._store import open_store

    config = CacheConfig(kind="disk", redis_url=redis_url)
    tricky = open_store(config, StoreContext(namespace="m:f[ab]*?\\", name="tricky"))
    plain = open_store(config, StoreContext(namespace="m:fa", name="plain"))
    longer = open_store(config, StoreContext(namespace="m:f[ab]*?\\:x", name="longer"))
    from twat_cache.encode import disk_digest

    key = disk_digest((1,), b"ns")  # what the core passes: a digest
    for store in (tricky, plain, longer):
        store.set(key, "v")
    assert len(tricky) == len(plain) == len(longer) == 1
    tricky.clear()
    assert (len(tricky), len(plain), len(longer)) == (0, 1, 1)
    assert plain.get(key, "miss") == "v"


def test_tampered_or_moved_entry_is_a_logged_miss(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from twat_cache import ucache

    calls = []

    @ucache(preferred_engine="redis")
    def f(x: int) -> int:
        calls.append(x)
        return x * 10

    client = raw(redis_url)
    assert f(1) == 10
    (key1,) = keys_of(f, redis_url)
    client.set(key1, b"garbage that is not an envelope")
    assert f(1) == 10
    assert calls == [1, 1]
    assert any("corrupt" in m for m in warnings_of(caplog))
    assert f(1) == 10  # re-stored intact
    assert calls == [1, 1]

    # a valid envelope copied under another key is refused too (the HMAC binds the key)
    caplog.clear()
    assert f(2) == 20
    (key2,) = keys_of(f, redis_url) - {key1}
    client.set(key2, client.get(key1))
    assert f(2) == 20
    assert calls == [1, 1, 2, 2]
    assert any("corrupt" in m for m in warnings_of(caplog))

    # flip one byte of the payload
    caplog.clear()
    blob = bytearray(client.get(key1))
    blob[-1] ^= 0x01
    client.set(key1, bytes(blob))
    assert f(1) == 10
    assert calls == [1, 1, 2, 2, 1]
    assert any("corrupt" in m for m in warnings_of(caplog))


def test_encrypted_entries(redis_url: str) -> None:
    pytest.importorskip("cryptography")
    from twat_cache import ucache

    calls = []

    @ucache(preferred_engine="redis", encrypt=True)
    def secret(x: int) -> str:
        calls.append(x)
        return f"plain-text-marker-{x}"

    assert secret(1) == secret(1) == "plain-text-marker-1"
    assert calls == [1]
    (key,) = keys_of(secret, redis_url)
    assert b"plain-text-marker" not in raw(redis_url).get(key)


def test_unpicklable_result_is_returned(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    from twat_cache import ucache

    @ucache(preferred_engine="redis")
    def f(x: int) -> Any:
        return lambda: x

    assert f(1)() == 1
    assert f(1)() == 1
    assert len([m for m in warnings_of(caplog) if "could not store" in m]) == 1


# --- across processes ---------------------------------------------------------------------------

PERSIST = """
import sys
from pathlib import Path
from twat_cache import ucache

log = Path(sys.argv[1])

@ucache(preferred_engine="redis")
def double(x):
    with log.open("a") as fh:
        fh.write("computed\\n")
    return x * 2

print(double(21), double.cache_backend, double.cache_info().hits)
"""


@pytest.mark.slow
def test_persists_across_processes(redis_url: str, tmp_path: Path) -> None:
    log = tmp_path / "calls.log"
    assert run_python(PERSIST, str(log), timeout=60).strip() == "42 redis 0"
    assert run_python(PERSIST, str(log), timeout=60).strip() == "42 redis 1"
    assert log.read_text().splitlines() == ["computed"]


SECRETS = """
import logging, sys
logging.basicConfig()
from pathlib import Path
from twat_cache import ucache

log = Path(sys.argv[1])

@ucache(preferred_engine="redis")
def double(x):
    with log.open("a") as fh:
        fh.write("computed\\n")
    return x * 2

print([double(x) for x in range(3)])
"""


@pytest.mark.slow
def test_processes_with_different_secrets_never_delete_each_others_entries(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.log"
    outs = []
    for secret in ("one", "two", "one", "two"):
        monkeypatch.setenv("TWAT_CACHE_SECRET", secret)
        proc = python("-c", textwrap.dedent(SECRETS), str(log), timeout=60)
        outs.append(proc)
    assert {p.stdout for p in outs} == {"[0, 2, 4]\n"}
    assert len(log.read_text().splitlines()) == 6  # each secret computed once, then hits
    assert not any("WARNING" in p.stderr for p in outs), [p.stderr for p in outs]


FLIGHT = """
import sys, time
from pathlib import Path
from twat_cache import ucache

folder, me = Path(sys.argv[1]), sys.argv[2]

@ucache(preferred_engine="redis")
def slow(x):
    with (folder / "calls.log").open("a") as fh:
        fh.write(me + "\\n")
    time.sleep(0.5)  # a window in which every other process misses too
    return x + 1

(folder / f"ready-{me}").touch()
deadline = time.monotonic() + 30
while not (folder / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("never told to go")
    time.sleep(0.002)
print(slow(1))
"""


@pytest.mark.slow
def test_single_flight_across_four_processes(redis_url: str, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(FLIGHT), str(tmp_path), str(i)],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < 4:
            assert time.monotonic() < deadline, "workers did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        (tmp_path / "go").touch()
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outs]
    assert [out.strip() for out, _ in outs] == ["2"] * 4
    assert len((tmp_path / "calls.log").read_text().splitlines()) == 1
    assert not list(raw(redis_url).scan_iter(match="twat_cache_lock:*"))  # released


def test_crashed_lock_holder_blocks_only_until_timeout(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twat_cache import ucache

    monkeypatch.setenv("TWAT_CACHE_REDIS_LOCK_TIMEOUT", "1")
    calls = []

    @ucache(preferred_engine="redis")
    def f(x: int) -> int:
        calls.append(x)
        return x + 1

    store = store_of(f)
    assert store.lock_timeout == 1.0
    # what a holder that died mid-computation leaves behind: its lock, expiring after the timeout
    raw(redis_url).set(store.lock_name((1,)), b"dead-holder-token", px=1000)
    assert f(1) == 2
    assert calls == [1]
    assert f(1) == 2
    assert calls == [1]


# --- async ------------------------------------------------------------------------------------


def test_async_eight_tasks_one_computation(redis_url: str) -> None:
    from twat_cache import acache

    calls = []

    @acache(backend="redis", ttl=30)
    async def fetch(x: int) -> dict[str, int]:
        calls.append(x)
        await asyncio.sleep(0.2)
        return {"x": x}

    assert fetch.cache_backend == "redis"

    async def burst() -> list[dict[str, int]]:
        return await asyncio.gather(*(fetch(7) for _ in range(8)))

    assert asyncio.run(burst()) == [{"x": 7}] * 8
    assert calls == [7]
    assert asyncio.run(burst()) == [{"x": 7}] * 8  # a new event loop: a new async client
    assert calls == [7]
    (key,) = keys_of(fetch, redis_url)
    assert 0 < raw(redis_url).pttl(key) <= 30_000
    info = fetch.cache_info()
    assert (info.hits, info.misses, info.currsize) == (15, 1, 1)
    assert fetch.cache_delete(7) is True
    fetch.cache_clear()
    assert fetch.cache_info().currsize == 0


def test_ucache_on_coroutine_uses_async_store(redis_url: str) -> None:
    from twat_cache import ucache
    from twat_cache_redis._store import RedisAsyncStore

    calls = []

    @ucache(preferred_engine="redis")
    async def f(x: int) -> None:
        calls.append(x)

    assert f.cache_backend == "redis"
    assert isinstance(store_of(f), RedisAsyncStore)
    assert asyncio.run(f(1)) is None
    assert asyncio.run(f(1)) is None
    assert calls == [1]


@pytest.mark.parametrize("maxsize", [None, 10], ids=["unbounded", "bounded"])
@pytest.mark.parametrize("fixture", ["redis_url", "redis_cluster_url", "redis_sentinel_url"])
def test_async_store_keeps_large_values_off_the_event_loop(
    fixture: str,
    maxsize: int | None,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    """Sealing, unsealing (and, from 1 MiB, the transfer) of a large value run in a thread.

    Values under 64 KiB stay on the loop (a hop to a thread costs more); 200 kB are sealed
    and unsealed in a thread and sent by redis.asyncio; 1 MiB and more are also sent and
    read by the sync client in a thread (in pieces), on every kind of deployment.
    """
    from twat_cache import acache, envelope

    where: list[tuple[str, int, bool]] = []
    seal, unseal = envelope.seal, envelope.unseal

    def on_loop() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # a worker thread has no running loop
            return False
        return True

    def traced_seal(value: Any, **kwargs: Any) -> bytes:
        where.append(("seal", len(value), on_loop()))
        return seal(value, **kwargs)

    def traced_unseal(blob: Any, **kwargs: Any) -> tuple[Any, float | None]:
        value, deadline = unseal(blob, **kwargs)
        where.append(("unseal", len(value), on_loop()))
        return value, deadline

    monkeypatch.setattr(envelope, "seal", traced_seal)
    monkeypatch.setattr(envelope, "unseal", traced_unseal)

    @acache(backend="redis", url=request.getfixturevalue(fixture), maxsize=maxsize)
    async def f(n: int) -> bytes:
        return b"x" * n

    sizes = (10, 200_000, 1 << 20, 9 << 20)  # the last: three pieces of 4 MiB

    async def calls() -> None:
        for n in sizes:
            assert await f(n) == b"x" * n  # stored
            assert await f(n) == b"x" * n  # loaded

    asyncio.run(calls())
    assert f.cache_info().hits == len(sizes)
    expected = [(op, n, n < 65536) for n in sizes for op in ("seal", "unseal")]
    assert where == expected
    assert len(store_of(f)) == len(sizes)


ASYNC_FLIGHT = """
import asyncio, sys, time
from pathlib import Path
from twat_cache import acache

folder, me = Path(sys.argv[1]), sys.argv[2]

@acache(backend="redis")
async def slow(x):
    with (folder / "calls.log").open("a") as fh:
        fh.write(me + "\\n")
    await asyncio.sleep(0.5)
    return x + 1

async def main():
    (folder / f"ready-{me}").touch()
    while not (folder / "go").exists():
        await asyncio.sleep(0.002)
    return await asyncio.gather(*(slow(1) for _ in range(4)))

print(asyncio.run(main()))
"""


@pytest.mark.slow
def test_async_single_flight_across_processes(redis_url: str, tmp_path: Path) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(ASYNC_FLIGHT), str(tmp_path), str(i)],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < 3:
            assert time.monotonic() < deadline, "workers did not start"
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            time.sleep(0.01)
        (tmp_path / "go").touch()
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outs]
    assert [out.strip() for out, _ in outs] == ["[2, 2, 2, 2]"] * 3
    assert len((tmp_path / "calls.log").read_text().splitlines()) == 1


# --- faults: the real server stops and comes back ------------------------------------------------


@pytest.fixture
def quick_retry(monkeypatch: pytest.MonkeyPatch) -> float:
    """Shorten the pause between probes so the tests need not wait a second."""
    from twat_cache import network

    monkeypatch.setattr(network, "RETRY_INTERVAL", 0.2)
    return 0.2


def test_server_down_at_decoration_then_back(
    private_redis: RedisServer, quick_retry: float, caplog: pytest.LogCaptureFixture
) -> None:
    from twat_cache import ucache

    caplog.set_level(logging.INFO, logger="twat_cache")
    private_redis.stop()
    calls = []

    @ucache(preferred_engine="redis", redis_url=private_redis.url)
    def f(x: int) -> int:
        calls.append(x)
        return x * 3

    assert f.cache_backend == "redis"  # decoration did not need the server
    for _ in range(3):
        assert f(1) == 3
        time.sleep(quick_retry)  # let the store try again each time: still one warning
    assert calls == [1, 1, 1]
    warned = warnings_of(caplog)
    assert len(warned) == 1, warned
    assert "does not answer" in warned[0]
    assert str(private_redis.port) in warned[0]

    private_redis.start()
    until(store_of(f).available)  # the probe saw it answer
    assert f(1) == 3  # computed and stored
    assert f(1) == 3  # a hit
    assert calls == [1, 1, 1, 1]
    assert len(warnings_of(caplog)) == 1
    assert any("answers again" in r.getMessage() for r in caplog.records)
    assert len(store_of(f)) == 1


def test_server_dies_between_calls_then_back(
    private_redis: RedisServer, quick_retry: float, caplog: pytest.LogCaptureFixture
) -> None:
    from twat_cache import ucache

    calls = []

    @ucache(preferred_engine="redis", redis_url=private_redis.url)
    def f(x: int) -> int:
        calls.append(x)
        return x + 100

    assert f(1) == f(1) == 101
    assert calls == [1]
    private_redis.stop()
    assert f(1) == 101
    assert f(2) == 102
    assert f(2) == 102
    assert calls == [1, 1, 2, 2]
    assert f.cache_info().currsize == 0  # len() fails while down; cache_info still answers
    warned = warnings_of(caplog)
    assert len(warned) == 1, warned

    private_redis.start()  # same port, empty (nothing was saved)
    until(store_of(f).available)
    assert f(3) == 103
    assert f(3) == 103
    assert calls == [1, 1, 2, 2, 3]
    assert len(warnings_of(caplog)) == 1


def test_async_server_down_then_back(
    private_redis: RedisServer, quick_retry: float, caplog: pytest.LogCaptureFixture
) -> None:
    from twat_cache import acache

    calls = []

    @acache(backend="redis", redis_url=private_redis.url)
    async def f(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.05)  # the burst's calls overlap: one flight, whatever the store
        return -x

    assert asyncio.run(f(1)) == -1
    assert asyncio.run(f(1)) == -1
    assert calls == [1]
    private_redis.stop()

    async def burst() -> list[int]:
        return await asyncio.gather(*(f(2) for _ in range(4)))

    assert asyncio.run(burst()) == [-2] * 4
    assert asyncio.run(f(2)) == -2
    assert calls == [1, 2, 2]
    assert len(warnings_of(caplog)) == 1, warnings_of(caplog)

    private_redis.start()
    until(store_of(f).available)
    assert asyncio.run(f(3)) == -3
    assert asyncio.run(f(3)) == -3
    assert calls == [1, 2, 2, 3]
    assert len(warnings_of(caplog)) == 1
