"""The `twat-cache` command: see which backends are installed, inspect and clean the disk caches.

Subcommands: `backends` (each decorator's chain, what is installed, how to install the rest),
`list` (the caches under the cache root, their entries, sizes and ages), `clear [NAME]`,
`prune [NAME]` (drop expired entries and leftovers), `verify [NAME] [--fix]` (authenticate
every entry) and `path [NAME]`. Bare `twat-cache` prints the help (exit status 0). Output is a
table for people, or JSON with `--json`. Errors are one line on stderr and a non-zero exit
status, never a traceback.

Only the standard library is imported up front. The commands that look into a folder open its
stores through the backend registry (the same opener the decorators use), so a backend's
library is imported only when there is a folder of that backend to look into. The command
relies on the `Store` base class (`twat_cache.store`): `len(store)` (read-only: counting never
expires or evicts), `prune()`, `clear()`, `verify(fix)` and `close()`.

Sizes and times are read from the files before any store is opened, so what `list` reports is
what was there, not what opening a store touched; the marker, lock files, temporary files and
SQLite's side files are left out of the ages (they change without an entry changing).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TextIO

from twat_cache import folders, paths

PROG = "twat-cache"

__all__ = [
    "CommandError",
    "FolderReport",
    "Usage",
    "backends_markdown",
    "build_parser",
    "folder_report",
    "human_age",
    "human_bytes",
    "main",
]


class CommandError(Exception):
    """An error the command reports as one line on stderr, with exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (plus the usual exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Report a usage error in one line and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------------------------------------
# Looking into folders


@dataclass
class Usage:
    """What a cache folder takes on disk: `bytes` and `files`, the `oldest`/`newest` entry times.

    The times are modification times (epoch seconds) of the files holding entries: the
    marker, lock files, temporary files and SQLite's `-wal`/`-shm`/`-journal` files are
    counted in `bytes` but not in the times. None when there is no such file.
    """

    bytes: int = 0
    files: int = 0
    oldest: float | None = None
    newest: float | None = None


@dataclass
class FolderReport:
    """What the command found in one cache folder (`list`, and the other commands' rows).

    `entries` is None when they could not be counted (backend not installed, or its store
    could not be opened: `note` says why). `usage` is measured before any store is opened.
    `done` holds what the command did there (pruned, removed, checked, broken entries...).
    """

    name: str
    path: str
    backend: str | None
    namespaces: list[str]
    usage: Usage
    entries: int | None = None
    note: str | None = None
    done: dict[str, Any] = field(default_factory=dict)


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


#: Files that change without an entry changing: never an entry's age.
_SIDE_SUFFIXES = (".lock", "-wal", "-shm", "-journal")


def _bookkeeping(name: str) -> bool:
    return (
        name == paths.MARKER or name.startswith(paths.TMP_PREFIX) or name.endswith(_SIDE_SUFFIXES)
    )


def _walk(top: str) -> Iterator[tuple[str, os.stat_result]]:
    """(name, lstat) of every file under `top` (itself when it is a file); links not followed."""
    try:
        st = os.lstat(top)
    except OSError:
        return
    if not os.path.isdir(top) or os.path.islink(top):
        yield os.path.basename(top), st
        return
    for here, dirs, names in os.walk(top, followlinks=False):
        dirs.sort()
        for name in names:
            try:
                yield name, os.lstat(os.path.join(here, name))
            except OSError:  # removed while we walk
                continue


def disk_usage(folder: Path, meta: dict[str, object] | None = None) -> Usage:
    """What `folder`'s caches take: the names its marker says twat-cache created, else all.

    When the marker records the names the stores created (`owned`), only those are measured,
    so a user's own files in a folder used as `folder_name` are neither counted nor dated.
    Symbolic links are counted as links, never followed.
    """
    owned = folders.owned_names(meta if meta is not None else paths.read_marker(folder))
    tops = [os.path.join(folder, *n.split("/")) for n in owned] if owned else [str(folder)]
    usage = Usage()
    for top in tops:
        for name, st in _walk(top):
            if name == paths.MARKER and not owned:
                continue
            usage.bytes += st.st_size
            usage.files += 1
            if _bookkeeping(name):
                continue
            mtime = st.st_mtime
            usage.oldest = mtime if usage.oldest is None else min(usage.oldest, mtime)
            usage.newest = mtime if usage.newest is None else max(usage.newest, mtime)
    return usage


@contextmanager
def _stores(report: FolderReport, meta: dict[str, object]) -> Iterator[list[tuple[str, Any]]]:
    """The folder's stores (opened through the registry), or [] with `report.note` saying why."""
    stack = ExitStack()
    stores: list[tuple[str, Any]] = []
    if report.backend is None:
        report.note = "no backend recorded"
    else:
        try:
            stores = stack.enter_context(folders.opened_stores(Path(report.path), meta, name=PROG))
        except folders.FolderError as exc:
            report.note = str(exc)
        except Exception as exc:
            report.note = f"{type(exc).__name__}: {exc}"
    with stack:
        yield stores


def _open_report(folder: Path, root: Path | None) -> tuple[FolderReport, dict[str, object]]:
    meta = paths.read_marker(folder)
    recorded = meta.get("backend")
    report = FolderReport(
        name="." if root is not None and folder == root else folder.name,
        path=str(folder),
        backend=recorded if isinstance(recorded, str) else None,
        namespaces=folders.namespaces(meta),
        usage=disk_usage(folder, meta),
    )
    return report, meta


def _count(report: FolderReport, stores: list[tuple[str, Any]]) -> int | None:
    try:
        return sum(len(store) for _, store in stores)
    except Exception as exc:
        report.note = f"counting failed: {type(exc).__name__}: {exc}"
        return None


def folder_report(folder: Path, *, count: bool = True, root: Path | None = None) -> FolderReport:
    """Describe one cache folder; with `count`, open its stores to count the entries.

    Sizes and times are measured first, before any store is opened. Counting uses `len()`
    of each function's store, which never changes anything. Problems opening a store end up
    in `note` instead of failing the whole listing.
    """
    report, meta = _open_report(folder, root)
    if count:
        with _stores(report, meta) as stores:
            if report.note is None:
                report.entries = _count(report, stores)
    return report


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


def _targets(name: str | None) -> tuple[Path, list[Path]]:
    root = paths.cache_root()
    return root, ([_find_folder(name)] if name else cache_folders(root))


# ---------------------------------------------------------------------------------------------
# Output


def _when(ts: float | None) -> str | None:
    if ts is None:
        return None
    return _dt.datetime.fromtimestamp(ts, _dt.timezone.utc).isoformat(timespec="seconds")


def human_bytes(n: int) -> str:
    """`n` bytes for people: "512 B", "3.2 KiB", "96.0 MiB" (binary units)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover  (the loop always returns)


def human_age(ts: float | None, now: float | None = None) -> str:
    """How long ago `ts` (epoch seconds) was, for people: "12 s ago", "5 min ago", "2 h ago"."""
    if ts is None:
        return "-"
    seconds = (time.time() if now is None else now) - ts
    if seconds < 1:
        return "just now"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def table(
    rows: Sequence[Sequence[str]],
    headers: Sequence[str],
    footer: Sequence[str] | None = None,
) -> str:
    """Format `rows` as a plain-text table under `headers` (numbers right-aligned).

    A `footer` row (totals) is set off below a rule.
    """
    every = [*rows, *([footer] if footer else [])]
    widths = [len(h) for h in headers]
    for row in every:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    numeric = [
        bool(rows) and all(_numeric(row[i]) for row in every if i < len(row))
        for i in range(len(headers))
    ]

    def line(cells: Sequence[str]) -> str:
        parts = [
            c.rjust(w) if num else c.ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=False)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    lines = [line(headers), rule, *(line(r) for r in rows)]
    if footer:
        lines += [rule, line(footer)]
    return "\n".join(lines)


def _numeric(cell: str) -> bool:
    head = cell.split(" ", 1)[0]
    return cell in ("?", "-", "just now") or head.replace(".", "", 1).isdigit()


def _emit(out: TextIO, args: argparse.Namespace, data: Any, text: Callable[[], str]) -> None:
    if args.json:
        out.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    else:
        out.write(text() + "\n")


def _count_text(n: int | None) -> str:
    return "?" if n is None else str(n)


def _sum(values: Sequence[int | None]) -> int | None:
    """The sum of the known values; None when there are values and none is known."""
    known = [v for v in values if v is not None]
    return sum(known) if known or not values else None


def _span(reports: Sequence[FolderReport]) -> Usage:
    total = Usage()
    for r in reports:
        total.bytes += r.usage.bytes
        total.files += r.usage.files
        if r.usage.oldest is not None:
            total.oldest = (
                r.usage.oldest if total.oldest is None else min(total.oldest, r.usage.oldest)
            )
        if r.usage.newest is not None:
            total.newest = (
                r.usage.newest if total.newest is None else max(total.newest, r.usage.newest)
            )
    return total


def _usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "bytes": usage.bytes,
        "files": usage.files,
        "oldest": _when(usage.oldest),
        "newest": _when(usage.newest),
    }


def _report_json(report: FolderReport) -> dict[str, Any]:
    return {
        "name": report.name,
        "path": report.path,
        "backend": report.backend,
        "namespaces": report.namespaces,
        "entries": report.entries,
        **_usage_json(report.usage),
        "note": report.note,
        **report.done,
    }


def _notes(reports: Sequence[FolderReport]) -> list[str]:
    return [f"{r.name}: {r.note}" for r in reports if r.note]


# ---------------------------------------------------------------------------------------------
# backends


#: available_backends()'s pick labels -> the chain each one walks (`spec.CHAINS`).
_PICK_CHAINS = {
    "mcache": "mcache",
    "bcache": "bcache",
    "fcache": "fcache",
    "acache": "acache",
    "ucache": "ucache",
    "ucache(folder_name)": "ucache-persistent",
    "ucache(async)": "acache",
}


def _chain_rows(info: dict[str, Any]) -> list[list[str]]:
    """(decorator, pick, chain) rows: the installed backends best first, the pick starred.

    A plugin of this project that leads a chain but is not installed is shown at the head of
    that chain as "name (missing)"; the memory chain every other chain falls back to follows
    "then memory:".
    """
    from twat_cache import registry  # noqa: PLC0415

    leads = registry.leads()
    memory = list(info["chains"].get("mcache", []))
    rows = []
    for label, pick in info["picks"].items():
        chain = _PICK_CHAINS.get(label, label)
        steps = list(info["chains"].get(chain, []))
        tail: list[str] = []
        if chain not in ("mcache", "ucache") and steps[len(steps) - len(memory) :] == memory:
            steps, tail = steps[: len(steps) - len(memory)], memory
        lead = leads.get(chain)
        head = (
            [f"{lead} (missing)"] if lead is not None and lead not in info["chains"][chain] else []
        )

        def star(names: list[str], pick: str = pick) -> list[str]:
            return [f"{n}*" if n == pick else n for n in names]

        shown = " > ".join([*head, *star(steps)]) or "-"
        if tail:
            shown += " | then memory: " + " > ".join(star(tail))
        rows.append([label, pick, shown])
    return rows


def _in_chain_order(info: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The backends in the order they first appear in the chains (memory first), then the rest."""
    order: dict[str, int] = {}
    for steps in info["chains"].values():
        for name in steps:
            order.setdefault(name, len(order))
    return sorted(info["backends"].items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))


def backends_text(info: dict[str, Any]) -> str:
    """`twat-cache backends` for people: chains, installed backends, install hints."""
    chains = table(_chain_rows(info), ["decorator", "picks", "chain (best first; * = the pick)"])
    rows = [
        [
            name,
            "yes" if b["usable"] else "no (library missing)",
            ",".join(b["kinds"]),
            ",".join(b["policies"]),
            "yes" if b["persistent"] else "no",
            b["distribution"] or "-",
        ]
        for name, b in _in_chain_order(info)
    ]
    installed = table(
        rows, ["backend", "usable", "kinds", "policies", "persistent", "distribution"]
    )
    parts = [chains, "", installed]
    missing = info.get("missing") or {}
    if missing:
        hints = table([[n, h] for n, h in missing.items()], ["not installed", "install with"])
        parts += ["", hints]
    return "\n".join(parts)


def backends_markdown(info: dict[str, Any]) -> str:
    """The backends and chains as Markdown tables (docs/backends.md is generated with this).

    Describes the plugins, not an install: columns that depend on what is installed (usable,
    the pick) are left out. Run it where every plugin is installed.
    """
    lines = [
        "| backend | distribution | install | kinds | policies | persistent |",
        "|---|---|---|---|---|---|",
    ]
    for name, b in _in_chain_order(info):
        install = f"`{b['install']}`" if b["install"] else "built in"
        lines.append(
            f"| {name} | {b['distribution'] or '-'} | {install} | {', '.join(b['kinds'])} "
            f"| {', '.join(b['policies'])} | {'yes' if b['persistent'] else 'no'} |"
        )
    lines += ["", "| chain | backends, best first |", "|---|---|"]
    from twat_cache.spec import CHAINS  # noqa: PLC0415

    memory = list(info["chains"].get("mcache", []))
    for chain, steps in info["chains"].items():
        shown = list(steps)
        if chain not in ("mcache", "ucache") and memory and shown[-len(memory) :] == memory:
            shown = [*shown[: -len(memory)], "the memory chain"]
        lines.append(f"| `{chain}`: {CHAINS.get(chain, chain)} | {' → '.join(shown)} |")
    return "\n".join(lines)


def cmd_backends(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache backends`: each decorator's chain, the installed backends, install hints."""
    from twat_cache import available_backends  # noqa: PLC0415

    info = available_backends()
    if args.markdown:
        out.write(backends_markdown(info) + "\n")
        return 0
    _emit(out, args, info, lambda: backends_text(info))
    return 0


# ---------------------------------------------------------------------------------------------
# list


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache list`: the caches under the cache root with entries, sizes, ages and totals."""
    root, targets = _targets(args.name)
    reports = [folder_report(f, count=not args.no_count, root=root) for f in targets]
    total = _span(reports)
    entries = _sum([r.entries for r in reports])

    def text() -> str:
        if not reports:
            return f"no caches under {root}"
        now = time.time()
        rows = [
            [
                r.name,
                r.backend or "?",
                _count_text(r.entries),
                human_bytes(r.usage.bytes),
                human_age(r.usage.oldest, now),
                human_age(r.usage.newest, now),
            ]
            for r in reports
        ]
        footer = [
            f"total ({len(reports)})",
            "",
            _count_text(entries),
            human_bytes(total.bytes),
            human_age(total.oldest, now),
            human_age(total.newest, now),
        ]
        body = table(rows, ["name", "backend", "entries", "size", "oldest", "newest"], footer)
        notes = [] if args.no_count else _notes(reports)
        return "\n".join([f"cache root: {root}", body, *notes])

    data = {
        "root": str(root),
        "caches": [_report_json(r) for r in reports],
        "total": {"caches": len(reports), "entries": entries, **_usage_json(total)},
    }
    _emit(out, args, data, text)
    return 0


# ---------------------------------------------------------------------------------------------
# clear


def _confirm(question: str) -> bool:
    """Ask `question` on the terminal (stderr), True for y/yes."""
    sys.stderr.write(f"{question} [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline()
    if not answer:  # end of input
        sys.stderr.write("\n")
    return answer.strip().lower() in ("y", "yes")


def _clear_one(folder: Path, root: Path) -> FolderReport:
    """Clear one folder (as `clear_cache(folder)` does); report what it removed and freed."""
    from twat_cache import clear_cache  # noqa: PLC0415

    report = folder_report(folder, root=root)
    clear_cache(str(folder))
    after = folder_report(folder, root=root)
    removed = None
    if report.entries is not None and after.entries is not None:
        removed = max(0, report.entries - after.entries)
    report.done = {
        "removed_entries": removed,
        "freed_bytes": max(0, report.usage.bytes - after.usage.bytes),
        "entries_left": after.entries,
    }
    report.note = report.note or after.note
    return report


def cmd_clear(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache clear [NAME]`: empty one cache folder, or (confirmed) every one."""
    root, targets = _targets(args.name)
    if args.dry_run:
        reports = [folder_report(f, root=root) for f in targets]
        for r in reports:
            r.done = {"removed_entries": r.entries, "freed_bytes": None, "entries_left": r.entries}
    else:
        if args.name is None and targets and not args.yes:
            preview = [folder_report(f, root=root) for f in targets]
            what = (
                f"{len(preview)} cache folder(s) under {root}: "
                f"{_count_text(_sum([r.entries for r in preview]))} entries, "
                f"{human_bytes(_span(preview).bytes)}"
            )
            if sys.stdin is None or not sys.stdin.isatty():
                raise CommandError(
                    f"'clear' without a NAME empties every cache ({what}); confirm with --yes "
                    "(there is no terminal to ask on), or see what it would remove with --dry-run"
                )
            if not _confirm(f"Clear {what}?"):
                raise CommandError("cancelled; nothing was cleared")
        reports = [_clear_one(f, root) for f in targets]

    removed = _sum([r.done["removed_entries"] for r in reports])
    freed = sum(r.done["freed_bytes"] or 0 for r in reports)

    def text() -> str:
        if not reports:
            return f"no caches under {root}"
        if args.dry_run:
            rows = [
                [r.name, r.backend or "?", _count_text(r.entries), human_bytes(r.usage.bytes)]
                for r in reports
            ]
            footer = [
                f"total ({len(reports)})",
                "",
                _count_text(removed),
                human_bytes(_span(reports).bytes),
            ]
            body = table(rows, ["would clear", "backend", "entries", "size now"], footer)
            return "\n".join([body, *_notes(reports), "(dry run: nothing was removed)"])
        rows = [
            [
                r.name,
                r.backend or "?",
                _count_text(r.done["removed_entries"]),
                human_bytes(r.done["freed_bytes"]),
            ]
            for r in reports
        ]
        footer = [f"total ({len(reports)})", "", _count_text(removed), human_bytes(freed)]
        body = table(rows, ["cleared", "backend", "entries removed", "freed"], footer)
        return "\n".join([body, *_notes(reports)])

    data = {
        "root": str(root),
        "dry_run": bool(args.dry_run),
        "caches": [_report_json(r) for r in reports],
        "total": {
            "caches": len(reports),
            "removed_entries": removed,
            "freed_bytes": None if args.dry_run else freed,
        },
    }
    _emit(out, args, data, text)
    return 0


# ---------------------------------------------------------------------------------------------
# prune


def _prune_one(folder: Path, root: Path) -> FolderReport:
    """Prune every store of one folder; report the entries pruned and the bytes freed."""
    report, meta = _open_report(folder, root)
    pruned: int | None = None
    with _stores(report, meta) as stores:
        if report.note is None:
            try:
                pruned = sum(int(store.prune()) for _, store in stores)
            except Exception as exc:
                report.note = f"pruning failed: {type(exc).__name__}: {exc}"
            report.entries = _count(report, stores)
    after = disk_usage(folder)
    report.done = {"pruned": pruned, "freed_bytes": max(0, report.usage.bytes - after.bytes)}
    report.usage = after
    return report


def cmd_prune(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache prune [NAME]`: drop expired entries and killed writers' leftovers."""
    root, targets = _targets(args.name)
    reports = [_prune_one(f, root) for f in targets]
    pruned = _sum([r.done["pruned"] for r in reports])
    freed = sum(r.done["freed_bytes"] for r in reports)

    def text() -> str:
        if not reports:
            return f"no caches under {root}"
        rows = [
            [
                r.name,
                r.backend or "?",
                _count_text(r.done["pruned"]),
                human_bytes(r.done["freed_bytes"]),
                _count_text(r.entries),
            ]
            for r in reports
        ]
        footer = [
            f"total ({len(reports)})",
            "",
            _count_text(pruned),
            human_bytes(freed),
            _count_text(_sum([r.entries for r in reports])),
        ]
        headers = ["name", "backend", "pruned", "freed", "entries left"]
        return "\n".join([table(rows, headers, footer), *_notes(reports)])

    data = {
        "root": str(root),
        "caches": [_report_json(r) for r in reports],
        "total": {"caches": len(reports), "pruned": pruned, "freed_bytes": freed},
    }
    _emit(out, args, data, text)
    return 0


# ---------------------------------------------------------------------------------------------
# verify


def _verify_one(folder: Path, root: Path, *, fix: bool) -> FolderReport:
    """Authenticate the entries of one folder (`Store.verify`); drop broken ones on `fix`."""
    from twat_cache.store import Store  # noqa: PLC0415

    report, meta = _open_report(folder, root)
    checked = broken = 0
    unable: list[str] = []
    failed = False
    with _stores(report, meta) as stores:
        failed = not stores and report.note is not None
        for namespace, store in stores:
            if type(store).verify is Store.verify:
                unable.append(namespace)
                continue
            try:
                ok, bad = store.verify(fix)
            except Exception as exc:
                report.note = f"verifying {namespace} failed: {type(exc).__name__}: {exc}"
                failed = True
                continue
            checked += int(ok)
            broken += int(bad)
        if stores:
            report.entries = _count(report, stores)
    if unable and report.note is None:
        report.note = f"the {report.backend} store cannot verify its entries"
    report.done = {
        "checked": None if (failed or unable) and not checked else checked,
        "broken": broken,
        "removed": broken if fix else 0,
        "verified": not failed and not unable,
    }
    return report


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    """`twat-cache verify [NAME] [--fix]`: authenticate every entry; exit 1 if broken ones stay."""
    root, targets = _targets(args.name)
    reports = [_verify_one(f, root, fix=args.fix) for f in targets]
    checked = sum(r.done["checked"] or 0 for r in reports)
    broken = sum(r.done["broken"] for r in reports)
    left = 0 if args.fix else broken

    def text() -> str:
        if not reports:
            return f"no caches under {root}"
        rows = [
            [
                r.name,
                r.backend or "?",
                _count_text(r.done["checked"]),
                str(r.done["broken"]),
                str(r.done["removed"]),
            ]
            for r in reports
        ]
        footer = [
            f"total ({len(reports)})",
            "",
            str(checked),
            str(broken),
            str(broken if args.fix else 0),
        ]
        body = table(rows, ["name", "backend", "checked", "broken", "removed"], footer)
        lines = [body, *_notes(reports)]
        if left:
            lines.append(f"{left} broken entries; remove them with: {PROG} verify --fix")
        return "\n".join(lines)

    data = {
        "root": str(root),
        "fix": bool(args.fix),
        "caches": [_report_json(r) for r in reports],
        "total": {
            "caches": len(reports),
            "checked": checked,
            "broken": broken,
            "removed": broken if args.fix else 0,
        },
    }
    _emit(out, args, data, text)
    return 1 if left else 0


# ---------------------------------------------------------------------------------------------
# path


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
    """Build the argument parser (subcommands backends, list, clear, prune, verify, path)."""
    from twat_cache import __version__  # noqa: PLC0415

    parser = _Parser(
        prog=PROG,
        description="Inspect and maintain twat-cache caches. The cache root is $TWAT_CACHE_DIR "
        "if set, else the platform's user cache folder + twat_cache.",
        epilog=f"'{PROG}' alone prints this help. Every command takes --json.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    # Subcommands take --json too; SUPPRESS keeps their default from hiding the global flag.
    common = _Parser(add_help=False)
    common.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser(
        "backends",
        parents=[common],
        help="each decorator's chain, the installed backends, how to install the others",
    )
    p.add_argument(
        "--markdown",
        action="store_true",
        help="print the backends and chains as Markdown tables (as in the docs)",
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

    p = sub.add_parser(
        "clear",
        parents=[common],
        help="empty one cache folder, or all of them (asks first)",
    )
    p.add_argument("name", nargs="?", help="the cache folder to empty (default: every one)")
    p.add_argument(
        "-y", "--yes", action="store_true", help="clear every cache without asking (no NAME)"
    )
    p.add_argument(
        "-n", "--dry-run", action="store_true", help="show what would be removed; remove nothing"
    )
    p.set_defaults(func=cmd_clear)

    p = sub.add_parser(
        "prune", parents=[common], help="drop expired entries and leftovers of killed writers"
    )
    p.add_argument("name", nargs="?", help="only this cache folder")
    p.set_defaults(func=cmd_prune)

    p = sub.add_parser(
        "verify",
        parents=[common],
        help="authenticate every entry; exit status 1 while broken ones remain",
    )
    p.add_argument("name", nargs="?", help="only this cache folder")
    p.add_argument("--fix", action="store_true", help="remove the broken entries")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("path", parents=[common], help="print the cache root or a cache's folder")
    p.add_argument("name", nargs="?", help="a cache folder name (default: the root)")
    p.set_defaults(func=cmd_path)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command with `argv` (default: the process's arguments); return the exit status.

    No command prints the help (status 0). Expected failures (a bad name, a missing folder)
    and unexpected ones alike become one line on stderr and status 1; usage errors exit with
    status 2; `verify` exits with 1 while broken entries remain.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            parser.print_help(sys.stdout)
            return 0
        status: int = args.func(args, sys.stdout)
        sys.stdout.flush()
    except CommandError as exc:
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted\n")
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
