"""Cross-matches planned as zone equi-joins (apps/adql/crossmatch.py): what is planned,
that the prefilters lose no pair, and DuckDB's answer against a brute-force one.

``make_catalogues`` builds the deterministic data the engine tests share
(tests/engines/test_crossmatch_engines.py): partners at 0.3 to 3 radii around
points at both poles, across RA 0/360 and on zone boundaries."""

from __future__ import annotations

import math
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from apps.adql import Catalog, ColumnInfo, TableInfo, translate
from apps.adql.crossmatch import MIN_ZONE_HEIGHT, ra_window, zone_height

RADII = {"1arcsec": 1 / 3600, "10arcsec": 10 / 3600, "1deg": 1.0}
RADIUS_ADQL = {"1arcsec": "1.0/3600", "10arcsec": "10/3600.0", "1deg": "1.0"}
COLUMNS = (ColumnInfo("id", "BIGINT", ucd="meta.id;meta.main"),
           ColumnInfo("ra", "DOUBLE", unit="deg", ucd="pos.eq.ra;meta.main"),
           ColumnInfo("dec", "DOUBLE", unit="deg", ucd="pos.eq.dec;meta.main"),
           ColumnInfo("mag", "DOUBLE", unit="mag", ucd="phot.mag"))


# ---- data and the brute-force answer ----------------------------------------------

def _offset(ra: np.ndarray, dec: np.ndarray, dist: np.ndarray, bearing: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """The point ``dist`` degrees from (ra, dec) towards ``bearing`` (great circle)."""
    d, b = np.radians(dist), np.radians(bearing)
    phi, lam = np.radians(dec), np.radians(ra)
    phi2 = np.arcsin(np.clip(np.sin(phi) * np.cos(d) + np.cos(phi) * np.sin(d) * np.cos(b), -1, 1))
    lam2 = lam + np.arctan2(np.sin(b) * np.sin(d) * np.cos(phi), np.cos(d) - np.sin(phi) * np.sin(phi2))
    return np.degrees(lam2) % 360.0, np.degrees(phi2)


def _centres(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random sky, both poles, RA 0/360, and declinations on every radius' zone boundaries."""
    ras = [rng.uniform(0, 360, 60), rng.uniform(0, 360, 12), rng.uniform(0, 360, 12),
           np.array([0.0, 359.9999999, 1e-7, 0.0, 180.0, 359.99995]), rng.uniform(0, 360, 24)]
    decs = [np.degrees(np.arcsin(rng.uniform(-1, 1, 60))), 90 - rng.uniform(0, 1.5, 12),
            -90 + rng.uniform(0, 1.5, 12), np.array([0.0, 10.0, -45.0, 89.99999, -89.9999, 60.0])]
    boundaries = [zone_height(r) * k - 90 for r in RADII.values() for k in (1, 2, 179 * 3600 // 3)
                  if zone_height(r) * k < 180]
    decs.append(np.resize(np.array(boundaries), 24))
    return np.concatenate(ras), np.concatenate(decs)


def make_catalogues(seed: int = 14) -> tuple[pa.Table, pa.Table]:
    """Table a (the centres) and table b (partners just inside and outside each radius,
    plus a random background): deterministic."""
    rng = np.random.default_rng(seed)
    ra, dec = _centres(rng)
    n = len(ra)
    parts_ra, parts_dec = [], []
    for r in RADII.values():
        for factor in (0.3, 0.97, 1.03, 3.0):
            bearing = rng.uniform(0, 360, n)
            bearing[::4] = rng.choice([0.0, 90.0, 180.0, 270.0], len(bearing[::4]))  # across zone/RA lines
            pr, pd = _offset(ra, dec, np.full(n, r * factor), bearing)
            parts_ra.append(pr)
            parts_dec.append(pd)
    parts_ra.append(rng.uniform(0, 360, 400))
    parts_dec.append(np.degrees(np.arcsin(rng.uniform(-1, 1, 400))))
    b_ra, b_dec = np.concatenate(parts_ra), np.concatenate(parts_dec)
    a = pa.table({"id": np.arange(1, n + 1, dtype=np.int64), "ra": ra, "dec": dec,
                  "mag": np.round(rng.uniform(10, 20, n), 2)})
    b = pa.table({"id": np.arange(100_001, 100_001 + len(b_ra), dtype=np.int64), "ra": b_ra,
                  "dec": b_dec, "mag": np.round(rng.uniform(10, 20, len(b_ra)), 2)})
    return a, b


def haversine(ra1: np.ndarray, dec1: np.ndarray, ra2: np.ndarray, dec2: np.ndarray) -> np.ndarray:
    r1, d1, r2, d2 = (np.radians(x) for x in (ra1, dec1, ra2, dec2))
    h = np.sin((d2 - d1) / 2) ** 2 + np.cos(d1) * np.cos(d2) * np.sin((r2 - r1) / 2) ** 2
    return np.degrees(2 * np.arcsin(np.minimum(1.0, np.sqrt(h))))


def brute_force(a: pa.Table, b: pa.Table, radius: float) -> set[tuple[int, int]]:
    """Every (a.id, b.id) within ``radius`` degrees: all pairs, no index."""
    da = {k: a.column(k).to_numpy() for k in ("id", "ra", "dec")}
    db = {k: b.column(k).to_numpy() for k in ("id", "ra", "dec")}
    dist = haversine(da["ra"][:, None], da["dec"][:, None], db["ra"][None, :], db["dec"][None, :])
    i, j = np.nonzero(dist < radius)
    return {(int(da["id"][x]), int(db["id"][y])) for x, y in zip(i, j, strict=True)}


def catalog_for(sql_from: dict[str, str] | None = None, schema: str = "xm",
                rows: tuple[int | None, int | None] = (None, None)) -> Catalog:
    sql_from = sql_from or {}
    return Catalog([TableInfo(schema, name, COLUMNS, sql_from=sql_from.get(name), row_count=n)
                    for name, n in zip(("a", "b"), rows, strict=True)])


def crossmatch_queries(key: str) -> dict[str, str]:
    """The same cross-match written the ways the planner recognises."""
    r = RADIUS_ADQL[key]
    return {
        "distance in ON": f"SELECT a.id, b.id AS bid FROM xm.a AS a JOIN xm.b AS b "
                          f"ON DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) < {r}",
        "contains in WHERE": f"SELECT a.id, b.id AS bid FROM xm.b AS b, xm.a AS a WHERE "
                             f"1 = CONTAINS(POINT(b.ra, b.dec), CIRCLE(a.ra, a.dec, {r}))",
    }


# ---- the planner ------------------------------------------------------------------

def test_it_keeps_every_pair_within_r_inside_the_ra_window_and_neighbour_zones() -> None:
    rng = np.random.default_rng(3)
    for r in (1 / 3600, 10 / 3600, 1.0, 5.0):
        dec = np.concatenate([rng.uniform(-90, 90, 4000), 90 - rng.uniform(0, 2 * r, 500),
                              -90 + rng.uniform(0, 2 * r, 500)])
        ra = rng.uniform(0, 360, len(dec))
        pr, pd = _offset(ra, dec, rng.uniform(0, r, len(dec)), rng.uniform(0, 360, len(dec)))
        h = zone_height(r)
        for a_ra, a_dec, b_ra, b_dec in zip(ra, dec, pr, pd, strict=True):
            assert abs(math.floor((a_dec + 90) / h) - math.floor((b_dec + 90) / h)) <= 1
            alpha = ra_window(r, a_dec)
            if alpha is not None:
                assert abs((b_ra - a_ra + 540) % 360 - 180) <= alpha


def test_it_chooses_zones_at_least_r_high_and_never_thinner_than_the_minimum() -> None:
    assert zone_height(1.0) >= 1.0
    assert zone_height(1 / 3600) >= 1 / 3600
    assert zone_height(0.0) == MIN_ZONE_HEIGHT
    assert zone_height(-1.0) == MIN_ZONE_HEIGHT
    assert ra_window(1.0, 89.5) is None and ra_window(1.0, -89.5) is None
    assert ra_window(1.0, 0.0) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize("dialect", ["duckdb", "spark", "mariadb"])
def test_it_turns_a_distance_join_into_a_zone_equi_join(dialect: str) -> None:
    sql = translate(crossmatch_queries("1arcsec")["distance in ON"], dialect, catalog=catalog_for()).sql
    assert "_xmatch_zone" in sql
    if dialect == "duckdb":  # the RA window as two comparisons with the expanded row's bounds
        assert '"b"."_xmatch_ra" >= "a"."_xmatch_ra_lo" AND "b"."_xmatch_ra" <= "a"."_xmatch_ra_hi"' in sql
        assert "FMOD" not in sql and "_xmatch_alpha" not in sql
    else:
        assert "_xmatch_alpha" in sql
    assert "BETWEEN" not in sql  # the old declination band (DuckDB's IEJoin) is gone


def test_it_expands_the_smaller_table_when_row_counts_are_known() -> None:
    q = crossmatch_queries("1arcsec")["distance in ON"]
    small_b = translate(q, "duckdb", catalog=catalog_for(rows=(1000, 10))).sql
    small_a = translate(q, "duckdb", catalog=catalog_for(rows=(10, 1000))).sql
    assert 'FROM "xm"."b" AS "b") AS "b"' in small_b
    assert 'FROM "xm"."a" AS "a") AS "a"' in small_a
    upload = translate(q, "duckdb", catalog=catalog_for(rows=(1000, None))).sql
    assert 'FROM "xm"."b" AS "b") AS "b"' in upload  # no count: an upload or MyDB table, taken as the smaller


def test_it_uses_q3c_join_with_the_larger_table_indexed_on_postgresql() -> None:
    q = crossmatch_queries("1arcsec")["distance in ON"]
    sql = translate(q, "postgresql", catalog=catalog_for(rows=(10, 1000))).sql
    assert 'q3c_join("a"."ra", "a"."dec", "b"."ra", "b"."dec"' in sql
    sql = translate(q, "postgresql", catalog=catalog_for(rows=(1000, 10))).sql
    assert 'q3c_join("b"."ra", "b"."dec", "a"."ra", "a"."dec"' in sql


@pytest.mark.parametrize("adql", [
    # The radius is not a constant.
    "SELECT a.id FROM xm.a AS a JOIN xm.b AS b ON DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) < a.mag",
    # Both points on one table: a cone, not a join.
    "SELECT a.id FROM xm.a AS a JOIN xm.b AS b ON DISTANCE(POINT(a.ra, a.dec), POINT(a.dec, a.ra)) < 1",
    # Under OR the copies would not all be removed.
    "SELECT a.id FROM xm.a AS a, xm.b AS b WHERE DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) < 1 "
    "OR a.id = b.id",
    # A FULL join preserves both sides.
    "SELECT a.id FROM xm.a AS a FULL OUTER JOIN xm.b AS b ON DISTANCE(POINT(a.ra, a.dec), "
    "POINT(b.ra, b.dec)) < 1",
    # A frame the translator warns about (coordinates are not converted).
    "SELECT a.id FROM xm.a AS a JOIN xm.b AS b ON DISTANCE(POINT('GALACTIC', a.ra, a.dec), "
    "POINT(b.ra, b.dec)) < 1",
    # DISTANCE > r is the complement of a neighbourhood.
    "SELECT a.id FROM xm.a AS a JOIN xm.b AS b ON DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) > 1",
])
def test_it_leaves_joins_it_cannot_plan_as_they_were(adql: str) -> None:
    assert "_xmatch_zone" not in translate(adql, "duckdb", catalog=catalog_for()).sql


def test_it_plans_points_and_circles_written_with_icrs() -> None:
    q = ("SELECT a.id FROM xm.a AS a JOIN xm.b AS b ON 1 = CONTAINS(POINT('ICRS', b.ra, b.dec), "
         "CIRCLE('ICRS', a.ra, a.dec, 1.0 / 3600))")
    assert "_xmatch_zone" in translate(q, "spark", catalog=catalog_for()).sql


def test_it_copies_only_the_nullable_side_of_an_outer_join() -> None:
    left = ("SELECT a.id, b.id AS bid FROM xm.a AS a LEFT OUTER JOIN xm.b AS b "
            "ON DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) < 1")
    sql = translate(left, "duckdb", catalog=catalog_for(rows=(10, 1000))).sql
    assert 'FROM "xm"."b" AS "b") AS "b"' in sql  # a is smaller, but a LEFT join keeps every a once


def test_it_keeps_the_result_columns_and_their_metadata() -> None:
    q = ("SELECT TOP 5 a.*, b.id AS bid, DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) AS sep "
         "FROM xm.a AS a JOIN xm.b AS b ON DISTANCE(POINT(a.ra, a.dec), POINT(b.ra, b.dec)) < 1 "
         "ORDER BY sep")
    planned = translate(q, "duckdb", catalog=catalog_for())
    plain = translate(q, "postgresql", catalog=catalog_for())
    assert planned.columns == plain.columns
    assert [c.name for c in planned.columns] == ["id", "ra", "dec", "mag", "bid", "sep"]
    assert planned.columns[1].ucd == "pos.eq.ra;meta.main" and planned.columns[5].unit == "deg"
    assert planned.limit == 5


# ---- DuckDB against the brute-force answer ----------------------------------------

@pytest.fixture(scope="module")
def duck() -> Any:
    a, b = make_catalogues()
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA xm")
    conn.register("a_arrow", a)
    conn.register("b_arrow", b)
    conn.execute("CREATE TABLE xm.a AS SELECT * FROM a_arrow")
    conn.execute("CREATE TABLE xm.b AS SELECT * FROM b_arrow")
    yield conn, a, b
    conn.close()


@pytest.mark.parametrize("key", list(RADII))
def test_it_finds_the_brute_force_pairs_on_duckdb(duck: Any, key: str) -> None:
    conn, a, b = duck
    expected = brute_force(a, b, RADII[key])
    assert len(expected) >= 2 * a.num_rows  # partners at 0.3 r and 0.97 r of every centre
    for form, adql in crossmatch_queries(key).items():
        sql = translate(adql, "duckdb", catalog=catalog_for()).sql
        assert set(conn.execute(sql).fetchall()) == expected, form


def _in_convention(t: pa.Table, turns: np.ndarray) -> pa.Table:
    """``t`` with each row's RA moved by a whole number of turns (the same positions, other numbers)."""
    ra = t.column("ra").to_numpy() + 360.0 * turns
    return t.set_column(t.schema.get_field_index("ra"), "ra", pa.array(ra))


@pytest.mark.parametrize("expanded", ["a", "b"])
def test_it_finds_the_same_pairs_whatever_the_ra_convention_on_duckdb(expanded: str) -> None:
    """RA in [-180, 180) on one side, up to 720 on the other: the window bounds are compared with RA taken
    into [0, 360) on both sides, so pairs across RA 0/360 are still found, and only those."""
    a, b = make_catalogues()
    rng = np.random.default_rng(5)
    a2 = _in_convention(a, rng.choice([0.0, 1.0, -1.0], a.num_rows))
    b_ra = b.column("ra").to_numpy()
    b2 = _in_convention(b, np.where(b_ra >= 180.0, -1.0, 0.0))  # [-180, 180)
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA xm")
    for name, table in (("a", a2), ("b", b2)):
        conn.register(f"{name}_arrow", table)
        conn.execute(f"CREATE TABLE xm.{name} AS SELECT * FROM {name}_arrow")
    rows = (10, 1000) if expanded == "a" else (1000, 10)
    for key in RADII:
        expected = brute_force(a, b, RADII[key])
        for form, adql in crossmatch_queries(key).items():
            sql = translate(adql, "duckdb", catalog=catalog_for(rows=rows)).sql
            assert f'FROM "xm"."{expanded}" AS "{expanded}") AS "{expanded}") AS "{expanded}"' in sql  # copied per zone
            assert set(conn.execute(sql).fetchall()) == expected, (key, form)
    conn.close()


def test_it_checks_the_ra_window_inside_duckdbs_hash_join(duck: Any) -> None:
    """The window is a pair of join comparisons beside the zone key, not a test computed after the join."""
    conn, _, _ = duck
    sql = translate(crossmatch_queries("1arcsec")["distance in ON"], "duckdb", catalog=catalog_for()).sql
    plan = "\n".join(str(row[1]) for row in conn.execute("EXPLAIN " + sql).fetchall())
    join = plan[plan.index("Hash Join"):]
    conditions = join[join.index("Conditions:"):join.index("rows")]  # the join's box, up to its row estimate
    assert "_xmatch_ra >= _xmatch_ra_lo" in conditions and "_xmatch_ra <= _xmatch_ra_hi" in conditions, plan
    assert "fmod" not in plan.lower(), plan
