"""Shared fixtures: every test gets its own cache root under pytest's tmp_path."""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib.util import find_spec
from pathlib import Path

import pytest

# The real-server fixtures (Redis, Redis Cluster, Sentinel, memcached), for every test module.
from servers import (  # noqa: F401
    STARTUPS,
    memcached_pool,
    memcached_pool_url,
    memcached_server,
    memcached_url,
    private_memcached,
    private_redis,
    private_redis_cluster,
    private_redis_sentinel,
    redis_cluster,
    redis_cluster_url,
    redis_sentinel,
    redis_sentinel_url,
    redis_server,
    redis_url,
    servers,
)


@pytest.fixture(autouse=True)
def cache_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point TWAT_CACHE_DIR, and the user's config folder (the secret), at fresh temp folders.

    HOME, XDG_CONFIG_HOME and APPDATA all move, so no test (nor a subprocess it starts) ever
    reads or writes the real config folder; subprocesses inherit the same secret.
    """
    root = tmp_path_factory.mktemp("cache_root")
    monkeypatch.setenv("TWAT_CACHE_DIR", str(root))
    _private_home(tmp_path_factory.mktemp("home"), monkeypatch.setenv)
    monkeypatch.delenv("TWAT_CACHE_SECRET", raising=False)
    monkeypatch.delenv("TWAT_CACHE_WAIT_TIMEOUT", raising=False)
    return root


def _private_home(home: Path, setenv: Callable[[str, str], object]) -> None:
    """HOME (and USERPROFILE) at `home`, the config folders inside it."""
    setenv("HOME", str(home))
    setenv("USERPROFILE", str(home))
    setenv("XDG_CONFIG_HOME", str(home / ".config"))
    setenv("APPDATA", str(home / "AppData" / "Roaming"))


@pytest.fixture(autouse=True)
def fresh_notices() -> None:
    """Each test sees the once-per-process notices (fallbacks) as a new process would."""
    from twat_cache._log import forget_notices

    forget_notices()


@pytest.fixture
def config_root(cache_root: Path) -> Path:
    """twat-cache's folder in the (temporary) user config folder: where the secret lives."""
    from twat_cache.secret import config_root as where

    return where()


def has(*modules: str) -> bool:
    """True when every plugin module named is importable (its distribution is installed)."""
    return all(find_spec(m) is not None for m in modules)


def needs(*plugins: str) -> pytest.MarkDecorator:
    """Skip a test unless the named backend plugins (e.g. "cachebox") are installed."""
    modules = [f"twat_cache_{p}" for p in plugins]
    return pytest.mark.skipif(not has(*modules), reason=f"needs {', '.join(plugins)}")


EXPECTED = os.environ.get("TWAT_CACHE_EXPECT_BACKENDS")


def pytest_configure(config: pytest.Config) -> None:
    """Before any test (or import) runs, send the cache root to a temporary folder."""
    import tempfile

    os.environ["TWAT_CACHE_DIR"] = tempfile.mkdtemp(prefix="twat-cache-tests-")
    _private_home(Path(tempfile.mkdtemp(prefix="twat-cache-home-")), os.environ.__setitem__)
    # Subprocesses (many tests start fresh interpreters) keep their bytecode in a temporary
    # prefix for the session, never in the tree: under PYTHONDONTWRITEBYTECODE each of them
    # would compile SQLAlchemy and klepto again (over a second each).
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    os.environ["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="twat-cache-pycache-")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Report how long the test servers took to start (informational, never asserted)."""
    if not STARTUPS:
        return
    by_kind: dict[str, list[float]] = {}
    for kind, seconds in STARTUPS:
        by_kind.setdefault(kind, []).append(seconds)
    terminalreporter.section("test server start-up")
    for kind, times in sorted(by_kind.items()):
        terminalreporter.write_line(
            f"{kind}: {len(times)} start(s), min {min(times):.3f} s, "
            f"mean {sum(times) / len(times):.3f} s, max {max(times):.3f} s"
        )
