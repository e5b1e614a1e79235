"""Decorated functions keep their signatures under mypy --strict and pyright (strict).

Each snippet is checked by both; the lines marked `# E:` must be exactly the lines with errors
(a wrong argument, a wrong result, a wrong option type), and every other line must check
clean: plain functions, options, methods, class methods, static methods, coroutine functions
and the per-call controls. pyright runs as basedpyright (its engine, on PyPI with Node.js in
its wheel: no system node and no download at first use).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import python

pytestmark = pytest.mark.timeout(300)

FUNCTIONS = textwrap.dedent(
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
    ok5: float = disk(1.0)
    ok6: int = files(1)
    info: CacheInfo = add.cache_info()
    deleted: bool = add.cache_delete(1)
    add.cache_clear()
    bad1 = add("1")          # E: wrong argument type
    bad2: str = add(1)       # E: wrong result type
    bad3 = name(1)           # E: wrong argument type
    bad4 = add(1, c=2)       # E: unknown keyword
    bad5 = Service().lookup(3)  # E: wrong argument type on a method
    """
)

METHODS = textwrap.dedent(
    """
    from typing import Any
    from twat_cache import acache, bcache, mcache, ucache

    class K:
        @classmethod
        @mcache
        def make(cls, n: int) -> str:
            return str(n)

        @classmethod
        @bcache(maxsize=3)
        def make_on_disk(cls, n: int) -> str:
            return str(n)

        @classmethod
        @acache
        async def amake(cls, n: int) -> str:
            return str(n)

        @staticmethod
        @mcache
        def st(n: int) -> int:
            return n

        @staticmethod
        @ucache(ttl=1.5)
        def st2(a: str, b: int) -> int:
            return b

        @mcache
        def m(self, x: int) -> int:
            return x

        @acache(ttl=2)
        async def am(self, x: int) -> int:
            return x

    @mcache
    def first_any(x: Any, y: int = 1) -> int:
        return y

    @mcache
    def first_object(x: object) -> int:
        return 1

    async def use() -> None:
        s: str = await K.amake(2)
        t: str = await K().amake(2)
        u: int = await K().am(1)

    ok1: str = K.make(1)
    ok2: str = K().make(1)
    ok3: str = K.make_on_disk(1)
    ok4: int = K.st(1)
    ok5: int = K.st2("a", b=2)
    ok6: int = K.m(K(), 1)
    ok7: int = K().m(1)
    ok8: int = first_any(1, y=2)
    ok9: int = first_object("x")
    K.make.cache_clear()
    K.m.cache_clear()
    k = K()
    got1: int = K.m.cache_get(k, 1)
    got2: int = k.m.cache_get(k, 1)   # the instance first again, as at runtime
    got3: str = K.make.cache_get(K, 1)
    k.m.cache_set(5, k, 1)
    got4: int = k.m.cache_refresh(k, 1)
    bad6 = k.m.cache_get(1)  # E: the bound method's controls take the instance first
    bad1 = K.make("x")      # E: wrong argument type on a class method
    bad2 = K().make(1, 2)   # E: too many arguments on a class method
    bad3 = K.st("x")        # E: wrong argument type on a static method
    bad4: str = K().m(1)    # E: wrong result type on a method
    bad5 = K.m(1)           # E: an unbound method needs its instance
    """
)

OPTIONS = textwrap.dedent(
    """
    from twat_cache import acache, bcache, fcache, mcache, ucache

    ok1 = mcache(maxsize=3, ttl=1.5, typed=True, ignore=("a",), cache_if=bool, stale=2.0)
    ok2 = bcache(folder_name="x", front=8, front_ttl=0.5, max_bytes=10_000, wait_timeout=5.0)
    ok3 = acache(ttl=1, key=str)
    ok4 = fcache(mmap_mode="r", compress=3)
    ok5 = ucache(ignore="session")
    ok6 = bcache(url="redis://h:6379/0", front=4)
    ok7 = acache(url="redis://h:6379/0", check_code=True, front=4, front_ttl=2.0)
    bad1 = mcache(ttl="5")        # E: ttl is a number
    bad2 = mcache(typed="yes")    # E: typed is a bool
    bad3 = bcache(front="x")      # E: front is an int
    bad4 = mcache(max_size=3)     # E: no such option
    bad5 = mcache(ignore=3)       # E: ignore is names
    bad6 = acache(stale="1")      # E: stale is a number
    bad7 = fcache(mmap_mode="q")  # E: not a mmap mode
    bad8 = ucache(cache_if=3)     # E: cache_if is a callable
    bad9 = mcache(policy="mru")   # E: not a policy
    bad10 = mcache(folder_name="x")  # E: not an option of mcache
    bad11 = mcache(url="redis://h")  # E: mcache has no server
    bad12 = fcache(url="redis://h")  # E: fcache has no server
    """
)

SNIPPETS = {"functions": FUNCTIONS, "methods": METHODS, "options": OPTIONS}


def expected_lines(snippet: str) -> set[int]:
    return {i + 1 for i, text in enumerate(snippet.splitlines()) if "# E:" in text}


def run_mypy(path: Path, tmp_path: Path) -> tuple[set[int], str]:
    cache = str(tmp_path / "mypy-cache")
    out = python(
        "-m",
        "mypy",
        "--strict",
        "--no-incremental",
        "--cache-dir",
        cache,
        str(path),
        env={"MYPY_CACHE_DIR": cache},
        cwd=tmp_path,
        timeout=None,
        check=False,
    )
    errors = {int(m.group(1)) for m in re.finditer(r"^[^:\n]+:(\d+): error:", out.stdout, re.M)}
    return errors, out.stdout + out.stderr


def run_pyright(path: Path, tmp_path: Path) -> tuple[set[int], str]:
    exe = Path(sys.executable).with_name("basedpyright")
    if not exe.exists():
        pytest.skip("basedpyright is not installed (the test extra brings it)")
    # pyright's strict mode, with the checks on reveal_type() and unused names left out
    (tmp_path / "pyrightconfig.json").write_text(
        json.dumps(
            {
                "typeCheckingMode": "strict",
                "reportUnusedVariable": False,
                "reportUnusedExpression": False,
                "pythonVersion": "3.10",
            }
        )
    )
    out = subprocess.run(
        [str(exe), "--pythonpath", sys.executable, "--outputjson", str(path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    try:
        report = json.loads(out.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"basedpyright did not report:\n{out.stdout}\n{out.stderr}")
    errors = {
        d["range"]["start"]["line"] + 1
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    }
    text = "\n".join(
        f"{d['range']['start']['line'] + 1}: {d['severity']}: {d['message']}"
        for d in report["generalDiagnostics"]
    )
    return errors, text


CHECKERS = {"mypy": run_mypy, "pyright": run_pyright}


@pytest.mark.parametrize("checker", CHECKERS)
@pytest.mark.parametrize("snippet", SNIPPETS)
def test_signatures_survive_decoration(snippet: str, checker: str, tmp_path: Path) -> None:
    if checker == "mypy":
        pytest.importorskip("mypy")
    source = SNIPPETS[snippet]
    path = tmp_path / f"{snippet}.py"
    path.write_text(source)
    errors, report = CHECKERS[checker](path, tmp_path)
    assert errors == expected_lines(source), report


@pytest.mark.parametrize("checker", CHECKERS)
def test_the_revealed_types_keep_the_parameters(checker: str, tmp_path: Path) -> None:
    if checker == "mypy":
        pytest.importorskip("mypy")
    source = textwrap.dedent(
        """
        from twat_cache import mcache

        @mcache
        def add(a: int, b: int = 2) -> int:
            return a + b

        class K:
            @classmethod
            @mcache
            def make(cls, n: int) -> str:
                return str(n)

        reveal_type(add)
        reveal_type(K.make)
        """
    )
    path = tmp_path / "reveal.py"
    path.write_text(source)
    _, report = CHECKERS[checker](path, tmp_path)
    if checker == "mypy":
        assert "CachedFunction[[a: int, b: int =], int]" in report, report
        assert "BoundCachedFunction[Any, [n: int], str]" in report, report
    else:
        assert "CachedFunction[(a: int, b: int = 2), int]" in report, report
        assert "BoundCachedFunction[Any, (n: int), str]" in report, report
