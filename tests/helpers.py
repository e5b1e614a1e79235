"""Helpers the test files share: fresh interpreters, and the library's warnings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

__all__ = ["python", "run_python", "warnings_of"]


def python(
    *args: str,
    env: dict[str, str] | None = None,
    pythonpath: Path | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run this interpreter with `args` (its environment plus `env`), output captured.

    `pythonpath` goes in front of `$PYTHONPATH` (a folder of fake plugins, say). The run must
    succeed: on a non-zero exit the test fails with the child's stderr.
    """
    full = {**os.environ, **(env or {})}
    if pythonpath is not None:
        full["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(pythonpath), full.get("PYTHONPATH")])
        )
    proc = subprocess.run(
        [sys.executable, *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def run_python(code: str, **options: object) -> str:
    """The stdout of `python -c code` (dedented); see `python` for the options."""
    return python("-c", textwrap.dedent(code), **options).stdout  # type: ignore[arg-type]


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The messages the `twat_cache` logger logged at WARNING or above."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "twat_cache" and r.levelno >= 30  # logging.WARNING
    ]
