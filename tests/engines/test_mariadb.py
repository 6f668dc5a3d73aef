"""The MariaDB engine against a scratch database."""

from __future__ import annotations

import threading
import time
from typing import Any

import pyarrow as pa
import pytest

from workers.engines.base import EngineError, QueryAborted, QueryTimeout, TableName

from .conftest import run_python

SLOW = "SELECT SUM(a.seq * b.seq) AS s FROM mysql.seq_1_to_100000 a, mysql.seq_1_to_100000 b"


def tables(maria: Any, schema: str) -> list[str]:
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                    [maria.server_database(schema)])
        return [r[0] for r in cur.fetchall()]


def test_it_executes_into_the_users_database(maria: Any, maria_mydb: str, job_id: str) -> None:
    into = TableName(maria_mydb, "bright")
    result = maria.execute(f"SELECT id, ra, name FROM `{maria.cat}`.stars WHERE mag < 11",
                           into=into, timeout_s=30, job_id=job_id)
    assert result.rows == 180 and result.bytes > 0
    assert tables(maria, maria_mydb) == ["bright"]


def test_it_streams_and_fetches_pages_in_order(maria: Any, maria_mydb: str, job_id: str) -> None:
    table = pa.Table.from_batches(list(maria.stream(
        f"SELECT id, mag, flag, n, name, ok, seen, code, price FROM `{maria.cat}`.stars ORDER BY id",
        timeout_s=30, job_id=job_id, batch_rows=300)))
    assert table.num_rows == 1000
    row = table.slice(1, 1).to_pylist()[0]
    assert row["ok"] is False and row["price"] == 0.25 and row["name"] == "star 1" and row["code"] == "abc"
    assert row["seen"].isoformat() == "2020-01-01T01:00:00" and abs(row["mag"] - 10.1) < 1e-6
    types = {f.name: f.type for f in table.schema}
    assert types["flag"] == pa.int16() and types["n"] == pa.int32() and types["mag"] == pa.float32()
    into = TableName(maria_mydb, "all")
    maria.execute(f"SELECT id, mag FROM `{maria.cat}`.stars", into=into, timeout_s=30, job_id=job_id + "x")
    page = pa.Table.from_batches(list(maria.fetch(into, offset=10, limit=5, order_by="id", descending=True)))
    assert page.column("id").to_pylist() == [989, 988, 987, 986, 985]
    last = pa.Table.from_batches(list(maria.fetch(into, offset=999, order_by="mag")))
    assert last.column("mag").to_pylist() == [None]
    (empty,) = maria.stream(f"SELECT id FROM `{maria.cat}`.stars WHERE id < 0", timeout_s=5, job_id=job_id + "e")
    assert empty.num_rows == 0 and empty.schema.names == ["id"]


def test_a_timeout_ends_with_query_timeout_and_leaves_no_table(maria: Any, maria_mydb: str, job_id: str) -> None:
    into = TableName(maria_mydb, "slow")
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        maria.execute(SLOW, into=into, timeout_s=0.5, job_id=job_id)
    assert time.monotonic() - started < 5 and tables(maria, maria_mydb) == []
    with pytest.raises(QueryTimeout):
        list(maria.stream(SLOW, timeout_s=0.5, job_id=job_id + "s"))


def test_abort_from_another_process_ends_with_query_aborted(maria: Any, maria_mydb: str, job_id: str) -> None:
    into = TableName(maria_mydb, "aborted")
    code = (f"import time; from workers.engines.mariadb import MariaDBEngine; time.sleep(1); "
            f"MariaDBEngine('mysql://root@127.0.0.1:3306/mysql').cancel({job_id!r})")
    outcome: dict[str, Any] = {}
    canceller = threading.Thread(target=lambda: outcome.setdefault("proc", run_python(code)))
    canceller.start()
    with pytest.raises(QueryAborted):
        maria.execute(SLOW, into=into, timeout_s=60, job_id=job_id)
    canceller.join()
    assert outcome["proc"].returncode == 0, outcome["proc"].stderr
    assert tables(maria, maria_mydb) == []


def test_abort_from_another_thread_through_the_flag(maria: Any, job_id: str) -> None:
    threading.Timer(0.5, maria.abort, [job_id]).start()
    with pytest.raises(QueryAborted):
        list(maria.stream(SLOW, timeout_s=60, job_id=job_id))


def test_a_failed_execute_leaves_no_partial_table_and_one_statement_only(
        maria: Any, maria_mydb: str, job_id: str) -> None:
    into = TableName(maria_mydb, "broken")
    with pytest.raises(EngineError):
        maria.execute(f"SELECT nope FROM `{maria.cat}`.stars", into=into, timeout_s=30, job_id=job_id)
    with pytest.raises(EngineError):
        maria.execute(f"SELECT 1 AS a; DROP TABLE `{maria.cat}`.stars", into=into, timeout_s=30, job_id=job_id)
    assert tables(maria, maria_mydb) == [] and "stars" in tables(maria, maria.cat)


def test_ingest_is_atomic(maria: Any, maria_mydb: str) -> None:
    table = TableName(maria_mydb, "upload")
    data = pa.table({"a": pa.array([1, 2, 3], pa.int32()), "s": ["x", None, ""], "ok": [True, False, None]})
    assert maria.ingest(table, iter(data.to_batches()), data.schema) == 3

    def broken() -> Any:
        yield data.to_batches()[0]
        raise RuntimeError("upload interrupted")

    with pytest.raises(RuntimeError):
        maria.ingest(table, broken(), data.schema, replace=True)
    assert tables(maria, maria_mydb) == ["upload"]
    back = pa.Table.from_batches(list(maria.fetch(table, order_by="a")))
    assert back.to_pydict() == {"a": [1, 2, 3], "s": ["x", None, ""], "ok": [True, False, None]}
    maria.ingest(table, iter(pa.table({"a": pa.array([7], pa.int32()), "s": ["y"], "ok": [True]}).to_batches()),
                 data.schema, replace=True)
    assert tables(maria, maria_mydb) == ["upload"]
    maria.rename(table, TableName(maria_mydb, "renamed"))
    maria.drop(TableName(maria_mydb, "renamed"))
    assert tables(maria, maria_mydb) == []


def test_introspect_maps_types_indexes_and_estimates(maria: Any) -> None:
    (info,) = maria.introspect(maria.cat, "stars")
    cols = {c.name: c for c in info.columns}
    assert [(n, cols[n].datatype, cols[n].arraysize) for n in cols] == [
        ("id", "BIGINT", None), ("ra", "DOUBLE", None), ("dec", "DOUBLE", None), ("mag", "REAL", None),
        ("flag", "SMALLINT", None), ("n", "INTEGER", None), ("name", "VARCHAR", "20*"), ("ok", "BOOLEAN", None),
        ("seen", "TIMESTAMP", None), ("code", "CHAR", "3"), ("price", "DOUBLE", None)]
    assert cols["id"].indexed and cols["mag"].indexed and not cols["ra"].indexed
    assert cols["ra"].description == "right ascension" and info.description == "test stars"
    assert info.rows == 1000
