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
EmitPoint = Callable[[Dialect, list[str], list[A.Expr]], tuple[str, str]]


@dataclass(frozen=True)
class Udf:
    name: str
    args: tuple[tuple[str, str], ...]  # (name, ADQL type)
    return_type: str
    description: str
    emit: Emit | None
    aggregate: bool = False
    point: EmitPoint | None = None  # for functions returning a POINT: its (ra, dec) SQL
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


def _hasword(d: Dialect, a: list[str], _: list[A.Expr]) -> str:
    hay = d.concat_all(["' '", f"LOWER({a[0]})", "' '"])
    needle = d.concat_all(["' '", f"LOWER({a[1]})", "' '"])
    return _flag(f"{d.position(hay, needle)} > 0")


def _nocasematch(d: Dialect, a: list[str], _: list[A.Expr]) -> str:
    return _flag(d.like(a[0], a[1], False, True))


def _string_agg(d: Dialect, a: list[str], nodes: list[A.Expr]) -> str:
    separator = a[1]
    if d.literal_separator_only:
        sep = nodes[1]
        if not (isinstance(sep, A.Literal) and sep.kind == "str"):
            raise AdqlError("on this engine the separator of ivo_string_agg must be a string",
                            sep.line, sep.col)
        separator = d.string(sep.value)
    return d.string_agg(d.as_text(a[0]), separator)


def _overlaps(d: Dialect, a: list[str], _: list[A.Expr]) -> str:
    return _flag(f"{a[0]} <= {a[3]} AND {a[2]} <= {a[1]}")


def _stddev(d: Dialect, a: list[str], _: list[A.Expr]) -> str:
    return f"STDDEV_SAMP({d.as_double(a[0])})"


def _percentile(d: Dialect, x: str, p: str) -> str:
    return d.percentile(d.as_double(x), p)


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


def _histogram(d: Dialect, a: list[str], nodes: list[A.Expr]) -> str:
    """nbins + 2 counts: below lower, the nbins equal bins of [lower, upper), then at or above upper.

    One COUNT per bin, so nbins must be a constant: the same SQL shape on every engine (no
    engine-specific histogram function), and the array's length is known before the query runs.
    """
    nbins = _constant_int(nodes[3], "the number of bins of ivo_histogram", 1, 1000)
    val, lower, upper = (d.as_double(x) for x in a[:3])
    width = f"(({upper} - {lower}) / {nbins})"
    counts = [f"COUNT(CASE WHEN {val} < {lower} THEN 1 END)"]
    counts += [f"COUNT(CASE WHEN {val} >= {lower} + {i} * {width} AND {val} < "
               f"{upper if i == nbins - 1 else f'{lower} + {i + 1} * {width}'} THEN 1 END)" for i in range(nbins)]
    counts.append(f"COUNT(CASE WHEN {val} >= {upper} THEN 1 END)")
    return d.int_array(counts)


# ---- HEALPix (nested scheme), as healpix_bare's loc2hpd and astropy-healpix ------

def _healpix_index(d: Dialect, a: list[str], nodes: list[A.Expr]) -> str:
    """The same SQL on every engine (pg_sphere's healpix_nest differs at the poles)."""
    order = _constant_int(nodes[0], "the HEALPix order", 0, 29)
    return d.evaluate_once([("ra", a[1]), ("dec", a[2])],
                           lambda radec: _healpix_formula(d, order, radec[0], radec[1]))


def _healpix_formula(d: Dialect, order: int, ra: str, dec: str) -> str:
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


def _healpix_center(d: Dialect, a: list[str], nodes: list[A.Expr]) -> tuple[str, str]:
    """The centre of a nested HEALPix cell, as healpix_bare's hpd2loc (integer bit arithmetic)."""
    order = _constant_int(nodes[0], "the HEALPix order", 0, 29)
    index = a[1]
    if d.native_geometry:  # pg_sphere's agrees with astropy-healpix, and uses index once
        centre = f"center_of_healpix_nest({order}, {index})"
        return f"DEGREES(long({centre}))", f"DEGREES(lat({centre}))"
    face = d.int_div(index, str(4 ** order))

    def bits(offset: int) -> str:  # de-interleave: x from the even bits, y from the odd ones
        terms = [f"({d.int_div(index, str(2 ** (2 * k + offset)))} % 2) * {2 ** k}" for k in range(order)]
        return "(" + (" + ".join(terms) or "0") + ")"

    n = f"{float(2 ** order)!r}E0"
    row = f"FLOOR({face} / 4.0E0)"
    jr = f"(2 + {row} - ({bits(0)} + {bits(1)} + 1) / {n})"  # jrll[face] - x - y, x and y at cell centres
    nr = f"LEAST({jr}, 4 - {jr}, 1)"
    jpll = f"(2 * ({face} - 4 * {row}) + (CASE WHEN {row} = 1 THEN 0 ELSE 1 END))"
    t = f"({jpll} * {nr} + ({bits(0)} - {bits(1)}) / {n})"
    t = f"({t} - 8 * FLOOR({t} / 8.0E0))"
    ra = f"(CASE WHEN {nr} < 1E-15 THEN 0 ELSE 45.0E0 * {t} / {nr} END)"
    # In the polar caps z = 1 - nr^2/3, so the colatitude is 2 asin(nr / sqrt 6): precise at the poles.
    dec = (f"(CASE WHEN {nr} < 1 THEN SIGN(2 - {jr}) * (90.0E0 - 2 * DEGREES(ASIN({nr} / SQRT(6.0E0)))) "
           f"ELSE DEGREES(ASIN((2 - {jr}) * 2.0E0 / 3.0E0)) END)")
    return ra, dec


def _moved(d: Dialect, ra: str, dec: str, pmra: str, pmdec: str, years: str, mu_r: str | None = None
           ) -> tuple[str, str]:
    """A star's direction after ``years``, in degrees; pmra (the proper motion in RA times
    cos(dec)), pmdec and mu_r (radial, as parallax times radial velocity) in radians per year.

    With ``mu_r``: rectilinear motion, r(1 + mu_r t) + (p mu_ra + q mu_dec) t (rigorous).
    Without: along the great circle the proper motion starts on, by the angle |mu| t."""
    a, dd = f"RADIANS({ra})", f"RADIANS({dec})"
    ua, ud = f"({pmra} * {years})", f"({pmdec} * {years})"
    if mu_r is not None:
        grow = f"(1 + {mu_r} * {years})"
    else:  # r cos(theta) + e sin(theta), e the unit direction of motion, theta = |mu| t
        theta = f"SQRT({ua} * {ua} + {ud} * {ud})"
        grow = f"COS({theta})"
        sinc = f"(CASE WHEN {theta} = 0 THEN 1 ELSE SIN({theta}) / {theta} END)"
        ua, ud = f"({ua} * {sinc})", f"({ud} * {sinc})"
    ux = f"(COS({dd}) * COS({a}) * {grow} - SIN({a}) * {ua} - SIN({dd}) * COS({a}) * {ud})"
    uy = f"(COS({dd}) * SIN({a}) * {grow} + COS({a}) * {ua} - SIN({dd}) * SIN({a}) * {ud})"
    uz = f"(SIN({dd}) * {grow} + COS({dd}) * {ud})"
    lon = f"DEGREES(ATAN2({uy}, {ux}))"
    return f"({lon} - 360.0E0 * FLOOR({lon} / 360.0E0))", f"DEGREES(ATAN2({uz}, SQRT({ux} * {ux} + {uy} * {uy})))"


def _apply_pm(d: Dialect, a: list[str], _: list[A.Expr]) -> tuple[str, str]:
    return _moved(d, a[0], a[1], f"RADIANS({a[2]})", f"RADIANS({a[3]})", a[4])


MAS = "4.84813681109536E-9"  # radians per milliarcsecond
AU_KM_S_YR = "4.740470463533348E0"  # km/s of 1 au per Julian year


def _epoch_prop_pos(d: Dialect, a: list[str], _: list[A.Expr]) -> tuple[str, str]:
    ra, dec, parallax, pmra, pmdec, rv, ref, out = a
    years = f"({out} - {ref})"
    mu_r = f"(COALESCE({rv}, 0) * COALESCE({parallax}, 0) / {AU_KM_S_YR} * {MAS})"
    return _moved(d, ra, dec, f"(COALESCE({pmra}, 0) * {MAS})", f"(COALESCE({pmdec}, 0) * {MAS})", years, mu_r)


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
    Udf("ivo_healpix_center", (("order", "INTEGER"), ("index", "BIGINT")), "POINT",
        "The centre of the nested-scheme HEALPix cell index at order (a constant, 0 to 29).",
        None, point=_healpix_center),
    Udf("ivo_apply_pm", (("ra", "DOUBLE"), ("dec", "DOUBLE"), ("pmra", "DOUBLE"), ("pmde", "DOUBLE"),
                         ("epdist", "DOUBLE")), "POINT",
        "The position ra, dec (degrees) moved by the proper motions pmra (times cos(dec)) and pmde "
        "(degrees per year) over epdist years, along the great circle the motion starts on.",
        None, point=_apply_pm),
    Udf("ivo_epoch_prop_pos", (("ra", "DOUBLE"), ("dec", "DOUBLE"), ("parallax", "DOUBLE"), ("pmra", "DOUBLE"),
                               ("pmdec", "DOUBLE"), ("radial_velocity", "DOUBLE"), ("ref_epoch", "DOUBLE"),
                               ("out_epoch", "DOUBLE")), "POINT",
        "The position at out_epoch (years) of a star at ra, dec (degrees) at ref_epoch, with parallax "
        "(mas), proper motions pmra (times cos(dec)) and pmdec (mas/yr) and radial velocity (km/s): "
        "rigorous rectilinear motion with perspective acceleration; NULL motions count as 0.",
        None, point=_epoch_prop_pos),
    Udf("ivo_stddev", (("value", "DOUBLE"),), "DOUBLE",
        "Aggregate: the sample standard deviation of the group's non-NULL values (double precision).",
        _stddev, aggregate=True),
    Udf("ivo_median", (("value", "DOUBLE"),), "DOUBLE",
        "Aggregate: the median of the group's non-NULL values, interpolated between the middle two. "
        "Not on MariaDB.", _median, aggregate=True, dialects=("postgresql", "duckdb", "spark")),
    Udf("ivo_histogram", (("value", "DOUBLE"), ("lower", "DOUBLE"), ("upper", "DOUBLE"), ("nbins", "INTEGER")),
        "INTEGER[]",
        "Aggregate: a histogram of the group's non-NULL values, nbins + 2 counts: element 0 counts values "
        "below lower, elements 1 to nbins the nbins equal bins of [lower, upper), the last values at or "
        "above upper. nbins is a constant from 1 to 1000. Not on MariaDB (no arrays).", _histogram,
        aggregate=True, dialects=("postgresql", "duckdb", "spark")),
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


def check_arity(udf: Udf, args: list[str], node: A.Func) -> None:
    if len(args) != len(udf.args):
        raise AdqlError(f"{udf.name} takes {len(udf.args)} argument{'s' if len(udf.args) != 1 else ''}: "
                        f"{udf.form}", node.line, node.col)


def emit(udf: Udf, d: Dialect, args: list[str], nodes: list[A.Expr], node: A.Func) -> str:
    check_arity(udf, args, node)
    assert udf.emit is not None, "geometry functions are emitted through emit_point"
    return udf.emit(d, args, nodes)


def emit_point(udf: Udf, d: Dialect, args: list[str], nodes: list[A.Expr], node: A.Func) -> tuple[str, str]:
    check_arity(udf, args, node)
    assert udf.point is not None
    return udf.point(d, args, nodes)
