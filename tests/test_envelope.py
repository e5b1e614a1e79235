"""`twat_cache.envelope`: seal/unseal under a given secret, the secret's id, the deadline."""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import pytest

from conftest import has
from twat_cache import envelope, storage
from twat_cache.envelope import CorruptEntry, ForeignEntry, seal, unseal
from twat_cache.secret import Secret

ONE = Secret(b"1" * 32)
TWO = Secret(b"2" * 32)


@pytest.mark.parametrize("value", [None, 0, "text", b"z" * 200_000, {"k": [1, 2]}])
@pytest.mark.parametrize("deadline", [None, 1.5e9, 0.0, -3.25])
def test_round_trip_with_deadline(value, deadline):
    blob = seal(value, secret=ONE, context=b"key", deadline=deadline)
    assert unseal(blob, secret=ONE, context=b"key") == (value, deadline)
    assert unseal(memoryview(blob), secret=ONE, context=b"key") == (value, deadline)


def test_the_header_names_the_secret_and_another_secret_is_foreign():
    blob = seal(1, secret=ONE, context=b"k")
    assert blob[:4] == envelope.MAGIC
    assert blob[5:13].hex() == ONE.id
    with pytest.raises(ForeignEntry, match=ONE.id):
        unseal(blob, secret=TWO, context=b"k")
    assert issubclass(ForeignEntry, CorruptEntry)


def test_secret_and_context_are_required_keywords():
    with pytest.raises(TypeError):
        seal(1, context=b"k")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        unseal(seal(1, secret=ONE, context=b"k"), context=b"k")  # type: ignore[call-arg]


@pytest.mark.parametrize("deadline", [None, 123.0])
@pytest.mark.parametrize("size", [10, 200_000])
def test_every_flipped_byte_is_refused_and_only_the_id_reads_as_foreign(deadline, size):
    blob = seal(b"v" * size, secret=ONE, context=b"key", deadline=deadline)
    tag = range(5, 13)
    for i in sorted({0, 3, 4, *tag, 13, 20, 21, 40, 52, 53, 60, len(blob) // 2, len(blob) - 1}):
        bad = bytearray(blob)
        bad[i] ^= 0x01
        with pytest.raises(CorruptEntry) as info:
            unseal(bytes(bad), secret=ONE, context=b"key")
        assert (info.type is ForeignEntry) == (i in tag), i


def test_the_deadline_and_context_are_authenticated():
    blob = seal("v", secret=ONE, context=b"key", deadline=100.0)
    stripped = blob[:4] + bytes((blob[4] & ~envelope.DEADLINE,)) + blob[5:13] + blob[21:]
    with pytest.raises(CorruptEntry):
        unseal(stripped, secret=ONE, context=b"key")
    with pytest.raises(CorruptEntry):
        unseal(blob, secret=ONE, context=b"other key")
    # the context is length-prefixed: moving bytes between it and the payload does not verify
    with pytest.raises(CorruptEntry):
        unseal(seal(b"", secret=ONE, context=b"ab"), secret=ONE, context=b"a")


def test_truncated_and_foreign_blobs_are_refused():
    blob = seal([1, 2, 3], secret=ONE, context=b"key", deadline=5.0)
    for bad in (blob[:-1], blob[:60], blob[:20], blob[:13], b"", b"TWC2", pickle.dumps(1)):
        with pytest.raises(CorruptEntry):
            unseal(bad, secret=ONE, context=b"key")
    with pytest.raises(CorruptEntry, match="flags"):
        unseal(blob[:4] + b"\x80" + blob[5:], secret=ONE, context=b"key")
    for bad in (10**12, "text", None):
        with pytest.raises(CorruptEntry):
            unseal(bad, secret=ONE, context=b"key")  # type: ignore[arg-type]


def test_nothing_is_unpickled_before_the_mac_matches(tmp_path):
    canary = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (canary,))

    blob = seal("harmless", secret=ONE, context=b"k")
    forged = blob[: 13 + 32] + pickle.dumps(Exploit())
    with pytest.raises(CorruptEntry):
        unseal(forged, secret=ONE, context=b"k")
    assert not canary.exists()


@pytest.mark.skipif(not has("cryptography"), reason="needs cryptography")
def test_encryption_hides_the_payload_and_depends_on_the_secret():
    blob = seal("secret-marker", secret=ONE, context=b"k", encrypt=True, deadline=9.0)
    assert b"secret-marker" not in blob
    assert unseal(blob, secret=ONE, context=b"k") == ("secret-marker", 9.0)
    with pytest.raises(ForeignEntry):
        unseal(blob, secret=TWO, context=b"k")


def test_storage_keeps_the_older_call_shape(monkeypatch):
    monkeypatch.setenv("TWAT_CACHE_SECRET", "compat")
    blob = storage.seal({"a": 1}, context=b"k")
    assert storage.unseal(blob, context=b"k") == {"a": 1}
    assert storage.unseal(blob, context=b"k", secret=storage.load_secret()) == {"a": 1}
    assert storage.CorruptEntry is CorruptEntry
    with pytest.raises(ForeignEntry):
        storage.unseal(blob, context=b"k", secret=ONE)
    assert unseal(storage.seal(2, context=b"k", secret=ONE), secret=ONE, context=b"k") == (2, None)


def test_without_cryptography_encryption_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cryptography", None)
    monkeypatch.setitem(sys.modules, "cryptography.fernet", None)
    monkeypatch.setattr(envelope, "_fernets", {})
    with pytest.raises(envelope.EncryptionUnavailable, match="cryptography"):
        envelope.check_encryption()
    with pytest.raises(ImportError, match="twat-cache\\[encrypt\\]"):
        seal(1, secret=ONE, context=b"k", encrypt=True)


def test_the_secret_pickles_and_compares_by_key():
    assert pickle.loads(pickle.dumps(ONE)) == ONE
    assert ONE != TWO
    assert hash(ONE) == hash(Secret(b"1" * 32))
    assert os.urandom(32) != ONE.key
