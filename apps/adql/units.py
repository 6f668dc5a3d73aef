"""Units of value expressions, for IN_UNIT (astropy does the unit algebra).

astropy is imported lazily: only queries using IN_UNIT pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast as A
from .errors import AdqlError

# Functions whose result has the unit of their (first) argument.
_SAME_UNIT = frozenset({"ABS", "ROUND", "TRUNCATE", "FLOOR", "CEILING", "MIN", "MAX", "AVG", "SUM",
                        "COALESCE"})
_DEGREE_RESULTS = {"DISTANCE": 1, "COORD1": 1, "COORD2": 1, "AREA": 2}


def _u() -> Any:
    from astropy import units

    return units


def parse_unit(text: str, node: A.Func | A.ColumnRef) -> Any:
    u = _u()
    try:
        return u.Unit(text, format="vounit", parse_strict="raise")
    except (ValueError, TypeError) as exc:
        raise AdqlError(f"IN_UNIT: {text!r} is not a VOUnit ({exc})", node.line, node.col) from None


def _literal(e: A.Expr) -> float | None:
    if isinstance(e, A.Unary):
        inner = _literal(e.operand)
        return None if inner is None else (-inner if e.op == "-" else inner)
    if isinstance(e, A.Literal) and e.kind in ("int", "num"):
        return float(e.value)
    return None


class UnitInference:
    """The unit of an expression, or None when it cannot be told."""

    def __init__(self, column_unit: Callable[[A.ColumnRef], str]) -> None:
        self.column_unit = column_unit
        self.u = _u()

    def of(self, e: A.Expr) -> Any:
        if isinstance(e, A.Paren):
            return self.of(e.inner)
        if isinstance(e, A.ColumnRef):
            text = self.column_unit(e)
            return parse_unit(text, e) if text else None
        if isinstance(e, A.Literal):
            return self.u.dimensionless_unscaled if e.kind in ("int", "num", "hex") else None
        if isinstance(e, A.Unary):
            return self.of(e.operand)
        if isinstance(e, A.Binary):
            return self.binary(e)
        if isinstance(e, A.Cast) and e.type in ("SMALLINT", "INTEGER", "BIGINT", "REAL", "DOUBLE"):
            return self.of(e.operand)
        if isinstance(e, A.Func):
            return self.func(e)
        return None

    def binary(self, e: A.Binary) -> Any:
        left, right = self.of(e.left), self.of(e.right)
        if left is None or right is None:
            return None
        if e.op == "*":
            return left * right
        if e.op == "/":
            return left / right
        if e.op in ("+", "-"):
            # SQL adds the raw numbers: only one unit on both sides makes sense.
            return left if left == right else None
        return None

    def func(self, f: A.Func) -> Any:
        if f.kind == "unit":
            target = f.args[1]
            assert isinstance(target, A.Literal)
            return parse_unit(target.value, f)
        if f.name in _DEGREE_RESULTS:
            return self.u.deg ** _DEGREE_RESULTS[f.name]
        if f.name == "COUNT":
            return self.u.dimensionless_unscaled
        if not f.args:
            return self.u.dimensionless_unscaled if f.name in ("PI", "RAND") else None
        arg = self.of(f.args[0])
        if arg is None:
            return None
        if f.name in _SAME_UNIT:
            return arg
        if f.name == "SQRT":
            return arg ** 0.5
        if f.name == "POWER":
            n = _literal(f.args[1])
            return arg ** n if n is not None else None
        if f.name == "DEGREES" and arg.is_equivalent(self.u.rad):
            return self.u.deg
        if f.name == "RADIANS" and arg.is_equivalent(self.u.deg):
            return self.u.rad
        return None


def unit_factor(e: A.Expr, target: str, node: A.Func, column_unit: Callable[[A.ColumnRef], str]) -> float:
    """Multiplier from the unit of ``e`` to ``target``."""
    source = UnitInference(column_unit).of(e)
    if source is None:
        raise AdqlError("IN_UNIT: the unit of this expression is not known", node.line, node.col)
    dst = parse_unit(target, node)
    try:
        if not source.is_equivalent(dst):
            # Angles as ratios (1 rad = 1), as astronomers use them: a proper motion times a
            # distance is a velocity (mas/yr * pc -> km/s, the "4.74" rule). Only when the
            # strict conversion fails, so deg -> rad and the like never go through it.
            return float(source.to(dst, equivalencies=_u().dimensionless_angles()))
        return float(source.to(dst))
    except Exception as exc:  # astropy raises UnitConversionError and friends
        raise AdqlError(f"IN_UNIT: cannot convert {source.to_string('vounit')} to {target} ({exc})",
                        node.line, node.col) from None
