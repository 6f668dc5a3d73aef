"""The ADQL semantics we decide once for every engine, and the type rules behind them.

The translator asks here what type an operation has and whether it is allowed;
the dialects (``dialects.py``) say how each engine spells the chosen meaning.
The user-facing reference (``reference.py``) is generated from the same tables.

Decisions (each emitted explicitly for every dialect):

- integer / integer is an integer truncated toward zero (SQL-92 exact numerics);
  any approximate operand makes the division approximate; x / 0 is NULL;
- MOD(a, b) takes the sign of a; MOD(a, 0) is NULL;
- ROUND rounds halves away from zero; CAST of an approximate number to an integer
  type rounds the same way; CAST(x AS CHAR(n)) is x cut or blank-padded to n
  characters, VARCHAR(n) cut to n;
- maths outside its domain (LOG of x <= 0, SQRT of x < 0, ASIN/ACOS beyond [-1, 1],
  POWER without a real value, overflow of EXP/POWER) is NULL, never NaN or an error;
- AVG is computed in double precision; SUM of integers is a BIGINT;
- NULLs sort as larger than any value: last ascending, first descending;
- text compares case- and trailing-blank-sensitively;
- text and numbers do not mix: comparing or computing with both is an ADQL error.
"""

from __future__ import annotations

from . import ast as A
from .errors import AdqlError
from .udfs import AGGREGATE_UDFS

INTS = frozenset({"SMALLINT", "INTEGER", "BIGINT"})
FLOATS = frozenset({"REAL", "DOUBLE"})
NUMBERS = INTS | FLOATS
TEXT = frozenset({"CHAR", "VARCHAR", "UNICODECHAR", "CLOB"})
GEOMETRIES = frozenset({"POINT", "CIRCLE", "POLYGON", "BOX", "REGION"})

# Built-in functions whose arguments must be numbers.
NUMERIC_FUNCTIONS = frozenset({
    "ABS", "ACOS", "ASIN", "ATAN", "ATAN2", "CEILING", "COS", "COT", "DEGREES", "EXP", "FLOOR",
    "LOG", "LOG10", "MOD", "POWER", "RADIANS", "ROUND", "SIN", "SQRT", "TAN", "TRUNCATE",
})
# Functions whose result has the integer type of an integer argument.
INT_PRESERVING = frozenset({"ABS", "MOD"})


def kind(datatype: str) -> str:
    """number, text, geometry or other (unknown, timestamps, booleans)."""
    if datatype in NUMBERS:
        return "number"
    if datatype in TEXT:
        return "text"
    if datatype in GEOMETRIES:
        return "geometry"
    return "other"


def arith_type(op: str, left: str, right: str, node: A.Binary | A.Unary) -> str:
    """The type of ``left op right``; AdqlError when text or geometry takes part."""
    if op == "||":
        return "VARCHAR"
    for side in (left, right):
        if kind(side) == "text":
            raise AdqlError(f"'{op}' needs numbers, not text; to join text use ||",
                            node.line, node.col)
        if kind(side) == "geometry":
            raise AdqlError(f"'{op}' needs numbers, not a {side}", node.line, node.col)
    if left in INTS and right in INTS:
        return "BIGINT"
    if "UNKNOWN" in (left, right) and not ({left, right} & FLOATS):
        return "UNKNOWN"
    return "DOUBLE"


def check_comparable(left: str, right: str, what: str, node: object) -> None:
    """Text is compared with text, numbers with numbers (MariaDB would silently convert)."""
    kinds = {kind(left), kind(right)}
    if kinds == {"text", "number"}:
        line, col = getattr(node, "line", None), getattr(node, "col", None)
        raise AdqlError(f"{what} compares text with a number; quote the number ('0') or "
                        "CAST one side to the type of the other", line, col)


def check_numeric_argument(name: str, datatype: str, node: A.Func) -> None:
    if kind(datatype) in ("text", "geometry"):
        raise AdqlError(f"{name} needs a number, not {'text' if kind(datatype) == 'text' else datatype}",
                        node.line, node.col)


def fingerprint(e: object) -> object:
    """A comparable key of an expression: resolved columns by identity, positions ignored."""
    if isinstance(e, A.ColumnRef):
        if e.column is not None:
            return ("col", id(e.column))
        return ("col", tuple(p.key for p in e.parts))
    if isinstance(e, A.Paren):
        return fingerprint(e.inner)
    if isinstance(e, (list, tuple)):
        return tuple(fingerprint(x) for x in e)
    if isinstance(e, A.Ident):
        return e.key
    slots = getattr(e, "__slots__", None)
    if slots is None:
        return e
    skip = ("line", "col", "source", "column", "table", "cte")
    return (type(e).__name__, *(fingerprint(getattr(e, s)) for s in slots if s not in skip))


def children(e: object) -> list[object]:
    """The direct sub-expressions of a value expression or condition (not subqueries)."""
    if isinstance(e, A.Paren):
        return [e.inner]
    if isinstance(e, A.Unary):
        return [e.operand]
    if isinstance(e, A.Binary):
        return [e.left, e.right]
    if isinstance(e, (A.Func, A.Geom)):
        return list(e.args)
    if isinstance(e, A.Cast):
        return [e.operand]
    if isinstance(e, A.Case):
        out: list[object] = [] if e.operand is None else [e.operand]
        for w, r in e.whens:
            out += [w, r]
        return out + ([e.default] if e.default is not None else [])
    if isinstance(e, A.Compare):
        return [e.left, e.right]
    if isinstance(e, A.Between):
        return [e.operand, e.low, e.high]
    if isinstance(e, A.InList):
        return [e.operand, *(e.items or [])]
    if isinstance(e, A.Like):
        return [e.operand, e.pattern]
    if isinstance(e, A.IsNull):
        return [e.operand]
    if isinstance(e, A.BoolOp):
        return [e.left, e.right]
    if isinstance(e, A.Not):
        return [e.operand]
    return []


def is_aggregate(e: object) -> bool:
    return isinstance(e, A.Func) and (e.kind == "agg" or (
        e.kind == "udf" and e.name.lower() in AGGREGATE_UDFS))


def has_aggregate(e: object) -> bool:
    stack = [e]
    while stack:
        n = stack.pop()
        if is_aggregate(n):
            return True
        stack.extend(children(n))
    return False


def ungrouped_column(e: object, keys: set[object], is_local: object) -> A.ColumnRef | None:
    """The first column of this query used outside an aggregate and not grouped, if any."""
    stack = [e]
    while stack:
        n = stack.pop()
        if is_aggregate(n):
            continue
        if fingerprint(n) in keys:
            continue
        if isinstance(n, A.ColumnRef):
            if is_local(n):  # type: ignore[operator]
                return n
            continue
        stack.extend(children(n))
    return None
