"""The secret: outside every cache folder, private, repaired with one warning, resolved once.

Issue 13: the HMAC key lived in the cache root (whoever could read a shared or copied cache
folder could forge entries); a corrupt key file disabled caching for good; a deleted one gave a
warning per entry; a 0o644 key file was accepted silently.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import logged
from twat_cache import secret as secret_mod
from twat_cache.secret import KEY_FILE, Secret, config_root, load_secret

POSIX = sys.platform != "win32"


@pytest.fixture(autouse=True)
def _fresh() -> None:
    """Each test resolves the secret anew (the process caches it per source)."""
    secret_mod.forget()


def key_file() -> Path:
    return config_root() / KEY_FILE


def warnings_about_the_key(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What any logger said, at any level, about the secret key file."""
    return logged(caplog, logger=None, containing="secret key file")


def test_the_key_file_lives_in_the_user_config_folder(cache_root, tmp_path, monkeypatch):
    home = Path(os.environ["HOME"])
    assert config_root() == Path(os.environ["XDG_CONFIG_HOME"]) / "twat_cache"
    secret = load_secret()
    assert key_file().read_bytes() == secret.key
    assert not key_file().is_relative_to(cache_root)
    assert not any(p.name == KEY_FILE for p in cache_root.rglob("*"))
    if POSIX:
        assert stat.S_IMODE(key_file().stat().st_mode) == 0o600
        assert stat.S_IMODE(config_root().stat().st_mode) == 0o700  # created here
    monkeypatch.delenv("XDG_CONFIG_HOME")
    if sys.platform.startswith("linux"):
        assert config_root() == home / ".config" / "twat_cache"
        monkeypatch.setenv("XDG_CONFIG_HOME", "relative/ignored")
        assert config_root() == home / ".config" / "twat_cache"


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_an_existing_config_folder_keeps_its_mode(monkeypatch, tmp_path):
    config = tmp_path / "cfg"
    config.mkdir(mode=0o755)
    config.chmod(0o755)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    load_secret()
    assert stat.S_IMODE(config.stat().st_mode) == 0o755
    assert stat.S_IMODE((config / "twat_cache").stat().st_mode) == 0o700


def test_secret_id_is_short_stable_and_shows_no_key():
    secret = load_secret()
    assert isinstance(secret, Secret)
    assert len(secret.key) == 32
    assert len(secret.id) == 16
    int(secret.id, 16)
    assert secret.id == Secret(secret.key).id
    assert secret.id != Secret(bytes(32)).id
    assert secret.key.hex() not in repr(secret)
    assert secret.id in repr(secret)
    with pytest.raises(AttributeError):
        secret.key = bytes(32)  # type: ignore[misc]
    with pytest.raises(ValueError, match="32 bytes"):
        Secret(b"short")


def test_resolved_once_per_process(monkeypatch):
    first = load_secret()
    assert load_secret() is first

    def no_files(*_args: object, **_kwargs: object) -> int:
        raise AssertionError("the key file was read again")

    monkeypatch.setattr(os, "open", no_files)
    assert load_secret() is first


def test_environment_secret_overrides_and_is_derived(monkeypatch):
    from_file = load_secret()
    monkeypatch.setenv("TWAT_CACHE_SECRET", "shared between hosts")
    one = load_secret()
    assert one != from_file
    assert one.key != b"shared between hosts".ljust(32, b"\0")
    assert load_secret() is one
    monkeypatch.setenv("TWAT_CACHE_SECRET", "another")
    assert load_secret().id != one.id
    monkeypatch.delenv("TWAT_CACHE_SECRET")
    assert load_secret() is from_file


@pytest.mark.parametrize("content", [b"", b"short", b"x" * 31, b"y" * 33, b"z" * 4096])
def test_a_corrupt_key_file_is_replaced_with_one_warning(caplog, content):
    key_file().parent.mkdir(parents=True, exist_ok=True)
    key_file().write_bytes(content)
    if POSIX:
        key_file().chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        secret = load_secret()
        secret_mod.forget()
        assert load_secret() == secret  # repaired on disk: the next process reads the same
    assert len(warnings_about_the_key(caplog)) == 1
    assert "corrupt" in warnings_about_the_key(caplog)[0]
    assert key_file().read_bytes() == secret.key


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o666])
def test_a_key_file_others_can_read_or_write_is_replaced(caplog, mode):
    old = os.urandom(32)
    key_file().parent.mkdir(parents=True, exist_ok=True)
    key_file().write_bytes(old)
    key_file().chmod(mode)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        secret = load_secret()
    assert secret.key != old  # whoever read the old key cannot forge new entries
    assert stat.S_IMODE(key_file().stat().st_mode) == 0o600
    (message,) = warnings_about_the_key(caplog)
    assert oct(mode) in message


@pytest.mark.skipif(not POSIX or os.geteuid() != 0, reason="chown needs root")
def test_a_key_file_owned_by_another_user_is_replaced(caplog):
    old = os.urandom(32)
    key_file().parent.mkdir(parents=True, exist_ok=True)
    key_file().write_bytes(old)
    key_file().chmod(0o600)
    os.chown(key_file(), 65534, 65534)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        secret = load_secret()
    assert secret.key != old
    assert key_file().stat().st_uid == os.geteuid()
    (message,) = warnings_about_the_key(caplog)
    assert "another user" in message


@pytest.mark.skipif(not POSIX, reason="symlinks")
def test_a_symlinked_key_file_is_replaced_and_its_target_untouched(caplog, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_bytes(os.urandom(32))
    target.chmod(0o600)
    before = target.read_bytes()
    key_file().parent.mkdir(parents=True, exist_ok=True)
    key_file().symlink_to(target)
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        secret = load_secret()
    assert not key_file().is_symlink()
    assert key_file().read_bytes() == secret.key != before
    assert target.read_bytes() == before
    assert len(warnings_about_the_key(caplog)) == 1


def test_an_unwritable_config_folder_still_caches_with_one_warning(monkeypatch, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(blocker))
    monkeypatch.setenv("APPDATA", str(blocker))
    monkeypatch.setenv("HOME", str(blocker))
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        secret = load_secret()
        assert load_secret() is secret
    assert len([r for r in caplog.records if "this process only" in r.getMessage()]) == 1


CREATE = """
from twat_cache.secret import load_secret
print(load_secret().id)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_processes_starting_at_once_agree_on_one_key():
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(8)
    ]
    ids = {p.communicate(timeout=100)[0].decode().strip() for p in procs}
    assert len(ids) == 1
    assert ids == {load_secret().id}


REPAIR = """
import logging, sys
logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
from twat_cache.secret import load_secret
print(load_secret().id)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_processes_repairing_at_once_agree_and_warn_once():
    key_file().parent.mkdir(parents=True, exist_ok=True)
    key_file().write_bytes(b"broken")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REPAIR], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(8)
    ]
    outs = [p.communicate(timeout=100) for p in procs]
    assert len({out.decode().strip() for out, _ in outs}) == 1
    warned = sum(err.decode().count("secret key file") for _, err in outs)
    assert warned == 1
