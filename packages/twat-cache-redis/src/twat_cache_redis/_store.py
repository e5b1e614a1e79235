"""The Redis stores: one cache shared by every process (on any host) that reaches one server.

Layout on the server. An entry of function `ns` for key `k` lives under
`twat_cache:<ns>:<stable_digest(ns + secret id, k)>`; its value is the core's sealed envelope
(`twat_cache.envelope.seal`, HMAC-SHA256 bound to the digest), so a tampered entry, or an entry
copied under another key, is a logged miss and never unpickled. Processes on several hosts
must therefore share the secret: set `$TWAT_CACHE_SECRET` to the same value everywhere (on one
host the user's key file does it). Processes with different secrets use different keys, so they
never overwrite or delete each other's entries; an entry sealed under another secret is a miss
with one warning per cache and is left alone. `ttl` is Redis' own expiry (`SET ... PX`).
`maxsize` is not a per-function entry count: Redis bounds memory for the whole server with
`maxmemory` and evicts by its `maxmemory-policy` (allkeys-lru, allkeys-lfu, allkeys-random,
volatile-ttl, ...), so size the server, not the function. `cache_clear` deletes only this
function's keys (SCAN MATCH + UNLINK, never FLUSHDB) and `len()` counts them.

Single flight across processes uses redis-py's own `Lock` on `twat_cache_lock:<ns>:<digest>`
with a timeout (`$TWAT_CACHE_REDIS_LOCK_TIMEOUT`, default 60 s): a holder that crashed blocks
the others at most that long, and a computation that outlives it is merely duplicated.

Faults. Nothing touches the network when a function is decorated. When the server cannot be
reached, reads are misses and writes are dropped, with ONE warning per outage (logger
"twat_cache"); for `RETRY_INTERVAL` seconds after a failure the store does not even try, so a
dead server costs a caller nothing; afterwards the next call tries again and, when the server
answers, caching resumes (logged at INFO). Explicit management (`cache_delete`, `cache_clear`)
still raises when the server is down, since the caller asked for an effect that did not happen.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Hashable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, cast
from urllib.parse import urlsplit

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import LockError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from twat_cache import envelope
from twat_cache.config import CacheConfig
from twat_cache.record import CacheRecord
from twat_cache.secret import Secret, load_secret
from twat_cache.store import AsyncStore, Store

logger = logging.getLogger("twat_cache")

__all__ = [
    "ENV_LOCK_TIMEOUT",
    "ENV_URL",
    "LOCK_PREFIX",
    "PREFIX",
    "RedisAsyncStore",
    "RedisStore",
    "lock_timeout",
    "open_store",
    "resolve_url",
]

ENV_URL = "TWAT_CACHE_REDIS_URL"
ENV_LOCK_TIMEOUT = "TWAT_CACHE_REDIS_LOCK_TIMEOUT"
PREFIX = "twat_cache"
LOCK_PREFIX = "twat_cache_lock"
DEFAULT_LOCK_TIMEOUT = 60.0
# After a failed attempt the server is left alone this long (seconds): a dead server must not
# add a connection attempt (or a connect timeout) to every call.
RETRY_INTERVAL = 1.0
# Client defaults; query parameters in the URL (e.g. ?socket_timeout=1) override them.
_CLIENT_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 10.0}
_SCHEMES = ("redis", "rediss", "unix")
_DIGEST_LEN = 64  # sha256 hex
_UNLINK_BATCH = 500
_UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def resolve_url(config: CacheConfig) -> str:
    """The server URL: `redis_url` from the config, else `$TWAT_CACHE_REDIS_URL`; validated.

    Raises `ValueError` naming both sources when neither is set, or when the URL is not a
    `redis://`, `rediss://` or `unix://` URL redis-py can parse.
    """
    url = config.redis_url or os.environ.get(ENV_URL)
    if not url:
        raise ValueError(
            "redis backend: no server URL; pass redis_url='redis://host:6379/0' to the "
            f"decorator or set ${ENV_URL}"
        )
    source = "redis_url" if config.redis_url else f"${ENV_URL}"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a non-numeric or out-of-range port
        if parts.scheme not in _SCHEMES:
            raise ValueError(f"scheme must be one of {', '.join(s + '://' for s in _SCHEMES)}")
        if parts.scheme == "unix" and not parts.path:
            raise ValueError("a unix:// URL needs the socket's path")
        redis.ConnectionPool.from_url(url)  # redis-py's own parsing (db, query options)
    except ValueError as exc:
        raise ValueError(
            f"redis backend: malformed server URL {_redact(url)!r} from {source} "
            f"(set redis_url or ${ENV_URL}): {exc}"
        ) from None
    return url


def lock_timeout() -> float:
    """The single-flight lock's timeout in seconds: `$TWAT_CACHE_REDIS_LOCK_TIMEOUT` or 60."""
    raw = os.environ.get(ENV_LOCK_TIMEOUT)
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ValueError(f"${ENV_LOCK_TIMEOUT}: expected seconds > 0, got {raw!r}")
    return value


def _redact(url: str) -> str:
    """`url` without its password, for messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return parts._replace(netloc=user + netloc).geturl()


def _glob_escape(text: str) -> str:
    """Escape Redis' glob metacharacters so a namespace matches only itself in SCAN MATCH."""
    return "".join("\\" + c if c in "\\*?[]^" else c for c in text)


class _Health:
    """Whether the server answers: one warning per outage and a pause between attempts.

    `usable()` is False for `RETRY_INTERVAL` seconds after a failure; `failed()` logs the
    warning only on the first failure of an outage; `recovered()` ends the outage.
    """

    __slots__ = ("down", "lock", "name", "retry_at", "url")

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = _redact(url)
        self.down = False
        self.retry_at = 0.0
        self.lock = threading.Lock()

    def usable(self) -> bool:
        """True unless a recent failure says to leave the server alone for now."""
        return not self.down or time.monotonic() >= self.retry_at

    def failed(self, exc: BaseException) -> None:
        """Record a failed attempt; warn if it starts an outage."""
        with self.lock:
            first = not self.down
            self.down = True
            self.retry_at = time.monotonic() + RETRY_INTERVAL
        if first:
            logger.warning(
                "%s: Redis at %s is unreachable (%s: %s); calls run uncached until it is back",
                self.name,
                self.url,
                type(exc).__name__,
                exc,
            )

    def recovered(self) -> None:
        """Record a successful round trip; log the end of an outage."""
        with self.lock:
            was_down = self.down
            self.down = False
        if was_down:
            logger.info("%s: Redis at %s answers again; caching resumes", self.name, self.url)


class _RedisBase(Store):
    """What both stores share: naming, sealing, the sync client and the sync management calls."""

    blocking = True
    digest_keys = True
    handles_ttl = True

    def __init__(self, config: CacheConfig, ctx: CacheRecord, url: str) -> None:
        self.url = url
        self.namespace = ctx.namespace
        # Resolved once: a hit must not look the secret up again.
        self.prefix = f"{PREFIX}:{ctx.namespace}:"
        self.lock_prefix = f"{LOCK_PREFIX}:{ctx.namespace}:"
        # exactly this namespace's entries: a longer namespace yields longer keys, never a match
        self.pattern = _glob_escape(self.prefix) + "?" * _DIGEST_LEN
        self.encrypt = config.encrypt
        ttl = config.ttl
        self.px: int | None = None if ttl is None else max(1, round(ttl * 1000))
        self.lock_timeout = lock_timeout()
        self.health = _Health(ctx.name, url)
        self._foreign_warned = False
        # One retry (no backoff) reconnects a pooled connection that a server restart broke.
        self.client: redis.Redis = redis.Redis.from_url(
            url, **{"retry": Retry(NoBackoff(), 1), **_CLIENT_OPTIONS}
        )
        self.native: Any = self.client

    def digest(self, key: Hashable, secret: Secret | None = None) -> str:
        """The entry key of `key`: the core's disk digest, as it is.

        The core salts it with the function's namespace and the secret's id, so functions and
        secrets never share entries.
        """
        return str(key)

    def lock_name(self, key: Hashable) -> str:
        """The Redis key of the single-flight lock for `key`."""
        return self.lock_prefix + self.digest(key)

    def _unseal(self, name: str, digest: str, blob: bytes, default: Any) -> tuple[Any, bool]:
        """The value in `blob`, or `(default, True)` when it is corrupt (then it is logged)."""
        try:
            return envelope.unseal(blob, secret=load_secret(), context=digest.encode())[0], False
        except envelope.ForeignEntry as exc:  # another secret's entry: a miss, left alone
            if not self._foreign_warned:
                self._foreign_warned = True
                logger.warning("%s: ignoring Redis entry %s: %s", self.health.name, name, exc)
            return default, False
        except envelope.CorruptEntry as exc:
            logger.warning("%s: dropping corrupt Redis entry %s: %s", self.health.name, name, exc)
            return default, True

    def _seal(self, digest: str, value: Any) -> bytes:
        return envelope.seal(
            value, secret=load_secret(), context=digest.encode(), encrypt=self.encrypt
        )

    def delete(self, key: Hashable) -> bool:
        """Drop the entry of `key`; True if there was one (raises if the server is down)."""
        return bool(self.client.delete(self.prefix + self.digest(key)))

    def clear(self) -> None:
        """Delete this function's keys only: SCAN MATCH its prefix, UNLINK in batches."""
        batch: list[bytes] = []
        for name in self.client.scan_iter(match=self.pattern, count=1000):
            batch.append(name)
            if len(batch) >= _UNLINK_BATCH:
                self.client.unlink(*batch)
                batch.clear()
        if batch:
            self.client.unlink(*batch)

    def __len__(self) -> int:
        """The entries of this function: a SCAN of the database, so O(keys in the database)."""
        return sum(1 for _ in self.client.scan_iter(match=self.pattern, count=1000))


class RedisStore(_RedisBase):
    """The synchronous store (redis.Redis): get/set/delete/clear/len plus a cross-process lock.

    `native` is the `redis.Redis` client. See the module docstring for layout, TTL, maxsize
    (Redis' own eviction) and fault handling.
    """

    def get(self, key: Hashable, default: Any) -> Any:
        """The value stored for `key`, or `default` (also when the server is unreachable)."""
        digest = self.digest(key)
        health = self.health
        if health.down and not health.usable():
            return default
        name = self.prefix + digest
        try:
            blob = self.client.get(name)
        except _UNREACHABLE as exc:
            health.failed(exc)
            return default
        if health.down:
            health.recovered()
        if blob is None:
            return default
        value, corrupt = self._unseal(name, digest, cast(bytes, blob), default)
        if corrupt:
            self._drop(name)
        return value

    def set(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key` (expiring after `ttl`); dropped while the server is down."""
        digest = self.digest(key)
        blob = self._seal(digest, value)  # an unpicklable value raises: the core warns once
        health = self.health
        if health.down and not health.usable():
            return
        try:
            self.client.set(self.prefix + digest, blob, px=self.px)
        except _UNREACHABLE as exc:
            health.failed(exc)
            return
        if health.down:
            health.recovered()

    def _drop(self, name: str) -> None:
        try:
            self.client.delete(name)
        except _UNREACHABLE as exc:
            self.health.failed(exc)

    @contextmanager
    def flight_lock(self, key: Hashable) -> Iterator[bool]:
        """Hold redis-py's Lock for `key` (timeout: `lock_timeout`) around re-check+compute+set.

        If the lock cannot be had (server down, or still held after the timeout) the body runs
        anyway: a duplicate computation is better than a caller that never answers.
        """
        health = self.health
        if health.down and not health.usable():
            yield False
            return
        lock = self.client.lock(
            self.lock_name(key),
            timeout=self.lock_timeout,
            blocking_timeout=self.lock_timeout,
            sleep=0.05,
        )
        try:
            acquired = bool(lock.acquire())
        except _UNREACHABLE as exc:
            health.failed(exc)
            acquired = False
        except LockError:
            acquired = False
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    lock.release()
                except LockError:
                    pass  # it expired while we computed: someone else may hold it now
                except _UNREACHABLE as exc:
                    health.failed(exc)


class RedisAsyncStore(_RedisBase, AsyncStore):
    """The asynchronous store (redis.asyncio): `aget`/`aset` coroutines, sync management calls.

    redis.asyncio connections belong to the event loop that opened them, so the store keeps one
    async client per running loop (dropped when the loop closes). `delete`, `clear` and `len`
    are synchronous (the wrapper's cache_delete/cache_clear/cache_info are) and use the sync
    client, which is also `native`.
    """

    def __init__(self, config: CacheConfig, ctx: CacheRecord, url: str) -> None:
        super().__init__(config, ctx, url)
        # loop -> (client, closer): the closer is an async generator parked at its `yield`
        self._aclients: dict[asyncio.AbstractEventLoop, tuple[aioredis.Redis, Any]] = {}
        self._aclients_lock = threading.Lock()

    async def aclient(self) -> aioredis.Redis:
        """The redis.asyncio client of the running event loop (made on first use).

        The loop tracks a parked async generator per client, so `asyncio.run` (which calls
        `loop.shutdown_asyncgens()` before closing the loop) closes the client's connections
        while its loop still runs, instead of leaving sockets to the garbage collector.
        """
        loop = asyncio.get_running_loop()
        entry = self._aclients.get(loop)
        if entry is not None:
            return entry[0]
        client = aioredis.Redis.from_url(
            self.url, **{"retry": AsyncRetry(NoBackoff(), 1), **_CLIENT_OPTIONS}
        )
        closer = self._closer(loop, client)
        with self._aclients_lock:
            for old in [lp for lp in self._aclients if lp.is_closed()]:
                del self._aclients[old]
            self._aclients[loop] = (client, closer)
        await closer.__anext__()  # park it: from now on the loop tracks it
        return client

    async def _closer(
        self, loop: asyncio.AbstractEventLoop, client: aioredis.Redis
    ) -> AsyncIterator[None]:
        try:
            yield
        finally:
            with self._aclients_lock:
                if self._aclients.get(loop, (None,))[0] is client:
                    del self._aclients[loop]
            try:
                # redis-py >= 5.0.1 names it aclose(); 5.0.0 has only close()
                close = getattr(client, "aclose", None) or client.close
                await close()
            except Exception as exc:  # the server may be gone; the sockets close anyway
                logger.debug("closing a Redis client failed: %s", exc)

    async def aget(self, key: Hashable, default: Any) -> Any:
        """The value stored for `key`, or `default` (also when the server is unreachable)."""
        digest = self.digest(key)
        health = self.health
        if health.down and not health.usable():
            return default
        name = self.prefix + digest
        entry = self._aclients.get(asyncio.get_running_loop())
        client = entry[0] if entry is not None else await self.aclient()
        try:
            blob = await client.get(name)
        except _UNREACHABLE as exc:
            health.failed(exc)
            return default
        if health.down:
            health.recovered()
        if blob is None:
            return default
        value, corrupt = self._unseal(name, digest, cast(bytes, blob), default)
        if corrupt:
            try:
                await client.delete(name)
            except _UNREACHABLE as exc:
                health.failed(exc)
        return value

    async def aset(self, key: Hashable, value: Any) -> None:
        """Store `value` for `key` (expiring after `ttl`); dropped while the server is down."""
        digest = self.digest(key)
        blob = self._seal(digest, value)
        health = self.health
        if health.down and not health.usable():
            return
        try:
            client = await self.aclient()
            await client.set(self.prefix + digest, blob, px=self.px)
        except _UNREACHABLE as exc:
            health.failed(exc)
            return
        if health.down:
            health.recovered()

    @asynccontextmanager
    async def aflight_lock(self, key: Hashable) -> AsyncIterator[bool]:
        """The async twin of `RedisStore.flight_lock` (redis.asyncio's Lock, same timeout)."""
        health = self.health
        if health.down and not health.usable():
            yield False
            return
        client = await self.aclient()
        lock = client.lock(
            self.lock_name(key),
            timeout=self.lock_timeout,
            blocking_timeout=self.lock_timeout,
            sleep=0.05,
        )
        try:
            acquired = bool(await lock.acquire())
        except _UNREACHABLE as exc:
            health.failed(exc)
            acquired = False
        except LockError:
            acquired = False
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    await lock.release()
                except LockError:
                    pass  # expired while we computed
                except _UNREACHABLE as exc:
                    health.failed(exc)


def open_store(config: CacheConfig, ctx: CacheRecord) -> RedisStore | RedisAsyncStore:
    """Open the Redis store for one function: async for `config.kind == "async"`, else sync.

    Does no I/O, so decorating works while the server is down. Raises `ValueError` when no
    URL is configured (`redis_url` / `$TWAT_CACHE_REDIS_URL`) or it is malformed.
    """
    url = resolve_url(config)
    if config.kind == "async":
        return RedisAsyncStore(config, ctx, url)
    return RedisStore(config, ctx, url)
