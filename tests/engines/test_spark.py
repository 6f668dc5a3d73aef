"""Spark through the Connect server, over the same Parquet files as DuckDB (kept few: Spark is slow)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from workers.engines.base import EngineError, QueryAborted, QueryTimeout, TableName
from workers.engines.duckdb import DuckDBEngine
from workers.engines.spark import SparkEngine

from .conftest import run_python

# 100 ms per row over a Parquet scan: interruptible. (A CPU-bound loop over
# range() is not: Spark's generated code never checks for the kill, so an
# "interrupted" range() query would keep burning the server's cores.)
SLOW = "SELECT id, reflect('java.lang.Thread', 'sleep', CAST(100 AS BIGINT)) AS s FROM {stars}"


@pytest.fixture
def spark(spark_remote: str, science: tuple[Path, Path]) -> Iterator[SparkEngine]:
    engine = SparkEngine(spark_remote, *science)
    yield engine
    engine.close()


def test_it_executes_into_parquet_that_duckdb_reads_with_the_same_types(
        spark: SparkEngine, science: tuple[Path, Path], mydb: str, job_id: str) -> None:
    stars = spark.sql_from(TableName("cat", "stars"))
    into = TableName(mydb, "bright")
    result = spark.execute(f"SELECT id, ra, mag, flag, n, name, ok, seen, array(ra, dec) AS pos "
                           f"FROM {stars} WHERE mag < 11", into=into, timeout_s=120, job_id=job_id)
    assert result.rows == 180 and result.bytes > 0
    page = pa.Table.from_batches(list(spark.fetch(into, offset=2, limit=3, order_by="id")))
    assert page.column("id").to_pylist() == [3, 4, 5]  # id 0 has no magnitude
    spark_types = {c.name: (c.datatype, c.arraysize) for c in spark.introspect(mydb, "bright")[0].columns}
    duck = DuckDBEngine(*science, threads=1)
    duck.execute("SELECT id, ra, mag, flag, n, name, ok, seen, [ra, dec] AS pos FROM cat.stars WHERE mag < 11",
                 into=TableName(mydb, "bright_duck"), timeout_s=30, job_id=job_id + "d")
    duck_types = {c.name: (c.datatype, c.arraysize) for c in duck.introspect(mydb, "bright_duck")[0].columns}
    assert spark_types == duck_types
    assert spark_types["pos"] == ("DOUBLE", "*") and spark_types["seen"] == ("TIMESTAMP", None)
    (batch,) = spark.stream(f"SELECT count(*) AS n FROM {spark.sql_from(TableName('cat', 'parts'))}",
                            timeout_s=120, job_id=job_id + "s")
    assert batch.column(0).to_pylist() == [100]


def test_a_timeout_ends_with_query_timeout_and_leaves_nothing(spark: SparkEngine, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "slow")
    started = time.monotonic()
    with pytest.raises(QueryTimeout):
        spark.execute(SLOW.format(stars=spark.sql_from(TableName("cat", "stars"))), into=into, timeout_s=2,
                      job_id=job_id)
    assert time.monotonic() - started < 30
    folder = spark.store.path(into).parent
    assert not folder.exists() or not list(folder.iterdir())


def test_abort_from_another_thread_and_failures_leave_nothing(spark: SparkEngine, mydb: str, job_id: str) -> None:
    into = TableName(mydb, "aborted")
    threading.Timer(2, spark.abort, [job_id]).start()
    with pytest.raises(QueryAborted):
        spark.execute(SLOW.format(stars=spark.sql_from(TableName("cat", "stars"))), into=into, timeout_s=120,
                      job_id=job_id)
    with pytest.raises(EngineError, match="nope"):
        spark.execute(f"SELECT nope FROM {spark.sql_from(TableName('cat', 'stars'))}", into=into,
                      timeout_s=60, job_id=job_id + "f")
    with pytest.raises(EngineError):
        spark.execute("DROP TABLE IF EXISTS whatever", into=into, timeout_s=60, job_id=job_id + "c")
    folder = spark.store.path(into).parent
    assert not folder.exists() or not list(folder.iterdir())


def test_a_local_session_runs_times_out_and_aborts(science: tuple[Path, Path]) -> None:
    """SPARK_REMOTE=local, in its own process (its JVM goes with it)."""
    code = f"""
import threading, time, django
from django.conf import settings
settings.configure(CACHES={{"default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}}})
django.setup()
from pathlib import Path
from workers.engines.base import QueryAborted, QueryTimeout, TableName
from workers.engines.spark import SparkEngine
engine = SparkEngine("local", Path({str(science[0])!r}), Path({str(science[1])!r}))
stars = engine.sql_from(TableName("cat", "stars"))
print("rows", engine.execute(f"SELECT id FROM {{stars}} WHERE id < 10", into=TableName("mydb_1", "ten"),
                             timeout_s=300, job_id="local-1").rows)
slow = {SLOW!r}.format(stars=stars)
try:
    engine.execute(slow, into=TableName("mydb_1", "slow"), timeout_s=2, job_id="local-2")
except QueryTimeout:
    print("timeout")
threading.Timer(2, engine.abort, ["local-3"]).start()
started = time.monotonic()
try:
    engine.execute(slow, into=TableName("mydb_1", "slow"), timeout_s=300, job_id="local-3")
except QueryAborted:
    print("aborted", time.monotonic() - started < 60)
"""
    done = run_python(code, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["rows", "10", "timeout", "aborted", "True"]
    assert not (science[1] / "1" / "slow.parquet").exists()
