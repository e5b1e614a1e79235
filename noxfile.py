"""Every session of twat-cache: tests per install combination, lint, types, bench, docs, demo.

Each session installs exactly one combination with `uv sync --locked --extra ...` into its own
virtualenv, so what a session tests is what `pip install twat-cache[...]` would give.
"""

from __future__ import annotations

import itertools
import os
import shutil
import sys

import nox

nox.options.default_venv_backend = "uv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
BACKENDS = [
    "cachebox",
    "cachetools",
    "diskcache",
    "klepto",
    "joblib",
    "aiocache",
    "redis",
    "memcached",
]


def _covering() -> dict[str, tuple[str, ...]]:
    """core only, all, each backend alone, all but each one."""
    combos: dict[str, tuple[str, ...]] = {"core": (), "all": tuple(BACKENDS)}
    combos.update({name: (name,) for name in BACKENDS})
    combos.update({f"all-but-{name}": tuple(b for b in BACKENDS if b != name) for name in BACKENDS})
    return combos


def _every() -> dict[str, tuple[str, ...]]:
    combos: dict[str, tuple[str, ...]] = {}
    for n in range(len(BACKENDS) + 1):
        for combo in itertools.combinations(BACKENDS, n):
            combos["+".join(combo) or "core"] = combo
    return combos


COVERING = _covering()
EVERY = _every()


def sync(session: nox.Session, *extras: str, groups: tuple[str, ...] = ()) -> None:
    """Install the workspace with `extras` (and dependency `groups`) into the session's venv."""
    args = ["uv", "sync", "--locked", *(f"--extra={e}" for e in extras)]
    args += [f"--group={g}" for g in groups]
    session.run_install(*args, env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location})


#: What depends on which plugins are installed (the rest runs over whatever is installed, so
#: "all" covers it): chains, picks, fallbacks, the installed stores' contract.
COMBINATION_TESTS = [
    "test_install_matrix",
    "test_chains",
    "test_registry",
    "test_decorators",
    "test_contract",
    "test_async.py",
    "test_docs_backends",
]
#: Test modules of one backend whose test ids do not name it.
BACKEND_TESTS = {
    "joblib": ["test_file"],
    "redis": ["test_network", "test_servers"],
    "memcached": ["test_network", "test_servers"],
}


def run_tests(session: nox.Session, combo: tuple[str, ...], *, scope: str = "whole") -> None:
    """The suite on one install combination.

    `scope`: "whole"; "combination", what depends on which plugins are installed; "backend",
    that plus every test of the one backend installed (multi-process tests included).
    """
    sync(session, *combo)
    env = {"TWAT_CACHE_EXPECT_BACKENDS": ",".join(combo) or "none"}
    only: list[str] = []
    if scope != "whole" and not session.posargs:
        words = list(COMBINATION_TESTS)
        if scope == "backend":
            words += [*combo, *(m for b in combo for m in BACKEND_TESTS.get(b, []))]
        else:
            only = ["-m", "not slow"]
        only += ["-k", " or ".join(words)]
    session.run("python", "-m", "pytest", *only, *session.posargs, env=env)


@nox.session(python=PYTHON)
@nox.parametrize("combo", list(COVERING.values()), ids=list(COVERING))
def tests(session: nox.Session, combo: tuple[str, ...]) -> None:
    """Tests on one install combination of the covering set (core, all, each, all-but-each).

    The whole suite, multi-process tests (marked slow) included, runs on core and on all.
    Each backend alone runs its own tests and what depends on the combination
    (`COMBINATION_TESTS`: the chains each decorator picks, fallbacks, the installed stores'
    contract); the all-but-one sessions run the latter. Everything else is parametrized over
    the installed backends, and "all" ran it. `nox -s full` runs the whole suite everywhere.
    """
    if len(combo) in (0, len(BACKENDS)):
        scope = "whole"
    else:
        scope = "backend" if len(combo) == 1 else "combination"
    run_tests(session, combo, scope=scope)


@nox.session(python=PYTHON, default=False)
@nox.parametrize("combo", list(EVERY.values()), ids=list(EVERY))
def full(session: nox.Session, combo: tuple[str, ...]) -> None:
    """Tests on every install combination (all 256 subsets of the backends)."""
    run_tests(session, combo)


@nox.session(python=PYTHONS, default=False)
def pythons(session: nox.Session) -> None:
    """The test suite with every backend, on each supported Python."""
    run_tests(session, tuple(BACKENDS))


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check on the whole tree."""
    sync(session)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def types(session: nox.Session) -> None:
    """mypy --strict on every package, with every backend installed."""
    sync(session, "all")
    session.run("mypy", *sorted(str(p) for p in _package_sources()))


def _package_sources() -> list[str]:
    return [os.path.join("packages", d, "src") for d in sorted(os.listdir("packages"))]


@nox.session(python=PYTHON, default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks against the raw libraries, in one run (ratios, min/min of interleaved slices).

    benchmarks/run.py measures in a user's environment (a temporary HOME, no TWAT_CACHE_*
    variable) and writes benchmarks/results/latest.md and latest.svg. Arguments go to it:
    `nox -s bench -- --quick` (a smoke test of every row), `-- --only bcache`, `-- --strict`.
    """
    sync(session, "all")
    session.run("python", "benchmarks/run.py", *session.posargs)


@nox.session(python=PYTHON, default=False)
def demo(session: nox.Session) -> None:
    """Every decorator on the installed backends, showing which backend each picked."""
    sync(session, "all")
    session.run("python", "scripts/demo.py", *session.posargs)


@nox.session(python=PYTHON, default=False)
def docs(session: nox.Session) -> None:
    """Build the documentation site with mkdocs --strict."""
    sync(session, "all", groups=("docs",))
    session.run("mkdocs", "build", "--strict", "--site-dir", str(session.create_tmp()) + "/site")


@nox.session(python=PYTHON)
def wheels(session: nox.Session) -> None:
    """Build every wheel and sdist into dist/, check them in fresh environments, run the README.

    The README's install commands (from the folders and from the wheels) run as written.
    """
    uv = shutil.which("uv") or os.path.join(os.path.dirname(sys.executable), "uv")
    session.run("python", "scripts/check_wheels.py", "--uv", uv, *session.posargs, external=True)


@nox.session(python=PYTHON)
def bootstrap(session: nox.Session) -> None:
    """The README's demo command on a Python that refuses `pip install` (PEP 668).

    On a copy of this checkout, with no uv and no nox on PATH, for each way bootstrap.sh has
    (a venv; a venv without ensurepip; no venv module at all). See scripts/check_bootstrap.py.
    """
    args = session.posargs or ["--variant", "all"]
    session.run("python", "scripts/check_bootstrap.py", *args)
