"""Decorated functions keep their signatures under mypy --strict (ParamSpec)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SNIPPET = textwrap.dedent(
    """
    from twat_cache import acache, bcache, fcache, mcache, ucache, CacheInfo

    @mcache
    def add(a: int, b: int = 2) -> int:
        return a + b

    @mcache(maxsize=10, ttl=5)
    def name(x: str) -> str:
        return x

    @bcache(folder_name="x")
    def disk(x: float) -> float:
        return x

    @acache
    async def fetch(url: str) -> bytes:
        return b""

    @ucache
    def u(x: int) -> list[int]:
        return [x]

    @fcache(compress=True)
    def files(x: int) -> int:
        return x

    class Service:
        @mcache
        def lookup(self, key: str) -> int:
            return len(key)

    ok0: int = Service().lookup("k")
    ok1: int = add(1)
    ok2: int = add(1, b=3)
    ok3: str = name("x")
    ok4: list[int] = u(1)
    info: CacheInfo = add.cache_info()
    deleted: bool = add.cache_delete(1)
    add.cache_clear()
    reveal_type(add)
    bad1 = add("1")          # E: wrong argument type
    bad2: str = add(1)       # E: wrong result type
    bad3 = name(1)           # E: wrong argument type
    bad4 = add(1, c=2)       # E: unknown keyword
    bad5 = Service().lookup(3)  # E: wrong argument type on a method
    """
)


def test_signatures_survive_decoration_under_mypy_strict(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    path = tmp_path / "snippet.py"
    path.write_text(SNIPPET)
    env = {**os.environ, "MYPY_CACHE_DIR": str(tmp_path / ".mypy_cache")}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / "c"),
            str(path),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines = out.stdout.splitlines()
    errors = {int(line.split(":")[1]) for line in lines if ": error:" in line}
    source = SNIPPET.splitlines()
    expected = {i + 1 for i, text in enumerate(source) if "# E:" in text}
    assert errors == expected, out.stdout
    reveal = next(line for line in lines if "Revealed type" in line)
    assert "CachedFunction[[a: int, b: int =], int]" in reveal, reveal
