"""Helpers shared by the disk-backend tests: open a cache on one backend, reach its stored bytes."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import twat_cache as tc
from conftest import has

#: backend id -> (plugin needed, backend name reported by cache_backend)
BACKENDS = {
    "diskcache": ("diskcache", "diskcache"),
    "klepto-sql": ("klepto", "klepto"),
    "klepto-dir": ("klepto", "klepto"),
}


def backend_params() -> list[Any]:
    """The disk backends as pytest params, each skipped when its plugin is not installed."""
    return [
        pytest.param(
            name,
            id=name,
            marks=pytest.mark.skipif(not has(f"twat_cache_{plugin}"), reason=f"needs {plugin}"),
        )
        for name, (plugin, _) in BACKENDS.items()
    ]


def decorator(backend: str, folder: str | Path, **options: Any) -> Any:
    """A decorator caching on `backend` in `folder` (bcache / ucache with the right engine)."""
    if backend == "klepto-dir":
        return tc.bcache(folder_name=str(folder), sql_backend=False, **options)
    engine = backend.split("-", maxsplit=1)[0]
    return tc.ucache(folder_name=str(folder), preferred_engine=engine, **options)


def rewrite_entries(backend: str, folder: Path, change: Callable[[bytes], bytes]) -> int:
    """Apply `change` to the stored envelope of every entry in `folder`; return how many."""
    n = 0
    if backend == "diskcache":
        for db in folder.glob("dc-*/cache.db"):
            con = sqlite3.connect(db)
            rows = con.execute("SELECT rowid, value, filename FROM Cache").fetchall()
            for rowid, value, filename in rows:
                if filename:
                    path = db.parent / filename
                    path.write_bytes(change(path.read_bytes()))
                else:
                    con.execute(
                        "UPDATE Cache SET value = ? WHERE rowid = ?", (change(bytes(value)), rowid)
                    )
                n += 1
            con.commit()
            con.close()
    elif backend == "klepto-sql":
        con = sqlite3.connect(folder / "klepto.sqlite")
        tables = [
            r[0]
            for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if re.fullmatch(r"t_[0-9a-f]{32}", r[0])  # klepto's tables (not the store's totals)
        ]
        for table in tables:
            for key, value in con.execute(f"SELECT Kkey, Kval FROM {table}").fetchall():
                con.execute(
                    f"UPDATE {table} SET Kval = ? WHERE Kkey = ?", (change(bytes(value)), key)
                )
                n += 1
        con.commit()
        con.close()
    else:
        for path in folder.glob("klepto-*/K_*/output.json"):
            blob = base64.b64decode(json.loads(path.read_text()))
            path.write_text(json.dumps(base64.b64encode(change(blob)).decode()))
            n += 1
    return n


def stored_blobs(backend: str, folder: Path) -> list[bytes]:
    """The stored envelopes of every entry in `folder`."""
    out: list[bytes] = []

    def grab(blob: bytes) -> bytes:
        out.append(blob)
        return blob

    rewrite_entries(backend, folder, grab)
    return out
