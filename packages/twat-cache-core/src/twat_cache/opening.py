"""Opening a cache at its first call: the store (with its fallbacks), its layers, its keys.

Decorating only validates and chooses; the store opens when the function is first called (or
when a management call needs it), so decorating many functions at import costs nothing of the
backend libraries. Opening:
- opens the chosen backend's store; a backend that fails to open is logged and the next one
  of the chain is tried (the chain always ends at functools);
- adds the core's TTL layer where the store does not expire entries itself, and for `stale=`;
- opens the front tier (`front=`), a memory store from the memory chain;
- makes the key functions: memory keys (canonical forms for unhashable arguments) and, for
  persistent stores, the disk digest of the function's namespace and key.
"""

from __future__ import annotations

from twat_cache import chains, registry
from twat_cache._log import logger
from twat_cache.encode import disk_digest, memory_key
from twat_cache.store import AsyncStore, Store
from twat_cache.ttl import AsyncTTLStore, TTLStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Hashable

    from twat_cache.config import CacheConfig
    from twat_cache.record import CacheRecord
    from twat_cache.spec import BackendSpec
    from twat_cache.state import CacheState

__all__ = ["Opened", "open_cache", "open_front", "open_store"]


class Opened:
    """A cache's opened parts: `store` (layers included), `front` (or None), the key functions.

    `store_key(key)` is what the store is indexed by: the disk digest for persistent stores,
    the memory key otherwise; both raise `UncacheableError` for an argument that cannot be
    keyed faithfully.
    """

    __slots__ = ("_salt", "_secret", "front", "namespace", "persistent", "store")

    def __init__(self, store: Store, front: Store | None, namespace: str | None) -> None:
        self.store = store
        self.front = front
        self.namespace = namespace
        self.persistent = namespace is not None
        self._secret: object = None
        self._salt = b""

    def memory_key(self, key: Hashable) -> Hashable:
        """`key` if it is hashable, else its canonical form."""
        try:
            hash(key)
        except TypeError:
            return memory_key(key)  # type: ignore[arg-type]
        return key

    def canonical(self, key: Hashable) -> Hashable:
        """The memory key of a key known not to hash (an unhashable argument)."""
        return memory_key(key)  # type: ignore[arg-type]

    def store_key(self, key: Hashable) -> Hashable:
        """The key the store is indexed by (and single flight is keyed by)."""
        if self.namespace is not None:
            return disk_digest(key, self.salt(), buffer_hash=self.store.buffer_hash)
        return self.memory_key(key)

    def salt(self) -> bytes:
        """The digest salt: the namespace and the current secret's id.

        Processes (or a process, over time) with different secrets never share entries, so
        they never overwrite, delete or warn about each other's. The secret is cached by
        `secret.load_secret`; the salt is made again only when it changes.
        """
        from twat_cache.secret import load_secret  # noqa: PLC0415

        secret = load_secret()
        if secret is not self._secret:
            self._salt = f"{self.namespace}\x00{secret.id}".encode("utf-8", "surrogatepass")
            self._secret = secret
        return self._salt


def open_store(spec: BackendSpec, config: CacheConfig, record: CacheRecord) -> Store:
    """Import `spec.opener` and open a store for one function; errors propagate to the caller."""
    store = registry.resolve(spec.opener)(config, record)
    if not isinstance(store, Store):
        raise TypeError(f"backend {spec.name!r} opened a {type(store).__name__}, not a Store")
    return store


def _spec(name: str) -> BackendSpec:
    spec = registry.spec(name)
    if spec is None:  # functools is built in, even when entry points are unreadable
        from twat_cache.backends.functools import BACKEND  # noqa: PLC0415

        spec = BACKEND
    return spec


def _open_store(spec: BackendSpec, record: CacheRecord) -> Store:
    """Open `spec`'s store for `record`, with the core's TTL layer where it is needed."""
    config = record.config
    if record.folder is not None:
        from twat_cache.paths import get_cache_path  # noqa: PLC0415

        folder = get_cache_path(record.folder, secure=config.secure)
    opened_config = config
    if config.stale is not None and config.ttl is not None:
        opened_config = config.replace(ttl=config.ttl + config.stale)
    store = open_store(spec, opened_config.replace(kind=record.kind), record)
    if record.folder is not None:
        from twat_cache.paths import write_marker  # noqa: PLC0415

        # `owned`: the names the store created in the folder, the only ones clearing may
        # remove when the store cannot be reopened (nothing of the user's is ever touched).
        write_marker(
            folder,
            spec.name,
            record.namespace,
            kind=record.kind,
            ttl=config.ttl,
            names=store.owned,
            secure=config.secure,
        )
    if config.ttl is not None and (config.stale is not None or not store.handles_ttl):
        if isinstance(store, AsyncStore):  # asyncio-native: stamped through aget/aset
            store = AsyncTTLStore(store, config.ttl, stale=config.stale or 0.0)
        else:
            store = TTLStore(store, config.ttl, stale=config.stale or 0.0)
    return store


def open_cache(state: CacheState, *, is_async: bool) -> Opened:
    """Open the store of `state`'s function (falling back along its chain) and its front."""
    record = state.record
    failed: set[str] = set()
    while True:
        spec = _spec(record.backend)
        try:
            store = _open_store(spec, record)
            break
        except Exception as exc:
            if record.backend == "functools" or record.backend in failed:
                raise
            logger.warning(
                "%s: backend %r failed to open (%s: %s); trying the next one",
                record.name,
                record.backend,
                type(exc).__name__,
                exc,
            )
            failed.add(record.backend)
            record = _rechoose(record, failed, is_async=is_async)
    state.record = record
    if not record.config.secure and record.folder is not None:
        state.warn_once(
            "secure",
            "%s: secure=False: files and folders of this cache follow the umask "
            "(others may read or change them)",
            record.name,
        )
    front = open_front(record.config) if spec.persistent else None
    return Opened(store, front, record.namespace if spec.persistent else None)


def _rechoose(record: CacheRecord, failed: set[str], *, is_async: bool) -> CacheRecord:
    """The record with the next backend of its chain (logged like any choice)."""
    from twat_cache._log import notice_choice  # noqa: PLC0415
    from twat_cache.paths import folder_for  # noqa: PLC0415

    choice = chains.choose(
        record.decorator,
        record.config,
        registry.installed(),
        is_async=is_async,
        exclude=failed,
        leads=registry.leads(),
    )
    notice_choice(record.decorator, choice.warnings)
    spec = _spec(choice.backend)
    folder = folder_for(choice.config.folder_name, record.namespace) if spec.folders else None
    return record.replace(
        backend=choice.backend, kind=choice.kind, config=choice.config, folder=folder
    )


def open_front(config: CacheConfig) -> Store | None:
    """The in-process memory tier of a persistent cache (`front=N`, `front_ttl=`), or None.

    Its entries live `front_ttl` seconds, or the cache's `ttl` when that is shorter.
    """
    if config.front is None:
        return None
    from twat_cache.config import CacheConfig  # noqa: PLC0415

    # A value this process stored is never served past the cache's own ttl; one read from the
    # store (another process's write) may look stale for as long as a front entry lives.
    ttl = config.front_ttl if config.ttl is None else min(config.front_ttl, config.ttl)
    front_config = CacheConfig(
        kind="memory", maxsize=config.front, ttl=ttl, policy="ttl", typed=config.typed
    )
    choice = chains.choose("mcache", front_config, registry.installed(), is_async=False)
    spec = _spec(choice.backend)
    from twat_cache.record import CacheRecord  # noqa: PLC0415

    record = CacheRecord(name="front", namespace="front", decorator="mcache", config=front_config)
    store = open_store(spec, choice.config, record)
    if not store.handles_ttl:
        store = TTLStore(store, ttl)
    return store
