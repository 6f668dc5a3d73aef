"""Users' areas in roots with a quota, as file systems of the quota's size. No Django here.

A user's volumes in a root live in ``<root>/<owner id>/``, the user's area.
In a root with a quota that folder is the mount point of an ext4 image,
``<root>/.areas/<owner id>.img``, whose free space is the quota. A write past
the quota then fails where it happens (ENOSPC), whoever writes: the portal, a
compute job's container (its bind mount is the same file system), anything.

Why this and not the alternatives this machine offers:
- checking usage every few seconds (what jobs had) lets a job write gigabytes
  between two checks, and the files stay;
- ext4/XFS project quotas are kept per project id, and a file's owner may
  change its file's project id from the host's user namespace, where Docker
  containers run: a job could step out of its quota;
- a staging tmpfs of the remaining quota, merged into the volume after the
  job, needs RAM of that size and a merge of deletions (whiteouts), and
  concurrent jobs of one user would each get the whole remainder.
An image per area is bounded by the kernel, for every writer, at once.

Mounted ``nosuid,nodev``: a setuid program or a device node a job leaves in a
volume has no power on the host (Docker's bind mounts keep these flags).

The image is made a little larger than the quota (ext4's own metadata, and a
floor of a few hundred kB below which ext4 cannot go); a root-owned reserve
file at the area's top, which no volume and no container can reach, takes
the rest, so the free space is what the quota leaves plus a small margin
(``margin``: 64 kB and 1/256 of the quota). The margin is there because the
file system counts blocks and folders, while quotas count file bytes: without
it a user with many small files would meet the disk's limit well before the
quota's. The portal's own writes are held to the exact quota as before; a job
can overrun it by the margin at most, and is then told so. A changed quota
resizes the reserve (and grows the image online when it has to). A quota
lowered below what a user already has cannot be reserved in full: the reserve
takes what is free, and grows again as the portal sees room freed (each use
refits it). Until then a job can refill what it deleted, never more than the
user had.
An image is attached to at most one loop device: a second mount reuses it, so
one file system is never mounted twice through two devices.

Mounting needs root and util-linux/e2fsprogs; without them (a development
portal run as a normal user) areas are plain folders and only the portal's
own writes are held to the quota (system check files.W001 says so).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)
IMAGES = ".areas"
RESERVE = ".quota-reserve"
MIN_IMAGE = 256 * 1024
GROWTH = 1024**3
BLOCK = 1024
SLACK_BLOCKS = 16  # free space may exceed the quota by this much (the sizing loop's tolerance)
TOOLS = ("mount", "umount", "losetup", "mkfs.ext4", "dumpe2fs", "resize2fs")


class AreaError(RuntimeError):
    """An area's file system could not be made or mounted."""


def can_enforce() -> bool:
    """Root, and the tools to make and mount images."""
    return os.geteuid() == 0 and all(shutil.which(tool) for tool in TOOLS)


def _run(*args: str) -> str:
    result = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=120)  # noqa: S603 (fixed tools, our paths)
    if result.returncode != 0:
        raise AreaError(f"{args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def image_of(area: Path) -> Path:
    return area.parent / IMAGES / f"{area.name}.img"


@contextlib.contextmanager
def _locked(area: Path) -> Iterator[None]:
    """One process at a time makes or mounts an area's image (web and worker processes alike)."""
    folder = area.parent / IMAGES
    folder.mkdir(mode=0o700, exist_ok=True)
    with open(folder / f"{area.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _free_bytes(image: Path) -> int:
    """Free space of an unmounted image, from its superblock (no reserved blocks: mkfs -m 0)."""
    header = _run("dumpe2fs", "-h", str(image))
    free = re.search(r"^Free blocks:\s+(\d+)", header, re.M)
    size = re.search(r"^Block size:\s+(\d+)", header, re.M)
    if not free or not size:
        raise AreaError(f"Unreadable superblock of {image}.")
    return int(free.group(1)) * int(size.group(1))


def _make_image(image: Path, room: int, owner_ids: tuple[int, int] | None) -> None:
    """An ext4 image with at least ``room`` bytes free, and room to grow: four times as much, and at
    least GROWTH more, so that a raised quota rarely needs a resize (which some kernels refuse online).
    That costs no disk: the image is sparse, and the reserve file's blocks are allocated, never written."""
    room = max(4 * room, room + GROWTH)
    size = max(MIN_IMAGE, room + room // 32 + 64 * BLOCK)
    density = "4096" if room < 256 * 1024**2 else "16384"  # bytes per inode: small areas hold many small files
    options = ["-q", "-F", "-b", str(BLOCK), "-m", "0", "-O", "^has_journal" if room < 64 * 1024**2 else "has_journal", "-i", density]
    if owner_ids:
        options += ["-E", f"root_owner={owner_ids[0]}:{owner_ids[1]}"]
    for _ in range(6):
        with open(image, "wb") as out:
            out.truncate(size)
        _run("mkfs.ext4", *options, str(image))
        free = _free_bytes(image)
        if room <= free <= room + room // 16 + SLACK_BLOCKS * BLOCK or (size == MIN_IMAGE and free >= room):
            return
        size = max(MIN_IMAGE, size + (room - free) + (BLOCK if free < room else 0))
    if _free_bytes(image) < room:
        raise AreaError(f"Could not size {image} for {room} bytes.")


def _loop_device(image: Path) -> str:
    """The loop device of an image, attached now if it has none."""
    attached = _run("losetup", "-n", "-O", "NAME", "-j", str(image)).split()
    if attached:
        return attached[0]
    return _run("losetup", "--find", "--show", str(image)).strip()


def _tree_bytes(folder: Path) -> int:
    total = 0
    for base, _dirs, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(base, name)).st_size
    return total


def _move_existing(area: Path, device: str) -> None:
    """Files made before the area had its file system move into it (an upgrade, or a root given a quota)."""
    staging = area.parent / IMAGES / f"{area.name}.mnt"
    staging.mkdir(mode=0o700, exist_ok=True)
    _run("mount", "-o", "nosuid,nodev", device, str(staging))
    try:
        for entry in list(area.iterdir()):
            shutil.move(str(entry), str(staging / entry.name))
    finally:
        _run("umount", str(staging))
        staging.rmdir()


def ensure_area(area: Path, quota: int, owner_ids: tuple[int, int] | None = None) -> None:
    """Mount the area's file system (made the first time), so that writes past ``quota`` fail.
    On a mounted area this only checks (statvfs, stat) that the reserve matches ``quota``."""
    if os.path.ismount(area):
        if not _fitted(area, quota):
            refit_area(area, quota)
        return
    with _locked(area):
        if os.path.ismount(area):
            return  # another process mounted it while this one waited
        area.mkdir(mode=0o755, exist_ok=True)
        image = image_of(area)
        existing = any(area.iterdir())
        if not image.exists():
            room = quota + margin(quota)
            _make_image(image, max(room, _tree_bytes(area) + SLACK_BLOCKS * BLOCK if existing else room), owner_ids)
        device = _loop_device(image)
        if existing:
            _move_existing(area, device)
        _run("mount", "-o", "nosuid,nodev", device, str(area))
        lost = area / "lost+found"  # ext4's own folder: not a volume, and not the user's
        if lost.is_dir():
            lost.rmdir()
        _fit(area, quota)


def margin(quota: int) -> int:
    """How far past the quota the file system lets writes go (blocks and folders cost more than bytes)."""
    return 64 * 1024 + quota // 256


def _fitted(area: Path, quota: int) -> bool:
    """Whether the reserve is capacity - limit: the free space left then is limit - used, whatever is used."""
    quota += margin(quota)
    try:
        held = os.lstat(area / RESERVE).st_blocks * 512
    except FileNotFoundError:
        return False
    stats = os.statvfs(area)
    capacity = (stats.f_blocks - stats.f_bfree + stats.f_bavail) * stats.f_frsize
    return abs(capacity - quota - held) <= 2 * BLOCK or (held == 0 and capacity <= quota) or stats.f_bavail == 0


def _fit(area: Path, quota: int) -> int:
    """Size the reserve file so that the free space is what ``quota`` leaves after what is used;
    returns the bytes still missing (the image must grow first), 0 when it fits."""
    quota += margin(quota)
    reserve = area / RESERVE
    fd = os.open(reserve, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        held = os.fstat(fd).st_blocks * 512
        stats = os.statvfs(area)
        free = stats.f_bavail * stats.f_frsize
        used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize - held
        want_free = max(0, quota - used)
        # Never ask for all that is free: the reserve's own extent tree needs a few blocks, and a failed
        # fallocate would leave blocks allocated past the file's end that no size accounts for.
        new_held = min(free + held - want_free, held + free - SLACK_BLOCKS * BLOCK)
        if new_held < 0:
            os.ftruncate(fd, 0)
            return -new_held
        if new_held < held - BLOCK:
            os.ftruncate(fd, new_held)  # gives blocks back (a raised quota)
        elif new_held > held + BLOCK:
            os.posix_fallocate(fd, 0, new_held)  # takes more (a first mount, a lowered quota)
        return 0
    finally:
        os.close(fd)


def refit_area(area: Path, quota: int) -> None:
    """Apply a changed quota to a mounted area: resize the reserve, and grow the image online if needed."""
    if not os.path.ismount(area):
        return
    with _locked(area):
        missing = _fit(area, quota)
        if missing:  # more than doubled: grow the image online (where the kernel lets us)
            image = image_of(area)
            device = _loop_device(image)
            with open(image, "r+b") as out:
                out.truncate(os.path.getsize(image) + 2 * missing + 64 * BLOCK)
            try:
                _run("losetup", "-c", device)
                _run("resize2fs", device)
            except AreaError as exc:  # the area keeps its size: stricter than the quota, never looser
                log.warning("area %s could not grow to its quota of %d bytes: %s", area, quota, exc)
                return
            _fit(area, quota)


def release_areas(root: Path) -> int:
    """Unmount every area of a root and detach its loop devices (a root taken out of service, tests)."""
    released = 0
    images = root / IMAGES
    if not images.is_dir():
        return 0
    for image in images.glob("*.img"):
        area = root / image.stem
        if os.path.ismount(area):
            _run("umount", "-l", str(area))
            released += 1
        for device in _run("losetup", "-n", "-O", "NAME", "-j", str(image)).split():
            _run("losetup", "-d", device)
    return released
