"""Side effects on volumes and their files. Pages, the JSON API and jobs call these.

Permission rules: reading needs "read" on the volume's resource, changing
needs "write" (owners hold both); data volumes are read-only for everybody.
Quotas are per user and root, counted exactly from the files on disk, and are
charged to the volume's owner whoever writes.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet

from apps import formats
from apps.access.actions import builtin_group, do_create_resource, do_grant
from apps.access.models import Group
from apps.access.permissions import access_resource, actions_of, allowed_resources
from apps.access.registry import GRANT
from apps.activity import kinds
from apps.activity.actions import do_record_event
from apps.query.actions import result_batches, result_columns
from apps.query.downloads import result_info

from . import areas
from .models import RootVolume, Volume
from .paths import TEMP_PREFIX, PathError, QuotaExceeded, VolumeFS, clean_name, clean_path, remove_older_than, tree_size

log = logging.getLogger(__name__)
AnyUser = User | AnonymousUser
# Event kinds of this app beside the shared ones in apps/activity/kinds.py (owned by the activity app).
VOLUME_CREATED = "file.volume_created"
VOLUME_DELETED = "file.volume_deleted"
FILE_CHANGED = "file.changed"
DEFAULT_VOLUME_NAME = "persistent"
DEFAULT_NAMES = {RootVolume.KIND_STORAGE: "persistent", RootVolume.KIND_TEMPORARY: "scratch"}


def owner_ids() -> tuple[int, int]:
    return (int(getattr(settings, "FILES_OWNER_UID", 1000)), int(getattr(settings, "FILES_OWNER_GID", 1000)))


@functools.cache
def _can_enforce() -> bool:
    return areas.can_enforce()


def quota_filesystems() -> bool:
    """Whether users' areas in quota roots are size-limited file systems here (apps/files/areas.py)."""
    return bool(getattr(settings, "FILES_QUOTA_FILESYSTEMS", True)) and _can_enforce()


def mount_area(volume: Volume) -> None:
    """Make sure the volume's owner's area in a quota root is its size-limited file system, before
    anyone (the portal or a container) touches files there."""
    quota = volume.root.quota_bytes
    if quota is None or volume.owner_id is None or volume.root.read_only or not quota_filesystems():
        return
    try:
        areas.ensure_area(volume.directory.parent, quota, owner_ids())
    except (areas.AreaError, OSError) as exc:
        raise PathError(f"The storage of {volume.root.name} is not available: {exc}") from exc


def disk_room(volume: Volume) -> int | None:
    """Free bytes of the volume's area file system (what its owner's quota leaves); None without one."""
    if volume.root.quota_bytes is None or volume.owner_id is None or not quota_filesystems():
        return None
    area = volume.directory.parent
    if not os.path.ismount(area):
        return None
    stats = os.statvfs(area)
    return stats.f_bavail * stats.f_frsize


def volume_fs(volume: Volume) -> VolumeFS:
    mount_area(volume)
    return VolumeFS(volume.directory, owner_ids())


# --- roots ------------------------------------------------------------------
def do_sync_roots() -> list[RootVolume]:
    """Make the roots in the database match settings.FILES_ROOTS; data roots get their volume."""
    roots = []
    for spec in getattr(settings, "FILES_ROOTS", []):
        defaults = {
            "kind": spec["kind"], "path": str(spec["path"]), "description": spec.get("description", ""),
            "quota_bytes": spec.get("quota"), "max_age_days": spec.get("max_age_days"),
        }
        before = RootVolume.objects.filter(name=spec["name"]).values_list("quota_bytes", flat=True).first()
        root, _ = RootVolume.objects.update_or_create(name=spec["name"], defaults=defaults)
        Path(root.path).mkdir(parents=True, exist_ok=True)
        if root.kind != RootVolume.KIND_DATA:
            Path(root.path).chmod(0o700)  # no host account may walk into users' files (or run what a job left there)
            if root.quota_bytes is not None and before is not None and root.quota_bytes != before and quota_filesystems():
                _refit_areas(root)
        if root.kind == RootVolume.KIND_DATA:
            _ensure_data_volume(root, public=spec.get("public", True))
        roots.append(root)
    return roots


def _refit_areas(root: RootVolume) -> None:
    """A changed quota takes effect in every user's area file system at once."""
    assert root.quota_bytes is not None
    for owner_id in Volume.objects.filter(root=root).exclude(owner=None).values_list("owner_id", flat=True).distinct():
        try:
            areas.refit_area(Path(root.path) / str(owner_id), root.quota_bytes)
        except (areas.AreaError, OSError):  # that area keeps its size until its next use refits it
            log.exception("area of user %s in %s not refitted", owner_id, root.name)


@transaction.atomic
def _ensure_data_volume(root: RootVolume, public: bool) -> Volume:
    volume = Volume.objects.filter(root=root, owner=None).first()
    if volume is None:
        resource = do_create_resource("volume", root.name)
        volume = Volume.objects.create(root=root, owner=None, name=root.name, description=root.description, resource=resource)
        if public:
            do_grant(None, resource, "read", group=builtin_group(Group.KIND_PUBLIC))
    return volume


# --- volumes -----------------------------------------------------------------
VOLUME_NAME_MAX = Volume._meta.get_field("name").max_length or 100


@transaction.atomic
def do_create_volume(user: User, root: RootVolume, name: str, description: str = "", is_default: bool = False) -> Volume:
    if root.read_only:
        raise ValidationError("Data roots are read-only: volumes are made in Storage or Temporary roots.")
    try:
        name = clean_name(name.strip())
    except PathError as exc:
        raise ValidationError(str(exc)) from exc
    if len(name) > VOLUME_NAME_MAX:  # a file name may be longer; the volume's record may not
        raise ValidationError(f"A volume name has at most {VOLUME_NAME_MAX} characters.")
    if Volume.objects.filter(root=root, owner=user, name=name).exists():
        raise ValidationError(f"You have a volume called {name!r} in {root.name} already.")
    _check_volume_count(user)
    resource = do_create_resource("volume", f"{root.name}/{user.username}/{name}", owner=user)
    volume = Volume.objects.create(root=root, owner=user, name=name, description=description, is_default=is_default, resource=resource)
    volume_fs(volume).ensure()
    do_record_event(VOLUME_CREATED, user=user, summary=f"created volume {volume}", volume=volume.pk)
    return volume


def _check_volume_count(user: User) -> None:
    """A user keeps at most FILES_MAX_VOLUMES_PER_USER volumes (over all roots); the user's row is
    locked first, so parallel requests cannot both make the last one."""
    User.objects.select_for_update().filter(pk=user.pk).first()
    limit = int(getattr(settings, "FILES_MAX_VOLUMES_PER_USER", 50))
    if Volume.objects.filter(owner=user).count() >= limit:
        raise ValidationError(f"You have {limit} volumes, the most a user may keep; delete one to make another.")


def do_ensure_default_volumes(user: User) -> list[Volume]:
    """Each user gets a default volume in each Storage and Temporary root on first visit."""
    volumes = []
    for root in RootVolume.objects.exclude(kind=RootVolume.KIND_DATA):
        existing = Volume.objects.filter(root=root, owner=user, is_default=True).first()
        if existing is None:
            try:
                existing = do_create_volume(user, root, DEFAULT_NAMES[root.kind], is_default=True)
            except (ValidationError, IntegrityError):  # a second request made it first, or the name is taken
                existing = Volume.objects.filter(root=root, owner=user, name=DEFAULT_NAMES[root.kind]).first()
        if existing is not None:
            volumes.append(existing)
    return volumes


@transaction.atomic
def do_delete_volume(user: User, volume: Volume) -> None:
    if volume.owner_id != user.pk:
        raise PermissionDenied("Only the owner deletes a volume.")
    mount_area(volume)
    directory = volume.directory
    name = str(volume)
    volume.resource.delete()  # cascades to the volume and its privileges
    transaction.on_commit(lambda: VolumeFS(directory.parent).delete(directory.name) if directory.exists() else None)
    do_record_event(VOLUME_DELETED, user=user, summary=f"deleted volume {name}")


def readable_volumes(user: AnyUser) -> QuerySet[Volume]:
    """Volumes the user may read; "write" implies "read" (the generic sharing page grants one action at a time)."""
    allowed = Q(resource__in=allowed_resources(user, "read", "volume")) | Q(resource__in=allowed_resources(user, "write", "volume"))
    return Volume.objects.filter(allowed).select_related("root", "owner", "resource")


def writable_volumes(user: AnyUser) -> QuerySet[Volume]:
    allowed = allowed_resources(user, "write", "volume")
    return Volume.objects.filter(resource__in=allowed).exclude(root__kind=RootVolume.KIND_DATA).select_related("root", "owner")


def access_volume(user: AnyUser, volume_id: int, action: str = "read") -> Volume:
    """Checked lookup: 404 unless the user may at least read it, 403 for a missing action."""
    volume = Volume.objects.select_related("root", "owner", "resource").filter(pk=volume_id).first()
    if volume is None:
        from django.http import Http404

        raise Http404("No such volume.")
    if action != "read" or "write" not in actions_of(user, volume.resource):  # write implies read
        access_resource(user, action, volume.resource)
    if action == "write" and volume.read_only:
        raise PermissionDenied("This is a read-only data volume.")
    return volume


def volume_actions(user: AnyUser, volume: Volume) -> set[str]:
    held = actions_of(user, volume.resource)
    if "write" in held:
        held.add("read")
    return held - {"write"} if volume.read_only else held


def actions_by_volume(user: AnyUser, volumes: list[Volume]) -> dict[int, set[str]]:
    """volume_actions for many volumes in three queries (list pages)."""
    resource_ids = [v.resource_id for v in volumes]
    held: dict[int, set[str]] = {v.pk: set() for v in volumes}
    for action in ("read", "write", GRANT):
        allowed = set(allowed_resources(user, action, "volume").filter(pk__in=resource_ids).values_list("pk", flat=True))
        for volume in volumes:
            if volume.resource_id in allowed and not (action == "write" and volume.read_only):
                held[volume.pk].add(action)
    for actions in held.values():
        if "write" in actions:
            actions.add("read")
    return held


# --- quota ---------------------------------------------------------------------
def usage_bytes(owner_id: int, root: RootVolume) -> int:
    """Exact bytes of one user's volumes in one root, counted on disk."""
    return sum(tree_size(v.directory) for v in Volume.objects.filter(root=root, owner_id=owner_id).select_related("root"))


def room_left(volume: Volume) -> int | None:
    """Bytes the volume's owner may still add to its root; None: no quota."""
    quota = volume.root.quota_bytes
    if quota is None or volume.owner_id is None:
        return None
    return max(0, quota - usage_bytes(volume.owner_id, volume.root))


# --- files ---------------------------------------------------------------------
def _check_write(user: AnyUser, volume: Volume) -> None:
    if "write" not in volume_actions(user, volume):
        raise PermissionDenied("You may not change this volume.")


def do_upload_file(user: AnyUser, volume: Volume, path: str, chunks: Iterable[bytes], size: int | None = None) -> int:
    """Store an upload. A declared size over the quota is refused before a byte is
    stored; a stream that grows past it, breaks or stops short leaves nothing."""
    _check_write(user, volume)
    fs = volume_fs(volume)
    limit = room_left(volume)
    if limit is not None:
        try:
            limit += fs.stat(path).st_size  # replacing a file frees its bytes
        except PathError:
            pass
        if size is not None and size > limit:
            raise QuotaExceeded(f"The upload ({size} bytes) would exceed the quota of {volume.root.name}: {limit} bytes are left.")
    written = fs.write(path, chunks, limit=limit, expected=size)
    do_record_event(kinds.FILE_UPLOADED, user=user, summary=f"uploaded {path} to {volume}", volume=volume.pk, path=path, size=written)
    return written


def do_make_folder(user: AnyUser, volume: Volume, path: str) -> None:
    _check_write(user, volume)
    volume_fs(volume).mkdir(path)
    do_record_event(FILE_CHANGED, user=user, summary=f"made folder {path} in {volume}", volume=volume.pk, path=path)


def do_move_file(user: AnyUser, volume: Volume, source: str, target: str) -> None:
    _check_write(user, volume)
    volume_fs(volume).move(source, target)
    do_record_event(FILE_CHANGED, user=user, summary=f"moved {source} to {target} in {volume}", volume=volume.pk, path=target)


def do_delete_file(user: AnyUser, volume: Volume, path: str) -> None:
    _check_write(user, volume)
    volume_fs(volume).delete(path)
    mount_area(volume)  # a user who was over a lowered quota: the freed room goes back into the reserve
    do_record_event(FILE_CHANGED, user=user, summary=f"deleted {path} in {volume}", volume=volume.pk, path=path)


def do_share_volume(user: User, volume: Volume, action: str, *, to_user: User | None = None, group: Group | None = None) -> Any:
    """Read or read/write sharing through the permission API ("write" implies "read")."""
    if action not in ("read", "write"):
        raise ValidationError("Share for read or write.")
    privileges = [do_grant(user, volume.resource, "read", user=to_user, group=group)]
    if action == "write":
        privileges.append(do_grant(user, volume.resource, "write", user=to_user, group=group))
    return privileges


def result_formats() -> dict[str, str]:
    """Download formats a query result can be saved in: key -> label."""
    return {key: fmt.label for key, fmt in formats.FORMATS.items()}


def do_save_result_to_volume(user: User, job: Any, volume: Volume, path: str, format_key: str) -> str:
    """Write a query job's stored result into a volume as a file in a download format.
    Streamed batch by batch through apps.formats; quota and atomic rename as for uploads.
    A path that is empty or ends with "/" gets the name <table name>.<extension>. Returns the path."""
    if job.owner_id != user.pk:
        raise PermissionDenied("Only the job's owner saves its result.")
    fmt = formats.FORMATS.get(format_key)
    if fmt is None:
        try:
            fmt = formats.resolve_format(format_key)
        except formats.UnknownFormat as exc:
            raise ValidationError(str(exc)) from exc
    if not path or path.endswith("/"):
        path = f"{path}{job.table_name or f'result_{str(job.id)[:8]}'}.{fmt.extension}"
    _check_write(user, volume)
    with volume_fs(volume).directory(clean_path(path)[:-1], create=True):  # "results/" may be new
        pass
    chunks = formats.write(fmt, result_batches(job), result_columns(job), result_info(job))
    try:
        size = do_upload_file(user, volume, path, chunks)
    finally:
        chunks.close()
    do_record_event(FILE_CHANGED, user=user, summary=f"saved query result {job.id} as {path} in {volume}", volume=volume.pk, path=path, size=size)
    return path


def do_clean_temporary_roots(now: float | None = None) -> int:
    """Remove files older than each Temporary root's max age; returns how many."""
    now = time.time() if now is None else now
    removed = 0
    for volume in Volume.objects.filter(root__kind=RootVolume.KIND_TEMPORARY, root__max_age_days__isnull=False).select_related("root"):
        assert volume.root.max_age_days is not None
        mount_area(volume)
        if volume.directory.is_dir():  # the volume's own folder stays
            removed += remove_older_than(volume.directory, now - volume.root.max_age_days * 86400)
    return removed


def do_remove_stale_uploads(max_age_s: int = 86400, now: float | None = None) -> int:
    """Temp files of uploads whose process died hard (no exception handler ran) are removed after a day."""
    now = time.time() if now is None else now
    removed = 0
    for volume in Volume.objects.exclude(root__kind=RootVolume.KIND_DATA).select_related("root"):
        try:
            candidates = [p for p in volume.directory.iterdir() if p.name.startswith(TEMP_PREFIX) and p.is_file() and not p.is_symlink()]
        except FileNotFoundError:
            continue
        for path in candidates:
            if path.lstat().st_mtime < now - max_age_s:
                path.unlink(missing_ok=True)
                removed += 1
    return removed


def shared_with_me(user: User) -> QuerySet[Volume]:
    return readable_volumes(user).exclude(Q(owner=user) | Q(owner__isnull=True))
