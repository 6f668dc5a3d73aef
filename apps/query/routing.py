"""Routing by size: which engine runs a query, and why, from what the metadata says.

The planner (planning.py) parses a query once, resolves the tables it names
and asks ``route`` where to run it, before translating it once for that engine.

A table lives in one engine (its schema's), but Parquet tables (DuckDB's and
Spark's, MyDB results and uploads of those engines) are files both can read, so
a query over them may run on either: small and indexed queries on DuckDB (no
start-up, no cluster), big scans, aggregates and cross-matches on Spark when it
is configured. "Big" is the number of rows the engine is estimated to read
(``TableInfo.row_count``; for a table with a ``SkyIndex`` and a constant
CONTAINS/INTERSECTS/DISTANCE region, only the fraction of the sky the region
covers) against settings.QUERY_SPARK_ABOVE_ROWS. The user may choose an engine
among those that can run the query (TAP parameter ENGINE, the query form).

A synchronous query is routed once more (``sync_in_worker``): one on Spark, or on DuckDB
estimated to read more than settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS rows, runs in a worker
while the request waits (sync_in_worker.py), so the web process never holds a heavy scan;
small ones keep the fast path inside the web process. Server engines (PostgreSQL, MariaDB)
scan in their own server: the web process only streams their rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from django.conf import settings

from apps.adql import ast as A
from apps.adql.catalog import Catalog, TableInfo

PARQUET_ENGINES = ("duckdb", "spark")
SMALL_ENGINE = "duckdb"  # of the Parquet engines, the one for small queries
BIG_ENGINE = "spark"


class RoutingError(Exception):
    """An engine the user asked for that cannot run this query; the message says which can."""


@dataclass(frozen=True)
class Estimate:
    """What a query costs, from metadata only. ``rows`` None: some table's size is unknown."""

    rows: int | None
    aggregate: bool = False
    crossmatch: bool = False

    def describe(self) -> str:
        what = "a cross-match" if self.crossmatch else "an aggregate" if self.aggregate else "a query"
        if self.rows is None:
            return f"{what} over tables of unknown size"
        return f"{what} reading about {self.rows:,} rows"


@dataclass(frozen=True)
class Route:
    engine: str
    reason: str
    choices: tuple[str, ...]  # the engines that could run it
    estimate: Estimate | None = None


# ---- what the query reads -------------------------------------------------------------

def table_nodes(tree: A.Query) -> list[A.TableName]:
    """Every table the query names, except its own WITH names."""
    nodes = [node for node in A.walk(tree) if isinstance(node, (A.Query, A.TableName))]  # one walk of the tree
    ctes = {ident.name.lower() for node in nodes if isinstance(node, A.Query) for ident, _ in node.ctes}
    return [node for node in nodes if isinstance(node, A.TableName)
            and not (len(node.parts) == 1 and node.parts[0].name.lower() in ctes)]


def resolve(node: A.TableName, catalog: Catalog) -> TableInfo | None:
    """The table a name means (ADQL case rules), or None when unknown or ambiguous: the translator says why."""
    name, schema = node.parts[-1], node.parts[-2] if len(node.parts) > 1 else None
    found = catalog.find_tables(schema.name if schema else None, name.name, name.delimited,
                                schema.delimited if schema else False)
    return found[0] if len(found) == 1 else None


# ---- the estimate -----------------------------------------------------------------------

INDEXED_ROWS = 100_000  # what a lookup on an indexed column reads: a few index pages or Parquet row groups


def estimate(tree: A.Query, read: Sequence[tuple[A.TableName, TableInfo]]) -> Estimate:
    """Rows read, summed over every table the query names (a self-join reads twice).

    A table is read whole, except the share of the sky a constant region selects when the table
    has a ``SkyIndex`` (HEALPix pruning), and a few row groups when a constant selects on one of
    its indexed columns."""
    fractions, lookups = _sky_fractions(tree), _lookups(tree)
    total: int | None = 0
    for _, info in read:
        if info.row_count is None or total is None:
            total = None
            continue
        fraction = min((f for column, f in fractions if info.sky is not None and column == info.sky.ra.lower()), default=1.0)
        rows = math.ceil(info.row_count * fraction)
        if any(c.indexed and c.name.lower() in lookups for c in info.columns):
            rows = min(rows, INDEXED_ROWS)
        total += rows
    first = _first_rows(tree)
    if first is not None:
        total = first if total is None else min(total, first)
    return Estimate(total, aggregate=_aggregates(tree), crossmatch=_crossmatches(tree))


def _first_rows(tree: A.Query) -> int | None:
    """TOP n over one table with nothing to filter, sort, group or deduplicate: the engine stops after n rows
    (a peek at a table, TOPCAT's first look). With a WHERE it may scan the whole table to find n: no bound."""
    body = tree.body
    if tree.order_by or tree.ctes or not isinstance(body, A.Select) or body.top is None:
        return None
    if body.where is not None or body.group_by or body.having is not None or body.quantifier == "DISTINCT":
        return None
    if len(body.from_) != 1 or not isinstance(body.from_[0], A.TableName) or _aggregates(tree):
        return None
    return body.top + (tree.offset or 0)


def _lookups(tree: A.Query) -> set[str]:
    """Columns every row must match a constant on (``=``, IN, BETWEEN): where an index finds the rows."""
    found = set()
    for node in A.walk(tree):
        for term in _and_terms(node.where) if isinstance(node, A.Select) and node.where is not None else ():
            if isinstance(term, A.Compare) and term.op == "=":
                pairs = [(term.left, term.right), (term.right, term.left)]
                found |= {c.parts[-1].name.lower() for c, v in pairs if isinstance(c, A.ColumnRef) and _is_constant(v)}
            elif isinstance(term, A.InList | A.Between) and isinstance(term.operand, A.ColumnRef) and not term.negated:
                found.add(term.operand.parts[-1].name.lower())
    return found


def _aggregates(tree: A.Query) -> bool:
    return any((isinstance(n, A.Func) and n.kind == "agg") or (isinstance(n, A.Select) and n.group_by) for n in A.walk(tree))


def _and_terms(cond: object) -> Iterator[object]:
    while isinstance(cond, A.Paren):
        cond = cond.inner
    if isinstance(cond, A.BoolOp) and cond.op == "AND":
        yield from _and_terms(cond.left)
        yield from _and_terms(cond.right)
    else:
        yield cond


def _region_tests(tree: A.Query) -> Iterator[tuple[A.Expr, A.Expr, A.Expr | None]]:
    """(point, region, radius) of the spatial tests every row must pass (top-level ANDs of each WHERE/ON):
    ``1 = CONTAINS(p, r)``, ``INTERSECTS``, ``DISTANCE(p, q) < radius``."""
    for node in A.walk(tree):
        conds = [node.where] if isinstance(node, A.Select) else [node.on] if isinstance(node, A.Join) else []
        for term in (t for c in conds if c is not None for t in _and_terms(c)):
            if not isinstance(term, A.Compare):
                continue
            for f, other in ((term.left, term.right), (term.right, term.left)):
                if not isinstance(f, A.Func) or len(f.args) != 2:
                    continue
                if f.name in ("CONTAINS", "INTERSECTS") and term.op == "=" and _number(other) == 1:
                    yield f.args[0], f.args[1], None
                elif f.name == "DISTANCE" and term.op in ("<", "<=") and f is term.left:
                    yield f.args[0], f.args[1], other


def _number(e: object) -> float | None:
    while isinstance(e, A.Paren):
        e = e.inner
    if isinstance(e, A.Unary) and e.op == "-":
        inner = _number(e.operand)
        return -inner if inner is not None else None
    if isinstance(e, A.Literal) and e.kind in ("int", "num"):
        return float(e.value)
    return None


def _is_constant(e: object) -> bool:
    return (isinstance(e, A.Literal) and e.kind != "null") or _number(e) is not None


def _columns(e: object) -> list[str]:
    """The column names a POINT is made of ([] when it is not a POINT of columns)."""
    if isinstance(e, A.Geom) and e.name == "POINT":
        return [a.parts[-1].name.lower() for a in e.args if isinstance(a, A.ColumnRef)]
    return []


def _constants(e: object) -> list[float] | None:
    if not isinstance(e, A.Geom):
        return None
    values = [_number(a) for a in e.args]
    return None if any(v is None for v in values) else [float(v) for v in values if v is not None]


def _sky_fractions(tree: A.Query) -> list[tuple[str, float]]:
    """(ra column, fraction of the sky) of every constant region a point of columns must fall in."""
    found = []
    for point, region, radius in _region_tests(tree):
        columns, values = _columns(point), _constants(region)
        if len(columns) != 2 or values is None:
            continue
        fraction = _fraction(region.name if isinstance(region, A.Geom) else "", values, _number(radius) if radius is not None else None)
        if fraction is not None:
            found.append((columns[0], fraction))
    return found


def _fraction(shape: str, values: list[float], radius: float | None) -> float | None:
    """The share of the sphere a CIRCLE, BOX or DISTANCE cone covers (a polygon: unknown)."""
    if shape == "POINT" and radius is not None:
        shape, values = "CIRCLE", [*values, radius]
    if shape == "CIRCLE" and len(values) == 3:
        return min((1 - math.cos(math.radians(min(values[2], 180.0)))) / 2, 1.0)
    if shape == "BOX" and len(values) == 4:
        dec, width, height = values[1], min(values[2], 360.0), values[3]
        top, bottom = min(dec + height / 2, 90.0), max(dec - height / 2, -90.0)
        band = (math.sin(math.radians(top)) - math.sin(math.radians(bottom))) / 2
        return max(min(band * width / 360.0, 1.0), 0.0)
    return None


def _crossmatches(tree: A.Query) -> bool:
    """A spatial test between two points of columns: a positional join."""
    return any(len(_columns(point)) == 2 and len(_columns(region if radius is not None else _center(region))) == 2
               for point, region, radius in _region_tests(tree))


def _center(region: object) -> object:
    """A CIRCLE's centre as a POINT, to see whether it is made of columns."""
    if isinstance(region, A.Geom) and region.name == "CIRCLE" and len(region.args) >= 2:
        return A.Geom("POINT", None, region.args[:2])
    return region


# ---- the decision ------------------------------------------------------------------------

def choices_for(holder: str, parquet: bool, available: Sequence[str]) -> tuple[str, ...]:
    """Where a query can run: its tables' engine, or any Parquet engine configured when they are all files."""
    if parquet and holder in PARQUET_ENGINES:
        return tuple(e for e in PARQUET_ENGINES if e in available or e == holder)
    return (holder,)


def route(holder: str, choices: Sequence[str], cost: Estimate | None, requested: str = "") -> Route:
    """The engine among ``choices`` and the reason, in words the job page and the TAP job show."""
    choices = tuple(choices)
    if requested:
        if requested not in choices:
            where = " or ".join(choices)
            raise RoutingError(f"This query cannot run on {requested}: its tables can be read by {where} here.")
        return Route(requested, f"chosen by the user (ENGINE={requested})", choices, cost)
    if len(choices) == 1 or settings.QUERY_ROUTING == "off":
        return Route(holder, f"its tables are held by {holder}", choices, cost)
    limit = int(settings.QUERY_SPARK_ABOVE_ROWS)
    if cost is None or cost.rows is None:
        return Route(holder, f"{cost.describe() if cost else 'a query'}: it stays with {holder}, where its tables are published",
                     choices, cost)
    if cost.rows > limit and BIG_ENGINE in choices:
        return Route(BIG_ENGINE, f"{cost.describe()}, more than {limit:,}: big work goes to {BIG_ENGINE}", choices, cost)
    return Route(SMALL_ENGINE, f"{cost.describe()}, at most {limit:,}: small work runs on {SMALL_ENGINE}", choices, cost)


def sync_in_worker(engine: str, estimated_rows: int | None) -> bool:
    """Whether a synchronous query on ``engine`` is heavy work for the web process: hand it to a worker."""
    if engine == BIG_ENGINE:  # a Spark job's client work (plans, result batches) is a worker's
        return True
    limit = int(settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS)
    return engine in PARQUET_ENGINES and estimated_rows is not None and estimated_rows > limit
