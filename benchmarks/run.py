"""Run every benchmark of twat-cache and print the table of ratios against the raw libraries.

    python benchmarks/run.py [--quick] [--only TEXT] [--no-import] [--strict] [--output PATH]

Measures in the environment a user has (DESIGN §4): the run re-starts itself with HOME set to
a fresh temporary folder (XDG_CACHE_HOME, XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_STATE_HOME
inside it) and with every `TWAT_CACHE_*` variable removed, so each cache sits in its default
place and the secret is created where a user's would be; the folder is removed at the end.

Collects `comparisons(quick)` from every `benchmarks/bench_*.py`, measures each with the
harness (min/min over interleaved slices), prints the table and writes it as Markdown to
`benchmarks/results/latest.md` and as a chart to `latest.svg` beside it (for the docs).
`--quick` takes few short slices and small fills (a smoke test, not a measurement).
`--strict` exits 1 when a bar is missed or a row fails to run.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
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
    cells,
    markdown_table,
    measure_all,
    text_table,
)

#: The order of the groups in the table (modules not listed come after, by name).
ORDER = ("memory", "disk", "file", "async", "network", "import")
#: Timed rows measured twice, each side keeping its minimum (see harness.measure_all).
PASSES = 2
#: Set in the re-started process: the temporary HOME it measures in.
PREPARED = "--prepared-home"
XDG = {
    "XDG_CACHE_HOME": ".cache",
    "XDG_CONFIG_HOME": ".config",
    "XDG_DATA_HOME": os.path.join(".local", "share"),
    "XDG_STATE_HOME": os.path.join(".local", "state"),
}


def user_environment(home: Path, base: dict[str, str]) -> dict[str, str]:
    """`base` as a user has it: HOME and the XDG folders under `home`, no TWAT_CACHE_* at all."""
    env = {k: v for k, v in base.items() if not k.startswith("TWAT_CACHE_")}
    env["HOME"] = str(home)
    for name, sub in XDG.items():
        env[name] = str(home / sub)
    return env


def bench_modules() -> list[Path]:
    """Every benchmarks/bench_*.py, in the table's group order."""

    def rank(path: Path) -> tuple[int, str]:
        group = path.stem.removeprefix("bench_")
        return (ORDER.index(group) if group in ORDER else len(ORDER), group)

    return sorted(HERE.glob("bench_*.py"), key=rank)


def load(path: Path) -> ModuleType:
    """Import one bench module by path (the benchmarks folder is not a package)."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def collect(
    only: list[str] | None, *, quick: bool = False, no_import: bool = False
) -> tuple[list[Comparison], list[str]]:
    """All comparisons of all bench modules, and the modules' errors.

    With `only`, a row is kept when its group, name or `vs` code contains one of the texts.
    """
    comparisons: list[Comparison] = []
    errors: list[str] = []
    for path in bench_modules():
        if no_import and path.stem == "bench_import":
            continue
        try:
            module = load(path)
            takes_quick = "quick" in inspect.signature(module.comparisons).parameters
            found = list(module.comparisons(quick=quick) if takes_quick else module.comparisons())
        except Exception:
            errors.append(f"{path.name}: {traceback.format_exc(limit=3)}")
            continue
        for comparison in found:
            text = f"{comparison.group} {comparison.name} {comparison.theirs_name}".lower()
            if not only or any(o.lower() in text for o in only):
                comparisons.append(comparison)
    return comparisons, errors


def environment() -> str:
    """One line on what was measured where."""
    import twat_cache

    info = twat_cache.available_backends()
    names = ", ".join(sorted(n for n, b in info["backends"].items() if b["usable"]))
    return (
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; "
        f"twat-cache {twat_cache.__version__}" + (f"; backends: {names}" if names else "")
    )


def _load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:  # not available on this platform
        return "?"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{seconds:.1f} s"


def _progress(total: int) -> Callable[[Result, int], None]:
    done = [0]

    def report(result: Result, number: int) -> None:
        row = cells(result)
        if number == 1:
            done[0] += 1
            where = f"[{done[0]:>2}/{total}]"
        else:
            where = f"[pass {number}]"
        sys.stderr.write(
            f"{where} {result.comparison.group:<8} {row[0]} vs {row[1]}: "
            f"{row[4]} {row[6]} ({result.seconds:.1f} s)\n"
        )
        sys.stderr.flush()

    return report


def _markdown(results: list[Result], env_line: str, method: str, took: float) -> str:
    return (
        "# Benchmark results\n\n"
        f"{env_line}.  \n"
        "Measured as a user runs: a fresh temporary HOME (the XDG folders inside it), no "
        "`TWAT_CACHE_*` variable, every cache in its default place.  \n"
        f"{method}; the measurements took {_duration(took)}.\n\n"
        "`ratio` is ours / theirs (lower is better; `+` rows: ours minus theirs); `bar` is the "
        "limit from DESIGN §4 (`-`: informational). `@N`: the cache holds N entries; `files` "
        "and `disk use` are counted on disk, not timed. Start-up rows (`import`) run fresh "
        "interpreters, minimum of several interleaved runs: the barred ones time the whole "
        "process, each script against the one of the row before; the `in-process` ones time a "
        "phase inside the same scripts.\n\n"
        f"{markdown_table(results)}\n"
    )


def measure_here(args: argparse.Namespace) -> int:
    """Measure, print, write the Markdown table and the chart (in the prepared environment)."""
    from chart import svg_chart

    started = time.perf_counter()
    load_before = _load()
    leaked = sorted(k for k in os.environ if k.startswith("TWAT_CACHE_"))
    if leaked:  # the whole point of the re-start: never measure with these set
        raise SystemExit(f"run.py: {', '.join(leaked)} set in the measuring process")
    home = Path(os.environ["HOME"])
    tmp = home / "tmp"
    tmp.mkdir(exist_ok=True)
    tempfile.tempdir = str(tmp)  # the raw libraries' caches: same filesystem as ours

    slices = QUICK_SLICES if args.quick else SLICES
    slice_seconds = QUICK_SLICE_SECONDS if args.quick else SLICE_SECONDS
    comparisons, errors = collect(args.only, quick=args.quick, no_import=args.no_import)
    passes = 1 if args.quick else PASSES
    results = measure_all(
        comparisons,
        slices=slices,
        slice_seconds=slice_seconds,
        passes=passes,
        report=_progress(len(comparisons)),
    )
    took = time.perf_counter() - started
    try:
        env_line = environment()
    except Exception as exc:
        env_line = f"(environment unknown: {exc})"
    env_line += f"; load average {load_before} at the start, {_load()} at the end"
    method = f"min/min over {slices} interleaved slices of ~{slice_seconds * 1e3:g} ms per side"
    if passes > 1:
        method += f", in {passes} passes (minutes apart, or 2 s for rows a later fill changes)"
    method += ", times per operation"
    if args.quick:
        method += " (--quick: a smoke test, not a measurement)"
    sys.stdout.write(
        f"{env_line}\n{method}\nHOME={home} (temporary), no TWAT_CACHE_* variables; "
        f"took {_duration(took)}\n\n{text_table(results)}\n"
    )
    for error in errors:
        sys.stdout.write(f"\nbench module failed: {error}\n")
    if str(args.output) != "-":
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(_markdown(results, env_line, method, took), encoding="utf-8")
        title = f"twat-cache vs the raw libraries ({'--quick' if args.quick else 'nox -s bench'})"
        args.output.with_suffix(".svg").write_text(svg_chart(results, title), encoding="utf-8")
        sys.stdout.write(f"\nwrote {args.output} and {args.output.with_suffix('.svg')}\n")
    failed = any(r.verdict in ("FAIL", "ERROR") for r in results) or bool(errors)
    return 1 if args.strict and failed else 0


def main(argv: list[str] | None = None) -> int:
    """Re-start in a user's environment (temporary HOME, no TWAT_CACHE_*), then measure."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few, short slices (smoke test)")
    parser.add_argument(
        "--only",
        action="append",
        help="only rows whose group, name or vs code contains this (repeatable)",
    )
    parser.add_argument("--no-import", action="store_true", help="skip the start-up rows")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a bar is missed")
    parser.add_argument(
        "--output",
        type=Path,
        default=HERE / "results" / "latest.md",
        help="Markdown table to write, the chart beside it as .svg ('-' for none)",
    )
    parser.add_argument(PREPARED, help=argparse.SUPPRESS)
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    if args.output != Path("-"):
        args.output = args.output.resolve()
    if args.prepared_home:
        return measure_here(args)
    home = Path(tempfile.mkdtemp(prefix="twat-cache-bench-home-"))
    try:
        for sub in XDG.values():
            (home / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        env = user_environment(home, dict(os.environ))
        forwarded = [a for a in raw if not a.startswith(PREPARED)]
        if str(args.output) != "-":
            forwarded += ["--output", str(args.output)]
        cmd = [sys.executable, str(Path(__file__).resolve()), *forwarded, PREPARED, str(home)]
        return subprocess.run(cmd, env=env, check=False).returncode
    finally:
        remove(home)


def remove(folder: Path) -> None:
    """Remove the temporary HOME: its fills hold hundreds of thousands of files.

    `rm -rf` unlinks them about a third faster than `shutil.rmtree` (measured here).
    """
    started = time.perf_counter()
    sys.stderr.write(f"removing the temporary HOME {folder} ...\n")
    rm = shutil.which("rm")
    if rm is not None and os.name == "posix":
        subprocess.run([rm, "-rf", "--", str(folder)], check=False)
    shutil.rmtree(folder, ignore_errors=True)  # whatever is left, and elsewhere
    sys.stderr.write(f"removed in {time.perf_counter() - started:.1f} s\n")


if __name__ == "__main__":
    sys.exit(main())
