"""Uploads (streamed, atomic) and downloads (streamed, byte ranges)."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from apps.activity.models import Event
from apps.files.actions import do_clean_temporary_roots, do_create_volume, do_remove_stale_uploads, do_upload_file, usage_bytes, volume_fs
from apps.files.models import RootVolume, Volume
from apps.files.paths import UploadInterrupted

from .conftest import api, client_for


def test_an_upload_is_stored_and_downloaded_whole(users: Any, volume: Volume) -> None:
    client = client_for(users.owner)
    payload = bytes(range(256)) * 30
    response = client.put(api(volume, "upload") + "?path=bytes.bin", payload, content_type="application/octet-stream")
    assert response.status_code == 201 and response.json()["size"] == len(payload)
    download = client.get(api(volume, "download"), {"path": "bytes.bin"})
    assert download.status_code == 200 and download["Accept-Ranges"] == "bytes"
    assert b"".join(download.streaming_content) == payload  # type: ignore[attr-defined]
    assert "attachment" in download["Content-Disposition"]
    assert Event.objects.filter(kind="file.uploaded", user=users.owner).exists()


def test_downloads_answer_byte_ranges(users: Any, volume: Volume) -> None:
    do_upload_file(users.owner, volume, "digits.txt", [b"0123456789"])
    client = client_for(users.owner)
    part = client.get(f"/files/v/{volume.pk}/download", {"path": "digits.txt"}, HTTP_RANGE="bytes=2-5")
    assert part.status_code == 206 and part["Content-Range"] == "bytes 2-5/10" and part["Content-Length"] == "4"
    assert b"".join(part.streaming_content) == b"2345"  # type: ignore[attr-defined]
    tail = client.get(f"/files/v/{volume.pk}/download", {"path": "digits.txt"}, HTTP_RANGE="bytes=-3")
    assert b"".join(tail.streaming_content) == b"789"  # type: ignore[attr-defined]
    open_end = client.get(f"/files/v/{volume.pk}/download", {"path": "digits.txt"}, HTTP_RANGE="bytes=7-")
    assert b"".join(open_end.streaming_content) == b"789"  # type: ignore[attr-defined]
    beyond = client.get(f"/files/v/{volume.pk}/download", {"path": "digits.txt"}, HTTP_RANGE="bytes=20-30")
    assert beyond.status_code == 416 and beyond["Content-Range"] == "bytes */10"


def test_an_interrupted_upload_leaves_nothing_behind(users: Any, volume: Volume) -> None:
    client = client_for(users.owner)
    do_upload_file(users.owner, volume, "keep.txt", [b"old"])
    # The client announced 5000 bytes and sent 1000 before the connection broke.
    response = client.put(api(volume, "upload") + "?path=keep.txt", b"x" * 1000, content_type="application/octet-stream", CONTENT_LENGTH="5000")
    assert response.status_code == 400
    assert sorted(os.listdir(volume.directory)) == ["keep.txt"]
    assert volume_fs(volume).open_read("keep.txt").read() == b"old"  # the old file is untouched
    assert usage_bytes(users.owner.pk, volume.root) == 3


def test_a_stream_that_breaks_midway_leaves_nothing_behind(users: Any, volume: Volume) -> None:
    def broken() -> Any:
        yield b"a" * 4096
        raise UploadInterrupted("connection reset")

    with pytest.raises(UploadInterrupted):
        do_upload_file(users.owner, volume, "partial.bin", broken())
    assert os.listdir(volume.directory) == []


def test_temp_files_of_uploads_killed_hard_are_removed_after_a_day(users: Any, volume: Volume) -> None:
    stale, fresh = volume.directory / ".upload-dead.part", volume.directory / ".upload-live.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    two_days_ago = time.time() - 2 * 86400
    os.utime(stale, (two_days_ago, two_days_ago))
    assert do_remove_stale_uploads() == 1
    assert not stale.exists() and fresh.exists()
    assert volume_fs(volume).listdir() == []  # never listed either


def test_the_temporary_root_is_cleaned_by_age(users: Any, roots: dict[str, RootVolume]) -> None:
    scratch = do_create_volume(users.owner, roots["Temporary"], "scratch")
    do_upload_file(users.owner, scratch, "data.txt", [b"data"])
    volume_fs(scratch).mkdir("sub")
    do_upload_file(users.owner, scratch, "sub/more.txt", [b"more"])
    assert do_clean_temporary_roots() == 0
    assert do_clean_temporary_roots(now=time.time() + 2 * 86400) == 2  # max age 1 day
    assert volume_fs(scratch).listdir() == []
    assert scratch.directory.is_dir()


def test_age_is_when_the_file_was_written_not_the_date_it_carries(users: Any, roots: dict[str, RootVolume]) -> None:
    """A job can stamp a file 2099 (it used to survive every clean-up) or 1990 (it used to vanish at once)."""
    scratch = do_create_volume(users.owner, roots["Temporary"], "scratch")
    do_upload_file(users.owner, scratch, "future.txt", [b"2099"])
    do_upload_file(users.owner, scratch, "past.txt", [b"1990"])
    os.utime(scratch.directory / "future.txt", (4_070_908_800, 4_070_908_800))  # 2099-01-01
    os.utime(scratch.directory / "past.txt", (631_152_000, 631_152_000))  # 1990-01-01
    assert do_clean_temporary_roots() == 0
    assert do_clean_temporary_roots(now=time.time() + 2 * 86400) == 2
