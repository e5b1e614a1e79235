"""In each nox session: exactly the expected distributions are installed, and each decorator picks
the backend its chain prescribes for that install (real decoration, real plugins)."""

from __future__ import annotations

import asyncio
import importlib.metadata as md
import os

import pytest

import twat_cache as tc
from expected_chains import expected_picks

EXPECT = os.environ.get("TWAT_CACHE_EXPECT_BACKENDS")
pytestmark = pytest.mark.skipif(
    EXPECT is None, reason="run by nox, which sets TWAT_CACHE_EXPECT_BACKENDS"
)
ALL_PLUGINS = (
    "cachebox",
    "cachetools",
    "diskcache",
    "klepto",
    "joblib",
    "aiocache",
    "redis",
    "memcached",
)


def expected_set() -> set[str]:
    return set() if EXPECT in (None, "none") else set(EXPECT.split(","))


def test_exactly_the_expected_distributions_are_installed():
    ours = {
        (d.metadata["Name"] or "").lower()
        for d in md.distributions()
        if (d.metadata["Name"] or "").lower().startswith("twat-cache")
    }
    want = {"twat-cache", "twat-cache-core"} | {f"twat-cache-{b}" for b in expected_set()}
    assert ours == want


def test_every_plugin_registers_and_is_usable():
    info = tc.available_backends()["backends"]
    for name in ALL_PLUGINS:
        assert (name in info) == (name in expected_set()), name
        if name in info:
            assert info[name]["usable"], name
    assert info["functools"]["usable"]


def test_each_decorator_picks_its_chains_backend():
    want = expected_picks(expected_set())

    def plain(x):
        return x

    async def coro(x):
        return x

    made = {
        "mcache": tc.mcache(plain),
        "bcache": tc.bcache(plain),
        "bcache(sql_backend=False)": tc.bcache(sql_backend=False)(plain),
        "fcache": tc.fcache(plain),
        "acache": tc.acache(coro),
        "ucache": tc.ucache(plain),
        "ucache(folder_name)": tc.ucache(folder_name="matrix")(plain),
        "ucache(async)": tc.ucache(coro),
        "ucache(use_async)": tc.ucache(use_async=True)(coro),
    }
    got = {label: f.cache_backend for label, f in made.items()}
    assert got == want
    for label, f in made.items():  # and each one really caches
        if asyncio.iscoroutinefunction(f):
            assert asyncio.run(f(1)) == asyncio.run(f(1)) == 1
        else:
            assert f(1) == f(1) == 1
        assert f.cache_info().hits >= 1, label
    assert tc.available_backends()["picks"]["mcache"] == want["mcache"]
