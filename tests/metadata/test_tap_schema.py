"""TAP_SCHEMA per user, queried through ADQL on DuckDB as the query service does."""

from __future__ import annotations

from typing import Any

import duckdb

from apps.access.actions import do_grant
from apps.adql.translate import translate
from apps.metadata.catalog import catalog_for
from apps.metadata.models import PRIVATE, PUBLIC
from apps.metadata.tap_schema import register_tap_schema, tap_schema_tables
from tests.conftest import FourUsers

from .conftest import make_table


def run(user: Any, adql: str) -> list[tuple[Any, ...]]:
    sql = translate(adql, "duckdb", catalog=catalog_for(user)).sql
    con = duckdb.connect()
    register_tap_schema(con, user)
    return con.execute(sql).fetchall()


def test_it_has_the_five_tap_1_1_tables_with_their_columns(users: FourUsers, science: object) -> None:
    tables = tap_schema_tables(users.anonymous)
    assert set(tables) == {"schemas", "tables", "columns", "keys", "key_columns"}
    assert {"table_name", "column_name", "datatype", "arraysize", "xtype", "size", "unit", "ucd", "utype", "description",
            "principal", "indexed", "std", "column_index"} <= set(tables["columns"].column_names)
    assert {"schema_name", "table_name", "table_type", "table_index"} <= set(tables["tables"].column_names)


def test_each_user_sees_only_what_they_may(users: FourUsers, science: object) -> None:
    make_table(users, "open", PUBLIC)
    secret = make_table(users, "secret", PRIVATE)
    do_grant(users.owner, secret.resource, "read", group=users.group)
    query = "SELECT table_name FROM TAP_SCHEMA.tables WHERE schema_name = 'survey' ORDER BY table_name"
    assert run(users.anonymous, query) == [("survey.open",)]
    assert run(users.outsider, query) == [("survey.open",)]
    assert run(users.member, query) == [("survey.open",), ("survey.secret",)]
    assert run(users.owner, query) == [("survey.open",), ("survey.secret",)]


def test_columns_carry_units_ucds_and_votable_types(users: FourUsers, science: object) -> None:
    make_table(users, "open", PUBLIC)
    rows = run(users.anonymous, "SELECT column_name, datatype, unit, ucd, principal FROM TAP_SCHEMA.columns "
                                "WHERE table_name = 'survey.open' ORDER BY column_index")
    assert rows == [("source_id", "long", None, "meta.id;meta.main", 1), ("ra", "double", "deg", "pos.eq.ra;meta.main", 0),
                    ("dec", "double", "deg", "pos.eq.dec;meta.main", 0), ("mag", "float", "mag", "phot.mag", 0)]


def test_tap_schema_describes_itself_and_its_keys(users: FourUsers, science: object) -> None:
    rows = run(users.anonymous, "SELECT COUNT(*) FROM TAP_SCHEMA.columns WHERE table_name LIKE 'TAP_SCHEMA.%'")
    assert rows[0][0] == 4 + 6 + 14 + 5 + 3
    keys = run(users.anonymous, "SELECT k.from_table, c.from_column FROM TAP_SCHEMA.keys AS k "
                                "JOIN TAP_SCHEMA.key_columns AS c ON k.key_id = c.key_id WHERE k.target_table = 'TAP_SCHEMA.schemas'")
    assert keys == [("TAP_SCHEMA.tables", "schema_name")]


def test_two_connections_see_their_own_users_tap_schema(users: FourUsers, science: object) -> None:
    make_table(users, "secret", PRIVATE)
    db = duckdb.connect()
    owner, anonymous = db.cursor(), db.cursor()
    register_tap_schema(owner, users.owner)
    register_tap_schema(anonymous, users.anonymous)
    sql = translate("SELECT COUNT(*) FROM TAP_SCHEMA.tables WHERE schema_name = 'survey'", "duckdb", catalog=catalog_for(users.owner)).sql
    assert owner.execute(sql).fetchall() == [(1,)]
    assert anonymous.execute(sql).fetchall() == [(0,)]
