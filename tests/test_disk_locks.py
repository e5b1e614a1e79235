"""Cross-process single flight through the decorators, on every disk backend.

Issue 14: a computation that calls its own key from a child process deadlocked (the child waited
for the parent's per-key file lock, which had no timeout). Issue 16: one lock file per key,
never removed (100,000 entries left 100,000 lock files). Only the public API is used here, so
these run against any version of twat-cache; every test has a hard timeout.
"""

from __future__ import annotations

import sys

import pytest

from conftest import needs
from helpers import python

# The function lives in a module of its own: a spawned child imports it under the same name, so
# it asks for the very same key (a function in __main__ would be __mp_main__'s in the child).
RECURSE = """
import multiprocessing as mp
from twat_cache import bcache, fcache, ucache

DECO
def f(x):
    if mp.parent_process() is None:  # the top call asks a child process for its own key
        with mp.get_context(METHOD).Pool(1) as pool:
            return pool.apply(f, (x,)) + 1
    return x
"""
MAIN = """
import recursing

if __name__ == "__main__":
    print(recursing.f(3), recursing.f(3))
"""

DECORATORS = {
    "diskcache": "@ucache(folder_name=FOLDER, preferred_engine='diskcache')",
    "klepto-sql": "@ucache(folder_name=FOLDER, preferred_engine='klepto')",
    "klepto-dir": "@bcache(folder_name=FOLDER, sql_backend=False)",
    "joblib": "@fcache(folder_name=FOLDER)",
}
DISK = [
    pytest.param("diskcache", marks=needs("diskcache")),
    pytest.param("klepto-sql", marks=needs("klepto")),
    pytest.param("klepto-dir", marks=needs("klepto")),
    pytest.param("joblib", marks=needs("joblib")),
]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "method",
    [
        "spawn",
        pytest.param("fork", marks=pytest.mark.skipif(sys.platform == "win32", reason="fork")),
    ],
)
@pytest.mark.parametrize("backend", DISK)
def test_a_function_calling_its_own_key_from_a_child_process_gets_an_answer(
    backend, method, tmp_path
):
    deco = DECORATORS[backend].replace("FOLDER", repr(str(tmp_path / "cache")))
    module = RECURSE.replace("DECO", deco).replace("METHOD", repr(method))
    (tmp_path / "recursing.py").write_text(module)
    script = tmp_path / "main.py"
    script.write_text(MAIN)
    proc = python(str(script), timeout=100)
    assert proc.stdout.split() == ["4", "4"]


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", DISK)
def test_lock_files_stay_bounded_through_a_decorated_function(backend, tmp_path):
    import twat_cache as tc

    folder = tmp_path / "cache"
    deco = {
        "diskcache": lambda: tc.ucache(folder_name=str(folder), preferred_engine="diskcache"),
        "klepto-sql": lambda: tc.ucache(folder_name=str(folder), preferred_engine="klepto"),
        "klepto-dir": lambda: tc.bcache(folder_name=str(folder), sql_backend=False),
        "joblib": lambda: tc.fcache(folder_name=str(folder)),
    }[backend]()

    @deco
    def f(x):
        return x

    for x in range(1_000):
        f(x)
    assert f.cache_info().misses == 1_000
    lock_files = [p for p in folder.rglob("*") if p.name.endswith(".lock")]
    assert 1 <= len(lock_files) <= 2, lock_files  # the store's, and klepto's opening lock
