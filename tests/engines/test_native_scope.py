"""Native SQL with a Scope: each engine itself lets it read the scope's tables and columns, nothing else.

The text check (apps/adql/native.py) is not involved here: these statements go to
the engines as they are, as if that check had been slipped past.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from workers.engines.base import EngineError, Scope, ScopeTable, TableName
from workers.engines.common import run_tag, view_name
from workers.engines.duckdb import DuckDBEngine

STARS = TableName("cat", "stars")


def rows(engine: Any, sql: str, scope: Scope | None, job_id: str) -> list[dict[str, Any]]:
    return pa.Table.from_batches(list(engine.stream(sql, timeout_s=60, job_id=job_id, scope=scope))).to_pylist()


def principal() -> str:
    return f"u{uuid.uuid4().int % 10**9}"


# ---- PostgreSQL -------------------------------------------------------------------
@pytest.fixture
def pg_scope(pg: Any, mydb: str) -> Iterator[Scope]:
    scope = Scope(principal(), mydb, (ScopeTable(STARS, ("id", "ra")),))
    yield scope
    role = pg.role_of(scope.principal)
    with psycopg.connect(pg.url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def pg_private(pg: Any) -> str:
    """Another user's MyDB table and a private science table, made by the service user."""
    other = f"mydb_{uuid.uuid4().int % 10**9}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{other}"')
        conn.execute(f'CREATE TABLE "{other}".secret AS SELECT 42 AS answer')
        conn.execute("CREATE TABLE IF NOT EXISTS cat.hidden AS SELECT 7 AS x")
    pg.setup()  # the reader role reads every schema, as ADQL needs
    return other


def test_postgresql_native_sql_reads_its_scope_and_nothing_else(pg: Any, pg_scope: Scope, pg_private: str,
                                                                job_id: str) -> None:
    assert rows(pg, "SELECT id, ra FROM cat.stars WHERE id < 3 ORDER BY id", pg_scope, job_id) == [
        {"id": 0, "ra": 0.0}, {"id": 1, "ra": 0.36}, {"id": 2, "ra": 0.72}]
    for probe in ["SELECT mag FROM cat.stars", "SELECT * FROM cat.stars", "SELECT * FROM cat.hidden",
                  f'SELECT * FROM "{pg_private}".secret']:
        with pytest.raises(EngineError, match="permission denied"):
            rows(pg, probe, pg_scope, job_id)
    stored = pg.execute("SELECT id FROM cat.stars", into=TableName(pg_scope.home, "mine"), timeout_s=60,
                        job_id=job_id, scope=pg_scope)
    assert stored.rows == 1000
    with pytest.raises(EngineError, match="stored in"):
        pg.execute("SELECT 1 AS x", into=TableName(pg_private, "planted"), timeout_s=60, job_id=job_id, scope=pg_scope)


@pytest.mark.parametrize("probe", [
    "SELECT rolname FROM pg_roles", "SELECT datname FROM pg_database", "SELECT relname FROM pg_class",
    "SELECT nspname FROM pg_namespace", "SELECT query, application_name FROM pg_stat_activity",
    "SELECT * FROM pg_stat_get_activity(NULL)", "SELECT tablename FROM pg_tables", "SELECT usename FROM pg_user",
    "SELECT attname FROM pg_attribute",
])
def test_postgresql_native_sql_cannot_read_the_catalogue_of_others(pg: Any, pg_scope: Scope, probe: str,
                                                                   job_id: str) -> None:
    with pytest.raises(EngineError, match="permission denied"):
        rows(pg, probe, pg_scope, job_id)


def test_postgresql_roles_are_neither_superusers_nor_readers_of_all_activity(pg: Any, pg_scope: Scope,
                                                                           job_id: str) -> None:
    rows(pg, "SELECT 1 AS x", pg_scope, job_id)
    with psycopg.connect(pg.url) as conn:
        for role in (pg.reader, pg.role_of(pg_scope.principal)):
            assert conn.execute("SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = %s",
                                [role]).fetchone() == (False,)
            shared = conn.execute("SELECT b.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member "
                                  "JOIN pg_roles b ON b.oid = m.roleid WHERE r.rolname = %s", [role]).fetchall()
            assert shared == [], f"{role} is a member of {shared}"


def test_postgresql_sessions_show_no_job_id(pg: Any, pg_scope: Scope, job_id: str) -> None:
    """application_name is readable by every role: it carries a keyed tag, not the job id."""
    done = threading.Thread(target=rows, args=(pg, "SELECT 1 AS x FROM pg_sleep(2)", pg_scope, job_id))
    done.start()
    try:
        seen: list[str] = []
        with psycopg.connect(pg.url, autocommit=True) as conn:
            for _ in range(40):
                seen = [r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity WHERE state = "
                                                   "'active' AND query LIKE '%%COPY%%pg_sleep(2)%%' AND pid <> pg_backend_pid()")]
                if seen:
                    break
                time.sleep(0.05)
    finally:
        done.join()
    assert seen == [f"daiquiri:{run_tag(job_id)}"] and job_id not in seen[0]


def test_postgresql_grants_follow_the_scope_when_it_shrinks(pg: Any, pg_scope: Scope, job_id: str) -> None:
    assert rows(pg, "SELECT count(id) AS n FROM cat.stars", pg_scope, job_id) == [{"n": 1000}]
    narrower = Scope(pg_scope.principal, pg_scope.home, ())
    with pytest.raises(EngineError, match="permission denied"):
        rows(pg, "SELECT count(id) AS n FROM cat.stars", narrower, job_id)


# ---- DuckDB -----------------------------------------------------------------------
@pytest.fixture
def duck(science: tuple[Path, Path]) -> DuckDBEngine:
    science_dir, mydb_dir = science
    other = mydb_dir / "99"
    other.mkdir(parents=True)
    pq.write_table(pa.table({"answer": [42]}), other / "secret.parquet")
    return DuckDBEngine(science_dir, mydb_dir)


def test_duckdb_native_sql_reads_views_of_its_scope_and_no_file(duck: DuckDBEngine, science: tuple[Path, Path],
                                                                mydb: str, job_id: str) -> None:
    science_dir, mydb_dir = science
    view = view_name(STARS)
    scope = Scope(principal(), mydb, (ScopeTable(STARS, ("id", "ra"), view),))
    assert rows(duck, f'SELECT id, ra FROM "{view}" WHERE id < 2 ORDER BY id', scope, job_id) == [
        {"id": 0, "ra": 0.0}, {"id": 1, "ra": 0.36}]
    for probe in [f'SELECT mag FROM "{view}"', "SELECT * FROM cat.stars",
                  f"SELECT * FROM read_parquet('{science_dir}/cat/stars.parquet')",
                  f"SELECT * FROM '{science_dir}/cat/stars.parquet'",
                  f"SELECT * FROM '{mydb_dir}/99/secret.parquet'",
                  f"SELECT * FROM read_parquet('{mydb_dir}/**/*.parquet')",
                  f'SELECT * FROM "{view_name(TableName("mydb_99", "secret"))}"',
                  "SELECT * FROM read_csv('/etc/passwd')"]:
        with pytest.raises(EngineError):
            rows(duck, probe, scope, job_id)
    assert rows(duck, "SELECT current_setting('enable_external_access') AS e, current_setting('lock_configuration') "
                      "AS l", scope, job_id) == [{"e": False, "l": True}]
    stored = duck.execute(f'SELECT id FROM "{view}"', into=TableName(mydb, "mine"), timeout_s=60, job_id=job_id,
                          scope=scope)
    assert stored.rows == 1000 and pq.read_table(duck.store.path(TableName(mydb, "mine"))).num_rows == 1000
    with pytest.raises(EngineError, match="stored in"):
        duck.execute("SELECT 1 AS x", into=TableName("mydb_99", "planted"), timeout_s=60, job_id=job_id, scope=scope)


def test_duckdb_scopes_of_concurrent_queries_stay_apart(duck: DuckDBEngine, mydb: str, job_id: str) -> None:
    """Views are registered on the query's own cursor: another query never sees them."""
    view = view_name(STARS)
    wide = Scope(principal(), mydb, (ScopeTable(STARS, ("id", "mag"), view),))
    empty = Scope(principal(), mydb, ())
    stream = duck.stream(f'SELECT mag FROM "{view}"', timeout_s=60, job_id=job_id, scope=wide, batch_rows=10)
    assert next(stream).num_rows > 0
    with pytest.raises(EngineError):
        rows(duck, f'SELECT mag FROM "{view}"', empty, uuid.uuid4().hex)
    stream.close()


def test_duckdb_reads_a_folder_of_parts_through_its_view(duck: DuckDBEngine, mydb: str, job_id: str) -> None:
    parts = TableName("cat", "parts")
    scope = Scope(principal(), mydb, (ScopeTable(parts, ("id",), view_name(parts)),))
    assert rows(duck, f'SELECT count(*) AS n FROM "{view_name(parts)}"', scope, job_id) == [{"n": 100}]


# ---- MariaDB ----------------------------------------------------------------------
@pytest.fixture
def maria_scope(maria: Any, maria_mydb: str) -> Iterator[Scope]:
    scope = Scope(principal(), maria_mydb, (ScopeTable(TableName(maria.cat, "stars"), ("id", "ra")),))
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS `{maria.cat}`.hidden AS SELECT 7 AS x")
    yield scope
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute(f"DROP USER IF EXISTS '{maria.account_of(scope.principal)}'@'%'")


def test_mariadb_native_sql_reads_its_scope_and_nothing_else(maria: Any, maria_scope: Scope, job_id: str) -> None:
    cat = maria.cat
    assert rows(maria, f"SELECT id, ra FROM `{cat}`.stars WHERE id < 2 ORDER BY id", maria_scope, job_id) == [
        {"id": 0, "ra": 0.0}, {"id": 1, "ra": 0.36}]
    for probe in [f"SELECT mag FROM `{cat}`.stars", f"SELECT * FROM `{cat}`.hidden", "SELECT * FROM mysql.user",
                  "SELECT User FROM mysql.db"]:
        with pytest.raises(EngineError, match="denied"):
            rows(maria, probe, maria_scope, job_id)
    assert rows(maria, f"SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{cat}'",
                maria_scope, job_id) == [{"t": "stars"}]
    shown = rows(maria, "SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA", maria_scope, job_id)
    assert {r["s"] for r in shown} <= {"information_schema", cat, maria.server_database(maria_scope.home)}
    assert rows(maria, "SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER <> CURRENT_USER()"
                .replace("CURRENT_USER()", "SUBSTRING_INDEX(CURRENT_USER(), '@', 1)"), maria_scope, job_id) == [{"n": 0}]
    stored = maria.execute(f"SELECT id FROM `{cat}`.stars", into=TableName(maria_scope.home, "mine"), timeout_s=60,
                           job_id=job_id, scope=maria_scope)
    assert stored.rows == 1000
    narrower = Scope(maria_scope.principal, maria_scope.home, ())
    with pytest.raises(EngineError, match="denied"):
        rows(maria, f"SELECT id FROM `{cat}`.stars", narrower, job_id)


# ---- Spark ------------------------------------------------------------------------
def test_spark_native_sql_reads_temporary_views_and_no_path(spark_remote: str, science: tuple[Path, Path],
                                                           mydb: str, job_id: str) -> None:
    from workers.engines.spark import SparkEngine

    science_dir, _ = science
    engine = SparkEngine(spark_remote, *science)
    view = view_name(STARS)
    scope = Scope(principal(), mydb, (ScopeTable(STARS, ("id", "ra"), view),))
    try:
        assert rows(engine, f"SELECT count(*) AS n FROM {view} WHERE id < 10", scope, job_id) == [{"n": 10}]
        for probe in [f"SELECT mag FROM {view}", f"SELECT * FROM parquet.`{science_dir}/cat/stars.parquet`",
                      f"SELECT * FROM text.`{science_dir}/cat/stars.parquet`", "SELECT * FROM cat.stars"]:
            with pytest.raises(EngineError):
                rows(engine, probe, scope, job_id)
        # The engine's own session (ADQL, trusted SQL) still reads files: the scope is per query.
        assert rows(engine, f"SELECT count(*) AS n FROM {engine.sql_from(STARS)}", None, job_id) == [{"n": 1000}]
    finally:
        engine.close()


def test_postgresql_scope_adds_little_to_a_tiny_query(pg: Any, pg_scope: Scope) -> None:
    """The grant sync is one connection and four catalogue queries: small beside the query itself."""
    import statistics

    def timed(scope: Scope | None) -> float:
        started = time.perf_counter()
        rows(pg, "SELECT id, ra FROM cat.stars WHERE id < 10", scope, uuid.uuid4().hex)
        return time.perf_counter() - started

    timed(pg_scope), timed(None)
    trusted, scoped = [], []
    for _ in range(9):  # interleaved, so load from elsewhere hits both alike
        trusted.append(timed(None))
        scoped.append(timed(pg_scope))
    ratio = statistics.median(scoped) / statistics.median(trusted)
    assert ratio < 2.5, f"a scoped tiny query takes {ratio:.2f} times as long"
