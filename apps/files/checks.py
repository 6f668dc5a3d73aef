"""System checks of the file roots: are quotas enforced where jobs write, and whose uid owns the files."""

from __future__ import annotations

import pwd
from typing import Any

from django.conf import settings
from django.core.checks import Warning, register

from .actions import quota_filesystems


@register(deploy=True)
def check_quota_filesystems(app_configs: Any, **kwargs: Any) -> list[Warning]:
    quotas = any(spec.get("quota") is not None and spec.get("kind") != "data" for spec in settings.FILES_ROOTS)
    if quotas and not quota_filesystems():
        return [Warning(
            "Users' areas are plain folders: the portal's own writes keep to the quota, compute jobs' writes do not.",
            hint="Run the portal as root with util-linux and e2fsprogs, and FILES_QUOTA_FILESYSTEMS on (apps/files/areas.py).",
            id="files.W001",
        )]
    return []


@register(deploy=True)
def check_owner_uid(app_configs: Any, **kwargs: Any) -> list[Warning]:
    try:
        account = pwd.getpwuid(settings.FILES_OWNER_UID).pw_name
    except KeyError:
        return []
    return [Warning(
        f"FILES_OWNER_UID {settings.FILES_OWNER_UID} is the host account {account!r}: what jobs leave in volumes belongs to it.",
        hint="Choose a uid reserved for the portal's files, with no account on the host.",
        id="files.W002",
    )]
