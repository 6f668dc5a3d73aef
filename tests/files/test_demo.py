"""`manage.py demo`'s part for files and compute: idempotent, shared with the demo team."""

from __future__ import annotations

import io
from typing import Any

from apps.access.actions import do_create_group, do_invite, do_respond_to_invitation
from apps.access.permissions import has_privilege
from apps.compute import demo as compute_demo
from apps.compute.actions import runnable_images
from apps.compute.models import ComputeDomain
from apps.files import demo as files_demo
from apps.files.models import RootVolume, Volume
from tests.conftest import make_user


def test_the_demo_makes_a_shared_project_volume_images_and_a_domain(roots: dict[str, RootVolume]) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    team = do_create_group(alice, "Demo survey team")
    do_respond_to_invitation(bob, do_invite(alice, team, bob), accept=True)
    for _ in range(2):
        files_demo.load_demo(io.StringIO(), "small")
        compute_demo.load_demo(io.StringIO(), "small")
    project = Volume.objects.get(owner=alice, name="survey-project")
    assert has_privilege(bob, "write", project.resource)
    assert (project.directory / "README.txt").exists()
    assert Volume.objects.filter(owner=bob, is_default=True).count() == 2
    assert ComputeDomain.objects.count() == 1
    assert sorted(i.name for i in runnable_images(bob)) == ["busybox", "python"]


def test_demo_of_files_is_quiet_without_demo_users(roots: dict[str, RootVolume], db: Any) -> None:
    files_demo.load_demo(io.StringIO(), "small")
    assert not Volume.objects.exclude(owner=None).exists()
