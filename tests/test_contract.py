"""The store contract (`twat_cache.testing.StoreContract`), run against every backend's store.

Each plugin's class skips when its distribution is not installed in the session.
"""

from __future__ import annotations

from typing import Any

import pytest

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
