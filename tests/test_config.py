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


# --- options a decorator can never use (each option's table entry says which decorators) -------


@pytest.mark.parametrize(
    ("decorator", "options", "allowed"),
    [
        ("mcache", {"folder_name": "x"}, "bcache, fcache, ucache"),
        ("mcache", {"compress": True}, "fcache, ucache"),
        ("mcache", {"mmap_mode": "r"}, "fcache, ucache"),
        ("mcache", {"sql_backend": False}, "bcache, ucache"),
        ("mcache", {"use_sql": False}, "bcache, ucache"),  # the plan's name, same rule
        ("mcache", {"url": "redis://:hunter2@h:6379/0"}, "bcache, acache, ucache"),
        ("mcache", {"redis_url": "redis://h:6379/0"}, "bcache, acache, ucache"),
        ("mcache", {"encrypt": True}, "bcache, fcache, acache, ucache"),
        ("mcache", {"check_code": True}, "bcache, fcache, acache, ucache"),
        ("mcache", {"secure": False}, "bcache, fcache, acache, ucache"),
        ("mcache", {"front": 4}, "bcache, fcache, acache, ucache"),
        ("mcache", {"max_bytes": 1000}, "bcache, fcache, acache, ucache"),
        ("mcache", {"use_async": True}, "ucache"),
        ("bcache", {"compress": 3}, "fcache, ucache"),
        ("bcache", {"mmap_mode": "r"}, "fcache, ucache"),
        ("bcache", {"use_async": True}, "ucache"),
        ("fcache", {"sql_backend": False}, "bcache, ucache"),
        ("fcache", {"url": "redis://h:6379/0"}, "bcache, acache, ucache"),
        ("acache", {"folder_name": "x"}, "bcache, fcache, ucache"),
        ("acache", {"compress": True}, "fcache, ucache"),
        ("acache", {"sql_backend": False}, "bcache, ucache"),
    ],
)
def test_an_option_the_decorator_can_never_use_is_an_error(decorator, options, allowed):
    """Accepted and ignored before: now said when the decorator is called, with what takes it."""
    (name,) = options
    with pytest.raises(tc.ConfigurationError, match=rf"^{name}: only for ") as info:
        getattr(tc, decorator)(**options)
    said = str(info.value)
    assert f"({allowed})" in said
    assert decorator in said.split(";", 1)[1]  # says what this decorator does instead
    assert "hunter2" not in said  # a URL's password never reaches a message
    assert isinstance(info.value, ValueError)


def test_an_option_at_its_default_is_never_an_error():
    """Code passing every option explicitly (None, False, the defaults) keeps working."""
    f = tc.mcache(
        folder_name=None, compress=False, url=None, encrypt=False, secure=True, front=None
    )(lambda x: x)
    assert f(1) == 1
    assert tc.fcache(sql_backend=True, url=None)(lambda x: x)(2) == 2


def test_ucache_accepts_every_option(tmp_path):
    f = tc.ucache(
        folder_name=str(tmp_path / "u"),
        compress=3,
        mmap_mode="r",
        sql_backend=False,
        use_sql=False,
        check_code=True,
        secure=True,
        front=2,
        front_ttl=5,
        max_bytes=10**6,
        policy="lru",
        typed=True,
    )(lambda x: x * 2)
    assert f(2) == f(2) == 4
    assert f.cache_config.front_ttl == 5.0


def test_the_plans_options_keep_working_where_the_plan_took_them():
    """DESIGN §8: use_sql and secure on bcache/ucache, secure on fcache, backend everywhere."""
    assert tc.bcache(use_sql=True, secure=False, backend="functools")(lambda x: x)(1) == 1
    assert tc.fcache(secure=False, backend="functools")(lambda x: x)(1) == 1
    assert tc.ucache(use_sql=False, secure=False)(lambda x: x)(1) == 1
    assert tc.mcache(backend="functools")(lambda x: x).cache_backend == "functools"


@pytest.mark.parametrize(
    "make",
    [
        lambda: tc.bcache(front_ttl=3),
        lambda: tc.fcache(front_ttl=0.5),
        lambda: tc.ucache(folder_name="x", front_ttl=3),
        lambda: tc.acache(backend="redis", url="redis://h:6379/0", front_ttl=3),
        lambda: create_cache_config(kind="disk", front_ttl=3),
        lambda: create_cache_config(kind="disk", front=None, front_ttl=3),
    ],
)
def test_front_ttl_without_front_is_an_error(make):
    """front_ttl times entries of the front tier: without front= there is none."""
    with pytest.raises(tc.ConfigurationError, match=r"^front_ttl: .*needs front="):
        make()


def test_front_ttl_with_front_is_accepted():
    f = tc.bcache(front=2, front_ttl=3)(lambda x: x)
    assert f.cache_config.front_ttl == 3.0
    assert create_cache_config(kind="disk", front=2, front_ttl=3).front_ttl == 3.0


def test_a_fallback_to_memory_is_not_an_error(monkeypatch):
    """A disk cache whose stores are missing still falls back: its options apply to nothing."""
    from twat_cache import registry

    # As on a core-only install: the chain walk sees the built-in backend alone.
    monkeypatch.setattr(registry, "lead_choice", lambda *args: None)
    core = {"functools": registry.spec("functools")}
    monkeypatch.setattr(registry, "installed", lambda: core)
    f = tc.bcache(front=2, front_ttl=3, max_bytes=1000, check_code=True)(lambda x: x)
    assert f.cache_backend == "functools"
    assert f(1) == f(1) == 1


def test_every_typed_option_is_accepted_by_its_decorator():
    """The typed overloads (`_types`) never promise an option the table refuses."""
    import typing

    from twat_cache import _types
    from twat_cache.options import ALIASES, OPTIONS

    typed = {
        "mcache": _types.MemoryOptions,
        "bcache": _types.DiskOptions,
        "fcache": _types.FileOptions,
        "acache": _types.AsyncOptions,
        "ucache": _types.UniversalOptions,
    }
    for decorator, options in typed.items():
        for name in typing.get_type_hints(options):
            option = OPTIONS[ALIASES.get(name, name)]
            assert decorator in option.decorators, (decorator, name)


def test_the_decorators_page_lists_the_options_each_decorator_takes():
    """docs/decorators.md's table is the table of `options` (a row per group of options)."""
    import re

    from twat_cache.options import DECORATORS, OPTIONS

    page = (Path(__file__).resolve().parent.parent / "docs" / "decorators.md").read_text()
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    listed = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        if len(cells) != 1 + len(DECORATORS):
            continue
        takes = tuple(d for d, cell in zip(DECORATORS, cells[1:]) if cell == "yes")
        for name in re.findall(r"`(\w+)`", re.sub(r"\(alias `\w+`\)", "", cells[0])):
            listed[name] = takes
    limited = {n: o.decorators for n, o in OPTIONS.items() if o.decorators != DECORATORS}
    assert listed == limited


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
