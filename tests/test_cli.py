"""The `twat-cache` command, run for real in subprocesses against a temporary cache root.

A tiny disk backend (`fakedisk`, tests/fakedisk.py, a dist-info folder on PYTHONPATH) lets the
listing, pruning and clearing of disk folders be tested on every install combination, the
core-only one included; one more test does the same with whichever real disk backend the
install picks for `bcache`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import needs
from fakedisk import make_plugin_dir
from helpers import python, run_python, twat_cache

# Slow: every test runs the real command in subprocesses; they run in the sessions
# where each backend is alone and where all are installed.
pytestmark = pytest.mark.slow


@pytest.fixture
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that, on PYTHONPATH, installs the `fakedisk` backend (module + entry point)."""
    return make_plugin_dir(tmp_path_factory.mktemp("plugin"))


def _env(root: Path, **extra: str) -> dict[str, str]:
    """What the children's environment adds: the cache root at `root`, no warnings."""
    return {"TWAT_CACHE_DIR": str(root), "PYTHONWARNINGS": "ignore", **extra}


def twat(
    root: Path, *args: str, plugin: Path | None = None, expect: int = 0, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run `python -m twat_cache ARGS` with the cache root at `root`; check the exit status.

    Its stdin is never a terminal: `clear` must not wait for an answer.
    """
    return twat_cache(*args, expect=expect, clean=True, env=_env(root, **env), pythonpath=plugin)


def twat_json(root: Path, *args: str, plugin: Path | None = None, expect: int = 0) -> Any:
    return json.loads(twat(root, *args, "--json", plugin=plugin, expect=expect).stdout)


def run_script(root: Path, code: str, plugin: Path | None = None, **env: str) -> Any:
    """Run `code` in a fresh interpreter; it prints one JSON document as its last line."""
    out = run_python(code, env=_env(root, **env), pythonpath=plugin)
    return json.loads(out.strip().splitlines()[-1])


POPULATE = """
import json, time
from twat_cache import get_stats, ucache

@ucache(folder_name="demo", preferred_engine="fakedisk")
def double(x):
    return 2 * x

@ucache(folder_name="demo", preferred_engine="fakedisk", ttl=0.001)
def fleeting(x):
    return -x

for i in range(3):
    double(i)
for i in range(2):
    fleeting(i)
time.sleep(0.05)  # let fleeting's entries expire (deadline 1 ms after writing)
print(json.dumps({"backend": double.cache_backend, "stats": get_stats()}))
"""


# --- basics -----------------------------------------------------------------------------------


def test_help_and_version(tmp_path: Path) -> None:
    out = twat(tmp_path, "--help").stdout
    for command in ("backends", "list", "clear", "prune", "verify", "path"):
        assert command in out
    from twat_cache import __version__

    assert __version__ in twat(tmp_path, "--version").stdout


def test_bare_command_prints_the_help_not_an_error(tmp_path: Path) -> None:
    proc = twat(tmp_path)  # exit status 0
    assert proc.stderr == ""
    assert proc.stdout.startswith("usage: twat-cache")
    assert proc.stdout == twat(tmp_path, "--help").stdout


def test_console_script_next_to_interpreter(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("twat-cache")
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    proc = subprocess.run(
        [str(script), "path"],
        env={**os.environ, **_env(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path)


def test_backends_agrees_with_available_backends(tmp_path: Path) -> None:
    from twat_cache import available_backends

    data = twat_json(tmp_path, "backends")
    assert data == json.loads(json.dumps(available_backends()))
    assert data["backends"]["functools"]["usable"] is True
    text = twat(tmp_path, "backends").stdout
    assert "functools" in text
    assert "ucache(folder_name)" in text
    assert data["picks"]["mcache"] in text


def test_json_flag_after_the_subcommand_too(tmp_path: Path) -> None:
    assert json.loads(twat(tmp_path, "--json", "path").stdout)["path"] == str(tmp_path)
    assert json.loads(twat(tmp_path, "path", "--json").stdout)["path"] == str(tmp_path)


def test_empty_root(tmp_path: Path) -> None:
    root = tmp_path / "root"  # does not exist yet
    assert "no caches" in twat(root, "list").stdout
    nothing = {"bytes": 0, "files": 0, "oldest": None, "newest": None}
    assert twat_json(root, "list") == {
        "root": str(root),
        "caches": [],
        "total": {"caches": 0, "entries": 0, **nothing},
    }
    cleared = twat_json(root, "clear")  # nothing to clear: nothing to confirm
    assert cleared["caches"] == []
    assert cleared["total"] == {"caches": 0, "removed_entries": 0, "freed_bytes": 0}
    assert twat_json(root, "prune")["caches"] == []
    verified = twat_json(root, "verify")
    assert verified["total"] == {"caches": 0, "checked": 0, "broken": 0, "removed": 0}
    assert not root.exists()  # looking never creates the root


def test_path(tmp_path: Path) -> None:
    assert twat(tmp_path, "path").stdout.strip() == str(tmp_path)
    assert twat(tmp_path, "path", "demo").stdout.strip() == str(tmp_path / "demo")
    data = twat_json(tmp_path, "path", "demo")
    assert data == {"path": str(tmp_path / "demo"), "exists": False, "marked": False}


@pytest.mark.parametrize(
    ("args", "status", "words"),
    [
        (("path", "../escape"), 1, "folder_name"),
        (("clear", "nope"), 1, "no cache folder 'nope'"),
        (("list", "nope"), 1, "no cache folder 'nope'"),
        (("prune", "nope"), 1, "no cache folder 'nope'"),
        (("verify", "nope"), 1, "no cache folder 'nope'"),
        (("clear", "--yes", "nope"), 1, "no cache folder 'nope'"),
        (("bogus",), 2, "invalid choice"),
        (("list", "--bogus"), 2, "unrecognized arguments"),
    ],
)
def test_errors_are_one_line(
    tmp_path: Path, args: tuple[str, ...], status: int, words: str
) -> None:
    proc = twat(tmp_path, *args, expect=status)
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("twat-cache: error:")
    assert words in lines[0]


def test_unmarked_folder_is_not_a_cache(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("precious")
    proc = twat(tmp_path, "clear", "mine", expect=1)
    assert "not a twat-cache folder" in proc.stderr
    assert twat_json(tmp_path, "list")["caches"] == []
    twat(tmp_path, "clear")
    assert (tmp_path / "mine" / "keep.txt").read_text() == "precious"


def test_unknown_backend_is_a_note_not_a_failure(tmp_path: Path) -> None:
    folder = tmp_path / "ghostly"
    folder.mkdir()
    (folder / ".twat_cache").write_text(json.dumps({"backend": "ghost", "namespaces": ["m:f"]}))
    (folder / "blob").write_bytes(b"x" * 10)
    [report] = twat_json(tmp_path, "list")["caches"]
    assert report["name"] == "ghostly"
    assert report["entries"] is None
    assert "ghost" in report["note"]
    assert report["bytes"] == 10
    assert report["files"] == 1
    assert "not installed" in twat(tmp_path, "list").stdout


# --- a disk backend (the fake one: works on every install) -------------------------------------


def test_list_prune_clear_on_a_disk_backend(tmp_path: Path, plugin_dir: Path) -> None:
    populated = run_script(tmp_path, POPULATE, plugin_dir)
    assert populated["backend"] == "fakedisk"
    sizes = {s["folder"]: 0 for s in populated["stats"].values()}
    for s in populated["stats"].values():
        sizes[s["folder"]] += s["size"]
    assert sizes == {str(tmp_path / "demo"): 5}
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("not ours")

    [report] = twat_json(tmp_path, "list", plugin=plugin_dir)["caches"]
    assert report["name"] == "demo"
    assert report["backend"] == "fakedisk"
    assert report["path"] == str(tmp_path / "demo")
    assert report["entries"] == 5  # get_stats() said 5 too
    assert len(report["namespaces"]) == 2
    assert report["files"] == 5
    assert report["bytes"] > 0
    assert report["oldest"] <= report["newest"]
    text = twat(tmp_path, "list", plugin=plugin_dir).stdout
    assert "demo" in text
    assert "fakedisk" in text

    no_count = twat_json(tmp_path, "list", "--no-count", plugin=plugin_dir)["caches"][0]
    assert no_count["entries"] is None
    assert no_count["files"] == 5

    pruned = twat_json(tmp_path, "prune", plugin=plugin_dir)
    [row] = pruned["caches"]
    assert (row["name"], row["backend"], row["pruned"], row["entries"]) == (
        "demo",
        "fakedisk",
        2,
        3,
    )
    assert row["note"] is None
    assert 0 < row["freed_bytes"] < report["bytes"]
    assert pruned["total"] == {"caches": 1, "pruned": 2, "freed_bytes": row["freed_bytes"]}
    assert twat_json(tmp_path, "list", "demo", plugin=plugin_dir)["caches"][0]["entries"] == 3

    cleared = twat_json(tmp_path, "clear", "demo", plugin=plugin_dir)
    [row] = cleared["caches"]
    assert (row["name"], row["removed_entries"], row["entries_left"]) == ("demo", 3, 0)
    assert row["freed_bytes"] > 0
    assert cleared["total"]["removed_entries"] == 3
    [after] = twat_json(tmp_path, "list", plugin=plugin_dir)["caches"]
    assert after["entries"] == 0
    assert after["files"] == 0
    assert (tmp_path / "demo" / ".twat_cache").is_file()  # the folder stays a cache folder
    assert (tmp_path / "other" / "keep.txt").read_text() == "not ours"


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime_ns)} of every file under `root`."""
    return {
        str(p.relative_to(root)): (p.lstat().st_size, p.lstat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def entry_files(folder: Path) -> list[Path]:
    """The fake backend's entry files in `folder` (everything but the marker)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".twat_cache")


def test_list_is_read_only_and_stable(tmp_path: Path, plugin_dir: Path) -> None:
    run_script(tmp_path, POPULATE, plugin_dir)  # 5 entries, 2 of them expired
    before = files_under(tmp_path)
    first = twat_json(tmp_path, "list", plugin=plugin_dir)
    second = twat_json(tmp_path, "list", plugin=plugin_dir)
    assert first == second  # the same counts, sizes and ages: nothing moved
    assert files_under(tmp_path) == before  # not a byte nor a time changed on disk
    assert first["caches"][0]["entries"] == 5  # expired entries count until they are pruned
    assert twat_json(tmp_path, "prune", plugin=plugin_dir)["caches"][0]["pruned"] == 2


def test_ages_are_the_entries_not_the_marker_or_lock_files(
    tmp_path: Path, plugin_dir: Path
) -> None:
    run_script(tmp_path, POPULATE, plugin_dir)
    folder = tmp_path / "demo"
    now = time.time()
    entries = entry_files(folder)
    for n, path in enumerate(entries):  # the oldest 3 h ago, the newest 5 min ago
        os.utime(path, (now - 300 - 3600 * n, now - 300 - 3600 * n))
    oldest, newest = now - 300 - 3600 * (len(entries) - 1), now - 300
    (folder / "flights.lock").write_bytes(b"")  # bookkeeping written just now
    (folder / ".twat_cache.tmp-killed").write_bytes(b"x" * 7)
    os.utime(folder / ".twat_cache", (now + 60, now + 60))

    [report] = twat_json(tmp_path, "list", plugin=plugin_dir)["caches"]
    assert report["newest"] == _iso(newest)
    assert report["oldest"] == _iso(oldest)
    text = twat(tmp_path, "list", plugin=plugin_dir).stdout
    assert "5 min ago" in text
    assert f"{len(entries) - 1} h ago" in text


def _iso(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds")


def test_list_for_people_has_sizes_ages_and_totals(tmp_path: Path, plugin_dir: Path) -> None:
    run_script(tmp_path, POPULATE, plugin_dir)
    run_script(tmp_path, POPULATE.replace('"demo"', '"second"'), plugin_dir)
    data = twat_json(tmp_path, "list", plugin=plugin_dir)
    assert data["total"]["caches"] == 2
    assert data["total"]["entries"] == 10
    assert data["total"]["bytes"] == sum(c["bytes"] for c in data["caches"])
    text = twat(tmp_path, "list", plugin=plugin_dir).stdout
    lines = text.splitlines()
    assert lines[-1].split()[:3] == ["total", "(2)", "10"]
    assert re.search(r"\d+(\.\d)? (B|KiB) ", lines[-1])
    assert "just now" in text or " s ago" in text


def test_clear_everything_asks_first(tmp_path: Path, plugin_dir: Path) -> None:
    run_script(tmp_path, POPULATE, plugin_dir)
    run_script(tmp_path, POPULATE.replace('"demo"', '"second"'), plugin_dir)
    before = files_under(tmp_path)

    refused = twat(tmp_path, "clear", plugin=plugin_dir, expect=1)  # no terminal, no --yes
    [line] = refused.stderr.strip().splitlines()
    assert "--yes" in line
    assert "--dry-run" in line
    assert "2 cache folder(s)" in line
    assert files_under(tmp_path) == before

    dry = twat_json(tmp_path, "clear", "--dry-run", plugin=plugin_dir)
    assert dry["dry_run"] is True
    assert [(c["name"], c["removed_entries"]) for c in dry["caches"]] == [
        ("demo", 5),
        ("second", 5),
    ]
    assert "dry run" in twat(tmp_path, "clear", "-n", plugin=plugin_dir).stdout
    assert files_under(tmp_path) == before

    done = twat_json(tmp_path, "clear", "--yes", plugin=plugin_dir)
    assert done["total"]["removed_entries"] == 10
    assert done["total"]["freed_bytes"] == sum(c["bytes"] for c in dry["caches"]) - sum(
        c["bytes"] for c in twat_json(tmp_path, "list", plugin=plugin_dir)["caches"]
    )
    assert done["total"]["freed_bytes"] > 0
    text = twat(tmp_path, "clear", "--yes", plugin=plugin_dir).stdout
    assert "total (2)" in text
    assert twat_json(tmp_path, "list", plugin=plugin_dir)["total"]["entries"] == 0


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
@pytest.mark.parametrize(("answer", "cleared"), [("n", False), ("", False), ("y", True)])
def test_clear_asks_on_a_terminal(
    tmp_path: Path, plugin_dir: Path, answer: str, cleared: bool
) -> None:
    import pty

    run_script(tmp_path, POPULATE, plugin_dir)
    master, terminal = pty.openpty()
    try:
        os.write(master, f"{answer}\n".encode())
        proc = python(
            "-m",
            "twat_cache",
            "clear",
            env=_env(tmp_path),
            pythonpath=plugin_dir,
            stdin=terminal,
            check=False,
        )
    finally:
        os.close(terminal)
        os.close(master)
    assert "Traceback" not in proc.stderr
    assert "Clear 1 cache folder(s)" in proc.stderr
    assert "5 entries" in proc.stderr
    entries = twat_json(tmp_path, "list", plugin=plugin_dir)["total"]["entries"]
    if cleared:
        assert proc.returncode == 0, proc.stderr
        assert entries == 0
    else:
        assert proc.returncode == 1
        assert "cancelled; nothing was cleared" in proc.stderr
        assert entries == 5


def test_clear_with_a_name_does_not_ask(tmp_path: Path, plugin_dir: Path) -> None:
    run_script(tmp_path, POPULATE, plugin_dir)
    done = twat_json(tmp_path, "clear", "demo", plugin=plugin_dir)
    assert done["total"]["removed_entries"] == 5


def test_verify_reports_and_fixes_broken_entries(tmp_path: Path, plugin_dir: Path) -> None:
    run_script(tmp_path, POPULATE, plugin_dir)
    tampered = entry_files(tmp_path / "demo")[0]
    blob = bytearray(tampered.read_bytes())
    blob[-1] ^= 1
    tampered.write_bytes(bytes(blob))

    data = twat_json(tmp_path, "verify", plugin=plugin_dir, expect=1)
    assert data["total"] == {"caches": 1, "checked": 5, "broken": 1, "removed": 0}
    [row] = data["caches"]
    assert (row["checked"], row["broken"], row["verified"]) == (5, 1, True)
    text = twat(tmp_path, "verify", plugin=plugin_dir, expect=1).stdout
    assert "verify --fix" in text
    assert tampered.exists()  # reporting removes nothing

    fixed = twat_json(tmp_path, "verify", "--fix", plugin=plugin_dir)  # exit status 0
    assert fixed["total"] == {"caches": 1, "checked": 5, "broken": 1, "removed": 1}
    assert not tampered.exists()
    again = twat_json(tmp_path, "verify", plugin=plugin_dir)
    assert again["total"] == {"caches": 1, "checked": 4, "broken": 0, "removed": 0}
    assert twat_json(tmp_path, "list", plugin=plugin_dir)["total"]["entries"] == 4


def test_verify_leaves_entries_of_another_secret_alone(tmp_path: Path, plugin_dir: Path) -> None:
    run_script(tmp_path, POPULATE, plugin_dir, TWAT_CACHE_SECRET="the other machine's secret")
    before = files_under(tmp_path)
    data = twat_json(tmp_path, "verify", "--fix", plugin=plugin_dir)
    assert data["total"]["broken"] == 0
    assert files_under(tmp_path) == before


def test_verify_says_when_a_store_cannot_verify(tmp_path: Path, plugin_dir: Path) -> None:
    run_script(tmp_path, POPULATE, plugin_dir)
    plugin = plugin_dir / "fakedisk_plugin.py"
    plugin.write_text(plugin.read_text().replace("def verify(", "def _not_verify("))
    [row] = twat_json(tmp_path, "verify", plugin=plugin_dir)["caches"]
    assert row["verified"] is False
    assert "cannot verify" in row["note"]


AGREE = """
import json, subprocess, sys
from twat_cache import clear_cache, get_stats, ucache

@ucache(folder_name="FOLDER", preferred_engine="fakedisk")
def double(x):
    return 2 * x

def listed():
    out = subprocess.run([sys.executable, "-m", "twat_cache", "list", "--json"],
                         capture_output=True, text=True, check=True).stdout
    return {c["name"]: c["entries"] for c in json.loads(out)["caches"]}

def size():
    [stats] = get_stats().values()
    return stats["size"]

before = (size(), listed())
for i in range(10, 13):
    double(i)
grown = (size(), listed())
clear_cache("FOLDER")
cleared = (size(), listed())
print(json.dumps([before, grown, cleared]))
"""


def test_get_stats_and_clear_cache_agree_with_the_command(tmp_path: Path, plugin_dir: Path) -> None:
    before, grown, cleared = run_script(tmp_path, AGREE.replace("FOLDER", "solo"), plugin_dir)
    assert before == [0, {"solo": 0}]
    assert grown == [3, {"solo": 3}]
    assert cleared == [0, {"solo": 0}]


def test_clear_cache_in_a_live_folder_clears_other_functions_too(
    tmp_path: Path, plugin_dir: Path
) -> None:
    run_script(tmp_path, POPULATE, plugin_dir)  # double: 3 entries, fleeting: 2
    before, grown, cleared = run_script(tmp_path, AGREE.replace("FOLDER", "demo"), plugin_dir)
    assert before == [3, {"demo": 5}]
    assert grown == [6, {"demo": 8}]
    assert cleared == [0, {"demo": 0}]


def test_an_absolute_folder_outside_the_root(tmp_path: Path, plugin_dir: Path) -> None:
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    code = POPULATE.replace('folder_name="demo"', f"folder_name={str(elsewhere)!r}")
    run_script(root, code, plugin_dir)
    assert twat_json(root, "list", plugin=plugin_dir)["caches"] == []  # not under the root
    [report] = twat_json(root, "list", str(elsewhere), plugin=plugin_dir)["caches"]
    assert report["path"] == str(elsewhere)
    assert report["entries"] == 5
    assert twat_json(root, "path", str(elsewhere))["marked"] is True
    twat(root, "clear", str(elsewhere), plugin=plugin_dir)
    assert twat_json(root, "list", str(elsewhere), plugin=plugin_dir)["caches"][0]["entries"] == 0


# --- whatever real disk backend this install has -----------------------------------------------


def test_get_stats_agrees_with_list_on_the_installed_disk_backend(tmp_path: Path) -> None:
    code = """
    import json
    from twat_cache import bcache, get_stats

    @bcache(folder_name="real")
    def square(x):
        return x * x

    for i in range(4):
        square(i)
    print(json.dumps({"backend": square.cache_backend, "stats": get_stats()}))
    """
    result = run_script(tmp_path, code)
    [stats] = result["stats"].values()
    listed = {c["path"]: c for c in twat_json(tmp_path, "list")["caches"]}
    if stats["folder"] is None:  # no disk backend installed: bcache fell back to memory
        assert all(c["entries"] in (None, 0) for c in listed.values())
        return
    report = listed[stats["folder"]]
    assert report["backend"] == result["backend"]
    assert report["entries"] == stats["size"] == 4, report
    twat(tmp_path, "clear", "real")
    assert twat_json(tmp_path, "list", "real")["caches"][0]["entries"] == 0


REAL = {
    "diskcache": "bcache(folder_name='real')",
    "joblib": "fcache(folder_name='real')",
    "klepto-sql": "ucache(folder_name='real', preferred_engine='klepto')",
    "klepto-dir": "bcache(folder_name='real', sql_backend=False)",
}


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("diskcache", marks=needs("diskcache")),
        pytest.param("joblib", marks=needs("joblib")),
        pytest.param("klepto-sql", marks=needs("klepto")),
        pytest.param("klepto-dir", marks=needs("klepto")),
    ],
)
def test_list_prune_clear_on_a_real_backend(tmp_path: Path, case: str) -> None:
    backend = case.split("-", maxsplit=1)[0]
    code = f"""
    import json, time
    from twat_cache import bcache, fcache, get_stats, ucache

    @{REAL[case]}
    def square(x):
        return x * x

    @{REAL[case].replace("folder_name='real'", "folder_name='brief', ttl=0.001")}
    def brief(x):
        return -x

    for i in range(4):
        square(i)
    for i in range(2):
        brief(i)
    time.sleep(0.05)  # brief's entries expire 1 ms after they are written
    print(json.dumps({{"backends": [square.cache_backend, brief.cache_backend],
                      "stats": get_stats()}}))
    """
    result = run_script(tmp_path, code)
    assert result["backends"] == [backend, backend]
    sizes = {s["folder"]: s["size"] for s in result["stats"].values()}
    assert sizes[str(tmp_path / "real")] == 4

    listed = {c["name"]: c for c in twat_json(tmp_path, "list")["caches"]}
    assert listed["real"]["backend"] == backend
    assert listed["real"]["entries"] == 4, listed["real"]
    assert listed["real"]["bytes"] > 0

    pruned = {c["name"]: c for c in twat_json(tmp_path, "prune")["caches"]}
    assert pruned["brief"]["note"] is None
    assert pruned["brief"]["pruned"] in (0, 1, 2)  # diskcache also drops expired rows itself
    assert pruned["brief"]["entries"] == 0
    assert pruned["real"]["pruned"] == 0
    assert pruned["real"]["entries"] == 4

    twat(tmp_path, "clear", "real")
    after = {c["name"]: c for c in twat_json(tmp_path, "list")["caches"]}
    assert after["real"]["entries"] == 0
    assert after["brief"]["entries"] in (0, 2)  # untouched (maybe pruned already)


@pytest.mark.parametrize(
    "case",
    [
        pytest.param("diskcache", marks=needs("diskcache")),
        pytest.param("joblib", marks=needs("joblib")),
        pytest.param("klepto-sql", marks=needs("klepto")),
        pytest.param("klepto-dir", marks=needs("klepto")),
    ],
)
def test_list_is_read_only_on_a_real_backend(tmp_path: Path, case: str) -> None:
    code = f"""
    import json, time
    from twat_cache import bcache, fcache, ucache

    @{REAL[case].replace("folder_name='real'", "folder_name='brief', ttl=0.001")}
    def brief(x):
        return -x

    for i in range(3):
        brief(i)
    time.sleep(0.05)  # expired 1 ms after they were written
    print(json.dumps(brief.cache_backend))
    """
    assert run_script(tmp_path, code) == case.split("-", maxsplit=1)[0]
    before = files_under(tmp_path)
    first = twat_json(tmp_path, "list")
    second = twat_json(tmp_path, "list")
    assert first == second
    assert files_under(tmp_path) == before
    assert first["caches"][0]["entries"] == 3  # expired, but still there until pruned
    assert twat_json(tmp_path, "prune")["caches"][0]["pruned"] == 3
