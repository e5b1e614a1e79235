"""The benchmark chart: one bar per row, ours / theirs on a log scale, the bar line per row.

Written by hand as SVG (no plotting library to install): a bar grows from 1x (as fast as the
raw library) to the row's ratio, coloured by its verdict, and a vertical line marks the row's
bar from DESIGN §4. Rows judged by an absolute margin (import milliseconds, extra files) are
drawn the same way: the ratio is ours / theirs and the line sits at (theirs + margin) / theirs,
so a bar that ends left of its line passes. The figure in the right column is the one of the
table (a ratio, or the margin such as "+6.6 ms").

Text is drawn in `currentColor`, so the chart follows the page's colour scheme when the docs
inline it (light and dark), and is black on white when the file is opened on its own. The file
has no blank line, so Markdown keeps it as one raw HTML block when the docs include it.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

from harness import Result, cells

__all__ = ["svg_chart"]

PASS = "#2da44e"
FAIL = "#cf222e"
INFO = "#8c959f"

WIDTH = 880
LABEL_W = 320  # row name and `vs` code
VALUE_W = 136  # the figure and the verdict, right of the plot
ROW_H = 20
GROUP_H = 24
TOP = 64
BOTTOM = 16


def _span(results: list[Result]) -> tuple[int, int]:
    """The decades the axis shows: every ratio and every bar line, and 1x."""
    values = [1.0]
    for r in results:
        if r.comparison.skip or r.error:
            continue
        for v in (r.ratio, r.bar_ratio):
            if v is not None and math.isfinite(v) and v > 0:
                values.append(v)
    lo = max(-4, math.floor(math.log10(min(values))))
    hi = min(6, math.ceil(math.log10(max(values))))
    if hi - lo < 2:
        hi = lo + 2
    return lo, hi


def _decade_label(exp: int) -> str:
    return f"{10.0**exp:g}x" if exp < 0 else f"{10**exp:,}x"


def svg_chart(results: list[Result], title: str = "") -> str:
    """The chart of `results` as one SVG document (a string without blank lines)."""
    lo, hi = _span(results)
    plot_x0 = LABEL_W
    plot_x1 = WIDTH - VALUE_W

    def x(ratio: float) -> float:
        ratio = min(max(ratio, 10.0**lo), 10.0**hi)
        return plot_x0 + (math.log10(ratio) - lo) / (hi - lo) * (plot_x1 - plot_x0)

    groups = []
    for r in results:
        if not groups or groups[-1] != r.comparison.group:
            groups.append(r.comparison.group)
    height = TOP + len(results) * ROW_H + len(groups) * GROUP_H + BOTTOM

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" style="max-width:100%;height:auto" '
        'font-family="-apple-system,BlinkMacSystemFont,Segoe UI,Helvetica,Arial,sans-serif" '
        'font-size="12" role="img" aria-label="twat-cache benchmark ratios">',
        f"<title>{escape(title or 'twat-cache / raw library, per row')}</title>",
    ]
    # Heading and key.
    out.append(
        '<g fill="currentColor">'
        f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>'
        '<text x="0" y="34">ours / theirs, log scale (left of 1x: faster than the raw '
        "library); vertical line: the row's bar</text>"
        "</g>"
    )
    key_x = plot_x1 - 150
    for i, (label, colour) in enumerate((("PASS", PASS), ("FAIL", FAIL), ("info", INFO))):
        kx = key_x + i * 60
        out.append(
            f'<rect x="{kx}" y="6" width="12" height="12" fill="{colour}"/>'
            f'<text x="{kx + 16}" y="16" fill="currentColor">{label}</text>'
        )
    # Decade grid and labels.
    body_top = TOP - 6
    body_bottom = height - BOTTOM + 4
    grid = []
    for exp in range(lo, hi + 1):
        gx = x(10.0**exp)
        strong = exp == 0
        grid.append(
            f'<line x1="{gx:.1f}" y1="{body_top}" x2="{gx:.1f}" y2="{body_bottom}" '
            f'stroke="currentColor" stroke-opacity="{0.55 if strong else 0.15}" '
            f'stroke-width="{1.5 if strong else 1}"/>'
            f'<text x="{gx:.1f}" y="{TOP - 12}" text-anchor="middle" fill="currentColor" '
            f'font-size="11">{_decade_label(exp)}</text>'
        )
        if exp < hi:
            for m in (2, 5):
                mx = x(m * 10.0**exp)
                grid.append(
                    f'<line x1="{mx:.1f}" y1="{body_top}" x2="{mx:.1f}" y2="{body_bottom}" '
                    'stroke="currentColor" stroke-opacity="0.06"/>'
                )
    out.extend(grid)
    # Rows.
    y = TOP
    group = None
    one = x(1.0)
    for r in results:
        comp = r.comparison
        if comp.group != group:
            group = comp.group
            out.append(
                f'<text x="0" y="{y + 16}" font-weight="bold" fill="currentColor">'
                f"{escape(group or '')}</text>"
            )
            y += GROUP_H
        row = cells(r)
        mid = y + ROW_H / 2
        out.append(
            f'<text x="8" y="{mid + 4:.1f}" fill="currentColor">{escape(comp.name)}'
            f'<tspan dx="5" fill-opacity="0.6">vs {escape(comp.theirs_name)}</tspan></text>'
        )
        verdict = r.verdict
        if verdict in ("n/a", "ERROR"):
            why = comp.skip if verdict == "n/a" else r.error
            text = f"{verdict}: {why}" if why else verdict
            if len(text) > 70:
                text = text[:67] + "..."
            colour = FAIL if verdict == "ERROR" else "currentColor"
            out.append(
                f'<text x="{plot_x0 + 6}" y="{mid + 4:.1f}" fill="{colour}" '
                f'fill-opacity="0.75" font-style="italic">{escape(text)}</text>'
            )
            y += ROW_H
            continue
        colour = {"PASS": PASS, "FAIL": FAIL}.get(verdict, INFO)
        ratio = r.ratio
        if math.isfinite(ratio) and ratio > 0:
            end = x(ratio)
            left, right = min(one, end), max(one, end)
            out.append(
                f'<rect x="{left:.1f}" y="{y + 4}" width="{max(right - left, 1.5):.1f}" '
                f'height="{ROW_H - 8}" fill="{colour}"/>'
            )
        bar = r.bar_ratio
        if bar is not None and math.isfinite(bar) and bar > 0:
            bx = x(bar)
            out.append(
                f'<line x1="{bx:.1f}" y1="{y + 1}" x2="{bx:.1f}" y2="{y + ROW_H - 1}" '
                'stroke="currentColor" stroke-width="2.5"/>'
            )
        figure = f"{row[4]} {verdict}" if verdict != "info" else row[4]
        out.append(
            f'<text x="{plot_x1 + 8}" y="{mid + 4:.1f}" fill="{colour}" '
            f'font-weight="{"bold" if verdict == "FAIL" else "normal"}">{escape(figure)}</text>'
        )
        y += ROW_H
    out.append("</svg>")
    return "\n".join(out) + "\n"
