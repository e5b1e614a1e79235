"""Ownership helpers (`twat_cache.folders`) and private folders (`twat_cache.paths`)."""

from __future__ import annotations

import os
import stat
import sys

import pytest

from twat_cache import folders, paths
from twat_cache.folders import check_name, owned_names, remove_owned, remove_temp_files

POSIX = sys.platform != "win32"
needs_links = pytest.mark.skipif(not POSIX, reason="symlinks")


def tree(root, spec):
    for name, data in spec.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_remove_owned_removes_exactly_the_names(tmp_path):
    tree(
        tmp_path,
        {
            "ours/a": b"1",
            "ours/deep/b": b"2",
            "ours.lock": b"",
            "joblib/f-0123456789ab/any/x.jbl": b"3",
            "joblib/users-own/keep": b"4",
            "notes.txt": b"mine",
        },
    )
    removed = remove_owned(tmp_path, ["ours", "ours.lock", "joblib/f-0123456789ab", "missing"])
    assert removed == 3
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert left == ["joblib", "joblib/users-own", "joblib/users-own/keep", "notes.txt"]


@needs_links
def test_a_symlinked_folder_is_unlinked_and_its_target_untouched(tmp_path):
    folder, outside = tmp_path / "cache", tmp_path / "outside"
    tree(outside, {"precious": b"keep", "sub/more": b"keep too"})
    folder.mkdir()
    (folder / "dc-link").symlink_to(outside, target_is_directory=True)
    (folder / "file-link").symlink_to(outside / "precious")
    assert remove_owned(folder, ["dc-link", "file-link"]) == 2
    assert list(folder.iterdir()) == []
    assert (outside / "precious").read_bytes() == b"keep"
    assert (outside / "sub" / "more").read_bytes() == b"keep too"


@needs_links
def test_a_symlink_inside_an_owned_folder_is_never_followed(tmp_path):
    folder, outside = tmp_path / "cache", tmp_path / "outside"
    tree(outside, {"precious": b"keep"})
    tree(folder, {"ours/entry": b"x"})
    (folder / "ours" / "escape").symlink_to(outside, target_is_directory=True)
    assert remove_owned(folder, ["ours"]) == 1
    assert not (folder / "ours").exists()
    assert (outside / "precious").read_bytes() == b"keep"


@needs_links
def test_a_name_below_a_symlinked_parent_is_not_touched(tmp_path):
    folder, outside = tmp_path / "cache", tmp_path / "outside"
    tree(outside, {"f-0123456789ab/x": b"keep"})
    folder.mkdir()
    (folder / "joblib").symlink_to(outside, target_is_directory=True)
    assert remove_owned(folder, ["joblib/f-0123456789ab"]) == 0
    assert (outside / "f-0123456789ab" / "x").read_bytes() == b"keep"


@pytest.mark.parametrize(
    "name",
    ["", "/etc", "../x", "a/../../x", "a//b", "./a", "a/.", "a\\b", "a\x00b", ".twat_cache", 3],
)
def test_unsafe_names_are_never_removed(tmp_path, caplog, name):
    (tmp_path / ".twat_cache").write_text("{}")
    assert check_name(name) is None
    assert remove_owned(tmp_path / "sub", [name]) == 0
    assert (tmp_path / ".twat_cache").exists()


def test_owned_names_reads_the_marker(tmp_path):
    paths.write_marker(tmp_path, "x", "m:f", names=["a", "b"])
    paths.write_marker(tmp_path, "x", "m:g", names=["b", "c", "../evil"])
    paths.write_marker(tmp_path, "x", "m:f", names=["d"])  # merged, never forgotten
    meta = paths.read_marker(tmp_path)
    assert owned_names(meta, "m:f") == ["a", "b", "d"]
    assert owned_names(meta) == ["a", "b", "c", "d"]  # the unsafe name is ignored
    assert folders.namespaces(meta) == ["m:f", "m:g"]


def test_remove_temp_files_only_removes_ours(tmp_path):
    tree(tmp_path, {paths.TMP_PREFIX + "abc": b"", ".tmp-users": b"", "x": b""})
    (tmp_path / (paths.TMP_PREFIX + "dir")).mkdir()
    assert remove_temp_files(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".tmp-users",
        paths.TMP_PREFIX + "dir",
        "x",
    ]


@pytest.mark.skipif(not POSIX, reason="POSIX modes")
def test_private_dir_creates_missing_levels_private_and_leaves_existing_ones(tmp_path):
    (tmp_path / "exists").mkdir()
    (tmp_path / "exists").chmod(0o755)
    old = os.umask(0o022)
    try:
        made = paths.private_dir(tmp_path / "exists" / "a" / "b")
    finally:
        os.umask(old)
    assert made == tmp_path / "exists" / "a" / "b"
    assert stat.S_IMODE((tmp_path / "exists").stat().st_mode) == 0o755
    for level in (tmp_path / "exists" / "a", made):
        assert stat.S_IMODE(level.stat().st_mode) == 0o700
    (tmp_path / "exists" / "a").chmod(0o750)
    paths.private_dir(tmp_path / "exists" / "a")  # exists: left alone
    assert stat.S_IMODE((tmp_path / "exists" / "a").stat().st_mode) == 0o750
    (tmp_path / "file").write_text("in the way")
    with pytest.raises(OSError):
        paths.private_dir(tmp_path / "file" / "below")
