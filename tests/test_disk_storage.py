"""The storage envelope every persistent backend uses: seal/unseal, the secret, atomic writes.

These go through `twat_cache.storage`, the older call shape (the process's secret implied);
`test_envelope.py` tests `twat_cache.envelope` itself.
"""

from __future__ import annotations

import os
import pickle
import stat
import sys
from pathlib import Path

import pytest

from conftest import has
from twat_cache import envelope, secret, storage
from twat_cache.storage import CorruptEntry, atomic_write, seal, unseal

VALUES = [None, 0, 1.5, "text", b"bytes", (1, "a"), {"k": [1, 2]}, b"z" * 200_000]


@pytest.mark.parametrize("value", VALUES, ids=lambda v: type(v).__name__)
def test_round_trip(value):
    blob = seal(value, context=b"key")
    assert isinstance(blob, bytes)
    assert unseal(blob, context=b"key") == value
    assert unseal(memoryview(blob), context=b"key") == value
    assert unseal(bytearray(blob), context=b"key") == value


@pytest.mark.parametrize("size", [10, 200_000], ids=["small", "large"])
def test_every_flipped_byte_is_refused(size):
    blob = seal(b"v" * size, context=b"key")
    positions = sorted({0, 3, 4, 5, 20, 36, 37, len(blob) // 2, len(blob) - 1})
    for i in positions:
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(CorruptEntry):
            unseal(bytes(bad), context=b"key")


def test_truncated_and_foreign_blobs_are_refused():
    blob = seal([1, 2, 3], context=b"key")
    for bad in (blob[:-1], blob[:37], blob[:5], b"", b"TWC1", pickle.dumps([1, 2, 3])):
        with pytest.raises(CorruptEntry):
            unseal(bad, context=b"key")
    for bad in (10**12, "text", None, 3.5):  # what a tampered database column could hold
        with pytest.raises(CorruptEntry):
            unseal(bad, context=b"key")  # type: ignore[arg-type]


def test_context_binds_the_entry_to_its_key():
    blob = seal("value", context=b"key-a")
    with pytest.raises(CorruptEntry):
        unseal(blob, context=b"key-b")


def test_a_tampered_pickle_is_never_run(tmp_path):
    canary = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (canary,))

    blob = seal("harmless", context=b"k")
    header = len(envelope.MAGIC) + 1 + 8 + 32  # magic, flags, secret id, HMAC
    forged = blob[:header] + pickle.dumps(Exploit())
    with pytest.raises(CorruptEntry):
        unseal(forged, context=b"k")
    assert not canary.exists()


def test_secret_from_environment_and_key_file(monkeypatch, cache_root, config_root):
    blob = seal(1, context=b"k")
    key_file = config_root / secret.KEY_FILE
    assert key_file.is_file()
    assert not any(p.is_file() and p.name != ".twat_cache" for p in cache_root.rglob("*"))
    if sys.platform != "win32":
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    monkeypatch.setenv("TWAT_CACHE_SECRET", "s1")
    with pytest.raises(envelope.ForeignEntry):
        unseal(blob, context=b"k")  # sealed with the key file's secret
    other = seal(2, context=b"k")
    assert unseal(other, context=b"k") == 2
    monkeypatch.setenv("TWAT_CACHE_SECRET", "s2")
    with pytest.raises(CorruptEntry):
        unseal(other, context=b"k")
    monkeypatch.delenv("TWAT_CACHE_SECRET")
    assert unseal(blob, context=b"k") == 1


def test_the_secret_does_not_depend_on_the_cache_root(monkeypatch, tmp_path):
    monkeypatch.setenv("TWAT_CACHE_DIR", str(tmp_path / "one"))
    blob = seal(1, context=b"k")
    monkeypatch.setenv("TWAT_CACHE_DIR", str(tmp_path / "two"))
    assert unseal(blob, context=b"k") == 1
    assert not (tmp_path / "one").exists()  # nothing was written under the cache root


def test_unpicklable_value_raises_from_seal():
    with pytest.raises((TypeError, pickle.PicklingError, AttributeError)):
        seal(lambda: 1, context=b"k")


def test_atomic_write_is_private_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "entry"
    atomic_write(target, b"one")
    atomic_write(target, b"two")
    assert target.read_bytes() == b"two"
    if sys.platform != "win32":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        atomic_write(target, b"three", overwrite=False)
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "entry"
    atomic_write(target, b"old")

    def boom(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="space"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry"]


@pytest.mark.skipif(not has("cryptography"), reason="needs cryptography")
def test_encrypted_round_trip_hides_the_payload():
    blob = seal("secret-marker", context=b"k", encrypt=True)
    assert b"secret-marker" not in blob
    assert unseal(blob, context=b"k") == "secret-marker"
    bad = bytearray(blob)
    bad[-3] ^= 1
    with pytest.raises(CorruptEntry):
        unseal(bytes(bad), context=b"k")
    storage.check_encryption()


def test_without_cryptography_encryption_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography", None)
    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)
    with pytest.raises(storage.EncryptionUnavailable, match="cryptography"):
        storage.check_encryption()
    with pytest.raises(ImportError, match="twat-cache\\[encrypt\\]"):
        seal(1, context=b"k", encrypt=True)
    assert unseal(seal(1, context=b"k"), context=b"k") == 1  # plain entries still work
