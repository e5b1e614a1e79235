"""The benchmark harness runs: one trivial comparison, an async one, and run.py --quick.

No timing is asserted (machines are noisy); only that figures come out and tables render."""

from __future__ import annotations

import asyncio
import functools
import math
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
sys.path.insert(0, str(BENCH))

import harness  # noqa: E402


def test_one_trivial_comparison() -> None:
    comparison = harness.Comparison(
        name="len vs bool",
        ours=functools.partial(len, "abc"),
        theirs=functools.partial(bool, 1),
        theirs_name="bool",
        bar=1e9,
        group="smoke",
    )
    [result] = harness.measure_all([comparison], slices=3, slice_seconds=0.0005)
    assert result.error == ""
    assert result.ours_ns > 0
    assert result.theirs_ns > 0
    assert math.isfinite(result.ratio)
    assert result.verdict == "PASS"
    text = harness.text_table([result])
    assert "len vs bool" in text
    assert "PASS" in text
    assert harness.markdown_table([result]).count("|") > 8


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
    assert ok.ours_ns > 0
    assert bad.verdict == "ERROR"
    assert "broken side" in bad.error
    assert "ERROR" in harness.text_table([ok, bad])


@pytest.mark.parametrize("ns", [0.5, 12.3, 4567.0, 8.9e6, 3e9, math.nan])
def test_format_ns(ns: float) -> None:
    assert harness.format_ns(ns)


def test_run_quick(tmp_path: Path) -> None:
    out = tmp_path / "latest.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--quick",
            "--only",
            "mcache",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "ratio" in proc.stdout
    assert "@mcache" in proc.stdout
    assert out.read_text(encoding="utf-8").startswith("# Benchmark results")
