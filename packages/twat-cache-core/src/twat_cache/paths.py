"""Where caches live on disk: the cache root, `folder_name` validation, private folders, markers.

Rules (DESIGN §3 "Files and folders"): a folder twat-cache creates is 0o700; a folder that
already existed keeps its mode and owner (`private_dir` never chmods it). `folder_name` may not
be the filesystem root, the home folder, or a folder that contains the cache root or the config
root (where the secret lives). Every folder twat-cache uses holds its marker file, which also
records the names each store created there, so clearing removes those and nothing else.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

#: A file in every folder twat-cache uses; `clear_cache` only ever clears marked folders.
MARKER = ".twat_cache"
#: Prefix of twat-cache's temporary files (atomic writes); a killed writer's leftovers match it.
TMP_PREFIX = ".twat_cache.tmp-"
FOLDER_MODE = 0o700
FILE_MODE = 0o600

_WINDOWS = sys.platform == "win32"


def _home() -> str:
    return os.path.expanduser("~")


_ENV_NAMES = (
    "TWAT_CACHE_DIR",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "HOME",
    "USERPROFILE",
    "LOCALAPPDATA",
    "APPDATA",
)
_RAW_NAMES = tuple(name.encode() for name in _ENV_NAMES)
_RAW_ENV = not _WINDOWS and isinstance(getattr(os.environ, "_data", None), dict)


def _env_key() -> tuple[object, ...]:
    """The environment variables the folders depend on, read cheaply.

    A folder is resolved for every persistent cache decorated, and `os.environ.get` decodes
    each value it reads.
    """
    if _RAW_ENV:
        return tuple(map(os.environ._data.get, _RAW_NAMES))  # type: ignore[attr-defined]
    return tuple(map(os.environ.get, _ENV_NAMES))


#: _env_key() -> (cache root, config root, normalized forms for the folder_name checks)
_roots: dict[tuple[object, ...], tuple[str, str, dict[str, set[str]]]] = {}


def _resolved_roots() -> tuple[str, str, dict[str, set[str]]]:
    key = _env_key()
    found = _roots.get(key)
    if found is None:
        root, config, home = _cache_root_str(), config_root_str(), _home()
        others = {"root": {_norm(root)}, "home": {_norm(home)}, "config": {_norm(config)}}
        if len(_roots) > 16:
            _roots.clear()
        found = _roots[key] = (root, config, others)
    return found


_children: dict[tuple[object, ...], frozenset[str]] = {}


def _dangerous_children() -> frozenset[str]:
    """Names of the cache root's children that are, or contain, the home or config folder."""
    key = _env_key()
    found = _children.get(key)
    if found is None:
        root, _config, others = _resolved_roots()
        parent = _norm(root)
        names = set()
        for place in (*others["home"], *others["config"]):
            spot = place
            while os.path.dirname(spot) != spot:
                if os.path.dirname(spot) == parent:
                    names.add(os.path.normcase(os.path.basename(spot)))
                    break
                spot = os.path.dirname(spot)
        found = _children[key] = frozenset(names)
    return found


def cache_root_str() -> str:
    """The cache root as a string (no `pathlib`): see `cache_root`."""
    return _resolved_roots()[0]


def _cache_root_str() -> str:
    env = os.environ.get("TWAT_CACHE_DIR")
    if env:
        return os.path.expanduser(env)
    if _WINDOWS:
        base = os.environ.get("LOCALAPPDATA") or os.path.join(_home(), "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(_home(), "Library", "Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or ""
        if not os.path.isabs(base):  # the XDG spec: a relative value is ignored
            base = os.path.join(_home(), ".cache")
    return os.path.join(base, "twat_cache")


def config_root_str() -> str:
    r"""twat-cache's folder in the user's config folder (where the secret lives), as a string.

    Linux and other POSIX: `$XDG_CONFIG_HOME/twat_cache` (an absolute value), else
    `~/.config/twat_cache`; macOS: `~/Library/Application Support/twat_cache`; Windows:
    `%APPDATA%\\twat_cache`.
    """
    if _WINDOWS:
        base = os.environ.get("APPDATA") or os.path.join(_home(), "AppData", "Roaming")
    elif sys.platform == "darwin":
        base = os.path.join(_home(), "Library", "Application Support")
    else:
        base = os.environ.get("XDG_CONFIG_HOME") or ""
        if not os.path.isabs(base):
            base = os.path.join(_home(), ".config")
    return os.path.join(base, "twat_cache")


_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
_SEPARATORS = frozenset({"/", "\\", os.sep} | ({os.altsep} if os.altsep else set()))


def default_folder(namespace: str) -> str:
    """A folder name of its own for a function decorated without `folder_name`.

    The namespace with ":" as "." and every run of other characters as "_" (written out: `re`
    costs more to import than a whole decoration may take).
    """
    dotted = namespace.replace(":", ".")
    if ".." not in dotted and _SAFE.issuperset(dotted):  # most names: nothing to replace
        return _bounded(dotted.strip(".") or "default", namespace)
    out: list[str] = []
    for ch in dotted:
        if ch in _SAFE:
            if not (ch == "." and out and out[-1] == "."):
                out.append(ch)
        elif not out or out[-1] != "_":
            out.append("_")
    return _bounded("".join(out).strip(".") or "default", namespace)


def _bounded(name: str, namespace: str) -> str:
    """`name`, cut with a digest of `namespace` when it is too long for a folder name."""
    if len(name) > 100:  # a __main__ script's path, a digest: keep names well within limits
        import hashlib  # noqa: PLC0415

        digest = hashlib.sha256(namespace.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        name = f"{name[:80]}-{digest}"
    return name


def folder_for(folder_name: str | None, namespace: str) -> str:
    """The cache folder of a function (`namespace`): `folder_name`, else a folder of its own."""
    return cache_folder_str(folder_name or default_folder(namespace))


def cache_root() -> Path:
    """The cache root: `$TWAT_CACHE_DIR`, else the platform's user cache dir + `twat_cache`."""
    from pathlib import Path  # noqa: PLC0415  (kept off `import twat_cache`)

    return Path(cache_root_str())


# ---------------------------------------------------------------------------------------------
# folder_name


def _norm(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _inside(child: str, parent: str) -> bool:
    """True when `child` is `parent` or below it (both normalized)."""
    if child == parent:
        return True
    prefix = parent if parent.endswith(os.sep) else parent + os.sep
    return child.startswith(prefix)


def _danger(candidate: str, *, resolve: bool) -> str | None:
    """Why `candidate` must not be a cache folder, or None when it may be."""
    forms = {_norm(candidate)}
    known = _resolved_roots()[2]
    others = {place: set(spots) for place, spots in known.items()}
    (root,), (home,), (config,) = known["root"], known["home"], known["config"]
    if resolve:  # symlinks: "/data/link-to-home" is the home folder too
        forms.add(os.path.normcase(os.path.realpath(candidate)))
        for spots, place in ((others["root"], root), (others["home"], home)):
            spots.add(os.path.normcase(os.path.realpath(place)))
        others["config"].add(os.path.normcase(os.path.realpath(config)))
    for form in forms:
        if os.path.dirname(form) == form:
            return "is the root of a filesystem"
        if form in others["home"]:
            return "is your home folder"
        if any(_inside(c, form) for c in others["config"]):
            return f"contains twat-cache's config folder {config_root_str()} (the secret)"
        if any(_inside(r, form) and r != form for r in others["root"]):
            return f"contains the cache root {cache_root_str()}"
    return None


def check_folder_name(folder_name: object) -> str | None:
    """Validate a `folder_name`: a simple name under the cache root, or an absolute path.

    A relative name with `..`, a path separator or a NUL byte is refused, so a folder name can
    never point outside the cache root by accident; so are folders whose cleaning would touch
    what is not a cache: the filesystem root, the home folder, and any folder that contains the
    cache root or twat-cache's config folder. Path objects are accepted and returned as str.
    Raises `ValueError` naming `folder_name`, what was wrong and what is allowed.
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
        why = _danger(folder_name, resolve=True)
    else:
        if (
            folder_name in {".", ".."}
            or ".." in folder_name
            or any(s in folder_name for s in _SEPARATORS)
        ):
            raise ValueError(
                f"folder_name: {folder_name!r} is not allowed; use a simple name without "
                "'..' or path separators (it lives under the cache root), or an absolute path"
            )
        root = cache_root_str()
        # A simple name is a child of the cache root: only the children that are (or contain)
        # the home or the config folder are dangerous; those are known per environment.
        why = (
            _danger(os.path.join(root, folder_name), resolve=False)
            if os.path.normcase(folder_name) in _dangerous_children()
            else None
        )
    if why is not None:
        raise ValueError(
            f"folder_name: {folder_name!r} {why}; clearing a cache there could touch files "
            "that are not the cache's. Use a simple name like 'my_cache' (a folder under the "
            "cache root) or an absolute path to a folder of its own"
        )
    return folder_name


# ---------------------------------------------------------------------------------------------
# Folders


def file_mode(secure: bool = True) -> int:
    """The mode to create a cache's files with: 0o600, or 0o666 less the umask.

    `secure=False` is the option of a cache a team shares; `os.open` applies the umask.
    """
    return FILE_MODE if secure else 0o666


def folder_mode(secure: bool = True) -> int:
    """The mode to create a cache's folders with: 0o700, or 0o777 less the umask."""
    return FOLDER_MODE if secure else 0o777


def private_dir(path: str | os.PathLike[str], *, secure: bool = True) -> Path:
    """Create `path` and its missing parents, each new level 0o700; return it as a `Path`.

    A folder that already exists keeps its mode and owner: only levels this call creates are
    made private (mkdir alone would give them the umask's mode). With `secure=False` (a cache
    a team shares) new levels get the umask's mode instead. Raises `OSError` when a level
    cannot be created (a file in the way, a read-only parent).
    """
    from pathlib import Path  # noqa: PLC0415

    text = os.fspath(path)
    missing = []
    folder = os.path.abspath(text)
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:  # pragma: no cover  (a filesystem root always exists)
            break
        folder = parent
    for level in reversed(missing):
        try:
            os.mkdir(level, folder_mode(secure))
        except FileExistsError:
            if not os.path.isdir(level):
                raise
            continue  # another process made it meanwhile: it is not ours to chmod
        if secure and not _WINDOWS:
            os.chmod(level, FOLDER_MODE)
    return Path(text)


#: Former name of `private_dir`; it now leaves existing folders alone too.
secure_dir = private_dir


def resolve_cache_path(folder_name: str | os.PathLike[str] | None = None) -> Path:
    """Where `folder_name` lives (validated, see `get_cache_path`), without creating anything."""
    from pathlib import Path  # noqa: PLC0415

    return Path(cache_folder_str(folder_name))


def cache_folder_str(folder_name: str | os.PathLike[str] | None = None) -> str:
    """`resolve_cache_path` as a str (no `pathlib`: decorating stays cheap).

    Remembered per environment and name: a program decorates its functions by the dozen,
    most of them in default folders, and the checks of `check_folder_name` resolve paths.
    """
    memo = (_env_key(), folder_name) if isinstance(folder_name, str) else None
    if memo is not None:
        found = _folders.get(memo)
        if found is not None:
            return found
    name = check_folder_name(folder_name)
    root = cache_root_str()
    path = root if name is None else (name if os.path.isabs(name) else os.path.join(root, name))
    if memo is not None:
        if len(_folders) > 4096:
            _folders.clear()
        _folders[memo] = path
    return path


_folders: dict[tuple[object, str], str] = {}


def get_cache_path(
    folder_name: str | os.PathLike[str] | None = None, *, secure: bool = True
) -> Path:
    """Return the folder for `folder_name` under the cache root (or the root), creating it 0o700.

    `folder_name` is a simple name (no `..`, separators or NUL) resolved under the root, or an
    absolute path used as given (see `check_folder_name` for the folders that are refused).
    Missing levels are created 0o700 (with `secure=False`, the umask's mode); an existing
    folder keeps its mode. The folder gets a marker file so that `clear_cache` recognises it
    as a twat-cache folder.
    """
    path = resolve_cache_path(folder_name)
    private_dir(path, secure=secure)
    marker = os.path.join(path, MARKER)
    if not os.path.lexists(marker):
        try:
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode(secure))
        except FileExistsError:
            pass
        else:
            os.close(fd)
    return path


# ---------------------------------------------------------------------------------------------
# The marker


def write_marker(
    folder: Path,
    backend: str,
    namespace: str,
    *,
    kind: str | None = None,
    ttl: float | None = None,
    names: Iterable[str] = (),
    secure: bool = True,
) -> None:
    """Record in `folder`'s marker which backend and which functions use it, and what they own.

    The marker is JSON: {"backend": name, "namespaces": [...], "kind": {namespace: kind},
    "ttl": {namespace: seconds}, "owned": {namespace: [relative names]}}, so the command can
    reopen each function's store as it was opened (klepto serves two kinds), and clearing can
    remove exactly the files and folders the stores created (`names`, relative to `folder`).
    An unreadable marker is rewritten (0o600, or the umask's mode with `secure=False`).
    Failures are ignored: the cache works without it.
    """
    import json  # noqa: PLC0415

    marker = folder / MARKER
    wanted = sorted(set(names))
    try:
        try:
            meta = json.loads(marker.read_text() or "{}")
        except (OSError, ValueError):
            meta = {}
        if not isinstance(meta, dict):
            meta = {}
        spaces = list(meta.get("namespaces") or [])
        raw_kinds, raw_ttls, raw_owned = meta.get("kind"), meta.get("ttl"), meta.get("owned")
        kinds: dict[str, object] = dict(raw_kinds) if isinstance(raw_kinds, dict) else {}
        ttls: dict[str, object] = dict(raw_ttls) if isinstance(raw_ttls, dict) else {}
        owned: dict[str, object] = dict(raw_owned) if isinstance(raw_owned, dict) else {}
        had = owned.get(namespace)
        known = [n for n in had if isinstance(n, str)] if isinstance(had, list) else []
        merged = sorted(set(known) | set(wanted))
        if (
            meta.get("backend") == backend
            and namespace in spaces
            and kinds.get(namespace) == kind
            and ttls.get(namespace) == ttl
            and merged == known
        ):
            return
        if namespace not in spaces:
            spaces.append(namespace)
        kinds[namespace] = kind
        ttls[namespace] = ttl
        owned[namespace] = merged
        meta.update(backend=backend, namespaces=spaces, kind=kinds, ttl=ttls, owned=owned)
        atomic_write(marker, json.dumps(meta, indent=1).encode(), secure=secure)
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
    """True when `path` is a folder twat-cache uses (it holds the marker file)."""
    return (path / MARKER).is_file()


def atomic_write(
    path: Path | str, data: bytes, *, overwrite: bool = True, secure: bool = True
) -> None:
    """Write `data` to `path` through a private temp file + fsync + rename (mode 0o600).

    The temporary file is named `.twat_cache.tmp-*` in the same folder, so a killed writer's
    leftover is recognisably twat-cache's (clearing removes it). With `overwrite=False` an
    existing `path` is left alone and `FileExistsError` is raised. With `secure=False` (a
    cache a team shares) the file gets the umask's mode instead of 0o600.
    """
    folder = os.path.dirname(os.fspath(path)) or "."
    fd, tmp = _temp_file(folder) if secure else _shared_temp_file(folder)
    try:
        if secure and sys.platform != "win32":
            os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails if path exists: no clobbering a concurrent writer
            os.unlink(tmp)
    except BaseException:
        try:  # noqa: SIM105  (contextlib is kept off `import twat_cache`)
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _temp_file(folder: str) -> tuple[int, str]:
    """A new private (0o600) temporary file in `folder`: (descriptor, path)."""
    import tempfile  # noqa: PLC0415  (markers and key files only)

    return tempfile.mkstemp(prefix=TMP_PREFIX, dir=folder)


def _shared_temp_file(folder: str) -> tuple[int, str]:
    """A new temporary file in `folder` created 0o666 less the umask: (descriptor, path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(folder, TMP_PREFIX + os.urandom(8).hex())
        try:
            return os.open(tmp, flags, file_mode(secure=False)), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary file name in {folder}")  # pragma: no cover
