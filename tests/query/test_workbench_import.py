"""Import into MyDB: CSV, VOTable, FITS and Parquet files become named tables with their units and UCDs;
bad files, full spaces and taken names leave nothing behind."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.io.votable import from_table, writeto
from astropy.table import Table
from django.urls import reverse

from apps.query import actions
from apps.query.models import QueryJob, QueryQuota
from apps.query.planning import QueryError
from apps.uws import phases

pytestmark = pytest.mark.django_db


def _astropy_table() -> Table:
    t = Table({"RA": np.array([10.5, 20.25, 30.0]), "Dec": np.array([-5.0, 0.0, 5.5]), "mag": np.array([12.0, 13.5, np.nan])})
    t["RA"].unit, t["Dec"].unit, t["mag"].unit = "deg", "deg", "mag"
    return t


def _fits_bytes() -> bytes:
    hdu = fits.BinTableHDU(_astropy_table())
    hdu.header["TUCD1"], hdu.header["TUCD2"] = "pos.eq.ra;meta.main", "pos.eq.dec;meta.main"
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(out)
    return out.getvalue()


def _votable_bytes() -> bytes:
    vot = from_table(_astropy_table())
    fields = vot.get_first_table().fields
    fields[0].ucd, fields[1].ucd = "pos.eq.ra;meta.main", "pos.eq.dec;meta.main"
    out = io.BytesIO()
    writeto(vot, out)
    return out.getvalue()


def _parquet_bytes() -> bytes:
    field = pa.field("ra", pa.float64(), metadata={"unit": "deg", "ucd": "pos.eq.ra;meta.main"})
    table = pa.Table.from_arrays([pa.array([10.5, 20.25, 30.0]), pa.array([1, 2, 2**62])],
                                 schema=pa.schema([field, pa.field("source_id", pa.int64())]))
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def _import(user: Any, capture: Any, name: str, data: bytes, filename: str) -> QueryJob:
    with capture(execute=True):
        job = actions.do_import_table(user, table_name=name, data=data, filename=filename)
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(("filename", "make"), [("cat.fits", _fits_bytes), ("cat.vot", _votable_bytes), ("cat.parquet", _parquet_bytes)])
def test_it_imports_a_file_with_its_units_and_ucds(users: Any, django_capture_on_commit_callbacks: Any, run_job: Any,
                                                  filename: str, make: Any) -> None:
    job = _import(users.owner, django_capture_on_commit_callbacks, "cat", make(), filename)
    assert job.phase == phases.COMPLETED, job.error
    assert job.row_count == 3 and job.table_name == "cat"
    ra = next(c for c in job.result_columns if c["name"] == "ra")
    assert ra["unit"] == "deg" and ra["ucd"] == "pos.eq.ra;meta.main"
    again = run_job(users.owner, "SELECT COUNT(*) AS n FROM mydb.cat WHERE ra > 15")
    assert next(actions.result_batches(again)).column(0)[0].as_py() == 2


def test_it_imports_csv_and_keeps_big_integers_exact(users: Any, django_capture_on_commit_callbacks: Any) -> None:
    job = _import(users.owner, django_capture_on_commit_callbacks, "ids", b"Source ID,flux\n4611686018427387905,1.5\n2,2.5\n", "ids.csv")
    assert job.phase == phases.COMPLETED, job.error
    assert [c["name"] for c in job.result_columns] == ["source_id", "flux"]
    assert next(actions.result_batches(job)).column(0)[0].as_py() == 4611686018427387905


def test_a_votable_pointing_at_a_server_file_is_refused_and_nothing_is_made(users: Any, settings: Any) -> None:
    evil = (b'<?xml version="1.0"?><VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>'
            b'<FIELD name="a" datatype="char" arraysize="*"/><DATA><BINARY><STREAM href="file:///etc/passwd"/></BINARY></DATA>'
            b'</TABLE></RESOURCE></VOTABLE>')
    with pytest.raises(QueryError) as caught:
        actions.do_import_table(users.owner, table_name="evil", data=evil, filename="x.vot")
    assert "/etc" not in str(caught.value)
    assert not QueryJob.objects.filter(table_name="evil").exists()
    uploads = Path(settings.VAR_DIR) / "uploads"
    assert not uploads.exists() or not any(p.name == "evil.parquet" for p in uploads.rglob("*"))


def test_a_fits_table_over_the_cell_limit_is_refused_before_reading(users: Any, settings: Any) -> None:
    settings.QUERY_IMPORT_MAX_CELLS = 5
    with pytest.raises(QueryError, match="cells"):
        actions.do_import_table(users.owner, table_name="big", data=_fits_bytes(), filename="big.fits")
    assert not QueryJob.objects.filter(table_name="big").exists()


def test_imports_count_against_the_quota_and_a_full_space_refuses(users: Any) -> None:
    QueryQuota.objects.create(user=users.owner, bytes=0)
    with pytest.raises(QueryError, match="full"):
        actions.do_import_table(users.owner, table_name="t", data=b"a\n1\n", filename="t.csv")


def test_anonymous_users_and_taken_names_are_refused(users: Any, django_capture_on_commit_callbacks: Any) -> None:
    with pytest.raises(QueryError, match="Log in"):
        actions.do_import_table(users.anonymous, table_name="t", data=b"a\n1\n", filename="t.csv")
    _import(users.owner, django_capture_on_commit_callbacks, "t", b"a\n1\n", "t.csv")
    with pytest.raises(QueryError):
        actions.do_import_table(users.owner, table_name="t", data=b"a\n1\n", filename="t.csv")


def test_the_import_page_takes_a_file_and_answers_json_for_the_progress_script(users: Any, client: Any,
                                                                              django_capture_on_commit_callbacks: Any) -> None:
    client.force_login(users.owner)
    assert client.get(reverse("query:import")).status_code == 200
    upload = io.BytesIO(b"x,y\n1,2\n3,4\n")
    upload.name = "pairs.csv"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("query:import"), {"table_name": "pairs", "file": upload}, HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    job = QueryJob.objects.get(pk=response.json()["job"])
    assert job.phase == phases.COMPLETED and job.row_count == 2
    bad = io.BytesIO(b"\x1f\x8b garbage")
    bad.name = "bad.csv.gz"
    response = client.post(reverse("query:import"), {"table_name": "bad", "file": bad}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "gzip" in response.json()["error"]


def test_the_import_page_reads_from_a_volume_only_with_read_access(users: Any, client: Any, settings: Any, tmp_path: Path,
                                                                  django_capture_on_commit_callbacks: Any) -> None:
    from apps.files.actions import do_create_volume, do_make_folder, do_sync_roots, do_upload_file

    settings.FILES_QUOTA_FILESYSTEMS = False
    settings.FILES_ROOTS = [{"name": "Storage", "kind": "storage", "path": tmp_path / "storage", "quota": 10**8}]
    root = next(r for r in do_sync_roots() if r.name == "Storage")
    volume = do_create_volume(users.owner, root, "project")
    do_make_folder(users.owner, volume, "cats")
    do_upload_file(users.owner, volume, "cats/pairs.csv", [b"x,y\n1,2\n"])
    client.force_login(users.outsider)
    response = client.post(reverse("query:import"), {"table_name": "stolen", "volume": volume.id, "path": "cats/pairs.csv"})
    assert response.status_code in (403, 404)
    client.force_login(users.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("query:import"), {"table_name": "pairs", "volume": volume.id, "path": "cats/pairs.csv"})
    assert response.status_code == 302
    assert QueryJob.objects.get(owner=users.owner, table_name="pairs").phase == phases.COMPLETED
