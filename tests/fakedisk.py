"""`fakedisk`: a tiny persistent backend plugin for tests, installed by a folder on PYTHONPATH.

Every install combination (core only included) can then test what needs a disk backend: the
command's listing, pruning, clearing and verifying, `secure=False`, the fallback notices. The
store is the rules of a persistent store in small: digest keys, sealed values, a read-only
`len`, `prune` and `verify(fix)`.
"""

from __future__ import annotations

from pathlib import Path

FAKE_PLUGIN = '''
"""A minimal disk backend for the command's tests: one sealed file per entry."""
import os, time
from pathlib import Path
from twat_cache.keys import stable_digest
from twat_cache.paths import private_dir
from twat_cache.spec import BackendSpec
from twat_cache.storage import CorruptEntry, ForeignEntry, atomic_write, seal, unseal
from twat_cache.store import Store as StoreBase

BACKEND = BackendSpec(
    name="fakedisk", kinds=frozenset({"disk"}), policies=frozenset({"lru", "ttl"}),
    persistent=True, opener="fakedisk_plugin:open_store",
    description="test backend", distribution="fakedisk",
)


class Store(StoreBase):
    handles_ttl = True
    digest_keys = True
    blocking = True

    def __init__(self, config, ctx):
        self.ttl = config.ttl
        self.secure = config.secure
        self.namespace = ctx.namespace
        self.dir = Path(ctx.folder) / stable_digest("fakedisk", (ctx.namespace,))[:16]
        private_dir(self.dir, secure=config.secure)  # 0o700, or the umask's with secure=False
        self.native = self.dir

    def _path(self, key):
        return self.dir / key  # the core's disk digest

    def get(self, key, default):
        path = self._path(key)
        try:
            deadline, value = unseal(path.read_bytes(), context=path.name.encode())
        except (OSError, CorruptEntry):
            return default
        if deadline is not None and deadline < time.time():
            return default
        return value

    def set(self, key, value):
        path = self._path(key)
        deadline = None if self.ttl is None else time.time() + self.ttl
        blob = seal((deadline, value), context=path.name.encode())
        atomic_write(path, blob, secure=self.secure)

    def delete(self, key):
        try:
            self._path(key).unlink()
            return True
        except FileNotFoundError:
            return False

    def clear(self):
        for p in self.dir.iterdir():
            p.unlink()

    def __len__(self):  # read-only: expired entries are counted until pruned
        return sum(1 for _ in self.dir.iterdir()) if self.dir.is_dir() else 0

    def prune(self):
        dropped = 0
        for p in list(self.dir.iterdir()):
            try:
                deadline, _ = unseal(p.read_bytes(), context=p.name.encode())
            except ForeignEntry:
                continue
            except CorruptEntry:
                deadline = 0
            if deadline is not None and deadline < time.time():
                p.unlink()
                dropped += 1
        return dropped

    def verify(self, fix=False):
        checked = broken = 0
        for p in list(self.dir.iterdir()):
            try:
                unseal(p.read_bytes(), context=p.name.encode())
            except ForeignEntry:
                continue  # another secret's entry: not ours to judge or delete
            except CorruptEntry:
                broken += 1
                if fix:
                    p.unlink()
            checked += 1
        return checked, broken


def open_store(config, ctx):
    return Store(config, ctx)
'''


def make_plugin_dir(folder: Path) -> Path:
    """Write the plugin (module + dist-info with its entry point) into `folder`; return it."""
    (folder / "fakedisk_plugin.py").write_text(FAKE_PLUGIN)
    info = folder / "fakedisk-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakedisk\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[twat_cache.backends]\nfakedisk = fakedisk_plugin:BACKEND\n"
    )
    return folder
