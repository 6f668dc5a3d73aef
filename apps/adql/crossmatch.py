"""Cross-matches as planned joins: SkyQuery's Zones algorithm in plain SQL.

A join of two positional tables on ``DISTANCE(POINT(a.ra, a.dec), POINT(b.ra,
b.dec)) < r`` (or ``<=``, or ``1 = CONTAINS(POINT(a...), CIRCLE(b.ra, b.dec,
r))``), in ON or WHERE with a constant r, has no equality for an engine to
hash or sort on: DuckDB runs it as an IEJoin on the declination band, Spark as
a BroadcastNestedLoopJoin, MariaDB as a nested loop. Here it becomes an
equi-join on declination zones, which every engine plans as a hash (or
sort-merge) join:

- zone = FLOOR((dec + 90) / h) with a zone height h >= r, so the partners of a
  row lie in its own zone or the two next to it;
- one table (the *expanded* side, preferably the smaller) is read through a
  derived table that repeats each row for zones z-1, z, z+1 (UNNEST on DuckDB,
  explode on Spark, a three-row constant table on MariaDB) and carries its RA
  half-window alpha(r, dec) = r / cos(|dec| + r) (NULL near a pole, where
  every RA can match);
- the join condition is: probe zone = expanded zone, the RA window (modulo
  360, so RA 0/360 wraps), then the engine's own exact distance test.

On DuckDB (``Dialect.ra_window_bounds``) the RA window is instead two plain
comparisons, ``lo <= ra <= hi``, which its hash join checks on the rows that
share a zone as it finds them, where the modulo expression above was computed
on every such pair afterwards (a tenth of the CPU of a 100k x 10M cross-match at 1": 1.12 CPU-s against 1.24).
For that, the expanded row carries its window's bounds, its RA taken into
[0, 360), and one more copy shifted by 360 when the window crosses 0 or 360;
the probe table is read with its RA taken into [0, 360) too (``_xmatch_ra``,
left as it is when it already is), so catalogues in either convention match.

Each pair meets exactly one copy of the expanded row, so results, counts and
aggregates are unchanged. On PostgreSQL the same plan chooses the arguments of
q3c_join so that the larger table's q3c index is probed by the smaller one
(the generic translation needs a literal radius and picks by argument order).

Pure Python; translate.py calls ``plan`` once per SELECT and asks the plan for
the FROM item and the condition it emits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass

from . import ast as A
from .catalog import Catalog, ColumnInfo, TableInfo
from .dialects import Dialect
from .geometry import PgSphere

# Zones thinner than 4 milliarcseconds buy nothing (no catalogue positions are
# better than that, and a zone already holds about N * h / 180 rows), while
# r -> 0 would make the zone number (dec + 90) / h overflow or divide by zero.
MIN_ZONE_HEIGHT = 1e-6  # degrees

# Prefilters must never drop a pair the exact test keeps: zones and RA windows
# are computed for a radius a little larger than r (floating-point rounding).
_SLACK = 1e-6

ZONE_COLUMN = "_xmatch_zone"
ALPHA_COLUMN = "_xmatch_alpha"
LOW_COLUMN, HIGH_COLUMN = "_xmatch_ra_lo", "_xmatch_ra_hi"  # the expanded row's RA window (ra_window_bounds)
SHIFT_COLUMN = "_xmatch_shift"  # 0, or +-360 for the copy of a window crossing RA 0/360
PROBE_RA_COLUMN = "_xmatch_ra"  # the probe table's RA in [0, 360)
_GEOMETRY_TYPES = frozenset({"POINT", "CIRCLE", "POLYGON", "BOX", "REGION"})


def padded(radius: float) -> float:
    """The radius the prefilters use: r with a margin for rounding, never negative."""
    return max(radius, 0.0) * (1 + _SLACK) + 1e-12


def zone_height(radius: float) -> float:
    """h >= r, so a pair within r is at most one zone apart; see MIN_ZONE_HEIGHT."""
    return max(padded(radius), MIN_ZONE_HEIGHT)


def zone_of(dec: float, height: float) -> int:
    return math.floor((dec + 90.0) / height)


def ra_window(radius: float, dec: float) -> float | None:
    """RA half-width (degrees) that holds every point within ``radius`` of a point at
    ``dec``; None when the circle reaches a pole (then any RA can match)."""
    r = padded(radius)
    if abs(dec) + r >= 90.0:
        return None
    return r / math.cos(math.radians(abs(dec) + r))


# ---- finding the cross-match in a SELECT -------------------------------------

@dataclass(frozen=True)
class Point:
    """POINT(ra, dec) made of two columns of one FROM table."""

    ra: A.ColumnRef
    dec: A.ColumnRef
    table: A.TableName
    dec_name: str  # the dec column as the catalog spells it
    ra_name: str = ""  # the ra column as the catalog spells it


@dataclass
class CrossMatch:
    """One planned neighbour join: which condition, which table is expanded."""

    cond: A.Compare
    first: Point  # the argument order of DISTANCE(first, second) / CONTAINS(first, CIRCLE(second))
    second: Point
    op: str  # "<" or "<="
    radius: A.Expr
    radius_value: float
    expanded_second: bool  # is the expanded table the second point's?
    sql_alias: str = ""  # the expanded table's alias, once its FROM item is emitted
    probe_alias: str = ""  # the probe table's alias, once its FROM item carries PROBE_RA_COLUMN

    @property
    def expanded(self) -> Point:
        return self.second if self.expanded_second else self.first

    @property
    def probe(self) -> Point:
        return self.first if self.expanded_second else self.second

    # ---- SQL ------------------------------------------------------------

    def expands(self, table: A.TableName) -> bool:
        return table is self.expanded.table

    def from_item(self, d: Dialect, base: str, alias: str) -> str:
        """The expanded table: each row once per neighbour zone, with its RA window."""
        self.sql_alias = alias
        if not d.zone_crossmatch:  # q3c_join needs the table as it is
            return f"{base} AS {alias}"
        if d.ra_window_bounds:
            return self._bounded_item(d, base, alias)
        dec = f"{alias}.{d.ident(self.expanded.dec_name)}"
        h, r = d.double(zone_height(self.radius_value)), d.double(padded(self.radius_value))
        zone = f"FLOOR(({dec} + 90.0) / {h})"
        alpha = (f"CASE WHEN ABS({dec}) + {r} < 90.0 THEN {r} / COS(RADIANS(ABS({dec}) + {r})) END"
                 f" AS {d.ident(ALPHA_COLUMN)}")
        zone_col = d.ident(ZONE_COLUMN)
        if not d.unnest_lists:
            # No UNNEST: a UNION ALL of the three shifts. MariaDB cannot merge a UNION
            # into the outer query, so it materialises it with an index on the zone
            # (its derived keys): each probe row is then one index lookup ('ref').
            z = d.as_int(zone)
            parts = [f"SELECT {alias}.*, {z}{shift} AS {zone_col}, {alpha} FROM {base} AS {alias}"
                     for shift in (" - 1", "", " + 1")]
            return f"({' UNION ALL '.join(parts)}) AS {alias}"
        z = d.as_int(zone)
        zones = d.unnest_rows(d.value_list([f"{z} - 1", z, f"{z} + 1"]))
        return f"(SELECT {alias}.*, {zones} AS {zone_col}, {alpha} FROM {base} AS {alias}) AS {alias}"

    def _bounded_item(self, d: Dialect, base: str, alias: str) -> str:
        """Each row once per neighbour zone and per RA window: [lo, hi] around its RA taken into [0, 360), and
        that window shifted by 360 when it crosses 0 or 360. A half-width of 90 or more (near a pole) is the
        whole circle, [-1, 361], in one copy: two copies of a window that wide could both hold a partner."""
        dec = f"{alias}.{d.ident(self.expanded.dec_name)}"
        ra = _turned(f"{alias}.{d.ident(self.expanded.ra_name)}")
        h, r = d.double(zone_height(self.radius_value)), d.double(padded(self.radius_value))
        alpha = f"{r} / COS(RADIANS(ABS({dec}) + {r}))"
        half = f"(CASE WHEN ABS({dec}) + {r} < 90.0 AND {alpha} < 90.0 THEN {alpha} END)"  # NULL: any RA
        low, high = f"COALESCE({ra} - {half}, -1.0)", f"COALESCE({ra} + {half}, 361.0)"
        zero, turn = d.double(0.0), d.double(360.0)
        shifts = (f"CASE WHEN {half} IS NULL THEN {d.value_list([zero])}"
                  f" WHEN {low} <= 0.0 THEN {d.value_list([zero, turn])}"  # <=: a turned RA may round to 360
                  f" WHEN {high} >= 360.0 THEN {d.value_list([zero, '-' + turn])} ELSE {d.value_list([zero])} END")
        low_col, high_col, shift = d.ident(LOW_COLUMN), d.ident(HIGH_COLUMN), d.ident(SHIFT_COLUMN)
        windows = (f"(SELECT {alias}.*, {d.unnest_rows(shifts)} AS {shift}, {low} AS {low_col}, {high} AS {high_col}"
                   f" FROM {base} AS {alias})")
        z = d.as_int(f"FLOOR(({dec} + 90.0) / {h})")
        zones = d.unnest_rows(d.value_list([f"{z} - 1", z, f"{z} + 1"]))
        return (f"(SELECT {alias}.* EXCLUDE ({low_col}, {high_col}), {zones} AS {d.ident(ZONE_COLUMN)},"
                f" {alias}.{low_col} + {alias}.{shift} AS {low_col}, {alias}.{high_col} + {alias}.{shift} AS {high_col}"
                f" FROM {windows} AS {alias}) AS {alias}")

    def probe_item(self, d: Dialect, item: str, alias: str) -> str:
        """The probe table's FROM ``item`` (``... AS alias``), with its RA in [0, 360) for the window test."""
        if not (d.zone_crossmatch and d.ra_window_bounds):
            return item
        self.probe_alias = alias
        ra = f"{alias}.{d.ident(self.probe.ra_name)}"
        return f"(SELECT {alias}.*, {_turned(ra)} AS {d.ident(PROBE_RA_COLUMN)} FROM {item}) AS {alias}"

    def condition(self, d: Dialect, column: Callable[[A.ColumnRef], str],
                  distance: Callable[[str, str, str, str], str], radius_sql: str) -> str:
        """Zone equality, RA window, then the exact test with the engine's formula."""
        exact = distance(column(self.first.ra), column(self.first.dec),
                         column(self.second.ra), column(self.second.dec))
        if not d.zone_crossmatch:
            # q3c_join uses the q3c_ang2ipix index of its third and fourth arguments' table:
            # the larger one, probed by each row of the smaller.
            small, large = self.expanded, self.probe
            return (f"(q3c_join({column(small.ra)}, {column(small.dec)}, {column(large.ra)},"
                    f" {column(large.dec)}, {radius_sql}) AND {exact} {self.op} {radius_sql})")
        h = d.double(zone_height(self.radius_value))
        probe_zone = f"FLOOR(({column(self.probe.dec)} + 90.0) / {h})"
        probe_zone = d.as_int(probe_zone)
        alias = self.sql_alias
        if d.ra_window_bounds:
            # Comparisons of one side with the other: the hash join checks them as it finds the zone's rows.
            # A probe table read as it is (a CTE) has its RA taken into [0, 360) here.
            ra = f"{self.probe_alias}.{d.ident(PROBE_RA_COLUMN)}" if self.probe_alias else _turned(column(self.probe.ra))
            low, high = f"{alias}.{d.ident(LOW_COLUMN)}", f"{alias}.{d.ident(HIGH_COLUMN)}"
            return f"({probe_zone} = {alias}.{d.ident(ZONE_COLUMN)} AND {ra} >= {low} AND {ra} <= {high} AND {exact} {self.op} {radius_sql})"
        zone, alpha = f"{alias}.{d.ident(ZONE_COLUMN)}", f"{alias}.{d.ident(ALPHA_COLUMN)}"
        dra = d.mod(d.mod(f"{column(self.probe.ra)} - {column(self.expanded.ra)}", "360") + " + 540",
                    "360") + " - 180"
        return (f"({probe_zone} = {zone} AND ({alpha} IS NULL OR ABS({dra}) <= {alpha})"
                f" AND {exact} {self.op} {radius_sql})")


def _turned(ra: str) -> str:
    """``ra`` taken into [0, 360) (360 itself by rounding, for a RA just below 0), left as it is when it already is."""
    return f"(CASE WHEN {ra} >= 0.0 AND {ra} < 360.0 THEN {ra} ELSE {ra} - 360.0 * FLOOR({ra} / 360.0) END)"


def plan(select: A.Select, dialect: Dialect, catalog: Catalog | None,
         ctes: Container[str]) -> dict[int, CrossMatch]:
    """The neighbour join of ``select``, keyed by id() of its condition and of its two
    tables; empty when there is none or it cannot be planned safely."""
    q3c = not dialect.zone_crossmatch and PgSphere.use_q3c
    if not (dialect.zone_crossmatch or q3c) or catalog is None:
        return {}
    tables = _from_tables(select.from_, catalog, ctes)
    if tables is None:
        return {}
    for cond, allowed in _candidates(select):
        xm = _match(cond, tables, allowed)
        if xm is not None:
            return {id(xm.cond): xm, id(xm.expanded.table): xm, id(xm.probe.table): xm}
    return {}


Tables = list[tuple[A.TableName, TableInfo | None]]


def _from_tables(refs: list[A.TableRef], catalog: Catalog, ctes: Container[str]) -> Tables | None:
    """Tables of this FROM with their metadata; None if a subquery or unknown table hides columns."""
    out: Tables = []
    for t in _leaves(refs):
        if not isinstance(t, A.TableName):
            return None
        if len(t.parts) == 1 and t.parts[0].key in ctes:
            out.append((t, None))
            continue
        schema = t.parts[-2] if len(t.parts) > 1 else None
        found = catalog.find_tables(schema.name if schema else None, t.parts[-1].name,
                                    t.parts[-1].delimited, bool(schema and schema.delimited))
        if len(found) != 1:
            return None
        out.append((t, found[0]))
    return out


def _leaves(refs: list[A.TableRef]) -> Iterator[A.TableRef]:
    for r in refs:
        if isinstance(r, A.Join):
            yield from _leaves([r.left, r.right])
        else:
            yield r


def _conjuncts(c: A.Cond | None) -> Iterator[A.Cond]:
    if isinstance(c, A.BoolOp) and c.op == "AND":
        yield from _conjuncts(c.left)
        yield from _conjuncts(c.right)
    elif c is not None:
        yield c


def _candidates(select: A.Select) -> Iterator[tuple[A.Cond, set[int] | None]]:
    """Conditions that filter every row, with the tables that may be expanded there
    (None: any). A WHERE conjunct removes the copies that miss; an ON conjunct of an
    outer join only removes copies on its nullable side."""
    for c in _conjuncts(select.where):
        yield c, None
    stack: list[A.TableRef] = list(select.from_)
    while stack:
        j = stack.pop()
        if not isinstance(j, A.Join):
            continue
        stack += [j.left, j.right]
        if j.on is None or j.kind == "FULL":
            continue
        allowed: set[int] | None = None
        if j.kind in ("LEFT", "RIGHT"):
            side = j.right if j.kind == "LEFT" else j.left
            allowed = {id(t) for t in _leaves([side])}
        for c in _conjuncts(j.on):
            yield c, allowed


def _match(cond: A.Cond, tables: Tables, allowed: set[int] | None) -> CrossMatch | None:
    shape = _shape(cond)
    if shape is None:
        return None
    first_geom, second_geom, op, radius = shape
    value = _constant(radius)
    first, second = _point(first_geom, tables), _point(second_geom, tables)
    if value is None or first is None or second is None or first.table is second.table:
        return None
    infos = {id(t): info for t, info in tables}
    choices = [p for p in (first, second)
               if infos[id(p.table)] is not None and (allowed is None or id(p.table) in allowed)]
    if not choices:
        return None
    # The smaller table is copied three times. A table without a row count is taken as the
    # smaller: published catalogues carry one, uploads and MyDB tables (the user's lists) do not.
    # With no counts at all, the first in FROM.
    order = [id(t) for t, _ in tables]
    best = min(choices, key=lambda p: (_rows(infos[id(p.table)]), order.index(id(p.table))))
    assert isinstance(cond, A.Compare)
    return CrossMatch(cond, first, second, op, radius, value, best is second)


def _rows(info: TableInfo | None) -> float:
    return float(info.row_count) if info is not None and info.row_count is not None else -1.0


def _shape(c: A.Cond) -> tuple[A.Expr, A.Expr, str, A.Expr] | None:
    """(first point, second point, < or <=, radius) of a distance or point-in-circle test."""
    if not isinstance(c, A.Compare):
        return None
    left, right = _bare(c.left), _bare(c.right)
    flipped = {">": "<", ">=": "<="}
    if isinstance(left, A.Func) and left.name == "DISTANCE" and c.op in ("<", "<="):
        dist, op, radius = left, c.op, c.right
    elif isinstance(right, A.Func) and right.name == "DISTANCE" and c.op in (">", ">="):
        dist, op, radius = right, flipped[c.op], c.left
    else:
        return _contains_shape(left, right, c.op)
    if len(dist.args) != 2:
        return None
    return dist.args[0], dist.args[1], op, radius


def _contains_shape(left: A.Expr, right: A.Expr, op: str) -> tuple[A.Expr, A.Expr, str, A.Expr] | None:
    """1 = CONTAINS(POINT(...), CIRCLE(ra, dec, r)) (either side of '=')."""
    func, lit = (left, right) if isinstance(left, A.Func) else (right, left)
    if not (op == "=" and isinstance(func, A.Func) and func.name == "CONTAINS"
            and isinstance(lit, A.Literal) and lit.kind == "int" and lit.value == "1"):
        return None
    circle = _bare(func.args[1])
    if not (isinstance(circle, A.Geom) and circle.name == "CIRCLE" and len(circle.args) == 3
            and _plain_frame(circle)):
        return None
    centre = A.Geom("POINT", None, circle.args[:2], circle.line, circle.col)
    return func.args[0], centre, "<=", circle.args[2]


def _bare(e: A.Expr) -> A.Expr:
    while isinstance(e, A.Paren):
        e = e.inner
    return e


def _plain_frame(g: A.Geom) -> bool:
    """No coordinate system, or one taken as is; others keep their warning on the generic path."""
    cs = g.coordsys
    if cs is None:
        return True
    frame = cs.value.strip().split(" ")[0].upper() if isinstance(cs, A.Literal) and cs.kind == "str" else "?"
    return frame in ("", "ICRS", "J2000", "FK5")


def _point(e: A.Expr, tables: Tables) -> Point | None:
    g = _bare(e)
    if not (isinstance(g, A.Geom) and g.name == "POINT" and len(g.args) == 2 and _plain_frame(g)):
        return None
    ra, dec = (_bare(a) for a in g.args)
    if not (isinstance(ra, A.ColumnRef) and isinstance(dec, A.ColumnRef)):
        return None
    ra_hit, dec_hit = _column_table(ra, tables), _column_table(dec, tables)
    if ra_hit is None or dec_hit is None or ra_hit[0] is not dec_hit[0]:
        return None
    return Point(ra, dec, dec_hit[0], dec_hit[1].name if dec_hit[1] else dec.parts[-1].name,
                 ra_hit[1].name if ra_hit[1] else ra.parts[-1].name)


def _column_table(ref: A.ColumnRef, tables: Tables) -> tuple[A.TableName, ColumnInfo | None] | None:
    """The FROM table a column belongs to, as the translator will resolve it."""
    name = ref.parts[-1]
    qual = ref.parts[:-1]
    hits = []
    for t, info in tables:
        if qual and not _names_table(qual, t, info):
            continue
        col = _find_column(info, name) if info is not None else None
        if info is not None and col is None:
            continue
        if not qual and info is None:
            return None  # an unqualified name and a table of unknown columns: ambiguous
        hits.append((t, col))
    if len(hits) != 1:
        return None
    col = hits[0][1]
    if col is not None and col.datatype.upper() in _GEOMETRY_TYPES:
        return None
    return hits[0]


def _names_table(qual: list[A.Ident], t: A.TableName, info: TableInfo | None) -> bool:
    last = qual[-1]
    if t.alias is not None:
        return len(qual) == 1 and _same(last, t.alias.name, t.alias.delimited)
    table_name = info.name if info is not None else t.parts[-1].name
    if not _same(last, table_name, True):
        return False
    if len(qual) == 1:
        return True
    schema = info.schema if info is not None else (t.parts[-2].name if len(t.parts) > 1 else "")
    return _same(qual[-2], schema, True)


def _same(ident: A.Ident, name: str, exact: bool) -> bool:
    if ident.delimited:
        return ident.name == name
    return ident.name.lower() == name.lower()


def _find_column(info: TableInfo, ident: A.Ident) -> ColumnInfo | None:
    for c in info.columns:
        if (c.name == ident.name) if ident.delimited else (c.name.lower() == ident.name.lower()):
            return c
    return None


def _constant(e: A.Expr) -> float | None:
    """A radius written as numbers (1/3600.0 included), computed as the engines do."""
    e = _bare(e)
    if isinstance(e, A.Literal) and e.kind in ("int", "num"):
        return float(e.value)
    if isinstance(e, A.Unary):
        inner = _constant(e.operand)
        return None if inner is None else (-inner if e.op == "-" else inner)
    if isinstance(e, A.Binary) and e.op in ("*", "/", "+", "-"):
        a, b = _constant(e.left), _constant(e.right)
        if a is None or b is None or (e.op == "/" and b == 0):
            return None
        if e.op == "/" and _integral(e.left) and _integral(e.right):
            return float(int(a / b))  # integer division truncates (semantics.py)
        return {"*": a * b, "/": a / b, "+": a + b, "-": a - b}[e.op]
    return None


def _integral(e: A.Expr) -> bool:
    e = _bare(e)
    if isinstance(e, A.Unary):
        return _integral(e.operand)
    if isinstance(e, A.Binary):
        return _integral(e.left) and _integral(e.right)
    return isinstance(e, A.Literal) and e.kind == "int"
