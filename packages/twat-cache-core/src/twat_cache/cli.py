"""The `twat-cache` command: see which backends are installed, inspect and clean the disk caches.

Subcommands: `backends` (what is installed, what each backend can do, which backend each
decorator would pick), `list` (the caches under the cache root), `clear [NAME]`, `prune` (drop
expired entries) and `path [NAME]`. Output is a table for people, or JSON with `--json`. Errors
are one line on stderr and a non-zero exit status, never a traceback.

Only the standard library is imported up front. `list` and `prune` open a folder's store
through the backend registry (the same opener the decorators use), so the backend's library is
imported only when there is a folder of that backend to look into. The store protocol the
command relies on (all of it optional except `__len__`):

- `len(store)`: the entries of the store's function (the command adds up every function that
  the folder's marker lists);
- `store.prune() -> int`: drop the entries whose expiry has passed, return how many;
- `store.close()`: release files and connections.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

from twat_cache import folders, paths

PROG = "twat-cache"

__all__ = ["CommandError", "FolderReport", "build_parser", "folder_report", "main"]


class CommandError(Exception):
    """An error the command reports as one line on stderr, with exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus the usual exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error in one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


@dataclass
class FolderReport:
    """What `list` shows about one cache folder.

    `entries` is None when it could not be counted (backend not installed, or its store could
    not be opened: `note` says why). `oldest`/`newest` are the modification times (epoch
    seconds) of the oldest and newest file in the folder, the marker excluded.
    """

    name: str
    path: str
    backend: str | None
    namespaces: list[str]
    entries: int | None
    bytes: int
    files: int
    oldest: float | None
    newest: float | None
    note: str | None = None
    pruned: int | None = field(default=None, repr=False)


# ---------------------------------------------------------------------------------------------
# Looking into folders


def cache_folders(root: Path) -> list[Path]:
    """Return the marked cache folders under `root`, by name (root first if it has a backend).

    Only folders holding twat-cache's marker file count, exactly like `clear_cache`, so the
    command never reports or touches anything twat-cache did not create. A symbolic link under
    the root is skipped: its target may be anything, and it is never cleaned through the link.
    """
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if not p.is_symlink() and p.is_dir() and paths.is_marked(p)]
    found.sort(key=lambda p: p.name)
    if paths.is_marked(root) and paths.read_marker(root).get("backend"):
        found.insert(0, root)
    return found


def disk_usage(folder: Path) -> tuple[int, int, float | None, float | None]:
    """(bytes, files, oldest mtime, newest mtime) of the files under `folder`, marker excluded.

    Symbolic links are counted as links, never followed, so a link out of the folder cannot
    inflate the numbers or leak information about other places.
    """
    total = files = 0
    oldest: float | None = None
    newest: float | None = None
    for top, dirs, names in os.walk(folder, followlinks=False):
        for name in names:
            if top == str(folder) and name == paths.MARKER:
                continue
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:  # removed while we walk
                continue
            total += st.st_size
            files += 1
            oldest = st.st_mtime if oldest is None else min(oldest, st.st_mtime)
            newest = st.st_mtime if newest is None else max(newest, st.st_mtime)
        dirs.sort()
    return total, files, oldest, newest


def folder_report(
    folder: Path, *, count: bool = True, prune: bool = False, root: Path | None = None
) -> FolderReport:
    """Describe one cache folder; with `count`, open its stores to count the entries.

    With `prune`, call each store's optional `prune()` first (the number dropped goes to
    `pruned`; None when the backend's store has no `prune`). Problems opening a store end up
    in `note` instead of failing the whole listing.
    """
    meta = paths.read_marker(folder)
    recorded = meta.get("backend")
    backend = recorded if isinstance(recorded, str) else None
    name = folder.name if root is None or folder != root else "."
    note: str | None = None
    entries: int | None = None
    pruned: int | None = None
    if backend is None:
        note = "no backend recorded"
    elif count or prune:
        try:
            with folders.opened_stores(folder, meta, name=PROG) as stores:
                if prune:
                    pruned = sum(int(s.prune()) for _, s in stores)
                if count:
                    entries = sum(len(s) for _, s in stores)
        except (CommandError, folders.FolderError) as exc:
            note = str(exc)
        except Exception as exc:
            note = f"{type(exc).__name__}: {exc}"
    size, files, oldest, newest = disk_usage(folder)
    return FolderReport(
        name=name,
        path=str(folder),
        backend=backend,
        namespaces=folders.namespaces(meta),
        entries=entries,
        bytes=size,
        files=files,
        oldest=oldest,
        newest=newest,
        note=note,
        pruned=pruned,
    )


def _find_folder(name: str) -> Path:
    """Resolve a NAME argument to its folder; `CommandError` unless it is a marked cache folder."""
    try:
        folder = paths.resolve_cache_path(name)
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    if folder.is_symlink():
        raise CommandError(
            f"{folder} is a symbolic link; twat-cache does not clean through links "
            "(name the folder it points to instead)"
        )
    if not folder.is_dir():
        raise CommandError(f"no cache folder {name!r} (looked for {folder})")
    if not paths.is_marked(folder):
        raise CommandError(f"{folder} is not a twat-cache folder (it has no {paths.MARKER} marker)")
    return folder


# ---------------------------------------------------------------------------------------------
# Output


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover  (the loop always returns)


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    """Format `rows` as a plain-text table with left-aligned columns under `headers`."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def _emit(out: TextIO, args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    if args.json:
        out.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    else:
        out.write(text() + "\n")


def _report_json(report: FolderReport) -> dict[str, Any]:
    data = asdict(report)
    data["oldest"] = _when(report.oldest)
    data["newest"] = _when(report.newest)
    if data["pruned"] is None:
        del data["pruned"]
    return data


# ---------------------------------------------------------------------------------------------
# Subcommands


def cmd_backends(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache backends`: installed backends, their abilities, and each decorator's pick."""
    from twat_cache import available_backends  # noqa: PLC0415

    info = available_backends()

    def text() -> str:
        rows = [
            [
                name,
                "yes" if b["usable"] else "no",
                ",".join(b["kinds"]),
                ",".join(b["policies"]),
                "yes" if b["persistent"] else "no",
                b["distribution"] or "-",
            ]
            for name, b in info["backends"].items()
        ]
        headers = ["backend", "usable", "kinds", "policies", "persistent", "distribution"]
        picks = [[dec, name] for dec, name in info["picks"].items()]
        return table(rows, headers) + "\n\n" + table(picks, ["decorator", "picks"])

    _emit(out, args, info, text)
    return 0


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache list`: the caches under the cache root with entries, size and age."""
    root = paths.cache_root()
    folders = [_find_folder(args.name)] if args.name else cache_folders(root)
    reports = [folder_report(f, count=not args.no_count, root=root) for f in folders]

    def text() -> str:
        if not reports:
            return f"no caches under {root}"
        rows = [
            [
                r.name,
                r.backend or "?",
                "?" if r.entries is None else str(r.entries),
                _human_bytes(r.bytes),
                (_when(r.oldest) or "-").replace("+00:00", "Z"),
                (_when(r.newest) or "-").replace("+00:00", "Z"),
            ]
            for r in reports
        ]
        body = table(rows, ["name", "backend", "entries", "size", "oldest", "newest"])
        notes = [f"{r.name}: {r.note}" for r in reports if r.note and not args.no_count]
        return "\n".join([f"cache root: {root}", body, *notes])

    _emit(out, args, {"root": str(root), "caches": [_report_json(r) for r in reports]}, text)
    return 0


def cmd_clear(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache clear [NAME]`: empty one cache folder, or every one under the root."""
    from twat_cache import clear_cache  # noqa: PLC0415

    root = paths.cache_root()
    folders = [_find_folder(args.name)] if args.name else cache_folders(root)
    clear_cache(args.name)
    names = [f.name if f != root else "." for f in folders]

    def text() -> str:
        if not names:
            return f"no caches under {root}"
        return "\n".join(f"cleared {n}" for n in names)

    _emit(out, args, {"root": str(root), "cleared": names}, text)
    return 0


def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache prune [NAME]`: drop expired entries from stores that can tell."""
    root = paths.cache_root()
    folders = [_find_folder(args.name)] if args.name else cache_folders(root)
    reports = [folder_report(f, count=True, prune=True, root=root) for f in folders]

    def text() -> str:
        if not reports:
            return f"no caches under {root}"
        rows = [
            [
                r.name,
                r.backend or "?",
                "-" if r.pruned is None else str(r.pruned),
                "?" if r.entries is None else str(r.entries),
                r.note or "",
            ]
            for r in reports
        ]
        return table(rows, ["name", "backend", "pruned", "entries left", "note"])

    data = {
        "root": str(root),
        "caches": [
            {
                "name": r.name,
                "backend": r.backend,
                "pruned": r.pruned,
                "entries": r.entries,
                "note": r.note,
            }
            for r in reports
        ],
    }
    _emit(out, args, data, text)
    return 0


def cmd_path(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache path [NAME]`: print the cache root, or where cache NAME lives."""
    try:
        path = paths.resolve_cache_path(args.name)
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    data = {"path": str(path), "exists": path.is_dir(), "marked": paths.is_marked(path)}
    _emit(out, args, data, lambda: str(path))
    return 0


# ---------------------------------------------------------------------------------------------
# Entry point


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser (subcommands backends, list, clear, prune, path)."""
    from twat_cache import __version__  # noqa: PLC0415

    parser = _Parser(
        prog=PROG,
        description="Inspect and maintain twat-cache caches. The cache root is $TWAT_CACHE_DIR "
        "if set, else the platform's user cache folder + twat_cache.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    # Subcommands take --json too; SUPPRESS keeps their default from hiding the global flag.
    common = _Parser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser(
        "backends", parents=[common], help="installed backends and which one each decorator picks"
    )
    p.set_defaults(func=cmd_backends)

    p = sub.add_parser(
        "list", parents=[common], help="caches under the cache root: entries, size, age"
    )
    p.add_argument("name", nargs="?", help="only this cache folder")
    p.add_argument(
        "--no-count",
        action="store_true",
        help="do not open the stores to count entries (no backend library is imported)",
    )
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("clear", parents=[common], help="empty one cache folder, or all of them")
    p.add_argument("name", nargs="?", help="the cache folder to empty (default: every one)")
    p.set_defaults(func=cmd_clear)

    p = sub.add_parser("prune", parents=[common], help="drop expired entries")
    p.add_argument("name", nargs="?", help="only this cache folder")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser("path", parents=[common], help="print the cache root or a cache's folder")
    p.add_argument("name", nargs="?", help="a cache folder name (default: the root)")
    p.set_defaults(func=cmd_path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with `argv` (default: the process's arguments); return the exit status.

    Expected failures (a bad name, a missing folder) and unexpected ones alike become one line
    on stderr and status 1; usage errors exit with status 2.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args, sys.stdout)
        sys.stdout.flush()
    except CommandError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    except BrokenPipeError:
        # `twat-cache list | head`: the reader went away. Point stdout at devnull so the
        # interpreter's final flush does not complain about the closed pipe.
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        sys.stderr.write(f"{PROG}: error: {type(exc).__name__}: {exc}\n")
        return 1
    return status
