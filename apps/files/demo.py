"""Demo files: the configured roots, default volumes for the demo users, a shared project volume."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User

from apps.access.models import Group

from .actions import do_create_volume, do_ensure_default_volumes, do_share_volume, do_sync_roots, do_upload_file
from .models import RootVolume, Volume

README = b"""Shared project volume of the demo survey team.
Compute jobs see it at /volumes/Storage/alice/survey-project (read/write for the team).
"""


def load_demo(stdout: Any, size: str) -> None:
    roots = do_sync_roots()
    alice = User.objects.filter(username="alice").first()
    if alice is None:
        return
    for user in User.objects.filter(username__in=["alice", "bob"]):
        do_ensure_default_volumes(user)
    storage = next((r for r in roots if r.kind == RootVolume.KIND_STORAGE), None)
    if storage is None or Volume.objects.filter(owner=alice, name="survey-project").exists():
        return
    project = do_create_volume(alice, storage, "survey-project", "Shared with the demo survey team")
    do_upload_file(alice, project, "README.txt", [README])
    team = Group.objects.filter(name="Demo survey team").first()
    if team is not None:
        do_share_volume(alice, project, "write", group=team)
    stdout.write("Demo files: alice's volume survey-project, shared read/write with the Demo survey team.")
