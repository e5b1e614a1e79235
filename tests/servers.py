"""Real network servers for the tests, started on 127.0.0.1 on free ports in temporary folders.

What there is (the fixtures are imported by conftest.py, so every test module can ask for them):

| fixture | scope | what |
|---|---|---|
| `redis_server` | session | one shared `RedisServer` |
| `redis_url` | function | its `redis://` URL, emptied, exported as `$TWAT_CACHE_REDIS_URL` |
| `private_redis` | function | a `RedisServer` of the test's own (stop/start/kill/freeze/thaw) |
| `redis_cluster` | session | a shared 3-master `RedisCluster` (`redis-cli --cluster create`) |
| `redis_cluster_url` | function | its `redis+cluster://h:p,h:p,h:p` URL, healed and emptied |
| `private_redis_cluster` | function | a `RedisCluster` of the test's own (about 2 s to build) |
| `redis_sentinel` | session | a shared `RedisSentinel`: a master, a replica and one sentinel |
| `redis_sentinel_url` | function | its `redis+sentinel://h:p/twat` URL, healed and emptied |
| `private_redis_sentinel` | function | a `RedisSentinel` of the test's own, for failover tests |
| `memcached_server` | session | one shared `MemcachedServer` |
| `memcached_url` | function | its `memcached://h:p` URL, flushed |
| `memcached_pool` | session | two shared memcached servers (`MemcachedPool`) |
| `memcached_pool_url` | function | their `memcached://h:p,h:p` URL, flushed |
| `private_memcached` | function | a `MemcachedPool` of two servers of the test's own |
| `servers` | function | a `ServerFactory` to build any of these; all stopped after the test |

Every process can be `freeze()`-d (SIGSTOP: it keeps its port and the kernel still accepts
connections, but nothing answers: the unresponsive-server case), `thaw()`-ed (SIGCONT),
`kill()`-ed (SIGKILL: no goodbye), `stop()`-ped (SIGTERM) and `start()`-ed or `restart()`-ed on
the same port. A group (`RedisCluster`, `RedisSentinel`, `MemcachedPool`) has `heal()`, which
thaws and restarts its members and waits until the group is whole again; the shared URL
fixtures call it, so a fault test on a shared group never breaks the next test.

The processes are always stopped: by the fixtures' finalizers (also when a test fails), by an
`atexit` hook, and on Linux by the kernel when the test process dies (PR_SET_PDEATHSIG), so a
killed pytest leaves no server behind. Data lives in temporary folders (`--save ""`, no AOF).

Readiness is checked over raw sockets (RESP for Redis, the text protocol for memcached): no
client library is needed. `command()` sends one Redis command and parses the reply.

When a binary is missing the tests that need it skip, except under `CI=true`, where they fail:
CI installs them with `scripts/ensure-servers.sh` (run by `scripts/test.sh`).

Start-up times are recorded in `STARTUPS` and printed at the end of the run (conftest.py).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

__all__ = [
    "HOST",
    "STARTUPS",
    "MemcachedPool",
    "MemcachedServer",
    "RedisCluster",
    "RedisReplyError",
    "RedisSentinel",
    "RedisServer",
    "SentinelServer",
    "ServerFactory",
    "ServerProcess",
    "command",
    "find_exe",
    "free_port",
    "memcached_command",
    "memcached_pool",
    "memcached_pool_url",
    "memcached_server",
    "memcached_url",
    "ping",
    "private_memcached",
    "private_redis",
    "private_redis_cluster",
    "private_redis_sentinel",
    "redis_cluster",
    "redis_cluster_url",
    "redis_sentinel",
    "redis_sentinel_url",
    "redis_server",
    "redis_url",
    "require_exe",
    "servers",
]

HOST = "127.0.0.1"
START_TIMEOUT = 15.0  # a generous bound for a 2-core CI machine; a start normally takes ms
GROUP_TIMEOUT = 30.0  # cluster / sentinel convergence
SLOTS = 16384
ENSURE_SCRIPT = "scripts/ensure-servers.sh"

# Where each tool comes from (Debian package), for the skip / failure message.
PACKAGES = {"redis-server": "redis-server", "redis-cli": "redis-tools", "memcached": "memcached"}

# (what, seconds): every start of a server or a group, printed by conftest at the end of the run.
STARTUPS: list[tuple[str, float]] = []


# --- finding the binaries -------------------------------------------------------------------


def find_exe(name: str) -> str | None:
    """The executable `name`: on PATH, else in /usr/bin, /usr/sbin, /usr/local/bin; or None."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/bin", "/usr/sbin", "/usr/local/bin"):
        candidate = os.path.join(folder, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def require_exe(name: str) -> str:
    """The executable `name`, or skip (locally) / fail (when CI=true) with a clear message."""
    exe = find_exe(name)
    if exe is None:
        msg = (
            f"{name} is not installed: these tests need a real server (run {ENSURE_SCRIPT} as "
            f"root, or apt-get install {PACKAGES.get(name, name)})"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {msg}", pytrace=False)
        pytest.skip(msg)
    return exe


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --- talking to servers over raw sockets ----------------------------------------------------


class RedisReplyError(Exception):
    """A Redis error reply (`-ERR ...`), raised by `command()`."""


def _encode(args: tuple[object, ...]) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(f: Any) -> Any:
    """One RESP2 reply from the binary file `f`: str, int, bytes, None or a list of those."""
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed in the middle of a reply")
    kind, body = line[:1], line[1:-2]
    if kind == b"+":
        return body.decode()
    if kind == b"-":
        raise RedisReplyError(body.decode(errors="replace"))
    if kind == b":":
        return int(body)
    if kind == b"$":
        n = int(body)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(body)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ConnectionError(f"not a RESP reply: {line[:40]!r}")


def command(port: int, *args: object, timeout: float = 2.0) -> Any:
    """Send one Redis command to 127.0.0.1:`port` and return its parsed reply.

    Raises `OSError` (refused, timed out) or `RedisReplyError` (an error reply).
    """
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(_encode(args))
        with s.makefile("rb") as f:
            return _read_reply(f)


def info(port: int, section: str, timeout: float = 2.0) -> dict[str, str]:
    """`INFO section` (or `CLUSTER INFO` for section "cluster-info") as a dict of strings."""
    args: tuple[str, ...] = ("CLUSTER", "INFO") if section == "cluster-info" else ("INFO", section)
    text = command(port, *args, timeout=timeout).decode()
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return dict(pairs)


def ping(port: int, timeout: float = 0.5) -> bool:
    """True when a Redis server (or sentinel) on 127.0.0.1:`port` answers PING with PONG."""
    try:
        return bool(command(port, "PING", timeout=timeout) == "PONG")
    except (OSError, RedisReplyError):
        return False


def memcached_command(port: int, line: str, timeout: float = 2.0) -> str:
    """Send one text-protocol command line to memcached and return its reply's first line."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(line.encode() + b"\r\n")
        with s.makefile("rb") as f:
            return f.readline().decode(errors="replace").rstrip("\r\n")


def _wait(what: str, check: Callable[[], bool], timeout: float, why: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen within {timeout:.0f} s: {why()}")
        time.sleep(0.02)


# --- processes ------------------------------------------------------------------------------

_LIVE: set[ServerProcess] = set()
_LIVE_LOCK = threading.Lock()


def _stop_leftovers() -> None:
    """atexit: kill every server a finalizer did not get to (e.g. after KeyboardInterrupt)."""
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    for server in leftovers:
        server.kill()


atexit.register(_stop_leftovers)


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the child when our thread dies; None elsewhere.

    The death signal follows the THREAD that forked the child, so it is only used from the
    main thread (the one pytest runs tests in); servers started from other threads rely on the
    finalizers and the atexit hook.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()
    ):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigkill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(pr_set_pdeathsig, sigkill, 0, 0, 0)

    return preexec


class ServerProcess:
    """One server process on 127.0.0.1:`port`, files in `folder`; the subclasses say how to run it.

    `start()` waits until `ready()`; `stop()` (SIGTERM), `kill()` (SIGKILL), `freeze()`
    (SIGSTOP), `thaw()` (SIGCONT), `restart()` (stop + start, same port). A port chosen here
    that turns out to be taken at the first start is replaced by another one.
    """

    kind = "server"
    log_name = "server.log"
    graceful_stop = True  # False: stop() is kill() (a server with no state to shut down)

    def __init__(self, exe: str, folder: Path, port: int | None = None) -> None:
        self.exe = exe
        self.folder = folder
        self._own_port = port is None
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.frozen = False
        self.started_once = False
        self.startup_seconds: float | None = None

    # subclass hooks
    def command_line(self) -> list[str]:
        """The argv that runs the server in the foreground."""
        raise NotImplementedError

    def ready(self) -> bool:
        """True when the server answers its protocol's no-op."""
        raise NotImplementedError

    def _new_ports(self) -> None:
        self.port = free_port()

    # state
    @property
    def address(self) -> str:
        """`127.0.0.1:port`."""
        return f"{HOST}:{self.port}"

    @property
    def running(self) -> bool:
        """True while the process exists (frozen or not)."""
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.folder / self.log_name

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the server's log, for error messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    # life cycle
    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server (on its port) and wait until it answers; no-op if it runs."""
        if self.running:
            return
        began = time.perf_counter()
        for attempt in range(3):
            self._spawn()
            try:
                self._wait_ready(timeout)
                break
            except RuntimeError:
                busy = "in use" in self.log_tail()
                if attempt < 2 and busy and self._own_port and not self.started_once:
                    self._new_ports()  # lost a race for a free port: take another
                    continue
                raise
        self.startup_seconds = time.perf_counter() - began
        what = self.kind if not self.started_once else f"{self.kind} (restart)"
        STARTUPS.append((what, self.startup_seconds))
        self.started_once = True

    def _spawn(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.command_line(),
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent(),  # only a pre-resolved prctl() call
            )
        self.frozen = False
        with _LIVE_LOCK:
            _LIVE.add(self)

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            proc = self.proc
            if proc is None or proc.poll() is not None or time.monotonic() > deadline:
                log = self.log_tail()
                self.kill()
                raise RuntimeError(f"{self.kind} on port {self.port} did not start:\n{log}")
            time.sleep(0.005)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the server: SIGTERM (after SIGCONT if frozen), SIGKILL if it lingers."""
        proc = self.proc
        if proc is None:
            return
        if not self.graceful_stop:
            self.kill()
            return
        if proc.poll() is None:
            if self.frozen:
                proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._gone()

    def kill(self) -> None:
        """SIGKILL the server (also when frozen) and reap it: a crash, no shutdown work."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._gone()

    def _gone(self) -> None:
        self.proc = None
        self.frozen = False
        with _LIVE_LOCK:
            _LIVE.discard(self)

    def restart(self, timeout: float = START_TIMEOUT) -> None:
        """Stop (if running) and start again on the same port."""
        self.stop()
        self.start(timeout)

    def freeze(self) -> None:
        """SIGSTOP: the port stays open and connections are accepted, but nothing answers."""
        if not self.running or self.proc is None:
            raise RuntimeError(f"{self.kind} on port {self.port} is not running")
        self.proc.send_signal(signal.SIGSTOP)
        self.frozen = True
        # The signal is delivered asynchronously: without this wait, a request sent right away
        # may still be answered by a (memcached) worker thread that has not stopped yet.
        self._wait_stopped(True)

    def thaw(self) -> None:
        """SIGCONT: a frozen server carries on (no-op when it is not frozen)."""
        if self.proc is not None and self.frozen:
            self.proc.send_signal(signal.SIGCONT)
            self._wait_stopped(False)
        self.frozen = False

    def _wait_stopped(self, stopped: bool, timeout: float = 5.0) -> None:
        """Wait until every thread of the process is (or no longer is) stopped; Linux only."""
        proc = self.proc
        if proc is None or not os.path.isdir(f"/proc/{proc.pid}/task"):
            return
        deadline = time.monotonic() + timeout
        while self._all_threads_stopped(proc.pid) != stopped:
            if proc.poll() is not None or time.monotonic() > deadline:
                return
            time.sleep(0.001)

    @staticmethod
    def _all_threads_stopped(pid: int) -> bool:
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
            states = []
            for tid in tasks:
                with open(f"/proc/{pid}/task/{tid}/stat", encoding="ascii") as f:
                    # "pid (comm) S ...": the state follows the last ")"
                    states.append(f.read().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            return False
        return all(state in ("T", "t") for state in states)

    @contextlib.contextmanager
    def frozen_for(self) -> Iterator[None]:
        """`with server.frozen_for(): ...` freezes the server and always thaws it afterwards."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    def __repr__(self) -> str:
        state = "frozen" if self.frozen else "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.address} {state}>"


class RedisServer(ServerProcess):
    """`redis-server` on 127.0.0.1:`port` without persistence; `cluster=True` for a cluster node.

    `extra` adds `--name value` options, e.g. `{"replicaof": "127.0.0.1 6379"}`.
    """

    kind = "redis"
    log_name = "redis.log"

    def __init__(
        self,
        exe: str,
        folder: Path,
        port: int | None = None,
        *,
        cluster: bool = False,
        extra: dict[str, str] | None = None,
    ) -> None:
        super().__init__(exe, folder, port)
        self.cluster = cluster
        self.bus_port = free_port() if cluster else None
        self.extra = dict(extra or {})
        if cluster:
            self.kind = "redis cluster node"

    def _new_ports(self) -> None:
        super()._new_ports()
        if self.cluster:
            self.bus_port = free_port()

    @property
    def url(self) -> str:
        """`redis://127.0.0.1:port/0`."""
        return f"redis://{HOST}:{self.port}/0"

    def command_line(self) -> list[str]:
        """redis-server with every option on the command line (no config file needed)."""
        args = {
            "port": str(self.port),
            "bind": HOST,
            "save": "",
            "appendonly": "no",
            "dir": str(self.folder),
            "logfile": str(self.log_path),
            "daemonize": "no",
            "protected-mode": "no",
        }
        if self.cluster:
            args |= {
                "cluster-enabled": "yes",
                "cluster-config-file": "nodes.conf",
                "cluster-port": str(self.bus_port),
                "cluster-node-timeout": "1000",
            }
        args |= self.extra
        argv = [self.exe]
        for name, value in args.items():
            argv += [f"--{name}", *value.split(" ")] if value else [f"--{name}", ""]
        return argv

    def ready(self) -> bool:
        """PING answers PONG."""
        return ping(self.port)

    def command(self, *args: object, timeout: float = 2.0) -> Any:
        """One command on this server (see the module's `command`)."""
        return command(self.port, *args, timeout=timeout)

    def flush(self) -> None:
        """FLUSHALL this private test server (never used on any other server)."""
        self.command("FLUSHALL")


class SentinelServer(ServerProcess):
    """`redis-server <conf> --sentinel` monitoring one master as `service` (quorum 1).

    The config file is written once: Sentinel rewrites it with what it learns (replicas,
    epochs), and a restart must keep that.
    """

    kind = "redis sentinel"
    log_name = "sentinel.log"

    def __init__(
        self,
        exe: str,
        folder: Path,
        master_port: int,
        *,
        service: str,
        down_after_ms: int,
        failover_timeout_ms: int,
    ) -> None:
        super().__init__(exe, folder)
        self.master_port = master_port
        self.service = service
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.conf = folder / "sentinel.conf"

    def command_line(self) -> list[str]:
        """redis-server on the (written once) config file, in sentinel mode."""
        if not self.conf.exists() or not self.started_once:
            s = self.service
            self.folder.mkdir(parents=True, exist_ok=True)
            self.conf.write_text(
                f"port {self.port}\n"
                f"bind {HOST}\n"
                f"dir {self.folder}\n"
                f"logfile {self.log_path}\n"
                "daemonize no\n"
                f"sentinel monitor {s} {HOST} {self.master_port} 1\n"
                f"sentinel down-after-milliseconds {s} {self.down_after_ms}\n"
                f"sentinel failover-timeout {s} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {s} 1\n"
            )
        return [self.exe, str(self.conf), "--sentinel"]

    def ready(self) -> bool:
        """PING answers PONG."""
        return ping(self.port)

    def master_address(self) -> tuple[str, int] | None:
        """The master's address as this sentinel reports it, or None."""
        try:
            reply = command(self.port, "SENTINEL", "get-master-addr-by-name", self.service)
        except (OSError, RedisReplyError):
            return None
        if not reply:
            return None
        return reply[0].decode(), int(reply[1])

    def master_flags(self) -> str:
        """The `flags` field of `SENTINEL master service` ("master" when all is well)."""
        reply = command(self.port, "SENTINEL", "master", self.service)
        items = [x.decode() for x in reply]
        return dict(zip(items[::2], items[1::2])).get("flags", "")

    def replicas(self) -> list[dict[str, str]]:
        """`SENTINEL replicas service` as dicts (keys: ip, port, flags, ...)."""
        reply = command(self.port, "SENTINEL", "replicas", self.service)
        out = []
        for flat in reply or []:
            items = [x.decode() for x in flat]
            out.append(dict(zip(items[::2], items[1::2])))
        return out


class MemcachedServer(ServerProcess):
    """`memcached -l 127.0.0.1 -p PORT -U 0` (64 MB, `-u root` when run as root).

    `item_mb` raises the item size limit (`-I`, 1 MB by default) for tests that store large
    values; memcached wants at least twice that much memory (`-m`), so it gets it.
    """

    kind = "memcached"
    log_name = "memcached.log"
    graceful_stop = False  # it takes a second to notice SIGTERM, and it has nothing to save

    def __init__(
        self,
        exe: str,
        folder: Path,
        port: int | None = None,
        memory_mb: int = 64,
        item_mb: int | None = None,
    ) -> None:
        super().__init__(exe, folder, port)
        self.item_mb = item_mb
        # memcached refuses an item size limit above half its memory
        self.memory_mb = memory_mb if item_mb is None else max(memory_mb, 2 * item_mb)

    @property
    def url(self) -> str:
        """`memcached://127.0.0.1:port`."""
        return f"memcached://{HOST}:{self.port}"

    def command_line(self) -> list[str]:
        """memcached in the foreground on TCP only."""
        argv = [self.exe, "-l", HOST, "-p", str(self.port), "-U", "0"]
        argv += ["-m", str(self.memory_mb), "-t", "2", "-c", "1024"]
        if self.item_mb is not None:
            argv += ["-I", f"{self.item_mb}m"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses to run as root without it
        return argv

    def ready(self) -> bool:
        """`version` answers `VERSION x.y.z`."""
        try:
            return memcached_command(self.port, "version", timeout=0.5).startswith("VERSION ")
        except OSError:
            return False

    def flush(self) -> None:
        """`flush_all` (this test server only)."""
        memcached_command(self.port, "flush_all")


# --- groups ---------------------------------------------------------------------------------


def _record(what: str, began: float) -> float:
    took = time.perf_counter() - began
    STARTUPS.append((what, took))
    return took


class RedisCluster:
    """A Redis Cluster of `size` masters (no replicas) made with `redis-cli --cluster create`.

    `full_coverage=False` sets `cluster-require-full-coverage no`: the other masters keep
    serving their slots while one is down (default: Redis' own, the whole cluster refuses).
    A killed node restarted with `heal()` or `node.start()` rejoins with its slots (its
    nodes.conf is kept in its folder).
    """

    kind = "redis cluster"

    def __init__(
        self,
        server_exe: str,
        cli_exe: str,
        folder: Path,
        *,
        size: int = 3,
        full_coverage: bool = True,
        node_timeout_ms: int = 1000,
    ) -> None:
        self.cli = cli_exe
        self.folder = folder
        extra = {
            "cluster-require-full-coverage": "yes" if full_coverage else "no",
            "cluster-node-timeout": str(node_timeout_ms),
        }
        self.nodes = [
            RedisServer(server_exe, folder / f"node{i}", cluster=True, extra=extra)
            for i in range(size)
        ]
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        """`redis+cluster://127.0.0.1:p1,127.0.0.1:p2,...`."""
        return "redis+cluster://" + ",".join(n.address for n in self.nodes)

    @property
    def ports(self) -> list[int]:
        """The nodes' client ports."""
        return [n.port for n in self.nodes]

    def start(self) -> None:
        """Start the nodes, join them into a cluster and wait until every node says ok."""
        began = time.perf_counter()
        try:
            for node in self.nodes:
                node.start()
            addresses = [n.address for n in self.nodes]
            proc = subprocess.run(
                [
                    self.cli,
                    "--cluster",
                    "create",
                    *addresses,
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=GROUP_TIMEOUT,
                check=False,
            )
            if proc.returncode != 0:
                output = proc.stdout + proc.stderr
                raise RuntimeError(f"redis-cli --cluster create failed:\n{output}")
            self.wait_ok()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = _record(self.kind, began)

    def cluster_info(self, node: RedisServer) -> dict[str, str]:
        """CLUSTER INFO of one node."""
        return info(node.port, "cluster-info")

    def _node_ok(self, node: RedisServer) -> bool:
        try:
            ci = self.cluster_info(node)
        except (OSError, RedisReplyError):
            return False
        return (
            ci.get("cluster_state") == "ok"
            and ci.get("cluster_slots_ok") == str(SLOTS)
            and ci.get("cluster_known_nodes") == str(len(self.nodes))
        )

    def wait_ok(self, timeout: float = GROUP_TIMEOUT) -> None:
        """Wait until every node reports cluster_state:ok with all 16384 slots and all nodes."""

        def why() -> str:
            states = []
            for n in self.nodes:
                try:
                    ci = self.cluster_info(n)
                    states.append(f"{n.address}: {ci.get('cluster_state')}")
                except (OSError, RedisReplyError) as exc:
                    states.append(f"{n.address}: {exc}")
            return "; ".join(states)

        _wait("cluster ok on every node", lambda: all(map(self._node_ok, self.nodes)), timeout, why)

    def masters(self) -> dict[str, list[tuple[int, int]]]:
        """`address -> slot ranges` of the masters, from CLUSTER SLOTS on a live node."""
        for node in self.nodes:
            if node.running and not node.frozen:
                reply = node.command("CLUSTER", "SLOTS")
                break
        else:
            raise RuntimeError("no live cluster node")
        out: dict[str, list[tuple[int, int]]] = {}
        for first, last, primary, *_replicas in reply:
            address = f"{primary[0].decode()}:{primary[1]}"
            out.setdefault(address, []).append((first, last))
        return out

    def node_for(self, key: str | bytes) -> RedisServer:
        """The node that owns `key`'s slot (CLUSTER KEYSLOT, then the slot map)."""
        live = next(n for n in self.nodes if n.running and not n.frozen)
        slot = live.command("CLUSTER", "KEYSLOT", key)
        for address, ranges in self.masters().items():
            if any(a <= slot <= b for a, b in ranges):
                return next(n for n in self.nodes if n.address == address)
        raise RuntimeError(f"no node owns slot {slot}")

    def heal(self) -> None:
        """Thaw frozen nodes, start dead ones, wait until the cluster is ok again."""
        for node in self.nodes:
            node.thaw()
            node.start()
        self.wait_ok()

    def flush(self) -> None:
        """FLUSHALL on every node (they are all masters)."""
        for node in self.nodes:
            node.flush()

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()

    def kill(self) -> None:
        """SIGKILL every node."""
        for node in self.nodes:
            node.kill()


class RedisSentinel:
    """A Redis master, optionally one replica, and ONE sentinel monitoring it as `service`.

    Quorum 1 and short timeouts (`down_after_ms`, `failover_timeout_ms`), so a killed master is
    replaced by the replica within about 4 s. `master` and `replica` are the processes as
    started; after a failover their roles swap: ask `current_master()`.

    `down_after_ms` stays at 2000: with 1000 (Sentinel's own ping period) a loaded machine
    sometimes sees the NEW master "down" right after the switch (its first PONG comes late),
    and Sentinel fails back over to the restarted, empty ex-master.
    """

    kind = "redis sentinel group"

    def __init__(
        self,
        server_exe: str,
        folder: Path,
        *,
        replica: bool = True,
        service: str = "twat",
        down_after_ms: int = 2000,
        failover_timeout_ms: int = 5000,
    ) -> None:
        self.folder = folder
        self.service = service
        # Redis 7 waits 5 s before a diskless full sync (to batch replicas): not here
        quick_sync = {"repl-diskless-sync-delay": "0"}
        self.master = RedisServer(server_exe, folder / "master", extra=quick_sync)
        self.replica: RedisServer | None = None
        if replica:
            self.replica = RedisServer(
                server_exe,
                folder / "replica",
                extra={**quick_sync, "replicaof": f"{HOST} {self.master.port}"},
            )
        self.sentinel = SentinelServer(
            server_exe,
            folder / "sentinel",
            self.master.port,
            service=service,
            down_after_ms=down_after_ms,
            failover_timeout_ms=failover_timeout_ms,
        )
        self.startup_seconds: float | None = None

    @property
    def data_servers(self) -> list[RedisServer]:
        """The master and the replica (as started)."""
        return [self.master] + ([self.replica] if self.replica else [])

    @property
    def url(self) -> str:
        """`redis+sentinel://127.0.0.1:sentinel_port/service`."""
        return f"redis+sentinel://{self.sentinel.address}/{self.service}"

    def start(self) -> None:
        """Start master, replica (wait for its link), then the sentinel; wait until it knows all."""
        began = time.perf_counter()
        try:
            self.master.start()
            if self.replica is not None:
                self.replica.start()
                # a sentinel learns replicas from the master's INFO: link them before it starts
                self._wait_replica_linked()
            self.sentinel.start()
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = _record(self.kind, began)

    def _wait_replica_linked(self, timeout: float = GROUP_TIMEOUT) -> None:
        replica = self.replica
        assert replica is not None

        def linked() -> bool:
            try:
                return info(replica.port, "replication").get("master_link_status") == "up"
            except (OSError, RedisReplyError):
                return False

        _wait("the replica's initial sync", linked, timeout, replica.log_tail)

    def current_master(self) -> RedisServer | None:
        """The process the sentinel names as master now (None while it cannot say)."""
        address = self.sentinel.master_address()
        if address is None:
            return None
        return next((s for s in self.data_servers if s.port == address[1]), None)

    def _whole(self) -> bool:
        master = self.current_master()
        if master is None or not master.running or master.frozen:
            return False
        try:
            if info(master.port, "replication").get("role") != "master":
                return False
            # no s_down / o_down / failover_in_progress in the sentinel's view of the master
            if self.sentinel.master_flags() != "master":
                return False
            if self.replica is None:
                return True
            replicas = self.sentinel.replicas()
            return len(replicas) == 1 and replicas[0].get("flags") == "slave"
        except (OSError, RedisReplyError):
            return False

    def wait_ready(self, timeout: float = GROUP_TIMEOUT) -> None:
        """Wait until the sentinel names a live master (and sees a healthy replica, if any)."""

        def why() -> str:
            master = self.sentinel.master_address()
            return f"sentinel says master={master}\n{self.sentinel.log_tail()}"

        _wait("sentinel ready", self._whole, timeout, why)

    def wait_failover_done(self, timeout: float = GROUP_TIMEOUT) -> None:
        """Wait while the sentinel's view of the master says failover_in_progress."""

        def done() -> bool:
            try:
                return "failover_in_progress" not in self.sentinel.master_flags()
            except (OSError, RedisReplyError):
                return False

        _wait("the failover's end", done, timeout, self.sentinel.log_tail)

    def heal(self) -> None:
        """Thaw everything, let a running failover finish, start the dead, wait until whole.

        A dead ex-master restarted in the middle of a failover races Sentinel's state machine
        (it comes back as an empty master), so it is only started once the failover is over.
        """
        for server in (self.sentinel, *self.data_servers):
            server.thaw()
        self.sentinel.start()
        self.wait_failover_done()
        for server in self.data_servers:
            server.start()
        self.wait_ready()

    def flush(self) -> None:
        """FLUSHALL on the current master (the replica follows)."""
        master = self.current_master()
        if master is not None:
            master.flush()

    def stop(self) -> None:
        """Stop the sentinel first (so it does not fail over while the servers stop)."""
        for server in (self.sentinel, *self.data_servers):
            server.stop()


class MemcachedPool:
    """`count` memcached servers, used together by consistent hashing (`url` lists them all)."""

    kind = "memcached pool"

    def __init__(self, exe: str, folder: Path, count: int = 2, item_mb: int | None = None) -> None:
        self.servers = [
            MemcachedServer(exe, folder / f"mc{i}", item_mb=item_mb) for i in range(count)
        ]
        self.startup_seconds: float | None = None

    @property
    def url(self) -> str:
        """`memcached://127.0.0.1:p1,127.0.0.1:p2,...`."""
        return "memcached://" + ",".join(s.address for s in self.servers)

    def start(self) -> None:
        """Start every server."""
        began = time.perf_counter()
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = _record(f"{self.kind} of {len(self.servers)}", began)

    def heal(self) -> None:
        """Thaw and start every server."""
        for server in self.servers:
            server.thaw()
            server.start()

    def flush(self) -> None:
        """flush_all on every server."""
        for server in self.servers:
            server.flush()

    def stop(self) -> None:
        """Stop every server."""
        for server in self.servers:
            server.stop()


# --- fixtures -------------------------------------------------------------------------------


_T = TypeVar("_T", RedisServer, RedisCluster, RedisSentinel, MemcachedPool)


class ServerFactory:
    """Builds started servers and groups in `folder`; `close()` stops them all."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._made: list[Any] = []
        self._n = 0

    def _dir(self, name: str) -> Path:
        self._n += 1
        path = self.folder / f"{name}{self._n}"
        path.mkdir(parents=True)
        return path

    def _started(self, thing: _T) -> _T:
        self._made.append(thing)
        thing.start()
        return thing

    def redis(self, **extra: str) -> RedisServer:
        """A started single Redis server (`extra`: more `--name value` options)."""
        exe = require_exe("redis-server")
        return self._started(RedisServer(exe, self._dir("redis"), extra=extra))

    def cluster(self, **kwargs: Any) -> RedisCluster:
        """A started 3-master cluster (see `RedisCluster` for the options)."""
        exe, cli = require_exe("redis-server"), require_exe("redis-cli")
        return self._started(RedisCluster(exe, cli, self._dir("cluster"), **kwargs))

    def sentinel(self, **kwargs: Any) -> RedisSentinel:
        """A started master + replica + sentinel (see `RedisSentinel` for the options)."""
        exe = require_exe("redis-server")
        return self._started(RedisSentinel(exe, self._dir("sentinel"), **kwargs))

    def memcached(self, count: int = 1, item_mb: int | None = None) -> MemcachedPool:
        """`count` started memcached servers (`item_mb`: their item size limit, `-I`)."""
        exe = require_exe("memcached")
        return self._started(MemcachedPool(exe, self._dir("memcached"), count, item_mb))

    def close(self) -> None:
        """Stop everything made here (newest first); never raises for one that is gone."""
        while self._made:
            thing = self._made.pop()
            try:
                thing.stop()
            except Exception:  # the next ones must still be stopped
                if hasattr(thing, "kill"):
                    thing.kill()


@contextlib.contextmanager
def _session_factory(prefix: str) -> Iterator[ServerFactory]:
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        factory = ServerFactory(Path(folder))
        try:
            yield factory
        finally:
            factory.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerFactory]:
    """A factory of servers for this test only; everything it made is stopped afterwards."""
    factory = ServerFactory(tmp_path / "servers")
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server for the whole session, in a temporary directory."""
    with _session_factory("twat-cache-redis-") as factory:
        yield factory.redis()


@pytest.fixture
def redis_url(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """The session server's URL, emptied for this test and exported as $TWAT_CACHE_REDIS_URL."""
    redis_server.thaw()  # a fault test elsewhere must never leave it down
    redis_server.start()
    redis_server.flush()
    monkeypatch.setenv("TWAT_CACHE_REDIS_URL", redis_server.url)
    return redis_server.url


@pytest.fixture
def private_redis(servers: ServerFactory) -> RedisServer:
    """A server only this test uses, started; the test may stop/start/kill/freeze it."""
    return servers.redis()


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A 3-master Redis Cluster for the whole session."""
    with _session_factory("twat-cache-cluster-") as factory:
        yield factory.cluster()


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> str:
    """The session cluster's `redis+cluster://` URL, whole again and emptied for this test."""
    redis_cluster.heal()
    redis_cluster.flush()
    return redis_cluster.url


@pytest.fixture
def private_redis_cluster(servers: ServerFactory) -> RedisCluster:
    """A 3-master cluster only this test uses (about 2 s to build)."""
    return servers.cluster()


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinel]:
    """A master, a replica and a sentinel for the whole session."""
    with _session_factory("twat-cache-sentinel-") as factory:
        yield factory.sentinel()


@pytest.fixture
def redis_sentinel_url(redis_sentinel: RedisSentinel) -> str:
    """The session group's `redis+sentinel://host:port/twat` URL, healed and emptied."""
    redis_sentinel.heal()
    redis_sentinel.flush()
    return redis_sentinel.url


@pytest.fixture
def private_redis_sentinel(servers: ServerFactory) -> RedisSentinel:
    """A master + replica + sentinel only this test uses (for failover tests)."""
    return servers.sentinel()


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[MemcachedServer]:
    """One memcached for the whole session."""
    with _session_factory("twat-cache-memcached-") as factory:
        yield factory.memcached(1).servers[0]


@pytest.fixture
def memcached_url(memcached_server: MemcachedServer) -> str:
    """The session memcached's `memcached://` URL, flushed for this test."""
    memcached_server.thaw()
    memcached_server.start()
    memcached_server.flush()
    return memcached_server.url


@pytest.fixture(scope="session")
def memcached_pool() -> Iterator[MemcachedPool]:
    """Two memcached servers for the whole session."""
    with _session_factory("twat-cache-memcached-pool-") as factory:
        yield factory.memcached(2)


@pytest.fixture
def memcached_pool_url(memcached_pool: MemcachedPool) -> str:
    """The session pool's `memcached://h:p,h:p` URL, healed and flushed for this test."""
    memcached_pool.heal()
    memcached_pool.flush()
    return memcached_pool.url


@pytest.fixture
def private_memcached(servers: ServerFactory) -> MemcachedPool:
    """Two memcached servers only this test uses (kill or freeze one of them)."""
    return servers.memcached(2)
