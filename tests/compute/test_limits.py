"""What one user can take: jobs per domain, slots, mounts, text lengths, log size, odd file names."""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import pytest
from django.conf import settings

from apps.compute import engine as container_engine
from apps.compute.actions import JobSpec, dispatch, do_create_job, do_register_domain, execute_job, watch_job
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.files.actions import do_ensure_default_volumes, do_upload_file
from apps.files.models import RootVolume
from apps.uws import phases
from tests.files.conftest import client_for

from .conftest import notebook


def _submit(client: Any, **extra: Any) -> Any:
    return client.post("/compute/api/jobs/", {"image": "busybox", "domain": "local", "command": "sleep 1", **extra}, content_type="application/json")


def test_a_fifth_job_is_refused_with_a_clear_message(users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage) -> None:
    owner = client_for(users.owner)
    assert [_submit(owner).status_code for _ in range(4)] == [201] * 4  # queued (nothing dispatches in this test)
    fifth = _submit(owner)
    assert fifth.status_code == 429
    assert "4 jobs waiting or running in local" in fifth.json()["detail"]
    uws = owner.post("/compute/uws", {"IMAGE": "busybox", "DOMAIN": "local", "COMMAND": "true", "PHASE": "RUN"})
    assert uws.status_code == 429 and b"4 jobs" in uws.content
    assert ComputeJob.objects.filter(owner=users.owner).count() == 4  # the refused UWS job is not left PENDING
    assert _submit(client_for(users.member)).status_code == 201  # other users are not affected


def test_jobs_never_started_are_bounded_too(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, monkeypatch: Any
) -> None:
    monkeypatch.setattr("apps.compute.actions.MAX_PENDING", 3)
    owner = client_for(users.owner)
    made = [owner.post("/compute/uws", {"IMAGE": "busybox", "DOMAIN": "local", "COMMAND": "true"}).status_code for _ in range(4)]
    assert made == [303, 303, 303, 429]


def test_one_user_cannot_hold_every_slot(users: Any, roots: dict[str, RootVolume], busybox: ComputeImage, engine: str) -> None:
    domain = do_register_domain("two", public=True, max_jobs=2)
    mine = [do_create_job(users.owner, JobSpec(busybox, domain, command="true"), start=False) for _ in range(3)]
    theirs = do_create_job(users.member, JobSpec(busybox, domain, command="true"), start=False)
    ComputeJob.objects.filter(pk__in=[j.pk for j in [*mine, theirs]]).update(phase=phases.QUEUED)
    claimed = dispatch(domain.pk, send=lambda job_id: None)
    assert sorted(claimed) == sorted([str(mine[0].pk), str(theirs.pk)])  # one each, though the owner asked first
    assert dispatch(domain.pk, send=lambda job_id: None) == []  # the owner's other jobs wait for the owner's slot


def test_a_mount_list_past_the_limit_is_refused_before_any_lookup(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, django_assert_max_num_queries: Any
) -> None:
    mounts = [{"volume": i, "write": False} for i in range(5000)]
    client = client_for(users.owner)
    started = time.monotonic()
    with django_assert_max_num_queries(30):
        answer = _submit(client, mounts=mounts)
    assert answer.status_code == 400 and f"at most {settings.COMPUTE_MAX_MOUNTS} volumes" in answer.json()["detail"]
    single = time.monotonic()
    _submit(client, mounts=[])
    assert time.monotonic() - single > (single - started) / 20  # as cheap as a plain submission, within reason


def test_a_working_folder_longer_than_its_column_is_refused_not_cut(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage
) -> None:
    persistent = next(v for v in do_ensure_default_volumes(users.owner) if v.name == "persistent")
    deep = "/".join(["folder"] * 545)  # 3,814 characters
    answer = _submit(client_for(users.owner), workdir={"volume": persistent.pk, "path": deep})
    assert answer.status_code == 400 and "longer than 1000" in answer.json()["detail"]
    assert not ComputeJob.objects.exists()


def test_a_notebook_named_like_an_option_runs_as_a_notebook(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, python_image: ComputeImage, run: Callable[..., ComputeJob]
) -> None:
    persistent = next(v for v in do_ensure_default_volumes(users.owner) if v.name == "persistent")
    do_upload_file(users.owner, persistent, "--help-all.ipynb", [notebook("print('ran as a notebook')")])
    job = run(users.owner, image=python_image, domain=domain, kind=ComputeJob.KIND_NOTEBOOK, notebook="--help-all.ipynb", workdir_volume=persistent)
    assert job.phase == phases.COMPLETED, (job.error, job.stderr[-2000:])
    assert (persistent.directory / "--help-all.output.ipynb").read_bytes().count(b"ran as a notebook") >= 1


def test_a_job_printing_a_gigabyte_leaves_a_capped_log_and_is_read_as_a_tail(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, python_image: ComputeImage, engine: str
) -> None:
    limit = settings.COMPUTE_LOG_BYTES
    script = "import os\nline = b'x' * 65535 + b'\\n'\nfor _ in range(16384): os.write(1, line)\nos.write(1, b'the end\\n')"
    job = do_create_job(users.owner, JobSpec(python_image, domain, command=f'python3 -c "{script}"'), start=False)
    ComputeJob.objects.filter(pk=job.pk).update(phase=phases.QUEUED)
    assert dispatch(domain.pk, send=lambda job_id: None) == [str(job.pk)]
    assert execute_job(str(job.pk)) == phases.EXECUTING
    job.refresh_from_db()
    while container_engine.wait(job, 5) is None:
        pass
    client = docker.DockerClient(base_url=engine, version="auto")
    log_path = client.api.inspect_container(job.container_id)["LogPath"]
    client.close()
    on_disk = sum(p.stat().st_size for p in Path(log_path).parent.glob("*-json.log*"))
    assert on_disk <= 3 * limit  # two files of the cap (JSON framing adds a little), not a gigabyte
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert watch_job(str(job.pk)) == phases.COMPLETED
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before
    job.refresh_from_db()
    assert job.stdout.endswith("the end\n") and len(job.stdout.encode()) <= limit + 100
    assert growth_kib < 100 * 1024  # the tail is read in chunks, never the whole log


@pytest.mark.django_db(transaction=True)
def test_odd_file_names_a_job_writes_break_no_page_or_api(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, run: Callable[..., ComputeJob]
) -> None:
    persistent = next(v for v in do_ensure_default_volumes(users.owner) if v.name == "persistent")
    command = "echo a > \"$(printf 'bad\\377name')\"; echo b > \"$(printf 'two\\nlines')\"; echo c > ok.txt"
    job = run(users.owner, image=busybox, domain=domain, command=command, workdir_volume=persistent)
    assert job.phase == phases.COMPLETED, (job.error, job.stderr)
    assert {o["path"] for o in job.outputs} == {"bad\\xffname", "two\\u{a}lines", "ok.txt"}
    client = client_for(users.owner)
    for url in (f"/compute/api/jobs/{job.pk}/", "/compute/api/jobs/", f"/compute/uws/{job.pk}", "/compute/uws",
                f"/compute/jobs/{job.pk}/", "/compute/", f"/files/api/volumes/{persistent.pk}/list/", f"/files/v/{persistent.pk}/"):
        assert client.get(url).status_code == 200, url
    deleted = client.post(f"/files/api/volumes/{persistent.pk}/delete/", {"path": "bad\\xffname"}, content_type="application/json")
    assert deleted.status_code == 204
