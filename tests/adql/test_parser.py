"""Parsing: the ADQL 2.1 language and errors that say what and where."""

from __future__ import annotations

import pytest

from apps.adql import AdqlError, ast, parse, translate


def error(text: str) -> AdqlError:
    with pytest.raises(AdqlError) as info:
        parse(text)
    return info.value


def test_it_parses_a_cone_query() -> None:
    tree = parse("SELECT TOP 100 ra, dec FROM gaia.source "
                 "WHERE 1=CONTAINS(POINT('ICRS',ra,dec),CIRCLE('ICRS',10,20,0.1))")
    assert isinstance(tree.body, ast.Select)
    assert tree.body.top == 100


def test_it_reports_line_and_column_of_a_syntax_error() -> None:
    e = error("SELECT ra\nFROM t\nWHERE ra >")
    assert (e.line, e.column) == (3, 11)
    assert "expected a value" in e.message


def test_it_points_at_the_offending_token() -> None:
    e = error("SELECT ra,\n  FROM t")
    assert (e.line, e.column) == (2, 3)


def test_it_explains_reserved_words_used_as_names() -> None:
    e = error("SELECT distance FROM stars")
    assert 'double quotes: "distance"' in e.message
    parse('SELECT "distance" FROM stars')


def test_it_accepts_delimited_identifiers_with_doubled_quotes() -> None:
    tree = parse('SELECT "c""ho" FROM "Murks Schema"."Murks Tabelle"')
    assert isinstance(tree.body, ast.Select)
    col = tree.body.items[0].expr
    assert isinstance(col, ast.ColumnRef) and col.parts[0].name == 'c"ho' and col.parts[0].delimited


def test_it_reads_hex_and_exponent_literals() -> None:
    tree = parse("SELECT 0x1F, 1.5e-3, .5, 7. FROM t")
    assert isinstance(tree.body, ast.Select)
    kinds = [i.expr.kind for i in tree.body.items if isinstance(i.expr, ast.Literal)]
    assert kinds == ["hex", "num", "num", "num"]


def test_it_skips_comments_and_joins_adjacent_strings() -> None:
    tree = parse("SELECT 'ab' -- a comment\n 'cd' FROM t -- trailing")
    assert isinstance(tree.body, ast.Select)
    lit = tree.body.items[0].expr
    assert isinstance(lit, ast.Literal) and lit.value == "abcd"


def test_it_parses_optional_features() -> None:
    parse("WITH a AS (SELECT x FROM t) SELECT x FROM a UNION ALL SELECT y FROM u "
          "EXCEPT SELECT z FROM v INTERSECT SELECT w FROM q ORDER BY 1 OFFSET 10")
    parse("SELECT CAST(x AS DOUBLE PRECISION), COALESCE(a, b, 'c'), IN_UNIT(ra, 'rad'), "
          "CASE WHEN x > 1 THEN 'a' WHEN x IS NULL THEN 'n' ELSE 'b' END, "
          "CASE k WHEN 1 THEN 'one' END, LOWER(s) || UPPER(s) FROM t WHERE s ILIKE 'a%'")
    parse("SELECT AREA(BOX('', 1, 2, 3, 4)), COORD1(CENTROID(POLYGON(1,2,3,4,5,6))), "
          "COORDSYS(POINT(1, 2)), DISTANCE(1, 2, 3, 4) FROM t")


def test_it_rejects_with_inside_a_subquery() -> None:
    assert "WITH is only allowed" in error("SELECT * FROM (WITH a AS (SELECT 1 FROM t) "
                                           "SELECT * FROM a) AS q").message


def test_it_requires_a_comparison_for_contains() -> None:
    assert "1 = CONTAINS" in error("SELECT * FROM t WHERE CONTAINS(POINT(1,2), CIRCLE(1,2,3))").message


def test_it_rejects_geometry_in_arithmetic() -> None:
    assert "cannot be used in arithmetic" in error("SELECT POINT(1, 2) || 'a' FROM t").message


def test_it_checks_function_arity() -> None:
    assert "takes 1 argument" in error("SELECT ABS(1, 2) FROM t").message
    assert "DISTANCE" in error("SELECT DISTANCE(1, 2, 3) FROM t").message


def test_it_rejects_bad_top_and_offset() -> None:
    assert "TOP" in error("SELECT TOP -1 x FROM t").message
    assert "OFFSET" in error("SELECT x FROM t OFFSET 1.5").message


def test_it_rejects_unknown_cast_types() -> None:
    assert "cannot CAST" in error("SELECT CAST(x AS FLOAT) FROM t").message


def test_it_requires_a_name_for_a_subquery_in_from() -> None:
    assert "needs a name" in error("SELECT * FROM (SELECT * FROM t)").message


def test_it_rejects_unclosed_strings_and_names() -> None:
    assert "not closed" in error("SELECT 'abc FROM t").message
    assert "not closed" in error('SELECT "abc FROM t').message


def test_it_rejects_empty_and_non_text_input() -> None:
    assert error("").message == "the query is empty"
    assert error("  -- only a comment\n").message == "expected SELECT but found the end of the query"
    with pytest.raises(AdqlError):
        parse(None)  # type: ignore[arg-type]


def test_it_limits_nesting_depth_instead_of_crashing() -> None:
    deep = "SELECT " + "(" * 5000 + "1" + ")" * 5000 + " FROM t"
    assert "nested too deeply" in error(deep).message


def test_it_accepts_adql_2_0_queries() -> None:
    parse("SELECT TOP 10 * FROM t WHERE CONTAINS(POINT('ICRS GEOCENTER', ra, dec), "
          "CIRCLE('ICRS GEOCENTER', 10, 20, 1)) = 1 ORDER BY ra")


def test_it_explains_that_adql_uses_top_not_limit() -> None:
    assert error("SELECT ra FROM gaia.source LIMIT 10").message == "ADQL has no LIMIT: write SELECT TOP n ... instead"


@pytest.mark.parametrize("query,words", [
    ("SELECT a, FROM t", "a column is missing after the last ','; remove the comma before FROM"),
    ("SELECT TOP 5 DISTINCT a FROM t", "DISTINCT comes before TOP: write SELECT DISTINCT TOP 5"),
    ("SELECT * FROM t WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE('ICRS', 10, 20))",
     "the CIRCLE has no radius: write CIRCLE('ICRS', ra, dec, radius)"),
    ("SELECT SUBSTRING(name, 1, 2) FROM t", "SUBSTRING is SQL but not ADQL"),
    ("SELECT CHAR_LENGTH(name) FROM t", "CHAR_LENGTH is SQL but not ADQL"),
    ("SELECT `ra` FROM t", "backticks are not ADQL: delimit a name with double quotes"),
    ("SELECT ra::int FROM t", "'::' casts are not ADQL: write CAST(x AS type)"),
    ("SELECT ra /* the RA */ FROM t", "/* */ comments are not ADQL: comment a line with --"),
    ("SELECT ra % 2 FROM t", "write MOD(a, b)"),
])
def test_it_names_the_real_mistake(query: str, words: str) -> None:
    with pytest.raises(AdqlError) as info:
        parse(query)
    assert words in info.value.message


def test_it_warns_when_a_number_runs_into_an_alias() -> None:
    # Valid SQL and ADQL (lyonetia gavo/simpleunit), but worth a word.
    t = translate("SELECT 89x FROM t", "duckdb")
    assert t.columns[0].name == "x"
    assert "'89x' is read as the number 89 named x; write '89 AS x'" in t.warnings[0]
    assert translate("SELECT 89 AS x FROM t", "duckdb").warnings == []


def test_it_refuses_a_string_as_a_point_coordinate() -> None:
    with pytest.raises(AdqlError) as info:
        translate("SELECT POINT('ICRS', 'ten', 20) FROM t", "postgresql")
    assert "the coordinates of a POINT are numbers, not text" in info.value.message
