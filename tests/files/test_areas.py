"""Users' areas in quota roots are file systems of the quota's size, mounted nosuid,nodev.

A write past the quota fails where it happens, whoever writes (here: plain
writes into the volume's folder, as a container's bind mount makes them);
roots are closed to host accounts; a user keeps a bounded number of volumes.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from apps.files import areas
from apps.files.actions import do_create_volume, do_delete_file, do_sync_roots, do_upload_file, usage_bytes
from apps.files.models import RootVolume, Volume
from apps.files.paths import QuotaExceeded

from .conftest import client_for


def _mount_options(path: Path) -> set[str]:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if fields[1] == str(path):
            return set(fields[3].split(","))
    return set()


def _write_until_full(path: Path, total: int) -> int:
    """Write ``total`` bytes the way a job would (no portal in between); the bytes that got in."""
    written = 0
    with open(path, "wb") as out:
        try:
            while written < total:
                written += out.write(b"x" * min(1 << 16, total - written))
                out.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return path.stat().st_size


def test_a_write_past_the_quota_fails_at_the_quota_and_does_not_persist(users: Any, roots: dict[str, RootVolume]) -> None:
    quota = 2_000_000
    RootVolume.objects.filter(pk=roots["Storage"].pk).update(quota_bytes=quota)
    volume = do_create_volume(users.owner, RootVolume.objects.get(pk=roots["Storage"].pk), "work")
    kept = _write_until_full(volume.directory / "big.bin", 20 * quota)
    assert quota - 64 * 1024 <= kept <= quota + areas.margin(quota)
    assert usage_bytes(users.owner.pk, volume.root) <= quota + areas.margin(quota)
    with pytest.raises(QuotaExceeded):  # the portal, too, meets the full file system (and says so)
        do_upload_file(users.owner, volume, "more.bin", [b"y" * 10])


def test_the_quota_is_per_user_over_all_volumes_of_a_root(users: Any, roots: dict[str, RootVolume]) -> None:
    quota = 1_000_000
    RootVolume.objects.filter(pk=roots["Storage"].pk).update(quota_bytes=quota)
    root = RootVolume.objects.get(pk=roots["Storage"].pk)
    first, second = do_create_volume(users.owner, root, "one"), do_create_volume(users.owner, root, "two")
    theirs = do_create_volume(users.member, root, "theirs")
    kept = _write_until_full(first.directory / "a.bin", 600_000) + _write_until_full(second.directory / "b.bin", 600_000)
    assert kept <= quota + areas.margin(quota)
    assert _write_until_full(theirs.directory / "c.bin", 600_000) == 600_000  # another user's area is another file system


def test_a_changed_quota_takes_effect_in_mounted_areas(users: Any, roots: dict[str, RootVolume], settings: Any) -> None:
    volume = do_create_volume(users.owner, roots["Storage"], "work")
    do_upload_file(users.owner, volume, "a.txt", [b"a"])
    settings.FILES_ROOTS[0]["quota"] = 3_000_000  # the operator raises it from 10 kB
    do_sync_roots()
    assert _write_until_full(volume.directory / "big.bin", 2_000_000) == 2_000_000
    settings.FILES_ROOTS[0]["quota"] = 2_500_000  # and lowers it again
    do_sync_roots()
    assert _write_until_full(volume.directory / "more.bin", 2_000_000) <= 500_000 + areas.margin(2_500_000)
    settings.FILES_ROOTS[0]["quota"] = 1_000_000  # below what the user has: nothing more fits, nothing breaks
    do_sync_roots()
    assert _write_until_full(volume.directory / "none.bin", 200_000) <= 64 * 1024
    do_delete_file(users.owner, volume, "big.bin")  # deleting frees room again, up to the lowered quota
    assert _write_until_full(volume.directory / "after.bin", 2_000_000) <= 1_000_000 + areas.margin(1_000_000)


def test_areas_are_mounted_nosuid_nodev_and_roots_are_closed_to_host_accounts(users: Any, roots: dict[str, RootVolume]) -> None:
    volume = do_create_volume(users.owner, roots["Storage"], "work")
    area = volume.directory.parent
    assert {"nosuid", "nodev"} <= _mount_options(area)
    assert stat.S_IMODE(os.stat(roots["Storage"].path).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(roots["Temporary"].path).st_mode) == 0o700


def test_a_user_keeps_a_bounded_number_of_volumes(users: Any, roots: dict[str, RootVolume], settings: Any) -> None:
    settings.FILES_MAX_VOLUMES_PER_USER = 3
    client = client_for(users.owner)
    made = [client.post("/files/api/volumes/", {"root": "Storage", "name": f"v{i}"}, content_type="application/json") for i in range(4)]
    assert [r.status_code for r in made] == [201, 201, 201, 400]
    assert "3 volumes" in made[3].json()["detail"]
    assert Volume.objects.filter(owner=users.owner).count() == 3


def test_files_made_before_the_area_had_its_file_system_move_into_it(users: Any, roots: dict[str, RootVolume], settings: Any) -> None:
    settings.FILES_QUOTA_FILESYSTEMS = False  # as on a portal upgraded to this version
    volume = do_create_volume(users.owner, roots["Storage"], "old")
    do_upload_file(users.owner, volume, "kept.txt", [b"from before"])
    area = volume.directory.parent
    assert not os.path.ismount(area)
    settings.FILES_QUOTA_FILESYSTEMS = True
    do_upload_file(users.owner, volume, "new.txt", [b"after"])
    assert os.path.ismount(area)
    assert (volume.directory / "kept.txt").read_bytes() == b"from before"
    assert sorted(p.name for p in volume.directory.iterdir()) == ["kept.txt", "new.txt"]


def test_deploy_checks_name_unenforced_quotas_and_an_owner_uid_that_is_an_account(settings: Any) -> None:
    from apps.files.checks import check_owner_uid, check_quota_filesystems

    settings.FILES_QUOTA_FILESYSTEMS = False
    assert [w.id for w in check_quota_filesystems(None)] == ["files.W001"]
    settings.FILES_QUOTA_FILESYSTEMS = True
    assert check_quota_filesystems(None) == []
    settings.FILES_OWNER_UID = 0  # root: an account on every host
    assert [w.id for w in check_owner_uid(None)] == ["files.W002"]
    settings.FILES_OWNER_UID = 70000
    assert check_owner_uid(None) == []
