"""No path leaves its volume: `..`, absolute paths, symlinks, odd Unicode."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from apps.files.actions import volume_fs
from apps.files.models import Volume
from apps.files.paths import PathError, VolumeFS, clean_path

from .conftest import api, client_for


@pytest.fixture
def fs(tmp_path: Path) -> VolumeFS:
    base = tmp_path / "volume"
    base.mkdir()
    (tmp_path / "secret.txt").write_text("outside")
    (base / "inside.txt").write_text("inside")
    return VolumeFS(base)


@pytest.mark.parametrize("bad", ["../secret.txt", "a/../../secret.txt", "/etc/passwd", "\\etc", "C:/x", ".", "a/./b", "..", "x\x00y"])
def test_it_refuses_paths_that_could_leave_the_volume(fs: VolumeFS, bad: str) -> None:
    with pytest.raises(PathError):
        fs.open_read(bad)


@pytest.mark.parametrize("bad", ["a\x07b", "new\nline", "rtl\u202etxt.exe", "zero\u200bwidth", "tab\there", " leading", "trailing "])
def test_it_refuses_control_and_invisible_characters(fs: VolumeFS, bad: str) -> None:
    with pytest.raises(PathError):
        fs.mkdir(bad)


def test_it_normalises_names_to_nfc(fs: VolumeFS) -> None:
    decomposed, composed = "cafe\u0301.txt", "caf\u00e9.txt"
    fs.write(decomposed, [b"coffee"])
    assert [e.name for e in fs.listdir() if e.name.startswith("caf")] == [composed]
    assert fs.open_read(composed).read() == b"coffee"
    assert clean_path("a//b/") == ("a", "b")


def test_it_never_follows_a_symlink_out_of_the_volume(fs: VolumeFS, tmp_path: Path) -> None:
    os.symlink(tmp_path / "secret.txt", fs.base / "link.txt")
    os.symlink(tmp_path, fs.base / "linkdir")
    with pytest.raises(PathError):
        fs.open_read("link.txt")
    with pytest.raises(PathError):
        fs.open_read("linkdir/secret.txt")
    with pytest.raises(PathError):
        fs.write("linkdir/new.txt", [b"x"])
    with pytest.raises(PathError):
        fs.mkdir("linkdir/sub")
    assert {e.name for e in fs.listdir()} == {"inside.txt"}  # links are not listed
    assert not (tmp_path / "new.txt").exists()


def test_deleting_a_symlink_removes_the_link_not_its_target(fs: VolumeFS, tmp_path: Path) -> None:
    os.symlink(tmp_path, fs.base / "linkdir")
    fs.delete("linkdir")
    assert (tmp_path / "secret.txt").exists() and not (fs.base / "linkdir").exists()


def test_a_folder_cannot_be_moved_into_itself_nor_over_another_entry(fs: VolumeFS) -> None:
    fs.mkdir("a")
    with pytest.raises(PathError, match="into itself"):
        fs.move("a", "a/b")
    with pytest.raises(PathError, match="exists"):
        fs.move("a", "inside.txt")


def test_upload_names_that_start_like_temp_files_are_reserved(fs: VolumeFS) -> None:
    with pytest.raises(PathError, match="reserved"):
        fs.write(".upload-x.part", [b"x"])


def test_the_api_answers_bad_paths_with_400_and_touches_nothing(users: Any, volume: Volume, tmp_path: Path) -> None:
    client = client_for(users.owner)
    for path in ["../x.txt", "/abs.txt", "a\x1bb.txt"]:
        response = client.put(api(volume, "upload") + "?path=" + path.replace("\x1b", "%1B"), b"data", content_type="application/octet-stream")
        assert response.status_code == 400, path
    assert volume_fs(volume).listdir() == []
    os.symlink("/etc", volume.directory / "etc")
    assert client.get(api(volume, "download"), {"path": "etc/passwd"}).status_code == 400
