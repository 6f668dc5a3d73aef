"""The PostgreSQL engine against a scratch database (pg_sphere, q3c, the reader role)."""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
import pyarrow as pa
import pytest

from workers.engines.base import EngineError, QueryAborted, QueryTimeout, TableName
from workers.engines.common import run_tag

from .conftest import run_python

SLOW = "SELECT 1 AS x FROM pg_sleep(30)"


def exists(pg: Any, table: TableName) -> bool:
    with psycopg.connect(pg.url) as conn:
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{table.schema}"."{table.name}"']).fetchone()[0]


def test_it_executes_into_the_users_schema_as_the_reader_role(pg: Any, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "bright")
    result = pg.execute("SELECT id, ra, name, current_user AS who FROM cat.stars WHERE mag < 11",
                        into=into, timeout_s=30, job_id=job_id)
    assert result.rows == 180 and result.bytes > 0
    page = pa.Table.from_batches(list(pg.fetch(into, limit=1)))
    assert page.column("who").to_pylist() == ["daiquiri_reader"]


def test_the_reader_role_cannot_write_science_tables_or_become_the_service_user(
        pg: Any, mydb: str, job_id: str) -> None:
    with pytest.raises(EngineError, match="multiple commands"):
        pg.execute("SELECT * FROM cat.stars; DELETE FROM cat.stars", into=TableName(mydb, "x"),
                   timeout_s=30, job_id=job_id)
    with pytest.raises(EngineError, match="multiple commands"):
        list(pg.stream("SELECT 1 AS a) AS q; DELETE FROM cat.stars; SELECT * FROM (SELECT 1", timeout_s=30,
                       job_id=job_id))
    with pytest.raises(EngineError, match="permission denied"):
        pg.execute("SELECT set_config('role', 'postgres', true) AS r, pg_read_file('/etc/hostname') AS f",
                   into=TableName(mydb, "y"), timeout_s=30, job_id=job_id)
    with pytest.raises(EngineError):
        list(pg.stream("WITH d AS (DELETE FROM cat.stars RETURNING id) SELECT * FROM d", timeout_s=30, job_id=job_id))
    assert next(iter(pg.stream("SELECT count(*) AS n FROM cat.stars", timeout_s=30, job_id=job_id))) \
        .column(0).to_pylist() == [1000]


@pytest.mark.parametrize("through", ["psql", "psycopg", "small"])
def test_it_streams_every_type_as_arrow(pg: Any, job_id: str, through: str, monkeypatch: Any) -> None:
    if through == "psycopg":  # the fallback when no psql binary is installed
        monkeypatch.setattr("workers.engines.postgresql.PSQL", None)
    limit = 1000 if through == "small" else None  # a small answer: rows through psycopg, no COPY
    batches = list(pg.stream("SELECT id, mag, flag, n, name, ok, seen, code, price, vec, ts, "
                             "spoint(radians(ra), radians(dec)) AS pos, "
                             "scircle(spoint(radians(10), radians(20)), radians(1)) AS circ "
                             "FROM cat.stars ORDER BY id" + (f" LIMIT {limit}" if limit else ""), timeout_s=30, job_id=job_id,
                             row_limit=limit))
    table = pa.Table.from_batches(batches)
    assert table.num_rows == 1000
    row = table.slice(1, 1).to_pylist()[0]
    assert row["id"] == 1 and row["flag"] == 1 and row["n"] == 7 and row["ok"] is False
    assert row["name"] == "star 1" and row["code"] == "abc" and row["price"] == 0.25
    assert row["vec"] == [1.0, 1.5] and abs(row["mag"] - 10.1) < 1e-6
    assert row["seen"].isoformat() == "2020-01-01T01:00:00" and row["ts"].isoformat() == "2020-01-01T00:00:00"
    assert row["pos"] == pytest.approx([0.36, -88.5])
    assert row["circ"] == pytest.approx([10, 20, 1])
    assert table.slice(0, 1).to_pylist()[0]["mag"] is None
    assert table.slice(0, 1).to_pylist()[0]["name"] == ""  # empty string, not NULL
    assert table.schema.field("pos").metadata == {b"xtype": b"point"}
    types = {f.name: f.type for f in table.schema}
    assert types["flag"] == pa.int16() and types["n"] == pa.int32() and types["mag"] == pa.float32()


def test_a_small_answer_takes_no_psql_process_and_a_wrong_row_limit_loses_no_row(
        pg: Any, job_id: str, monkeypatch: Any) -> None:
    import subprocess

    started: list[Any] = []
    real = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: started.append(a) or real(*a, **k))
    (batch,) = pg.stream("SELECT id FROM cat.stars ORDER BY id LIMIT 10", timeout_s=30, job_id=job_id, row_limit=10)
    assert batch.column(0).to_pylist() == list(range(10)) and started == []
    # A caller's limit the statement does not keep: every row still comes, through COPY.
    rows = pa.Table.from_batches(list(pg.stream("SELECT i FROM generate_series(1, 20000) i",
                                                timeout_s=30, job_id=job_id, row_limit=5)))
    assert rows.num_rows == 20000 and started != []


def test_a_small_stream_is_stopped_by_its_time_limit_and_by_abort(pg: Any, job_id: str) -> None:
    with pytest.raises(QueryTimeout):
        list(pg.stream(SLOW + " LIMIT 10", timeout_s=0.5, job_id=job_id, row_limit=10))
    threading.Timer(1.0, pg.abort, [job_id + "a"]).start()
    with pytest.raises(QueryAborted):
        list(pg.stream(SLOW + " LIMIT 10", timeout_s=60, job_id=job_id + "a", row_limit=10))


def test_an_empty_stream_still_carries_the_schema(pg: Any, job_id: str) -> None:
    (batch,) = pg.stream("SELECT id, name FROM cat.stars WHERE id < 0", timeout_s=30, job_id=job_id)
    assert batch.num_rows == 0 and batch.schema.names == ["id", "name"]


def test_it_fetches_pages_in_order(pg: Any, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "all")
    pg.execute("SELECT id, mag FROM cat.stars", into=into, timeout_s=30, job_id=job_id)
    page = pa.Table.from_batches(list(pg.fetch(into, offset=10, limit=5, order_by="id", descending=True)))
    assert page.column("id").to_pylist() == [989, 988, 987, 986, 985]
    everything = pa.Table.from_batches(list(pg.fetch(into, order_by="mag")))
    assert everything.num_rows == 1000 and everything.column("mag").to_pylist()[-1] is None


def test_a_timeout_ends_with_query_timeout_and_leaves_no_table(pg: Any, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "slow")
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        pg.execute(SLOW, into=into, timeout_s=0.5, job_id=job_id)
    assert time.monotonic() - started < 5 and not exists(pg, into)
    with pytest.raises(QueryTimeout):
        list(pg.stream(SLOW, timeout_s=0.5, job_id=job_id + "s"))


def test_abort_from_another_process_ends_with_query_aborted(pg: Any, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "aborted")
    code = (f"import time; from workers.engines.postgresql import PostgreSQLEngine; time.sleep(1); "
            f"PostgreSQLEngine({pg.url!r}).cancel({job_id!r})")
    outcome: dict[str, Any] = {}
    canceller = threading.Thread(target=lambda: outcome.setdefault("proc", run_python(code)))
    canceller.start()
    with pytest.raises(QueryAborted):
        pg.execute(SLOW, into=into, timeout_s=60, job_id=job_id)
    canceller.join()
    assert outcome["proc"].returncode == 0, outcome["proc"].stderr
    assert not exists(pg, into)


def test_abort_of_a_stream_from_another_thread(pg: Any, job_id: str) -> None:
    threading.Timer(1.0, pg.abort, [job_id]).start()
    with pytest.raises(QueryAborted):
        list(pg.stream(SLOW, timeout_s=60, job_id=job_id))


def test_a_failed_execute_leaves_no_partial_table(pg: Any, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "broken")
    with pytest.raises(EngineError, match="division by zero"):
        pg.execute("SELECT id, 1 / (999 - id) AS boom FROM cat.stars", into=into, timeout_s=30, job_id=job_id)
    assert not exists(pg, into)


def test_ingest_is_atomic(pg: Any, mydb: str) -> None:
    table = TableName(mydb, "upload")
    data = pa.table({"a": pa.array([1, 2, 3], pa.int32()), "s": ["x", None, ""],
                     "pos": pa.array([[1.0, 2.0]] * 3, pa.list_(pa.float64()))})
    assert pg.ingest(table, iter(data.to_batches()), data.schema) == 3

    def broken() -> Any:
        yield data.to_batches()[0]
        raise RuntimeError("upload interrupted")

    with pytest.raises(EngineError):
        pg.ingest(table, broken(), data.schema, replace=True)
    back = pa.Table.from_batches(list(pg.fetch(table, order_by="a")))
    assert back.column("s").to_pylist() == ["x", None, ""] and back.column("pos").to_pylist()[0] == [1.0, 2.0]
    with pytest.raises(EngineError, match="already exists"):
        pg.ingest(table, iter(data.to_batches()), data.schema)
    with psycopg.connect(pg.url) as conn:
        leftovers = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_ingest\\_%%'").fetchone()
    assert leftovers == (0,)
    pg.rename(table, TableName(mydb, "renamed"))
    pg.drop(TableName(mydb, "renamed"))
    assert not exists(pg, TableName(mydb, "renamed"))


def test_introspect_maps_types_indexes_and_estimates(pg: Any) -> None:
    (info,) = pg.introspect("cat", "stars")
    cols = {c.name: c for c in info.columns}
    assert [(n, cols[n].datatype, cols[n].arraysize) for n in cols] == [
        ("id", "BIGINT", None), ("ra", "DOUBLE", None), ("dec", "DOUBLE", None), ("mag", "REAL", None),
        ("flag", "SMALLINT", None), ("n", "INTEGER", None), ("name", "VARCHAR", "20*"), ("ok", "BOOLEAN", None),
        ("seen", "TIMESTAMP", None), ("code", "CHAR", "3"), ("price", "DOUBLE", None), ("vec", "DOUBLE", "*"),
        ("ts", "TIMESTAMP", None)]
    assert cols["id"].indexed and cols["mag"].indexed and not cols["ra"].indexed
    assert cols["ra"].description == "right ascension" and info.description == "test stars"
    assert info.rows == 1000
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE cat.geo (pos spoint, reg scircle, poly spoly)")
    (geo,) = pg.introspect("cat", "geo")
    assert [(c.datatype, c.xtype) for c in geo.columns] == [("POINT", "point"), ("CIRCLE", "circle"),
                                                            ("POLYGON", "polygon")]
    with pytest.raises(EngineError):
        pg.introspect("cat", "missing")


def test_a_stream_closed_early_ends_its_query(pg: Any, job_id: str) -> None:
    stream = pg.stream("SELECT i FROM generate_series(1, 5000000) i", timeout_s=60, job_id=job_id)
    assert next(stream).num_rows > 0
    stream.close()
    with psycopg.connect(pg.url, autocommit=True) as conn:
        for _ in range(100):
            left = conn.execute("SELECT state, wait_event, backend_start FROM pg_stat_activity "
                                "WHERE application_name = %s", [f"daiquiri:{run_tag(job_id)}"]).fetchall()
            if not left:
                break
            time.sleep(0.1)
    assert left == []
