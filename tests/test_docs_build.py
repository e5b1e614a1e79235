"""The documentation site: every page is in the nav, and `mkdocs build --strict` succeeds.

The builds run only where the docs dependency group is installed (`uv sync --group docs`);
they build into temporary folders, from a temporary copy when the benchmark table is faked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib.util import find_spec
from pathlib import Path

import pytest

from helpers import python

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
needs_mkdocs = pytest.mark.skipif(
    find_spec("mkdocs") is None or find_spec("mkdocstrings_handlers") is None,
    reason="needs the docs dependency group (mkdocs, mkdocs-material, mkdocstrings)",
)


def test_every_page_is_in_the_nav() -> None:
    config = (REPO / "mkdocs.yml").read_text()
    in_nav = set(re.findall(r":\s*([\w-]+\.md)\s*$", config, re.MULTILINE))
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages == in_nav


def test_the_pages_the_issue_asks_for() -> None:
    text = {p.stem: p.read_text() for p in DOCS.glob("*.md")}
    assert "## Quick start" in text["index"]
    for decorator in ("mcache", "bcache", "fcache", "acache", "ucache"):
        assert f"## `{decorator}`" in text["decorators"]
    assert "fallback" in text["backends"].lower()
    assert "::: twat_cache.config.CacheConfig" in text["reference"]
    assert "stable_digest" in text["keys"]
    for topic in ("HMAC", "TWAT_CACHE_SECRET", "0o700", "0o600", "encrypt=True"):
        assert topic in text["security"]
    for command in ("backends", "list", "clear", "prune", "path"):
        assert f"## `{command}" in text["cli"]
    assert '--8<-- "benchmarks/results/latest.md:3:"' in text["benchmarks"]


def _build(cwd: Path, site: Path) -> subprocess.CompletedProcess[str]:
    build = ["-m", "mkdocs", "build", "--strict", "-q", "--site-dir", str(site)]
    return python(*build, cwd=cwd, env={"NO_MKDOCS_2_WARNING": "1"}, timeout=240)


@needs_mkdocs
def test_the_site_builds_strict(tmp_path: Path) -> None:
    _build(REPO, tmp_path / "site")
    reference = (tmp_path / "site" / "reference" / "index.html").read_text()
    assert "Cache in memory: cachebox, else cachetools" in reference  # mcache's docstring
    assert "CacheConfig" in reference


@needs_mkdocs
def test_the_benchmark_table_is_included(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(DOCS, work / "docs")
    shutil.copy(REPO / "mkdocs.yml", work / "mkdocs.yml")
    (work / "packages").symlink_to(REPO / "packages")
    results = work / "benchmarks" / "results"
    results.mkdir(parents=True)
    # The shape benchmarks/run.py writes: a title, a blank line, then the text and the table.
    (results / "latest.md").write_text(
        "# Benchmark results\n\nmachine line unique-env-marker  \n\n"
        "| measure | ratio |\n|---|---|\n| mcache hit vs cachebox.cached | 0.93x-unique-marker |\n"
    )
    # The chart benchmarks/run.py writes beside it: one SVG without blank lines, inlined.
    (results / "latest.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">\n'
        '<text x="0" y="9">svg_unique_marker *not emphasis*</text>\n</svg>\n'
    )
    _build(work, tmp_path / "site")
    page = (tmp_path / "site" / "benchmarks" / "index.html").read_text()
    assert "unique-env-marker" in page
    assert "<td>0.93x-unique-marker</td>" in page
    assert "Benchmark results" not in page  # the page has its own title
    assert '<text x="0" y="9">svg_unique_marker *not emphasis*</text>' in page
    assert page.index("svg_unique_marker") < page.index("0.93x-unique-marker")


def test_the_benchmark_file_still_starts_with_its_title() -> None:
    """The docs include latest.md from line 3 on: after the title benchmarks/run.py writes."""
    source = (REPO / "benchmarks" / "run.py").read_text()
    assert '"# Benchmark results\\n\\n"' in source
    assert '--8<-- "benchmarks/results/latest.md:3:"' in (DOCS / "benchmarks.md").read_text()


def test_the_chart_is_written_beside_the_table_and_shown_above_it() -> None:
    source = (REPO / "benchmarks" / "run.py").read_text()
    assert 'with_suffix(".svg")' in source
    page = (DOCS / "benchmarks.md").read_text()
    chart = page.index('--8<-- "benchmarks/results/latest.svg"')
    assert chart < page.index('--8<-- "benchmarks/results/latest.md:3:"')
