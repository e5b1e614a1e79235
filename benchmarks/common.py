"""Helpers the bench modules share: named functions, scratch folders, sizes, files on disk.

`benchmarks/run.py` runs every bench module with HOME pointed at a fresh temporary folder and
`tempfile.tempdir` inside it, so `scratch()` folders (the raw libraries' caches) live on the
same filesystem as twat-cache's own caches, which sit in their default place under that HOME.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


def named(func: F, name: str) -> F:
    """Give `func` its own name, as a user's function has: its own namespace and folder.

    Functions made by one factory share a qualified name (`factory.<locals>.f`); decorated
    without `folder_name`, they would share the default folder and namespace, so every bench
    function gets a name of its own.
    """
    func.__name__ = func.__qualname__ = name
    return func


def scratch(label: str) -> str:
    """A new empty folder for a raw library's cache, under the temporary HOME of the run.

    `run.py` removes that HOME, and everything in it, once the run is over.
    """
    return tempfile.mkdtemp(prefix=f"raw-{label}-")


def size_label(n: int) -> str:
    """An entry count as a short label: 1, 200, 1k, 10k, 100k."""
    if n >= 1000 and n % 1000 == 0:
        return f"{n // 1000}k"
    return str(n)


def count_files(folder: str | os.PathLike[str]) -> int:
    """Files (anything not a folder) anywhere under `folder`, counted with os.walk."""
    return sum(len(files) for _, _, files in os.walk(folder))


def disk_bytes(folder: str | os.PathLike[str]) -> int:
    """Bytes on disk (allocated blocks) of `folder`, its subfolders and every file in them."""
    total = 0
    for top, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            with contextlib.suppress(OSError):  # removed while we walk: not there any more
                total += os.lstat(os.path.join(top, name)).st_blocks * 512
    return total + os.lstat(folder).st_blocks * 512
