"""catalog_for, engine_for and table_info: what the query service checks a query against."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.adql import Catalog, TableInfo
from apps.metadata.actions import do_publish_table
from apps.metadata.catalog import EngineMixError, _catalogs, catalog_for, engine_for, table_info, user_key
from apps.metadata.models import PRIVATE, PUBLIC
from tests.conftest import FourUsers

from .conftest import make_table


def test_the_catalogue_holds_published_tables_the_user_may_query_and_tap_schema(users: FourUsers, science: object) -> None:
    make_table(users, "open", PUBLIC)
    make_table(users, "closed", PRIVATE)
    names = set(catalog_for(users.anonymous).table_names())
    assert "survey.open" in names and "survey.closed" not in names
    assert {"TAP_SCHEMA.schemas", "TAP_SCHEMA.tables", "TAP_SCHEMA.columns", "TAP_SCHEMA.keys", "TAP_SCHEMA.key_columns"} <= names
    assert "survey.closed" in catalog_for(users.owner).table_names()


def test_extra_tables_are_added(users: FourUsers, science: object) -> None:
    extra = TableInfo("TAP_UPLOAD", "mine", ())
    assert "TAP_UPLOAD.mine" in catalog_for(users.anonymous, extra=[extra]).table_names()


def _queries(fn: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_the_catalogue_takes_a_constant_number_of_queries_and_is_cached(users: FourUsers, science: object) -> None:
    make_table(users, "t0", PUBLIC)
    from django.core.cache import cache

    cache.clear()
    one = _queries(lambda: catalog_for(users.outsider))
    for i in range(1, 6):
        make_table(users, f"t{i}", PUBLIC)
    cache.clear()
    six = _queries(lambda: catalog_for(users.outsider))
    assert one == six <= 4
    assert _queries(lambda: catalog_for(users.outsider)) == 0  # cached


def test_publishing_shows_at_once(users: FourUsers, science: object) -> None:
    table = make_table(users, "later", PUBLIC, published=False)
    assert "survey.later" not in catalog_for(users.anonymous).table_names()
    do_publish_table(users.owner, table)
    assert "survey.later" in catalog_for(users.anonymous).table_names()
    do_publish_table(users.owner, table, published=False)
    assert "survey.later" not in catalog_for(users.anonymous).table_names()


def test_engine_for_names_the_engine_and_refuses_mixtures(users: FourUsers, science: object, settings: Any) -> None:
    make_table(users, "a", PUBLIC, schema="embedded", engine="duckdb")
    make_table(users, "b", PUBLIC, schema="server", engine="postgresql")
    assert engine_for([("embedded", "a")]) == "duckdb"
    assert engine_for([("server", "b")]) == "postgresql"
    settings.DEFAULT_ENGINE = "mariadb"
    assert engine_for([("TAP_SCHEMA", "tables")]) == "mariadb"
    assert engine_for([("embedded", "a"), ("TAP_SCHEMA", "tables")]) == "duckdb"
    with pytest.raises(EngineMixError, match=r"embedded \(duckdb\), server \(postgresql\)"):
        engine_for([("embedded", "a"), ("server", "b")])


def test_parquet_tables_are_read_from_their_files(users: FourUsers, science: Any) -> None:
    info = table_info(make_table(users, "stars", PUBLIC))
    assert info.sql_from == f"read_parquet('{science}/survey/stars.parquet')"
    server = table_info(make_table(users, "b", PUBLIC, schema="server", engine="postgresql"))
    assert server.sql_from is None
    assert [c.unit for c in info.columns] == ["", "deg", "deg", "mag"]


def test_user_defined_functions_reach_the_catalogue(users: FourUsers, science: Any) -> None:
    import duckdb

    from apps.adql.translate import translate
    from apps.metadata.actions import GAIA_HEALPIX, do_save_function
    from apps.metadata.tap_schema import register_tap_schema

    do_save_function(None, **GAIA_HEALPIX)
    source_id = 5764607523034234880 + 2 * 34359738368
    sql = translate(f"SELECT TOP 1 gaia_healpix_index(4, {source_id}) AS h FROM TAP_SCHEMA.schemas", "duckdb",
                    catalog=catalog_for(users.anonymous)).sql
    con = duckdb.connect()
    register_tap_schema(con, users.anonymous)
    assert con.execute(sql).fetchone() == ((source_id >> 35) >> 16,)


def test_a_catalogue_built_before_a_commit_is_not_kept_after_it(users: FourUsers, science: Any,
                                                                django_capture_on_commit_callbacks: Any) -> None:
    table = make_table(users, "late", PUBLIC, published=False)
    with django_capture_on_commit_callbacks(execute=True):
        table.published = True
        table.save()
        # A request reads the new version before the commit and keeps what it sees (simulated: the old state).
        _catalogs.get(("catalog", user_key(users.anonymous)), lambda: Catalog([], []))
        assert "survey.late" not in catalog_for(users.anonymous).table_names()
    assert "survey.late" in catalog_for(users.anonymous).table_names()
