"""A Spark standalone cluster is only a setting: the same ADQL gives the same rows on DuckDB, on the local
Spark Connect server (15002, local[2]) and on the cluster's Connect server (15003, --master spark://127.0.0.1:7077,
scripts/services.d/21-spark-cluster), and the cluster's tasks really run in executor JVMs on its two workers.

The catalogue is the generator's Gaia-like table (source_id carries the level-12 HEALPix index) on a path every
JVM shares (tmp_path: one machine, one disk).
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from pyspark.sql.connect.proto import ExecutePlanRequest
from pyspark.sql.connect.session import SparkSession as ConnectSession

from apps.adql import Catalog, FunctionInfo, translate
from fixtures.generator import generate
from workers.engines.base import EngineError, QueryAborted, QueryTimeout, Scope, ScopeTable, TableName
from workers.engines.common import view_name
from workers.engines.duckdb import DuckDBEngine
from workers.engines.spark import SparkEngine

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_REMOTE = os.environ.get("ENGINES_TEST_SPARK_CLUSTER", "sc://127.0.0.1:15003")
MASTER_JSON = os.environ.get("ENGINES_TEST_SPARK_MASTER_JSON", "http://127.0.0.1:8080/json/")
SOURCE, PROBES = TableName("gaia", "source"), TableName("gaia", "probes")
HEALPIX = FunctionInfo("gaia_healpix_index", "BIGINT",
                       {"duckdb": "({1} >> (35 + 2 * (12 - {0})))", "spark": "shiftright({1}, 35 + 2 * (12 - {0}))"})
QUERIES = {
    "cone": ("SELECT source_id, ra, dec FROM gaia.source "
             "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 266.4, -28.9, 8)) ORDER BY source_id"),
    "healpix aggregate": ("SELECT gaia_healpix_index(2, source_id) AS hpx, COUNT(*) AS n, AVG(pmra) AS pmra "
                          "FROM gaia.source GROUP BY gaia_healpix_index(2, source_id) ORDER BY hpx"),
    "join": ("SELECT p.probe_id, s.source_id, DISTANCE(POINT('ICRS', p.ra, p.dec), POINT('ICRS', s.ra, s.dec)) AS d "
             "FROM gaia.probes AS p JOIN gaia.source AS s "
             "ON 1 = CONTAINS(POINT('ICRS', s.ra, s.dec), CIRCLE('ICRS', p.ra, p.dec, 1.0 / 3600)) "
             "ORDER BY p.probe_id, s.source_id"),
}


@pytest.fixture(scope="module")
def cluster_remote() -> str:
    """The cluster of scripts/services.d/21-spark-cluster, started here when it is not running."""
    if CLUSTER_REMOTE.startswith("sc://127.0.0.1:"):
        hook = ROOT / "scripts" / "services.d" / "21-spark-cluster"
        env = {**os.environ, "SPARK_CLUSTER_CONNECT_PORT": CLUSTER_REMOTE.rsplit(":", 1)[1]}
        done = subprocess.run([str(hook)], env=env, capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr
    return CLUSTER_REMOTE


@pytest.fixture(scope="module")
def gaia(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """20,000 generated sources and 200 probes 0.3″ north of every 100th of them."""
    root = tmp_path_factory.mktemp("cluster")
    science, mydb = root / "science", root / "mydb"
    (science / "gaia").mkdir(parents=True)
    source = pa.Table.from_batches(list(generate("gaia.source", 20_000, seed=7)))
    pq.write_table(source, science / "gaia" / "source.parquet")
    picked = source.take(list(range(0, 20_000, 100)))
    probes = pa.table({"probe_id": pa.array(range(len(picked)), pa.int64()), "ra": picked.column("ra"),
                       "dec": pc.subtract(picked.column("dec"), 0.3 / 3600)})
    pq.write_table(probes, science / "gaia" / "probes.parquet")
    return science, mydb


@pytest.fixture(scope="module")
def engines(gaia: tuple[Path, Path], spark_remote: str, cluster_remote: str) -> Iterator[dict[str, Any]]:
    local, cluster = SparkEngine(spark_remote, *gaia), SparkEngine(cluster_remote, *gaia)
    yield {"duckdb": DuckDBEngine(*gaia, threads=1), "spark local": local, "spark cluster": cluster}
    local.close()
    cluster.close()


def catalog(engine: Any) -> Catalog:
    return Catalog(engine.introspect("gaia"), [HEALPIX])


def stream(engine: Any, sql: str, scope: Scope | None = None) -> pa.Table:
    return pa.Table.from_batches(list(engine.stream(sql, timeout_s=300, job_id=uuid.uuid4().hex, scope=scope)))


def assert_same(tables: dict[str, pa.Table]) -> None:
    expected = tables["duckdb"].to_pylist()
    assert expected, "the query found nothing: the comparison would prove nothing"
    for name, table in tables.items():
        assert table.column_names == tables["duckdb"].column_names, name
        assert _close(table.to_pylist(), expected), name


def _close(got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> bool:
    if len(got) != len(expected):
        return False
    for a, b in zip(got, expected, strict=True):
        for key, value in b.items():
            if isinstance(value, float):
                if a[key] != pytest.approx(value, rel=1e-9, abs=1e-12):
                    return False
            elif a[key] != value:
                return False
    return True


@pytest.mark.parametrize("query", list(QUERIES))
def test_the_same_adql_gives_the_same_rows_on_duckdb_spark_local_and_the_cluster(
        engines: dict[str, Any], query: str) -> None:
    tables = {name: stream(engine, translate(QUERIES[query], engine.dialect, catalog=catalog(engine)).sql)
              for name, engine in engines.items()}
    assert_same(tables)


def test_a_result_stored_by_the_cluster_executors_reads_back_the_same(engines: dict[str, Any], mydb: str) -> None:
    """``execute``: the executors in the worker JVMs write the Parquet parts onto the shared path."""
    cluster, duck = engines["spark cluster"], engines["duckdb"]
    sql = translate(QUERIES["healpix aggregate"], "spark", catalog=catalog(cluster)).sql
    stored = cluster.execute(sql, into=TableName(mydb, "cells"), timeout_s=300, job_id=uuid.uuid4().hex)
    back = pa.Table.from_batches(list(cluster.fetch(stored.table, order_by="hpx")))
    expected = stream(duck, translate(QUERIES["healpix aggregate"], "duckdb", catalog=catalog(duck)).sql)
    assert stored.rows == expected.num_rows
    assert_same({"duckdb": expected, "stored by the cluster": back})


class SentRequests(ConnectSession.Hook):
    """What a Connect session sends to execute (Spark Connect's own session hook: requests go on unchanged)."""

    def __init__(self) -> None:
        self.kinds: list[str | None] = []

    def on_execute_plan(self, request: ExecutePlanRequest) -> ExecutePlanRequest:
        self.kinds.append(request.plan.WhichOneof("op_type"))  # "root" (a query) or "command" (SQL command, write)
        return request


@pytest.mark.parametrize("name", ["spark local", "spark cluster"])
def test_a_query_is_sent_once_and_planned_by_its_run(engines: dict[str, Any], mydb: str, name: str) -> None:
    """No SQL command ahead of the run: the server would analyse the statement twice, each time listing the files
    and reading the schema in a Spark job of its own (shipped to an executor on the cluster)."""
    engine = engines[name]
    sql = translate(QUERIES["healpix aggregate"], "spark", catalog=catalog(engine)).sql
    sent = SentRequests()
    engine.spark.client._session_hooks.append(sent)  # the client's list of the session's hooks
    try:
        streamed = stream(engine, sql)
        assert sent.kinds == ["root"]
        stored = engine.execute(sql, into=TableName(mydb, f"once_{uuid.uuid4().hex[:8]}"), timeout_s=300,
                                job_id=uuid.uuid4().hex)
        assert sent.kinds == ["root", "command"]  # the write alone
        with pytest.raises(EngineError, match="nope"):  # analysis errors still come back as the engine's
            stream(engine, f"SELECT nope FROM {engine.sql_from(SOURCE)}")
    finally:
        engine.spark.client._session_hooks.remove(sent)
    assert stored.rows == streamed.num_rows > 0
    assert_same({"duckdb": stream(engines["duckdb"], translate(QUERIES["healpix aggregate"], "duckdb",
                                                                catalog=catalog(engines["duckdb"])).sql),
                 "streamed": streamed, "stored": pa.Table.from_batches(list(engine.fetch(stored.table, order_by="hpx")))})


def test_native_sql_on_the_cluster_sees_its_scope_only(engines: dict[str, Any], gaia: tuple[Path, Path], mydb: str) -> None:
    view = view_name(SOURCE)
    scope = Scope("u1", mydb, (ScopeTable(SOURCE, ("source_id", "ra", "dec"), view),))
    sql = f"SELECT COUNT(*) AS n, MIN(source_id) AS first FROM {view} WHERE ra < 90"
    assert_same({name: stream(engine, sql, scope) for name, engine in engines.items()})
    cluster = engines["spark cluster"]
    for probe in (f"SELECT pmra FROM {view}", f"SELECT * FROM parquet.`{gaia[0]}/gaia/source.parquet`",
                  f"SELECT * FROM {view_name(PROBES)}", "SELECT * FROM gaia.source"):
        with pytest.raises(EngineError):
            stream(cluster, probe, scope)
    again = stream(cluster, sql, scope)  # a pooled session after the failures: still the scope, still right
    assert again.to_pylist() == stream(engines["duckdb"], sql, scope).to_pylist()
    narrower = Scope("u2", mydb, (ScopeTable(PROBES, ("probe_id",), view_name(PROBES)),))
    with pytest.raises(EngineError):  # the session u1 used, reused for u2: u1's view is gone
        stream(cluster, f"SELECT COUNT(*) AS n FROM {view}", narrower)


def test_the_cluster_ran_the_tasks_in_executor_jvms_on_both_workers(engines: dict[str, Any]) -> None:
    session = engines["spark cluster"].spark
    app_id = session.conf.get("spark.app.id")
    commands = {r[0] for r in session.sql(
        "SELECT DISTINCT reflect('java.lang.System', 'getProperty', 'sun.java.command') FROM range(0, 64, 1, 8)").collect()}
    assert commands and all("CoarseGrainedExecutorBackend" in c and app_id in c for c in commands), commands
    with urllib.request.urlopen(MASTER_JSON, timeout=10) as answer:
        master = json.load(answer)
    assert master["aliveworkers"] == 2
    (app,) = [a for a in master["activeapps"] if a["id"] == app_id]
    assert app["state"] == "RUNNING" and app["cores"] >= 2
    for worker in master["workers"]:
        with urllib.request.urlopen(worker["webuiaddress"] + "/json/", timeout=10) as answer:
            executors = json.load(answer)["executors"]
        assert any(e["appid"] == app_id for e in executors), worker["webuiaddress"]
    local_command = engines["spark local"].spark.sql(
        "SELECT reflect('java.lang.System', 'getProperty', 'sun.java.command')").collect()[0][0]
    assert "CoarseGrainedExecutorBackend" not in local_command  # local[2]: tasks in the driver's JVM


def test_a_streamed_result_stops_at_the_time_limit_and_on_abort(engines: dict[str, Any]) -> None:
    """The Arrow stream is interrupted by the job's tag like a stored result (100 ms per row: 20,000 rows)."""
    import threading
    import time

    cluster = engines["spark cluster"]
    slow = f"SELECT source_id, reflect('java.lang.Thread', 'sleep', CAST(100 AS BIGINT)) AS s FROM {cluster.sql_from(SOURCE)}"
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        list(cluster.stream(slow, timeout_s=3, job_id=uuid.uuid4().hex))
    job_id = uuid.uuid4().hex
    threading.Timer(2, cluster.abort, [job_id]).start()
    with pytest.raises(QueryAborted):
        list(cluster.stream(slow, timeout_s=300, job_id=job_id))
    assert time.monotonic() - started < 60
    (batch,) = cluster.stream(f"SELECT source_id FROM {cluster.sql_from(SOURCE)} WHERE source_id < 0",
                              timeout_s=60, job_id=uuid.uuid4().hex)
    assert batch.num_rows == 0 and batch.schema.names == ["source_id"]  # no rows: still one batch with the schema
