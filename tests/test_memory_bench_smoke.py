"""The benchmark harness runs: trivial comparisons, untimed rows, the chart, and run.py --quick.

No timing is asserted (machines are noisy); only that figures come out, that tables and the
chart render, and that a run measures in a user's environment (no TWAT_CACHE_* variable)."""

from __future__ import annotations

import asyncio
import functools
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helpers import python

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import chart  # noqa: E402
import harness  # noqa: E402
import run  # noqa: E402


def test_one_trivial_comparison() -> None:
    comparison = harness.Comparison(
        name="len vs bool",
        ours=functools.partial(len, "abc"),
        theirs=functools.partial(bool, 1),
        theirs_name="bool",
        bar=1e9,
        group="smoke",
        theirs_doc="the builtin bool",
    )
    [result] = harness.measure_all([comparison], slices=3, slice_seconds=0.0005)
    assert result.error == ""
    assert result.ours > 0
    assert result.theirs > 0
    assert math.isfinite(result.ratio)
    assert result.verdict == "PASS"
    text = harness.text_table([result])
    assert "len vs bool" in text
    assert "PASS" in text
    table = harness.markdown_table([result])
    assert table.count("|") > 8
    assert "- `bool`: the builtin bool" in table


def test_async_comparison_and_errors_are_reported() -> None:
    async def nothing() -> None:
        await asyncio.sleep(0)

    def broken() -> None:
        raise RuntimeError("broken side")

    rows = [
        harness.Comparison("async", nothing, nothing, "same", None, "smoke", async_=True),
        harness.Comparison("broken", broken, broken, "same", 1.0, "smoke"),
    ]
    ok, bad = harness.measure_all(rows, slices=2, slice_seconds=0.0005)
    assert ok.verdict == "info"
    assert ok.ours > 0
    assert bad.verdict == "ERROR"
    assert "broken side" in bad.error
    assert "ERROR" in harness.text_table([ok, bad])


def test_setup_fixed_number_untimed_and_skipped_rows() -> None:
    calls: list[int] = []
    grown: list[str] = []
    timed = harness.Comparison(
        "stores",
        lambda: calls.append(1),
        lambda: calls.append(2),
        "raw",
        2.0,
        "smoke",
        setup=lambda: grown.append("timed"),
        number=3,
    )
    files = harness.Comparison.untimed(
        "files", lambda: (1250.0, 3.0), "raw", unit="files", limit=1100, group="smoke"
    )
    size = harness.Comparison.untimed(
        "disk use", lambda: (2.5e6, 2e6), "raw", unit="bytes", bar=1.2, group="smoke"
    )
    start = harness.Comparison.untimed(
        "start", lambda: (9e6, 7e6), "bare", unit="ns", margin=True, group="smoke"
    )
    gone = harness.Comparison.skipped("front hit", "not available", group="smoke")
    results = harness.measure_all([timed, files, size, start, gone], slices=4)
    assert grown == ["timed"]
    assert calls.count(1) == calls.count(2) == 12  # same number of calls on both sides
    cells = {r.comparison.name: harness.cells(r) for r in results}
    assert cells["files"][2:] == ("1,250", "3", "+1,247", "≤ +1,100", "FAIL")
    assert cells["disk use"][2:] == ("2.5 MB", "2.0 MB", "1.25x", "≤ 1.2x", "FAIL")
    assert cells["start"][4:] == ("+2.0 ms", "-", "info")
    assert cells["front hit"][-1] == "n/a"
    assert results[1].bar_ratio == pytest.approx(1103 / 3)
    table = harness.markdown_table(results)
    assert "**FAIL**" in table
    assert "front hit: n/a, not available" in table


def test_second_pass_at_once_or_after_all_rows() -> None:
    setups: list[str] = []
    again = harness.Comparison(
        "again", int, int, "int", None, "smoke", setup=lambda: setups.append("again")
    )
    once = harness.Comparison(
        "once", int, int, "int", None, "smoke", setup=lambda: setups.append("once"), repeat=False
    )
    passes: list[tuple[str, int]] = []
    results = harness.measure_all(
        [again, once],
        slices=2,
        slice_seconds=0.0005,
        passes=2,
        gap=0.0,
        report=lambda r, n: passes.append((r.comparison.name, n)),
    )
    assert setups == ["again", "once"]  # a second pass never runs a setup again
    # A row a later fill would change is measured again at once, the others after all rows.
    assert passes == [("again", 1), ("once", 1), ("once", 2), ("again", 2)]
    assert [r.slices for r in results] == [4, 4]


@pytest.mark.parametrize("ns", [0.5, 12.3, 4567.0, 8.9e6, 3e9, math.nan])
def test_format_ns(ns: float) -> None:
    assert harness.format_ns(ns)


def test_chart_is_one_svg_block() -> None:
    rows = [
        harness.Comparison.untimed("fast", lambda: (1.0, 10.0), "raw", unit="ns", bar=1.0),
        harness.Comparison.untimed("slow <&>", lambda: (30.0, 1.0), "raw", unit="ns", bar=3.0),
        harness.Comparison.untimed("start", lambda: (9e6, 7e6), "bare", unit="ns", limit=3e7),
        harness.Comparison.skipped("front hit", "not available", group="disk"),
    ]
    svg = chart.svg_chart(harness.measure_all(rows), "smoke")
    assert "\n\n" not in svg  # Markdown keeps it as one raw HTML block
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = "".join(root.itertext())
    assert "slow <&>" in text
    assert "30.00x FAIL" in text
    assert "0.10x PASS" in text
    assert "n/a: not available" in text
    assert chart.PASS in svg
    assert chart.FAIL in svg


def test_user_environment_has_no_twat_cache_variables(tmp_path: Path) -> None:
    base = {
        "TWAT_CACHE_DIR": "/somewhere",
        "TWAT_CACHE_SECRET": "s",
        "TWAT_CACHE_REDIS_URL": "redis://x",
        "XDG_CACHE_HOME": "/elsewhere",
        "PATH": "/usr/bin",
    }
    env = run.user_environment(tmp_path, base)
    assert not [k for k in env if k.startswith("TWAT_CACHE_")]
    assert env["HOME"] == str(tmp_path)
    assert env["XDG_CACHE_HOME"] == str(tmp_path / ".cache")
    assert env["XDG_CONFIG_HOME"] == str(tmp_path / ".config")
    assert env["PATH"] == "/usr/bin"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_run_quick(tmp_path: Path) -> None:
    """A few rows of every kind through run.py --quick: timed, a fill, a count, start-up."""
    out = tmp_path / "results" / "latest.md"
    cache_dir = tmp_path / "twat-cache-dir"
    cache_dir.mkdir()
    env = {"TWAT_CACHE_DIR": str(cache_dir), "TWAT_CACHE_SECRET": "not-for-bench"}
    only = ["mcache hit, keyword", "bcache files", "bcache hit @1k", "import twat_cache"]
    proc = python(
        str(BENCH / "run.py"),
        "--quick",
        *(arg for text in only for arg in ("--only", text)),
        "--output",
        str(out),
        env=env,
        timeout=280,
    )
    assert "ratio" in proc.stdout
    assert "mcache hit, keyword" in proc.stdout
    assert "import twat_cache" in proc.stdout
    assert "ERROR" not in proc.stdout, proc.stdout
    assert "no TWAT_CACHE_* variables" in proc.stdout
    assert list(cache_dir.iterdir()) == []  # the run ignored TWAT_CACHE_DIR
    if "diskcache" in proc.stdout:  # the backends line lists it when it is installed
        assert "bcache files @200" in proc.stdout
        assert "bcache hit @1k" in proc.stdout
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Benchmark results\n\n")
    assert "| row | vs |" in text
    svg = out.with_suffix(".svg").read_text(encoding="utf-8")
    assert ET.fromstring(svg).tag == "{http://www.w3.org/2000/svg}svg"
