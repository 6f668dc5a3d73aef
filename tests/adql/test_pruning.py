"""HEALPix pruning (apps/adql/pruning.py): the cover never loses a point, and the translator uses it only where safe."""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pytest
from astropy_healpix import lonlat_to_healpix
from hypothesis import given, settings
from hypothesis import strategies as st

from apps.adql import Catalog, ColumnInfo, SkyIndex, TableInfo, translate
from apps.adql.geometry import convex_edges
from apps.adql.pruning import Box, Cone, Polygon, covering, index_ranges, partition_cells, partition_ranges, partitions_in, region_covering, sql_number
from apps.adql.stcs import parse_region

GAIA = SkyIndex("ra", "dec", "source_id", order=12, shift=35)
HATS = SkyIndex("ra", "dec", "_healpix_29", partition_orders=(2, 3))


def healpix29(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    return np.asarray(lonlat_to_healpix(np.asarray(ra) * u.deg, np.asarray(dec) * u.deg, 2**29, order="nested"),
                      dtype=np.int64)


def assert_covered(shape: Cone | Box | Polygon, ra: np.ndarray, dec: np.ndarray) -> None:
    """Every point's index value (as _healpix_29 and as a Gaia source_id) lies in a range, its file in the list."""
    moc = covering(shape)
    assert moc is not None, "a small region must get a cover"
    idx = healpix29(ra, dec)
    for sky in (GAIA, HATS):
        assert sky.column
        ranges = np.array(index_ranges(moc, sky.order, sky.shift))
        assert len(ranges) <= 64
        values = ((idx >> (2 * (29 - sky.order))) << sky.shift) + (idx % 7 if sky.shift else 0)
        at = np.searchsorted(ranges[:, 0], values, side="right") - 1
        inside = (at >= 0) & (values <= ranges[np.maximum(at, 0), 1])
        assert inside.all(), (shape, ra[~inside], dec[~inside])
    for k in HATS.partition_orders:
        cells = partition_cells(moc, k)
        assert cells is not None
        assert set((idx >> (2 * (29 - k))).tolist()) <= set(cells)


def destination(ra: float, dec: float, bearing: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points at ``dist`` degrees from (ra, dec) towards ``bearing`` (great circles)."""
    d, b = np.radians(dist), np.radians(bearing)
    lat1, lon1 = math.radians(dec), math.radians(ra)
    lat2 = np.arcsin(np.clip(np.sin(lat1) * np.cos(d) + np.cos(lat1) * np.sin(d) * np.cos(b), -1, 1))
    lon2 = lon1 + np.arctan2(np.sin(b) * np.sin(d) * np.cos(lat1), np.cos(d) - np.sin(lat1) * np.sin(lat2))
    return np.degrees(lon2) % 360.0, np.degrees(lat2)


# Centres anywhere, with the poles and RA 0/360 often.
ras = st.one_of(st.floats(0, 360, exclude_max=True), st.sampled_from([0.0, 1e-9, 359.9999999, 180.0]))
decs = st.one_of(st.floats(-90, 90), st.sampled_from([90.0, -90.0, 89.9999, -89.99, 0.0]))
fractions = st.lists(st.one_of(st.floats(0, 1), st.just(1.0)), min_size=20, max_size=20)


@settings(max_examples=150, deadline=None)
@given(ras, decs, st.floats(1e-5, 30), st.lists(st.floats(0, 360), min_size=20, max_size=20), fractions)
def test_it_covers_every_point_of_a_cone(ra: float, dec: float, r: float, bearings: list[float],
                                         fractions: list[float]) -> None:
    pra, pdec = destination(ra, dec, np.array(bearings), np.array(fractions) * r)
    assert_covered(Cone(ra, dec, r), np.append(pra, ra), np.append(pdec, dec))


@settings(max_examples=150, deadline=None)
@given(ras, decs, st.floats(1e-4, 60), st.floats(1e-4, 40), fractions, fractions)
def test_it_covers_every_point_of_a_box(ra: float, dec: float, w: float, h: float, fx: list[float],
                                        fy: list[float]) -> None:
    lo, hi = max(-90.0, dec - h / 2), min(90.0, dec + h / 2)
    # Sides and corners included (the exact test keeps them), the pole of a box that reaches it too.
    pra = (ra - w / 2 + np.array([*fx, 0.0, 1.0, 1.0, 0.0]) * w) % 360.0
    pdec = lo + np.array([*fy, 0.0, 0.0, 1.0, 1.0]) * (hi - lo)
    if covering(Box(ra, dec, w, h)) is None:
        assert w * (hi - lo) > 500  # only big boxes go without a cover
        return
    assert_covered(Box(ra, dec, w, h), pra, pdec)


def convex_polygon(ra: float, dec: float, size: float, bearings: list[float]) -> tuple[tuple[float, float], ...]:
    ang = np.array(sorted(set(round(b, 3) for b in bearings)))
    vra, vdec = destination(ra, dec, ang, np.full(len(ang), size))
    return tuple(zip(vra.tolist(), vdec.tolist(), strict=True))


@settings(max_examples=150, deadline=None)
@given(ras, decs, st.floats(1e-3, 20), st.lists(st.floats(0, 359), min_size=3, max_size=8, unique=True),
       st.lists(st.lists(st.floats(0.001, 1), min_size=3, max_size=3), min_size=10, max_size=10))
def test_it_covers_every_point_of_a_polygon(ra: float, dec: float, size: float, bearings: list[float],
                                            weights: list[list[float]]) -> None:
    vertices = convex_polygon(ra, dec, size, bearings)
    try:
        edges = convex_edges(vertices)
    except Exception:
        return  # not a convex polygon (vertices too close to a half circle): refused before any pruning
    vecs = np.array([[math.cos(math.radians(d)) * math.cos(math.radians(a)),
                      math.cos(math.radians(d)) * math.sin(math.radians(a)), math.sin(math.radians(d))]
                     for a, d in vertices])
    # Points inside: positive mixes of three vertices; the vertices and edge midpoints are on the boundary.
    picks = [np.array(w) @ vecs[[i % len(vecs), (i + 1) % len(vecs), (i + 2) % len(vecs)]]
             for i, w in enumerate(weights)]
    picks += [vecs[i] for i in range(len(vecs))] + [vecs[i] + vecs[(i + 1) % len(vecs)] for i in range(len(vecs))]
    pts = np.array([p / np.linalg.norm(p) for p in picks])
    assert all(min(float(np.dot(n, p)) for n in edges) >= -1e-9 for p in pts)
    pra, pdec = np.degrees(np.arctan2(pts[:, 1], pts[:, 0])) % 360.0, np.degrees(np.arcsin(np.clip(pts[:, 2], -1, 1)))
    assert_covered(Polygon(vertices), pra, pdec)


@settings(max_examples=60, deadline=None)
@given(ras, decs, st.floats(5, 40), st.lists(st.floats(0, 360), min_size=20, max_size=20), fractions)
def test_it_covers_a_wide_cone_by_pixel_ranges_where_files_are_too_many_to_list(
        ra: float, dec: float, r: float, bearings: list[float], fractions: list[float]) -> None:
    moc = covering(Cone(ra, dec, r))
    assert moc is not None and partition_cells(moc, 10) is None
    ranges = np.array(partition_ranges(moc, 10))
    assert len(ranges) <= 64
    pra, pdec = destination(ra, dec, np.array(bearings), np.array(fractions) * r)
    pixels = healpix29(pra, pdec) >> 38
    assert all(((ranges[:, 0] <= p) & (p <= ranges[:, 1])).any() for p in pixels)


def test_it_names_pixel_ranges_of_a_finely_partitioned_table() -> None:
    catalog = Catalog([TableInfo("fine", "source", COLS, sky=SkyIndex("ra", "dec", partition_orders=(10,)))])
    out = translate("SELECT source_id FROM fine.source WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 10))",
                    "duckdb", catalog=catalog).sql
    assert '("source"."Norder" = 10 AND (("source"."Dir" BETWEEN ' in out and '"source"."Npix" BETWEEN ' in out


def test_it_keeps_a_cone_cover_small() -> None:
    moc = covering(Cone(10, 20, 0.1))
    assert moc is not None and moc.sky_fraction < 20 * (math.pi * math.radians(0.1) ** 2) / (4 * math.pi)
    assert len(index_ranges(moc, 12, 35)) <= 64 and len(index_ranges(moc, 29, 0)) <= 64


def test_it_covers_a_union_by_its_parts_and_an_intersection_by_their_overlap() -> None:
    union = region_covering(parse_region("Union ICRS (Circle 10 20 0.5 Box 200 -60 1 2)"))
    both = region_covering(parse_region("Intersection ICRS (Circle 10 20 0.5 Box 10 20 4 0.2)"))
    assert union is not None and both is not None
    for ra, dec in ((10, 20), (10.3, 20.3), (200.4, -59.1)):
        assert bool(union.contains_lonlat(ra * u.deg, dec * u.deg)[0])
    assert not bool(union.contains_lonlat(100 * u.deg, 0 * u.deg)[0])
    circle = covering(Cone(10, 20, 0.5))
    assert circle is not None and both.sky_fraction < circle.sky_fraction / 2
    assert bool(both.contains_lonlat(10.4 * u.deg, 20.05 * u.deg)[0])
    assert region_covering(parse_region("Not ICRS (Circle 10 20 0.5)")) is None
    assert region_covering(parse_region("Union ICRS (Circle 10 20 0.5 Not (Circle 1 1 1))")) is None


def test_it_gives_no_cover_for_half_the_sky() -> None:
    assert covering(Cone(0, 0, 95)) is None
    assert covering(Box(0, 0, 360, 10)) is None


@pytest.mark.parametrize("text, value", [("10", 10.0), ("1.5E0", 1.5), ("(-1.5E0)", -1.5), ("((-10))", -10.0),
                                         ("CAST(2.5E-3 AS DOUBLE PRECISION)", 0.0025), ("CAST((-2.0E0) AS DOUBLE)", -2.0)])
def test_it_reads_numbers_the_translator_emits(text: str, value: float) -> None:
    assert sql_number(text) == value


@pytest.mark.parametrize("text", ['"t"."ra"', "(1) + (2)", "1 - 2", "CAST(x AS DOUBLE)", "10 / 2.0", ""])
def test_it_treats_anything_else_as_not_constant(text: str) -> None:
    assert sql_number(text) is None


# ---- the translator ----------------------------------------------------------------------

COLS = (ColumnInfo("source_id", "BIGINT"), ColumnInfo("ra", "DOUBLE"), ColumnInfo("dec", "DOUBLE"))
CATALOG = Catalog([TableInfo("gaia", "source", COLS, sky=GAIA),
                   TableInfo("hats", "source", COLS, sky=HATS),
                   TableInfo("plain", "source", COLS, sky=SkyIndex("ra", "dec")),
                   TableInfo("nosky", "source", COLS)])


def sql(adql: str, dialect: str = "duckdb") -> str:
    return translate(adql, dialect, catalog=CATALOG).sql


CONE = "1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.1))"


@pytest.mark.parametrize("where", [CONE, "CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.1)) = 1",
                                   "1 = INTERSECTS(CIRCLE(10, 20, 0.1), POINT(ra, dec))",
                                   "1 = CONTAINS(POINT(ra, dec), BOX(359.9, -89.5, 1, 1))",
                                   "1 = CONTAINS(POINT(ra, dec), POLYGON(10, 10, 11, 10, 11, 11))",
                                   "1 = CONTAINS(POINT(ra, dec), REGION('CIRCLE ICRS 10 20 0.1'))",
                                   "1 = CONTAINS(POINT(ra, dec), REGION('UNION ICRS (CIRCLE 10 20 0.1 BOX 1 2 1 1)'))",
                                   "DISTANCE(POINT(ra, dec), POINT(10, 20)) < 0.1",
                                   "DISTANCE(ra, dec, 10, 20) <= 0.1",
                                   "0.1 > DISTANCE(POINT(10, 20), POINT(ra, dec))"])
@pytest.mark.parametrize("dialect", ["duckdb", "postgresql", "mariadb", "spark"])
def test_it_adds_index_ranges_for_a_constant_region(where: str, dialect: str) -> None:
    out = sql(f"SELECT source_id FROM gaia.source WHERE {where}", dialect)
    assert "source_id" in out.split("WHERE", 1)[1].split("BETWEEN", 1)[0]


def test_it_names_the_partitions_and_the_index_of_a_hats_table() -> None:
    out = sql(f"SELECT source_id FROM hats.source WHERE {CONE}")
    where = out.split("WHERE", 1)[1]
    assert '"source"."Norder" = 2 AND "source"."Dir" IN (0) AND "source"."Npix" IN (' in where
    assert '"source"."Norder" = 3 AND "source"."Dir" IN (0) AND "source"."Npix" IN (' in where
    assert '"source"."_healpix_29" BETWEEN ' in where


def test_it_keeps_the_dec_prefilter_and_q3c() -> None:
    assert '"source"."dec" BETWEEN 20 - 0.1E0 AND 20 + 0.1E0' in sql(f"SELECT source_id FROM gaia.source WHERE {CONE}")
    pg = sql(f"SELECT source_id FROM gaia.source WHERE {CONE}", "postgresql")
    assert "q3c_join(" in pg and '"source"."source_id" BETWEEN ' in pg


@pytest.mark.parametrize("adql", [
    f"SELECT source_id FROM plain.source WHERE {CONE}",  # positions but no index: nothing to compare
    f"SELECT source_id FROM nosky.source WHERE {CONE}",
    f"SELECT source_id FROM gaia.source WHERE NOT {CONE}",  # a NULL position would turn NULL into TRUE
    "SELECT source_id FROM gaia.source WHERE CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 0.1)) = 0",
    "SELECT source_id FROM gaia.source WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE(10, dec, 0.1))",
    "SELECT source_id FROM gaia.source WHERE 1 = CONTAINS(POINT(ra + 1, dec), CIRCLE(10, 20, 0.1))",
    "SELECT source_id FROM gaia.source WHERE 1 = CONTAINS(POINT(dec, ra), CIRCLE(10, 20, 0.1))",
    "SELECT source_id FROM gaia.source WHERE 1 = CONTAINS(CIRCLE(ra, dec, 0.1), CIRCLE(10, 20, 1))",
    "SELECT source_id FROM gaia.source WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE(10, 20, 120))",
    "SELECT source_id FROM gaia.source WHERE 1 = CONTAINS(POINT(ra, dec), REGION('NOT (CIRCLE 10 20 0.1)'))",
])
def test_it_adds_nothing_where_pruning_is_unsafe_or_useless(adql: str) -> None:
    assert '"source_id" BETWEEN' not in sql(adql) and "Norder" not in sql(adql)


def test_it_prunes_again_inside_a_subquery_under_not() -> None:
    out = sql(f"SELECT COUNT(*) FROM nosky.source AS n WHERE NOT EXISTS (SELECT 1 FROM gaia.source WHERE {CONE})")
    assert '"source"."source_id" BETWEEN ' in out


def test_it_prunes_an_aliased_table_in_a_join() -> None:
    out = sql("SELECT g.source_id FROM gaia.source AS g JOIN nosky.source AS n ON n.source_id = g.source_id "
              "WHERE DISTANCE(POINT(g.ra, g.dec), POINT(10, 20)) < 0.1")
    assert '"g"."source_id" BETWEEN ' in out and '"n"."source_id" BETWEEN' not in out


def test_it_ignores_an_outer_table_hidden_by_a_subquery_alias() -> None:
    out = sql("SELECT source_id FROM gaia.source WHERE EXISTS (SELECT 1 FROM nosky.source WHERE "
              "DISTANCE(POINT(source.ra, source.dec), POINT(10, 20)) < 0.1)")
    assert '"source_id" BETWEEN' not in out  # the point is nosky's: gaia's index says nothing of it


@pytest.mark.parametrize("shape, dec", [(Box(105, 89, 10, 2.5), 90.0), (Box(105, -89.5, 0.001, 1), -90.0),
                                        (Box(105, 89.99, 0.001, 0.02), 90.0), (Cone(0, -90, 0.001), -90.0)])
def test_it_covers_a_pole_whatever_its_ra_in_a_region_that_reaches_it(shape: Box | Cone, dec: float) -> None:
    """The exact box test takes a pole at every RA; its HEALPix cell depends on the RA given."""
    ras = np.arange(0, 360, 7.5)
    assert_covered(shape, ras, np.full(len(ras), dec))


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 360), st.floats(-90, 90), st.floats(0.01, 5))
def test_partitions_in_a_cover_are_those_whose_pixel_meets_it(ra: float, dec: float, r: float) -> None:
    """Every partition of a mixed-order tiling of the sky is kept exactly when one of its order-29 indices is in the cover."""
    moc = covering(Cone(ra, dec, r))
    assert moc is not None
    partitions = [(1, p) for p in range(0, 48, 2)] + [(2, 4 * p + i) for p in range(1, 48, 2) for i in range(4)]
    ranges = [(int(a), int(b)) for a, b in moc.to_depth29_ranges]
    expected = [(k, n) for k, n in partitions
                if any(a < (n + 1) << 2 * (29 - k) and n << 2 * (29 - k) < b for a, b in ranges)]
    assert partitions_in(moc, partitions) == expected and expected
