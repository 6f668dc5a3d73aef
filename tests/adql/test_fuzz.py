"""Random and mutated queries: only AdqlError, never another exception or a hang."""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.adql import AdqlError, Catalog, translate

from .conftest import make_catalog

SEEDS = [
    "SELECT TOP 10 ra, dec FROM gaia.source WHERE 1=CONTAINS(POINT('ICRS',ra,dec),CIRCLE('ICRS',10,20,0.1))",
    "WITH b AS (SELECT ra AS a FROM gaia.source) SELECT a FROM b UNION SELECT dec FROM gaia.source ORDER BY 1",
    "SELECT s.ra, m.label FROM gaia.source AS s JOIN TAP_UPLOAD.mine AS m USING (ra) OFFSET 3",
    "SELECT COUNT(*), AVG(phot_g_mean_mag) FROM gaia.source GROUP BY ra HAVING COUNT(*) > 1",
    "SELECT CASE WHEN ra > 1 THEN 'a' ELSE 'b' END, CAST(ra AS INTEGER), IN_UNIT(ra, 'rad') FROM gaia.source",
    "SELECT AREA(POLYGON(0, 0, 1, 0, 1, 1)), DISTANCE(POINT(1, 2), POINT(ra, dec)) FROM gaia.source",
    "SELECT * FROM gaia.source WHERE ra BETWEEN 1 AND 2 AND dec IN (1, 2) AND \"Mixed\" IS NOT NULL",
]
TOKENS = ["SELECT", "FROM", "WHERE", "(", ")", ",", "'", '"', "*", ".", "1", "0x", "1e", "--", "\n",
          "POINT", "CIRCLE", "CONTAINS", "JOIN", "ON", "USING", "UNION", "WITH", "AS", "ra", "gaia.source",
          "TOP", "OFFSET", "||", "=", "<", "NOT", "IN", "NULL", "CAST", "CASE", "END", ";"]
CATALOG: Catalog = make_catalog()
DIALECTS = ["postgresql", "mariadb", "duckdb", "spark"]


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    def fail(*_: object) -> None:
        raise TimeoutError("translation hung")
    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# Quoted strings and names per dialect: backslash escapes only on MariaDB and Spark.
NAMES = r"|\"(?:[^\"]|\"\")*\"|`(?:[^`]|``)*`"
QUOTED = {
    "postgresql": re.compile(r"'(?:[^']|'')*'" + NAMES),
    "duckdb": re.compile(r"'(?:[^']|'')*'" + NAMES),
    "mariadb": re.compile(r"'(?:[^'\\]|''|\\.)*'" + NAMES),
    "spark": re.compile(r"'(?:[^'\\]|\\.)*'" + NAMES),
}


def check(text: str, dialect: str, use_catalog: bool) -> None:
    with deadline(5):
        try:
            sql = translate(text, dialect, catalog=CATALOG if use_catalog else None, maxrec=100).sql
        except AdqlError as e:
            assert isinstance(e.message, str) and e.message
            return
    # Outside quoted strings and names, no comment or statement separator can appear.
    bare = QUOTED[dialect].sub("", sql)
    assert "--" not in bare and ";" not in bare and "/*" not in bare, sql


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(st.one_of(st.sampled_from(TOKENS), st.text(max_size=3)))
        end = min(len(text), pos + draw(st.integers(0, 6)))
        if op == "insert":
            text = text[:pos] + " " + piece + " " + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[end:]
        else:
            text = text[:pos] + piece + text[end:]
    return text


FUZZ = settings(max_examples=int(__import__("os").environ.get("ADQL_FUZZ_EXAMPLES", "300")), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(mutated(), st.sampled_from(DIALECTS), st.booleans())
def test_it_only_raises_adql_errors_for_mutated_queries(text: str, dialect: str, use_catalog: bool) -> None:
    check(text, dialect, use_catalog)


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join), st.sampled_from(DIALECTS))
def test_it_only_raises_adql_errors_for_token_soup(text: str, dialect: str) -> None:
    check(text, dialect, True)


@FUZZ
@given(st.text(max_size=80), st.sampled_from(DIALECTS))
def test_it_only_raises_adql_errors_for_random_text(text: str, dialect: str) -> None:
    check(text, dialect, False)


NATIVE_SEEDS = [
    "SELECT ra, dec FROM gaia.source WHERE ra > 1 ORDER BY ra LIMIT 10",
    "WITH b AS (SELECT ra FROM gaia.source) SELECT * FROM b UNION SELECT ra FROM TAP_UPLOAD.mine",
]
NATIVE_TOKENS = ["(", ")", ";", "'", '"', "`", "SELECT", "FROM", "LIMIT", "--", "/*", "DELETE", "INTO",
                 "$$", "\\", "::", "[", "LATERAL", "VALUES (1)", "pg_sleep(1)"]


@FUZZ
@given(st.sampled_from(NATIVE_SEEDS), st.lists(st.tuples(st.integers(0, 90), st.sampled_from(NATIVE_TOKENS)),
                                                max_size=3), st.sampled_from(DIALECTS))
def test_it_only_raises_adql_errors_for_mutated_native_sql(seed: str, edits: list[tuple[int, str]],
                                                           dialect: str) -> None:
    from apps.adql import translate_native

    text = seed
    for pos, piece in edits:
        text = text[:pos] + piece + text[pos + 1:]
    with deadline(5):
        try:
            translate_native(text, dialect, catalog=CATALOG, maxrec=5)
        except AdqlError:
            pass
