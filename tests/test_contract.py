"""The store contract (`twat_cache.testing.StoreContract`), run against every backend's store.

Each plugin's class skips when its distribution is not installed in the session.
"""

from __future__ import annotations

from typing import Any

import pytest

from conftest import has
from twat_cache.testing import StoreContract


class TestFunctoolsStore(StoreContract):
    backend = "functools"


class TestCacheboxStore(StoreContract):
    backend = "cachebox"


class TestCachetoolsStore(StoreContract):
    backend = "cachetools"


class TestAiocacheStore(StoreContract):
    backend = "aiocache"


class TestDiskcacheStore(StoreContract):
    backend = "diskcache"


class TestKleptoSQLStore(StoreContract):
    backend = "klepto"
    kind = "disk"


class TestKleptoDirStore(StoreContract):
    backend = "klepto"
    kind = "file"


class TestJoblibStore(StoreContract):
    backend = "joblib"


class TestRedisStore(StoreContract):
    """One redis-server."""

    backend = "redis"

    @pytest.fixture(autouse=True)
    def _server(self, redis_url: str) -> None:
        self.url = redis_url

    def options(self) -> dict[str, Any]:
        return {"url": self.url}


class TestRedisClusterStore(TestRedisStore):
    """A 3-master Redis Cluster (`redis+cluster://`): entries spread over the slots."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_cluster_url: str) -> None:
        self.url = redis_cluster_url


class TestRedisSentinelStore(TestRedisStore):
    """The master a Sentinel names (`redis+sentinel://host:port/service`)."""

    @pytest.fixture(autouse=True)
    def _server(self, redis_sentinel_url: str) -> None:
        self.url = redis_sentinel_url


class TestRedisAsyncStore(TestRedisStore):
    """The asyncio store (`acache(backend="redis")`): the same contract through aget/aset."""

    kind = "async"


class TestMemcachedStore(StoreContract):
    """One memcached."""

    backend = "memcached"

    @pytest.fixture(autouse=True)
    def _server(self, memcached_url: str) -> None:
        self.url = memcached_url

    def options(self) -> dict[str, Any]:
        return {"url": self.url}


class TestMemcachedPoolStore(TestMemcachedStore):
    """Two memcached servers (`memcached://h:p,h:p`): entries spread by consistent hashing."""

    @pytest.fixture(autouse=True)
    def _server(self, memcached_pool_url: str) -> None:
        self.url = memcached_pool_url


def test_a_plugins_own_contract_run_writes_nothing_outside_its_folders(tmp_path: Any) -> None:
    """A plugin author runs the contract without this repository's fixtures: home stays empty."""
    from helpers import python

    if not has("twat_cache_diskcache"):
        pytest.skip("needs diskcache")
    (tmp_path / "test_mine.py").write_text(
        "from twat_cache.testing import StoreContract\n\n\n"
        "class TestMine(StoreContract):\n"
        "    backend = 'diskcache'\n"
    )
    home = tmp_path / "home"
    home.mkdir()
    run_as_a_user = (
        "import os, sys\n"
        "for name in ('XDG_CONFIG_HOME', 'XDG_CACHE_HOME', 'TWAT_CACHE_DIR', 'PYTHONPATH'):\n"
        "    os.environ.pop(name, None)\n"
        "import pytest\n"
        "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', 'test_mine.py']))\n"
    )
    proc = python("-c", run_as_a_user, env={"HOME": str(home)}, cwd=tmp_path)
    assert "12 passed" in proc.stdout
    assert list(home.iterdir()) == []
