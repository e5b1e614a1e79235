"""The chain logic, exhaustively in-process: every subset of installed backends picks right."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest

from expected_chains import BACKENDS, expected_picks
from twat_cache import registry
from twat_cache.backends.functools import BACKEND as FUNCTOOLS
from twat_cache.chains import choose
from twat_cache.config import CacheConfig
from twat_cache.spec import BackendSpec

ROOT = Path(__file__).resolve().parent.parent


def plugin_spec(name: str) -> BackendSpec:
    """A plugin's real spec, loaded from its source file (installed in this session or not)."""
    path = ROOT / "packages" / f"twat-cache-{name}" / "src" / f"twat_cache_{name}" / "__init__.py"
    loader = importlib.util.spec_from_file_location(f"_spec_of_{name}", path)
    assert loader is not None
    assert loader.loader is not None
    module = importlib.util.module_from_spec(loader)
    loader.loader.exec_module(module)
    spec: BackendSpec = module.BACKEND
    return spec


SPECS = {name: plugin_spec(name) for name in BACKENDS}
LEADS = registry.leads()


def specs(installed: tuple[str, ...]) -> dict[str, BackendSpec]:
    return {"functools": FUNCTOOLS, **{name: SPECS[name] for name in installed}}


SUBSETS = [c for n in range(len(BACKENDS) + 1) for c in itertools.combinations(BACKENDS, n)]

CASES = {
    "mcache": ("mcache", CacheConfig(kind="memory"), False),
    "bcache": ("bcache", CacheConfig(kind="disk"), False),
    "bcache(sql_backend=False)": ("bcache", CacheConfig(kind="disk", sql_backend=False), False),
    "fcache": ("fcache", CacheConfig(kind="file"), False),
    "acache": ("acache", CacheConfig(kind="async", backend="aiocache"), True),
    "ucache": ("ucache", CacheConfig(), False),
    "ucache(folder_name)": ("ucache", CacheConfig(kind="disk", folder_name="f"), False),
    "ucache(async)": ("ucache", CacheConfig(), True),
    "ucache(use_async)": ("ucache", CacheConfig(use_async=True), True),
}


@pytest.mark.parametrize("installed", SUBSETS, ids=lambda c: "+".join(c) or "core")
def test_every_subset_picks_the_designed_backend(installed):
    usable = specs(installed)
    expected = expected_picks(installed)
    for label, (decorator, config, is_async) in CASES.items():
        choice = choose(decorator, config, usable, is_async=is_async, leads=LEADS)
        assert choice.backend == expected[label], (label, installed)
        first_choice = {
            "mcache": "cachebox",
            "ucache": "cachebox",
            "bcache": "diskcache",
            "bcache(sql_backend=False)": "klepto",
            "fcache": "joblib",
            "acache": "aiocache",
            "ucache(folder_name)": "klepto",
            "ucache(async)": "aiocache",
            "ucache(use_async)": "aiocache",
        }[label]
        # One warning names the wanted and the chosen backend when the first choice is missing.
        if choice.backend == first_choice:
            assert choice.warnings == (), (label, installed)
        else:
            assert len(choice.warnings) == 1
            assert first_choice in choice.warnings[0]
            assert choice.backend in choice.warnings[0]


@pytest.mark.parametrize("installed", SUBSETS, ids=lambda c: "+".join(c) or "core")
def test_preferred_engine_wins_when_installed(installed):
    usable = specs(installed)
    for engine in ("cachebox", "klepto", "diskcache", "joblib", "cachetools", "functools", "redis"):
        choice = choose("ucache", CacheConfig(preferred_engine=engine), usable, is_async=False)
        if engine in usable:
            assert choice.backend == engine
        else:
            assert choice.backend == expected_picks(installed)["ucache"]
            assert any("preferred_engine" in w and engine in w for w in choice.warnings)


def test_policy_moves_selection_to_a_backend_that_honours_it():
    usable = specs(("cachetools",))
    assert (
        choose("mcache", CacheConfig(policy="lfu"), usable, is_async=False).backend == "cachetools"
    )
    only_core = specs(())
    choice = choose("mcache", CacheConfig(policy="lfu"), only_core, is_async=False)
    assert choice.backend == "functools"
    assert choice.config.policy == "lru"
    assert any("lfu" in w for w in choice.warnings)
    rr = choose(
        "bcache",
        CacheConfig(kind="disk", policy="rr"),
        specs(("diskcache", "cachebox")),
        is_async=False,
    )
    # A disk cache stays on disk: diskcache has no random eviction, so the closest policy.
    assert rr.backend == "diskcache"
    assert rr.config.policy == "lru"
    assert any("'rr'" in w and "closest" in w for w in rr.warnings)


def test_a_backend_that_failed_to_open_is_passed_over():
    usable = specs(("cachebox", "cachetools"))
    choice = choose("mcache", CacheConfig(), usable, is_async=False, exclude={"cachebox"})
    assert choice.backend == "cachetools"
    assert "failed to open" in choice.warnings[0]


def test_acache_backend_names_a_memory_backend_or_redis():
    usable = specs(("cachebox", "aiocache", "redis"))
    assert (
        choose("acache", CacheConfig(backend="cachebox"), usable, is_async=True).backend
        == "cachebox"
    )
    assert choose("acache", CacheConfig(backend="redis"), usable, is_async=True).backend == "redis"
    assert (
        choose("acache", CacheConfig(backend="redis"), specs(()), is_async=True).backend
        == "functools"
    )


def test_each_chains_lead_ranks_first_among_the_family():
    """The packaging data's leads agree with the specs' ranks (decorating trusts it)."""
    family = {"functools": FUNCTOOLS, **SPECS}
    for chain_name, lead in LEADS.items():
        ranked = [s for s in family.values() if chain_name in s.ranks]
        best = max(ranked, key=lambda s: s.ranks[chain_name][1])
        assert best.name == lead, (chain_name, lead, best.name)


@pytest.mark.parametrize("installed", SUBSETS, ids=lambda c: "+".join(c) or "core")
def test_the_quick_lead_choice_agrees_with_the_chain_walk(installed, monkeypatch):
    """Where the registry settles a choice by the chain's lead, the full walk agrees."""
    from twat_cache.chains import chain_name

    usable = specs(installed)
    for label, (decorator, config, is_async) in CASES.items():
        name = chain_name(decorator, config, is_async=is_async)
        lead = LEADS.get(name)
        if lead is None or lead not in usable or not usable[lead].honours(config.policy):
            continue
        if config.preferred_engine not in (None, lead):
            continue
        walked = choose(decorator, config, usable, is_async=is_async, leads=LEADS)
        assert walked.backend == lead, (label, installed)
        assert walked.kind == usable[lead].ranks[name][0]


def test_the_familys_url_schemes_agree_with_the_specs():
    """The packaging data's schemes (for stores not installed) are the ones the specs declare."""
    import importlib.metadata as md

    members = {
        ep.value.partition("[")[0].strip(): ep.name for ep in md.entry_points(group=registry.FAMILY)
    }
    declared: dict[str, set[str]] = {}
    for ep in md.entry_points(group=registry.SCHEMES):
        declared.setdefault(members[ep.value.strip()], set()).add(ep.name)
    claimed = {name: set(spec.schemes) for name, spec in SPECS.items() if spec.schemes}
    assert declared == claimed
    assert set(claimed) == {"redis", "memcached"}
    for scheme, name in registry.url_schemes().items():
        assert scheme in declared[name]
        assert set(registry.schemes_of(name)) == set(SPECS[name].schemes)


def test_every_redis_scheme_is_one_its_url_parser_takes():
    """The spec (read when decorating) and `_url` (read when a store opens) list the same."""
    if importlib.util.find_spec("twat_cache_redis") is None:
        pytest.skip("needs redis")
    from twat_cache_redis._url import SCHEMES

    assert set(SPECS["redis"].schemes) == set(SCHEMES)
