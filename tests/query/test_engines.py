"""The query service on every real engine: uploads, MyDB chains, rename and delete, time limits, abort.

Each engine gets scratch space: a PostgreSQL database and a MariaDB database made for this
test session, DuckDB and Spark folders under tmp_path (Spark through the Connect server that
scripts/services.d/20-spark starts).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow.parquet as pq
import pymysql
import pytest

from apps.query import actions
from apps.query.models import QueryJob
from apps.query.uploads import Upload
from apps.uws import phases
from workers import query_execution as execution

from .conftest import star_table

SUFFIX = uuid.uuid4().hex[:8]
PG_ADMIN = os.environ.get("QUERY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
SLOW = ("SELECT COUNT(*) AS n FROM TAP_UPLOAD.stars AS a, TAP_UPLOAD.stars AS b, TAP_UPLOAD.stars AS c "
        "WHERE SIN(a.mag * b.mag * c.mag) > 0.5")
ENGINES = ["duckdb", "postgresql", "mariadb", "spark"]
SPARK_REMOTE = os.environ.get("SPARK_REMOTE") or "sc://127.0.0.1:15002"


@pytest.fixture(scope="session")
def pg_science() -> Iterator[str]:
    name = f"query_test_{SUFFIX}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield psycopg.conninfo.make_conninfo(PG_ADMIN, dbname=name).replace("dbname=", "dbname=")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def maria_science() -> Iterator[str]:
    yield "mysql://root@127.0.0.1:3306/mysql"
    # Results and uploads of this session live in mydb_<id> databases of test users: drop those we made.
    conn = pymysql.connect(host="127.0.0.1", user="root")
    with conn.cursor() as cur:
        cur.execute("SELECT table_schema, table_name FROM information_schema.tables WHERE table_name LIKE %s", (f"%{SUFFIX}%",))
        for schema, table in cur.fetchall():
            cur.execute(f"DROP TABLE IF EXISTS `{schema}`.`{table}`")
    conn.close()


def _pg_url(conninfo: str) -> str:
    parts = dict(item.split("=", 1) for item in conninfo.split())
    return f"postgresql://{parts.get('user', 'postgres')}@{parts.get('host', '127.0.0.1')}:{parts.get('port', '5432')}/{parts['dbname']}"


@pytest.fixture(params=ENGINES)
def engine(request: Any, settings: Any, pg_science: str, maria_science: str) -> str:
    from workers.engines import reset_engines

    name = request.param
    settings.DEFAULT_ENGINE = name
    settings.SCIENCE_POSTGRESQL_URL = _pg_url(pg_science)
    settings.SCIENCE_MARIADB_URL = maria_science
    settings.SPARK_REMOTE = SPARK_REMOTE
    settings.QUERY_ROUTING = "off"  # each engine in turn holds the tables and runs the queries (routing: test_routing.py)
    reset_engines()
    return str(name)


@pytest.fixture
def big(tmp_path: Path, engine: str) -> Upload:
    """Rows for SLOW. Spark cannot stop a nested-loop join it was asked to cancel (only scans
    check for cancellation), so its version is just long enough (~10-30 s of work) to outlast
    the limits tested here and not starve the shared Connect server for the rest of the run."""
    path = tmp_path / "big.parquet"
    pq.write_table(star_table(1000 if engine == "spark" else 3000), path)
    return Upload("stars", path)


def _name(base: str) -> str:
    return f"{base}_{SUFFIX}"


@pytest.mark.django_db
def test_results_are_stored_chained_renamed_and_deleted(engine: str, users: Any, stars: Upload, run_job: Any) -> None:
    first = run_job(users.owner, "SELECT source_id, ra, dec, mag FROM TAP_UPLOAD.stars WHERE mag < 15", uploads=[stars],
                    table_name=_name("bright"))
    assert first.phase == phases.COMPLETED, first.error
    assert first.engine == engine and first.row_count and first.row_count > 100
    second = run_job(users.owner, f"SELECT COUNT(*) AS n, MAX(mag) AS faintest FROM mydb.{_name('bright')}")
    assert second.phase == phases.COMPLETED, second.error
    assert second.engine == engine
    batch = next(actions.result_batches(second))
    assert batch.column(0)[0].as_py() == first.row_count and batch.column(1)[0].as_py() < 15
    page = list(actions.result_batches(first, offset=0, limit=5, order_by="mag", descending=True))
    mags = [m for b in page for m in b.column("mag").to_pylist()]
    assert len(mags) == 5 and mags == sorted(mags, reverse=True)
    actions.do_rename_result(first, _name("renamed"))
    again = run_job(users.owner, f"SELECT COUNT(*) AS n FROM mydb.{_name('renamed')}")
    assert again.phase == phases.COMPLETED, again.error
    for job in (first, second, again):
        actions.do_delete_job(job)
    gone = run_job(users.owner, f"SELECT * FROM mydb.{_name('renamed')}")
    assert gone.phase == phases.ERROR


@pytest.mark.django_db
def test_sync_queries_stream_from_the_engine(engine: str, users: Any, stars: Upload) -> None:
    result = actions.run_sync(users.owner, query="SELECT source_id, mag FROM TAP_UPLOAD.stars", uploads=[stars], maxrec=250)
    assert sum(b.num_rows for b in result.batches) == 250 and result.overflow
    assert QueryJob.objects.get(source=QueryJob.SOURCE_TAP_SYNC).engine == engine


@pytest.mark.django_db
def test_the_queue_time_limit_is_enforced_by_the_engine(engine: str, users: Any, big: Upload, run_job: Any) -> None:
    started = time.monotonic()
    job = run_job(users.owner, SLOW, uploads=[big], execution_duration=2, table_name=_name("slow"))
    assert job.phase == phases.ERROR, job.error
    assert "time limit" in job.error and time.monotonic() - started < 60  # the query alone runs for many minutes
    assert run_job(users.owner, f"SELECT * FROM mydb.{_name('slow')}").phase == phases.ERROR


@pytest.mark.django_db(transaction=True)
def test_abort_cancels_the_running_statement(engine: str, users: Any, big: Upload) -> None:
    job = actions.do_create_job(users.owner, query=SLOW, uploads=[big], queue="long")
    QueryJob.objects.filter(pk=job.pk).update(phase=phases.QUEUED)
    worker = threading.Thread(target=execution.execute_job, args=(str(job.id), "test-worker"))
    worker.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.phase == phases.EXECUTING and job.native_sql:
            break
        time.sleep(0.1)
    time.sleep(1.0)  # let the statement start on the engine
    aborted_at = time.monotonic()
    actions.do_abort_job(job)
    worker.join(30)
    assert not worker.is_alive()
    assert time.monotonic() - aborted_at < 30
    job.refresh_from_db()
    assert job.phase == phases.ABORTED and job.result_table == ""
