"""The benchmark harness: side-by-side ratios against the raw libraries, as min/min of slices.

A `Comparison` pairs one operation of ours with the raw library doing the same job. Each side
is timed in many short slices (a few ms each, loop count calibrated per side), the two sides
alternating slice by slice, and a side's figure is its fastest slice. On shared machines the
median of a few long rounds swings 0.5-2.5x for identical code; the minimum of many short
interleaved slices is what the code costs when nothing else interferes, and held within 3%.

Every `benchmarks/bench_<area>.py` exposes `comparisons() -> list[Comparison]` (an empty list
when its libraries are missing); `benchmarks/run.py` collects and measures them all.

Write operations as `functools.partial(f, 1)` rather than `lambda: f(1)` where you can: the
harness times one call of the callable, and a lambda's own frame (~20-30 ns) is added to both
sides, pulling fast ratios towards 1.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

__all__ = [
    "Comparison",
    "Result",
    "format_ns",
    "markdown_table",
    "measure",
    "measure_all",
    "text_table",
]

SLICES = 40
SLICE_SECONDS = 0.004
QUICK_SLICES = 6
QUICK_SLICE_SECONDS = 0.001


@dataclass
class Comparison:
    """One row of the table: our operation beside the raw library doing the same job."""

    name: str  # row title, e.g. "mcache hit, positional"
    ours: Callable[[], object]  # one call = one operation (already warmed up / set up)
    theirs: Callable[[], object]  # the raw library doing the same job
    theirs_name: str  # e.g. "cachebox.cached"
    bar: float | None  # max allowed ratio ours/theirs (DESIGN §4), None = informational
    group: str = ""  # e.g. "memory", "disk"
    async_: bool = False  # if True, ours/theirs return awaitables; run in one event loop


@dataclass
class Result:
    """The measured figures of one comparison (nanoseconds per operation, min over slices).

    `unit` is "ns/op" for operations; rows measured otherwise (the import time) put their own
    figures in `ours_ns`/`theirs_ns` and may judge by `limit_ns` (an absolute bar on
    ours - theirs) instead of a ratio.
    """

    comparison: Comparison
    ours_ns: float
    theirs_ns: float
    slices: int
    limit_ns: float | None = None
    error: str = ""

    @property
    def ratio(self) -> float:
        """ours / theirs (inf when theirs measured 0)."""
        if self.theirs_ns <= 0:
            return math.inf
        return self.ours_ns / self.theirs_ns

    @property
    def verdict(self) -> str:
        """PASS / FAIL against the bar, "info" without one, ERROR when it could not run."""
        if self.error:
            return "ERROR"
        if self.limit_ns is not None:
            return "PASS" if self.ours_ns - self.theirs_ns <= self.limit_ns else "FAIL"
        bar = self.comparison.bar
        if bar is None:
            return "info"
        return "PASS" if self.ratio <= bar else "FAIL"


# -- timing one slice ---------------------------------------------------------------------


def _sync_slice(fn: Callable[[], object], n: int) -> float:
    """Seconds for `n` calls of `fn`, garbage collection off (as `timeit` does)."""
    loop = itertools.repeat(None, n)
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        for _ in loop:
            fn()
        return time.perf_counter() - start
    finally:
        if enabled:
            gc.enable()


async def _async_loop(fn: Callable[[], Awaitable[object]], n: int) -> float:
    start = time.perf_counter()
    for _ in itertools.repeat(None, n):
        await fn()
    return time.perf_counter() - start


def _async_slice(
    runner: asyncio.AbstractEventLoop, fn: Callable[[], Awaitable[object]], n: int
) -> float:
    """Seconds for `n` awaited calls of `fn`, timed inside the event loop."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return runner.run_until_complete(_async_loop(fn, n))
    finally:
        if enabled:
            gc.enable()


def _calibrate(time_n: Callable[[int], float], target: float) -> int:
    """The loop count whose slice takes about `target` seconds (at least 1)."""
    n = 1
    while True:
        elapsed = time_n(n)
        if elapsed >= target / 4 or n >= 1 << 30:
            break
        n *= 4 if elapsed < target / 40 else 2
    if elapsed <= 0:
        return n
    return max(1, round(n * target / elapsed))


def measure(
    comparison: Comparison,
    *,
    slices: int = SLICES,
    slice_seconds: float = SLICE_SECONDS,
    loop: asyncio.AbstractEventLoop | None = None,
) -> Result:
    """Time both sides of `comparison` in `slices` interleaved slices; min ns/op of each.

    The two sides alternate which goes first, so drifts (CPU frequency, a neighbour's load)
    touch both alike. Exceptions from either side are caught and reported in `Result.error`.
    """
    own_loop = None
    try:
        if comparison.async_:
            if loop is None:
                loop = own_loop = asyncio.new_event_loop()
            runner = loop

            def time_ours(n: int) -> float:
                return _async_slice(runner, comparison.ours, n)  # type: ignore[arg-type]

            def time_theirs(n: int) -> float:
                return _async_slice(runner, comparison.theirs, n)  # type: ignore[arg-type]

        else:

            def time_ours(n: int) -> float:
                return _sync_slice(comparison.ours, n)

            def time_theirs(n: int) -> float:
                return _sync_slice(comparison.theirs, n)

        n_ours = _calibrate(time_ours, slice_seconds)
        n_theirs = _calibrate(time_theirs, slice_seconds)
        best_ours = best_theirs = math.inf
        for i in range(slices):
            if i % 2:
                best_theirs = min(best_theirs, time_theirs(n_theirs) / n_theirs)
                best_ours = min(best_ours, time_ours(n_ours) / n_ours)
            else:
                best_ours = min(best_ours, time_ours(n_ours) / n_ours)
                best_theirs = min(best_theirs, time_theirs(n_theirs) / n_theirs)
        return Result(comparison, best_ours * 1e9, best_theirs * 1e9, slices)
    except Exception as exc:
        return Result(comparison, math.nan, math.nan, 0, error=f"{type(exc).__name__}: {exc}")
    finally:
        if own_loop is not None:
            own_loop.close()


def measure_all(
    comparisons: Iterable[Comparison],
    *,
    slices: int = SLICES,
    slice_seconds: float = SLICE_SECONDS,
) -> list[Result]:
    """Measure every comparison in order; async ones share one event loop."""
    loop: asyncio.AbstractEventLoop | None = None
    results = []
    try:
        for comparison in comparisons:
            if comparison.async_ and loop is None:
                loop = asyncio.new_event_loop()
            results.append(
                measure(comparison, slices=slices, slice_seconds=slice_seconds, loop=loop)
            )
    finally:
        if loop is not None:
            loop.close()
    return results


# -- tables ---------------------------------------------------------------------------------


def format_ns(ns: float) -> str:
    """A duration in ns as text with a readable unit (ns, µs, ms, s)."""
    if math.isnan(ns):
        return "-"
    for unit, scale in (("ns", 1.0), ("µs", 1e3), ("ms", 1e6)):
        if abs(ns) < scale * 1000:
            return f"{ns / scale:.1f} {unit}" if scale > 1 or abs(ns) < 100 else f"{ns:.0f} ns"
    return f"{ns / 1e9:.2f} s"


HEADER = ("group", "name", "ours", "theirs", "theirs time", "ratio", "bar", "verdict")


def _cells(result: Result) -> tuple[str, ...]:
    comp = result.comparison
    if result.error:
        return (comp.group, comp.name, "-", comp.theirs_name, "-", "-", "-", "ERROR")
    if result.limit_ns is not None:
        ratio = f"+{format_ns(result.ours_ns - result.theirs_ns)}"
        bar = f"≤ +{format_ns(result.limit_ns)}"
    else:
        ratio = f"{result.ratio:.2f}x"
        bar = "-" if comp.bar is None else f"≤ {comp.bar:g}x"
    return (
        comp.group,
        comp.name,
        format_ns(result.ours_ns),
        comp.theirs_name,
        format_ns(result.theirs_ns),
        ratio,
        bar,
        result.verdict,
    )


def text_table(results: list[Result]) -> str:
    """The results as an aligned plain-text table (times per operation)."""
    rows = [HEADER, *(_cells(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER))]
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.extend(f"  {r.comparison.name}: {r.error}" for r in results if r.error)
    return "\n".join(lines)


def markdown_table(results: list[Result]) -> str:
    """The results as a Markdown table (for docs)."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join("---" for _ in HEADER) + "|",
    ]
    for r in results:
        cells = [c.replace("|", "\\|") for c in _cells(r)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
