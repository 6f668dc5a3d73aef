"""The syntax tree the parser builds and the emitters walk."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(slots=True)
class Ident:
    name: str
    delimited: bool
    line: int = 0
    col: int = 0

    @property
    def key(self) -> str:
        return self.name if self.delimited else self.name.lower()


# ---- value expressions -------------------------------------------------

@dataclass(slots=True)
class Literal:
    kind: str  # int, num, hex, str, null
    value: str  # source text for numbers, the unescaped text for strings
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class ColumnRef:
    parts: list[Ident]  # [[[catalog.]schema.]table.]column
    line: int = 0
    col: int = 0
    # Filled in by the validator: the source it resolved to and the column.
    source: object | None = None
    column: object | None = None


@dataclass(slots=True)
class Star:
    qualifier: list[Ident] | None  # t.* or s.t.*; None for a bare *
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Unary:
    op: str  # '-' or '+'
    operand: Expr
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Binary:
    op: str  # + - * / ||
    left: Expr
    right: Expr
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Func:
    """A function call. ``kind``: math, agg, geom, string, coalesce, udf, unit."""

    name: str  # upper case for built-ins, as written for UDFs
    args: list[Expr]
    kind: str
    distinct: bool = False
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Geom:
    """A geometry constructor: POINT, CIRCLE, BOX, POLYGON, REGION."""

    name: str
    coordsys: Expr | None
    args: list[Expr]
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Cast:
    operand: Expr
    type: str  # SMALLINT INTEGER BIGINT REAL DOUBLE CHAR VARCHAR TIMESTAMP POINT CIRCLE POLYGON
    length: int | None = None
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Case:
    operand: Expr | None
    whens: list[tuple[Expr | Cond, Expr]]
    default: Expr | None
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Paren:
    inner: Expr
    line: int = 0
    col: int = 0


Expr = Literal | ColumnRef | Star | Unary | Binary | Func | Geom | Cast | Case | Paren


# ---- conditions --------------------------------------------------------

@dataclass(slots=True)
class Compare:
    op: str
    left: Expr
    right: Expr
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Between:
    operand: Expr
    low: Expr
    high: Expr
    negated: bool
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class InList:
    operand: Expr
    items: list[Expr] | None
    query: Query | None
    negated: bool
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Like:
    operand: Expr
    pattern: Expr
    negated: bool
    ilike: bool
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class IsNull:
    operand: Expr
    negated: bool
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Exists:
    query: Query
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class BoolOp:
    op: str  # AND / OR
    left: Cond
    right: Cond
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Not:
    operand: Cond
    line: int = 0
    col: int = 0


Cond = Compare | Between | InList | Like | IsNull | Exists | BoolOp | Not


# ---- tables and queries ------------------------------------------------

@dataclass(slots=True)
class TableName:
    parts: list[Ident]  # [[catalog.]schema.]table
    alias: Ident | None
    line: int = 0
    col: int = 0
    table: object | None = None  # TableInfo once validated
    cte: object | None = None  # the WITH query it names, if any


@dataclass(slots=True)
class Derived:
    query: Query
    alias: Ident
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Join:
    left: TableRef
    right: TableRef
    natural: bool
    kind: str | None  # INNER LEFT RIGHT FULL, None for a bare JOIN
    on: Cond | None
    using: list[Ident] | None
    line: int = 0
    col: int = 0


TableRef = TableName | Derived | Join


@dataclass(slots=True)
class SelectItem:
    expr: Expr
    alias: Ident | None


@dataclass(slots=True)
class OrderItem:
    expr: Expr
    desc: bool


@dataclass(slots=True)
class Select:
    quantifier: str | None  # DISTINCT / ALL
    top: int | None
    items: list[SelectItem]
    from_: list[TableRef]
    where: Cond | None
    group_by: list[Expr]
    having: Cond | None
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class SetOp:
    op: str  # UNION INTERSECT EXCEPT
    all: bool
    left: QueryBody
    right: QueryBody
    line: int = 0
    col: int = 0


@dataclass(slots=True)
class Query:
    """A select expression: a body with optional ORDER BY / OFFSET / WITH."""

    body: QueryBody
    order_by: list[OrderItem] = field(default_factory=list)
    offset: int | None = None
    ctes: list[tuple[Ident, Query]] = field(default_factory=list)
    line: int = 0
    col: int = 0


QueryBody = Select | SetOp | Query


_NODE_TYPES = (Ident, Literal, ColumnRef, Star, Unary, Binary, Func, Geom, Cast, Case, Paren,
               Compare, Between, InList, Like, IsNull, Exists, BoolOp, Not, TableName, Derived,
               Join, SelectItem, OrderItem, Select, SetOp, Query)


def walk(node: object) -> Iterator[object]:
    """Every node under ``node`` (itself included), depth first."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, (list, tuple)):
            stack.extend(reversed(n))
            continue
        if not isinstance(n, _NODE_TYPES):
            continue
        yield n
        for name in n.__slots__:  # type: ignore[union-attr]
            if name in ("source", "column", "table", "cte"):
                continue
            v = getattr(n, name)
            if isinstance(v, (list, tuple)) or isinstance(v, _NODE_TYPES):
                stack.append(v)
