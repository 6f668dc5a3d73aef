"""Query results saved into a volume as files in the download formats."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.io.votable import parse_single_table

from apps.files.actions import do_save_result_to_volume, volume_fs
from apps.files.models import Volume
from apps.files.paths import QuotaExceeded
from apps.query import actions as query_actions
from apps.query.models import QueryJob
from apps.query.uploads import Upload
from tests.query.conftest import star_table

from .conftest import api, client_for


@pytest.fixture(autouse=True)
def _query_storage(settings: Any, tmp_path: Path) -> Iterator[None]:
    from daiquiri.celery import app
    from workers.engines import reset_engines

    settings.MYDB_DIR, settings.SCIENCE_DIR, settings.DEFAULT_ENGINE = tmp_path / "mydb", tmp_path / "science", "duckdb"
    eager, app.conf.task_always_eager = app.conf.task_always_eager, True
    reset_engines()
    yield
    reset_engines()
    app.conf.task_always_eager = eager


@pytest.fixture(autouse=True)
def _roomy(volume: Volume) -> None:
    volume.root.quota_bytes = 10_000_000
    volume.root.save()


@pytest.fixture
def result(users: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> QueryJob:
    path = tmp_path / "stars.parquet"
    pq.write_table(star_table(200), path)
    with django_capture_on_commit_callbacks(execute=True):
        query = "SELECT source_id, ra, mag FROM TAP_UPLOAD.stars"
        job = query_actions.do_create_job(users.owner, query=query, uploads=[Upload("stars", path)], table_name="bright")
        query_actions.do_run_job(job)
    job.refresh_from_db()
    assert job.row_count == 200, job.error
    return job


def test_a_result_is_saved_in_every_format(users: Any, volume: Volume, result: QueryJob, settings: Any) -> None:
    fs = volume_fs(volume)
    assert do_save_result_to_volume(users.owner, result, volume, "", "csv") == "bright.csv"
    rows = list(csv.reader(io.StringIO(fs.open_read("bright.csv").read().decode())))
    assert rows[0] == ["source_id", "ra", "mag"] and len(rows) == 201
    do_save_result_to_volume(users.owner, result, volume, "out/", "votable")
    assert len(parse_single_table(io.BytesIO(fs.open_read("out/bright.vot").read())).to_table()) == 200
    do_save_result_to_volume(users.owner, result, volume, "t.fits", "fits")
    with fits.open(io.BytesIO(fs.open_read("t.fits").read())) as hdus:
        assert len(hdus[1].data) == 200
    do_save_result_to_volume(users.owner, result, volume, "t.parquet", "parquet")
    assert pq.read_table(io.BytesIO(fs.open_read("t.parquet").read())).num_rows == 200


def test_saving_through_the_api_checks_write_access_and_the_quota(users: Any, volume: Volume, result: QueryJob, settings: Any) -> None:
    response = client_for(users.owner).post(api(volume, "save-result"), {"job": str(result.pk), "path": "r.csv", "format": "csv"})
    assert response.status_code == 201 and response.json()["path"] == "r.csv"
    assert client_for(users.member).post(api(volume, "save-result"), {"job": str(result.pk), "path": "m.csv", "format": "csv"}).status_code == 404
    volume.root.quota_bytes = 100
    volume.root.save()
    volume.refresh_from_db()
    with pytest.raises(QuotaExceeded):
        do_save_result_to_volume(users.owner, result, volume, "big.vot", "votable")
    assert sorted(e.name for e in volume_fs(volume).listdir()) == ["r.csv"]


def test_the_save_page_offers_writable_volumes_and_formats(users: Any, volume: Volume, result: QueryJob) -> None:
    client = client_for(users.owner)
    page = client.get(f"/files/save-result/{result.pk}")
    assert b"project" in page.content and b"Parquet" in page.content
    response = client.post(f"/files/save-result/{result.pk}", {"volume": volume.pk, "path": "saved/", "format": "fits"})
    assert response.status_code == 302
    assert [e.name for e in volume_fs(volume).listdir("saved")] == ["bright.fits"]
    assert client_for(users.outsider).get(f"/files/save-result/{result.pk}").status_code == 404
