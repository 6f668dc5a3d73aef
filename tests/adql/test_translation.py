"""Translation: limits, quoting, per-dialect SQL shapes."""

from __future__ import annotations

import pytest

from apps.adql import DIALECTS, AdqlError, Catalog, translate


@pytest.mark.parametrize("dialect", DIALECTS)
def test_it_applies_maxrec_plus_one_without_running_unbounded(dialect: str) -> None:
    t = translate("SELECT x FROM t", dialect, maxrec=1000)
    assert t.sql.endswith("LIMIT 1001") and t.limit == 1001


@pytest.mark.parametrize(("top", "maxrec", "limit"), [(10, 1000, 10), (5000, 1000, 1001), (10, None, 10)])
def test_it_takes_the_smaller_of_top_and_maxrec(top: int, maxrec: int | None, limit: int) -> None:
    t = translate(f"SELECT TOP {top} x FROM t", "duckdb", maxrec=maxrec)
    assert t.limit == limit and t.sql.endswith(f"LIMIT {limit}")


def test_it_limits_set_operations_as_a_whole() -> None:
    t = translate("SELECT TOP 3 x FROM a UNION SELECT x FROM b", "postgresql", maxrec=10)
    assert t.sql == ('(SELECT "x" AS "x" FROM "a" AS "a" LIMIT 3) UNION '
                     '(SELECT "x" AS "x" FROM "b" AS "b") LIMIT 11')


def test_it_rejects_negative_maxrec() -> None:
    with pytest.raises(AdqlError):
        translate("SELECT x FROM t", "duckdb", maxrec=-1)


@pytest.mark.parametrize(("dialect", "quoted"), [("postgresql", '"we""ird"'), ("duckdb", '"we""ird"'),
                                                 ("mariadb", "`we\"ird`"), ("spark", "`we\"ird`")])
def test_it_quotes_identifiers_per_dialect(dialect: str, quoted: str) -> None:
    assert quoted in translate('SELECT "we""ird" FROM t', dialect).sql


@pytest.mark.parametrize(("dialect", "literal"), [("postgresql", "'a''b\\'"), ("mariadb", "'a''b\\\\'"),
                                                  ("spark", "'a\\'b\\\\'"), ("duckdb", "'a''b\\'")])
def test_it_quotes_string_literals_per_dialect(dialect: str, literal: str) -> None:
    assert literal in translate("SELECT x FROM t WHERE s = 'a''b\\'", dialect).sql


def test_it_cannot_be_tricked_into_a_second_statement() -> None:
    sql = translate("SELECT x FROM t WHERE s = '1''; DROP TABLE t; --'", "postgresql").sql
    assert sql.count("'") % 2 == 0 and "'1''; DROP TABLE t; --'" in sql


def test_it_lowercases_regular_names_only_for_postgresql() -> None:
    assert '"mytab"' in translate("SELECT x FROM MyTab", "postgresql").sql
    assert "`MyTab`" in translate("SELECT x FROM MyTab", "mariadb").sql


def test_it_uses_concat_on_mariadb() -> None:
    assert "CONCAT(`a`, `b`)" in translate("SELECT a || b FROM t", "mariadb").sql


def test_it_turns_contains_comparisons_into_predicates() -> None:
    sql = translate("SELECT x FROM t WHERE 0 = CONTAINS(POINT(ra, dec), CIRCLE(1, 2, 3))", "postgresql").sql
    assert "(NOT q3c_join(1, 2, \"ra\", \"dec\", 3))" in sql
    sql = translate("SELECT CONTAINS(POINT(ra, dec), CIRCLE(1, 2, 3)) FROM t", "duckdb").sql
    assert sql.startswith("SELECT (CASE WHEN")


def test_it_uses_pg_sphere_for_non_cone_geometry() -> None:
    sql = translate("SELECT x FROM t WHERE 1 = INTERSECTS(CIRCLE(1, 2, 3), POLYGON(0, 0, 1, 0, 1, 1))",
                    "postgresql").sql
    assert "scircle(" in sql and "&&" in sql and "AS spoly" in sql


def test_it_rejects_non_convex_polygons_on_plain_sql_engines() -> None:
    with pytest.raises(AdqlError, match="convex"):
        translate("SELECT x FROM t WHERE 1 = CONTAINS(POINT(ra, dec), "
                  "POLYGON(0, 0, 10, 0, 5, 1, 10, 10, 0, 10))", "duckdb")


def test_it_translates_offset_without_top_on_mariadb() -> None:
    assert translate("SELECT x FROM t OFFSET 5", "mariadb").sql.endswith("LIMIT 18446744073709551615 OFFSET 5")


def test_it_emits_all_lyonetia_style_features_for_every_dialect(catalog: Catalog) -> None:
    q = ("WITH b AS (SELECT ra, dec FROM gaia.source WHERE phot_g_mean_mag < 12) "
         "SELECT TOP 5 ROUND(ra, 2), TRUNCATE(dec), MOD(3, 2), COALESCE(ra, 0), "
         "CASE WHEN ra > 1 THEN 'a' ELSE 'b' END, CAST(ra AS REAL) FROM b ORDER BY 1 OFFSET 2")
    for d in DIALECTS:
        assert translate(q, d, catalog=catalog).sql.startswith("WITH ")


def test_it_rejects_unknown_dialects() -> None:
    with pytest.raises(AdqlError, match="unknown SQL dialect"):
        translate("SELECT x FROM t", "oracle")


def test_it_refuses_full_joins_on_mariadb() -> None:
    with pytest.raises(AdqlError, match="FULL OUTER JOIN"):
        translate("SELECT x FROM a FULL OUTER JOIN b ON a.x = b.x", "mariadb")


def test_it_translates_long_generated_conditions_without_deep_recursion() -> None:
    ors = " OR ".join(f"id = {i}" for i in range(5000))
    assert translate(f"SELECT id FROM t WHERE {ors}", "postgresql").sql.count(" OR ") == 4999
    total = " + ".join(["x"] * 3000)
    assert translate(f"SELECT {total} FROM t", "duckdb").sql.count("(") == 1


def test_it_keeps_precedence_when_flattening_arithmetic() -> None:
    sql = translate("SELECT a - b + c * d / e, (a + b) * c, a + b || 'x' FROM t", "postgresql").sql
    assert '("a" - "b" + (("c" * "d") / NULLIF("e", 0)))' in sql and '((("a" + "b")) * "c")' in sql
    assert '(("a" + "b") || \'x\')' in sql


def test_it_reads_stcs_regions_and_warns_of_frames() -> None:
    t = translate("SELECT REGION('Circle GALACTIC 10 20 1') FROM t", "duckdb")
    assert t.columns[0].datatype == "CIRCLE"
    assert "coordinate system 'GALACTIC' is ignored" in t.warnings[0]
    t = translate("SELECT * FROM t WHERE 1 = CONTAINS(POINT(ra, dec), "
                  "REGION('Union ICRS BARYCENTER (Circle 1 2 3 Not (Box 1 2 3 4))'))", "mariadb")
    assert " OR (NOT " in t.sql


@pytest.mark.parametrize("region,words", [
    ("Ellipse ICRS 1 2 3 4 5", "unknown region 'ELLIPSE'"),
    ("Circle ICRS 1 2", "a Circle takes 3 numbers"),
    ("Union (Circle 1 2 3)", "Union takes two or more regions"),
    ("Circle ICRS 1 2 3 extra", "unexpected 'extra'"),
])
def test_it_names_what_is_wrong_in_an_stcs_region(region: str, words: str) -> None:
    with pytest.raises(AdqlError) as info:
        translate(f"SELECT * FROM t WHERE 1 = CONTAINS(POINT(ra, dec), REGION('{region}'))", "duckdb")
    assert words in info.value.message


def test_it_refuses_a_combined_region_outside_a_predicate() -> None:
    with pytest.raises(AdqlError) as info:
        translate("SELECT REGION('Not (Circle 1 2 3)') FROM t", "postgresql")
    assert "can only be used in CONTAINS or INTERSECTS" in info.value.message


@pytest.mark.parametrize("dialect", DIALECTS)
def test_it_refuses_expressions_too_large_for_the_engine(dialect: str) -> None:
    # Each guard repeats its argument; nested, the SQL would grow beyond what an engine can
    # plan (a nested HEALPix query once made PostgreSQL's planner run out of memory).
    nested = "x"
    for _ in range(12):
        nested = f"POWER({nested}, 2)"
    with pytest.raises(AdqlError) as info:
        translate(f"SELECT {nested} FROM t", dialect)
    assert "too large once written for the database" in info.value.message
    nested_cells = "SELECT ivo_healpix_center(29, ivo_healpix_index(29, ra, dec)) FROM t"
    if dialect == "postgresql":  # pg_sphere's cell centre reads the index once
        assert len(translate(nested_cells, dialect).sql) < 200_000
    else:
        with pytest.raises(AdqlError):
            translate(nested_cells, dialect)


@pytest.mark.parametrize("dialect", ["postgresql", "duckdb", "spark"])
def test_ivo_histogram_is_an_integer_array_of_nbins_plus_two_counts(dialect: str) -> None:
    t = translate("SELECT ivo_histogram(mag, 10, 20, 5) AS h FROM t", dialect)
    assert (t.columns[0].datatype, t.columns[0].arraysize) == ("INTEGER", "*")
    assert t.sql.count("COUNT(CASE WHEN") == 7


@pytest.mark.parametrize(("adql", "words"), [
    ("SELECT ivo_histogram(mag, 10, 20, n) FROM t", "number of bins of ivo_histogram must be a whole number"),
    ("SELECT ivo_histogram(mag, 10, 20, 0) FROM t", "from 1 to 1000"),
])
def test_ivo_histogram_needs_a_constant_number_of_bins(adql: str, words: str) -> None:
    with pytest.raises(AdqlError, match=words):
        translate(adql, "duckdb")


def test_ivo_histogram_is_refused_on_mariadb_which_has_no_arrays() -> None:
    with pytest.raises(AdqlError, match="ivo_histogram is not available on mariadb"):
        translate("SELECT ivo_histogram(mag, 10, 20, 5) FROM t", "mariadb")
