"""twat-cache backend plugin for memcached: registers the `memcached` backend.

One cache shared by every process, on any host, that reaches the same memcached servers:
`ucache(preferred_engine="memcached", url="memcached://host:11211")` for plain functions and
`acache(backend="memcached", url=...)` for coroutine functions (the core runs the store in a
worker thread). The URL comes from `url=`, else `$TWAT_CACHE_MEMCACHED_URL` or
`$TWAT_CACHE_URL`; several servers (`memcached://h:p,h:p`) share the entries by consistent
(rendezvous) hashing, each behind its own circuit breaker, and a key never moves to another
server. Entries are the core's sealed envelopes with the exact deadline (so a sub-second `ttl`
is exact); a per-function generation counter makes `cache_clear` drop this function's
entries only; `maxsize` and `max_bytes` are kept approximately LRU per function (see
`twat_cache_memcached._store`); single flight across processes uses an `add`-based lock.
Hosts sharing the servers must share `$TWAT_CACHE_SECRET`.

Written against the plugin seam alone (DESIGN §7): no line of the core names it, beyond the
one line of packaging data that lists it in this project's family. Importing this module
does not import pymemcache: the store lives in `_store` and is imported when a cache opens.
"""

from __future__ import annotations

from twat_cache.spec import BackendSpec

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing costs a few ms to import: the spec is loaded at decoration
    from typing import Any

__version__ = "3.0.0"


def _check_url(url: Any) -> Any:
    """Check a `url=` given to the decorator (when memcached is the chosen backend)."""
    from twat_cache_memcached._store import parse_url  # noqa: PLC0415

    parse_url(url, "url=")
    return url


BACKEND = BackendSpec(
    name="memcached",
    # A blocking store: coroutine functions reach it through the core's worker thread.
    kinds=frozenset({"disk"}),
    # lru: a hit renews an entry that is getting old; fifo and ttl: entries age from storing.
    policies=frozenset({"lru", "fifo", "ttl"}),
    persistent=True,
    options={"url": _check_url},
    folders=False,
    schemes=("memcached",),  # `url="memcached://..."` picks this store
    opener="twat_cache_memcached._store:open_store",
    requires=("pymemcache",),
    description="memcached: one cache shared by processes on several hosts (pymemcache)",
    distribution="twat-cache-memcached",
)
