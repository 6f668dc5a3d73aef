"""Jobs in the real engine: isolation, limits, mounts, exit codes, the time limit and abort."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import docker

from apps.compute.actions import JobSpec, dispatch, do_create_job, do_run_job, execute_job, watch_job
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.files import areas
from apps.files.actions import do_create_volume, do_share_volume, do_upload_file, usage_bytes
from apps.files.models import RootVolume, Volume
from apps.uws import phases
from tests.files.conftest import client_for


def test_a_container_runs_as_a_non_root_user_without_network_within_the_domains_limits(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob], settings: Any
) -> None:
    memory = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"  # cgroup v1 or v2
    command = f"id -u; ls /sys/class/net; {memory}; touch /etc/x 2>/dev/null || echo ro-root"
    job = run(users.owner, image=busybox, domain=domain, command=command)
    assert job.phase == phases.COMPLETED, (job.error, job.stderr)
    assert job.stdout.split() == [str(settings.FILES_OWNER_UID), "lo", str(256 * 1024 * 1024), "ro-root"]
    assert job.exit_code == 0 and job.start_time and job.end_time


def test_a_failing_command_ends_in_error_with_its_exit_code_and_stderr(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob]
) -> None:
    job = run(users.owner, image=busybox, domain=domain, command="echo partial; echo broken >&2; exit 3")
    assert (job.phase, job.exit_code, job.stdout.strip(), job.stderr.strip()) == (phases.ERROR, 3, "partial", "broken")
    assert "exit code 3" in job.error


def test_only_the_allowed_mounts_are_writable(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob]
) -> None:
    survey = Volume.objects.get(root=roots["survey"])
    theirs = do_create_volume(users.member, roots["Storage"], "theirs")
    do_upload_file(users.member, theirs, "note.txt", [b"from member"])
    do_share_volume(users.member, theirs, "read", to_user=users.owner)
    mine = do_create_volume(users.owner, roots["Storage"], "mine")
    command = (
        "head -1 /data/survey/stars.csv; cat /volumes/Storage/member/theirs/note.txt; echo;"
        "echo x > /data/survey/new.txt 2>/dev/null || echo data-ro;"
        "echo x > /volumes/Storage/member/theirs/new.txt 2>/dev/null || echo shared-ro;"
        "echo written > out.txt && echo own-rw"
    )
    job = run(users.owner, image=busybox, domain=domain, command=command, workdir_volume=mine,
              mounts=[{"volume": survey.pk, "write": False}, {"volume": theirs.pk, "write": False}])
    assert job.phase == phases.COMPLETED, (job.error, job.stderr)
    assert job.stdout.split("\n")[:5] == ["id,mag", "from member", "data-ro", "shared-ro", "own-rw"]
    assert (mine.directory / "out.txt").read_text() == "written\n"
    assert not (survey.directory / "new.txt").exists() and not (theirs.directory / "new.txt").exists()
    assert job.outputs == [{"volume": mine.pk, "path": "out.txt", "size": 8}]


def test_a_job_that_runs_over_the_time_limit_is_stopped(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob], engine: str
) -> None:
    domain.max_runtime_s = 2
    domain.save()
    started = time.monotonic()
    job = run(users.owner, image=busybox, domain=domain, command="echo begun; sleep 60")
    assert time.monotonic() - started < 20
    assert job.phase == phases.ERROR and "limit of 2 s" in job.error
    assert job.stdout.strip() == "begun"
    client = docker.DockerClient(base_url=engine, version="auto")
    assert not client.containers.list(all=True, filters={"label": f"org.daiquiri.job={job.pk}"})


def test_abort_kills_a_running_container(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, engine: str, django_capture_on_commit_callbacks: Any
) -> None:
    job = do_create_job(users.owner, JobSpec(busybox, domain, command="echo started; sleep 60"), start=False)
    ComputeJob.objects.filter(pk=job.pk).update(phase=phases.QUEUED)
    claimed: list[str] = []
    dispatch(domain.pk, send=claimed.append)
    assert claimed == [str(job.pk)]
    assert execute_job(claimed[0]) == phases.EXECUTING  # the worker started the container and moved on
    assert watch_job(claimed[0], slice_s=1) is None  # still running after a slice
    client = docker.DockerClient(base_url=engine, version="auto")
    assert client.containers.list(filters={"label": f"org.daiquiri.job={job.pk}", "status": "running"})

    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(users.owner).post(f"/compute/api/jobs/{job.pk}/abort/")
    assert response.status_code == 200 and response.json()["phase"] == phases.ABORTED
    assert watch_job(claimed[0]) == phases.ABORTED  # the next look finds it ended, collects its output
    assert time.monotonic() - started < 10
    job.refresh_from_db()
    assert job.phase == phases.ABORTED and job.end_time is not None and job.stdout.strip() == "started"
    assert not client.containers.list(all=True, filters={"label": f"org.daiquiri.job={job.pk}"})


def test_aborting_a_queued_job_means_it_never_runs(users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage) -> None:
    job = do_create_job(users.owner, JobSpec(busybox, domain, command="echo never"), start=False)
    do_run_job(users.owner, job)
    client_for(users.owner).post(f"/compute/jobs/{job.pk}/abort")
    job.refresh_from_db()
    assert job.phase == phases.ABORTED
    assert dispatch(domain.pk, send=lambda job_id: None) == []


def test_a_job_whose_container_vanished_is_reaped_into_error(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage
) -> None:
    from django.utils import timezone

    from apps.compute.actions import reap

    job = do_create_job(users.owner, JobSpec(busybox, domain, command="true"), start=False)
    long_ago = timezone.now() - dt.timedelta(minutes=10)
    ComputeJob.objects.filter(pk=job.pk).update(phase=phases.EXECUTING, start_time=long_ago, container_id="0" * 64)
    assert reap() == 1
    job.refresh_from_db()
    assert job.phase == phases.ERROR and "disappeared" in job.error


def test_a_job_that_fills_its_owners_quota_fails(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob]
) -> None:
    RootVolume.objects.filter(pk=roots["Storage"].pk).update(quota_bytes=10_000)
    mine = do_create_volume(users.owner, roots["Storage"], "mine")
    job = run(users.owner, image=busybox, domain=domain, command="head -c 20000 /dev/zero > big.bin", workdir_volume=mine)
    assert job.phase == phases.ERROR and "quota of Storage" in job.error


def test_a_write_past_the_quota_does_not_persist(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob]
) -> None:
    """5 MB quota, a job writes 50 MB as fast as it can: the write fails at the quota, not seconds later."""
    quota = 5_000_000
    RootVolume.objects.filter(pk=roots["Storage"].pk).update(quota_bytes=quota)
    mine = do_create_volume(users.owner, RootVolume.objects.get(pk=roots["Storage"].pk), "mine")
    job = run(users.owner, image=busybox, domain=domain, command="head -c 50000000 /dev/zero > big.bin", workdir_volume=mine)
    assert job.phase == phases.ERROR and "quota of Storage" in job.error and "error" in job.stderr
    limit = quota + areas.margin(quota)  # blocks and folders cost more than bytes: see apps/files/areas.py
    assert usage_bytes(users.owner.pk, RootVolume.objects.get(pk=roots["Storage"].pk)) <= limit
    assert (mine.directory / "big.bin").stat().st_size <= limit
