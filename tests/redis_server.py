"""Real `redis-server` processes for the Redis tests, on 127.0.0.1 and free ports.

Fixtures (import them into a test module):
- `redis_server` (session): one shared server; yields a `RedisServer` (`.url`, `.port`).
- `redis_url` (function): that server's URL with a clean database 0 for each test (FLUSHDB on
  the private test server only).
- `private_redis` (function): a server of the test's own that it may `stop()` and `start()`
  again on the same port, for the fault tests.

Servers run with `--save "" --appendonly no` in a temporary directory, so nothing persists.
When `redis-server` is not installed the tests skip, except under `CI=true`, where they fail:
CI must install it (`scripts/ensure-redis.sh`). No Python client is needed here: readiness is
checked with a raw PING over a socket.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["RedisServer", "find_redis_server", "private_redis", "redis_server", "redis_url"]

START_TIMEOUT = 10.0


def find_redis_server() -> str | None:
    """The `redis-server` executable: on PATH, else in /usr/bin, /usr/sbin; None if absent."""
    found = shutil.which("redis-server")
    if found:
        return found
    for candidate in (
        "/usr/bin/redis-server",
        "/usr/sbin/redis-server",
        "/usr/local/bin/redis-server",
    ):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def require_redis_server() -> str:
    """The executable, or skip (locally) / fail (when CI=true) with a clear message."""
    exe = find_redis_server()
    if exe is None:
        msg = (
            "redis-server is not installed: the Redis tests need a real server "
            "(run scripts/ensure-redis.sh as root, or apt-get install redis-server)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {msg}", pytrace=False)
        pytest.skip(msg)
    return exe


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ping(port: int, timeout: float = 0.5) -> bool:
    """True when a Redis server on 127.0.0.1:`port` answers PING with PONG."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """One `redis-server` process on 127.0.0.1:`port`, data in `folder`; stop/start at will."""

    def __init__(self, exe: str, folder: Path, port: int | None = None) -> None:
        self.exe = exe
        self.folder = folder
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The server's URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (same port as before) and wait until it answers PING."""
        if self.proc is not None and self.proc.poll() is None:
            return
        cmd = [
            self.exe,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.folder),
            "--logfile", str(self.folder / "redis.log"),
            "--daemonize", "no",
        ]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.folder / "redis.log").read_text(errors="replace")[-2000:]
                self.stop()
                raise RuntimeError(f"redis-server on port {self.port} did not start:\n{log}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait until the port is closed."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        deadline = time.monotonic() + 5
        while ping(self.port, timeout=0.1) and time.monotonic() < deadline:
            time.sleep(0.01)

    def flush(self) -> None:
        """FLUSHALL this private test server (never used on any other server)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"FLUSHALL\r\n")
            s.recv(64)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the whole session, in a temporary directory."""
    exe = require_redis_server()
    with tempfile.TemporaryDirectory(prefix="twat-cache-redis-") as folder:
        server = RedisServer(exe, Path(folder))
        server.start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session server's URL, emptied for this test and exported as $TWAT_CACHE_REDIS_URL."""
    if not ping(redis_server.port):  # a fault test elsewhere must never leave it down
        redis_server.start()
    redis_server.flush()
    monkeypatch.setenv("TWAT_CACHE_REDIS_URL", redis_server.url)
    return redis_server.url


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A server only this test uses, started; the test may `stop()` and `start()` it."""
    exe = require_redis_server()
    folder = tmp_path / "redis"
    folder.mkdir()
    server = RedisServer(exe, folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()
