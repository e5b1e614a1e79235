"""Helpers the test files share: fresh interpreters, forked children, event loops, logs."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import pytest

__all__ = [
    "dead_pid",
    "in_child",
    "logged",
    "modes_under",
    "python",
    "run",
    "run_python",
    "twat_cache",
    "warnings_of",
]

T = TypeVar("T")


def python(
    *args: str,
    env: dict[str, str] | None = None,
    pythonpath: Path | None = None,
    cwd: Path | None = None,
    timeout: float | None = 120,
    stdin: int | IO[Any] | None = subprocess.DEVNULL,
    check: bool = True,
    clean: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with `args` (its environment plus `env`), output captured.

    `pythonpath` goes in front of `$PYTHONPATH` (a folder of fake plugins, say). Its stdin is
    /dev/null unless `stdin` says otherwise: a child never waits on the terminal. With `check`
    the run must succeed: on a non-zero exit the test fails with the child's stderr (without,
    the caller looks at the process). With `clean` its stderr must hold no traceback.
    """
    full = {**os.environ, **(env or {})}
    if pythonpath is not None:
        full["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(pythonpath), full.get("PYTHONPATH")])
        )
    proc = subprocess.run(
        [sys.executable, *args],
        env=full,
        stdin=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    if clean:
        assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def run_python(code: str, *args: str, **options: Any) -> str:
    """The stdout of `python -c code ARGS` (`code` dedented); see `python` for the options."""
    return python("-c", textwrap.dedent(code), *args, **options).stdout


def twat_cache(*args: str, expect: int = 0, **options: Any) -> subprocess.CompletedProcess[str]:
    """Run the `twat-cache` command (`python -m twat_cache ARGS`); it must exit with `expect`.

    The options are `python`'s (`clean=True`: and print no traceback).
    """
    proc = python("-m", "twat_cache", *args, check=False, **options)
    assert proc.returncode == expect, (proc.returncode, proc.stdout, proc.stderr)
    return proc


def dead_pid() -> int:
    """The id of a process of this host that has exited (and been reaped)."""
    return int(python("-c", "import os; print(os.getpid())", timeout=60).stdout)


def run(coro: Awaitable[T], timeout: float = 20.0) -> T:
    """Run `coro` on a new event loop, failing after `timeout` seconds instead of hanging."""

    async def guarded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(guarded())


def logged(
    caplog: pytest.LogCaptureFixture,
    level: int = logging.NOTSET,
    *,
    exact: bool = False,
    logger: str | None = "twat_cache",
    containing: str = "",
) -> list[str]:
    """The messages captured at `level` or above (`exact`: at `level` only), in order.

    Only those of the `logger` logger (None: of any logger) with `containing` in them.
    """
    return [
        r.getMessage()
        for r in caplog.records
        if (r.levelno == level if exact else r.levelno >= level)
        and (logger is None or r.name == logger)
        and containing in r.getMessage()
    ]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages the `twat_cache` logger logged at WARNING or above."""
    return logged(caplog, logging.WARNING)


def in_child(work: Callable[[], object]) -> int:
    """Run `work` in a child made by `os.fork()`; its exit status (0: `work` returned true)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover  (the child)
        code = 1
        try:
            code = 0 if work() else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def modes_under(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The modes (as `oct` strings) of every file and of every folder under `root`, by path."""
    import stat

    files: dict[str, str] = {}
    folders: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        into = folders if stat.S_ISDIR(info.st_mode) else files
        into[path.relative_to(root).as_posix()] = oct(stat.S_IMODE(info.st_mode))
    return files, folders
