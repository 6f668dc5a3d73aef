"""The issue's "done means": a user uploads a file, shares the volume with a group,
runs a notebook job that reads a data volume and writes into the shared volume,
and a group member sees the output; through the pages and the API, in the real engine."""

from __future__ import annotations

from typing import Any

from django.test import Client

from apps.accounts.actions import do_create_token
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.files.models import RootVolume, Volume
from apps.uws import phases
from tests.files.conftest import client_for

from .conftest import notebook

ANALYSIS = notebook(
    "import csv\nrows = list(csv.DictReader(open('/data/survey/stars.csv')))\n",
    "bright = [r['id'] for r in rows if float(r['mag']) < 13]\nopen('results/bright.txt', 'w').write(','.join(bright))\nprint(len(rows), 'stars')",
)


def test_a_notebook_job_writes_into_a_shared_volume_and_the_group_sees_it(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, python_image: ComputeImage, django_capture_on_commit_callbacks: Any
) -> None:
    owner = client_for(users.owner)
    assert owner.get("/files/").status_code == 200
    owner.post("/files/new", {"root": roots["Storage"].pk, "name": "project"})
    project = Volume.objects.get(owner=users.owner, name="project")

    # Upload through the API the page's JavaScript uses, then share read/write with the group on the sharing page.
    upload = owner.put(f"/files/api/volumes/{project.pk}/upload/?path=analysis.ipynb", ANALYSIS, content_type="application/octet-stream")
    assert upload.status_code == 201
    owner.post(f"/files/v/{project.pk}/op", {"op": "mkdir", "here": "", "name": "results"})
    for action in ("read", "write"):
        owner.post(f"/access/resources/{project.resource_id}/share", {"action": action, "group": users.group.pk})

    # Submit the notebook job on the compute page: the survey data volume read-only, the project as working folder.
    survey = Volume.objects.get(root=roots["survey"])
    form = {
        "image": python_image.pk, "domain": domain.pk, "kind": "notebook", "notebook": "analysis.ipynb",
        f"mount_{survey.pk}": "ro", "workdir_volume": project.pk, "workdir_path": "", "run_id": "bright-stars",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = owner.post("/compute/", form)
    job = ComputeJob.objects.get(owner=users.owner)
    assert response.status_code == 302 and response["Location"] == f"/compute/jobs/{job.pk}/"
    job.refresh_from_db()
    assert job.phase == phases.COMPLETED, (job.error, job.stderr[-2000:])
    assert job.exit_code == 0
    assert {o["path"] for o in job.outputs} == {"analysis.output.ipynb", "results/bright.txt"}
    page = owner.get(f"/compute/jobs/{job.pk}/")
    assert b"COMPLETED" in page.content and b"results/bright.txt" in page.content

    # The group member finds the output with an API token, and on the pages.
    _, key = do_create_token(users.member, "laptop")
    member_api = Client(HTTP_AUTHORIZATION=f"Token {key}")
    shared = [v for v in member_api.get("/files/api/volumes/").json() if v["name"] == "project"]
    assert shared and shared[0]["owner"] == "owner" and shared[0]["actions"] == ["read", "write"]
    listing = member_api.get(f"/files/api/volumes/{project.pk}/list/", {"path": "results"}).json()
    assert [e["name"] for e in listing["entries"]] == ["bright.txt"]
    download = member_api.get(f"/files/api/volumes/{project.pk}/download/", {"path": "results/bright.txt"})
    assert b"".join(download.streaming_content) == b"1,3"
    executed = member_api.get(f"/files/api/volumes/{project.pk}/preview/", {"path": "analysis.output.ipynb"}).json()
    assert "3 stars" in executed["text"]
    member_page = client_for(users.member)
    assert b"project" in member_page.get("/files/").content
    assert b"bright.txt" in member_page.get(f"/files/v/{project.pk}/", {"path": "results"}).content
    # The outsider sees neither the volume nor the job.
    assert client_for(users.outsider).get(f"/files/v/{project.pk}/").status_code == 404
    assert client_for(users.outsider).get(f"/compute/jobs/{job.pk}/").status_code == 404
