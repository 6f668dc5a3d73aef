"""Native SQL cannot read past the permission API on any engine, even past the text check.

The review's probes, on the real engines: a WITH name shadowing a table, a Parquet path on
DuckDB, PostgreSQL's catalogue (pg_roles, pg_database, pg_class, pg_stat_activity), another
user's MyDB table, another MariaDB database, a path read on Spark. Each runs as a query job
and must end in ERROR with a readable message, never with the data. ``engine only`` runs the
same probes with the text check's table lookup switched off, as if a probe had slipped past
it: then the engine's own privileges (per-user roles, views of allowed tables) stop it.
Reading what one may read (one's own results, results shared with one's group) still works.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.access.actions import do_grant
from apps.adql import AdqlError
from apps.query import actions
from apps.query.models import QueryJob
from apps.query.planning import QueryError, mydb_dir
from apps.query.sharing import shared_schema
from apps.query.uploads import Upload
from apps.uws import phases
from tests.conftest import FourUsers
from workers.engines.base import EngineError

SUFFIX = uuid.uuid4().hex[:8]
VALUE = f"privatevalue{SUFFIX}"  # in the owner's rows only: it must never reach anybody else
PG_ADMIN = os.environ.get("QUERY_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
MARIA_URL = f"mysql://root@127.0.0.1:3306/native_test_{SUFFIX}"  # this portal's own: MyDB under it
SPARK_REMOTE = os.environ.get("SPARK_REMOTE") or "sc://127.0.0.1:15002"
ENGINES = ["duckdb", "postgresql", "mariadb", "spark"]


@pytest.fixture(scope="module")
def pg_science() -> Iterator[str]:
    name = f"native_test_{SUFFIX}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    yield url
    from workers.engines.postgresql import PostgreSQLEngine

    prefix = PostgreSQLEngine(url).role_of("")  # the roles of this database's users
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        for (role,) in conn.execute("SELECT rolname FROM pg_roles WHERE starts_with(rolname, %s)", [prefix]).fetchall():
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.fixture(scope="module")
def maria_science() -> Iterator[str]:
    from workers.engines.mariadb import MariaDBEngine

    yield MARIA_URL
    maria = MariaDBEngine(MARIA_URL)
    with maria.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE %s",
                    [f"native\\_test\\_{SUFFIX}%"])
        for (name,) in cur.fetchall():
            cur.execute(f"DROP DATABASE `{name}`")
        cur.execute("SELECT User FROM mysql.user WHERE User LIKE %s", [maria.account_of("").replace("_", "\\_") + "%"])
        for (user,) in cur.fetchall():
            cur.execute(f"DROP USER '{user}'@'%'")


@pytest.fixture(params=ENGINES)
def engine(request: Any, settings: Any, pg_science: str, maria_science: str) -> Iterator[str]:
    from workers.engines import reset_engines

    settings.DEFAULT_ENGINE = request.param
    settings.QUERY_ROUTING = "off"  # each engine in turn runs the probes (small queries would go to DuckDB)
    settings.SCIENCE_POSTGRESQL_URL = pg_science
    settings.SCIENCE_MARIADB_URL = MARIA_URL
    settings.SPARK_REMOTE = SPARK_REMOTE
    reset_engines()
    yield str(request.param)
    reset_engines()


def run(owner: Any, query: str, language: str, capture: Any, **kwargs: Any) -> QueryJob:
    with capture(execute=True):
        job = actions.do_create_job(owner, query=query, language=language, **kwargs)
        actions.do_run_job(job)
    job.refresh_from_db()
    return job


@pytest.fixture
def results(engine: str, users: FourUsers, tmp_path: Path, django_capture_on_commit_callbacks: Any,
            ) -> Iterator[dict[str, QueryJob]]:
    """Two stored results of the owner on ``engine``: one private, one shared with the group."""
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.table({"id": [1, 2], "note": [VALUE, VALUE]}), path)
    made = {}
    for name in ("private", "shared"):
        job = run(users.owner, "SELECT id, note FROM TAP_UPLOAD.t", "ADQL", django_capture_on_commit_callbacks,
                  uploads=[Upload("t", path)], table_name=f"{name}_{SUFFIX}")
        assert job.phase == phases.COMPLETED and job.engine == engine, job.error
        made[name] = job
    do_grant(users.owner, made["shared"].resource, "query", group=users.group)
    yield made
    for job in made.values():
        actions.do_delete_job(job)


def physical(engine: str, job: QueryJob) -> str:
    """How an attacker names another user's stored result on ``engine``."""
    if engine == "postgresql":
        return f'"{job.result_schema}"."{job.result_table}"'
    if engine == "mariadb":
        return f"`{job.result_schema}`.`{job.result_table}`"
    path = mydb_dir(job.owner_id) / f"{job.result_table}.parquet"
    if engine == "spark":
        return f"parquet.`{path}`"
    return f'"{path}"' if path.is_file() else f"read_parquet('{path}/**/*.parquet')"


def probes(engine: str, private: QueryJob) -> list[str]:
    other = physical(engine, private)
    found = [f"SELECT * FROM {other}"]
    if engine in ("postgresql", "duckdb"):  # a WITH name elsewhere used to hide the table from the check
        name = other if engine == "duckdb" and other.startswith('"') else "pg_roles"
        found.append(f"SELECT * FROM (WITH {name} AS (SELECT 1 AS x) SELECT * FROM {name}) AS a, {other}")
        if engine == "postgresql":
            found += [f"SELECT * FROM (WITH {t} AS (SELECT 1 AS x) SELECT * FROM {t}) AS a, {t}"
                      for t in ("pg_roles", "pg_database", "pg_class", "pg_stat_activity")]
            found += ["SELECT query, application_name FROM pg_stat_activity", "SELECT relname FROM pg_class"]
    if engine == "duckdb":
        found.append(f"SELECT * FROM read_parquet('{mydb_dir(private.owner_id)}/*.parquet')")
    if engine == "mariadb":
        found += ["SELECT User, Host FROM mysql.user", "SELECT * FROM mysql.db"]
    if engine == "spark":
        found.append(f"SELECT * FROM text.`{mydb_dir(private.owner_id)}`")
    return found


@pytest.fixture(params=["checked", "engine only"])
def layer(request: Any, monkeypatch: Any) -> str:
    if request.param == "engine only":  # the text check lets every table through, unsubstituted
        monkeypatch.setattr("apps.adql.native._tables", lambda tree, catalog, read: [])
    return str(request.param)


@pytest.mark.django_db
def test_probes_of_other_users_data_end_in_a_readable_error(engine: str, layer: str, users: FourUsers,
                                                           results: dict[str, QueryJob],
                                                           django_capture_on_commit_callbacks: Any) -> None:
    for who in (users.member, users.outsider):
        for probe in probes(engine, results["private"]):
            job = run(who, probe, engine, django_capture_on_commit_callbacks)
            assert job.phase == phases.ERROR, (engine, layer, probe, job.phase)
            assert job.error and "Traceback" not in job.error, job.error
            stored = list(actions.result_batches(job)) if job.result_table and job.phase == phases.COMPLETED else []
            assert VALUE not in str(stored) and VALUE not in job.error


@pytest.mark.django_db
def test_anonymous_probes_fail_too(engine: str, layer: str, users: FourUsers, results: dict[str, QueryJob]) -> None:
    for probe in probes(engine, results["private"])[:2]:
        try:
            result = actions.run_sync(users.anonymous, query=probe, language=engine)
            rows = [r for b in result.batches for r in b.to_pylist()]
        except (AdqlError, QueryError, EngineError) as exc:
            assert str(exc)
            continue
        pytest.fail(f"{probe} ran for anonymous on {engine} ({len(rows)} rows)")


@pytest.mark.django_db
def test_allowed_tables_are_still_read(engine: str, users: FourUsers, results: dict[str, QueryJob],
                                       django_capture_on_commit_callbacks: Any) -> None:
    quote = "`" if engine in ("mariadb", "spark") else '"'
    mine = run(users.owner, f"SELECT note FROM mydb.{quote}private_{SUFFIX}{quote}", engine,
               django_capture_on_commit_callbacks)
    assert mine.phase == phases.COMPLETED, mine.error
    assert [r["note"] for b in actions.result_batches(mine) for r in b.to_pylist()] == [VALUE, VALUE]
    query = f"SELECT COUNT(*) AS n FROM {shared_schema(users.owner)}.{quote}shared_{SUFFIX}{quote}"
    theirs = run(users.member, query, engine, django_capture_on_commit_callbacks)
    assert theirs.phase == phases.COMPLETED, theirs.error
    assert next(actions.result_batches(theirs)).column(0).to_pylist() == [2]
    outsider = run(users.outsider, query, engine, django_capture_on_commit_callbacks)
    assert outsider.phase == phases.ERROR and "unknown table" in outsider.error
