"""What twat-cache logs, and how often (issue 18): quiet by default, each message said once.

- no message repeats the logger's name (a handler's format shows `%(name)s` already);
- a fallback notice is said once per backend per process, not once per decorated function;
- the `twat_cache` logger's level quiets it like any other logger;
- `encrypt=True` without `cryptography` fails at decoration, with nothing logged first;
- a cache folder copied from a machine with another secret logs at most one warning per cache.

Programs run in fresh interpreters: what reaches stderr is what a user sees.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import needs
from fakedisk import make_plugin_dir
from helpers import python, twat_cache

ROOT = Path(__file__).resolve().parent.parent
LEVELS = {"debug", "info", "warning", "error", "exception", "critical", "log"}

#: Run first in a program: the registry sees the core's own entry points only, as on a
#: core-only install (the plugins of this session are installed but hidden).
CORE_ONLY = """
from twat_cache import registry
_scan = registry.scan_entry_points
def _core_only(path=None):
    found = _scan(path)
    found[registry.GROUP] = [e for e in found[registry.GROUP] if e[2] == "twat-cache-core"]
    return found
registry.scan_entry_points = _core_only
"""


def run(code: str, *, plugin: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (the test's cache root); it must exit 0, no traceback."""
    env = {"PYTHONWARNINGS": "ignore", **env}
    return python("-c", textwrap.dedent(code), env=env, pythonpath=plugin, clean=True)


@pytest.fixture
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `fakedisk` test backend, installed through PYTHONPATH."""
    return make_plugin_dir(tmp_path_factory.mktemp("plugin"))


# --- messages ---------------------------------------------------------------------------------


def _messages(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of the first string of every logging call (logger.x, warn_once, notice_once)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in LEVELS and isinstance(func, ast.Attribute):
            args = node.args[1:] if name == "log" else node.args
        elif name == "warn_once":
            args = node.args[1:]
        elif name == "notice_once":
            args = node.args
        else:
            continue
        if not args:
            continue
        first = args[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append((node.lineno, first.value))
        elif isinstance(first, ast.JoinedStr) and first.values:
            head = first.values[0]
            if isinstance(head, ast.Constant) and isinstance(head.value, str):
                found.append((node.lineno, head.value))
    return found


def test_no_message_repeats_the_logger_name() -> None:
    sources = sorted(ROOT.glob("packages/*/src/**/*.py"))
    assert len(sources) > 40
    repeated = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in sources
        for line, text in _messages(ast.parse(path.read_text()))
        if text.lower().startswith(("twat_cache:", "twat-cache:", "twat_cache "))
    ]
    assert repeated == []


# --- fallback notices -------------------------------------------------------------------------

TWENTY = (
    CORE_ONLY
    + """
import logging
from twat_cache import mcache
LEVEL
for i in range(20):
    exec(f"@mcache\\ndef f{i}(x):\\n    return x + {i}\\n")
    for x in range(3):
        assert globals()[f"f{i}"](x) == x + i
print("done")
"""
)


@pytest.mark.timeout(120)
def test_twenty_functions_on_a_core_only_install_give_one_fallback_line() -> None:
    proc = run(TWENTY.replace("LEVEL", ""))
    assert proc.stdout.strip() == "done"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "cachebox" in lines[0]
    assert "functools" in lines[0]
    assert "pip install 'twat-cache[cachebox]'" in lines[0]
    assert not lines[0].lower().startswith("twat_cache")


@pytest.mark.timeout(120)
def test_the_logger_level_quiets_the_notice() -> None:
    quiet = 'logging.getLogger("twat_cache").setLevel(logging.ERROR)'
    proc = run(TWENTY.replace("LEVEL", quiet))
    assert proc.stderr == ""


# --- encryption without cryptography ----------------------------------------------------------

NO_CRYPTOGRAPHY = """
import json, logging, sys
sys.modules["cryptography"] = None  # as if it were not installed
sys.modules["cryptography.fernet"] = None
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("twat_cache").addHandler(Keep())
logging.getLogger("twat_cache").setLevel(logging.DEBUG)
from twat_cache import bcache, fcache, ucache
try:
    @DECORATOR
    def f(x):
        return x
except ImportError as exc:
    print(json.dumps({"raised": type(exc).__name__, "message": str(exc), "records": records}))
else:
    print(json.dumps({"raised": None, "records": records}))
"""


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "decorator",
    [
        "ucache(folder_name='enc', preferred_engine='fakedisk', encrypt=True)",
        pytest.param("bcache(folder_name='enc', encrypt=True)", marks=needs("diskcache")),
        pytest.param(
            "bcache(folder_name='enc', sql_backend=False, encrypt=True)", marks=needs("klepto")
        ),
        pytest.param("fcache(folder_name='enc', encrypt=True)", marks=needs("joblib")),
    ],
)
def test_encrypt_without_cryptography_fails_at_decoration_with_nothing_logged(
    decorator: str, plugin: Path
) -> None:
    proc = run(NO_CRYPTOGRAPHY.replace("DECORATOR", decorator), plugin=plugin)
    result = json.loads(proc.stdout)
    assert result["raised"] is not None, result
    assert "cryptography" in result["message"]
    assert result["records"] == []
    assert proc.stderr == ""


# --- a cache folder copied from elsewhere -----------------------------------------------------

COPIED = {
    "fakedisk": "ucache(folder_name='copied', preferred_engine='fakedisk')",
    "diskcache": "bcache(folder_name='copied')",
    "klepto-sql": "ucache(folder_name='copied', preferred_engine='klepto')",
    "klepto-dir": "bcache(folder_name='copied', sql_backend=False)",
    "joblib": "fcache(folder_name='copied')",
}
FILL = """
import json
from twat_cache import bcache, fcache, ucache

@DECORATOR
def square(x):
    return x * x

for i in range(10):
    assert square(i) == i * i
print(json.dumps(square.cache_info()._asdict()))
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize(
    "case",
    [
        "fakedisk",
        pytest.param("diskcache", marks=needs("diskcache")),
        pytest.param("klepto-sql", marks=needs("klepto")),
        pytest.param("klepto-dir", marks=needs("klepto")),
        pytest.param("joblib", marks=needs("joblib")),
    ],
)
def test_a_copied_folder_logs_at_most_one_warning_per_cache(
    case: str, plugin: Path, tmp_path: Path
) -> None:
    code = FILL.replace("DECORATOR", COPIED[case])
    there = tmp_path / "there"
    here = tmp_path / "here"
    run(code, plugin=plugin, TWAT_CACHE_DIR=str(there), TWAT_CACHE_SECRET="their secret")
    shutil.copytree(there, here, symlinks=True)
    proc = run(code, plugin=plugin, TWAT_CACHE_DIR=str(here), TWAT_CACHE_SECRET="our secret")
    assert json.loads(proc.stdout)["misses"] == 10  # their entries are not ours to read
    assert len(proc.stderr.strip().splitlines()) <= 1, proc.stderr
    again = run(code, plugin=plugin, TWAT_CACHE_DIR=str(here), TWAT_CACHE_SECRET="our secret")
    assert json.loads(again.stdout)["hits"] == 10  # ours are: the copy is a working cache
    assert len(again.stderr.strip().splitlines()) <= 1, again.stderr

    for command in ("prune", "verify", "list"):
        done = twat(here, plugin, command)
        assert len(done.stderr.strip().splitlines()) <= 1, (command, done.stderr)
    [report] = json.loads(done.stdout)["caches"]
    if case == "joblib":
        # joblib names each entry file by its secret, so it lists only the current secret's;
        # theirs are still on disk: another secret never deletes them.
        assert report["entries"] == 10
        assert len([p for p in here.rglob("*.jbl") if p.is_file()]) == 20
    else:
        assert report["entries"] == 20  # theirs are kept: another secret never deletes them


def twat(root: Path, plugin: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`twat-cache ARGS --json` on cache root `root` with our secret; it must exit 0."""
    env = {
        "TWAT_CACHE_DIR": str(root),
        "TWAT_CACHE_SECRET": "our secret",
        "PYTHONPATH": str(plugin),
    }
    return twat_cache(*args, "--json", env=env)
