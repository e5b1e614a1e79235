"""DESIGN §8: the module paths of the original plan and twat-cache 2.x import, lazily.

`twat_cache.cache`, `.utils`, `.type_defs`, `.exceptions` (and the existing `.decorators`,
`.config`) give the names code written against the plan imports; `import twat_cache` loads none
of the migration modules. Runs on every install combination, core only included.
"""

from __future__ import annotations

import json
import sys

import pytest

import twat_cache
from helpers import modes_under, python, run_python

MIGRATION = {
    "twat_cache.cache": ["clear_cache", "get_stats"],
    "twat_cache.utils": ["get_cache_path"],
    "twat_cache.type_defs": ["AsyncR", "CacheKey", "P", "R"],
    "twat_cache.exceptions": [
        "ConfigurationError",
        "EngineNotAvailableError",
        "TwatCacheError",
        "UncacheableError",
    ],
}
EXISTING = {
    "twat_cache.decorators": ["acache", "bcache", "fcache", "mcache", "ucache"],
    "twat_cache.config": ["CacheConfig", "create_cache_config"],
}
LAZY = MIGRATION


@pytest.mark.timeout(60)
def test_import_twat_cache_loads_no_migration_module():
    loaded = json.loads(
        run_python(
            "import json, sys, twat_cache\n"
            f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))\n",
            timeout=60,
        )
    )
    assert loaded == []


@pytest.mark.timeout(60)
def test_importtime_shows_no_migration_module():
    proc = python("-X", "importtime", "-c", "import twat_cache", timeout=60)
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "twat_cache" in imported
    assert not imported & set(LAZY)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("module", sorted({**MIGRATION, **EXISTING}))
def test_every_path_of_the_plan_imports_in_a_fresh_interpreter(module):
    names = {**MIGRATION, **EXISTING}[module]
    out = run_python(f"from {module} import {', '.join(names)}\nprint('ok')", timeout=60)
    assert out.strip() == "ok"


@pytest.mark.parametrize("module", sorted(MIGRATION))
def test_the_shims_export_exactly_their_names(module):
    mod = __import__(module, fromlist=["_"])
    assert sorted(mod.__all__) == MIGRATION[module]


def test_the_functions_are_the_top_level_ones():
    from twat_cache.cache import clear_cache, get_stats
    from twat_cache.utils import get_cache_path

    assert clear_cache is twat_cache.clear_cache
    assert get_stats is twat_cache.get_stats
    assert get_cache_path is twat_cache.get_cache_path


def test_the_exception_hierarchy():
    from twat_cache.exceptions import (
        ConfigurationError,
        EngineNotAvailableError,
        TwatCacheError,
    )

    assert issubclass(TwatCacheError, Exception)
    assert issubclass(ConfigurationError, TwatCacheError)
    assert issubclass(ConfigurationError, ValueError)  # DESIGN §8
    assert issubclass(EngineNotAvailableError, TwatCacheError)
    with pytest.raises(ValueError, match="maxsize"):
        raise ConfigurationError("maxsize: expected a positive int")


def test_the_type_names():
    import typing

    from twat_cache.type_defs import AsyncR, CacheKey, P, R

    assert isinstance(P, typing.ParamSpec)
    assert isinstance(R, typing.TypeVar)
    assert isinstance(AsyncR, typing.TypeVar)
    assert typing.get_args(CacheKey) == (str, tuple[typing.Any, ...])


@pytest.mark.timeout(60)
def test_the_modules_are_attributes_of_the_package_on_first_use():
    out = run_python(
        "import twat_cache\n"
        "print(twat_cache.exceptions.ConfigurationError.__name__,"
        " twat_cache.cache.get_stats is twat_cache.get_stats,"
        " twat_cache.utils.get_cache_path is twat_cache.get_cache_path,"
        " twat_cache.type_defs.R.__name__)\n",
        timeout=60,
    )
    assert out.split() == ["ConfigurationError", "True", "True", "R"]
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        _ = twat_cache.nothing_here


def test_code_written_against_the_plan_runs(cache_root):
    # What the earlier project's own conftest.py and README did.
    from twat_cache.cache import clear_cache, get_stats
    from twat_cache.config import create_cache_config
    from twat_cache.decorators import mcache
    from twat_cache.utils import get_cache_path

    calls = []

    @mcache(maxsize=10)
    def square(x):
        calls.append(x)
        return x * x

    assert square(3) == square(3) == 9
    assert calls == [3]
    mine = [v for n, v in get_stats().items() if "against_the_plan_runs.<locals>.square" in n]
    assert mine[-1]["hits"] == 1
    clear_cache()
    assert square(3) == 9
    assert calls == [3, 3]
    assert get_cache_path("plan").parent == cache_root
    assert create_cache_config(maxsize=5).maxsize == 5


# --- the option names of the plan (DESIGN §8): use_sql, secure, backend ---------------------


def plain(x):
    return x


def test_use_sql_is_sql_backend():
    from twat_cache import create_cache_config

    assert create_cache_config(use_sql=False).sql_backend is False
    assert create_cache_config(use_sql=True).sql_backend is True
    assert create_cache_config(use_sql=False, sql_backend=False).sql_backend is False
    with pytest.raises(ValueError, match=r"use_sql and sql_backend .* disagree"):
        create_cache_config(use_sql=True, sql_backend=False)
    with pytest.raises(ValueError, match=r"^use_sql: expected True or False"):
        create_cache_config(use_sql="yes")


def test_bcache_takes_use_sql_and_sql_backend_given_positionally():
    from twat_cache import bcache

    assert bcache("plan", None, None, False)(plain).cache_config.sql_backend is False
    assert bcache("plan", use_sql=False)(plain).cache_config.sql_backend is False
    assert bcache("plan", None, None, False, use_sql=False)(plain).cache_config.sql_backend is False
    assert bcache("plan", None, None, True, use_sql=True)(plain).cache_config.sql_backend is True
    assert bcache("plan", use_sql=True)(plain).cache_config.sql_backend is True
    with pytest.raises(ValueError, match="use_sql=False, sql_backend=True"):
        bcache("plan", None, None, True, use_sql=False)
    with pytest.raises(ValueError, match="use_sql=True, sql_backend=False"):
        bcache("plan", sql_backend=False, use_sql=True)
    with pytest.raises(ValueError, match="use_sql"):
        bcache("plan", use_sql=None)


def test_use_sql_false_walks_the_directory_archive_chain():
    from twat_cache import chains, create_cache_config

    config = create_cache_config(kind="disk", use_sql=False)
    assert chains.chain_name("bcache", config, is_async=False) == "bcache-dir"


@pytest.mark.parametrize("decorator", ["ucache", "bcache", "fcache", "mcache"])
def test_backend_is_preferred_engine(decorator):
    deco = getattr(twat_cache, decorator)
    cached = deco(backend="functools")(plain)
    assert cached.cache_config.preferred_engine == "functools"
    assert cached.cache_backend == "functools"
    with pytest.raises(ValueError, match=r"backend and preferred_engine .* disagree"):
        deco(backend="functools", preferred_engine="cachebox")
    with pytest.raises(ValueError, match=r"^backend: unknown backend 'nosuch'"):
        deco(backend="nosuch")


def test_backend_in_create_cache_config():
    from twat_cache import create_cache_config

    assert create_cache_config(backend="functools").preferred_engine == "functools"
    config = create_cache_config(backend="functools", preferred_engine="functools")
    assert config.preferred_engine == "functools"
    assert config.backend == "functools"  # readable under the plan's name too


def test_backend_on_acache_is_its_async_store():
    from twat_cache import acache

    async def fetch(x):
        return x

    cached = acache(backend="functools")(fetch)
    assert cached.cache_config.preferred_engine == "functools"
    assert cached.cache_backend == "functools"
    assert acache()(fetch).cache_config.preferred_engine == "aiocache"


def test_secure_is_accepted_and_checked():
    from twat_cache import create_cache_config, ucache

    assert create_cache_config().secure is True
    assert create_cache_config(secure=False).secure is False
    assert ucache(secure=True)(plain).cache_config.secure is True
    with pytest.raises(ValueError, match=r"^secure: expected True or False"):
        ucache(secure="no")


def test_the_plans_options_type_check():
    pytest.importorskip("mypy")
    code = (
        "from twat_cache import bcache, fcache, ucache, create_cache_config\n"
        "@bcache(folder_name='plan', use_sql=True, secure=False, backend='diskcache')\n"
        "def a(x: int) -> int:\n    return x\n"
        "@fcache(backend='joblib', preferred_engine='joblib', secure=True)\n"
        "def b(x: int) -> int:\n    return x\n"
        "@ucache(folder_name='plan', backend='klepto', use_sql=False, secure=False)\n"
        "def c(x: int) -> int:\n    return x\n"
        "create_cache_config(use_sql=True, backend='diskcache', secure=False)\n"
    )
    proc = python(
        "-m", "mypy", "--strict", "--no-incremental", "-c", code, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stdout


SECURE = """
import os
os.umask(0o022)
from twat_cache import ucache

@ucache(folder_name="team", preferred_engine="fakedisk", secure=SECURE)
def shared(x):
    return x

@ucache(folder_name="team", preferred_engine="fakedisk", secure=SECURE)
def other(x):
    return -x

for i in range(5):
    shared(i)
    other(i)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(sys.platform == "win32", reason="POSIX modes")
@pytest.mark.parametrize("secure", [True, False])
def test_secure_false_keeps_the_umasks_modes_with_one_warning_per_cache(
    tmp_path, tmp_path_factory, secure
):
    from fakedisk import make_plugin_dir

    plugin = make_plugin_dir(tmp_path_factory.mktemp("plugin"))
    root = tmp_path / "root"
    env = {"TWAT_CACHE_DIR": str(root), "PYTHONPATH": str(plugin)}
    proc = python("-c", SECURE.replace("SECURE", str(secure)), env=env)
    files, folders = modes_under(root)
    assert len(files) == 11, files  # the marker and 2 x 5 entries
    assert set(files.values()) == {"0o600" if secure else "0o644"}, files
    assert "team" in folders
    assert len(folders) == 3, folders  # the cache folder and each function's own
    assert set(folders.values()) == {"0o700" if secure else "0o755"}, folders
    warnings = [line for line in proc.stderr.splitlines() if "secure=False" in line]
    assert len(warnings) == (0 if secure else 2), proc.stderr  # one per cache, not per call
