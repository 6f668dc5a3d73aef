"""Ingest and discovery against the real PostgreSQL and MariaDB servers (through workers/engines)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from django.core.exceptions import ValidationError

from apps.adql.translate import translate
from apps.metadata.actions import do_discover_schema, do_ingest_file, do_publish_table
from apps.metadata.catalog import catalog_for
from apps.metadata.models import Table
from apps.metadata.storage import get_engine, live_tables
from tests.conftest import FourUsers

from .conftest import reset_engines

DATABASE = "metadata_science_test"  # one fixed name: engines are created once per process
PG_URL = f"postgresql://postgres@127.0.0.1:5432/{DATABASE}"
MARIA_URL = f"mysql://root@127.0.0.1:3306/{DATABASE}"
SCHEMA = "mdtest"


def _pg_admin(sql: str, database: str = "postgres") -> None:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{database}", autocommit=True) as con:
        con.execute(sql)  # type: ignore[arg-type]


def _maria(sql: str, database: str | None = None) -> None:
    con = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=database, autocommit=True)
    try:
        with con.cursor() as cur:
            cur.execute(sql)
    finally:
        con.close()


@pytest.fixture(scope="module")
def servers() -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone():
            con.execute(f'CREATE DATABASE "{DATABASE}"')  # type: ignore[arg-type]
    _maria(f"CREATE DATABASE IF NOT EXISTS `{DATABASE}`")


@pytest.fixture(params=["postgresql", "mariadb"])
def engine(request: Any, servers: None, settings: Any, science: Path) -> Iterator[str]:
    """A configured engine with an empty test schema (PostgreSQL schema, MariaDB database)."""
    name = request.param
    settings.SCIENCE_POSTGRESQL_URL, settings.SCIENCE_MARIADB_URL = PG_URL, MARIA_URL
    reset_engines()
    _reset(name)
    yield name
    _reset(name)


def _reset(name: str) -> None:
    for schema in (SCHEMA, f"ztf_{name}"):
        if name == "postgresql":
            _pg_admin(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE', DATABASE)
        else:
            _maria(f"DROP DATABASE IF EXISTS `{schema}`")


def _create_live_table(engine: str) -> None:
    """A table made by the database owner, with an index, as discovery finds it."""
    if engine == "postgresql":
        _pg_admin(f'CREATE SCHEMA "{SCHEMA}"; CREATE TABLE "{SCHEMA}".obs (id bigint PRIMARY KEY, ra double precision, '
                  f'dec double precision, mag real, name varchar(20)); CREATE INDEX ON "{SCHEMA}".obs (mag); '
                  f'CREATE TABLE "{SCHEMA}"."bad-name" (x int); '
                  f'INSERT INTO "{SCHEMA}".obs SELECT i, i * 0.1, -i * 0.1, 10 + i * 0.01, \'star \' || i FROM generate_series(1, 250) i',
                  DATABASE)
    else:
        _maria(f"CREATE DATABASE `{SCHEMA}`")
        _maria("CREATE TABLE `bad-name` (x int)", SCHEMA)
        _maria("CREATE TABLE obs (id bigint PRIMARY KEY, ra double, `dec` double, mag float, name varchar(20), INDEX (mag))", SCHEMA)
        _maria("INSERT INTO obs WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 250) "
               "SELECT i, i * 0.1, -i * 0.1, 10 + i * 0.01, CONCAT('star ', i) FROM s", SCHEMA)


def _count(user: Any, engine: str, table: str) -> int:
    sql = translate(f"SELECT COUNT(*) AS n FROM {table}", get_engine(engine).dialect, catalog=catalog_for(user)).sql
    batches = list(get_engine(engine).stream(sql, timeout_s=30, job_id="metadata-test"))
    return int(batches[0].column(0)[0].as_py())


def test_discovery_reads_columns_types_indexes_and_row_counts(users: FourUsers, engine: str) -> None:
    _create_live_table(engine)
    users.owner.is_staff = True
    [table] = do_discover_schema(users.owner, SCHEMA, engine=engine)
    assert table.row_count == 250 and table.schema.engine == engine
    cols = {c.name: c for c in table.columns.all()}
    assert list(cols) == ["id", "ra", "dec", "mag", "name"]
    assert (cols["id"].datatype, cols["ra"].datatype, cols["mag"].datatype) == ("BIGINT", "DOUBLE", "REAL")
    assert cols["name"].datatype in ("VARCHAR", "CHAR")
    assert cols["mag"].indexed and not cols["ra"].indexed
    assert not Table.objects.filter(name="bad-name").exists()  # skipped: not an ADQL name
    cols["ra"].description, cols["ra"].unit = "Right ascension", "deg"
    cols["ra"].save()
    do_discover_schema(users.owner, SCHEMA, engine=engine, table="obs")
    ra = table.columns.get(name="ra")
    assert (ra.description, ra.unit) == ("Right ascension", "deg")
    do_publish_table(users.owner, table)
    assert _count(users.owner, engine, f"{SCHEMA}.obs") == 250


def test_ingest_loads_a_fits_file_into_the_server(users: FourUsers, engine: str, tmp_path: Path) -> None:
    from .test_ingest import N, _fits

    users.owner.is_staff = True
    table = do_ingest_file(users.owner, _fits(tmp_path / "cat.fits"), schema=SCHEMA, table="stars", engine=engine, chunk_rows=1000)
    assert table.row_count == N
    assert table.columns.get(name="ra").ucd == "pos.eq.ra;meta.main" and table.columns.get(name="vmag").unit == "mag"
    [live] = live_tables(engine, SCHEMA, "stars")
    assert live.row_count == N and [c.name for c in live.info.columns] == ["id", "ra", "dec", "vmag", "name"]
    do_publish_table(users.owner, table)
    assert _count(users.owner, engine, f"{SCHEMA}.stars") == N


def test_a_failed_ingest_leaves_nothing_in_the_server(users: FourUsers, engine: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(["id,mag"] + [f"{i},{i * 0.1}" for i in range(20000)] + ["oops,not-a-number"]))
    users.owner.is_staff = True
    with pytest.raises(Exception):  # noqa: B017 - the reader's own error type
        do_ingest_file(users.owner, path, schema=SCHEMA, table="broken", engine=engine, chunk_rows=1000)
    assert live_tables(engine, SCHEMA) == [] or all(t.info.name != "broken" for t in live_tables(engine, SCHEMA))
    assert not Table.objects.filter(name="broken").exists()


def test_an_unconfigured_engine_is_refused(users: FourUsers, settings: Any, science: Path, tmp_path: Path) -> None:
    settings.SCIENCE_MARIADB_URL = ""
    users.owner.is_staff = True
    with pytest.raises(ValidationError, match="not configured"):
        do_discover_schema(users.owner, SCHEMA, engine="mariadb")


def test_demo_catalogues_are_published_in_the_servers_too(users: FourUsers, engine: str) -> None:
    from apps.metadata.actions import do_generate_catalogue

    table = do_generate_catalogue(None, "ztf.lightcurves", rows=3000, engine=engine)
    assert table.qualified_name == f"ztf_{engine}.lightcurves" and table.published and table.schema.engine == engine
    assert _count(users.anonymous, engine, f"ztf_{engine}.lightcurves") == 3000
    [live] = live_tables(engine, f"ztf_{engine}", "lightcurves")
    assert live.row_count == 3000


def test_deleting_a_table_deletes_its_data_in_the_server_and_frees_the_name(users: FourUsers, engine: str, tmp_path: Path) -> None:
    from apps.metadata.actions import do_delete_table

    from .test_ingest import N, _fits

    users.owner.is_staff = True
    path = _fits(tmp_path / "cat.fits")
    table = do_ingest_file(users.owner, path, schema=SCHEMA, table="stars", engine=engine, chunk_rows=1000)
    do_delete_table(users.owner, table)
    assert live_tables(engine, SCHEMA, "stars") == []
    assert [t.name for t in do_discover_schema(users.owner, SCHEMA, engine=engine)] == []  # discovery brings nothing back
    again = do_ingest_file(users.owner, path, schema=SCHEMA, table="stars", engine=engine, chunk_rows=1000)
    assert again.row_count == N


def test_discovering_a_missing_schema_in_a_server_creates_nothing_and_lists_its_schemas(users: FourUsers, engine: str) -> None:
    from apps.metadata.models import Schema

    _create_live_table(engine)
    users.owner.is_staff = True
    with pytest.raises(ValidationError, match=rf"{engine} has no schema 'nosuch' with tables\. It holds: .*{SCHEMA}"):
        do_discover_schema(users.owner, "nosuch", engine=engine)
    assert not Schema.objects.filter(name="nosuch").exists()
