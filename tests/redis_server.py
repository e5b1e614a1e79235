"""Former home of the redis-server fixtures; they live in `servers` now (loaded by conftest).

Kept importable for code that still says `from redis_server import ...`. Importing a fixture from
here into a test module is not needed any more (conftest provides it everywhere).
"""

from __future__ import annotations

from servers import (
    RedisServer,
    find_exe,
    free_port,
    ping,
    private_redis,
    redis_server,
    redis_url,
    require_exe,
)

__all__ = [
    "RedisServer",
    "find_redis_server",
    "free_port",
    "ping",
    "private_redis",
    "redis_server",
    "redis_url",
    "require_redis_server",
]


def find_redis_server() -> str | None:
    """The `redis-server` executable, or None."""
    return find_exe("redis-server")


def require_redis_server() -> str:
    """`redis-server`, or skip (locally) / fail (CI=true)."""
    return require_exe("redis-server")
