"""ADQL cannot smuggle SQL through literals, identifiers, comments or Unicode: what the user writes as
a string comes back from the engine as exactly that string, and names stay names (run on real engines)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import psycopg
import pymysql
import pytest

from apps.adql import AdqlError, translate
from apps.adql.catalog import Catalog, ColumnInfo, TableInfo

# One row, whatever the engine: the trusted FROM fragment of a catalog table.
CATALOG = Catalog([TableInfo("s", "t", (ColumnInfo("x", "INTEGER"),), sql_from="(SELECT 1 AS x)")])
STRINGS = ["a'b", "a\\", "a\\' OR 1=1 -- ", "\\'; SELECT 2; --", "x'); DROP TABLE t; --", "/*!  UNION SELECT 2 */",
           "\u02bc\uff07\u2019 unicode quotes", "-- not a comment", "$$dollar$$", "é\u202eright-to-left", "%\\_"]
NAMES = ['x" FROM s.t; --', "a`b", "a\\", "sp ace", "ünï"]


def _duckdb(sql: str) -> list[tuple[Any, ...]]:
    return duckdb.connect(":memory:").sql(sql).fetchall()


def _postgresql(sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        conn.execute("SET default_transaction_read_only = on")
        return conn.execute(sql.encode()).fetchall()


def _mariadb(sql: str) -> list[tuple[Any, ...]]:
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", charset="utf8mb4")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        conn.close()


ENGINES: dict[str, Callable[[str], list[tuple[Any, ...]]]] = {"duckdb": _duckdb, "postgresql": _postgresql, "mariadb": _mariadb}


@pytest.mark.parametrize("dialect", ENGINES)
def test_it_returns_string_literals_unchanged(dialect: str) -> None:
    for value in STRINGS:
        adql = "SELECT " + "'" + value.replace("'", "''") + "' AS v FROM s.t"
        rows = ENGINES[dialect](translate(adql, dialect, catalog=CATALOG).sql)
        assert rows == [(value,)], (value, rows)


@pytest.mark.parametrize("dialect", ENGINES)
def test_it_keeps_delimited_names_names(dialect: str) -> None:
    for name in NAMES:
        adql = 'SELECT x AS "' + name.replace('"', '""') + '" FROM s.t WHERE x = 1'
        try:
            sql = translate(adql, dialect, catalog=CATALOG).sql
        except AdqlError:
            continue  # refusing is fine too
        assert ENGINES[dialect](sql) in ([(1,)], [("1",)]), name


@pytest.mark.parametrize("query", [
    "SELECT x FROM s.t; SELECT 1 FROM s.t",
    "SELECT x FROM s.t /* comment */",
    "SELECT x FROM s.t WHERE x = 1 UNION SELECT usename FROM pg_user",
    "SELECT x FROM (SELECT * FROM information_schema.tables) AS i",
    "SELECT pg_read_file('/etc/passwd') FROM s.t",
    "SELECT load_file('/etc/passwd') FROM s.t",
    "SELECT x FROM s.t WHERE 'a' = E'\\x27'",
    "SELECT x FROM s.\"t\"\"; DROP TABLE x; --\"",
    "SELECT x FROM s.t WHERE 'a\u0000' = 'a'",
])
def test_it_refuses_what_is_not_adql(query: str) -> None:
    for dialect in ENGINES:
        with pytest.raises(AdqlError):
            translate(query, dialect, catalog=CATALOG)
