"""The fallback chains as DESIGN.md states them, written out apart from the code under test."""

from __future__ import annotations

from collections.abc import Collection

BACKENDS = (
    "cachebox",
    "cachetools",
    "diskcache",
    "klepto",
    "joblib",
    "aiocache",
    "redis",
    "memcached",
)


def first(installed: Collection[str], *chain: str) -> str:
    """The first of `chain` that is installed, else the memory pick."""
    for name in chain:
        if name in installed:
            return name
    return memory(installed)


def memory(installed: Collection[str]) -> str:
    for name in ("cachebox", "cachetools"):
        if name in installed:
            return name
    return "functools"


def expected_picks(installed: Collection[str]) -> dict[str, str]:
    """What each decorator must pick when exactly `installed` backend plugins are present."""
    return {
        "mcache": memory(installed),
        "bcache": first(installed, "diskcache", "klepto"),
        "bcache(sql_backend=False)": first(installed, "klepto"),
        "fcache": first(installed, "joblib", "klepto"),
        "acache": first(installed, "aiocache"),
        "ucache": memory(installed),
        "ucache(folder_name)": first(installed, "klepto", "diskcache", "joblib"),
        "ucache(async)": first(installed, "aiocache"),
        "ucache(use_async)": first(installed, "aiocache"),
    }
