"""A policy no persistent backend honours keeps a disk cache on disk (issue 18).

`bcache(policy="rr")` used to move silently to memory (no persistent backend offers random
replacement). Now the chain's first installed backend is kept with the closest policy it
honours, and one warning says so. Run on the real backends of each install.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from conftest import needs
from twat_cache import bcache, fcache, ucache
from twat_cache.testing import store_of


def _square(x: int) -> int:
    return x * x


@pytest.mark.parametrize(
    ("decorator", "backend"),
    [
        pytest.param(bcache, "diskcache", marks=needs("diskcache")),
        pytest.param(fcache, "joblib", marks=needs("joblib")),
    ],
)
def test_rr_stays_on_disk_with_lru_and_a_warning(
    decorator: Any, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="twat_cache"):
        cached = decorator(folder_name="rr", maxsize=3, policy="rr")(_square)
    assert cached.cache_backend == backend
    assert cached.cache_config.policy == "lru"
    [warning] = [r.getMessage() for r in caplog.records if r.name == "twat_cache"]
    assert "'rr'" in warning
    assert backend in warning
    assert "closest policy, 'lru'" in warning
    for x in range(6):
        assert cached(x) == x * x
    assert cached.cache_info().currsize <= 3
    assert store_of(cached).digest_keys  # a persistent store: the entries are on disk


@pytest.mark.parametrize("decorator", [bcache, fcache])
def test_rr_picks_the_backend_the_default_policy_picks(decorator: Any) -> None:
    default = decorator(folder_name="lru")(_square)
    rr = decorator(folder_name="rr", policy="rr")(_square)
    if rr.cache_config.policy == "rr":  # a memory fallback that honours rr (no disk backend)
        assert store_of(default).digest_keys is False
        return
    assert rr.cache_backend == default.cache_backend


@needs("klepto")
def test_ucache_with_a_folder_and_rr_stays_on_disk() -> None:
    cached = ucache(folder_name="rr", policy="rr")(_square)
    assert cached.cache_backend == "klepto"
    assert cached.cache_config.policy == "lru"
