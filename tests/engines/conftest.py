"""Real engines on scratch data: DuckDB on tmp_path, a scratch PostgreSQL
database and MariaDB database per test session, Spark through the Connect
server that scripts/services.d/20-spark starts (started here if not running)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workers.engines.base import TableName

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("ENGINES_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MARIA_ADMIN = os.environ.get("ENGINES_TEST_MARIADB", "mysql://root@127.0.0.1:3306/mysql")
SUFFIX = uuid.uuid4().hex[:8]


def sample_table(rows: int = 1000) -> pa.Table:
    """A small catalogue with every plain type the engines must agree on."""
    ids = list(range(rows))
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "ra": pa.array([i * 360.0 / rows for i in ids], pa.float64()),
        "dec": pa.array([(i % 180) - 89.5 for i in ids], pa.float64()),
        "mag": pa.array([None if i % 10 == 0 else 10 + (i % 50) / 10 for i in ids], pa.float32()),
        "flag": pa.array([i % 3 for i in ids], pa.int16()),
        "n": pa.array([i * 7 for i in ids], pa.int32()),
        "name": pa.array([f"star {i}" if i % 7 else "" for i in ids], pa.string()),
        "ok": pa.array([i % 2 == 0 for i in ids], pa.bool_()),
        "seen": pa.array([dt.datetime(2020, 1, 1) + dt.timedelta(hours=i) for i in ids], pa.timestamp("us")),
    })


@pytest.fixture
def science(tmp_path: Path) -> tuple[Path, Path]:
    science_dir, mydb_dir = tmp_path / "science", tmp_path / "mydb"
    (science_dir / "cat").mkdir(parents=True)
    pq.write_table(sample_table(), science_dir / "cat" / "stars.parquet")
    parts = science_dir / "cat" / "parts.parquet"
    parts.mkdir()
    table = sample_table(100)
    pq.write_table(table.slice(0, 50), parts / "part-0.parquet")
    pq.write_table(table.slice(50), parts / "part-1.parquet")
    return science_dir, mydb_dir


@pytest.fixture
def job_id() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def mydb() -> str:
    """A user's MyDB schema name unique to this test."""
    return f"mydb_{uuid.uuid4().int % 10**9}"


# ---- PostgreSQL ---------------------------------------------------------------
@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"engines_test_{SUFFIX}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = psycopg.conninfo.make_conninfo(PG_ADMIN, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA cat")
        conn.execute("CREATE TABLE cat.stars (id bigint PRIMARY KEY, ra double precision, dec double precision, "
                     "mag real, flag smallint, n integer, name varchar(20), ok boolean, seen timestamp, "
                     "code char(3), price numeric(10,2), vec double precision[], ts timestamptz)")
        conn.execute("INSERT INTO cat.stars SELECT i, i * 0.36, (i % 180) - 89.5, "
                     "CASE WHEN i % 10 = 0 THEN NULL ELSE 10 + (i % 50) / 10.0 END, i % 3, i * 7, "
                     "CASE WHEN i % 7 = 0 THEN '' ELSE 'star ' || i END, i % 2 = 0, "
                     "'2020-01-01'::timestamp + i * interval '1 hour', 'abc', i / 4.0, ARRAY[i, i + 0.5], "
                     "'2020-01-01 00:00:00+00'::timestamptz FROM generate_series(0, 999) i")
        conn.execute("COMMENT ON TABLE cat.stars IS 'test stars'")
        conn.execute("COMMENT ON COLUMN cat.stars.ra IS 'right ascension'")
        conn.execute("CREATE INDEX ON cat.stars (mag)")
        conn.execute("ANALYZE cat.stars")
    yield url
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg(pg_url: str) -> Any:
    from workers.engines.postgresql import PostgreSQLEngine

    engine = PostgreSQLEngine(pg_url)
    engine.setup()
    return engine


def table_in(schema: str, name: str = "result") -> TableName:
    return TableName(schema, name)


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (another process, as a web worker would be)."""
    return subprocess.run([str(ROOT / ".venv" / "bin" / "python"), "-c", code], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


# ---- MariaDB ------------------------------------------------------------------
@pytest.fixture(scope="session")
def maria() -> Iterator[Any]:
    from workers.engines.mariadb import MariaDBEngine

    engine = MariaDBEngine(MARIA_ADMIN)
    cat = f"engines_test_{SUFFIX}"
    with engine.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{cat}`")
        cur.execute(f"CREATE TABLE `{cat}`.stars (id BIGINT PRIMARY KEY, ra DOUBLE, `dec` DOUBLE, mag FLOAT, "
                    "flag SMALLINT, n INT, name VARCHAR(20), ok BOOLEAN, seen DATETIME(6), code CHAR(3), "
                    "price DECIMAL(10,2), INDEX (mag)) COMMENT 'test stars'")
        cur.execute(f"ALTER TABLE `{cat}`.stars MODIFY ra DOUBLE COMMENT 'right ascension'")
        cur.execute(f"INSERT INTO `{cat}`.stars SELECT seq, seq * 0.36, (seq % 180) - 89.5, "
                    "IF(seq % 10 = 0, NULL, 10 + (seq % 50) / 10), seq % 3, seq * 7, "
                    "IF(seq % 7 = 0, '', CONCAT('star ', seq)), seq % 2 = 0, "
                    f"TIMESTAMP('2020-01-01') + INTERVAL seq HOUR, 'abc', seq / 4 FROM `{cat}`.seq_0_to_999")
        cur.execute(f"ANALYZE TABLE `{cat}`.stars")
    engine.cat = cat  # type: ignore[attr-defined]
    yield engine
    with engine.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{cat}`")


@pytest.fixture
def maria_mydb(maria: Any, mydb: str) -> Iterator[str]:
    yield mydb
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{maria.server_database(mydb)}`")


# ---- Spark ----------------------------------------------------------------------
SPARK_REMOTE = os.environ.get("ENGINES_TEST_SPARK", "sc://127.0.0.1:15002")


@pytest.fixture(scope="session")
def spark_remote() -> str:
    """The Connect server of scripts/services.d/20-spark, started here when it is not running."""
    if SPARK_REMOTE.startswith("sc://127.0.0.1:"):
        hook = ROOT / "scripts" / "services.d" / "20-spark"
        port = SPARK_REMOTE.rsplit(":", 1)[1]
        done = subprocess.run([str(hook)], env={**os.environ, "SPARK_CONNECT_PORT": port},
                              capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr
    return SPARK_REMOTE
