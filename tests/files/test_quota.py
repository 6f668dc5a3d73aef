"""Quotas: counted exactly, charged to the volume's owner, refused before anything is stored."""

from __future__ import annotations

from typing import Any

import pytest

from apps.access.permissions import has_privilege
from apps.files.actions import do_create_volume, do_share_volume, do_upload_file, usage_bytes, volume_fs
from apps.files.models import RootVolume, Volume
from apps.files.paths import QuotaExceeded

from .conftest import QUOTA, api, client_for


def test_usage_is_the_exact_sum_of_file_sizes_over_all_volumes_of_a_root(users: Any, roots: dict[str, RootVolume], volume: Volume) -> None:
    other = do_create_volume(users.owner, roots["Storage"], "second")
    do_upload_file(users.owner, volume, "a.bin", [b"x" * 1234])
    volume_fs(volume).mkdir("sub")
    do_upload_file(users.owner, volume, "sub/b.bin", [b"y" * 4321])
    do_upload_file(users.owner, other, "c.bin", [b"z" * 17])
    assert usage_bytes(users.owner.pk, roots["Storage"]) == 1234 + 4321 + 17
    assert usage_bytes(users.member.pk, roots["Storage"]) == 0


def test_an_upload_over_the_quota_is_refused_before_it_is_stored(users: Any, volume: Volume) -> None:
    do_upload_file(users.owner, volume, "big.bin", [b"x" * (QUOTA - 100)])
    response = client_for(users.owner).put(api(volume, "upload") + "?path=more.bin", b"y" * 101, content_type="application/octet-stream")
    assert response.status_code == 413
    assert "quota" in response.json()["detail"]
    assert [e.name for e in volume_fs(volume).listdir()] == ["big.bin"]
    assert sorted(p.name for p in volume.directory.iterdir()) == ["big.bin"]  # no temp file either


def test_a_stream_that_grows_past_the_quota_is_stopped_and_removed(users: Any, volume: Volume) -> None:
    def endless() -> Any:
        while True:
            yield b"z" * 1000

    with pytest.raises(QuotaExceeded):
        do_upload_file(users.owner, volume, "stream.bin", endless())
    assert list(volume.directory.iterdir()) == []


def test_replacing_a_file_counts_only_the_difference(users: Any, volume: Volume) -> None:
    do_upload_file(users.owner, volume, "data.bin", [b"x" * (QUOTA - 10)])
    do_upload_file(users.owner, volume, "data.bin", [b"y" * QUOTA])  # replaces: fits exactly
    assert usage_bytes(users.owner.pk, volume.root) == QUOTA


def test_writes_by_a_collaborator_count_against_the_owners_quota(users: Any, volume: Volume) -> None:
    do_share_volume(users.owner, volume, "write", group=users.group)
    assert has_privilege(users.member, "write", volume.resource)
    do_upload_file(users.member, volume, "from-member.bin", [b"m" * 500])
    assert usage_bytes(users.owner.pk, volume.root) == 500
    assert usage_bytes(users.member.pk, volume.root) == 0


def test_the_temporary_root_has_a_quota_too(users: Any, roots: dict[str, RootVolume]) -> None:
    scratch = do_create_volume(users.owner, roots["Temporary"], "scratch")
    with pytest.raises(QuotaExceeded):
        do_upload_file(users.owner, scratch, "big.bin", [b"x" * (QUOTA * 3)])
    assert list(scratch.directory.iterdir()) == []


def test_an_upload_in_progress_reserves_its_declared_size(users: Any, volume: Volume) -> None:
    second: dict[str, object] = {}

    def slow_first_upload() -> Any:
        yield b"a" * 100
        try:  # meanwhile, another upload asks for more than what is left after the first one's declared size
            do_upload_file(users.owner, volume, "second.bin", [b"b" * 4500], size=4500)
        except QuotaExceeded as exc:
            second["refused"] = exc
        yield b"a" * (6000 - 100)

    do_upload_file(users.owner, volume, "first.bin", slow_first_upload(), size=6000)
    assert "refused" in second
    assert usage_bytes(users.owner.pk, volume.root) == 6000
