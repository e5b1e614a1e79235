"""Throw-away network servers for the network rows: redis-server and memcached on 127.0.0.1.

A server runs on a free port in a temporary folder, keeps nothing (no snapshots, no append
file), and is stopped when the benchmark process exits. Readiness is checked over a raw
socket (Redis `PING`, memcached `version`), so no client library is needed here.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time

__all__ = ["Server", "find_executable", "start_memcached", "start_redis", "start_redis_cluster"]

START_TIMEOUT = 10.0


def find_executable(name: str) -> str | None:
    """`name` on PATH, else in /usr/bin, /usr/sbin or /usr/local/bin; None when absent."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/bin", "/usr/sbin", "/usr/local/bin"):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(port: int, probe: bytes, expect: bytes) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(probe)
            return s.recv(64).startswith(expect)
    except OSError:
        return False


class Server:
    """One server process we started; `stop()` (also run at exit) ends it by its own pid."""

    def __init__(self, cmd: list[str], port: int, probe: bytes, expect: bytes, url: str) -> None:
        self.port = port
        self.url = url
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(port, probe, expect):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{cmd[0]} did not start on port {port}")
            time.sleep(0.01)

    def stop(self) -> None:
        """Terminate the server (then kill it if it lingers)."""
        proc = self.proc
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def start_redis(exe: str) -> Server:
    """A fresh redis-server on a free port of 127.0.0.1, nothing persisted."""
    folder = tempfile.mkdtemp(prefix="redis-")
    port = free_port()
    cmd = [
        exe,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", folder,
        "--daemonize", "no",
    ]  # fmt: skip
    return Server(cmd, port, b"PING\r\n", b"+PONG", f"redis://127.0.0.1:{port}/0")


def start_memcached(exe: str) -> Server:
    """A fresh memcached on a free port of 127.0.0.1 (64 MB of memory)."""
    port = free_port()
    cmd = [exe, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # memcached refuses root without -u
        cmd += ["-u", "root"]
    return Server(cmd, port, b"version\r\n", b"VERSION", f"memcached://127.0.0.1:{port}")


class Cluster:
    """Three throw-away cluster nodes joined by `redis-cli --cluster create`."""

    def __init__(self, nodes: list[Server]) -> None:
        self.nodes = nodes
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in nodes)


def start_redis_cluster(exe: str, cli: str, size: int = 3) -> Cluster:
    """A fresh Redis Cluster of `size` masters on free ports (about 2 s: redis-cli waits)."""
    nodes = []
    for _ in range(size):
        folder = tempfile.mkdtemp(prefix="redis-cluster-")
        port = free_port()
        cmd = [
            exe,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", folder,
            "--daemonize", "no",
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "1000",
        ]  # fmt: skip
        nodes.append(Server(cmd, port, b"PING\r\n", b"+PONG", f"redis://127.0.0.1:{port}/0"))
    addresses = [f"127.0.0.1:{n.port}" for n in nodes]
    subprocess.run(
        [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
        check=True,
    )
    deadline = time.monotonic() + 30
    while not all(_cluster_ok(n.port) for n in nodes):
        if time.monotonic() > deadline:
            raise RuntimeError("the benchmark cluster did not become ok")
        time.sleep(0.05)
    return Cluster(nodes)


def _cluster_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"CLUSTER INFO\r\n")
            return b"cluster_state:ok" in s.recv(4096)
    except OSError:
        return False
