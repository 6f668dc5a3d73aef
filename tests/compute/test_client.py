"""The Python image's client library queries the portal from inside a job (no network: the gateway's socket)
with the job's short-lived token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from apps.accounts.models import ApiToken
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.files.actions import do_upload_file
from apps.files.models import RootVolume, Volume
from apps.uws import phases

SCRIPT = """
from daiquiri_client import Portal
portal = Portal()
volumes = {v['name']: v['id'] for v in portal.volumes()}
print(sorted(volumes))
print(portal.download(volumes['persistent'], 'hello.txt').decode())
portal.upload(volumes['persistent'], 'from-job.txt', b'written through the API')
rows = portal.query("SELECT TOP 3 table_name FROM TAP_SCHEMA.tables ORDER BY table_name")
print('tap rows', len(rows), sorted(rows[0]))
"""


@pytest.mark.django_db(transaction=True)
def test_a_job_uses_the_portal_api_with_its_own_token(
    users: Any, roots: dict[str, RootVolume], domain: ComputeDomain, python_image: ComputeImage,
    run: Callable[..., ComputeJob], portal: Any,
) -> None:
    from apps.files.actions import do_ensure_default_volumes

    persistent = next(v for v in do_ensure_default_volumes(users.owner) if v.name == "persistent")
    do_upload_file(users.owner, persistent, "hello.txt", [b"hello portal"])
    do_upload_file(users.owner, persistent, "job.py", [SCRIPT.encode()])
    job = run(users.owner, image=python_image, domain=domain, command="python3 job.py", workdir_volume=persistent)
    assert job.phase == phases.COMPLETED, (job.error, job.stderr[-3000:])
    assert "'persistent'" in job.stdout and "hello portal" in job.stdout
    assert "tap rows 3 ['table_name']" in job.stdout
    assert (persistent.directory / "from-job.txt").read_bytes() == b"written through the API"
    assert not ApiToken.objects.filter(user=users.owner).exists()  # the job's key is no API token
    assert job.token_hash == ""  # and it ended with the job
    assert Volume.objects.filter(owner=users.owner).count() == 2
