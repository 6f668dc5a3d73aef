"""The built-in user-defined functions (the IVOA/DaCHS ``ivo_`` set), one table.

Each entry has its TAPRegExt form (``name(arg TYPE, ...) -> TYPE``), a description,
and one emitter that writes it for every dialect, so that it gives the same answer
on every engine. The translator calls them (a published function of the same name
in the metadata takes precedence); TAP capabilities and the ADQL reference page list
them from here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import ast as A
from .dialects import Dialect
from .errors import AdqlError

Emit = Callable[[Dialect, list[str], list[A.Expr]], str]


@dataclass(frozen=True)
class Udf:
    name: str
    args: tuple[tuple[str, str], ...]  # (name, ADQL type)
    return_type: str
    description: str
    emit: Emit
    aggregate: bool = False
    dialects: tuple[str, ...] = ("postgresql", "mariadb", "duckdb", "spark")

    @property
    def form(self) -> str:
        params = ", ".join(f"{n} {t}" for n, t in self.args)
        return f"{self.name}({params}) -> {self.return_type}"


def _constant_int(e: A.Expr, what: str, lo: int, hi: int) -> int:
    sign = 1
    while isinstance(e, (A.Paren, A.Unary)):
        if isinstance(e, A.Unary) and e.op == "-":
            sign = -sign
        e = e.inner if isinstance(e, A.Paren) else e.operand
    if not (isinstance(e, A.Literal) and e.kind == "int") or not lo <= sign * int(e.value) <= hi:
        raise AdqlError(f"{what} must be a whole number from {lo} to {hi}, written as a number",
                        getattr(e, "line", None), getattr(e, "col", None))
    return sign * int(e.value)


def _flag(condition: str) -> str:
    """1 or 0; NULL when the condition is unknown (a NULL argument)."""
    return f"(CASE WHEN {condition} THEN 1 WHEN NOT ({condition}) THEN 0 END)"


def _position(d: Dialect, haystack: str, needle: str) -> str:
    if d.name in ("mariadb", "spark"):
        return f"INSTR({haystack}, {needle})"
    return f"STRPOS({haystack}, {needle})"


def _hasword(d: Dialect, a: list[str], _: list[A.Expr]) -> str:
    hay = d.concat_all(["' '", f"LOWER({a[0]})", "' '"])
    needle = d.concat_all(["' '", f"LOWER({a[1]})", "' '"])
    return _flag(f"{_position(d, hay, needle)} > 0")


def _nocasematch(d: Dialect, a: list[str], _: list[A.Expr]) -> str:
    return _flag(d.like(a[0], a[1], False, True))


def _string_agg(d: Dialect, a: list[str], nodes: list[A.Expr]) -> str:
    text = d.as_text(a[0])
    if d.name == "mariadb":
        sep = nodes[1]
        if not (isinstance(sep, A.Literal) and sep.kind == "str"):
            raise AdqlError("on this engine the separator of ivo_string_agg must be a string",
                            sep.line, sep.col)
        return f"GROUP_CONCAT({text} ORDER BY {text} SEPARATOR {d.string(sep.value)})"
    if d.name == "spark":
        return f"ARRAY_JOIN(ARRAY_SORT(COLLECT_LIST({text})), {a[1]})"
    order = f'{text} COLLATE "C"' if d.name == "postgresql" else text
    return f"STRING_AGG({text}, {a[1]} ORDER BY {order})"


def _overlaps(d: Dialect, a: list[str], _: list[A.Expr]) -> str:
    return _flag(f"{a[0]} <= {a[3]} AND {a[2]} <= {a[1]}")


def _stddev(d: Dialect, a: list[str], _: list[A.Expr]) -> str:
    return f"STDDEV_SAMP({d.as_double(a[0])})"


def _percentile(d: Dialect, x: str, p: str) -> str:
    if d.name == "postgresql":
        return f"PERCENTILE_CONT({p}) WITHIN GROUP (ORDER BY {d.as_double(x)})"
    if d.name == "duckdb":
        return f"QUANTILE_CONT({d.as_double(x)}, {p})"
    if d.name == "spark":
        return f"PERCENTILE({d.as_double(x)}, {p})"
    raise AdqlError("medians and percentiles are not available on MariaDB (it has them only as "
                    "window functions)")


def _median(d: Dialect, a: list[str], _: list[A.Expr]) -> str:
    return _percentile(d, a[0], "0.5E0")


def _percentile_udf(d: Dialect, a: list[str], nodes: list[A.Expr]) -> str:
    _constant_fraction(nodes[1])
    return _percentile(d, a[0], a[1])


def _constant_fraction(e: A.Expr) -> None:
    while isinstance(e, A.Paren):
        e = e.inner
    if not (isinstance(e, A.Literal) and e.kind in ("int", "num") and 0 <= float(e.value) <= 1):
        raise AdqlError("the fraction of ivo_percentile must be a number from 0 to 1",
                        getattr(e, "line", None), getattr(e, "col", None))


# ---- HEALPix (nested scheme), as healpix_bare's loc2hpd and astropy-healpix ------

def _healpix_index(d: Dialect, a: list[str], nodes: list[A.Expr]) -> str:
    """The same SQL on every engine (pg_sphere's healpix_nest differs at the poles)."""
    order = _constant_int(nodes[0], "the HEALPix order", 0, 29)
    ra, dec = a[1], a[2]
    n = f"{float(2 ** order)!r}E0"
    z = f"SIN(RADIANS({dec}))"
    za = f"ABS({z})"
    tt = f"(({ra} - 360.0E0 * FLOOR({ra} / 360.0E0)) / 90.0E0)"
    # Equatorial zone: the two edge lines through the point, in face units.
    jp, jm = f"(0.5E0 + {tt} - {z} * 0.75E0)", f"(0.5E0 + {tt} + {z} * 0.75E0)"
    ifp, ifm = f"FLOOR({jp})", f"FLOOR({jm})"
    eq_face = (f"CASE WHEN {ifp} = {ifm} THEN (CASE WHEN {ifp} = 4 THEN 4 ELSE {ifp} + 4 END) "
               f"WHEN {ifp} < {ifm} THEN {ifp} ELSE {ifm} + 8 END")
    eq_x, eq_y = f"FLOOR(({jm} - {ifm}) * {n})", f"FLOOR(({ifp} + 1 - {jp}) * {n})"
    # Polar caps (cos(dec) rather than 1 - |z| keeps precision near the poles).
    ntt = f"LEAST(FLOOR({tt}), 3)"
    tp = f"({tt} - {ntt})"
    tmp = f"(COS(RADIANS({dec})) * SQRT(3.0E0 / (1.0E0 + {za})))"
    pjp, pjm = f"LEAST({tp} * {tmp}, 1.0E0)", f"LEAST((1.0E0 - {tp}) * {tmp}, 1.0E0)"
    north = f"{z} >= 0"
    p_face = f"CASE WHEN {north} THEN {ntt} ELSE {ntt} + 8 END"
    p_x = f"CASE WHEN {north} THEN FLOOR((1.0E0 - {pjm}) * {n}) ELSE FLOOR({pjp} * {n}) END"
    p_y = f"CASE WHEN {north} THEN FLOOR((1.0E0 - {pjp}) * {n}) ELSE FLOOR({pjm} * {n}) END"
    equatorial = f"{za} <= 2.0E0 / 3.0E0"
    face = f"(CASE WHEN {equatorial} THEN {eq_face} ELSE {p_face} END)"
    ix = f"LEAST(CASE WHEN {equatorial} THEN {eq_x} ELSE {p_x} END, {n} - 1)"
    iy = f"LEAST(CASE WHEN {equatorial} THEN {eq_y} ELSE {p_y} END, {n} - 1)"
    terms = [f"{d.as_int(face)} * {4 ** order}"]
    for k in range(order):  # interleave: x bits at even, y bits at odd positions
        terms.append(f"({d.as_int(f'FLOOR({ix} / {2 ** k})')} % 2) * {4 ** k}")
        terms.append(f"({d.as_int(f'FLOOR({iy} / {2 ** k})')} % 2) * {2 * 4 ** k}")
    return f"({' + '.join(terms)})"


UDFS: dict[str, Udf] = {u.name: u for u in [
    Udf("ivo_hasword", (("haystack", "VARCHAR"), ("needle", "VARCHAR")), "INTEGER",
        "1 if needle is one of the blank-separated words of haystack, ignoring case; else 0 "
        "(NULL if an argument is NULL).", _hasword),
    Udf("ivo_nocasematch", (("value", "VARCHAR"), ("pattern", "VARCHAR")), "INTEGER",
        "1 if value matches the LIKE pattern ignoring case (as ILIKE); else 0 (NULL if an "
        "argument is NULL).", _nocasematch),
    Udf("ivo_string_agg", (("value", "VARCHAR"), ("separator", "VARCHAR")), "VARCHAR",
        "Aggregate: the group's non-NULL values as text, sorted by code point, joined by separator.",
        _string_agg, aggregate=True),
    Udf("ivo_interval_overlaps", (("low1", "DOUBLE"), ("high1", "DOUBLE"), ("low2", "DOUBLE"),
                                  ("high2", "DOUBLE")), "INTEGER",
        "1 if the closed intervals [low1, high1] and [low2, high2] overlap; else 0 (NULL if "
        "a bound is NULL).", _overlaps),
    Udf("ivo_healpix_index", (("order", "INTEGER"), ("ra", "DOUBLE"), ("dec", "DOUBLE")), "BIGINT",
        "The nested-scheme HEALPix index at order (a constant, 0 to 29) of the position ra, dec "
        "(degrees).", _healpix_index),
    Udf("ivo_stddev", (("value", "DOUBLE"),), "DOUBLE",
        "Aggregate: the sample standard deviation of the group's non-NULL values (double precision).",
        _stddev, aggregate=True),
    Udf("ivo_median", (("value", "DOUBLE"),), "DOUBLE",
        "Aggregate: the median of the group's non-NULL values, interpolated between the middle two. "
        "Not on MariaDB.", _median, aggregate=True, dialects=("postgresql", "duckdb", "spark")),
    Udf("ivo_percentile", (("value", "DOUBLE"), ("fraction", "DOUBLE")), "DOUBLE",
        "Aggregate: the fraction-quantile (a constant from 0 to 1) of the group's non-NULL values, "
        "linearly interpolated. Not on MariaDB.", _percentile_udf, aggregate=True,
        dialects=("postgresql", "duckdb", "spark")),
]}

AGGREGATE_UDFS = frozenset(name for name, u in UDFS.items() if u.aggregate)


def builtin(name: str) -> Udf | None:
    return UDFS.get(name.lower())


def forms() -> list[tuple[str, str]]:
    """TAPRegExt ``(form, description)`` of every built-in UDF."""
    return [(u.form, u.description) for u in UDFS.values()]


def emit(udf: Udf, d: Dialect, args: list[str], nodes: list[A.Expr], node: A.Func) -> str:
    if len(args) != len(udf.args):
        raise AdqlError(f"{udf.name} takes {len(udf.args)} argument{'s' if len(udf.args) != 1 else ''}: "
                        f"{udf.form}", node.line, node.col)
    return udf.emit(d, args, nodes)
