"""TAP sync CSV of a big PostgreSQL result is written by the database (COPY) and reads as the writer's CSV.

The same query with a MAXREC of at most 10,000 rows takes the small path (Arrow rows through
apps.formats' CSV writer), the reference here. Floats may differ in their exponent's spelling only.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pytest
from django.test import Client

from apps.query import actions
from apps.query.models import QueryJob
from apps.query.uploads import Upload
from apps.uws import phases

from .conftest import star_table

ROWS = 12_000  # past the small path's 10,000 rows
CSV = "text/csv;header=present"
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def pg_science() -> Iterator[str]:
    name = f"sync_csv_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


@pytest.fixture
def pg_stars(settings: Any, pg_science: str, users: Any, tmp_path: Path, run_job: Any) -> str:
    """A MyDB table of ROWS stars on PostgreSQL (with quotes, commas and line breaks in some names)."""
    from workers.engines import reset_engines

    settings.DEFAULT_ENGINE = "postgresql"
    settings.SCIENCE_POSTGRESQL_URL = pg_science
    settings.QUERY_ROUTING = "off"
    reset_engines()
    table = star_table(ROWS)
    names = [f'star "{i}",\nthe {i}th' if i % 97 == 0 else f"star {i}" for i in range(ROWS)]
    table = table.set_column(table.schema.get_field_index("name"), "name", [names])
    path = tmp_path / "stars.parquet"
    pq.write_table(table, path)
    name = f"csv_{uuid.uuid4().hex[:8]}"
    job = run_job(users.owner, "SELECT * FROM TAP_UPLOAD.stars", uploads=[Upload("stars", path)], table_name=name)
    assert job.phase == phases.COMPLETED, job.error
    return f"mydb.{name}"


def _rows(body: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode(), newline="")))


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return x == y or (math.isnan(x) and math.isnan(y))


@pytest.mark.django_db
def test_a_big_csv_result_is_written_by_copy_and_reads_as_the_writers(pg_stars: str, users: Any) -> None:
    query = f"SELECT source_id, ra, dec, mag, name FROM {pg_stars} ORDER BY source_id"
    result = actions.run_sync(users.owner, query=query, response_format=CSV)
    assert result.csv is not None and not list(result.batches)  # the database wrote the CSV
    client = Client()
    client.force_login(users.owner)
    big = client.get("/tap/sync", {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"})
    assert big.status_code == 200 and big["Content-Type"].startswith("text/csv")
    ours = _rows(b"".join(big.streaming_content))  # type: ignore[attr-defined]
    parts = [client.get("/tap/sync", {"LANG": "ADQL", "QUERY": f"{query} OFFSET {k}", "RESPONSEFORMAT": "csv", "MAXREC": "6000"})
             for k in (0, 6000)]
    reference = [_rows(b"".join(p.streaming_content)) for p in parts]  # type: ignore[attr-defined]
    expected = reference[0] + reference[1][1:]
    assert len(ours) == len(expected) == ROWS + 1 and ours[0] == ["source_id", "ra", "dec", "mag", "name"]
    assert all(_same(a, b) for r, s in zip(ours, expected, strict=True) for a, b in zip(r, s, strict=True))
    assert ours[98][4] == 'star "97",\nthe 97th'
    done = QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC, query=query).order_by("created").last()
    assert done is not None and done.phase == phases.COMPLETED and (done.row_count, done.overflow) == (ROWS, False)


@pytest.mark.django_db
def test_maxrec_cuts_a_copy_written_csv_and_the_job_records_the_overflow(pg_stars: str, users: Any) -> None:
    query = f"SELECT source_id, name FROM {pg_stars} ORDER BY source_id"
    result = actions.run_sync(users.owner, query=query, response_format=CSV, maxrec=11_000)
    assert result.csv is not None
    body = b"".join(result.csv)
    rows = _rows(body)
    assert len(rows) == 11_000 and rows[-1][0] == "11000" and result.overflow  # no header: the writer adds it
    job = QueryJob.objects.get(pk=result.job.pk)
    assert (job.phase, job.row_count, job.overflow) == (phases.COMPLETED, 11_000, True)


@pytest.mark.django_db
def test_a_csv_with_uploads_or_a_votable_goes_through_the_arrow_writer(pg_stars: str, users: Any, stars: Upload) -> None:
    votable = actions.run_sync(users.owner, query=f"SELECT * FROM {pg_stars}", response_format="application/x-votable+xml")
    assert votable.csv is None and sum(b.num_rows for b in votable.batches) == ROWS
    uploaded = actions.run_sync(users.owner, query="SELECT * FROM TAP_UPLOAD.stars", response_format=CSV, uploads=[stars])
    assert uploaded.csv is None and sum(b.num_rows for b in uploaded.batches) == 1000
