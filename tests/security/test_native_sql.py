"""Native SQL (and ADQL) cannot read files outside the science and MyDB folders, nor other users' MyDB.

Queries run on DuckDB by default; a TAP_SCHEMA query runs in a private DuckDB connection.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from apps.adql import AdqlError
from apps.adql.catalog import Catalog, ColumnInfo, TableInfo
from apps.adql.native import translate_native
from apps.query import actions
from apps.query.planning import QueryError, mydb_dir
from tests.conftest import FourUsers
from workers.engines.base import EngineError

from .conftest import SECRET, run_owner_job

CATALOG = Catalog([TableInfo("gaia", "source", (ColumnInfo("ra", "DOUBLE"),))])
ERRORS = (AdqlError, QueryError, EngineError)


def rows_of(user: Any, query: str, language: str) -> list[dict[str, Any]]:
    result = actions.run_sync(user, query=query, language=language)
    return [row for batch in result.batches for row in batch.to_pylist()]


@pytest.mark.parametrize(("dialect", "query"), [
    ("duckdb", "SELECT * FROM gaia.source, LATERAL read_ndjson_objects('/etc/passwd')"),
    ("duckdb", "SELECT * FROM gaia.source, LATERAL read_json_objects_auto('/etc/passwd')"),
    ("duckdb", "SELECT * FROM gaia.source, LATERAL parquet_metadata('/mydb/2/t.parquet')"),
    ("duckdb", "SELECT * FROM gaia.source, LATERAL duckdb_settings()"),
    ("duckdb", "SELECT * FROM gaia.source, LATERAL query_table('x')"),
    ("postgresql", "SELECT table_to_xml('mydb_2.secret', true, true, '')"),
    ("postgresql", "SELECT cursor_to_xml('c', 1, true, true, '')"),
    ("postgresql", "SELECT * FROM gaia.source, LATERAL ts_stat('SELECT to_tsvector(note) FROM mydb_2.secret')"),
    ("postgresql", "SELECT ts_rewrite('a'::tsquery, 'SELECT note::tsquery, note::tsquery FROM mydb_2.secret')"),
    ("postgresql", "SELECT * FROM gaia.source, LATERAL pg_ls_dir('/')"),
    ("postgresql", "SELECT (pg_stat_get_activity(NULL)).query FROM gaia.source"),
    ("postgresql", "SELECT pg_get_viewdef('gaia.source') FROM gaia.source"),
    ("spark", "SELECT try_reflect('java.lang.System', 'getenv', 'SECRET_KEY')"),
])
def test_it_refuses_native_functions_that_read_past_the_catalog(dialect: str, query: str) -> None:
    with pytest.raises(AdqlError, match="not allowed"):
        translate_native(query, dialect, catalog=CATALOG)


def test_it_drops_comments_mariadb_would_execute() -> None:
    sql = translate_native("SELECT ra FROM gaia.source WHERE 1=1 /*! UNION SELECT LOAD_FILE('/etc/passwd') */ "
                           "/*M! UNION SELECT 1 */", "mariadb", catalog=CATALOG).sql
    assert "LOAD_FILE" not in sql.upper() and "/*" not in sql


def test_it_keeps_the_tap_schema_connection_away_from_files(users: FourUsers, tmp_path: Path) -> None:
    """A native query naming TAP_SCHEMA runs in its own DuckDB connection: that one is locked down too."""
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps({"secret": SECRET}) + "\n")
    from apps.adql.translate import Translation
    from apps.query.planning import Plan
    from apps.query.running import local_stream

    plan = Plan("duckdb", Translation(f"SELECT * FROM read_json_objects('{outside}')", [], [], [], None), local=True)
    with pytest.raises(QueryError, match=r"(?i)permission|disabled|access"):
        list(local_stream(plan, users.outsider, 10.0))
    with pytest.raises(ERRORS):
        rows_of(users.outsider, f"SELECT * FROM TAP_SCHEMA.tables, LATERAL read_ndjson_objects('{outside}')", "duckdb")


def test_it_still_answers_tap_schema_queries(users: FourUsers) -> None:
    assert rows_of(users.outsider, "SELECT COUNT(*) AS n FROM TAP_SCHEMA.tables", "ADQL")[0]["n"] > 0


def test_it_keeps_other_users_mydb_private(users: FourUsers, tmp_path: Path, django_capture_on_commit_callbacks: Any) -> None:
    job = run_owner_job(users, tmp_path, django_capture_on_commit_callbacks)
    files = [str(p) for p in mydb_dir(job.owner_id).rglob("*.parquet")]
    assert files, "the owner's result is stored as Parquet"
    for language, query in [
        ("duckdb", f"SELECT * FROM read_parquet('{files[0]}')"),
        ("duckdb", f"SELECT * FROM '{files[0]}'"),
        ("duckdb", f'SELECT * FROM "{files[0]}"'),
        ("duckdb", f"SELECT * FROM TAP_SCHEMA.schemas, LATERAL parquet_metadata('{files[0]}')"),
        ("duckdb", f"SELECT * FROM TAP_SCHEMA.schemas, LATERAL read_ndjson_objects('{files[0]}')"),
        ("duckdb", f"SELECT * FROM mydb.{SECRET}_result"),
        ("duckdb", f"SELECT * FROM mydb_{users.owner.pk}.{SECRET}_result"),
        ("ADQL", f"SELECT * FROM mydb.{SECRET}_result"),
        ("ADQL", f"SELECT * FROM mydb_{users.owner.pk}.{SECRET}_result"),
        ("ADQL", f"SELECT * FROM \"{files[0]}\""),
    ]:
        try:
            rows = rows_of(users.outsider, query, language)
        except ERRORS:
            continue
        assert SECRET not in str(rows), query
    assert SECRET in str(rows_of(users.owner, f"SELECT * FROM mydb.{SECRET}_result", "ADQL"))


@pytest.mark.parametrize(("dialect", "query"), [
    ("duckdb", "COPY (SELECT ra FROM gaia.source) TO '/tmp/out.csv'"),
    ("duckdb", "ATTACH '/tmp/other.duckdb' AS other"),
    ("duckdb", "INSERT INTO gaia.source VALUES (1)"),
    ("duckdb", "CREATE TABLE x AS SELECT * FROM gaia.source"),
    ("duckdb", "SET enable_external_access = true"),
    ("duckdb", "INSTALL httpfs"),
    ("duckdb", "LOAD httpfs"),
    ("duckdb", "PRAGMA version"),
    ("duckdb", "CALL duckdb_settings()"),
    ("duckdb", "EXPORT DATABASE '/tmp/x'"),
    ("duckdb", "SELECT ra FROM gaia.source; DROP VIEW gaia.source"),
    ("postgresql", "SELECT * INTO stolen FROM gaia.source"),
    ("postgresql", "WITH d AS (DELETE FROM gaia.source RETURNING *) SELECT * FROM d"),
    ("postgresql", "COPY gaia.source TO PROGRAM 'id'"),
    ("postgresql", "SELECT set_config('role', 'postgres', false)"),
    ("mariadb", "SELECT ra FROM gaia.source INTO OUTFILE '/tmp/x'"),
    ("mariadb", "SELECT LOAD_FILE('/etc/passwd')"),
    ("spark", "INSERT OVERWRITE DIRECTORY '/tmp/x' SELECT * FROM gaia.source"),
    ("spark", "SELECT * FROM parquet.`/etc`"),
    ("spark", "SELECT * FROM text.`/etc/passwd`"),
])
def test_it_refuses_native_sql_that_writes_or_reads_files(dialect: str, query: str) -> None:
    with pytest.raises(AdqlError):
        translate_native(query, dialect, catalog=CATALOG)


@pytest.mark.parametrize("function", ["histogram('survey.{t}', mag)", "summary('survey.{t}')", "pragma_table_info('survey.{t}')",
                                      "json_execute_serialized_sql('{{}}')", "arrow_scan(1, 2, 3)"])
def test_it_refuses_lateral_table_functions_that_read_by_name(function: str) -> None:
    query = f"SELECT * FROM gaia.source, LATERAL {function.format(t=SECRET)}"
    with pytest.raises(AdqlError, match="not allowed"):
        translate_native(query, "duckdb", catalog=CATALOG)


def test_it_keeps_private_science_tables_private_on_duckdb(users: FourUsers, settings: Any) -> None:
    """The engine has a view of every published Parquet table, private ones too: native SQL must not reach them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from apps.metadata.models import PUBLIC
    from tests.metadata.conftest import make_table

    folder = Path(settings.SCIENCE_DIR) / "survey"
    folder.mkdir(parents=True, exist_ok=True)
    rows = pa.table({"source_id": [1, 2], "ra": [1.0, 2.0], "dec": [3.0, 4.0], "mag": [float(len(SECRET)), 77.25]})
    pq.write_table(rows, folder / "public.parquet")
    pq.write_table(rows, folder / f"{SECRET}.parquet")
    make_table(users, "public", PUBLIC)
    make_table(users, SECRET)  # private
    assert rows_of(users.owner, f"SELECT mag FROM survey.{SECRET}", "ADQL")[1]["mag"] == 77.25
    for query in [f"SELECT * FROM survey.public, LATERAL histogram('survey.{SECRET}', mag)",
                  f"SELECT * FROM survey.public, LATERAL summary('survey.{SECRET}')",
                  f"SELECT * FROM survey.public AS p JOIN LATERAL histogram('survey.{SECRET}', mag) AS h ON true"]:
        try:
            found = rows_of(users.outsider, query, "duckdb")
        except ERRORS:
            continue
        assert "77.25" not in str(found), query


def test_it_keeps_private_columns_private_in_native_sql(users: FourUsers, settings: Any) -> None:
    """A column can be narrower than its table (e.g. internal only): ADQL checks columns, native SQL must too."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from apps.metadata.models import PUBLIC
    from tests.metadata.conftest import COLUMNS, make_table

    folder = Path(settings.SCIENCE_DIR) / "survey"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"source_id": [1], "ra": [1.0], "dec": [2.0], "mag": [3.0], "innerflux": [77.25]}), folder / "open.parquet")
    make_table(users, "open", PUBLIC, columns=[*COLUMNS, {"name": "innerflux", "datatype": "DOUBLE", "access_level": "private"}])
    assert rows_of(users.owner, "SELECT innerflux FROM survey.open", "duckdb") == [{"innerflux": 77.25}]
    for language, query in [("ADQL", "SELECT innerflux FROM survey.open"), ("ADQL", "SELECT * FROM survey.open"),
                            ("duckdb", "SELECT innerflux FROM survey.open"), ("duckdb", "SELECT * FROM survey.open"),
                            ("duckdb", "SELECT o.* FROM survey.open AS o"), ("duckdb", "SELECT COLUMNS('.*') FROM survey.open"),
                            ("duckdb", "SELECT o FROM survey.open AS o"), ("duckdb", "WITH w AS (FROM survey.open) SELECT * FROM w")]:
        try:
            found = rows_of(users.outsider, query, language)
        except ERRORS:
            continue
        assert "77.25" not in str(found), (language, query)
    columns = rows_of(users.outsider, "SELECT column_name FROM TAP_SCHEMA.columns WHERE table_name = 'survey.open'", "ADQL")
    assert columns and "innerflux" not in str(columns)
    from django.test import Client

    client = Client()
    client.force_login(users.outsider)
    for url in ("/tap/tables/survey.open", "/data/survey/open/", "/data/survey/open/metadata.vot"):
        response = client.get(url)
        assert response.status_code == 200 and b"innerflux" not in response.content and b"77.25" not in response.content, url
