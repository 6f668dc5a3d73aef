"""Big catalogues at scale: ingest in the HATS layout, the sky index in the metadata, discovery of HATS folders, access."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy.io.votable import parse_single_table
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client

from apps.access.actions import do_grant
from apps.adql.catalog import SkyIndex
from apps.adql.translate import translate
from apps.metadata.actions import do_discover_schema, do_ingest_file, do_publish_table, do_set_access_level
from apps.metadata.catalog import catalog_for, table_info
from apps.metadata.models import PRIVATE, Table
from tests.conftest import FourUsers
from tests.tap.conftest import basic_auth
from workers.engines.hats import HatsSettings, read_hats_info, write_hats

from .conftest import make_table

N = 6000
SMALL: dict[str, Any] = {"pixel_threshold": 800, "histogram_order": 6, "margin_arcsec": 10.0, "workers": 1}
CONE = "1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10, 89.6, 0.4))"


def stars() -> pa.Table:
    rng = np.random.default_rng(7)
    half = N // 2
    ra = np.concatenate([rng.uniform(0, 360, half), rng.uniform(0, 360, N - half)])
    dec = np.concatenate([90 - 0.8 * np.sqrt(rng.uniform(0, 1, half)), np.degrees(np.arcsin(rng.uniform(-1, 1, N - half)))])
    return pa.table({"id": np.arange(N, dtype=np.int64), "ra": ra, "dec": dec, "mag": rng.uniform(5, 20, N).astype(np.float32)})


def parquet_file(folder: Path) -> Path:
    path = folder / "stars.parquet"
    pq.write_table(stars(), path)
    return path


def in_cone(table: pa.Table) -> set[int]:
    """Brute force: ids within 0.4 deg of (10, 89.6)."""
    ra, dec = np.radians(table.column("ra").to_numpy()), np.radians(table.column("dec").to_numpy())
    ra0, dec0 = np.radians(10), np.radians(89.6)
    cos = np.sin(dec) * np.sin(dec0) + np.cos(dec) * np.cos(dec0) * np.cos(ra - ra0)
    return set(table.column("id").to_numpy()[cos >= np.cos(np.radians(0.4))].tolist())


def run_adql(user: Any, adql: str) -> pa.Table:
    sql = translate(adql, "duckdb", catalog=catalog_for(user)).sql
    return duckdb.connect().sql(sql).to_arrow_table()


@pytest.fixture
def publisher(users: FourUsers) -> FourUsers:
    users.owner.is_staff = True
    users.owner.save()
    return users


def test_ingest_in_the_hats_layout_stores_partitions_and_records_the_sky_index(publisher: FourUsers, science: Path,
                                                                               tmp_path: Path) -> None:
    table = do_ingest_file(publisher.owner, parquet_file(tmp_path), schema="sky", table="stars", engine="duckdb",
                           layout="hats", hats=SMALL)
    info = read_hats_info(science / "sky" / "stars")
    assert table.row_count == N == info.rows and not (science / "sky" / "stars.parquet").exists()
    assert table.partition_orders == list(info.partition_orders) and len(info.partition_orders) > 1
    assert (table.healpix_column, table.healpix_order, table.healpix_shift) == ("_healpix_29", 29, 0)
    assert [c.name for c in table.columns.all()] == ["id", "ra", "dec", "mag"]  # the index is storage, not a published column
    described = table_info(table)
    assert described.sky == SkyIndex("ra", "dec", "_healpix_29", 29, 0, info.partition_orders) and described.row_count == N
    do_publish_table(publisher.owner, table)
    got = run_adql(publisher.owner, f"SELECT id FROM sky.stars WHERE {CONE}")
    assert set(got.column("id").to_pylist()) == in_cone(stars()) and got.num_rows > 50
    assert run_adql(publisher.owner, "SELECT COUNT(*) AS n FROM sky.stars").column("n").to_pylist() == [N]


def test_the_automatic_layout_uses_hats_from_the_configured_row_count(publisher: FourUsers, science: Path, tmp_path: Path,
                                                                      settings: Any) -> None:
    settings.INGEST_HATS_MIN_ROWS = N + 1
    small = do_ingest_file(publisher.owner, parquet_file(tmp_path), schema="sky", table="small", engine="duckdb", hats=SMALL)
    assert small.partition_orders == [] and (science / "sky" / "small.parquet").is_file()
    settings.INGEST_HATS_MIN_ROWS = N
    big = do_ingest_file(publisher.owner, parquet_file(tmp_path), schema="sky", table="big", engine="duckdb", hats=SMALL)
    assert big.partition_orders and (science / "sky" / "big" / "collection.properties").is_file()


def test_replacing_switches_between_layouts_and_the_metadata_follows(publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    path = parquet_file(tmp_path)
    do_ingest_file(publisher.owner, path, schema="sky", table="stars", engine="duckdb", layout="plain")
    hats = do_ingest_file(publisher.owner, path, schema="sky", table="stars", engine="duckdb", layout="hats", hats=SMALL, replace=True)
    assert hats.partition_orders and not (science / "sky" / "stars.parquet").exists()
    plain = do_ingest_file(publisher.owner, path, schema="sky", table="stars", engine="duckdb", layout="plain", replace=True)
    plain.refresh_from_db()
    assert plain.partition_orders == [] and plain.healpix_column == "" and not (science / "sky" / "stars").exists()
    assert plain.row_count == N


def test_the_hats_layout_is_refused_where_it_cannot_work(publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    no_positions = tmp_path / "ids.parquet"
    pq.write_table(pa.table({"id": np.arange(10)}), no_positions)
    with pytest.raises(ValidationError, match="position columns"):
        do_ingest_file(publisher.owner, no_positions, schema="sky", table="ids", engine="duckdb", layout="hats")
    with pytest.raises(ValidationError, match="Parquet engines"):
        do_ingest_file(publisher.owner, parquet_file(tmp_path), schema="pg", table="stars", engine="postgresql", layout="hats")
    with pytest.raises(ValidationError, match="Unknown layout"):
        do_ingest_file(publisher.owner, parquet_file(tmp_path), schema="sky", table="stars", engine="duckdb", layout="zones")
    assert not Table.objects.exists()


def test_the_ingest_command_takes_the_layout(publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    out = io.StringIO()
    call_command("ingest", str(parquet_file(tmp_path)), "--schema", "cmd", "--table", "stars", "--engine", "duckdb",
                 "--layout", "hats", "--partition-rows", "1000", "--margin-arcsec", "5", "--workers", "1", stdout=out)
    assert "Stored as HEALPix partitions (HATS)" in out.getvalue()
    info = read_hats_info(science / "cmd" / "stars")
    assert info.rows == N and info.margin_arcsec == 5.0
    assert "hats_max_rows=1000" in (info.catalogue / "properties").read_text()


def test_discovery_finds_a_hats_folder_and_reads_its_metadata(publisher: FourUsers, science: Path) -> None:
    source = stars()
    write_hats(source.to_batches(max_chunksize=1000), source.schema, science / "published" / "objects", ra="ra", dec="dec",
               settings=HatsSettings(**SMALL))
    pq.write_table(source.slice(0, 10), science / "published" / "plain.parquet")
    out = io.StringIO()
    call_command("discover", "published", "--engine", "duckdb", stdout=out)
    assert "published.objects: 4 columns, 6000 rows, HEALPix partitions (HATS)" in out.getvalue()
    objects = Table.objects.get(schema__name="published", name="objects")
    assert objects.position_columns == ["ra", "dec"] and objects.healpix_column == "_healpix_29" and objects.partition_orders
    assert [(c.name, c.datatype) for c in objects.columns.all()] == [("id", "BIGINT"), ("ra", "DOUBLE"), ("dec", "DOUBLE"), ("mag", "REAL")]
    plain = Table.objects.get(schema__name="published", name="plain")
    assert plain.partition_orders == [] and plain.row_count == 10
    do_set_access_level(publisher.owner, objects, "public")  # the command discovers as the portal: private to nobody yet
    do_publish_table(publisher.owner, objects)
    got = run_adql(publisher.anonymous, f"SELECT id FROM published.objects WHERE {CONE}")
    assert set(got.column("id").to_pylist()) == in_cone(source)


def test_discovery_of_a_copied_in_collection_keeps_working_after_the_folder_is_replaced(publisher: FourUsers, science: Path) -> None:
    source = stars()
    write_hats(source.to_batches(max_chunksize=1000), source.schema, science / "published" / "objects", ra="ra", dec="dec",
               settings=HatsSettings(**SMALL))
    do_discover_schema(publisher.owner, "published", engine="duckdb")
    shutil.rmtree(science / "published" / "objects")
    pq.write_table(source, science / "published" / "objects.parquet")
    (table,) = do_discover_schema(publisher.owner, "published", engine="duckdb", table="objects")
    assert table.partition_orders == [] and table.healpix_column == "" and table.row_count == N


def test_the_index_column_a_publisher_declares_must_exist_and_be_bigint(publisher: FourUsers, science: Path) -> None:
    table = make_table(publisher)  # source_id BIGINT, ra, dec, mag REAL
    table.position_columns = ["ra", "dec"]
    table.healpix_column, table.healpix_order, table.healpix_shift = "source_id", 12, 35
    table.full_clean()
    table.save()
    assert table_info(table).sky == SkyIndex("ra", "dec", "source_id", 12, 35, ())
    for column, order, shift, field in (("mag", 12, 35, "healpix_column"), ("nothing", 12, 35, "healpix_column"),
                                        ("source_id", 12, 40, "healpix_shift")):
        table.healpix_column, table.healpix_order, table.healpix_shift = column, order, shift
        with pytest.raises(ValidationError) as refused:
            table.full_clean()
        assert field in refused.value.message_dict


def test_the_admin_change_page_shows_the_sky_index_fields(publisher: FourUsers, science: Path, client: Client) -> None:
    table = make_table(publisher)
    table.position_columns = ["ra", "dec"]
    table.save()
    publisher.owner.is_superuser = True
    publisher.owner.save()
    client.force_login(publisher.owner)
    page = client.get(f"/admin/metadata/table/{table.pk}/change/")
    assert page.status_code == 200 and b"healpix_column" in page.content and b"healpix_shift" in page.content


def test_a_private_hats_table_is_invisible_to_outsiders(publisher: FourUsers, science: Path, tmp_path: Path, client: Client) -> None:
    table = do_ingest_file(publisher.owner, parquet_file(tmp_path), schema="sky", table="stars", engine="duckdb",
                           layout="hats", hats=SMALL)
    do_set_access_level(publisher.owner, table, PRIVATE)
    do_publish_table(publisher.owner, table)
    do_grant(publisher.owner, table.resource, "query", group=publisher.group)
    query = {"LANG": "ADQL", "QUERY": f"SELECT id FROM sky.stars WHERE {CONE}"}
    assert client.get("/tap/sync", query).status_code == 400
    assert client.get("/tap/sync", query, HTTP_AUTHORIZATION=basic_auth(publisher.outsider)).status_code == 400
    assert b"sky.stars" not in client.get("/tap/tables", HTTP_AUTHORIZATION=basic_auth(publisher.outsider)).content
    allowed = client.get("/tap/sync", query, HTTP_AUTHORIZATION=basic_auth(publisher.member))
    assert allowed.status_code == 200
    rows = parse_single_table(io.BytesIO(b"".join(allowed.streaming_content))).array  # type: ignore[attr-defined]
    assert {int(i) for i in rows["id"]} == in_cone(stars())
