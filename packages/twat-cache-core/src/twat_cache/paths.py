"""Where caches live on disk: the cache root, per-cache folders, and their permissions."""

from __future__ import annotations

import os
import sys


TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

#: A file in every folder twat-cache created; `clear_cache` only ever removes marked folders.
MARKER = ".twat_cache"
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def check_folder_name(folder_name: object) -> str | None:
    """Validate a `folder_name`: a simple name under the cache root, or an absolute path.

    A relative name with `..`, a path separator or a NUL byte is refused, so a folder name can
    never point outside the cache root by accident. Path objects are accepted and returned as str.
    """
    if folder_name is None:
        return None
    if isinstance(folder_name, os.PathLike):
        folder_name = os.fspath(folder_name)
    if not isinstance(folder_name, str):
        raise ValueError(f"folder_name: expected a str, a path or None, got {folder_name!r}")
    if not folder_name or "\x00" in folder_name:
        raise ValueError(
            f"folder_name: {folder_name!r} is empty or contains a NUL byte; "
            "use a simple name like 'my_cache' or an absolute path"
        )
    if os.path.isabs(folder_name):
        return folder_name
    separators = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if (
        folder_name in {".", ".."}
        or ".." in folder_name
        or any(s in folder_name for s in separators)
    ):
        raise ValueError(
            f"folder_name: {folder_name!r} is not allowed; use a simple name without "
            "'..' or path separators (it lives under the cache root), or an absolute path"
        )
    return folder_name


def cache_root() -> Path:
    """The cache root: `$TWAT_CACHE_DIR`, else the platform's user cache dir + `twat_cache`."""
    from pathlib import Path  # noqa: PLC0415  (kept off `import twat_cache`)

    env = os.environ.get("TWAT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "twat_cache"


def secure_dir(path: Path) -> Path:
    """Create `path` and its missing parents, each private to this user (mode 0o700)."""
    missing = []
    folder = path
    while not folder.is_dir():  # mkdir(parents=True) would give the parents the umask's mode
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        folder.mkdir(mode=FOLDER_MODE, exist_ok=True)
        if sys.platform != "win32":
            folder.chmod(FOLDER_MODE)
    if sys.platform != "win32" and not missing:
        path.chmod(FOLDER_MODE)
    return path


def resolve_cache_path(folder_name: str | os.PathLike[str] | None = None) -> Path:
    """Where `folder_name` lives (validated, see `get_cache_path`), without creating anything."""
    from pathlib import Path  # noqa: PLC0415

    name = check_folder_name(folder_name)
    root = cache_root()
    return root if name is None else (Path(name) if os.path.isabs(name) else root / name)


def get_cache_path(folder_name: str | os.PathLike[str] | None = None) -> Path:
    """Return the folder for `folder_name` under the cache root (or the root), creating it 0o700.

    `folder_name` is a simple name (no `..`, separators or NUL) resolved under the root, or an
    absolute path used as given. The folder gets a marker file so that `clear_cache` recognises
    it as a twat-cache folder and never deletes anything else.
    """
    path = resolve_cache_path(folder_name)
    secure_dir(path)
    marker = path / MARKER
    if not marker.exists():
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT, FILE_MODE)
        os.close(fd)
    return path


def write_marker(
    folder: Path, backend: str, namespace: str, *, kind: str | None = None, ttl: float | None = None
) -> None:
    """Record in `folder`'s marker which backend and which functions use it (for the CLI).

    The marker is JSON: {"backend": name, "namespaces": [...], "kind": {namespace: kind},
    "ttl": {namespace: seconds}}, so the command can reopen each function's store as it was
    opened (klepto serves two kinds). An unreadable marker is rewritten. Failures are ignored:
    the marker is informational, the cache works without it.
    """
    import json  # noqa: PLC0415

    marker = folder / MARKER
    try:
        try:
            meta = json.loads(marker.read_text() or "{}")
        except (OSError, ValueError):
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        names = list(meta.get("namespaces") or [])
        raw_kinds, raw_ttls = meta.get("kind"), meta.get("ttl")
        kinds: dict[str, object] = dict(raw_kinds) if isinstance(raw_kinds, dict) else {}
        ttls: dict[str, object] = dict(raw_ttls) if isinstance(raw_ttls, dict) else {}
        if (
            meta.get("backend") == backend
            and namespace in names
            and kinds.get(namespace) == kind
            and ttls.get(namespace) == ttl
        ):
            return
        if namespace not in names:
            names.append(namespace)
        kinds[namespace] = kind
        ttls[namespace] = ttl
        meta.update(backend=backend, namespaces=names, kind=kinds, ttl=ttls)
        from twat_cache.storage import atomic_write  # noqa: PLC0415

        atomic_write(marker, json.dumps(meta, indent=1).encode())
    except OSError:
        pass


def read_marker(folder: Path) -> dict[str, object]:
    """The metadata `write_marker` recorded for `folder` ({} when there is none)."""
    import json  # noqa: PLC0415

    try:
        meta = json.loads((folder / MARKER).read_text() or "{}")
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def is_marked(path: Path) -> bool:
    """True when `path` is a folder twat-cache created (it holds the marker file)."""
    return (path / MARKER).is_file()
