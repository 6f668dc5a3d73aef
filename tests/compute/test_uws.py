"""Compute jobs through UWS 1.1: create, run, wait, results, abort; documents valid against the schema."""

from __future__ import annotations

from typing import Any

from django.test import Client
from lxml import etree

from apps.accounts.actions import do_create_token
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.files.models import RootVolume
from apps.uws import phases
from tests.uws.schemas import assert_valid

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"


def test_a_job_is_created_run_and_read_through_uws(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage, django_capture_on_commit_callbacks: Any
) -> None:
    _, key = do_create_token(users.owner, "script")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    with django_capture_on_commit_callbacks(execute=True):
        created = client.post("/compute/uws", {"IMAGE": "busybox", "COMMAND": "echo hello from uws", "RUNID": "r1", "PHASE": "RUN"})
    assert created.status_code == 303
    job_url = created["Location"]
    job = ComputeJob.objects.get(owner=users.owner)
    assert job_url.endswith(f"/compute/uws/{job.pk}")

    document = client.get(job_url, {"WAIT": "5"})
    tree = assert_valid(document.content)
    assert tree.findtext(f"{UWS}phase") == phases.COMPLETED
    assert tree.findtext(f"{UWS}runId") == "r1"
    parameters = {p.get("id"): p.text for p in tree.iter(f"{UWS}parameter")}
    assert parameters["image"] == "busybox" and parameters["command"] == "echo hello from uws"
    results = {r.get("id"): r.get("{http://www.w3.org/1999/xlink}href") for r in tree.iter(f"{UWS}result")}
    stdout = client.get(results["stdout"].replace("http://testserver", ""))
    assert stdout.content == b"hello from uws\n"
    assert client.get(job_url + "/phase").content == b"COMPLETED"

    listing = assert_valid(client.get("/compute/uws").content)
    assert [ref.get("id") for ref in listing.iter(f"{UWS}jobref")] == [str(job.pk)]


def test_a_pending_uws_job_can_be_changed_aborted_and_deleted(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage
) -> None:
    _, key = do_create_token(users.owner, "script")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    job_url = client.post("/compute/uws", {"IMAGE": "busybox", "COMMAND": "echo one"})["Location"]
    job = ComputeJob.objects.get(owner=users.owner)
    assert job.phase == phases.PENDING
    client.post(job_url + "/parameters", {"COMMAND": "echo two"})
    job.refresh_from_db()
    assert job.command == "echo two"
    client.post(job_url + "/phase", {"PHASE": "ABORT"})
    job.refresh_from_db()
    assert job.phase == phases.ABORTED
    error = etree.fromstring(client.get(job_url).content)
    assert error.findtext(f"{UWS}phase") == phases.ABORTED
    assert client.post(job_url, {"ACTION": "DELETE"}).status_code == 303
    assert not ComputeJob.objects.filter(pk=job.pk).exists()
    assert Client(HTTP_AUTHORIZATION=f"Token {key}").get(job_url).status_code == 404


def test_bad_uws_parameters_are_refused(users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, busybox: ComputeImage) -> None:
    _, key = do_create_token(users.owner, "script")
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.post("/compute/uws", {"IMAGE": "nope", "COMMAND": "true"}).status_code == 400
    assert client.post("/compute/uws", {"IMAGE": "busybox", "COMMAND": "true", "MOUNT": "99999:rw"}).status_code == 400
    assert Client().get("/compute/uws").status_code == 401
