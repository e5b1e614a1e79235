"""Start-up rows: what `import twat_cache`, decorating and the first call add to a program.

The barred figures are wall times of whole fresh interpreters (spawn to exit) running a small
script, the minimum of N runs, all scripts interleaved run by run. Bytecode is cached in a
scratch `PYTHONPYCACHEPREFIX` (an installed wheel has bytecode; a checkout run under
`PYTHONDONTWRITEBYTECODE` would be compiled on every start), and the children inherit the
benchmark's environment: a temporary HOME and no `TWAT_CACHE_*` variable. Every script runs
once before timing (bytecode written, the secret and the cache folders created, as after a
user's first run), and the order of the scripts changes from run to run (one that writes to
disk slows the next). Each barred row is judged by what its script adds to the one before
(DESIGN §4):

- `import twat_cache` (core and every plugin installed) over `pass`: at most +30 ms;
- importing a module that decorates 50 functions (20 `mcache`, 10 `bcache`, 10 `fcache`,
  5 `acache`, 5 `ucache`) over the bare import: at most +5 ms. The module is imported, as a
  program's modules are (its bytecode cached after the warm-up run), not run as the script:
  a script is compiled on every start (+0.5 ms for these 200 lines, with or without a cache),
  and its functions are `__main__`'s, which no library module's are;
- then the first call of the first cache (an `@mcache`): at most +20 ms.

Whole-process minima of scripts that do disk I/O (today's decoration opens every store) wander
by a few ms on a shared machine, so every script also times its own phases with
`perf_counter` (the same two lines in every script, so the wall times stay comparable), and
informational rows give the minimum in-process time of decorating, of the first call, and of
the first call of the first `@bcache` (it opens a store), each against the same module with
`functools.lru_cache` in place of every decorator. Last, the seed's row: in-process import,
decoration and call of one `@mcache` against the same with `functools.cache`.
"""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import tempfile
import time

from harness import Comparison

RUNS = 60
QUICK_RUNS = 3

IN_PROCESS = """
import time
t0 = time.perf_counter()
{setup}
def f(x):
    return x
g = {decorate}(f)
g(1)
print(time.perf_counter() - t0)
"""

#: (decorator, name prefix, "async " or "") of the 50 functions, the first an `@mcache`.
FUNCTIONS = (
    [("mcache", "f", "")] * 10
    + [("mcache(maxsize=128)", "g", "")] * 10
    + [("bcache", "b", "")] * 10
    + [("fcache", "c", "")] * 10
    + [("acache", "a", "async ")] * 5
    + [("ucache", "u", "")] * 5
)


def decorated_module(*, functools_only: bool = False) -> str:
    """The 50 decorated functions (or the same with `functools.lru_cache` everywhere)."""
    lines = []
    counts: dict[str, int] = {}
    for ours, prefix, is_async in FUNCTIONS:
        i = counts[prefix] = counts.get(prefix, -1) + 1
        decorator = ours
        if functools_only:
            decorator = "lru_cache(maxsize=128)" if "128" in ours else "lru_cache(None)"
        lines += [f"@{decorator}", f"{is_async}def {prefix}{i}(x):", "    return x", ""]
    return "\n".join(lines)


def script(*phases: str) -> str:
    """A script running `phases` in turn, printing how long each took (perf_counter)."""
    lines = ["import time as _bench_time", "_bench_t = [_bench_time.perf_counter()]"]
    for code in phases:
        lines += [code, "_bench_t.append(_bench_time.perf_counter())"]
    lines.append("print(*(b - a for a, b in zip(_bench_t, _bench_t[1:])))")
    return "\n".join(lines) + "\n"


class ImportProbe:
    """Runs every start-up script N times, interleaved, once; the rows read its minima."""

    def __init__(self, runs: int) -> None:
        self.runs = runs
        self.best: dict[str, float] = {}

    @staticmethod
    def modules() -> dict[str, str]:
        """The modules the scripts import: 50 decorated functions, and the same with lru_cache."""
        return {
            "decorated50": "from twat_cache import acache, bcache, fcache, mcache, ucache\n\n"
            + decorated_module(),
            "lru50": "from functools import lru_cache\n\n" + decorated_module(functools_only=True),
        }

    @staticmethod
    def scripts() -> dict[str, str]:
        return {
            "bare": script("pass"),
            "import": script("import twat_cache"),
            "decorate": script("import twat_cache", "import decorated50"),
            "first": script("import twat_cache", "import decorated50", "decorated50.f0(1)"),
            "first_disk": script("import twat_cache", "import decorated50", "decorated50.b0(1)"),
            "lru": script("import functools", "import lru50", "lru50.f0(1)"),
        }

    def run(self) -> None:
        """Warm every script up once, then time them all, interleaved, `runs` times."""
        if self.best:
            return
        scratch = tempfile.mkdtemp(prefix="imports-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWAT_CACHE_")}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(scratch, "pycache")
        for name, text in self.modules().items():  # imported by the scripts (from their folder)
            with open(os.path.join(scratch, f"{name}.py"), "w", encoding="utf-8") as fh:
                fh.write(text)
        paths = {}
        for name, text in self.scripts().items():
            paths[name] = os.path.join(scratch, f"{name}.py")
            with open(paths[name], "w", encoding="utf-8") as fh:
                fh.write(text)
        in_process = {
            "ours_seed": IN_PROCESS.format(
                setup="from twat_cache import mcache", decorate="mcache"
            ),
            "theirs_seed": IN_PROCESS.format(setup="import functools", decorate="functools.cache"),
        }

        def printed(cmd: list[str]) -> tuple[float, list[float]]:
            start = time.perf_counter()
            out = subprocess.run(
                cmd, check=True, env=env, cwd=scratch, capture_output=True, text=True
            ).stdout
            wall = time.perf_counter() - start
            return wall, [float(x) for x in out.strip().splitlines()[-1].split()]

        for path in paths.values():  # warm-up: bytecode, secret, folders
            printed([sys.executable, path])
        for code in in_process.values():
            printed([sys.executable, "-c", code])
        best: dict[str, float] = {}

        def keep(name: str, seconds: float) -> None:
            best[name] = min(best.get(name, math.inf), seconds)

        order = list(paths)
        shuffle = random.Random(0).shuffle
        for _ in range(self.runs):
            # A script that writes to disk slows the one after it (dirty pages, checkpoints):
            # a new order every run keeps that from always charging the same script.
            shuffle(order)
            for name in order:
                wall, phases = printed([sys.executable, paths[name]])
                keep(name, wall)
                for i, seconds in enumerate(phases):
                    keep(f"{name}.{i}", seconds)
            for name, code in in_process.items():
                keep(name, printed([sys.executable, "-c", code])[1][0])
        self.best = {name: seconds * 1e9 for name, seconds in best.items()}

    def pair(self, ours: str, theirs: str) -> tuple[float, float]:
        self.run()
        return self.best[ours], self.best[theirs]


def comparisons(quick: bool = False) -> list[Comparison]:
    """The start-up rows (measured lazily, all from one interleaved series of runs)."""
    probe = ImportProbe(QUICK_RUNS if quick else RUNS)

    def row(
        name: str, ours: str, theirs: str, code: str, doc: str = "", limit_ms: float | None = None
    ) -> Comparison:
        return Comparison.untimed(
            name,
            lambda: probe.pair(ours, theirs),
            code,
            unit="ns",
            limit=None if limit_ms is None else limit_ms * 1e6,
            margin=True,
            group="import",
            theirs_doc=doc,
        )

    lru = "the same in-process phase with functools.lru_cache for every decorator"
    return [
        row(
            "import twat_cache",
            "import",
            "bare",
            "bare",
            "whole `python script.py`: `pass`",
            limit_ms=30,
        ),
        row(
            "+ decorate 50 functions",
            "decorate",
            "import",
            "import",
            "whole `python script.py`: `import twat_cache` alone",
            limit_ms=5,
        ),
        row(
            "+ first call, first cache",
            "first",
            "decorate",
            "decorated",
            "whole `python script.py`: import and decorate 50 functions, no call",
            limit_ms=20,
        ),
        row("decorate 50, in-process", "first.1", "lru.1", "lru-50", lru),
        row("first call, in-process", "first.2", "lru.2", "lru-50"),
        row("first bcache call, in-process", "first_disk.2", "lru.2", "lru-50"),
        Comparison.untimed(
            "import + first mcache call",
            lambda: probe.pair("ours_seed", "theirs_seed"),
            "fc-first",
            unit="ns",
            group="import",
            theirs_doc="in-process: import functools, decorate with functools.cache, call",
        ),
    ]
