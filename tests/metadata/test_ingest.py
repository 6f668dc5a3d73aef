"""Ingest of FITS, VOTable, CSV and Parquet files: data in the engine, metadata kept, nothing half done."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io import fits
from astropy.io.votable import from_table
from astropy.table import Table as AstropyTable
from django.core.exceptions import ValidationError
from django.core.management import call_command

from apps.adql.translate import translate
from apps.metadata.actions import do_import_metadata, do_ingest_file, do_publish_table
from apps.metadata.catalog import catalog_for, parquet_path
from apps.metadata.models import Table
from apps.metadata.votable import metadata_votable
from tests.conftest import FourUsers

N = 2500


def _astropy_table() -> AstropyTable:
    rng = np.random.default_rng(1)
    t = AstropyTable()
    t["ID"] = np.arange(N, dtype=np.int64)
    t["RA"] = rng.uniform(0, 360, N)
    t["DEC"] = rng.uniform(-90, 90, N)
    t["Vmag"] = rng.uniform(5, 20, N).astype(np.float32)
    t["Name"] = [f"star {i}" for i in range(N)]
    t["RA"].unit, t["DEC"].unit, t["Vmag"].unit = "deg", "deg", "mag"
    t["RA"].description, t["Vmag"].description = "Right ascension (ICRS)", "Johnson V magnitude"
    t["RA"].meta["ucd"] = "pos.eq.ra;meta.main"
    return t


def _fits(path: Path) -> Path:
    hdu = fits.BinTableHDU(_astropy_table())
    hdu.header["TUCD2"] = "pos.eq.ra;meta.main"
    hdu.header["TUCD3"] = "pos.eq.dec;meta.main"
    hdu.header["TCOMM4"] = "Johnson V magnitude"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    return path


def _votable(path: Path) -> Path:
    vot = from_table(_astropy_table())
    fields = vot.get_first_table().fields
    fields[1].ucd, fields[2].ucd, fields[3].ucd = "pos.eq.ra;meta.main", "pos.eq.dec;meta.main", "phot.mag;em.opt.V"
    fields[3].description = "Johnson V magnitude"
    vot.to_xml(str(path))
    return path


def _csv(path: Path) -> Path:
    t = _astropy_table()
    t.write(path, format="csv")
    return path


def _parquet(path: Path) -> Path:
    t = _astropy_table()
    pq.write_table(pa.table({name: np.asarray(t[name]) if name != "Name" else list(t[name]) for name in t.colnames}), path)
    sidecar = path.parent / (path.name + ".vot")
    _votable(sidecar)
    return path


def _count(user: Any, table: str) -> int:
    sql = translate(f"SELECT COUNT(*) FROM {table}", "duckdb", catalog=catalog_for(user)).sql
    return int(duckdb.connect().execute(sql).fetchone()[0])  # type: ignore[index]


@pytest.mark.parametrize(("maker", "name"), [(_fits, "cat.fits"), (_votable, "cat.vot"), (_csv, "cat.csv"), (_parquet, "cat.parquet")])
def test_it_ingests_a_file_into_duckdb_keeping_its_metadata(users: FourUsers, science: Path, tmp_path: Path, maker: Any, name: str) -> None:
    path = maker(tmp_path / name)
    seen: list[tuple[int, int | None]] = []
    users.owner.is_staff = True
    table = do_ingest_file(users.owner, path, schema="incoming", table="stars", engine="duckdb", chunk_rows=1000,
                           progress=lambda done, total: seen.append((done, total)))
    assert table.row_count == N and not table.published
    assert parquet_path("incoming", "stars").is_file()
    assert seen[-1][0] == N and len(seen) >= 2  # streamed in chunks
    cols = {c.name: c for c in table.columns.all()}
    assert list(cols) == ["id", "ra", "dec", "vmag", "name"]
    assert cols["ra"].datatype == "DOUBLE" and cols["id"].datatype == "BIGINT" and cols["name"].datatype in ("VARCHAR", "CHAR")
    if name != "cat.csv":  # CSV carries no metadata (without a sidecar)
        assert cols["ra"].unit == "deg" and cols["vmag"].unit == "mag"
        assert cols["ra"].ucd == "pos.eq.ra;meta.main"
        assert "Johnson V" in cols["vmag"].description
    assert table.position_columns == ["ra", "dec"]
    do_publish_table(users.owner, table)
    assert _count(users.owner, "incoming.stars") == N


def test_a_failed_ingest_leaves_no_half_table(users: FourUsers, science: Path, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    lines = ["id,mag"] + [f"{i},{i * 0.1}" for i in range(20000)] + ["oops,not-a-number"]
    path.write_text("\n".join(lines))
    users.owner.is_staff = True
    with pytest.raises(ValidationError, match=r"line 20002, column id: 'oops' is not an integer"):
        do_ingest_file(users.owner, path, schema="incoming", table="broken", engine="duckdb", chunk_rows=1000)
    assert not parquet_path("incoming", "broken").exists()
    assert list(parquet_path("incoming", "broken").parent.glob("*")) == []
    assert not Table.objects.filter(name="broken").exists()


def test_it_refuses_to_overwrite_a_table_unless_asked(users: FourUsers, science: Path, tmp_path: Path) -> None:
    path = _csv(tmp_path / "cat.csv")
    users.owner.is_staff = True
    do_ingest_file(users.owner, path, schema="incoming", table="stars", engine="duckdb")
    with pytest.raises(ValidationError, match="replace"):
        do_ingest_file(users.owner, path, schema="incoming", table="stars", engine="duckdb")
    Table.objects.filter(name="stars").update(title="Hand-written")
    table = do_ingest_file(users.owner, path, schema="incoming", table="stars", engine="duckdb", replace=True)
    assert Table.objects.filter(name="stars").count() == 1 and table.row_count == N and table.title == "Hand-written"
    with pytest.raises(ValidationError, match="held by duckdb"):
        do_ingest_file(users.owner, path, schema="incoming", table="other", engine="postgresql")


def test_the_ingest_command_loads_and_publishes(users: FourUsers, science: Path, tmp_path: Path) -> None:
    path = _fits(tmp_path / "cat.fits")
    out = io.StringIO()
    call_command("ingest", str(path), "--schema", "cmd", "--table", "stars", "--engine", "duckdb", "--publish", "public",
                 "--chunk-rows", "500", stdout=out)
    assert "100.0%" in out.getvalue() and "Published cmd.stars" in out.getvalue()
    assert _count(users.anonymous, "cmd.stars") == N


def test_metadata_round_trips_through_a_votable_sidecar(users: FourUsers, science: Path, tmp_path: Path) -> None:
    users.owner.is_staff = True
    table = do_ingest_file(users.owner, _votable(tmp_path / "cat.vot"), schema="incoming", table="stars", engine="duckdb")
    exported = metadata_votable(table)
    table.columns.update(unit="", ucd="", description="")
    changed = do_import_metadata(users.owner, table, io.BytesIO(exported))
    assert changed == 5
    ra = table.columns.get(name="ra")
    assert (ra.unit, ra.ucd, ra.description) == ("deg", "pos.eq.ra;meta.main", "Right ascension (ICRS)")


def test_importing_a_sidecar_with_a_bad_ucd_is_refused(users: FourUsers, science: Path, tmp_path: Path) -> None:
    users.owner.is_staff = True
    table = do_ingest_file(users.owner, _csv(tmp_path / "cat.csv"), schema="incoming", table="stars", engine="duckdb")
    vot = from_table(_astropy_table())
    vot.get_first_table().fields[1].ucd = "pos.eq.rightascension"
    buf = io.BytesIO()
    vot.to_xml(buf)
    with pytest.raises(ValidationError, match="Column ra"):
        do_import_metadata(users.owner, table, io.BytesIO(buf.getvalue()))
    assert table.columns.get(name="ra").ucd == ""


def test_commands_publish_and_move_metadata(users: FourUsers, science: Path, tmp_path: Path) -> None:
    users.owner.is_staff = True
    table = do_ingest_file(users.owner, _votable(tmp_path / "cat.vot"), schema="incoming", table="stars", engine="duckdb")
    out = io.StringIO()
    call_command("publish", "incoming.stars", "--level", "internal", "--metadata-level", "public", stdout=out)
    assert "published (internal, description public)" in out.getvalue()
    assert "incoming.stars" not in catalog_for(users.anonymous).table_names()
    assert "incoming.stars" in catalog_for(users.outsider).table_names()
    sidecar = tmp_path / "out.vot"
    call_command("table_metadata", "export", "incoming.stars", str(sidecar))
    table.columns.update(unit="")
    call_command("table_metadata", "import", "incoming.stars", str(sidecar), stdout=out)
    assert table.columns.get(name="ra").unit == "deg"
    call_command("publish", "incoming.stars", "--unpublish", stdout=out)
    assert "incoming.stars" not in catalog_for(users.outsider).table_names()


def test_deleting_a_table_removes_its_privileges(users: FourUsers, science: Path, tmp_path: Path) -> None:
    from apps.access.models import Resource
    from apps.metadata.actions import do_delete_table

    users.owner.is_staff = True
    table = do_ingest_file(users.owner, _csv(tmp_path / "cat.csv"), schema="incoming", table="stars", engine="duckdb")
    resource_id = table.resource_id
    do_delete_table(users.owner, table, drop_data=False)
    assert not Resource.objects.filter(pk=resource_id).exists()


def test_nan_in_a_fits_float_column_becomes_null(users: FourUsers, science: Path, tmp_path: Path) -> None:
    t = _astropy_table()
    t["Vmag"][:10] = np.nan
    path = tmp_path / "nan.fits"
    t.write(path)
    users.owner.is_staff = True
    do_ingest_file(users.owner, path, schema="incoming", table="nans", engine="duckdb")
    nulls = pq.read_table(parquet_path("incoming", "nans")).column("vmag").null_count
    assert nulls == 10
