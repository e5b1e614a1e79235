"""Shared fixtures: every test gets its own cache root under pytest's tmp_path."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def cache_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point TWAT_CACHE_DIR (and the secret's key file) at a fresh temporary folder."""
    root = tmp_path_factory.mktemp("cache_root")
    monkeypatch.setenv("TWAT_CACHE_DIR", str(root))
    return root


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
