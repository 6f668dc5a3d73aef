"""Fixtures of the security tests: per-test storage folders and one of everything, owned by ``users.owner``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.test import Client

from apps.access.models import Membership, Resource
from apps.compute.models import ComputeJob
from apps.files.models import Volume
from apps.metadata.models import Table
from apps.query.models import QueryJob
from tests.conftest import FourUsers

# Every object of the owner carries this text where a page would show it: it must never reach others.
SECRET = "ownersecret"


@pytest.fixture(autouse=True)
def _own_storage(settings: Any, tmp_path: Path) -> Iterator[None]:
    """Results, science tables, uploads and files in this test's own folders, on DuckDB."""
    from workers.engines import reset_engines

    settings.MYDB_DIR = tmp_path / "mydb"
    settings.SCIENCE_DIR = tmp_path / "science"
    settings.VAR_DIR = tmp_path / "var"
    settings.DEFAULT_ENGINE = "duckdb"
    settings.SCIENCE_DIR.mkdir()
    reset_engines()
    yield
    reset_engines()


def client_for(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    if user.is_authenticated:
        client.force_login(user)
    return client


@dataclass
class OwnersThings:
    query_job: QueryJob
    compute_job: ComputeJob
    volume: Volume
    table: Table
    resource: Resource
    membership: Membership
    token_id: int
    session_id: uuid.UUID | None = None  # the owner's notebook session (a row: no container needed to be refused)


def run_owner_job(users: FourUsers, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> QueryJob:
    """A finished query job of the owner, with a stored result holding SECRET."""
    from apps.query import actions
    from apps.query.uploads import Upload

    path = tmp_path / "secret.parquet"
    pq.write_table(pa.table({"id": [1, 2], "note": [SECRET, SECRET]}), path)
    with django_capture_on_commit_callbacks(execute=True):
        job = actions.do_create_job(users.owner, query=f"SELECT id, note AS {SECRET} FROM TAP_UPLOAD.t",
                                    uploads=[Upload("t", path)], table_name=f"{SECRET}_result", run_id=SECRET)
        actions.do_run_job(job)
    job.refresh_from_db()
    return job


@pytest.fixture
def things(users: FourUsers, settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> OwnersThings:
    from apps.compute.actions import do_register_image
    from apps.compute.models import ComputeDomain
    from apps.files.actions import do_create_volume, do_sync_roots
    from tests.files.conftest import configure_roots
    from tests.metadata.conftest import make_table

    configure_roots(settings, tmp_path / "files")
    roots = {r.name: r for r in do_sync_roots()}
    volume = do_create_volume(users.owner, roots["Storage"], f"{SECRET}-volume")
    (volume.directory / f"{SECRET}.txt").write_text(SECRET)
    image = do_register_image("busybox", "daiquiri/busybox:latest")
    domain = ComputeDomain.objects.create(name="local")
    compute_job = ComputeJob.objects.create(owner=users.owner, image=image, domain=domain, command=f"echo {SECRET}",
                                            stdout=SECRET, run_id=SECRET)
    table = make_table(users, SECRET)  # private: survey.ownersecret
    membership = Membership.objects.get(group=users.group, user=users.member)
    from apps.accounts.actions import do_create_token

    token, _key = do_create_token(users.owner, f"{SECRET}-token")
    from apps.compute.models import ComputeSession

    session = ComputeSession.objects.create(owner=users.owner, image=image, domain=domain, state=ComputeSession.STOPPED,
                                            error=SECRET, stop_reason=SECRET)
    return OwnersThings(run_owner_job(users, tmp_path, django_capture_on_commit_callbacks), compute_job, volume, table,
                        volume.resource, membership, token.pk, session.id)
