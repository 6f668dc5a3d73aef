"""Fixtures for the ADQL tests: a test catalog and the four real engines.

Engines are reached through environment variables with local defaults and
set up from scratch (database, extensions, tables) so that CI needs only the
services running:
  ADQL_TEST_PG_DSN     postgresql://postgres@127.0.0.1:5432/adql_test
  ADQL_TEST_MARIADB    host:port, default 127.0.0.1:3306 (user root, no password)
Spark runs as a local session (master local[1]) for the whole test session.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.adql import Catalog, ColumnInfo, FunctionInfo, TableInfo, translate
from workers.engines.postgresql import ensure_extensions

from . import diffdata

# One schema per test run, so that runs by several people at once do not collide.
SCHEMA = f"adql_test_{os.getpid()}"

# (id, ra, dec, name, mag): points chosen at the poles and on both sides of RA 0/360.
POINTS: list[tuple[int, float, float, str, float | None]] = [
    (1, 0.0, 90.0, "North Pole", 1.0),
    (2, 180.0, 89.95, "near-pole", 2.0),
    (3, 359.95, 0.0, "wrap-west", 3.0),
    (4, 0.05, 0.0, "wrap-east", 4.0),
    (5, 10.0, 20.0, "M31 field", 5.0),
    (6, 10.05, 20.0, "m31 Neighbour", 6.0),
    (7, 200.0, -89.99, "south-a", 7.0),
    (8, 20.0, -89.99, "south-b", 8.0),
    (9, 90.0, 45.0, "O'Brien\\star", None),
    (10, 359.9, -30.0, "NGC 104", 10.0),
]

POINT_COLUMNS = (
    ColumnInfo("id", "BIGINT", principal=True, indexed=True, ucd="meta.id;meta.main"),
    ColumnInfo("ra", "DOUBLE", unit="deg", ucd="pos.eq.ra;meta.main", description="Right ascension"),
    ColumnInfo("dec", "DOUBLE", unit="deg", ucd="pos.eq.dec;meta.main"),
    ColumnInfo("name", "VARCHAR", arraysize="*"),
    ColumnInfo("mag", "DOUBLE", unit="mag"),
)


def make_catalog(sql_from: str | None = None) -> Catalog:
    return Catalog(
        [
            TableInfo(SCHEMA, "points", POINT_COLUMNS, "Test points", sql_from=sql_from),
            TableInfo("gaia", "source", (
                ColumnInfo("source_id", "BIGINT"), ColumnInfo("ra", "DOUBLE", unit="deg"),
                ColumnInfo("dec", "DOUBLE", unit="deg"),
                ColumnInfo("phot_g_mean_mag", "REAL", unit="mag"),
                ColumnInfo("pmra", "DOUBLE", unit="mas/yr"),
                ColumnInfo("Mixed", "DOUBLE"),
            )),
            TableInfo(SCHEMA, "regions", (ColumnInfo("id", "BIGINT"), ColumnInfo("pos", "POINT", "2", "point"),
                                          ColumnInfo("reg", "CIRCLE", "3", "circle"),
                                          ColumnInfo("poly", "POLYGON", "*", "polygon"))),
            TableInfo(SCHEMA, "diff", diffdata.COLUMNS, "The differential test data"),
            TableInfo("TAP_UPLOAD", "mine", (ColumnInfo("ra", "DOUBLE", unit="deg"),
                                             ColumnInfo("dec", "DOUBLE", unit="deg"),
                                             ColumnInfo("label", "VARCHAR")),
                      sql_from='"tap_upload_42"."mine"'),
        ],
        [FunctionInfo("ivo_healpix_index", "BIGINT",
                      {"postgresql": "healpix_nest", "duckdb": "hpx({0}, {1}, {2})"})],
    )


@pytest.fixture
def catalog() -> Catalog:
    return make_catalog()


# ---- engines -------------------------------------------------------------

Runner = Callable[[str], list[tuple[Any, ...]]]


def _pg_dsn() -> str:
    return os.environ.get("ADQL_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/adql_test")


@pytest.fixture(scope="session")
def pg_conn() -> Iterator[Any]:
    import psycopg

    dsn = _pg_dsn()
    dbname = psycopg.conninfo.conninfo_to_dict(dsn).get("dbname", "adql_test")
    admin = psycopg.conninfo.make_conninfo(dsn, dbname="postgres")
    with psycopg.connect(admin, autocommit=True) as c:
        if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            c.execute(f'CREATE DATABASE "{dbname}"')
    conn = psycopg.connect(dsn, autocommit=True)
    ensure_extensions(conn)
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    conn.execute(f"CREATE TABLE {SCHEMA}.points (id BIGINT, ra DOUBLE PRECISION, "
                 "dec DOUBLE PRECISION, name TEXT, mag DOUBLE PRECISION)")
    with conn.cursor() as cur:
        cur.executemany(f"INSERT INTO {SCHEMA}.points VALUES (%s, %s, %s, %s, %s)", POINTS)
    conn.execute(f"CREATE TABLE {SCHEMA}.regions (id BIGINT, pos spoint, reg scircle, poly spoly)")
    conn.execute(f"INSERT INTO {SCHEMA}.regions VALUES (1, spoint(radians(10), radians(20)), "
                 "scircle(spoint(radians(10), radians(20)), radians(1)), "
                 "spoly '{(9d,19d),(11d,19d),(11d,21d),(9d,21d)}')")
    diffdata.load_postgresql(conn, SCHEMA)
    yield conn
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    conn.close()


@pytest.fixture(scope="session")
def maria_conn() -> Iterator[Any]:
    import pymysql

    host, _, port = os.environ.get("ADQL_TEST_MARIADB", "127.0.0.1:3306").partition(":")
    conn = pymysql.connect(host=host, port=int(port or 3306), user="root", password="",
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
        cur.execute(f"CREATE DATABASE {SCHEMA} CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin")
        cur.execute(f"CREATE TABLE {SCHEMA}.points (id BIGINT, ra DOUBLE, `dec` DOUBLE, "
                    "name VARCHAR(100), mag DOUBLE)")
        cur.executemany(f"INSERT INTO {SCHEMA}.points VALUES (%s, %s, %s, %s, %s)", POINTS)
        diffdata.load_mariadb(cur, SCHEMA)
    yield conn
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {SCHEMA}")
    conn.close()


@pytest.fixture(scope="session")
def duck_conn() -> Iterator[Any]:
    import duckdb

    conn = duckdb.connect(":memory:")
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    conn.execute(f"CREATE TABLE {SCHEMA}.points (id BIGINT, ra DOUBLE, dec DOUBLE, name VARCHAR, "
                 "mag DOUBLE)")
    conn.executemany(f"INSERT INTO {SCHEMA}.points VALUES (?, ?, ?, ?, ?)", POINTS)
    # Geometry columns stored as DALI arrays: POINT [ra, dec], CIRCLE [ra, dec, r].
    conn.execute(f"CREATE TABLE {SCHEMA}.regions AS SELECT 1::BIGINT AS id, [10.0, 20.0] AS pos, "
                 "[10.0, 20.0, 1.0] AS reg")
    diffdata.load_duckdb(conn, SCHEMA)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """A session on the Spark Connect server of scripts/services.d/20-spark, as the
    portal's workers use. (A local JVM session cannot coexist in one process with
    the Connect sessions of the engine tests: pyspark then insists on Connect.)"""
    from pyspark.sql import SparkSession

    remote = os.environ.get("ENGINES_TEST_SPARK", "sc://127.0.0.1:15002")
    if remote.startswith("sc://127.0.0.1:"):
        hook = Path(__file__).resolve().parents[2] / "scripts" / "services.d" / "20-spark"
        env = {**os.environ, "SPARK_CONNECT_PORT": remote.rsplit(":", 1)[1]}
        done = subprocess.run([str(hook)], env=env, capture_output=True, text=True, timeout=180, check=False)
        assert done.returncode == 0, done.stderr
    session = SparkSession.builder.remote(remote).create()
    session.sql(f"CREATE DATABASE IF NOT EXISTS {SCHEMA}")
    df = session.createDataFrame(POINTS, "id BIGINT, ra DOUBLE, dec DOUBLE, name STRING, mag DOUBLE")
    df.write.mode("overwrite").saveAsTable(f"{SCHEMA}.points")
    session.sql(f"DROP TABLE IF EXISTS {SCHEMA}.regions")
    session.sql(f"CREATE TABLE {SCHEMA}.regions USING parquet AS SELECT CAST(1 AS BIGINT) AS id, "
                "ARRAY(10.0D, 20.0D) AS pos, ARRAY(10.0D, 20.0D, 1.0D) AS reg")
    diffdata.load_spark(session, SCHEMA)
    yield session
    try:
        session.sql(f"DROP DATABASE IF EXISTS {SCHEMA} CASCADE")
        session.stop()
    except Exception as exc:  # engine tests may have closed every Connect session already
        warnings.warn(f"could not drop the Spark test database {SCHEMA}: {exc}", stacklevel=1)


def _runner(request: pytest.FixtureRequest, dialect: str) -> Runner:
    if dialect == "postgresql":
        conn = request.getfixturevalue("pg_conn")
        return lambda sql: [tuple(r) for r in conn.execute(sql).fetchall()]
    if dialect == "mariadb":
        conn = request.getfixturevalue("maria_conn")

        def run(sql: str) -> list[tuple[Any, ...]]:
            with conn.cursor() as cur:
                cur.execute(sql)
                return [tuple(r) for r in cur.fetchall()]
        return run
    if dialect == "duckdb":
        conn = request.getfixturevalue("duck_conn")
        return lambda sql: [tuple(r) for r in conn.execute(sql).fetchall()]
    session = request.getfixturevalue("spark")
    return lambda sql: [tuple(r) for r in session.sql(sql).collect()]


class Engine:
    """Translate ADQL for one engine and run it there."""

    def __init__(self, dialect: str, run: Runner) -> None:
        self.dialect = dialect
        self.run_sql = run
        self.catalog = make_catalog()

    def run(self, adql: str, maxrec: int | None = None) -> list[tuple[Any, ...]]:
        return self.run_sql(translate(adql, self.dialect, catalog=self.catalog, maxrec=maxrec).sql)

    def scalar(self, adql: str) -> Any:
        rows = self.run(adql)
        assert len(rows) == 1, rows
        return rows[0][0]

    def ids(self, where: str) -> set[int]:
        return {int(r[0]) for r in self.run(f"SELECT id FROM {SCHEMA}.points WHERE {where}")}


@pytest.fixture(params=["postgresql", "mariadb", "duckdb", "spark"])
def engine(request: pytest.FixtureRequest) -> Engine:
    return Engine(request.param, _runner(request, request.param))


@pytest.fixture(params=["postgresql", "duckdb", "spark"])
def geo_engine(request: pytest.FixtureRequest) -> Engine:
    """Engines with geometry columns: pg_sphere types, or DALI arrays (MariaDB has neither)."""
    return Engine(request.param, _runner(request, request.param))
