"""Run every benchmark of twat-cache and print the table of ratios against the raw libraries.

    python benchmarks/run.py [--quick] [--only TEXT] [--no-import] [--strict] [--output PATH]

Collects `comparisons()` from every `benchmarks/bench_*.py`, measures each with the harness
(min/min over interleaved slices), measures `import twat_cache` against a bare interpreter
start and the first decoration, prints the table and writes it as Markdown to
`benchmarks/results/latest.md` (for the docs). `--strict` exits 1 when a bar is missed.
"""

from __future__ import annotations

import argparse
import importlib.util
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from harness import (  # noqa: E402
    QUICK_SLICE_SECONDS,
    QUICK_SLICES,
    SLICE_SECONDS,
    SLICES,
    Comparison,
    Result,
    markdown_table,
    measure_all,
    text_table,
)

IMPORT_BAR_MS = 30.0
IMPORT_RUNS = 15
QUICK_IMPORT_RUNS = 3

FIRST_DECORATION = """
import time
t0 = time.perf_counter()
{setup}
def f(x):
    return x
g = {decorate}(f)
g(1)
print(time.perf_counter() - t0)
"""


def bench_modules() -> list[Path]:
    """Every benchmarks/bench_*.py, sorted by name."""
    return sorted(HERE.glob("bench_*.py"))


def load(path: Path) -> ModuleType:
    """Import one bench module by path (the benchmarks folder is not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def collect(only: str | None) -> tuple[list[Comparison], list[str]]:
    """All comparisons of all bench modules (filtered by `only`), and the modules' errors."""
    comparisons: list[Comparison] = []
    errors: list[str] = []
    for path in bench_modules():
        try:
            found = list(load(path).comparisons())
        except Exception:
            errors.append(f"{path.name}: {traceback.format_exc(limit=3)}")
            continue
        for comparison in found:
            text = f"{comparison.group} {comparison.name} {comparison.theirs_name}".lower()
            if only is None or only.lower() in text:
                comparisons.append(comparison)
    return comparisons, errors


def _run_seconds(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    return time.perf_counter() - start


def _printed_seconds(code: str, env: dict[str, str]) -> float:
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True
    ).stdout
    return float(out.strip().splitlines()[-1])


def _noop() -> None:
    return None


def import_rows(runs: int) -> list[Result]:
    """`import twat_cache` vs `pass` in fresh interpreters, and the first decoration's cost.

    Whole process times (spawn to exit), interleaved, minimum of `runs` each; the difference
    is what importing twat-cache adds to a program's start (bar: 30 ms, DESIGN §4).
    """
    env = dict(os.environ)
    scratch = tempfile.mkdtemp(prefix="twat-cache-bench-")
    env.setdefault("TWAT_CACHE_DIR", scratch)
    # An installed wheel has bytecode; a checkout under PYTHONDONTWRITEBYTECODE would be
    # compiled on every start. Bytecode goes to a scratch prefix, never into the tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(scratch, "pycache")
    _run_seconds("import twat_cache; twat_cache.mcache(len)", env)  # warm-up: writes bytecode
    _run_seconds("import functools", env)
    best_import = best_bare = math.inf
    for _ in range(runs):
        best_bare = min(best_bare, _run_seconds("pass", env))
        best_import = min(best_import, _run_seconds("import twat_cache", env))
    import_row = Result(
        Comparison(
            name="import twat_cache (core + installed plugins)",
            ours=_noop,
            theirs=_noop,
            theirs_name="python -c pass",
            bar=None,
            group="import",
        ),
        best_import * 1e9,
        best_bare * 1e9,
        runs,
        limit_ns=IMPORT_BAR_MS * 1e6,
    )
    ours_code = FIRST_DECORATION.format(setup="from twat_cache import mcache", decorate="mcache")
    theirs_code = FIRST_DECORATION.format(setup="import functools", decorate="functools.cache")
    best_ours = best_theirs = math.inf
    for _ in range(runs):
        best_ours = min(best_ours, _printed_seconds(ours_code, env))
        best_theirs = min(best_theirs, _printed_seconds(theirs_code, env))
    first_row = Result(
        Comparison(
            name="import + first @mcache decoration and call",
            ours=_noop,
            theirs=_noop,
            theirs_name="import + functools.cache",
            bar=None,
            group="import",
        ),
        best_ours * 1e9,
        best_theirs * 1e9,
        runs,
    )
    shutil.rmtree(scratch, ignore_errors=True)
    return [import_row, first_row]


def environment() -> str:
    """One line on what was measured where."""
    import twat_cache

    info = twat_cache.available_backends()
    names = ", ".join(sorted(n for n, b in info["backends"].items() if b["usable"]))
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}; twat-cache {twat_cache.__version__}"
        + (f"; backends: {names}" if names else "")
    )


def main(argv: list[str] | None = None) -> int:
    """Measure, print, write the Markdown table; exit 1 on a missed bar with --strict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few, short slices (smoke test)")
    parser.add_argument("--only", help="only rows whose group/name/library contains this")
    parser.add_argument("--no-import", action="store_true", help="skip the import-time rows")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a bar is missed")
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "results" / "latest.md",
        help="Markdown table to write ('-' for none)",
    )
    args = parser.parse_args(argv)

    slices = QUICK_SLICES if args.quick else SLICES
    slice_seconds = QUICK_SLICE_SECONDS if args.quick else SLICE_SECONDS
    comparisons, errors = collect(args.only)
    results = measure_all(comparisons, slices=slices, slice_seconds=slice_seconds)
    if not args.no_import and args.only is None:
        results.extend(import_rows(QUICK_IMPORT_RUNS if args.quick else IMPORT_RUNS))

    try:
        env_line = environment()
    except Exception as exc:
        env_line = f"(environment unknown: {exc})"
    method = (
        f"min/min over {slices} interleaved slices of ~{slice_seconds * 1e3:g} ms per side; "
        "times are per operation"
    )
    sys.stdout.write(f"{env_line}\n{method}\n\n{text_table(results)}\n")
    for error in errors:
        sys.stdout.write(f"\nbench module failed: {error}\n")
    if str(args.output) != "-":
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(
            "# Benchmark results\n\n"
            f"{env_line}  \n{method}.\n\n"
            "`ratio` is ours / theirs (lower is better); `bar` is the limit from DESIGN §4.\n"
            "Import rows are whole-process times of fresh interpreters (bytecode cached), "
            f"minimum of {QUICK_IMPORT_RUNS if args.quick else IMPORT_RUNS} runs each.\n\n"
            f"{markdown_table(results)}\n",
            encoding="utf-8",
        )
    failed = any(r.verdict in ("FAIL", "ERROR") for r in results) or bool(errors)
    return 1 if args.strict and failed else 0


if __name__ == "__main__":
    sys.exit(main())
