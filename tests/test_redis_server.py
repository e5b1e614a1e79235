"""The redis-server test helper itself: skip locally, fail under CI, when the server is absent."""

from __future__ import annotations

from pathlib import Path

import pytest

import redis_server


def test_missing_server_skips_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_server, "find_redis_server", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="redis-server is not installed"):
        redis_server.require_redis_server()


def test_missing_server_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_server, "find_redis_server", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"CI=true: .*ensure-redis\.sh"):
        redis_server.require_redis_server()


def test_server_starts_stops_and_restarts_on_its_port(tmp_path: Path) -> None:
    exe = redis_server.require_redis_server()
    server = redis_server.RedisServer(exe, tmp_path)
    server.start()
    try:
        port = server.port
        assert redis_server.ping(port)
        server.stop()
        assert not redis_server.ping(port)
        server.start()
        assert server.port == port
        assert redis_server.ping(port)
    finally:
        server.stop()
