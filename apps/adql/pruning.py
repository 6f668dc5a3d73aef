"""HEALPix pruning: conditions implied by a spatial test, that engines can skip data with.

For ``CONTAINS(POINT(ra, dec), <constant CIRCLE, BOX or POLYGON>)`` (and
INTERSECTS, and ``DISTANCE(POINT(ra, dec), POINT(c1, c2)) < r``) where
``ra``/``dec`` are a table's ``SkyIndex`` columns, the translator asks
``prune_condition`` for a predicate that every row passing the exact test also
passes, and emits ``(prune AND exact)``. The predicate names the HEALPix cells
that cover the region (a MOC computed by mocpy, widened by one cell so that a
point on the boundary, or rounding in the exact test, is never lost):

- on the index column (``value >> shift`` is the NESTED pixel at ``order``):
  ``(col BETWEEN lo1 AND hi1 OR ...)`` with the bounds shifted, so the column
  itself is compared: Parquet row-group statistics, B-tree indexes and
  MariaDB's range optimiser all use that form;
- on HATS partitions (``Norder=k/Npix=n`` hive folders):
  ``(("Norder" = k AND "Npix" IN (...)) OR ...)``, which DuckDB and Spark
  evaluate on the file list before reading anything.

The covering is a superset, never exact: the exact test still runs on every
row that is read. Ranges are capped (``MAX_RANGES``) by coarsening the MOC,
which only widens the cover. Pure Python (mocpy and numpy), no Django.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .catalog import SkyIndex
from .geometry import GBox, GCircle, Geo, GPoint, GPolygon
from .stcs import Compound, Region, Shape

if TYPE_CHECKING:
    from mocpy import MOC

MAX_RANGES = 64  # index ranges in one predicate: each costs the engine one comparison per row group
MAX_PARTITION_CELLS = 1024  # Npix values listed per Norder; beyond, ranges of them
MAX_SKY_FRACTION = 0.5  # a cover larger than this saves little and costs a long predicate
FINEST_DEPTH = 20  # 0.2" cells: finer gains nothing, the cover is widened by a cell anyway
CELL_DEG_AT_ORDER_0 = 58.6  # side of a HEALPix cell at order 0, in degrees (about)
OUTLINE_CELLS = 1024  # cells along a region's outline: enough for 64 ranges, quick for mocpy

DIR_STEP = 10_000  # HATS: Npix=n sits in the folder Dir=(n // 10000) * 10000
Quote = Callable[[str], str]


@dataclass(frozen=True)
class Cone:
    ra: float
    dec: float
    r: float


@dataclass(frozen=True)
class Box:
    """ADQL BOX: a RA/Dec rectangle (declination lines are small circles), as geometry.py tests it."""

    ra: float
    dec: float
    w: float
    h: float


@dataclass(frozen=True)
class Polygon:
    vertices: tuple[tuple[float, float], ...]


Figure = Cone | Box | Polygon


# ---- constants back from the symbolic geometry ---------------------------------------

_NUMBER = re.compile(r"[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?")
_CAST = re.compile(r"CAST\((.*) AS DOUBLE( PRECISION)?\)", re.DOTALL)


def _wraps(text: str) -> bool:
    """Is ``text`` one bracketed group, "(...)" with its first bracket closed at the end?"""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def sql_number(text: str) -> float | None:
    """The value of a number literal as the translator emits it, else None.

    The translator reprints every number (``10``, ``1.5E0``, ``(-1.5E0)``,
    ``CAST(1.5E0 AS DOUBLE PRECISION)``), so this small reader suffices; any
    other text (a column, an expression) means "not a constant": no pruning.
    """
    text, sign = text.strip(), 1.0
    while True:
        cast = _CAST.fullmatch(text)
        if cast and _wraps("(" + cast.group(1) + ")"):
            text = cast.group(1).strip()
        elif _wraps(text):
            text = text[1:-1].strip()
        elif text[:1] in "-+" and text[1:]:
            sign, text = (-sign if text[0] == "-" else sign), text[1:].strip()
        else:
            break
    return sign * float(text) if _NUMBER.fullmatch(text) else None


def constant_figure(g: Geo) -> Figure | None:
    """A CIRCLE, BOX or POLYGON with constant coordinates, in numbers; else None."""
    if isinstance(g, GPolygon):
        return Polygon(g.const) if g.const else None
    fields = {GCircle: ("x", "y", "r"), GBox: ("x", "y", "w", "h")}.get(type(g))
    if fields is None:
        return None
    values = [sql_number(getattr(g, f)) for f in fields]
    if any(v is None or not math.isfinite(v) for v in values):
        return None
    nums = [float(v) for v in values if v is not None]
    return Cone(*nums) if isinstance(g, GCircle) else Box(*nums)


# ---- coverings ---------------------------------------------------------------------------

def _depth_for(size_deg: float, outline_deg: float = 0.0) -> int:
    """An order whose cells are about a quarter of ``size_deg``, with at most
    OUTLINE_CELLS cells along an outline of ``outline_deg`` (a long thin box)."""
    depth = FINEST_DEPTH
    if size_deg > 0:
        depth = min(depth, math.ceil(math.log2(4 * CELL_DEG_AT_ORDER_0 / size_deg)))
    if outline_deg > 0:
        depth = min(depth, math.floor(math.log2(OUTLINE_CELLS * CELL_DEG_AT_ORDER_0 / outline_deg)))
    return max(2, depth)


def _cone_moc(c: Cone) -> MOC | None:
    import astropy.units as u
    from astropy.coordinates import Angle, Latitude, Longitude
    from mocpy import MOC

    if c.r >= 90 or not -90 <= c.dec <= 90:
        return None  # half the sky or more (or no point at all): nothing worth pruning
    r = max(c.r, 0.0)
    return MOC.from_cone(lon=Longitude(c.ra * u.deg), lat=Latitude(c.dec * u.deg), radius=Angle(r * u.deg),
                         max_depth=_depth_for(2 * r))


def _box_moc(b: Box) -> MOC | None:
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from mocpy import MOC

    lo, hi = max(-90.0, b.dec - b.h / 2), min(90.0, b.dec + b.h / 2)
    if b.w < 0 or b.w >= 360 or lo > hi:
        return None  # every RA (or an empty box, which the exact test settles)
    ra_lo = (b.ra - b.w / 2) % 360.0
    ra_hi = ra_lo + b.w if ra_lo + b.w < 360 else ra_lo + b.w - 360  # from_zone wraps when ra_hi < ra_lo
    width = b.w * math.cos(math.radians(min(abs(lo), abs(hi)) if lo * hi > 0 else 0.0))
    depth = _depth_for(min(width, hi - lo), 2 * (width + hi - lo))
    # A zone leaves out its top and right sides; the one-cell widening puts them back.
    return MOC.from_zone(SkyCoord([[ra_lo, lo], [ra_hi if ra_hi != ra_lo else ra_lo + 1e-9, hi]], unit=u.deg),
                         max_depth=depth)


def _polygon_moc(p: Polygon) -> MOC | None:
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from mocpy import MOC

    centre, radius = _enclosing_cap(p.vertices)
    if radius >= 90:
        return None
    depth = _depth_for(2 * radius)
    moc = MOC.from_polygon([v[0] for v in p.vertices] * u.deg,
                           [v[1] for v in p.vertices] * u.deg, max_depth=depth)
    point = SkyCoord(centre[0], centre[1], unit=u.deg)
    if bool(moc.contains_skycoords(point)[0]):
        return moc
    # mocpy took the other side (or an odd shape): the cap around the vertices holds
    # every polygon smaller than a hemisphere, convex or not.
    return _cone_moc(Cone(centre[0], centre[1], radius))


def _enclosing_cap(vertices: Sequence[tuple[float, float]]) -> tuple[tuple[float, float], float]:
    """The vertices' mean direction, and the largest distance from it to a vertex (degrees)."""
    vecs = [(math.cos(math.radians(d)) * math.cos(math.radians(a)),
             math.cos(math.radians(d)) * math.sin(math.radians(a)), math.sin(math.radians(d))) for a, d in vertices]
    s = [sum(v[k] for v in vecs) for k in range(3)]
    n = math.sqrt(sum(x * x for x in s))
    if n < 1e-12:
        return (0.0, 0.0), 180.0
    c = [x / n for x in s]
    radius = max(math.degrees(math.acos(max(-1.0, min(1.0, sum(c[k] * v[k] for k in range(3)))))) for v in vecs)
    return (math.degrees(math.atan2(c[1], c[0])) % 360.0, math.degrees(math.asin(c[2]))), radius


def _widened(shape: Figure) -> MOC | None:
    builder: dict[type, Callable[[Any], MOC | None]] = {Cone: _cone_moc, Box: _box_moc, Polygon: _polygon_moc}
    moc = builder[type(shape)](shape)
    # One cell more all round: boundary points, open zone sides and float rounding stay inside.
    return moc.add_neighbours() if moc is not None else None


def _useful(moc: MOC | None) -> MOC | None:
    return None if moc is None or moc.sky_fraction > MAX_SKY_FRACTION else moc


def covering(shape: Figure) -> MOC | None:
    """HEALPix cells holding every point the exact test can accept; None: no useful cover."""
    return _useful(_widened(shape))


def _stcs_figure(shape: Shape) -> Figure | None:
    n = shape.numbers
    if shape.kind == "CIRCLE":
        return Cone(*n)
    if shape.kind == "BOX":
        return Box(*n)
    if shape.kind == "POLYGON":
        return Polygon(tuple(zip(n[::2], n[1::2], strict=True)))
    return None  # a POSITION: too rare to be worth a cover


def _region_moc(region: Region) -> MOC | None:
    """A point inside a Union is inside one of its parts (the union of their covers), inside an
    Intersection inside each (the intersection of the covers there are); Not has no cover."""
    if isinstance(region, Shape):
        figure = _stcs_figure(region)
        return _widened(figure) if figure is not None else None
    if region.op == "NOT":
        return None
    covers = [_region_moc(p) for p in region.parts]
    known = [c for c in covers if c is not None]
    if not known or (region.op == "UNION" and len(known) < len(covers)):
        return None
    moc = known[0]
    for other in known[1:]:
        moc = moc.union(other) if region.op == "UNION" else moc.intersection(other)
    return moc


def region_covering(region: Region) -> MOC | None:
    """The cover of an STC-S region (REGION('UNION ...')), None when there is no useful one."""
    return _useful(_region_moc(region))


# ---- predicates ------------------------------------------------------------------------------

def _ranges_at(moc: MOC, order: int, limit: int) -> list[tuple[int, int]]:
    """Inclusive pixel ranges at ``order`` covering the MOC, at most ``limit`` (coarsened until so)."""
    depth = min(order, moc.max_order)
    while True:
        coarse = moc.degrade_to_order(depth) if depth < moc.max_order else moc
        pixels = _pixel_ranges(coarse.to_depth29_ranges, order)
        if len(pixels) <= limit or depth == 0:
            return pixels
        depth -= 1


def _pixel_ranges(ranges29: Any, order: int) -> list[tuple[int, int]]:
    """Half-open order-29 ranges as merged inclusive pixel ranges at ``order``."""
    step = 2 * (29 - order)
    out: list[tuple[int, int]] = []
    for lo, hi in ranges29.tolist():
        first, last = int(lo) >> step, (int(hi) - 1) >> step
        if out and first <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], last))
        else:
            out.append((first, last))
    return out


def index_ranges(moc: MOC, order: int, shift: int, limit: int = MAX_RANGES) -> list[tuple[int, int]]:
    """Inclusive bounds of the index column's values (``value >> shift`` is the pixel at ``order``)."""
    return [(first << shift, ((last + 1) << shift) - 1) for first, last in _ranges_at(moc, order, limit)]


def index_condition(moc: MOC, column_sql: str, order: int, shift: int) -> str:
    """``(col BETWEEN lo AND hi OR ...)``: the column itself is compared, so statistics and indexes apply."""
    terms = [f"{column_sql} BETWEEN {lo} AND {hi}" for lo, hi in index_ranges(moc, order, shift)]
    return "(" + " OR ".join(terms) + ")"


def partition_condition(moc: MOC, alias: str, orders: Sequence[int], quote: Quote) -> str:
    """The HATS files (``Norder=k/Dir=d/Npix=n``) that may hold rows of the MOC.

    One ``("Norder" = k AND "Dir" IN (...) AND "Npix" IN (...))`` per order,
    joined by OR. DuckDB evaluates a filter that names only hive columns (and
    the file name, which its HATS FROM fragment turns into Npix) against each
    file before opening it: EXPLAIN ANALYZE shows "Scanning Files: 2/768" for a
    0.1 degree cone, the OR of ANDs included. Spark turns the Norder and Dir
    terms into PartitionFilters.
    """
    norder, folder, npix = (f"{alias}.{quote(c)}" for c in ("Norder", "Dir", "Npix"))
    terms = []
    for k in sorted(set(orders)):
        # Dir repeats what Npix says, but it is a folder on every engine, where Npix may be
        # a file name (DuckDB derives it from the name, Spark from _healpix_29: no partition filter).
        cells = partition_cells(moc, k)
        if cells is not None:
            dirs = sorted({p // DIR_STEP * DIR_STEP for p in cells})
            terms.append(f"({norder} = {k} AND {folder} IN ({', '.join(map(str, dirs))})"
                         f" AND {npix} IN ({', '.join(map(str, cells))}))")
            continue
        # Too many files to name: pixel ranges (coarsened to MAX_RANGES), still a superset.
        spans = [f"({folder} BETWEEN {a // DIR_STEP * DIR_STEP} AND {b // DIR_STEP * DIR_STEP}"
                 f" AND {npix} BETWEEN {a} AND {b})" for a, b in partition_ranges(moc, k)]
        terms.append(f"({norder} = {k} AND ({' OR '.join(spans)}))")
    return "(" + " OR ".join(terms) + ")"


def partition_cells(moc: MOC, order: int) -> list[int] | None:
    """The pixels at ``order`` the MOC touches; None when more than MAX_PARTITION_CELLS."""
    ranges = _pixel_ranges(moc.to_depth29_ranges, order)
    if sum(last - first + 1 for first, last in ranges) > MAX_PARTITION_CELLS:
        return None
    return [p for first, last in ranges for p in range(first, last + 1)]


def partition_ranges(moc: MOC, order: int) -> list[tuple[int, int]]:
    """Inclusive pixel ranges at ``order`` holding the MOC, at most MAX_RANGES of them."""
    return _ranges_at(moc, order, MAX_RANGES)


def _table_of(p: GPoint, tables: Sequence[tuple[str, SkyIndex]], quote: Quote) -> tuple[str, SkyIndex] | None:
    for alias, sky in tables:
        if p.x == f"{alias}.{quote(sky.ra)}" and p.y == f"{alias}.{quote(sky.dec)}":
            return alias, sky
    return None


@dataclass(frozen=True)
class Cover:
    """The cells holding every row of table ``alias`` that a spatial test can accept."""

    alias: str
    sky: SkyIndex
    moc: MOC

    def condition(self, quote: Quote) -> str | None:
        """Index and partition predicates of the table for the cells of the cover."""
        parts = [p for p in (self.partition_condition(quote), self.index_condition(quote)) if p]
        return " AND ".join(parts) if parts else None

    def partition_condition(self, quote: Quote) -> str | None:
        """The files' part of ``condition``: needless where the FROM already names only the cover's files."""
        return partition_condition(self.moc, self.alias, self.sky.partition_orders, quote) if self.sky.partition_orders else None

    def index_condition(self, quote: Quote) -> str | None:
        """The index column's part of ``condition``: row groups and rows within the files."""
        return index_condition(self.moc, f"{self.alias}.{quote(self.sky.column)}", self.sky.order, self.sky.shift) if self.sky.column else None


def prune_cover(point: object, region: object, tables: Sequence[tuple[str, SkyIndex]], quote: Quote) -> Cover | None:
    """The cover implied by "``point`` lies in ``region``", or None when nothing can be pruned.

    ``point`` must be ``POINT(t.ra, t.dec)`` of a table in ``tables`` (its SQL
    alias and SkyIndex) and ``region`` a constant CIRCLE, BOX or POLYGON, or an
    STC-S Union/Intersection of them.
    """
    if not (isinstance(point, GPoint) and isinstance(region, (GCircle, GBox, GPolygon, Compound))):
        return None
    table = _table_of(point, tables, quote)
    if table is None or not (table[1].column or table[1].partition_orders):
        return None
    if isinstance(region, Compound):
        moc = region_covering(region)
    else:
        figure = constant_figure(region)
        moc = covering(figure) if figure is not None else None
    return Cover(table[0], table[1], moc) if moc is not None else None


def prune_condition(point: object, region: object, tables: Sequence[tuple[str, SkyIndex]],
                    quote: Quote) -> str | None:
    """A condition implied by "``point`` lies in ``region``" (prune_cover), or None when nothing can be pruned."""
    cover = prune_cover(point, region, tables, quote)
    return cover.condition(quote) if cover is not None else None


def partitions_in(moc: MOC, partitions: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The HATS partitions ``(Norder, Npix)`` whose pixel meets the MOC: the only files that can hold its rows."""
    import numpy as np

    ranges = np.asarray(moc.to_depth29_ranges, dtype=np.uint64).reshape(-1, 2)
    if not len(partitions) or not len(ranges):
        return []
    shifts = np.array([2 * (29 - k) for k, _ in partitions], dtype=np.uint64)
    starts = np.array([n for _, n in partitions], dtype=np.uint64) << shifts
    ends = (np.array([n for _, n in partitions], dtype=np.uint64) + np.uint64(1)) << shifts
    # The first MOC range ending after a partition's start meets it when it also begins before its end.
    first = np.searchsorted(ranges[:, 1], starts, side="right")
    meets = (first < len(ranges)) & (ranges[np.minimum(first, len(ranges) - 1), 0] < ends)
    return [p for p, hit in zip(partitions, meets.tolist(), strict=True) if hit]
