"""The benchmark harness: side-by-side ratios against the raw libraries, as min/min of slices.

A `Comparison` pairs one operation of ours with the raw library doing the same job. Each side
is timed in many short slices (a few ms each, loop count calibrated per side), the two sides
alternating slice by slice, and a side's figure is its fastest slice. On shared machines the
median of a few long rounds swings 0.5-2.5x for identical code; the minimum of many short
interleaved slices is what the code costs when nothing else interferes, and held within 3%.

Rows that are not timed per operation (files on disk, bytes on disk, whole-process start-up
times) give a `figures` callable instead, returning (ours, theirs) in their `unit`. A row may
be judged by a ratio (`bar`: ours / theirs at most this) or by an absolute margin (`limit`:
ours - theirs at most this, in the row's unit). A row whose feature or server is missing is
`skip`ped with the reason ("n/a" in the table), never an error.

Every `benchmarks/bench_<area>.py` exposes `comparisons(quick=False) -> list[Comparison]` (an
empty list when its libraries are missing); `benchmarks/run.py` collects and measures them all.
Expensive preparation (filling a cache with 100,000 entries) goes into a row's `setup`, which
runs just before that row is measured, so rows left out with `--only` cost nothing; rows that
share a fill share one object that only ever grows.

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
    "format_bytes",
    "format_ns",
    "format_value",
    "legend",
    "markdown_table",
    "measure",
    "measure_all",
    "text_table",
]

SLICES = 40
SLICE_SECONDS = 0.004
QUICK_SLICES = 6
QUICK_SLICE_SECONDS = 0.001

UNITS = ("ns", "files", "bytes")


def _nothing() -> None:
    return None


@dataclass
class Comparison:
    """One row of the table: our operation beside the raw library doing the same job.

    `name` is the short row title shown in the table and the chart; `theirs_name` a short code
    for the other side, explained once by `theirs_doc` in the legend under the table.
    """

    name: str  # short row title, e.g. "mcache hit, keyword"
    ours: Callable[[], object]  # one call = one operation (already warmed up / set up)
    theirs: Callable[[], object]  # the raw library doing the same job
    theirs_name: str  # short code of the other side, e.g. "cb"
    bar: float | None  # max allowed ratio ours/theirs (DESIGN §4), None = informational
    group: str = ""  # e.g. "memory", "disk"
    async_: bool = False  # if True, ours/theirs return awaitables; run in one event loop
    theirs_doc: str = ""  # what `theirs_name` stands for (the legend)
    setup: Callable[[], object] | None = None  # run just before measuring (fills, servers)
    number: int | None = None  # fixed calls per slice on both sides (no calibration)
    figures: Callable[[], tuple[float, float]] | None = None  # untimed row: (ours, theirs)
    unit: str = "ns"  # unit of the figures: "ns" (per operation), "files" or "bytes"
    limit: float | None = None  # max allowed ours - theirs, in `unit` (instead of `bar`)
    skip: str = ""  # why the row is not measured here ("not available", "no server")
    margin: bool = False  # show ours - theirs rather than the ratio (set by a `limit` too)
    repeat: bool = True  # may be measured again later (False: a fill it needs grows after it)

    @staticmethod
    def untimed(
        name: str,
        figures: Callable[[], tuple[float, float]],
        theirs_name: str,
        *,
        unit: str,
        bar: float | None = None,
        limit: float | None = None,
        group: str = "",
        theirs_doc: str = "",
        setup: Callable[[], object] | None = None,
        margin: bool = False,
    ) -> Comparison:
        """A row measured otherwise than per call: `figures()` gives (ours, theirs) in `unit`."""
        return Comparison(
            name,
            _nothing,
            _nothing,
            theirs_name,
            bar,
            group=group,
            theirs_doc=theirs_doc,
            setup=setup,
            figures=figures,
            unit=unit,
            limit=limit,
            margin=margin,
        )

    @staticmethod
    def skipped(name: str, why: str, *, group: str = "", theirs_name: str = "-") -> Comparison:
        """A row that cannot be measured here, shown as "n/a" with the reason."""
        return Comparison(name, _nothing, _nothing, theirs_name, None, group=group, skip=why)


@dataclass
class Result:
    """The measured figures of one comparison: ns per operation (min over slices) or `unit`s."""

    comparison: Comparison
    ours: float
    theirs: float
    slices: int
    error: str = ""
    seconds: float = 0.0  # wall time this row took, its setup included

    @property
    def ratio(self) -> float:
        """ours / theirs (inf when theirs measured 0)."""
        if self.theirs <= 0:
            return math.inf if self.ours > 0 else 1.0
        return self.ours / self.theirs

    @property
    def bar_ratio(self) -> float | None:
        """The bar as a ratio: `bar`, or for a `limit` row (theirs + limit) / theirs."""
        comp = self.comparison
        if comp.limit is not None:
            if self.theirs <= 0 or math.isnan(self.theirs):
                return None
            return (self.theirs + comp.limit) / self.theirs
        return comp.bar

    @property
    def verdict(self) -> str:
        """PASS / FAIL against the bar, "info" without one, "n/a" skipped, ERROR on failure."""
        comp = self.comparison
        if comp.skip:
            return "n/a"
        if self.error:
            return "ERROR"
        if comp.limit is not None:
            return "PASS" if self.ours - self.theirs <= comp.limit else "FAIL"
        if comp.bar is None:
            return "info"
        return "PASS" if self.ratio <= comp.bar else "FAIL"


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
    setup: bool = True,
) -> Result:
    """Time both sides of `comparison` in `slices` interleaved slices; min per operation of each.

    The two sides alternate which goes first, so drifts (CPU frequency, a neighbour's load)
    touch both alike. With `number` set both sides run exactly that many calls per slice (rows
    whose every call changes the cache, such as stores of new keys, then grow both caches
    alike). `setup` runs first (unless `setup=False`: a second pass); an untimed row returns
    its `figures`. Exceptions from either side are caught and reported in `Result.error`; a
    skipped row is not run at all.
    """
    started = time.perf_counter()
    if comparison.skip:
        return Result(comparison, math.nan, math.nan, 0)
    own_loop = None
    try:
        if setup and comparison.setup is not None:
            comparison.setup()
        if comparison.figures is not None:
            ours, theirs = comparison.figures()
            return Result(comparison, ours, theirs, 0, seconds=time.perf_counter() - started)
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

        if comparison.number is not None:
            n_ours = n_theirs = comparison.number
        else:
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
        return Result(
            comparison,
            best_ours * 1e9,
            best_theirs * 1e9,
            slices,
            seconds=time.perf_counter() - started,
        )
    except Exception as exc:
        return Result(
            comparison,
            math.nan,
            math.nan,
            0,
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - started,
        )
    finally:
        if own_loop is not None:
            own_loop.close()


def _merge(first: Result, again: Result) -> Result:
    """Two passes of one row as one: each side's minimum over both."""
    if first.error or again.error:
        return first if first.error else again
    return Result(
        first.comparison,
        min(first.ours, again.ours),
        min(first.theirs, again.theirs),
        first.slices + again.slices,
        seconds=first.seconds + again.seconds,
    )


def measure_all(
    comparisons: Iterable[Comparison],
    *,
    slices: int = SLICES,
    slice_seconds: float = SLICE_SECONDS,
    passes: int = 1,
    gap: float = 2.0,
    report: Callable[[Result, int], object] | None = None,
) -> list[Result]:
    """Measure every comparison in order (async ones share one event loop); `report` each.

    With `passes` > 1 every timed row is measured again and each side keeps its minimum over
    the passes: on a shared machine a burst of load can cover one whole row (tenths of a
    second) and inflate one side, but rarely the same row twice. Rows that can be measured
    again as they were (`repeat`) get their next pass after all the other rows, minutes
    later; the others (a fill they need grows after them) right away, after a pause of `gap`
    seconds. `report(result, pass_number)` is called after each measurement.
    """
    loop: asyncio.AbstractEventLoop | None = None
    results = []

    def timed(result: Result) -> bool:
        comp = result.comparison
        return comp.figures is None and not comp.skip and not result.error

    try:
        for comparison in comparisons:
            if comparison.async_ and loop is None:
                loop = asyncio.new_event_loop()
            result = measure(comparison, slices=slices, slice_seconds=slice_seconds, loop=loop)
            if report is not None:
                report(result, 1)
            for number in range(2, passes + 1) if not comparison.repeat else ():
                if not timed(result):
                    break
                time.sleep(gap)
                again = measure(
                    comparison, slices=slices, slice_seconds=slice_seconds, loop=loop, setup=False
                )
                result = _merge(result, again)
                if report is not None:
                    report(result, number)
            results.append(result)
        for number in range(2, passes + 1):
            for i, first in enumerate(results):
                if not first.comparison.repeat or not timed(first):
                    continue
                again = measure(
                    first.comparison,
                    slices=slices,
                    slice_seconds=slice_seconds,
                    loop=loop,
                    setup=False,
                )
                results[i] = _merge(first, again)
                if report is not None:
                    report(results[i], number)
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


def format_bytes(n: float) -> str:
    """A size in bytes as text (B, kB, MB, GB; powers of 1000)."""
    if math.isnan(n):
        return "-"
    for unit, scale in (("B", 1.0), ("kB", 1e3), ("MB", 1e6)):
        if abs(n) < scale * 1000:
            return f"{n:.0f} B" if scale == 1 else f"{n / scale:.1f} {unit}"
    return f"{n / 1e9:.2f} GB"


def format_value(value: float, unit: str) -> str:
    """A figure in its row's unit as text."""
    if math.isnan(value):
        return "-"
    if unit == "files":
        return f"{value:,.0f}"
    if unit == "bytes":
        return format_bytes(value)
    return format_ns(value)


def _signed(value: float, unit: str) -> str:
    text = format_value(abs(value), unit)
    return ("-" if value < 0 else "+") + text


HEADER = ("row", "vs", "ours", "theirs", "ratio", "bar", "verdict")


def cells(result: Result) -> tuple[str, ...]:
    """The table cells of one result, in `HEADER` order."""
    comp = result.comparison
    if comp.skip:
        return (comp.name, comp.theirs_name, "-", "-", "-", "-", "n/a")
    if result.error:
        return (comp.name, comp.theirs_name, "-", "-", "-", "-", "ERROR")
    unit = comp.unit
    if comp.limit is not None or comp.margin:
        ratio = _signed(result.ours - result.theirs, unit)
        bar = "-" if comp.limit is None else f"≤ +{format_value(comp.limit, unit)}"
    else:
        ratio = f"{result.ratio:.2f}x"
        bar = "-" if comp.bar is None else f"≤ {comp.bar:g}x"
    return (
        comp.name,
        comp.theirs_name,
        format_value(result.ours, unit),
        format_value(result.theirs, unit),
        ratio,
        bar,
        result.verdict,
    )


def legend(results: list[Result]) -> list[tuple[str, str]]:
    """(code, description) of every `vs` code in `results`, in order of first use."""
    seen: dict[str, str] = {}
    for r in results:
        comp = r.comparison
        if comp.theirs_name not in seen and comp.theirs_doc:
            seen[comp.theirs_name] = comp.theirs_doc
    return list(seen.items())


def notes(results: list[Result]) -> list[str]:
    """One line per row that was skipped or failed to run: its name and why."""
    out = []
    for r in results:
        if r.comparison.skip:
            out.append(f"{r.comparison.name}: n/a, {r.comparison.skip}")
        elif r.error:
            out.append(f"{r.comparison.name}: ERROR, {r.error}")
    return out


def text_table(results: list[Result]) -> str:
    """The results as an aligned plain-text table, then the legend and the notes."""
    rows = [("group", *HEADER), *((r.comparison.group, *cells(r)) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    entries = legend(results)
    if entries:
        lines.append("")
        lines.extend(f"  {code}: {doc}" for code, doc in entries)
    extra = notes(results)
    if extra:
        lines.append("")
        lines.extend(f"  {line}" for line in extra)
    return "\n".join(lines)


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(results: list[Result]) -> str:
    """The results as a Markdown table (for docs), then the legend of `vs` and the notes."""
    lines = [
        "| " + " | ".join(HEADER) + " |",
        "|" + "|".join(("---", "---", "--:", "--:", "--:", "--:", "---")) + "|",
    ]
    for r in results:
        row = list(cells(r))
        row[1] = f"`{row[1]}`" if row[1] != "-" else row[1]
        if row[-1] == "FAIL":
            row[-1] = "**FAIL**"
        lines.append("| " + " | ".join(_md(c) for c in row) + " |")
    entries = legend(results)
    if entries:
        lines.append("")
        lines.append("`vs`, the other side of each row:")
        lines.append("")
        lines.extend(f"- `{code}`: {_md(doc)}" for code, doc in entries)
    extra = notes(results)
    if extra:
        lines.append("")
        lines.append("Rows not measured:")
        lines.append("")
        lines.extend(f"- {_md(line)}" for line in extra)
    return "\n".join(lines)
