"""The embedded DuckDB engine over Parquet files on tmp_path."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workers.engines.base import EngineError, QueryAborted, QueryTimeout, TableName
from workers.engines.duckdb import DuckDBEngine

from .conftest import run_python

SLOW = "SELECT sum(a.range * b.range) AS s FROM range(200000) a, range(200000) b"


@pytest.fixture
def duck(science: tuple[Path, Path]) -> DuckDBEngine:
    return DuckDBEngine(*science, threads=1)


def test_it_executes_a_query_into_a_parquet_result(duck: DuckDBEngine, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "bright")
    result = duck.execute('SELECT id, ra, name FROM "cat"."stars" WHERE mag < 11 ORDER BY id',
                          into=into, timeout_s=30, job_id=job_id)
    assert result.rows == 180 and result.bytes > 0
    path = duck.store.path(into)
    assert path == duck.store.mydb_dir / mydb.removeprefix("mydb_") / "bright.parquet"
    assert pq.read_table(path).num_rows == 180
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]


def test_it_reads_a_folder_of_parts_as_one_table(duck: DuckDBEngine, job_id: str) -> None:
    batches = list(duck.stream('SELECT count(*) AS n FROM "cat"."parts"', timeout_s=30, job_id=job_id))
    assert batches[0].column(0).to_pylist() == [100]


def test_it_streams_batches_with_the_schema_even_when_empty(duck: DuckDBEngine, job_id: str) -> None:
    batches = list(duck.stream('SELECT id, name FROM "cat"."stars"', timeout_s=30, job_id=job_id, batch_rows=256))
    assert sum(b.num_rows for b in batches) == 1000
    empty = list(duck.stream('SELECT id FROM "cat"."stars" WHERE id < 0', timeout_s=30, job_id=job_id + "e"))
    assert empty and empty[0].num_rows == 0 and empty[0].schema.names == ["id"]


def test_it_fetches_pages_in_order(duck: DuckDBEngine, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "all")
    duck.execute('SELECT id, mag FROM "cat"."stars"', into=into, timeout_s=30, job_id=job_id)
    page = pa.Table.from_batches(list(duck.fetch(into, offset=10, limit=5, order_by="id", descending=True)))
    assert page.column("id").to_pylist() == [989, 988, 987, 986, 985]
    nulls_last = pa.Table.from_batches(list(duck.fetch(into, offset=995, limit=10, order_by="mag")))
    assert nulls_last.column("mag").to_pylist() == [None] * 5
    with pytest.raises(EngineError):
        list(duck.fetch(into, order_by="nope; drop"))


def test_a_timeout_ends_with_query_timeout_and_leaves_nothing(duck: DuckDBEngine, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "slow")
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        duck.execute(SLOW, into=into, timeout_s=0.5, job_id=job_id)
    assert time.monotonic() - started < 5
    assert not duck.store.path(into).parent.exists() or not list(duck.store.path(into).parent.iterdir())


def test_abort_from_another_thread_ends_with_query_aborted(duck: DuckDBEngine, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "aborted")
    threading.Timer(0.5, duck.abort, [job_id]).start()
    with pytest.raises(QueryAborted):
        duck.execute(SLOW, into=into, timeout_s=60, job_id=job_id)
    assert not duck.store.exists(into)
    assert not list(duck.store.path(into).parent.glob(".*"))


def test_abort_from_another_process_through_the_shared_cache(
        duck: DuckDBEngine, mydb: str, job_id: str, settings: Any, tmp_path: Path) -> None:
    caches = {"default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
                          "LOCATION": str(tmp_path / "cache")}}
    settings.CACHES = caches
    code = ("import time, django; from django.conf import settings; "
            f"settings.configure(CACHES={caches!r}); django.setup(); time.sleep(1); "
            f"from workers.engines.common import request_abort; request_abort({job_id!r})")
    outcome: dict[str, Any] = {}
    other = threading.Thread(target=lambda: outcome.setdefault("proc", run_python(code)))
    other.start()
    with pytest.raises(QueryAborted):
        duck.execute(SLOW, into=TableName(mydb, "aborted"), timeout_s=60, job_id=job_id)
    other.join()
    assert outcome["proc"].returncode == 0, outcome["proc"].stderr


def test_a_failed_query_leaves_no_partial_table(duck: DuckDBEngine, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "broken")
    with pytest.raises(EngineError, match="nope"):
        duck.execute('SELECT nope FROM "cat"."stars"', into=into, timeout_s=30, job_id=job_id)
    with pytest.raises(EngineError):  # fails while writing: cast error half-way through the rows
        duck.execute('SELECT CASE WHEN id < 900 THEN id::VARCHAR ELSE \'x\' END::INTEGER AS v FROM "cat"."stars"',
                     into=into, timeout_s=30, job_id=job_id + "b")
    assert not duck.store.exists(into)
    assert not list(duck.store.path(into).parent.glob(".*"))


def test_it_cannot_read_or_write_files_outside_its_folders(duck: DuckDBEngine, job_id: str, tmp_path: Path) -> None:
    with pytest.raises(EngineError):
        list(duck.stream("SELECT * FROM read_csv('/etc/passwd')", timeout_s=5, job_id=job_id))
    with pytest.raises(EngineError):
        list(duck.stream(f"COPY (SELECT 1) TO '{tmp_path}/x.csv'", timeout_s=5, job_id=job_id + "w"))


def test_ingest_is_atomic_and_replaces_only_when_asked(duck: DuckDBEngine, mydb: str) -> None:
    table = TableName(mydb, "upload")
    data = pa.table({"a": [1, 2, 3]})
    assert duck.ingest(table, iter(data.to_batches()), data.schema) == 3

    def broken() -> object:
        yield data.to_batches()[0]
        raise RuntimeError("upload interrupted")

    with pytest.raises(RuntimeError):
        duck.ingest(table, broken(), data.schema, replace=True)  # type: ignore[arg-type]
    assert pq.read_table(duck.store.path(table)).num_rows == 3  # the old table is intact
    assert not list(duck.store.path(table).parent.glob(".*"))
    with pytest.raises(EngineError, match="already exists"):
        duck.ingest(table, iter(data.to_batches()), data.schema)
    duck.ingest(table, iter(pa.table({"a": [9]}).to_batches()), data.schema, replace=True)
    assert pq.read_table(duck.store.path(table)).num_rows == 1


def test_new_catalogue_tables_become_views_and_rename_and_drop_work(duck: DuckDBEngine, job_id: str) -> None:
    data = pa.table({"x": [1.5]})
    duck.ingest(TableName("extra", "t"), iter(data.to_batches()), data.schema)
    assert next(iter(duck.stream('SELECT x FROM "extra"."t"', timeout_s=5, job_id=job_id))).num_rows == 1
    duck.rename(TableName("extra", "t"), TableName("extra", "u"))
    assert duck.introspect("extra")[0].name == "u"
    duck.drop(TableName("extra", "u"))
    assert duck.introspect("extra") == []


def test_introspect_maps_types_to_adql(duck: DuckDBEngine) -> None:
    (info,) = duck.introspect("cat", "stars")
    types = {c.name: (c.datatype, c.arraysize, c.xtype) for c in info.columns}
    assert types == {
        "id": ("BIGINT", None, None), "ra": ("DOUBLE", None, None), "dec": ("DOUBLE", None, None),
        "mag": ("REAL", None, None), "flag": ("SMALLINT", None, None), "n": ("INTEGER", None, None),
        "name": ("VARCHAR", "*", None), "ok": ("BOOLEAN", None, None), "seen": ("TIMESTAMP", None, "timestamp"),
    }
    assert info.rows == 1000
    assert info.sql_from is not None and "stars.parquet" in info.sql_from


def test_geometry_arrays_come_out_as_lists_of_doubles(duck: DuckDBEngine, job_id: str) -> None:
    (batch,) = duck.stream("SELECT [CAST(ra AS DOUBLE), CAST(dec AS DOUBLE)] AS pos FROM cat.stars WHERE id = 1",
                           timeout_s=5, job_id=job_id)
    assert batch.schema.field("pos").type == pa.list_(pa.float64())
    assert batch.column(0).to_pylist() == [[0.36, -88.5]]
