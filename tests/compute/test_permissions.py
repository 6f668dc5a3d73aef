"""Who may run what, mount what, and see which job."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404

from apps.access.actions import do_revoke
from apps.compute.actions import JobSpec, do_create_job, do_register_image
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.files.actions import do_create_volume, do_share_volume
from apps.files.models import RootVolume, Volume
from apps.uws import phases
from tests.files.conftest import client_for


def _job(users: Any, domain: ComputeDomain, busybox: ComputeImage) -> ComputeJob:
    return do_create_job(users.owner, JobSpec(busybox, domain, command="true"), start=False)


def test_an_image_runs_only_for_those_given_run(users: Any, roots: dict[str, RootVolume], domain: ComputeDomain) -> None:
    private = do_register_image("private", "daiquiri/busybox:latest")
    with pytest.raises(Http404):
        do_create_job(users.outsider, JobSpec(private, domain, command="true"))
    response = client_for(users.outsider).post("/compute/api/jobs/", {"image": "private", "command": "true"}, content_type="application/json")
    assert response.status_code == 400 and "No image" in response.json()["detail"]
    assert client_for(users.outsider).get("/compute/api/images/").json() == []


def test_volumes_are_mounted_only_as_their_privileges_allow(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage
) -> None:
    theirs = do_create_volume(users.member, roots["Storage"], "theirs")
    spec = JobSpec(busybox, domain, command="true", mounts=[{"volume": theirs.pk, "write": False}])
    with pytest.raises(Http404):
        do_create_job(users.owner, spec)  # not shared
    do_share_volume(users.member, theirs, "read", to_user=users.owner)
    assert do_create_job(users.owner, spec, start=False).mounts == [{"volume": theirs.pk, "write": False}]
    with pytest.raises(PermissionDenied):
        do_create_job(users.owner, JobSpec(busybox, domain, command="true", mounts=[{"volume": theirs.pk, "write": True}]))
    survey = Volume.objects.get(root=roots["survey"])
    with pytest.raises(PermissionDenied):
        do_create_job(users.owner, JobSpec(busybox, domain, command="true", mounts=[{"volume": survey.pk, "write": True}]))
    api = client_for(users.owner).post(
        "/compute/api/jobs/", {"image": "busybox", "command": "true", "mounts": [{"volume": theirs.pk, "write": True}]}, content_type="application/json"
    )
    assert api.status_code == 403


def test_a_job_whose_mount_privilege_was_revoked_before_it_started_fails(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob]
) -> None:
    theirs = do_create_volume(users.member, roots["Storage"], "theirs")
    [privilege] = do_share_volume(users.member, theirs, "read", to_user=users.owner)
    job = do_create_job(users.owner, JobSpec(busybox, domain, command="true", mounts=[{"volume": theirs.pk, "write": False}]), start=False)
    do_revoke(users.member, privilege)
    from apps.compute.actions import execute_job

    ComputeJob.objects.filter(pk=job.pk).update(phase=phases.EXECUTING)
    assert execute_job(str(job.pk)) == phases.ERROR
    job.refresh_from_db()
    assert "may not run" in job.error


def test_a_running_job_is_stopped_when_a_share_it_mounts_is_revoked(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage
) -> None:
    from apps.compute.actions import dispatch, execute_job, watch_job

    theirs = do_create_volume(users.member, roots["Storage"], "theirs")
    [privilege] = do_share_volume(users.member, theirs, "read", to_user=users.owner)
    job = do_create_job(users.owner, JobSpec(busybox, domain, command="sleep 60", mounts=[{"volume": theirs.pk, "write": False}]), start=False)
    ComputeJob.objects.filter(pk=job.pk).update(phase=phases.QUEUED)
    dispatch(domain.pk, send=lambda job_id: None)
    assert execute_job(str(job.pk)) == phases.EXECUTING
    assert watch_job(str(job.pk), slice_s=0.5) is None  # runs, with the share
    do_revoke(users.member, privilege)
    assert watch_job(str(job.pk), slice_s=0.5) == phases.ERROR  # the next look stops it
    job.refresh_from_db()
    assert "access changed while it ran" in job.error


def test_a_job_is_seen_only_by_its_owner(users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage) -> None:
    job = _job(users, domain, busybox)
    for user, page, api in ((users.owner, 200, 200), (users.member, 404, 404), (users.outsider, 404, 404), (users.anonymous, 302, 401)):
        client = client_for(user)
        assert client.get(f"/compute/jobs/{job.pk}/").status_code == page
        assert client.get(f"/compute/api/jobs/{job.pk}/").status_code == api
        assert client.post(f"/compute/api/jobs/{job.pk}/abort/").status_code == api
    assert [j["id"] for j in client_for(users.member).get("/compute/api/jobs/").json()] == []


def test_nonsense_is_refused_with_a_reason(users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage) -> None:
    with pytest.raises(ValidationError, match="command"):
        do_create_job(users.owner, JobSpec(busybox, domain, command="  "))
    with pytest.raises(ValidationError, match="cannot run notebooks"):
        do_create_job(users.owner, JobSpec(busybox, domain, kind="notebook", notebook="a.ipynb"))
    with pytest.raises(ValidationError, match="without network"):
        do_create_job(users.owner, JobSpec(busybox, domain, command="true", network=True))
    with pytest.raises(ValidationError):
        do_create_job(users.owner, JobSpec(busybox, domain, command="true", workdir_path="../up"))
