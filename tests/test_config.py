"""Bad options fail at decoration time with a ValueError naming the field and what is allowed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import twat_cache as tc
from twat_cache import CacheConfig, create_cache_config


@pytest.mark.parametrize("bad", [0, -1, 1.5, "10", True])
def test_maxsize_must_be_positive_int(bad):
    with pytest.raises(ValueError, match=r"maxsize.*positive int"):
        tc.mcache(maxsize=bad)


@pytest.mark.parametrize("bad", [-1, 0, float("nan"), "5", True])
def test_ttl_must_be_positive_seconds(bad):
    with pytest.raises(ValueError, match=r"ttl.*seconds"):
        tc.mcache(ttl=bad)


def test_unknown_policy_lists_the_allowed_ones():
    with pytest.raises(ValueError, match=r"policy.*'mru'.*\['lru', 'lfu', 'fifo', 'rr', 'ttl'\]"):
        tc.mcache(policy="mru")  # type: ignore[arg-type]


def test_ttl_policy_needs_a_ttl():
    with pytest.raises(ValueError, match=r"policy.*needs a ttl"):
        tc.mcache(policy="ttl")


@pytest.mark.parametrize("bad", ["..", "../x", "a/b", "a\\b", "x\x00y", "", ".", "a..b"])
def test_folder_name_must_be_simple(bad):
    with pytest.raises(ValueError, match="folder_name"):
        tc.bcache(folder_name=bad)
    with pytest.raises(ValueError, match="folder_name"):
        tc.ucache(folder_name=bad)
    with pytest.raises(ValueError, match="folder_name"):
        tc.get_cache_path(bad)


def test_folder_name_accepts_simple_names_absolute_paths_and_path_objects(tmp_path):
    assert CacheConfig(folder_name="my_cache-1.v2").folder_name == "my_cache-1.v2"
    assert CacheConfig(folder_name=str(tmp_path)).folder_name == str(tmp_path)
    assert CacheConfig(folder_name=tmp_path).folder_name == str(tmp_path)  # type: ignore[arg-type]


def test_unknown_preferred_engine_lists_known_names():
    with pytest.raises(ValueError, match="preferred_engine") as info:
        tc.ucache(preferred_engine="mongodb")
    for name in (
        "redis",
        "memcached",
        "cachebox",
        "cachetools",
        "functools",
        "diskcache",
        "klepto",
        "joblib",
        "aiocache",
    ):
        assert name in str(info.value)


def test_known_but_missing_preferred_engine_is_accepted():
    # Our own backend names are known whether installed or not.
    for name in ("cachebox", "diskcache", "joblib", "redis"):
        assert CacheConfig(preferred_engine=name).preferred_engine == name


def test_unknown_async_backend_is_a_configuration_error():
    with pytest.raises(ValueError, match=r"backend.*'nope'"):
        tc.acache(backend="nope")


@pytest.mark.parametrize(
    ("field", "value"),
    [("compress", 11), ("compress", "yes"), ("mmap_mode", "x"), ("use_async", 1), ("typed", "no")],
)
def test_other_fields_are_validated(field, value):
    with pytest.raises(ValueError, match=field):
        CacheConfig(**{field: value})


def test_config_is_frozen_and_replace_validates():
    config = create_cache_config(maxsize=10, ttl=1.5)
    with pytest.raises(AttributeError, match="frozen"):
        config.maxsize = 3  # type: ignore[misc]
    assert config.replace(maxsize=20).maxsize == 20
    with pytest.raises(ValueError, match="maxsize"):
        config.replace(maxsize=0)


def test_create_cache_config_rejects_unknown_options():
    with pytest.raises(ValueError, match=r"unknown cache option.*max_size"):
        create_cache_config(max_size=10)


def test_infinite_ttl_means_no_ttl():
    assert CacheConfig(ttl=float("inf")).ttl is None


def test_decorated_function_carries_its_config():
    @tc.mcache(maxsize=7, ttl=30)
    def f(x: int) -> int:
        return x

    assert isinstance(f.cache_config, CacheConfig)
    assert f.cache_config.maxsize == 7
    assert f.cache_config.ttl == 30.0


def test_get_cache_path_honours_env_and_is_private(cache_root, monkeypatch, tmp_path):
    assert tc.get_cache_path() == cache_root
    path = tc.get_cache_path("things")
    assert path == cache_root / "things"
    assert path.is_dir()
    if os.name == "posix":
        assert (path.stat().st_mode & 0o777) == 0o700
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("TWAT_CACHE_DIR", str(other))
    assert tc.get_cache_path("x") == other / "x"
    absolute = tmp_path / "abs"
    assert tc.get_cache_path(str(absolute)) == absolute
    assert Path(absolute).is_dir()


def test_an_option_is_checked_whatever_was_decorated_before() -> None:
    import twat_cache as tc

    tc.mcache(ttl=1)
    tc.mcache(maxsize=1)
    with pytest.raises(ValueError, match="ttl"):
        tc.mcache(ttl=True)  # True == 1, and still not a number of seconds
    with pytest.raises(ValueError, match="maxsize"):
        tc.mcache(maxsize=True)

    @tc.fcache(compress=True)
    def a(x: int) -> int:
        return x

    @tc.fcache(compress=1)
    def b(x: int) -> int:
        return x

    assert b.cache_config.compress == 1
    assert b.cache_config.compress is not True
