"""Spherical geometry per engine.

Values are kept symbolic while translating (a POINT is its two coordinate
expressions, in degrees) so that each engine gets the cheapest correct form:
pg_sphere operators (and q3c for cones) on PostgreSQL; spherical
trigonometry in plain SQL elsewhere. Polygons on the plain-SQL engines
must be convex (their edges are great circles; of the two regions the edges
bound, the smaller one is meant); only point-in-polygon accepts vertices
that vary per row, the other polygon predicates need constant vertices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .dialects import Dialect
from .errors import AdqlError


@dataclass(frozen=True)
class GPoint:
    x: str
    y: str
    plain: bool = False  # both coordinates are bare column references


@dataclass(frozen=True)
class GCircle:
    x: str
    y: str
    r: str


@dataclass(frozen=True)
class GBox:
    x: str
    y: str
    w: str
    h: str


@dataclass(frozen=True)
class GPolygon:
    xs: tuple[str, ...]
    ys: tuple[str, ...]
    const: tuple[tuple[float, float], ...] | None  # vertices when all are literals


@dataclass(frozen=True)
class GNative:
    """An engine-native geometry (a pg_sphere column or expression)."""

    sql: str
    type: str  # POINT CIRCLE POLYGON BOX REGION


Geo = GPoint | GCircle | GBox | GPolygon | GNative

GEO_TYPE = {GPoint: "POINT", GCircle: "CIRCLE", GBox: "BOX", GPolygon: "POLYGON"}


def geo_type(g: Geo) -> str:
    return g.type if isinstance(g, GNative) else GEO_TYPE[type(g)]


# ---- unit vectors, for constant polygons ---------------------------------

Vec = tuple[float, float, float]


def _vec(ra: float, dec: float) -> Vec:
    a, d = math.radians(ra), math.radians(dec)
    return (math.cos(d) * math.cos(a), math.cos(d) * math.sin(a), math.sin(d))


def _cross(u: Vec, v: Vec) -> Vec:
    return (u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0])


def _dot(u: Vec, v: Vec) -> float:
    return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]


def _norm(u: Vec) -> Vec:
    n = math.sqrt(_dot(u, u))
    if n == 0:
        raise AdqlError("the polygon is degenerate (its vertices cancel out)")
    return (u[0] / n, u[1] / n, u[2] / n)


def convex_edges(vertices: tuple[tuple[float, float], ...]) -> list[Vec]:
    """Inward normals of the great-circle edges of a convex polygon."""
    vs = [_vec(x, y) for x, y in vertices]
    centre = _norm((sum(v[0] for v in vs), sum(v[1] for v in vs), sum(v[2] for v in vs)))
    normals = [_norm(_cross(vs[i], vs[(i + 1) % len(vs)])) for i in range(len(vs))]
    signs = {_dot(n, centre) > 0 for n in normals}
    if len(signs) != 1 or any(abs(_dot(n, centre)) < 1e-12 for n in normals):
        raise AdqlError("only convex polygons are supported on this engine")
    flip = -1.0 if signs == {False} else 1.0
    return [(n[0] * flip, n[1] * flip, n[2] * flip) for n in normals]


def _inside(p: Vec, normals: list[Vec]) -> bool:
    return all(_dot(n, p) >= -1e-9 for n in normals)


def _arcs_cross(a1: Vec, a2: Vec, b1: Vec, b2: Vec) -> bool:
    """Do two great-circle arcs (each under 180 degrees) cross?"""
    na, nb = _cross(a1, a2), _cross(b1, b2)
    d = _cross(na, nb)
    if _dot(d, d) < 1e-30:
        return False  # same great circle: vertex tests decide
    x = _norm(d)
    for cand in (x, (-x[0], -x[1], -x[2])):
        on_a = _dot(_cross(a1, cand), na) >= 0 and _dot(_cross(cand, a2), na) >= 0
        on_b = _dot(_cross(b1, cand), nb) >= 0 and _dot(_cross(cand, b2), nb) >= 0
        if on_a and on_b:
            return True
    return False


def polygons_intersect(a: tuple[tuple[float, float], ...], b: tuple[tuple[float, float], ...]) -> bool:
    """Two constant convex polygons overlap: a vertex inside the other, or crossing edges."""
    va, vb = [_vec(x, y) for x, y in a], [_vec(x, y) for x, y in b]
    na, nb = convex_edges(a), convex_edges(b)
    if any(_inside(v, nb) for v in va) or any(_inside(v, na) for v in vb):
        return True
    return any(_arcs_cross(va[i], va[(i + 1) % len(va)], vb[j], vb[(j + 1) % len(vb)])
               for i in range(len(va)) for j in range(len(vb)))


def polygon_area(vertices: tuple[tuple[float, float], ...]) -> float:
    """Area in square degrees of a convex spherical polygon (fan of triangles)."""
    vs = [_vec(x, y) for x, y in vertices]
    total = 0.0
    for i in range(1, len(vs) - 1):
        a, b, c = vs[0], vs[i], vs[i + 1]
        # Van Oosterom & Strackee: tan(E/2) = |a.(b x c)| / (1 + a.b + b.c + c.a)
        num = abs(_dot(a, _cross(b, c)))
        den = 1 + _dot(a, b) + _dot(b, c) + _dot(c, a)
        total += 2 * math.atan2(num, den)
    return total * (180 / math.pi) ** 2


def polygon_centroid(vertices: tuple[tuple[float, float], ...]) -> tuple[float, float]:
    vs = [_vec(x, y) for x, y in vertices]
    c = _norm((sum(v[0] for v in vs), sum(v[1] for v in vs), sum(v[2] for v in vs)))
    return (math.degrees(math.atan2(c[1], c[0])) % 360.0, math.degrees(math.asin(c[2])))


def _num(v: float) -> str:
    text = repr(float(v))
    return f"({text})" if text.startswith("-") else text  # never "--", a comment


def _sign(v: float) -> str:
    return "1" if v >= 0 else "-1"


def _unit_sql(x: str, y: str) -> tuple[str, str, str]:
    return (f"(COS(RADIANS({y})) * COS(RADIANS({x})))", f"(COS(RADIANS({y})) * SIN(RADIANS({x})))",
            f"SIN(RADIANS({y}))")


def _dot3(u: tuple[str, ...], v: tuple[str, ...]) -> str:
    return " + ".join(f"{a} * ({b})" for a, b in zip(u, v, strict=True))


def _dot_sql(n: Vec, p: GPoint) -> str:
    """n . (unit vector of p), as SQL."""
    cx = f"COS(RADIANS({p.y})) * COS(RADIANS({p.x}))"
    cy = f"COS(RADIANS({p.y})) * SIN(RADIANS({p.x}))"
    cz = f"SIN(RADIANS({p.y}))"
    return f"({_num(n[0])} * {cx} + {_num(n[1])} * {cy} + {_num(n[2])} * {cz})"


class SphereSQL:
    """Spherical geometry as trigonometry in plain SQL (MariaDB, DuckDB, Spark)."""

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect

    def unsupported(self, what: str) -> AdqlError:
        return AdqlError(f"{what} is not supported on {self.d.name}")

    def distance(self, x1: str, y1: str, x2: str, y2: str) -> str:
        # Haversine: well-conditioned for small and large separations.
        hav = (f"POWER(SIN(RADIANS({y2} - {y1}) / 2), 2) + COS(RADIANS({y1})) * COS(RADIANS({y2}))"
               f" * POWER(SIN(RADIANS({x2} - {x1}) / 2), 2)")
        return f"DEGREES(2 * ASIN(LEAST(1.0, SQRT({hav}))))"

    def cone_prefilter(self, p: GPoint, c: GCircle) -> str | None:
        """A cheap condition implied by "p within c", for indexes and statistics."""
        return f"{p.y} BETWEEN {c.y} - {c.r} AND {c.y} + {c.r}"

    def point_in(self, p: GPoint, g: Geo) -> str:
        if isinstance(g, GCircle):
            # The declination band is implied by the distance test; it lets
            # an index or Parquet statistics skip most rows.
            return (f"({p.y} BETWEEN {g.y} - {g.r} AND {g.y} + {g.r}"
                    f" AND {self.distance(p.x, p.y, g.x, g.y)} <= {g.r})")
        if isinstance(g, GBox):
            inner = self.d.mod(f"{p.x} - {g.x}", "360")
            dra = self.d.mod(f"{inner} + 540", "360") + " - 180"
            # A pole has every RA: it is in a box that reaches it whatever the box's RA.
            return (f"(ABS({p.y} - {g.y}) <= {g.h} / 2.0 AND (ABS({dra}) <= {g.w} / 2.0"
                    f" OR ABS({p.y}) >= 90))")
        if isinstance(g, GPolygon):
            if g.const is None:
                return self.point_in_variable_polygon(p, g)
            # pg_sphere's tolerance (1e-9 rad): points on an edge are inside.
            tests = [f"{_dot_sql(n, p)} >= -1E-9" for n in convex_edges(g.const)]
            return "(" + " AND ".join(tests) + ")"
        if isinstance(g, GPoint):
            return f"({self.distance(p.x, p.y, g.x, g.y)} = 0)"
        raise self.unsupported(f"CONTAINS with a {geo_type(g)}")

    def point_in_variable_polygon(self, p: GPoint, g: GPolygon) -> str:
        """Vertices computed per row: edge normals in SQL, assumed convex.

        Each edge's normal n must put the point on the same side as the
        vertex centroid c: (n.p)(n.c) >= 0, whatever the vertex order.
        """
        vs = [_unit_sql(x, y) for x, y in zip(g.xs, g.ys, strict=True)]
        centre = tuple(" + ".join(v[k] for v in vs) for k in range(3))
        point = _unit_sql(p.x, p.y)
        tests = []
        for i, a in enumerate(vs):
            b = vs[(i + 1) % len(vs)]
            n = (f"({a[1]} * {b[2]} - {a[2]} * {b[1]})", f"({a[2]} * {b[0]} - {a[0]} * {b[2]})",
                 f"({a[0]} * {b[1]} - {a[1]} * {b[0]})")
            tests.append(f"({_dot3(n, point)}) * ({_dot3(n, centre)}) >= -1E-12")
        return "(" + " AND ".join(tests) + ")"

    def circle_in_point(self, c: GCircle, p: GPoint) -> str:
        return f"({self.distance(c.x, c.y, p.x, p.y)} + {c.r} <= 0)"

    @staticmethod
    def _convex(g: Geo, what: str) -> tuple[tuple[float, float], ...]:
        if not isinstance(g, GPolygon) or g.const is None:
            raise AdqlError(f"{what} needs a POLYGON with constant vertices on this engine")
        return g.const

    def circle_in_polygon(self, c: GCircle, poly: GPolygon) -> str:
        # Inside every edge's great circle by at least the radius (caps up to 90 deg).
        centre = GPoint(c.x, c.y)
        tests = [f"{_dot_sql(n, centre)} >= SIN(RADIANS({c.r}))"
                 for n in convex_edges(self._convex(poly, "CONTAINS"))]
        return f"({c.r} <= 90 AND " + " AND ".join(tests) + ")"

    def polygon_in_circle(self, poly: GPolygon, c: GCircle) -> str:
        # A cap up to a hemisphere is convex: holding the vertices suffices.
        tests = [f"{self.distance(_num(x), _num(y), c.x, c.y)} <= {c.r}"
                 for x, y in self._convex(poly, "CONTAINS")]
        return f"({c.r} <= 90 AND " + " AND ".join(tests) + ")"

    def circle_meets_polygon(self, c: GCircle, poly: GPolygon) -> str:
        """Centre inside, a vertex within r, or an edge within r of the centre."""
        const = self._convex(poly, "INTERSECTS")
        centre = GPoint(c.x, c.y)
        vs = [_vec(x, y) for x, y in const]
        tests = [self.point_in(centre, poly)]
        tests += [f"{self.distance(_num(x), _num(y), c.x, c.y)} <= {c.r}" for x, y in const]
        for i, n in enumerate(convex_edges(const)):
            a, b = vs[i], vs[(i + 1) % len(vs)]
            # The centre projects inside the arc a->b, and the arc is within r.
            tests.append(f"({_dot_sql(_cross(n, a), centre)} * {_sign(_dot(_cross(n, a), b))} >= 0"
                         f" AND {_dot_sql(_cross(b, n), centre)} * {_sign(_dot(_cross(b, n), a))} >= 0"
                         f" AND ABS({_dot_sql(n, centre)}) <= SIN(RADIANS({c.r})))")
        return "(" + " OR ".join(tests) + ")"

    def polygon_in_polygon(self, a: GPolygon, b: GPolygon) -> str:
        inner = self._convex(a, "CONTAINS")
        tests = [self.point_in(GPoint(_num(x), _num(y)), b) for x, y in inner]
        return "(" + " AND ".join(tests) + ")"


    def contains(self, a: Geo, b: Geo) -> str:
        if isinstance(a, GPoint):
            return self.point_in(a, b)
        if isinstance(b, GPoint) and not isinstance(a, GCircle):
            return "(1 = 0)"  # an extended shape is never inside a point
        if isinstance(a, GCircle) and isinstance(b, GCircle):
            return f"({self.distance(a.x, a.y, b.x, b.y)} + {a.r} <= {b.r})"
        if isinstance(a, GCircle) and isinstance(b, GPoint):
            return self.circle_in_point(a, b)
        if isinstance(a, GCircle) and isinstance(b, GPolygon):
            return self.circle_in_polygon(a, b)
        if isinstance(a, GPolygon) and isinstance(b, GCircle):
            return self.polygon_in_circle(a, b)
        if isinstance(a, GPolygon) and isinstance(b, GPolygon):
            return self.polygon_in_polygon(a, b)
        raise self.unsupported(f"CONTAINS({geo_type(a)}, {geo_type(b)})")

    def intersects(self, a: Geo, b: Geo) -> str:
        if isinstance(a, GPoint):
            return self.point_in(a, b)
        if isinstance(b, GPoint):
            return self.point_in(b, a)
        if isinstance(a, GCircle) and isinstance(b, GCircle):
            return f"({self.distance(a.x, a.y, b.x, b.y)} <= {a.r} + {b.r})"
        if isinstance(a, GCircle) and isinstance(b, GPolygon):
            return self.circle_meets_polygon(a, b)
        if isinstance(a, GPolygon) and isinstance(b, GCircle):
            return self.circle_meets_polygon(b, a)
        if isinstance(a, GPolygon) and isinstance(b, GPolygon):
            # Only constant polygons here, so the answer is a constant too.
            overlap = polygons_intersect(self._convex(a, "INTERSECTS"), self._convex(b, "INTERSECTS"))
            return "(1 = 1)" if overlap else "(1 = 0)"
        raise self.unsupported(f"INTERSECTS({geo_type(a)}, {geo_type(b)})")

    def geo_distance(self, a: Geo, b: Geo) -> str:
        if isinstance(a, GPoint) and isinstance(b, GPoint):
            return self.distance(a.x, a.y, b.x, b.y)
        raise AdqlError("DISTANCE needs two points")

    def area(self, g: Geo) -> str:
        if isinstance(g, GCircle):
            return f"(2 * PI() * (1 - COS(RADIANS({g.r}))) * POWER(180 / PI(), 2))"
        if isinstance(g, GBox):
            return (f"({g.w} * DEGREES(SIN(RADIANS(LEAST(90.0, {g.y} + {g.h} / 2.0)))"
                    f" - SIN(RADIANS(GREATEST(-90.0, {g.y} - {g.h} / 2.0)))))")
        if isinstance(g, GPolygon) and g.const is not None:
            convex_edges(g.const)
            return self.d.double(polygon_area(g.const))
        if isinstance(g, GPoint):
            return "0.0"
        raise self.unsupported(f"AREA of a {geo_type(g)}")

    def centroid(self, g: Geo) -> Geo:
        if isinstance(g, (GCircle, GBox)):
            return GPoint(g.x, g.y)
        if isinstance(g, GPoint):
            return g
        if isinstance(g, GPolygon) and g.const is not None:
            x, y = polygon_centroid(g.const)
            return GPoint(self.d.double(x), self.d.double(y))
        raise self.unsupported(f"CENTROID of a {geo_type(g)}")

    def coord(self, g: Geo, which: int) -> str:
        if isinstance(g, GPoint):
            return g.x if which == 1 else g.y
        raise AdqlError(f"COORD{which} needs a point")

    def output(self, g: Geo) -> str:
        """A geometry as a selected value: DALI's list of doubles."""
        if isinstance(g, GPoint):
            return self.d.array([g.x, g.y])
        if isinstance(g, GCircle):
            return self.d.array([g.x, g.y, g.r])
        if isinstance(g, GBox):
            # DALI has no box: its corners as a polygon.
            return self.d.array(_box_corners(g))
        if isinstance(g, GPolygon):
            return self.d.array([c for xy in zip(g.xs, g.ys, strict=True) for c in xy])
        return g.sql


def _box_corners(g: GBox) -> list[str]:
    x0, x1 = f"({g.x} - {g.w} / 2.0)", f"({g.x} + {g.w} / 2.0)"
    y0, y1 = f"({g.y} - {g.h} / 2.0)", f"({g.y} + {g.h} / 2.0)"
    return [x0, y0, x1, y0, x1, y1, x0, y1]


class PgSphere(SphereSQL):
    """pg_sphere types and operators; q3c for point-in-cone where it applies."""

    use_q3c = True

    def native(self, g: Geo) -> str:
        if isinstance(g, GNative):
            return g.sql
        if isinstance(g, GPoint):
            return f"spoint(RADIANS({g.x}), RADIANS({g.y}))"
        if isinstance(g, GCircle):
            return f"scircle(spoint(RADIANS({g.x}), RADIANS({g.y})), RADIANS({g.r}))"
        if isinstance(g, GBox):
            # A box reaching past a pole stops at the pole, as on the other engines
            # (pg_sphere would fold the latitude back and select the wrong side).
            lo = f"GREATEST(-90.0, {g.y} - {g.h} / 2.0)"
            hi = f"LEAST(90.0, {g.y} + {g.h} / 2.0)"
            return (f"sbox(spoint(RADIANS({g.x} - {g.w} / 2.0), RADIANS({lo})),"
                    f" spoint(RADIANS({g.x} + {g.w} / 2.0), RADIANS({hi})))")
        if g.const is not None:
            text = ",".join(f"({float(x)!r}d,{float(y)!r}d)" for x, y in g.const)
            return f"CAST('{{{text}}}' AS spoly)"
        fmt = ",".join("(%sd,%sd)" for _ in g.xs)
        args = ", ".join(f"CAST({c} AS DOUBLE PRECISION)" for xy in zip(g.xs, g.ys, strict=True) for c in xy)
        return f"CAST(format('{{{fmt}}}', {args}) AS spoly)"

    def cone_prefilter(self, p: GPoint, c: GCircle) -> str | None:
        return self.contains(p, c) if self.use_q3c and p.plain else None

    def contains(self, a: Geo, b: Geo) -> str:
        if self.use_q3c and isinstance(a, GPoint) and a.plain and isinstance(b, GCircle):
            # q3c is exact (it ends with a true distance test) and uses the
            # q3c_ang2ipix index on the point's table.
            return f"q3c_join({b.x}, {b.y}, {a.x}, {a.y}, {b.r})"
        if geo_type(a) == "POINT" and geo_type(b) == "POINT":
            return f"({self.native(a)} = {self.native(b)})"
        if geo_type(b) == "POINT":
            return "(1 = 0)"  # an extended shape is never inside a point
        return f"({self.native(a)} @ {self.native(b)})"

    def intersects(self, a: Geo, b: Geo) -> str:
        if geo_type(a) == "POINT":
            return self.contains(a, b)
        if geo_type(b) == "POINT":
            return self.contains(b, a)
        return f"({self.native(a)} && {self.native(b)})"

    def geo_distance(self, a: Geo, b: Geo) -> str:
        known = {geo_type(a), geo_type(b)} - {"REGION"}
        if known - {"POINT"}:
            raise AdqlError("DISTANCE needs two points")
        if isinstance(a, GPoint) and isinstance(b, GPoint):
            return self.distance(a.x, a.y, b.x, b.y)
        return f"DEGREES({self.native(a)} <-> {self.native(b)})"

    def distance(self, x1: str, y1: str, x2: str, y2: str) -> str:
        return f"DEGREES(spoint(RADIANS({x1}), RADIANS({y1})) <-> spoint(RADIANS({x2}), RADIANS({y2})))"

    def area(self, g: Geo) -> str:
        if geo_type(g) == "POINT":
            return "0.0"
        return f"DEGREES(DEGREES(area({self.native(g)})))"

    def centroid(self, g: Geo) -> Geo:
        if isinstance(g, (GCircle, GBox, GPoint)) or (isinstance(g, GPolygon) and g.const):
            return super().centroid(g)
        if geo_type(g) == "CIRCLE":
            return GNative(f"center({self.native(g)})", "POINT")
        raise self.unsupported(f"CENTROID of a {geo_type(g)}")

    def coord(self, g: Geo, which: int) -> str:
        if isinstance(g, GPoint):
            return g.x if which == 1 else g.y
        if geo_type(g) != "POINT":
            raise AdqlError(f"COORD{which} needs a point")
        return f"DEGREES({'long' if which == 1 else 'lat'}({self.native(g)}))"

    def output(self, g: Geo) -> str:
        if not isinstance(g, GNative):
            return super().output(g)
        s = g.sql
        if g.type == "POINT":
            return self.d.array([f"DEGREES(long({s}))", f"DEGREES(lat({s}))"])
        if g.type == "CIRCLE":
            return self.d.array([f"DEGREES(long(center({s})))", f"DEGREES(lat(center({s})))",
                                 f"DEGREES(radius({s}))"])
        if g.type == "POLYGON":
            # pg_sphere has no vertex accessor: read its text form (radians,
            # the default output mode) back as numbers.
            return ("(SELECT array_agg(DEGREES(CAST(v.m[1] AS DOUBLE PRECISION)) ORDER BY v.n) "
                    f"FROM regexp_matches(CAST({s} AS TEXT), '(-?[0-9.]+(?:e[-+]?[0-9]+)?)', 'g')"
                    " WITH ORDINALITY AS v(m, n))")
        return s


def geometry_for(dialect: Dialect) -> SphereSQL:
    return PgSphere(dialect) if dialect.native_geometry else SphereSQL(dialect)
