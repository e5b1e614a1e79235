"""DESIGN §8: the module paths of the original plan and twat-cache 2.x import, lazily.

`twat_cache.cache`, `.utils`, `.type_defs`, `.exceptions` (and the existing `.decorators`,
`.config`) give the names code written against the plan imports; `import twat_cache` loads none
of the migration modules. Runs on every install combination, core only included.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import twat_cache

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


def run_py(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.timeout(60)
def test_import_twat_cache_loads_no_migration_module():
    loaded = json.loads(
        run_py(
            "import json, sys, twat_cache\n"
            f"print(json.dumps([m for m in {LAZY!r} if m in sys.modules]))\n"
        )
    )
    assert loaded == []


@pytest.mark.timeout(60)
def test_importtime_shows_no_migration_module():
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import twat_cache"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
    assert "twat_cache" in imported
    assert not imported & set(LAZY)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("module", sorted({**MIGRATION, **EXISTING}))
def test_every_path_of_the_plan_imports_in_a_fresh_interpreter(module):
    names = {**MIGRATION, **EXISTING}[module]
    out = run_py(f"from {module} import {', '.join(names)}\nprint('ok')")
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
    out = run_py(
        "import twat_cache\n"
        "print(twat_cache.exceptions.ConfigurationError.__name__,"
        " twat_cache.cache.get_stats is twat_cache.get_stats,"
        " twat_cache.utils.get_cache_path is twat_cache.get_cache_path,"
        " twat_cache.type_defs.R.__name__)\n"
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
