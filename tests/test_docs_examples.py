"""Every code example in docs/*.md runs, each in a fresh interpreter with a private cache root.

A ```python block is run as a script and must exit 0. Its first lines may say what it needs,
e.g. `# requires: numpy, twat_cache_diskcache` (importable module names): the example is
skipped when one is missing. Lines `$ twat-cache ...` in ```console blocks are run as
`python -m twat_cache ...` and must exit 0.
"""

from __future__ import annotations

import re
import shlex
from importlib.util import find_spec
from pathlib import Path

import pytest

from helpers import python, twat_cache

# Slow: every example runs in its own interpreter; they run in the sessions
# where each backend is alone and where all are installed.
pytestmark = pytest.mark.slow


DOCS = Path(__file__).resolve().parent.parent / "docs"
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)
REQUIRES = re.compile(r"^#\s*requires:\s*(.+)$", re.MULTILINE)


def blocks(language: str) -> list[tuple[str, str]]:
    """(id, code) of every fenced block in `language` across the docs, in page order."""
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for n, match in enumerate(FENCE.finditer(page.read_text()), start=1):
            if match.group(1) == language:
                line = page.read_text()[: match.start()].count("\n") + 1
                found.append((f"{page.name}:{line}#{n}", match.group(2)))
    return found


PYTHON = blocks("python")
CONSOLE = [
    (f"{where}:{shlex.split(line)[1:]}", line)
    for where, code in blocks("console")
    for line in code.splitlines()
    if line.startswith("$ twat-cache")
]


def test_the_docs_have_examples() -> None:
    assert len(PYTHON) >= 10
    assert len(CONSOLE) >= 5


def _env(root: Path) -> dict[str, str]:
    return {"TWAT_CACHE_DIR": str(root)}


@pytest.mark.parametrize("code", [c for _, c in PYTHON], ids=[i for i, _ in PYTHON])
def test_python_example(code: str, tmp_path: Path) -> None:
    for line in REQUIRES.findall(code[:500]):
        missing = [m.strip() for m in line.split(",") if find_spec(m.strip()) is None]
        if missing:
            pytest.skip(f"needs {', '.join(missing)}")
    script = tmp_path / "example.py"
    script.write_text(code)
    proc = python(str(script), env=_env(tmp_path / "root"), cwd=tmp_path, check=False)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"


@pytest.mark.parametrize("line", [c for _, c in CONSOLE], ids=[i for i, _ in CONSOLE])
def test_console_example(line: str, tmp_path: Path) -> None:
    # The examples talk about a cache folder "demo": make one (on a disk backend if installed).
    setup = (
        "from twat_cache import bcache, get_cache_path\n"
        "get_cache_path('demo')\n"
        "f = bcache(folder_name='demo')(lambda x: x)\n"
        "f(1)\n"
    )
    python("-c", setup, env=_env(tmp_path / "root"))
    twat_cache(*shlex.split(line)[2:], env=_env(tmp_path / "root"))  # exit status 0
