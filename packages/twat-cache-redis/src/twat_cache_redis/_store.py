"""The Redis stores: one cache shared by every process, on any host, that reaches the server.

Servers (see `_url`): one Redis (`redis://`, `rediss://`, `unix://`), a Redis Cluster
(`redis+cluster://h:p,h:p`) or the master a Sentinel names (`redis+sentinel://h:p/service`),
from `url=` (alias `redis_url=`), `$TWAT_CACHE_REDIS_URL` or `$TWAT_CACHE_URL`.

Layout. With `S` the id of the secret (`$TWAT_CACHE_SECRET` or the user's key file) and `ns`
the function's namespace (braces and `%` escaped), an entry lives under

    twat_cache:S:ns:<digest>                      the core's salted 64-hex digest of the call

and holds the core's sealed envelope (HMAC-SHA256 bound to the digest, with the deadline), so
a tampered entry, or one copied under another key, is a logged miss and is never unpickled.
Entries carry no hash tag: a function's entries spread over a cluster's slots. Processes with
different secrets use different keys (`S`): they never read, overwrite, clear or warn about
each other's entries. Hosts sharing a server must share `$TWAT_CACHE_SECRET`.

TTL: the envelope carries the exact deadline (the core's clock) and the key expires by Redis'
own `PX` (rounded up), which only collects the garbage.

`maxsize` / `max_bytes`: a bounded function keeps a sorted set `twat_cache_idx:{S:ns}:lru`
(member: digest; score: last use for lru, store time for fifo and ttl, use count for lfu, a
random number for rr) and, with `max_bytes`, the sealed sizes in `twat_cache_idx:{S:ns}:bytes`
(same hash tag: the same cluster slot, so one Lua script updates both). A hit of an lru/lfu
function sends GET and the score update in one pipeline (one round trip on one server); a
store runs the script, which returns the members beyond the bounds (never the entry being
stored), then deletes those entries. The order is approximately LRU: clocks of several hosts
differ, and entries Redis itself evicted or expired keep their place until they are trimmed.

`cache_clear` deletes this function's (and this secret's) entries only: SCAN MATCH on every
primary of a cluster, UNLINK in batches, then the index. `len()` counts them the same way.
Single flight across processes uses redis-py's `Lock` on `twat_cache_lock:S:ns:<digest>`.

Faults (see `_server`): short timeouts, no client retries, and circuit breakers (per node of a
cluster) with a background probe: an unresponsive server costs one timeout, after which calls
answer at once (misses, dropped writes, computing without the lock) with ONE warning per
outage, until a probe succeeds (INFO). A bounded function whose index node is down keeps
reading but stores nothing (it could not keep its bound). Management calls (`cache_delete`,
`cache_clear`, `len`) raise while the server is down: the caller asked for an effect.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import AsyncIterator, Hashable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from twat_cache import clock, envelope, offload
from twat_cache.config import CacheConfig
from twat_cache.locks import wait_timeout
from twat_cache.network import env_seconds
from twat_cache.record import CacheRecord
from twat_cache.secret import Secret, load_secret
from twat_cache.store import AsyncStore, Store
from twat_cache_redis._server import OUTAGE, Server, server_for
from twat_cache_redis._url import ENV_REDIS_URL, ENV_URL, Target, resolve_target

logger = logging.getLogger("twat_cache")

__all__ = [
    "ENV_LOCK_TIMEOUT",
    "ENV_REDIS_URL",
    "ENV_URL",
    "INDEX_PREFIX",
    "LOCK_PREFIX",
    "PREFIX",
    "RedisAsyncStore",
    "RedisStore",
    "lock_timeout",
    "open_store",
    "resolve_url",
]

ENV_LOCK_TIMEOUT = "TWAT_CACHE_REDIS_LOCK_TIMEOUT"
PREFIX = "twat_cache"
INDEX_PREFIX = "twat_cache_idx"
LOCK_PREFIX = "twat_cache_lock"
DEFAULT_LOCK_TIMEOUT = 60.0
_DIGEST_LEN = 64  # sha256 hex
_BATCH = 500
_TOTAL = "#total"  # the sizes hash's total (members are hex digests: no clash)

#: The bookkeeping of a bounded function, atomic in its index's slot. KEYS: index, sizes.
#: ARGV: member, score, size, maxsize (0: none), max_bytes (0: none), mode, px (0: none).
#: Returns the evicted members (never ARGV[1]: the newest entry survives its own store).
_TRACK = """
local idx, sizes, member = KEYS[1], KEYS[2], ARGV[1]
local maxsize, maxbytes = tonumber(ARGV[4]), tonumber(ARGV[5])
if ARGV[6] == 'lfu' then
  redis.call('ZINCRBY', idx, 1, member)
else
  redis.call('ZADD', idx, ARGV[2], member)
end
local total = 0
if maxbytes > 0 then
  local old = tonumber(redis.call('HGET', sizes, member) or '0')
  redis.call('HSET', sizes, member, ARGV[3])
  total = redis.call('HINCRBY', sizes, '#total', tonumber(ARGV[3]) - old)
end
local evicted = {}
local n = redis.call('ZCARD', idx)
while n > 1 and ((maxsize > 0 and n > maxsize) or (maxbytes > 0 and total > maxbytes)) do
  local low = redis.call('ZRANGE', idx, 0, 1)
  local victim = low[1]
  if victim == member then victim = low[2] end
  redis.call('ZREM', idx, victim)
  n = n - 1
  if maxbytes > 0 then
    local size = tonumber(redis.call('HGET', sizes, victim) or '0')
    redis.call('HDEL', sizes, victim)
    total = redis.call('HINCRBY', sizes, '#total', -size)
  end
  evicted[#evicted + 1] = victim
end
local px = tonumber(ARGV[7])
if px > 0 then
  redis.call('PEXPIRE', idx, px)
  if maxbytes > 0 then redis.call('PEXPIRE', sizes, px) end
end
return evicted
"""

#: Forget one member of a bounded function's index. KEYS: index, sizes. ARGV: member.
_FORGET = """
redis.call('ZREM', KEYS[1], ARGV[1])
local size = redis.call('HGET', KEYS[2], ARGV[1])
if size then
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HINCRBY', KEYS[2], '#total', -tonumber(size))
end
return 1
"""


#: An entry, atomically, in pieces of ARGV[1] bytes ({} when there is none). KEYS: the entry.
#: A large entry is read so because redis-py makes three copies of a bulk reply in a row
#: (~60 ms holding the GIL for 50 MB, however many threads wait); pieces are copied one by one.
_READ = """
local n, size, out = redis.call('STRLEN', KEYS[1]), tonumber(ARGV[1]), {}
for start = 0, n - 1, size do
  out[#out + 1] = redis.call('GETRANGE', KEYS[1], start, start + size - 1)
end
return out
"""
_PIECE = 1 << 22
#: GETRANGE's arguments for the head of an entry the async store reads on the loop (encoded
#: once: this is on the hit path).
_HEAD = (b"0", str(offload.TRANSFER_BYTES - 1).encode())


def resolve_url(config: CacheConfig) -> str:
    """The server URL the store would use (`url=`, `$TWAT_CACHE_REDIS_URL`, `$TWAT_CACHE_URL`).

    Raises `ValueError` naming the sources when none is set, or when the URL is malformed.
    """
    return resolve_target(config.url).url


def lock_timeout() -> float:
    """The single-flight lock's expiry in seconds: `$TWAT_CACHE_REDIS_LOCK_TIMEOUT` or 60.

    Not the wait timeout (how long a caller waits for the lock, `twat_cache.locks`): this is
    how long a lock whose holder died keeps others waiting.
    """
    return env_seconds(ENV_LOCK_TIMEOUT, DEFAULT_LOCK_TIMEOUT)


def _glob_escape(text: str) -> str:
    """Escape Redis' glob metacharacters so a prefix matches only itself in SCAN MATCH."""
    return "".join("\\" + c if c in "\\*?[]^" else c for c in text)


def _key_safe(namespace: str) -> str:
    """The namespace with `%`, `{` and `}` escaped: no hash tag may form in an entry's key."""
    return namespace.replace("%", "%25").replace("{", "%7B").replace("}", "%7D")


class _Names:
    """The key names of one function under one secret (made again when the secret changes)."""

    __slots__ = ("entry", "index", "lock", "pattern", "secret", "sizes")

    def __init__(self, secret: Secret, namespace: str) -> None:
        tag = f"{secret.id}:{_key_safe(namespace)}"
        self.secret = secret
        self.entry = f"{PREFIX}:{tag}:"
        self.lock = f"{LOCK_PREFIX}:{tag}:"
        self.index = f"{INDEX_PREFIX}:{{{tag}}}:lru"
        self.sizes = f"{INDEX_PREFIX}:{{{tag}}}:bytes"
        # exactly this function's entries: a longer namespace yields longer keys, never a match
        self.pattern = _glob_escape(self.entry) + "?" * _DIGEST_LEN


class _RedisBase(Store):
    """What both stores share: naming, sealing, bounds, breakers and the sync management calls."""

    blocking = True
    digest_keys = True
    handles_ttl = True

    def __init__(self, config: CacheConfig, record: CacheRecord, target: Target) -> None:
        self.target = target
        self.url = target.url
        self.namespace = record.namespace
        self.name = record.name
        self.encrypt = config.encrypt
        ttl = config.ttl
        self.ttl = ttl
        self.px: int | None = None if ttl is None else max(1, math.ceil(ttl * 1000))
        self.maxsize = config.maxsize
        self.max_bytes = config.max_bytes
        self.bounded = self.maxsize is not None or self.max_bytes is not None
        self.mode = config.policy
        self.touch = self.bounded and self.mode in ("lru", "lfu")
        self.lock_timeout = lock_timeout()
        self.wait = wait_timeout(config.wait_timeout)
        self._names_cache: _Names | None = None
        self._server: Server | None = None
        self._foreign_warned = False
        self._proxy = _LazyClient(self)

    # -- names and the server ----------------------------------------------------------------

    @property
    def server(self) -> Server:
        """The shared clients and breakers of this store's URL."""
        server = self._server
        if server is None:
            server = self._server = server_for(self.target)
        return server

    def names(self) -> _Names:
        """The key names of this function under the current secret."""
        secret = load_secret()
        names = self._names_cache
        if names is None or names.secret is not secret:
            names = self._names_cache = _Names(secret, self.namespace)
        return names

    @property
    def prefix(self) -> str:
        """The entries' key prefix under the current secret."""
        return self.names().entry

    @property
    def pattern(self) -> str:
        """SCAN MATCH pattern of exactly this function's entries (current secret)."""
        return self.names().pattern

    @property
    def native(self) -> Any:
        """The redis-py client (a cluster's is made on first use: until then a stand-in)."""
        server = self.server
        client = server.built()
        if client is None and server.breaker.closed:
            try:
                client = server.client()
            except OUTAGE as exc:
                server.breaker.failed(exc, self.name)
        return client if client is not None else self._proxy

    def lock_name(self, key: Hashable) -> str:
        """The Redis key of the single-flight lock for `key` (a digest)."""
        return self.names().lock + str(key)

    def available(self) -> bool:
        """True while the server's breaker is closed (calls use the server)."""
        return self.server.breaker.closed

    # -- sealing -----------------------------------------------------------------------------

    def _seal(self, digest: str, value: Any) -> bytes:
        deadline = None if self.ttl is None else clock.now() + self.ttl
        return envelope.seal(
            value,
            secret=load_secret(),
            context=digest.encode(),
            deadline=deadline,
            encrypt=self.encrypt,
        )

    def _place(self, key: Hashable) -> tuple[str, _Names, str]:
        """(digest, names, entry key) of `key` under the current secret."""
        digest = key if type(key) is str else str(key)
        names = self.names()
        return digest, names, names.entry + digest

    def _open(self, name: str, digest: str, blob: Any, default: Any) -> tuple[Any, bool]:
        """(value, corrupt): `blob`'s value; `default` if missing, foreign, expired or corrupt."""
        if blob is None:
            return default, False
        try:
            value, deadline = envelope.unseal(blob, secret=load_secret(), context=digest.encode())
        except envelope.ForeignEntry as exc:  # another secret's entry: a miss, left alone
            if not self._foreign_warned:
                self._foreign_warned = True
                logger.warning("%s: ignoring Redis entry %s: %s", self.name, name, exc)
            return default, False
        except envelope.CorruptEntry as exc:
            logger.warning("%s: dropping corrupt Redis entry %s: %s", self.name, name, exc)
            return default, True
        if deadline is not None and clock.now() >= deadline:
            return default, False
        return value, False

    def _score(self) -> float:
        if self.mode == "rr":
            return random.random()  # random replacement
        return time.time() * 1000.0

    def _track_args(self, digest: str, size: int) -> list[Any]:
        return [
            digest,
            self._score(),
            size,
            self.maxsize or 0,
            self.max_bytes or 0,
            self.mode,
            self.px or 0,
        ]

    def _failed(self, exc: BaseException, key: str | None) -> None:
        self.server.breaker_of(exc, key).failed(exc, self.name)

    def _touch(self, pipe: Any, names: _Names, name: str, digest: str, head: bool = False) -> Any:
        """`pipe` (sync or asyncio) with the GET of `name` and the index's score update.

        `head`: read only the first `offload.TRANSFER_BYTES` (GETRANGE; b"" for a missing key).
        """
        if head:
            pipe.execute_command("GETRANGE", name, *_HEAD)
        else:
            pipe.get(name)
        if self.mode == "lfu":
            pipe.zadd(names.index, {digest: 1}, xx=True, incr=True)
        else:
            pipe.zadd(names.index, {digest: self._score()}, xx=True)
        return pipe

    def _touched(self, names: _Names, results: list[Any]) -> Any:
        """The blob a `_touch` pipeline read; a failed score update opens the index's breaker."""
        blob, touched = results
        if isinstance(blob, Exception):
            raise blob
        if isinstance(touched, OUTAGE):
            self._failed(touched, names.index)
        return blob

    @staticmethod
    def _victims(names: _Names, evicted: list[Any]) -> list[str]:
        """The entry keys of the members the bookkeeping script evicted."""
        return [names.entry + (m.decode() if isinstance(m, bytes) else str(m)) for m in evicted]

    def _lock(self, client: Any, name: str) -> Any:
        """redis-py's Lock (sync or asyncio, as `client`) on `name`, with the store's timeouts.

        It expires after `lock_timeout` (a crashed holder blocks others at most that long); a
        waiter waits at most `wait`, polling every 50 ms.
        """
        return client.lock(
            name,
            timeout=self.lock_timeout,
            blocking=self.wait > 0,
            blocking_timeout=self.wait,
            sleep=0.05,
        )

    @contextmanager
    def _lock_faults(self, name: str) -> Iterator[None]:
        """Around taking or releasing a lock: an outage opens the breaker, a lost lock is no error.

        redis-py raises `LockError` when a lock cannot be taken, or was lost to its expiry while
        we computed (someone else may hold it now): either way the computation goes on.
        """
        from redis.exceptions import LockError  # noqa: PLC0415

        try:
            yield
        except OUTAGE as exc:
            self._failed(exc, name)
        except LockError:
            pass

    # -- the sync client's reads and writes (also the async store's, for large values) ------

    def _write(self, names: _Names, name: str, digest: str, blob: bytes) -> None:
        """Store a sealed `blob` with the sync client (bounds applied); dropped while down."""
        server = self.server
        if not server.node_breaker(name).closed:
            return
        if self.bounded and not server.node_breaker(names.index).closed:
            return  # the bound cannot be kept: store nothing
        try:
            client = server.client()
            if not self.bounded:
                client.set(name, blob, px=self.px)
                return
            args = self._track_args(digest, len(blob))
            if server.cluster:  # two slots: attribute a failure to the right node
                try:
                    evicted = client.eval(_TRACK, 2, names.index, names.sizes, *args)
                except OUTAGE as exc:
                    self._failed(exc, names.index)
                    return
                client.set(name, blob, px=self.px)
            else:
                pipe = client.pipeline(transaction=False)
                pipe.eval(_TRACK, 2, names.index, names.sizes, *args)
                pipe.set(name, blob, px=self.px)
                evicted, _ = pipe.execute()
            if evicted:
                self._evict(client, names, evicted)
        except OUTAGE as exc:
            self._failed(exc, name)

    def _evict(self, client: Any, names: _Names, evicted: list[Any]) -> None:
        victims = self._victims(names, evicted)
        try:
            client.unlink(*victims)
        except OUTAGE as exc:  # left to their TTL (or Redis' own eviction)
            logger.debug("%s: evicting %d entries failed: %s", self.name, len(victims), exc)

    def _drop(self, name: str) -> None:
        try:
            self.server.client().delete(name)
        except OUTAGE as exc:
            self._failed(exc, name)

    def _load(self, name: str, digest: str, default: Any) -> Any:
        """Read a large entry with the sync client and unseal it (no index update).

        In 4 MiB pieces (`_READ`, atomic): redis-py would hold the GIL for three copies of a
        whole 50 MB reply in a row, stalling the event loop this runs beside.
        """
        try:
            pieces = self.server.client().eval(_READ, 1, name, _PIECE)
        except OUTAGE as exc:
            self._failed(exc, name)
            return default
        blob = b"".join(pieces) if pieces else None
        del pieces  # the pieces' memory goes before unpickling makes another copy
        value, corrupt = self._open(name, digest, blob, default)
        if corrupt:
            self._drop(name)
        return value

    # -- management (sync client; raises while the server is down) ---------------------------

    def delete(self, key: Hashable) -> bool:
        """Drop the entry of `key`; True if there was one (raises if the server is down)."""
        names = self.names()
        digest = str(key)
        client = self.server.client()
        dropped = bool(client.delete(names.entry + digest))
        if self.bounded:
            client.eval(_FORGET, 2, names.index, names.sizes, digest)
        return dropped

    def _scan(self, names: _Names) -> Iterator[Any]:
        return self.server.client().scan_iter(match=names.pattern, count=1000)  # type: ignore[no-any-return]

    def clear(self) -> None:
        """Delete this function's keys only: SCAN MATCH on every primary, UNLINK in batches."""
        names = self.names()
        client = self.server.client()
        batch: list[Any] = []
        for name in self._scan(names):
            batch.append(name)
            if len(batch) >= _BATCH:
                client.unlink(*batch)
                batch.clear()
        if batch:
            client.unlink(*batch)
        client.delete(names.index)
        client.delete(names.sizes)

    def __len__(self) -> int:
        """The number of entries: a SCAN (of every primary), so O(keys in the database)."""
        return sum(1 for _ in self._scan(self.names()))

    def nbytes(self) -> int | None:
        """The sealed bytes of the entries, when `max_bytes` keeps count; else None."""
        if self.max_bytes is None:
            return None
        total = self.server.client().hget(self.names().sizes, _TOTAL)
        return int(total or 0)

    def verify(self, fix: bool = False) -> tuple[int, int]:
        """Authenticate every entry of this function; with `fix`, drop the corrupt ones."""
        names = self.names()
        client = self.server.client()
        checked = broken = 0
        for raw_name in list(self._scan(names)):
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            blob = client.get(name)
            if blob is None:
                continue
            checked += 1
            digest = name[len(names.entry) :]
            try:
                envelope.unseal(blob, secret=load_secret(), context=digest.encode())
            except envelope.ForeignEntry:
                continue
            except envelope.CorruptEntry:
                broken += 1
                if fix:
                    client.delete(name)
        return checked, broken

    def close(self) -> None:
        """Close the connections of this store's server (the next call reconnects)."""
        self.server.close()

    def after_fork(self) -> None:
        """In a forked child: use this process's own clients (never the parent's sockets)."""
        self._server = None


class _LazyClient:
    """`wrapper.cache` of a cluster store before its client could be made: makes it on use."""

    __slots__ = ("_store",)

    def __init__(self, store: _RedisBase) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store.server.client(), name)

    def __repr__(self) -> str:
        return f"<redis client of {self._store.target.shown}, not connected yet>"


class RedisStore(_RedisBase):
    """The synchronous store (redis-py): get/set/delete/clear/len plus a cross-process lock.

    `native` is the redis-py client (`redis.Redis`, `redis.cluster.RedisCluster`, or the
    Sentinel's master client). See the module docstring for layout, bounds and faults.
    """

    def get(self, key: Hashable, default: Any) -> Any:
        """The value stored for `key`, or `default` (also while the server is unusable)."""
        digest, names, name = self._place(key)
        server = self.server
        breaker = server.node_breaker(name)
        if not breaker.closed:
            return default
        try:
            client = server.client()
            if self.touch and server.node_breaker(names.index).closed:
                blob = self._get_and_touch(client, names, name, digest)
            else:
                blob = client.get(name)
        except OUTAGE as exc:
            self._failed(exc, name)
            return default
        value, corrupt = self._open(name, digest, blob, default)
        if corrupt:
            self._drop(name)
        return value

    def _get_and_touch(self, client: Any, names: _Names, name: str, digest: str) -> Any:
        """GET plus the index's score update, pipelined (one round trip per server)."""
        pipe = self._touch(client.pipeline(transaction=False), names, name, digest)
        try:
            results = pipe.execute(raise_on_error=False)
        except OUTAGE as exc:
            if not self.server.cluster:
                raise
            # which node failed? read alone: if that works, the index's node is the one
            blob = client.get(name)
            self._failed(exc, names.index)
            return blob
        return self._touched(names, results)

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key` (bounds applied); dropped while the server is unusable."""
        digest, names, name = self._place(key)
        blob = self._seal(digest, value)  # an unpicklable value raises: the core warns once
        self._write(names, name, digest, blob)

    @contextmanager
    def flight_lock(self, key: Hashable) -> Iterator[bool]:
        """Hold redis-py's Lock for `key` around re-check + compute + store (see `_lock`).

        If the lock cannot be had (server down, still held) the body runs anyway: a duplicate
        computation beats a caller that hangs.
        """
        name = self.lock_name(key)
        server = self.server
        breaker = server.node_breaker(name)
        if not breaker.closed:
            yield False
            return
        acquired = False
        lock = None
        with self._lock_faults(name):
            lock = self._lock(server.client(), name)
            acquired = bool(lock.acquire())
        try:
            yield acquired
        finally:
            if acquired and lock is not None:
                with self._lock_faults(name):
                    lock.release()


class RedisAsyncStore(_RedisBase, AsyncStore):
    """The asynchronous store (redis.asyncio): `aget`/`aset` coroutines, sync management calls.

    Nothing large is done on the event loop (`twat_cache.offload`): sealing and unsealing
    (pickle, HMAC, Fernet) of a value of 64 KiB or more, or of unknown size, run in a worker
    thread, and an entry of 1 MiB or more is sent and received there with the sync client
    (redis.asyncio copies what it sends and receives on the loop). A read asks for the
    entry's first MiB only (GETRANGE, one round trip as GET); a longer entry is then read
    whole in a thread.

    redis.asyncio connections belong to the event loop that opened them, so the server keeps
    one async client per running loop (closed with the loop). `delete`, `clear` and `len` are
    synchronous (the wrapper's cache_delete/cache_clear/cache_info are) and use the sync
    client, which is also `native`.
    """

    async def _aclient(self) -> Any:
        server = self.server
        client = server.aclient_nowait()
        return client if client is not None else await server.aclient()

    async def aget(self, key: Hashable, default: Any) -> Any:
        """The value stored for `key`, or `default` (also while the server is unusable)."""
        digest, names, name = self._place(key)
        server = self.server
        if not server.breaker.closed or not server.node_breaker(name).closed:
            return default
        try:  # only the entry's head: all of a large one would be copied on the loop
            client = await self._aclient()
            if self.touch and server.node_breaker(names.index).closed:
                pipe = self._touch(client.pipeline(transaction=False), names, name, digest, True)
                blob = self._touched(names, await pipe.execute(raise_on_error=False))
            else:
                blob = await client.execute_command("GETRANGE", name, *_HEAD)
        except OUTAGE as exc:
            self._failed(exc, name)
            return default
        if not blob:  # b"": no such key (an envelope is never empty, so nothing to drop)
            return default
        if offload.transfer_off_loop(len(blob)):  # only its head: all of it, off the loop
            return await offload.to_thread(self._load, name, digest, default)
        if offload.off_loop(len(blob)):  # MAC + unpickle in a thread: the loop keeps running
            value, corrupt = await offload.to_thread(self._open, name, digest, blob, default)
        else:  # a small hit: inline (no coroutine of `offload.run` on the hit path)
            value, corrupt = self._open(name, digest, blob, default)
        if corrupt:
            try:
                await client.delete(name)
            except OUTAGE as exc:
                self._failed(exc, name)
        return value

    async def aset(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key` (bounds applied); dropped while the server is unusable."""
        digest, names, name = self._place(key)
        # pickle + MAC of a large (or unknown) value in a worker thread, small ones inline
        blob = await offload.run(offload.size_hint(value), self._seal, digest, value)
        if offload.transfer_off_loop(len(blob)):
            # redis.asyncio would copy it on the loop: the sync client sends it from a thread
            await offload.to_thread(self._write, names, name, digest, blob)
            return
        server = self.server
        if not server.breaker.closed or not server.node_breaker(name).closed:
            return
        if self.bounded and not server.node_breaker(names.index).closed:
            return
        try:
            client = await self._aclient()
            if not self.bounded:
                await client.set(name, blob, px=self.px)
                return
            args = self._track_args(digest, len(blob))
            try:
                evicted = await client.eval(_TRACK, 2, names.index, names.sizes, *args)
            except OUTAGE as exc:
                self._failed(exc, names.index)
                return
            await client.set(name, blob, px=self.px)
            if evicted:
                for victim in self._victims(names, evicted):  # one slot each in a cluster
                    await client.unlink(victim)
        except OUTAGE as exc:
            self._failed(exc, name)

    @asynccontextmanager
    async def aflight_lock(self, key: Hashable) -> AsyncIterator[bool]:
        """The async twin of `RedisStore.flight_lock` (redis.asyncio's Lock, same timeouts)."""
        name = self.lock_name(key)
        server = self.server
        if not server.breaker.closed or not server.node_breaker(name).closed:
            yield False
            return
        acquired = False
        lock = None
        with self._lock_faults(name):
            lock = self._lock(await self._aclient(), name)
            acquired = bool(await lock.acquire())
        try:
            yield acquired
        finally:
            if acquired and lock is not None:
                with self._lock_faults(name):
                    await lock.release()


def open_store(config: CacheConfig, record: CacheRecord) -> RedisStore | RedisAsyncStore:
    """Open the Redis store for one function: async for `config.kind == "async"`, else sync.

    Does no I/O (a cluster's client is made at the first call that needs it), so decorating
    works while the server is down. Raises `ValueError` when no URL is configured or it is
    malformed (the core then falls back to the next backend, with one warning).
    """
    target = resolve_target(config.url)
    if config.kind == "async":
        return RedisAsyncStore(config, record, target)
    return RedisStore(config, record, target)
