"""Nothing foreign touched, nothing lost (issue 13, DESIGN §3 "Files and folders").

Seen with an existing project folder as `folder_name`: `twat-cache clear <folder>` deleted the
user's own files and sub-folder, the folder's mode became 0o700; a cache folder under the root
that was a symlink got its target emptied; `folder_name="/"` was accepted and chmod-ed `/`; the
secret lived in the cache root; processes with different secrets deleted each other's entries.

Only the public API, the command and subprocesses are used here, so every case runs against
any version of twat-cache. Each disk case runs on every disk backend installed.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import twat_cache as tc
from conftest import has, needs
from helpers import python, twat_cache
from twat_cache.testing import store_of

POSIX = sys.platform != "win32"
DISK = [
    pytest.param("diskcache", marks=needs("diskcache")),
    pytest.param("klepto-sql", marks=needs("klepto")),
    pytest.param("klepto-dir", marks=needs("klepto")),
    pytest.param("joblib", marks=needs("joblib")),
]
SOURCE = {
    "diskcache": "ucache(folder_name=FOLDER, preferred_engine='diskcache')",
    "klepto-sql": "ucache(folder_name=FOLDER, preferred_engine='klepto')",
    "klepto-dir": "bcache(folder_name=FOLDER, sql_backend=False)",
    "joblib": "fcache(folder_name=FOLDER)",
}


def decorator(backend: str, folder: str | Path, **options: Any) -> Any:
    """The decorator caching on `backend` in `folder` (as the scripts below write it)."""
    source = SOURCE[backend].replace("FOLDER", repr(str(folder)))
    if options:
        source = source[:-1] + ", " + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")"
    return eval(source, {"bcache": tc.bcache, "fcache": tc.fcache, "ucache": tc.ucache})


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `code` in a fresh interpreter (this test's cache root and config folder)."""
    return python("-c", textwrap.dedent(code), env={"PYTHONWARNINGS": "ignore", **env})


def twat(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    """Run the `twat-cache` command."""
    return twat_cache(*args, expect=expect, clean=True, env={"PYTHONWARNINGS": "ignore"})


# -- folder_name: dangerous folders are refused ----------------------------------------------------


def dangerous(cache_root: Path) -> list[str]:
    home = Path(os.environ["HOME"])
    config = Path(os.environ["XDG_CONFIG_HOME"]) if POSIX else Path(os.environ["APPDATA"])
    return [
        os.path.abspath(os.sep),  # the filesystem root
        str(home),
        str(home) + os.sep,
        str(cache_root.parent),  # contains the cache root
        str(cache_root.parent.parent),
        str(config),  # contains the config folder (the secret)
        str(config / "twat_cache"),
    ]


@pytest.mark.parametrize("make", ["bcache", "fcache", "ucache", "get_cache_path", "config"])
def test_dangerous_folders_are_refused(cache_root, make):
    def use(folder: str) -> object:
        if make == "get_cache_path":
            return tc.get_cache_path(folder)
        if make == "config":
            return tc.create_cache_config(folder_name=folder)
        return getattr(tc, make)(folder_name=folder)(lambda x: x)

    for folder in dangerous(cache_root):
        with pytest.raises(ValueError, match="folder_name") as info:
            use(folder)
        assert "simple name" in str(info.value)  # says what is allowed


@pytest.mark.skipif(not POSIX, reason="symlinks")
def test_a_symlink_to_the_home_folder_is_refused(tmp_path):
    link = tmp_path / "home-link"
    link.symlink_to(os.environ["HOME"])
    with pytest.raises(ValueError, match="home"):
        tc.bcache(folder_name=str(link))(lambda x: x)


def test_ordinary_folders_are_accepted(cache_root, tmp_path):
    for folder in ("simple", str(tmp_path / "project"), str(cache_root), str(cache_root / "x")):
        assert tc.create_cache_config(folder_name=folder).folder_name == folder


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_refusing_slash_leaves_its_mode_alone():
    before = os.stat("/")
    with pytest.raises(ValueError):
        tc.get_cache_path("/")
    after = os.stat("/")
    assert (after.st_mode, after.st_uid) == (before.st_mode, before.st_uid)


# -- modes: existing folders keep theirs -----------------------------------------------------------


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_get_cache_path_keeps_an_existing_folders_mode(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    project.chmod(0o755)
    assert tc.get_cache_path(str(project)) == project
    assert stat.S_IMODE(project.stat().st_mode) == 0o755
    deep = tmp_path / "new" / "deeper" / "cache"
    tc.get_cache_path(str(deep))
    for level in (tmp_path / "new", tmp_path / "new" / "deeper", deep):
        assert stat.S_IMODE(level.stat().st_mode) == 0o700, level


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
@pytest.mark.parametrize("backend", DISK)
def test_a_users_folder_keeps_its_mode_and_its_files_modes(backend, tmp_path):
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    project.chmod(0o755)
    (project / "sub").chmod(0o755)
    (project / ".gitignore").write_text("mine\n")
    (project / ".gitignore").chmod(0o644)

    @decorator(backend, project)
    def f(x):
        return x

    f(1)
    f(1)
    assert stat.S_IMODE(project.stat().st_mode) == 0o755
    assert stat.S_IMODE((project / "sub").stat().st_mode) == 0o755
    assert stat.S_IMODE((project / ".gitignore").stat().st_mode) == 0o644
    assert (project / ".gitignore").read_text() == "mine\n"
    # what twat-cache created there is private
    for path in project.iterdir():
        if path.name not in ("sub", ".gitignore"):
            want = 0o700 if path.is_dir() else 0o600
            assert stat.S_IMODE(path.lstat().st_mode) == want, path


# -- clearing removes only what twat-cache wrote ---------------------------------------------------


def populate_users_folder(project: Path, outside: Path) -> dict[str, tuple[bytes, int]]:
    """A project folder with the user's own files, sub-folder and links (to `outside`)."""
    (project / "sub" / "deeper").mkdir(parents=True)
    outside.mkdir()
    (outside / "target.txt").write_text("outside, never touched")
    files = {
        "notes.txt": b"my notes",
        "sub/data.csv": b"a,b\n1,2\n",
        "sub/deeper/model.bin": b"\x00\x01" * 100,
        ".gitignore": b"*.pyc\n",
        ".hidden": b"dot file",
        "cache.db": b"my own sqlite file, not twat-cache's",
    }
    for name, data in files.items():
        (project / name).write_bytes(data)
    if POSIX:
        (project / "link-to-file").symlink_to(outside / "target.txt")
        (project / "link-to-dir").symlink_to(outside, target_is_directory=True)
    return snapshot(project, outside)


def snapshot(*folders: Path) -> dict[str, tuple[bytes, int]]:
    """Content and mode of every regular file (links: their target path) below `folders`."""
    seen: dict[str, tuple[bytes, int]] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            info = path.lstat()
            if path.is_symlink():
                seen[str(path)] = (os.readlink(path).encode(), info.st_mode)
            elif path.is_file():
                seen[str(path)] = (path.read_bytes(), info.st_mode)
            else:
                seen[str(path)] = (b"<dir>", info.st_mode)
    return seen


def users_part(seen: dict[str, tuple[bytes, int]], before: dict[str, tuple[bytes, int]]) -> dict:
    return {k: v for k, v in seen.items() if k in before}


CALLS = """
import os, sys
from pathlib import Path
from twat_cache import bcache, fcache, ucache
@DECO
def f(x):
    Path(os.environ["CALLS"], f"{x}-{os.getpid()}").touch()
    return [x] * 1000
for x in (1, 2):
    assert f(x) == [x] * 1000
"""

WAYS = ["cache_clear", "clear_cache(folder)", "command: clear FOLDER", "command: prune"]


def _cached_twice(backend: str, folder: Path, calls: Path) -> None:
    """Two entries in `folder`, written by another process."""
    calls.mkdir(exist_ok=True)
    run(
        CALLS.replace("DECO", SOURCE[backend].replace("FOLDER", repr(str(folder)))),
        CALLS=str(calls),
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("way", WAYS)
@pytest.mark.parametrize("backend", DISK)
def test_clearing_a_users_folder_removes_only_twat_caches_files(backend, way, tmp_path):
    project, outside, calls = tmp_path / "project", tmp_path / "outside", tmp_path / "calls"
    project.mkdir()
    before = populate_users_folder(project, outside)
    _cached_twice(backend, project, calls)
    assert len(list(calls.iterdir())) == 2
    if way == "cache_clear":
        run(
            CALLS.replace("DECO", SOURCE[backend].replace("FOLDER", repr(str(project))))
            + "f.cache_clear()\n",
            CALLS=str(calls),
        )
    elif way == "clear_cache(folder)":
        run(f"import twat_cache; twat_cache.clear_cache({str(project)!r})")
    elif way == "command: clear FOLDER":
        twat("clear", str(project))
    else:
        twat("prune", str(project))
    after = snapshot(project, outside)
    assert users_part(after, before) == before  # every file, link and folder of the user's
    assert (outside / "target.txt").read_text() == "outside, never touched"
    if way != "command: prune":  # the entries are gone: the next process computes again
        before_calls = len(list(calls.iterdir()))
        _cached_twice(backend, project, calls)
        assert len(list(calls.iterdir())) == before_calls + 2


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", DISK)
def test_clear_cache_of_everything_keeps_a_users_files_under_the_root(
    backend, cache_root, tmp_path
):
    mixed = cache_root / "mixed"
    mixed.mkdir()
    (mixed / "notes.txt").write_text("put here by the user")
    (mixed / "sub").mkdir()
    (mixed / "sub" / "data.csv").write_text("1,2")
    calls = tmp_path / "calls"
    _cached_twice(backend, mixed, calls)
    run("import twat_cache; twat_cache.clear_cache()")
    twat("clear", "--yes")
    assert (mixed / "notes.txt").read_text() == "put here by the user"
    assert (mixed / "sub" / "data.csv").read_text() == "1,2"
    _cached_twice(backend, mixed, calls)
    assert len(list(calls.iterdir())) == 4  # cleared: computed again


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", DISK)
def test_clearing_in_process_keeps_a_users_files(backend, tmp_path):
    project, outside = tmp_path / "project", tmp_path / "outside"
    project.mkdir()
    before = populate_users_folder(project, outside)
    calls: list[int] = []

    @decorator(backend, project)
    def f(x):
        calls.append(x)
        return x

    f(1)
    f.cache_clear()
    tc.clear_cache(str(project))
    tc.clear_cache()
    store_of(f).clear_all()
    assert users_part(snapshot(project, outside), before) == before
    f(1)
    assert calls == [1, 1]


@pytest.mark.skipif(not POSIX, reason="symlinks")
@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", DISK)
def test_a_symlinked_cache_folder_under_the_root_is_never_emptied(backend, cache_root, tmp_path):
    target, calls = tmp_path / "real-cache", tmp_path / "calls"
    target.mkdir()
    (target / "keep.txt").write_text("the user's")
    _cached_twice(backend, target, calls)  # a real cache folder, with its marker and entries
    (cache_root / "linked").symlink_to(target, target_is_directory=True)
    before = snapshot(target)
    run("import twat_cache; twat_cache.clear_cache()")
    run("import twat_cache; twat_cache.clear_cache('linked')")
    twat("clear", "--yes")
    twat("clear", "linked", expect=1)  # refused: it is a link
    tc.clear_cache()
    assert snapshot(target) == before
    _cached_twice(backend, target, calls)
    assert len(list(calls.iterdir())) == 2  # the entries survived: hits


# -- the secret ------------------------------------------------------------------------------------


def _key_files(cache_root: Path) -> list[Path]:
    """Wherever the key file is (before: in the cache root; now: the user config folder)."""
    config = Path(os.environ["XDG_CONFIG_HOME"] if POSIX else os.environ["APPDATA"])
    candidates = [cache_root / ".twat_cache_secret", config / "twat_cache" / "secret"]
    return [p for p in candidates if p.exists()]


@pytest.mark.parametrize("backend", DISK)
def test_the_secret_is_not_in_any_cache_folder(backend, cache_root):
    @decorator(backend, "anywhere")
    def f(x):
        return x

    f(1)
    (key,) = _key_files(cache_root)
    assert cache_root not in key.parents
    if POSIX:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for path in cache_root.rglob("*"):
        if path.is_file() and path.stat().st_size == 32:
            assert path.read_bytes() != key.read_bytes(), path


STORE = """
import json, logging, os
logging.basicConfig()
from pathlib import Path
from twat_cache import bcache, fcache, ucache
@DECO
def f(x):
    Path(os.environ["CALLS"], f"{x}-{os.getpid()}").touch()
    return x * 10
print(json.dumps([f(x) for x in range(5)]))
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", DISK)
def test_a_deleted_key_file_gives_no_warning_per_entry(backend, cache_root, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    script = STORE.replace("DECO", SOURCE[backend].replace("FOLDER", repr(str(tmp_path / "c"))))
    first = run(script, CALLS=str(calls))
    for key in _key_files(cache_root):
        key.unlink()  # the next process makes a new key: every entry is another secret's
    second = run(script, CALLS=str(calls))
    assert first.stdout == second.stdout
    assert "WARNING" not in second.stderr, second.stderr  # not one per entry, not one at all
    assert len(list(calls.iterdir())) == 10  # the old entries are misses
    assert run(script, CALLS=str(calls)).stdout == first.stdout
    assert len(list(calls.iterdir())) == 10  # the new key's entries are hits


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", DISK)
def test_processes_with_different_secrets_never_delete_each_others_entries(backend, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    script = STORE.replace("DECO", SOURCE[backend].replace("FOLDER", repr(str(tmp_path / "c"))))
    outs = [
        run(script, CALLS=str(calls), TWAT_CACHE_SECRET=secret)
        for secret in ("one", "two", "one", "two")
    ]
    assert len({o.stdout for o in outs}) == 1
    assert len(list(calls.iterdir())) == 10  # each secret computed once, then only hits
    assert not any("WARNING" in o.stderr for o in outs), [o.stderr for o in outs]


# -- a full disk: the next calls cache again, cache_clear works ------------------------------------

FULL = """
import json, logging, os, resource, signal, sys
logging.basicConfig()
from pathlib import Path
from twat_cache import bcache, fcache, ucache

calls = []

@DECO
def f(x, size):
    calls.append(x)
    return b"v" * size

f(0, 10)  # opened and used before the disk "fills up"
# Writing past 2 MiB now fails with EFBIG, as a full disk fails with ENOSPC.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (2 << 20, resource.RLIM_INFINITY))
assert f(1, 8 << 20) == b"v" * (8 << 20)  # cannot be stored: returned anyway
assert f(1, 8 << 20) == b"v" * (8 << 20)
for x in range(2, 6):  # small results: stored again, then hits
    assert f(x, 100) == b"v" * 100
    assert f(x, 100) == b"v" * 100
hits = f.cache_info().hits
f.cache_clear()
assert f.cache_info().currsize == 0
assert f(2, 100) == b"v" * 100
assert f(2, 100) == b"v" * 100
print(json.dumps({"calls": calls, "hits": hits}))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or not has("resource"), reason="RLIMIT_FSIZE")
@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("backend", DISK)
def test_after_a_failed_write_the_next_calls_cache_again(backend, tmp_path):
    script = FULL.replace("DECO", SOURCE[backend].replace("FOLDER", repr(str(tmp_path / "c"))))
    result = json.loads(run(script).stdout)
    assert result["calls"] == [0, 1, 1, 2, 3, 4, 5, 2]
    assert result["hits"] == 4
