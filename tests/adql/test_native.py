"""Native SQL: one read-only query over catalog tables, bounded by MAXREC."""

from __future__ import annotations

import pytest

from apps.adql import AdqlError, Catalog, translate_native


def test_it_bounds_a_native_query_by_maxrec(catalog: Catalog) -> None:
    t = translate_native("SELECT ra FROM gaia.source ORDER BY ra LIMIT 50", "postgresql",
                         catalog=catalog, maxrec=10)
    assert t.sql.startswith("SELECT ra FROM (SELECT ") and t.sql.endswith(' FROM "gaia"."source") AS source ORDER BY ra LIMIT 11')
    assert t.limit == 11 and t.tables == [("gaia", "source")]
    assert t.columns[0].unit == "deg"


def test_it_keeps_a_smaller_limit(catalog: Catalog) -> None:
    assert translate_native("SELECT ra FROM gaia.source LIMIT 5", "duckdb", catalog=catalog, maxrec=10).limit == 5


@pytest.mark.parametrize("sql", [
    "DELETE FROM gaia.source",
    "UPDATE gaia.source SET ra = 0",
    "DROP TABLE gaia.source",
    "SELECT 1 FROM gaia.source; SELECT 2 FROM gaia.source",
    "SELECT * INTO copy FROM gaia.source",
    "SELECT * FROM gaia.source FOR UPDATE",
    "SELECT pg_sleep(100) FROM gaia.source",
    "SELECT * FROM pg_catalog.pg_user",
    "SELECT * FROM other.table1",
    "WITH d AS (DELETE FROM gaia.source RETURNING *) SELECT * FROM d",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELEC broken",
])
def test_it_refuses_anything_but_one_read_of_catalog_tables(catalog: Catalog, sql: str) -> None:
    with pytest.raises(AdqlError):
        translate_native(sql, "postgresql" if "pg_" in sql or "RETURNING" in sql else "duckdb",
                         catalog=catalog, maxrec=10)


def test_it_allows_with_queries_over_catalog_tables(catalog: Catalog) -> None:
    t = translate_native("WITH b AS (SELECT ra FROM gaia.source) SELECT * FROM b", "spark",
                         catalog=catalog, maxrec=3)
    assert t.sql.endswith("LIMIT 4")


def test_it_reads_tables_through_their_trusted_from_fragment(catalog: Catalog) -> None:
    t = translate_native("SELECT m.label FROM TAP_UPLOAD.mine AS m", "postgresql", catalog=catalog)
    assert '(SELECT "ra", "dec", "label" FROM "tap_upload_42"."mine") AS m' in t.sql  # only the catalog's columns


@pytest.mark.parametrize("sql", [
    # A WITH name defined in a subquery does not hide a table of that name outside it.
    "SELECT * FROM secret, (WITH secret AS (SELECT 1 AS x) SELECT * FROM secret) AS s",
    "SELECT * FROM (WITH secret AS (SELECT 1 AS x) SELECT * FROM secret) AS s WHERE EXISTS (SELECT * FROM secret)",
    # A CTE sees only the ones before it (unless RECURSIVE).
    "WITH a AS (SELECT * FROM secret), secret AS (SELECT 1 AS x) SELECT * FROM a",
    # Quoted and unquoted spellings that PostgreSQL keeps apart.
    'WITH "Secret" AS (SELECT 1 AS x) SELECT * FROM secret',
    # A schema-qualified name is never a CTE.
    "WITH source AS (SELECT 1 AS x) SELECT * FROM other.source",
])
def test_it_checks_tables_that_a_with_name_elsewhere_does_not_shadow(catalog: Catalog, sql: str) -> None:
    with pytest.raises(AdqlError, match="unknown table"):
        translate_native(sql, "postgresql", catalog=catalog)


@pytest.mark.parametrize("sql", [
    "WITH b AS (SELECT 1 AS x), a AS (SELECT * FROM b) SELECT * FROM a",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT * FROM r",
    "WITH x AS (SELECT 1 AS v) SELECT * FROM (WITH y AS (SELECT * FROM x) SELECT * FROM y) AS z",
    'WITH "secret" AS (SELECT 1 AS x) SELECT * FROM Secret',
])
def test_it_reads_with_names_within_their_scope(catalog: Catalog, sql: str) -> None:
    assert "SELECT" in translate_native(sql, "postgresql", catalog=catalog).sql
