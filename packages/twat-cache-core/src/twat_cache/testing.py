"""The contract every store must keep, as a test suite a plugin runs against its own store.

A plugin subclasses `StoreContract` in its tests (pytest collects `Test*` subclasses), says
how to open its store, and inherits every test (keyring's `BackendBasicTests` is the model):

    from twat_cache.testing import StoreContract

    class TestMyStore(StoreContract):
        backend = "mybackend"          # the entry-point name; the spec is looked up by it

The suite opens stores through the registry, exactly as the decorators do, with a
`CacheRecord` and a `CacheConfig`, in a temporary cache folder for persistent backends.
`FakeClock` replaces the core's clock, so TTL handled by the core is tested without sleeping.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from twat_cache import clock, registry
from twat_cache.config import CacheConfig
from twat_cache.encode import disk_digest
from twat_cache.opening import open_store
from twat_cache.record import CacheRecord
from twat_cache.spec import BackendSpec
from twat_cache.store import MISS, AsyncStore, Store
from twat_cache.ttl import TTLStore

__all__ = ["FakeClock", "StoreContract", "store_of"]


def store_of(cached: Any) -> Store:
    """The store behind a decorated function (opened if it was not yet), for tests and tools.

    Layers the core adds (its TTL layer) are included; `.inner` reaches the backend's own
    store under a TTL layer.
    """
    engine = getattr(cached, "_twat_cache_engine", None)
    if engine is None:
        raise TypeError(f"{cached!r} is not a function decorated by twat_cache")
    store: Store = engine.open().store
    return store


class FakeClock:
    """The core's clock, frozen at `start` and moved by `advance(seconds)`; a context manager."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self._previous: Any = None

    def __call__(self) -> float:
        """The frozen time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds

    def __enter__(self) -> FakeClock:
        self._previous = clock.use(self)
        return self

    def __exit__(self, *exc: object) -> None:
        clock.use(self._previous)


class StoreContract:
    """The store contract (DESIGN §2, §3, §7), run against one backend's store.

    Subclasses set `backend` (the entry-point name) and may override `kind` (default: the
    first of memory, disk, file, async the backend serves) or `options()` (extra config).
    """

    backend: str = ""
    kind: str | None = None
    _folder: str
    _stores: list[Store]

    # -- how stores are opened ---------------------------------------------------------------

    def spec(self) -> BackendSpec:
        """The backend's spec, from the installed entry points (skips when absent)."""
        import pytest  # noqa: PLC0415

        spec = registry.spec(self.backend)
        if spec is None or not registry.is_usable(spec):
            pytest.skip(f"backend {self.backend!r} is not installed")
        return spec

    def store_kind(self) -> str:
        """The kind stores are opened as."""
        spec = self.spec()
        if self.kind is not None:
            return self.kind
        return next(k for k in ("memory", "disk", "file", "async") if spec.serves(k))

    def options(self) -> dict[str, Any]:
        """Extra config options for this backend (e.g. a server URL)."""
        return {}

    def open(self, namespace: str = "tests:f", **options: Any) -> Store:
        """Open a store of this backend with `options`, as the decorators open one."""
        spec = self.spec()
        kind = self.store_kind()
        folder = None
        if spec.folders:
            folder = Path(self._folder) / "cache"
            folder.mkdir(mode=0o700, exist_ok=True)
        config = CacheConfig(kind=kind, **{**self.options(), **options})
        record = CacheRecord(
            name=f"contract.{namespace}",
            namespace=namespace,
            backend=spec.name,
            kind=kind,
            config=config,
            folder=folder,
        )
        store = open_store(spec, config, record)
        self._stores.append(store)
        return store

    def key(self, store: Store, value: Any, namespace: str = "tests:f") -> Any:
        """The key the core would pass for a call key `value`."""
        return disk_digest(value, namespace.encode()) if store.digest_keys else value

    # -- pytest plumbing ---------------------------------------------------------------------

    #: Where stores and the secret would go outside a test, and where they go in one.
    _PLACES: ClassVar[dict[str, str]] = {
        "TWAT_CACHE_DIR": "root",
        "HOME": "home",
        "USERPROFILE": "home",
        "XDG_CONFIG_HOME": "home/.config",
        "XDG_CACHE_HOME": "home/.cache",
        "APPDATA": "home/AppData/Roaming",
    }

    def setup_method(self, method: Any) -> None:
        """A fresh temporary folder per test, holding the cache root and the user's folders.

        A plugin's own test run never writes the real home: the secret (kept in the user's
        config folder) and the cache root are created inside the test's folder.
        """
        self._tmp = tempfile.TemporaryDirectory(prefix="twat-cache-contract-")
        self._folder = self._tmp.name
        self._stores: list[Store] = []
        self._environ = {name: os.environ.get(name) for name in self._PLACES}
        for name, place in self._PLACES.items():
            os.environ[name] = os.path.join(self._folder, *place.split("/"))

    def teardown_method(self, method: Any) -> None:
        """Close every store the test opened, put the environment back, remove the folder."""
        for store in self._stores:
            try:
                store.clear()
                store.close()
            except Exception:
                continue
        for name, value in self._environ.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._tmp.cleanup()

    def run(self, store: Store, op: str, *args: Any) -> Any:
        """Call `op` on the store; the awaited twin on an async store."""
        if isinstance(store, AsyncStore) and op in ("get", "set"):
            import asyncio  # noqa: PLC0415

            return asyncio.run(getattr(store, "a" + op)(*args))
        return getattr(store, op)(*args)

    # -- the contract ------------------------------------------------------------------------

    def test_is_a_store(self) -> None:
        """The opener returns a `Store`, whose `native` is the library's object."""
        store = self.open()
        assert isinstance(store, Store)
        assert store.native is not None

    def test_a_miss_returns_the_default(self) -> None:
        """`get` of a missing key returns the default it is given (the core passes MISS)."""
        store = self.open()
        assert self.run(store, "get", self.key(store, ("missing",)), MISS) is MISS

    def test_set_then_get(self) -> None:
        """A stored value comes back equal; None is a value like any other."""
        store = self.open()
        for i, value in enumerate([1, "text", b"bytes", None, [1, 2], {"a": (1, 2)}]):
            key = self.key(store, (i,))
            self.run(store, "set", key, value)
            assert self.run(store, "get", key, MISS) == value

    def test_overwrite(self) -> None:
        """Storing a key again replaces its value and does not add an entry."""
        store = self.open()
        key = self.key(store, ("k",))
        self.run(store, "set", key, 1)
        self.run(store, "set", key, 2)
        assert self.run(store, "get", key, MISS) == 2
        assert len(store) == 1

    def test_delete(self) -> None:
        """`delete` drops one entry and says whether there was one."""
        store = self.open()
        a, b = self.key(store, ("a",)), self.key(store, ("b",))
        self.run(store, "set", a, 1)
        self.run(store, "set", b, 2)
        assert store.delete(a) is True
        assert store.delete(a) is False
        assert self.run(store, "get", a, MISS) is MISS
        assert self.run(store, "get", b, MISS) == 2

    def test_clear_and_len(self) -> None:
        """`len` counts the entries without changing anything; `clear` drops them all."""
        store = self.open()
        for i in range(5):
            self.run(store, "set", self.key(store, (i,)), i)
        assert len(store) == 5
        assert len(store) == 5
        store.clear()
        assert len(store) == 0
        assert self.run(store, "get", self.key(store, (0,)), MISS) is MISS

    def test_maxsize_bounds_the_entries(self) -> None:
        """With `maxsize`, storing beyond it evicts: the store never holds more."""
        store = self.open(maxsize=3)
        for i in range(10):
            self.run(store, "set", self.key(store, (i,)), i)
        assert len(store) <= 3
        assert self.run(store, "get", self.key(store, (9,)), MISS) == 9

    def test_ttl_is_never_ignored(self) -> None:
        """With a ttl, an entry past it is a miss: natively, or through the core's TTL layer."""
        with FakeClock() as fake:
            raw = self.open(ttl=0.05)
            store: Store = raw if raw.handles_ttl else TTLStore(raw, 0.05)
            key = self.key(store, ("t",))
            self.run(store, "set", key, "fresh")
            assert self.run(store, "get", key, MISS) == "fresh"
            fake.advance(10)
            if raw.handles_ttl:  # the library's own clock: wait for it
                import time  # noqa: PLC0415

                time.sleep(0.2)
            assert self.run(store, "get", key, MISS) is MISS

    def test_capabilities_have_their_defaults_or_work(self) -> None:
        """Every optional capability answers (DESIGN §7): no AttributeError, sane types."""
        store = self.open()
        key = self.key(store, ("c",))
        self.run(store, "set", key, 1)
        assert isinstance(store.prune(), int)
        assert isinstance(list(store.items()), list)
        nbytes = store.nbytes()
        assert nbytes is None or nbytes >= 0
        checked, broken = store.verify()
        assert checked >= 0
        assert broken >= 0
        assert isinstance(store.handles_ttl, bool)
        assert isinstance(store.blocking, bool)
        lock = store.flight_lock(key)
        if lock is not None:
            with lock:
                pass
        store.after_fork()
        assert self.run(store, "get", key, MISS) == 1

    def test_persistent_stores_take_digest_keys_and_share_across_opens(self) -> None:
        """A persistent store sees what another opening of the same function stored."""
        spec = self.spec()
        if not spec.persistent:
            return
        first = self.open()
        assert first.digest_keys
        key = self.key(first, ("shared",))
        self.run(first, "set", key, {"v": 1})
        second = self.open()
        assert self.run(second, "get", key, MISS) == {"v": 1}

    def test_functions_sharing_a_folder_never_share_entries(self) -> None:
        """Two namespaces in one folder: separate entries, `clear` of one keeps the other's."""
        spec = self.spec()
        if not spec.persistent:
            return
        one = self.open("tests:one")
        two = self.open("tests:two")
        self.run(one, "set", self.key(one, (1,), "tests:one"), "one")
        self.run(two, "set", self.key(two, (1,), "tests:two"), "two")
        one.clear()
        assert self.run(two, "get", self.key(two, (1,), "tests:two"), MISS) == "two"
        assert len(two) == 1

    def test_values_round_trip_through_pickle(self) -> None:
        """A persistent store returns an equal copy of any picklable value."""
        spec = self.spec()
        if not spec.persistent:
            return
        store = self.open()
        value = {"nested": [1, 2.5, ("x", None)], "blob": bytes(range(256)) * 64}
        key = self.key(store, ("big",))
        self.run(store, "set", key, value)
        got = self.run(store, "get", key, MISS)
        assert got == value
        assert pickle.dumps(got) == pickle.dumps(value)
