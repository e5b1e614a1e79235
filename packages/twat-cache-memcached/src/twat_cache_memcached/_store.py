"""The memcached store: one cache shared by every process that reaches the same servers.

URL: `memcached://host[:port][,host[:port]...][?timeout=S&connect_timeout=S]` (port 11211 by
default; timeouts default to 0.5 s and 0.25 s), from `url=`, else `$TWAT_CACHE_MEMCACHED_URL`
or `$TWAT_CACHE_URL` (the first one that is a memcached URL). A bad URL is a `ValueError`
naming where it came from, raised when the store opens (the core then falls back).

Servers. Every key goes to one server, chosen by rendezvous hashing (`Rendezvous`: the highest
BLAKE2b score of server and key) over the function's servers, and never to another: when a
server is down its keys are misses and their writes are dropped, so no copy can come back stale,
and no `clear` can be undone by a remapping. Each server has its own circuit breaker: the first
failure (a timeout, a refused connection) opens it with ONE warning per outage, calls then skip
that server at once, and a background thread probes it (`version`) about every `RETRY_INTERVAL`
seconds; the first answer closes it (INFO: caching resumes). pymemcache runs with
`default_noreply=False` (with noreply, `add` always "succeeds") and no retries of its own.

Keys (all ASCII, under memcached's 250 bytes). With `S` the secret's id and `N` a digest of
the function's namespace, a call's entry is `tc:S:N:<digest>` on its server, and each server
keeps the function's meta counter `tc:S:N:m`: a 64-bit integer, its high 32 bits the
generation and its low 32 bits the number of entries stored there. The counter is created
with `add` from a random generation, so a counter lost to eviction or a restart never comes
back with a generation whose entries still exist. An entry holds `(generation, sequence,
byte position)` and the sealed envelope, whose MAC covers the generation; a hit reads the
counter and the entry in ONE request (`get_many` on one server). An entry is live when its
generation is the counter's and it is within the bounds; `cache_clear` bumps the generation
on every server of the function (and deletes the keys it can list), so this function's
entries, and only these, are gone. Entries of another secret live under another `S`.

Bounds (approximately LRU, per function). A bounded function uses as many of the servers as
give each a share of at least 1024 entries (16 MiB for `max_bytes`): a small bound lives on
one server, its namespace's by rendezvous hashing. The bound is split evenly between them; on a
server, an entry is live while fewer than its share of entries were stored after it (a FIFO
window kept by the sequence numbers). With policy
`lru`, a hit on an entry past the middle of the window stores it again at the front (one
extra round trip, at most once per half window), so an entry used at least once per half
window stays: a CLOCK-like approximation of LRU. `fifo` and `ttl` never renew. `max_bytes` is
kept the same way with a second counter of stored bytes per server (`tc:S:N:b`). Entries
beyond the window are misses at once and left to memcached's own LRU to reclaim.

TTL: the envelope carries the exact deadline (the core's clock), so a sub-second `ttl` is
exact; memcached's `expire` (whole seconds, rounded up) only collects the garbage. Values over
the server's item size limit (1 MB by default) are not cached, with one warning per cache.
Single flight across processes: `add` of `tc:S:N:l<digest>` (expiring after the wait
timeout), polled every 50 ms until the wait timeout (`wait_timeout=`,
`$TWAT_CACHE_WAIT_TIMEOUT`, 60 s). `len()`, `clear()` and `nbytes()` list keys with
`lru_crawler metadump all` (memcached >= 1.4.31), O(items on the servers); `len()` also reads
the entries it counts. Management calls raise while a server they need is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import math
import os
import random
import socket
import struct
import threading
import time
import weakref
from collections.abc import AsyncIterator, Hashable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote

from twat_cache import clock, envelope
from twat_cache.config import CacheConfig
from twat_cache.locks import wait_timeout
from twat_cache.record import CacheRecord
from twat_cache.secret import Secret, load_secret
from twat_cache.store import Store

logger = logging.getLogger("twat_cache")

__all__ = [
    "ENV_MEMCACHED_URL",
    "ENV_URL",
    "RETRY_INTERVAL",
    "MemcachedStore",
    "Rendezvous",
    "forget_pools",
    "open_store",
    "parse_url",
]

ENV_URL = "TWAT_CACHE_URL"
ENV_MEMCACHED_URL = "TWAT_CACHE_MEMCACHED_URL"
DEFAULT_PORT = 11211
DEFAULT_TIMEOUTS = {"connect_timeout": 0.25, "timeout": 0.5}
#: Seconds between two probes of a server that failed (with up to 20 % jitter).
RETRY_INTERVAL = 1.0
#: memcached reads an expire over 30 days as an absolute UNIX time.
_RELATIVE_LIMIT = 2_592_000
_HEADER = struct.Struct(">IIQ")  # generation, sequence, byte position after the entry
_MASK32 = 0xFFFFFFFF
_MASK64 = 0xFFFFFFFFFFFFFFFF
_GENERATION = 1 << 32
_BATCH = 100
#: A bounded function spreads over as many servers as give each at least this share of its
#: bound (hashing shares out a few keys unevenly; thousands evenly): fewer, down to one.
MIN_SHARE_ENTRIES = 1024
MIN_SHARE_BYTES = 16 << 20
_POLL = 0.05


def _outage_errors() -> tuple[type[BaseException], ...]:
    from pymemcache.exceptions import (  # noqa: PLC0415
        MemcacheUnexpectedCloseError,
        MemcacheUnknownError,
    )

    # OSError covers timeouts (TimeoutError) and refused or reset connections.
    return (OSError, MemcacheUnexpectedCloseError, MemcacheUnknownError)


OUTAGE = _outage_errors()


# --- where the servers are -------------------------------------------------------------------


def _seconds(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"{name}: expected seconds > 0, got {raw!r}")
    return value


def parse_url(url: str, source: str = "url") -> tuple[list[tuple[str, int]], dict[str, float]]:
    """`memcached://h:p,h:p?timeout=..` -> ([(host, port), ...], {timeout options}).

    Raises `ValueError` naming `source` (the option or the environment variable) and the form.
    """
    try:
        if not isinstance(url, str) or "://" not in url:
            raise ValueError("not a URL (memcached://host:port)")
        scheme, rest = url.split("://", 1)
        if scheme.lower() != "memcached":
            raise ValueError(f"the scheme must be memcached://, not {scheme}://")
        rest = rest.partition("#")[0]
        rest, _, query = rest.partition("?")
        netloc, _, path = rest.partition("/")
        if path.strip("/"):
            raise ValueError("memcached has no databases: leave the path empty")
        if "@" in netloc:
            raise ValueError("memcached (text protocol) has no user or password")
        hosts: list[tuple[str, int]] = []
        for raw in netloc.split(","):
            part = unquote(raw.strip())
            if not part:
                raise ValueError("an empty host in the host list")
            if part.startswith("["):
                host, _, tail = part[1:].partition("]")
                port_text = tail[1:] if tail.startswith(":") else ""
            elif part.count(":") == 1:
                host, _, port_text = part.partition(":")
            elif ":" in part:
                raise ValueError(f"{part!r}: put an IPv6 address in brackets, [::1]:11211")
            else:
                host, port_text = part, ""
            if not host:
                raise ValueError(f"{part!r} has no host")
            try:
                port = int(port_text) if port_text else DEFAULT_PORT
            except ValueError:
                raise ValueError(f"{part!r}: the port is not a number") from None
            if not 0 < port < 65536:
                raise ValueError(f"{part!r}: the port is out of range")
            if (host, port) not in hosts:
                hosts.append((host, port))
        timeouts = dict(DEFAULT_TIMEOUTS)
        for name, values in parse_qs(query, keep_blank_values=True).items():
            if name not in DEFAULT_TIMEOUTS:
                raise ValueError(
                    f"unknown query option {name!r} (allowed: timeout, connect_timeout)"
                )
            timeouts[name] = _seconds(name, values[-1])
        return hosts, timeouts
    except ValueError as exc:
        raise ValueError(
            f"memcached backend: malformed server URL {url!r} from {source} (set url= or "
            f"${ENV_MEMCACHED_URL} / ${ENV_URL}; form: memcached://host:11211[,host:port...]"
            f"[?timeout=0.5&connect_timeout=0.25]): {exc}"
        ) from None


def resolve_url(url: str | None) -> str:
    """`url` (the option), else the first memcached URL of the environment; checked."""
    if url:
        parse_url(url, "url=")
        return url
    found = [(name, os.environ.get(name, "")) for name in (ENV_MEMCACHED_URL, ENV_URL)]
    found = [(name, value) for name, value in found if value.strip()]
    if not found:
        raise ValueError(
            "memcached backend: no server URL; pass url='memcached://host:11211' to the "
            f"decorator or set ${ENV_MEMCACHED_URL} or ${ENV_URL}"
        )
    for name, value in found:
        if value.lower().startswith("memcached://"):
            parse_url(value, f"${name}")
            return value
    name, value = found[0]
    parse_url(value, f"${name}")  # raises: it is not a memcached URL
    return value  # pragma: no cover


# --- servers, their breakers and the shared pools --------------------------------------------


class _Node:
    """One memcached server: its pooled client and its circuit breaker."""

    __slots__ = ("__weakref__", "address", "client", "closed", "lock", "name", "thread")

    def __init__(self, host: str, port: int, timeouts: dict[str, float]) -> None:
        from pymemcache.client.base import PooledClient  # noqa: PLC0415

        self.address = (host, port)
        self.name = f"{host}:{port}"
        self.client: Any = PooledClient(
            (host, port),
            connect_timeout=timeouts["connect_timeout"],
            timeout=timeouts["timeout"],
            default_noreply=False,  # else `add` always "succeeds" and errors go unseen
            allow_unicode_keys=False,
        )
        self.closed = True  # the breaker: True while calls may use the server
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None

    def failed(self, exc: BaseException, who: str) -> None:
        """Open the breaker (one WARNING when it was closed) and make sure a probe runs."""
        with self.lock:
            first = self.closed
            self.closed = False
            start = self.thread is None or not self.thread.is_alive()
            if start:
                self.thread = threading.Thread(
                    target=_probe_loop,
                    args=(weakref.ref(self),),
                    name=f"twat_cache memcached probe {self.name}",
                    daemon=True,
                )
        if first:
            logger.warning(
                "%s: memcached at %s does not answer (%s: %s); its keys are misses until it "
                "is back (probed every %.1f s)",
                who,
                self.name,
                type(exc).__name__,
                exc,
                RETRY_INTERVAL,
            )
        if start and self.thread is not None:
            self.thread.start()

    def probe_once(self) -> bool:
        """Ask the server its version; close the breaker when it answers."""
        try:
            self.client.version()
        except Exception as exc:
            logger.debug("probe of memcached at %s failed: %s", self.name, exc)
            return False
        with self.lock:
            was_open = not self.closed
            self.closed = True
        if was_open:
            logger.info("memcached at %s answers again; caching resumes", self.name)
        return True

    def metadump(self) -> Iterator[tuple[str, int]]:
        """(key, size) of every live item on the server (`lru_crawler metadump all`).

        A connection of its own (pymemcache's raw_command mangles long replies); raises
        `OSError` when the server cannot be reached or cannot list its keys.
        """
        with socket.create_connection(self.address, timeout=5.0) as sock:
            sock.sendall(b"lru_crawler metadump all\r\n")
            buf = b""
            # items end with "\n", the listing with "END\r\n", an error with "\r\n"
            while not (buf == b"END\r\n" or buf.endswith(b"\nEND\r\n")):
                failed = buf.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR", b"BUSY"))
                if failed and buf.endswith(b"\r\n"):
                    reply = buf.decode(errors="replace").strip()
                    raise OSError(f"memcached at {self.name} cannot list its keys: {reply}")
                chunk = sock.recv(1 << 16)
                if not chunk:
                    raise OSError(f"memcached at {self.name} closed the metadump")
                buf += chunk
        for line in buf[: -len(b"END\r\n")].split(b"\n"):
            fields = dict(f.split(b"=", 1) for f in line.split() if b"=" in f)
            key = fields.get(b"key")
            if key is not None:
                yield unquote(key.decode()), int(fields.get(b"size", b"0"))


def _probe_loop(ref: weakref.ref[_Node]) -> None:
    """Probe until the server answers, or the node is gone (its stores were dropped)."""
    while True:
        time.sleep(RETRY_INTERVAL * (1 + 0.2 * random.random()))  # jitter
        node = ref()
        if node is None or node.closed or node.probe_once():
            return
        del node


class _Pool:
    """The servers of one URL in this process (shared by every store of that URL)."""

    def __init__(self, url: str) -> None:
        hosts, timeouts = parse_url(url)
        self.url = url
        self.nodes = {n.name: n for n in (_Node(h, p, timeouts) for h, p in hosts)}
        self.timeouts = timeouts
        self._native: Any = None
        self._lock = threading.Lock()

    def native(self) -> Any:
        """The pymemcache `HashClient` over the same servers (same hashing; for the curious).

        Entries carry a header before the sealed envelope: read them through the wrapper.
        """
        if self._native is None:
            from pymemcache.client.hash import HashClient  # noqa: PLC0415

            with self._lock:
                if self._native is None:
                    self._native = HashClient(
                        [n.address for n in self.nodes.values()],
                        hasher=Rendezvous,
                        use_pooling=True,
                        default_noreply=False,
                        retry_attempts=1 << 30,  # never drop (remap) a server
                        **self.timeouts,
                    )
        return self._native

    def close(self) -> None:
        """Close every pooled connection (the next call reconnects)."""
        for node in self.nodes.values():
            with contextlib.suppress(Exception):
                node.client.close()


_pools: dict[str, _Pool] = {}
_pools_lock = threading.Lock()


def _pool_for(url: str) -> _Pool:
    pool = _pools.get(url)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(url)
            if pool is None:
                pool = _pools[url] = _Pool(url)
    return pool


def forget_pools() -> None:
    """Forget every pool: new clients and closed breakers at the next call.

    Run in a child made by `fork()` (never the parent's sockets, locks or probe threads), and
    by tests that need a fresh start.
    """
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=forget_pools)


def _seed() -> int:
    """A new meta counter: a random generation (31 bits, room to grow), no entries yet."""
    return random.getrandbits(31) << 32


def _expire(seconds: float | None) -> int:
    """The memcached `expire` for `seconds` (None: never): whole seconds, rounded up, + 1."""
    if seconds is None:
        return 0
    relative = math.ceil(seconds) + 1
    return relative if relative <= _RELATIVE_LIMIT else int(time.time()) + relative


class _Names:
    """The key names of one function under one secret."""

    __slots__ = ("bytes", "entry", "lock", "meta", "secret")

    def __init__(self, secret: Secret, namespace: str) -> None:
        ns = hashlib.sha256(namespace.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        base = f"tc:{secret.id}:{ns}:"
        self.secret = secret
        self.entry = base
        self.meta = base + "m"
        self.bytes = base + "b"
        self.lock = base + "l"


class MemcachedStore(Store):
    """The memcached store (see the module docstring); `native` is a pymemcache HashClient."""

    blocking = True
    digest_keys = True
    handles_ttl = True

    def __init__(self, config: CacheConfig, record: CacheRecord, url: str) -> None:
        self.url = url
        self.namespace = record.namespace
        self.name = record.name
        self.ttl = config.ttl
        self.expire = _expire(config.ttl)
        self.encrypt = config.encrypt
        self.maxsize = config.maxsize
        self.max_bytes = config.max_bytes
        self.renew = config.policy == "lru"
        self.wait = wait_timeout(config.wait_timeout)
        # whole seconds on memcached's own clock, which ticks once a second: + 1
        self.lock_expire = math.ceil(self.wait) + 1
        hosts, _ = parse_url(url)
        names = [f"{h}:{p}" for h, p in hosts]
        spread = len(names)
        if self.maxsize is not None:
            spread = min(spread, self.maxsize // MIN_SHARE_ENTRIES)
        if self.max_bytes is not None:
            spread = min(spread, self.max_bytes // MIN_SHARE_BYTES)
        if spread < len(names):  # a small bound: a few servers keep it (evenly enough)
            names = _top(names, self.namespace, max(1, spread))
        self.servers = sorted(names)
        self.hasher = Rendezvous(list(self.servers))
        self.counts = _shares(self.maxsize, self.servers)
        self.sizes = _shares(self.max_bytes, self.servers)
        self._names: _Names | None = None
        self._pool: _Pool | None = None
        self._warned: set[str] = set()

    # -- plumbing ----------------------------------------------------------------------------

    @property
    def pool(self) -> _Pool:
        """The shared servers of this store's URL."""
        pool = self._pool
        if pool is None:
            pool = self._pool = _pool_for(self.url)
        return pool

    @property
    def native(self) -> Any:
        """A pymemcache `HashClient` over the servers (made without I/O)."""
        return self.pool.native()

    def names(self) -> _Names:
        """The key names of this function under the current secret."""
        secret = load_secret()
        names = self._names
        if names is None or names.secret is not secret:
            names = self._names = _Names(secret, self.namespace)
        return names

    def node(self, digest: str) -> _Node:
        """The server of an entry (rendezvous hashing over the function's servers)."""
        return self.pool.nodes[self.hasher.get_node(digest) or ""]

    def available(self) -> bool:
        """True while every server's breaker is closed."""
        return all(self.pool.nodes[name].closed for name in self.servers)

    def _warn_once(self, topic: str, message: str, *args: object) -> None:
        if topic not in self._warned:
            self._warned.add(topic)
            logger.warning(message, *args)

    def _incr(self, client: Any, key: str, by: int, seed: int) -> int:
        """`incr key by`, creating the counter with `add seed` when it is missing."""
        for _ in range(3):
            value = client.incr(key, by)
            if value is not None:
                return int(value)
            client.add(key, str(seed).encode(), expire=0)
        raise OSError(f"memcached counter {key} could not be created")

    def _live(
        self, node: _Node, blob: bytes, meta: bytes | None, written: bytes | None
    ) -> tuple[int, int, int] | None:
        """(generation, age, header size) when the entry is live, else None."""
        if meta is None or len(blob) < _HEADER.size:
            return None
        counter = int(meta)
        generation, sequence, position = _HEADER.unpack_from(blob)
        if generation != counter >> 32:
            return None
        age = ((counter & _MASK32) - sequence) & _MASK32
        share = self.counts.get(node.name)
        if share is not None and age >= share:
            return None
        budget = self.sizes.get(node.name)
        if budget is not None:
            if written is None:
                return None
            behind = (int(written) - position) & _MASK64
            if behind + len(blob) > budget and behind != 0:
                return None
        return generation, age, _HEADER.size

    def _unseal(self, digest: str, generation: int, body: bytes) -> tuple[Any, bool]:
        """(value, ok): the envelope's value, or (None, False) when expired, foreign, corrupt."""
        try:
            value, deadline = envelope.unseal(
                body, secret=load_secret(), context=f"{digest}:{generation}".encode()
            )
        except envelope.ForeignEntry as exc:
            self._warn_once("foreign", "%s: ignoring a memcached entry: %s", self.name, exc)
            return None, False
        except envelope.CorruptEntry as exc:
            logger.warning("%s: ignoring a corrupt memcached entry: %s", self.name, exc)
            return None, False
        if deadline is not None and clock.now() >= deadline:
            return None, False
        return value, True

    # -- the five operations -----------------------------------------------------------------

    def get(self, key: Hashable, default: Any) -> Any:
        """The value stored for `key`, or `default` (also while its server is unusable)."""
        digest = key if type(key) is str else str(key)
        node = self.node(digest)
        if not node.closed:
            return default
        names = self.names()
        entry = names.entry + digest
        wanted = [names.meta, entry] if self.max_bytes is None else [names.meta, names.bytes, entry]
        try:
            found = node.client.get_many(wanted)
        except OUTAGE as exc:
            node.failed(exc, self.name)
            return default
        blob = found.get(entry)
        if blob is None:
            return default
        live = self._live(node, blob, found.get(names.meta), found.get(names.bytes))
        if live is None:
            return default
        generation, age, start = live
        value, ok = self._unseal(digest, generation, blob[start:])
        if not ok:
            return default
        share = self.counts.get(node.name)
        if self.renew and share is not None and share >= 2 and age >= share // 2:
            self._store(node, names, digest, blob[start:], renew_of=generation)
        return value

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key`; dropped while its server is unusable or when too large."""
        digest = key if type(key) is str else str(key)
        node = self.node(digest)
        if not node.closed:
            return
        self._store(node, self.names(), digest, value)

    def _store(
        self,
        node: _Node,
        names: _Names,
        digest: str,
        value: Any,
        renew_of: int | None = None,
    ) -> None:
        """Number the entry (meta counter), seal it under that generation, store it.

        `renew_of`: `value` is the sealed body of a live entry of that generation being moved
        to the front of the window (not sealed again; dropped if a clear came in between).
        """
        from pymemcache.exceptions import MemcacheServerError  # noqa: PLC0415

        client = node.client
        size = -1
        try:
            counter = self._incr(client, names.meta, 1, _seed())
            generation = counter >> 32
            if renew_of is not None and renew_of != generation:
                return
            if renew_of is None:
                deadline = None if self.ttl is None else clock.now() + self.ttl
                body = envelope.seal(
                    value,
                    secret=load_secret(),
                    context=f"{digest}:{generation}".encode(),
                    deadline=deadline,
                    encrypt=self.encrypt,
                )
            else:
                body = value
            size = _HEADER.size + len(body)
            position = 0
            if self.max_bytes is not None:
                position = self._incr(client, names.bytes, size, 0)
            header = _HEADER.pack(generation, counter & _MASK32, position)
            client.set(names.entry + digest, header + body, expire=self.expire)
        except OUTAGE as exc:
            node.failed(exc, self.name)
        except MemcacheServerError as exc:  # too large, out of memory: this value only
            self._warn_once(
                "too-large",
                "%s: memcached at %s refused a value of %d bytes (%s); such values are not "
                "cached (the server's item size limit: memcached -I)",
                self.name,
                node.name,
                size,
                exc,
            )

    def delete(self, key: Hashable) -> bool:
        """Drop the entry of `key`; True if it was live (raises while its server is down)."""
        digest = key if type(key) is str else str(key)
        node = self.node(digest)
        names = self.names()
        entry = names.entry + digest
        found = node.client.get_many([names.meta, names.bytes, entry])
        blob = found.get(entry)
        live = blob is not None and (
            self._live(node, blob, found.get(names.meta), found.get(names.bytes)) is not None
        )
        if blob is not None:
            node.client.delete(entry)
        return live

    def _listed(self, names: _Names) -> Iterator[tuple[_Node, list[tuple[str, int]]]]:
        """Per server of the function: its entries' (key, size), listed by metadump."""
        width = len(names.entry) + 64
        for name in self.servers:
            node = self.pool.nodes[name]
            keys = [
                (k, size)
                for k, size in node.metadump()
                if k.startswith(names.entry) and len(k) == width
            ]
            yield node, keys

    def clear(self) -> None:
        """Drop this function's entries on every server: a new generation, then the keys."""
        names = self.names()
        problems: list[BaseException] = []
        for name in self.servers:
            node = self.pool.nodes[name]
            try:
                if node.client.incr(names.meta, _GENERATION) is None:
                    node.client.add(names.meta, str(_seed()).encode())
            except OUTAGE as exc:
                problems.append(exc)
        try:
            for node, keys in self._listed(names):
                for start in range(0, len(keys), _BATCH):
                    node.client.delete_many([k for k, _ in keys[start : start + _BATCH]])
        except OUTAGE as exc:
            problems.append(exc)
        if problems:
            raise problems[0]

    def __len__(self) -> int:
        """The live entries: listed by metadump, then read (O(items on the servers))."""
        names = self.names()
        count = 0
        for node, keys in self._listed(names):
            for start in range(0, len(keys), _BATCH):
                batch = [k for k, _ in keys[start : start + _BATCH]]
                found = node.client.get_many([names.meta, names.bytes, *batch])
                for key in batch:
                    blob = found.get(key)
                    if blob is None:
                        continue
                    live = self._live(node, blob, found.get(names.meta), found.get(names.bytes))
                    if live is None:
                        continue
                    if self.ttl is not None:
                        _, ok = self._unseal(key[len(names.entry) :], live[0], blob[live[2] :])
                        if not ok:
                            continue
                    count += 1
        return count

    def nbytes(self) -> int | None:
        """The bytes the function's items take on the servers (memcached's own sizes)."""
        return sum(size for _, keys in self._listed(self.names()) for _, size in keys)

    # -- single flight -----------------------------------------------------------------------

    def _lock_key(self, digest: str) -> str:
        return self.names().lock + digest

    def _try_lock(self, node: _Node, name: str, token: bytes) -> bool | None:
        """True: taken; False: held by another; None: the server failed (breaker opened)."""
        try:
            return bool(node.client.add(name, token, expire=self.lock_expire))
        except OUTAGE as exc:
            node.failed(exc, self.name)
            return None

    def _unlock(self, node: _Node, name: str, token: bytes) -> None:
        try:
            if node.client.get(name) == token:  # still ours (it did not expire meanwhile)
                node.client.delete(name)
        except OUTAGE as exc:
            node.failed(exc, self.name)

    @contextmanager
    def flight_lock(self, key: Hashable) -> Iterator[bool]:
        """An `add`-based lock around re-check + compute + store (True when taken).

        Waits at most the wait timeout, then computes anyway (a duplicate computation beats a
        caller that hangs); the lock expires after that long too, should its holder die.
        """
        digest = key if type(key) is str else str(key)
        node = self.node(digest)
        name = self._lock_key(digest)
        token = os.urandom(8).hex().encode()
        taken = False
        if node.closed:
            deadline = time.monotonic() + self.wait
            while True:
                got = self._try_lock(node, name, token)
                if got is not False or time.monotonic() >= deadline:
                    taken = bool(got)
                    break
                time.sleep(_POLL)
        try:
            yield taken
        finally:
            if taken:
                self._unlock(node, name, token)

    @asynccontextmanager
    async def aflight_lock(self, key: Hashable) -> AsyncIterator[bool]:
        """The lock of `flight_lock` for coroutine functions (waits with asyncio.sleep)."""
        digest = key if type(key) is str else str(key)
        node = self.node(digest)
        name = self._lock_key(digest)
        token = os.urandom(8).hex().encode()
        taken = False
        if node.closed:
            deadline = time.monotonic() + self.wait
            while True:
                got = await asyncio.to_thread(self._try_lock, node, name, token)
                if got is not False or time.monotonic() >= deadline:
                    taken = bool(got)
                    break
                await asyncio.sleep(_POLL)
        try:
            yield taken
        finally:
            if taken:
                await asyncio.to_thread(self._unlock, node, name, token)

    # -- life cycle --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pooled connections (the next call reconnects)."""
        self.pool.close()

    def after_fork(self) -> None:
        """In a forked child: use this process's own connections (never the parent's)."""
        self._pool = None


def _score(node: str, key: str) -> int:
    """The rendezvous (highest random weight) score of `key` on `node`: BLAKE2b, in C."""
    data = f"{node}-{key}".encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


class Rendezvous:
    """Rendezvous hashing with pymemcache's hasher interface (`add_node`, `get_node`).

    Removing a server moves only its keys. The store never removes one (a server that is
    down keeps its keys, which are then misses); pymemcache's `HashClient` takes it as
    `hasher=` so that `native` sends every key where the store does. Its own murmur3 is pure
    Python: about 25 us a key, more than a whole hit.
    """

    def __init__(self, nodes: list[str] | None = None, seed: int = 0) -> None:
        self.nodes: list[str] = list(nodes or [])

    def add_node(self, node: str) -> None:
        """Add a server."""
        if node not in self.nodes:
            self.nodes.append(node)

    def remove_node(self, node: str) -> None:
        """Remove a server (its keys go to the others)."""
        self.nodes.remove(node)

    def get_node(self, key: str) -> str | None:
        """The server of `key`: the highest score (ties: the larger name)."""
        nodes = self.nodes
        if len(nodes) == 1:
            return nodes[0]
        if not nodes:
            return None
        return max(nodes, key=lambda node: (_score(node, key), node))


def _top(names: list[str], namespace: str, k: int) -> list[str]:
    """The `k` servers a bounded function uses: the highest rendezvous scores of its name."""
    return sorted(names, key=lambda n: (_score(n, namespace), n), reverse=True)[:k]


def _shares(total: int | None, servers: list[str]) -> dict[str, int]:
    """`total` split between `servers` (the first ones get the remainder); {} for None."""
    if total is None:
        return {}
    base, extra = divmod(total, len(servers))
    return {name: base + (1 if i < extra else 0) for i, name in enumerate(servers)}


def open_store(config: CacheConfig, record: CacheRecord) -> MemcachedStore:
    """Open the memcached store of one function; no I/O (decorating works with servers down).

    Raises `ValueError` when no URL is configured or it is malformed: the core then falls back
    to the next backend with one warning.
    """
    return MemcachedStore(config, record, resolve_url(config.url))
