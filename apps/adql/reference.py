"""The user-facing ADQL reference, generated from the tables the translator uses.

``sections()`` lists every operator, function and built-in UDF with what it means,
its NULL rule and its unit, for the reference page (templates/query/adql_reference.html).
Arities come from the parser's tables, domains from the dialects' guards, the UDFs
from udfs.py, so the page cannot drift from what the translator does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .dialects import DOMAINS
from .parser import AGGREGATES, GEOM_FUNCTIONS, MATH_FUNCTIONS
from .udfs import UDFS


@dataclass(frozen=True)
class Entry:
    form: str
    returns: str
    meaning: str
    nulls: str = "NULL if an argument is NULL."
    unit: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    intro: str
    entries: tuple[Entry, ...]


RULES = (
    "The same query gives the same answer on every database engine of this service "
    "(PostgreSQL, MariaDB, DuckDB, Spark); the rules below are applied explicitly for each.",
    "Integer ÷ integer is an integer, truncated toward zero (7 / 2 = 3, -7 / 2 = -3), as in SQL-92 "
    "and PostgreSQL-based TAP services. Write 7 / 2.0 or 1.0 * a / b for a fractional result.",
    "Division by zero, and maths outside a function's domain (LOG of 0 or a negative, SQRT of a "
    "negative, ASIN/ACOS beyond ±1, overflow of EXP or POWER) give NULL — never an error, never NaN. "
    "NULLs are ignored by aggregates and are neither true nor false in WHERE.",
    "NULLs sort as larger than any value: last with ORDER BY … ASC, first with DESC.",
    "Text compares case- and trailing-blank-sensitively ('alpha' ≠ 'Alpha' ≠ 'alpha '), in =, <, IN, "
    "DISTINCT, GROUP BY and LIKE; use ILIKE, LOWER or UPPER to ignore case.",
    "Text and numbers do not mix: name = 0 or name + 1 is an error, not a silent conversion; "
    "CAST one side. With GROUP BY or an aggregate every other selected column must be grouped.",
    "AVG is computed in double precision; SUM and COUNT of integers are integers.",
    "Positions are degrees; DISTANCE is in degrees, AREA in square degrees. Coordinate systems are "
    "not converted (a warning says so for frames other than ICRS).",
)

_OPERATORS = (
    Entry("a + b, a - b, a * b", "integer if both are integers, else DOUBLE", "Arithmetic."),
    Entry("a / b", "integer if both are integers (truncated toward zero), else DOUBLE",
          "Division.", "NULL if an argument is NULL or b is 0."),
    Entry("-a", "the type of a", "Negation."),
    Entry("a || b", "VARCHAR", "Joins two texts."),
    Entry("LOWER(s), UPPER(s)", "VARCHAR", "Text in lower or upper case."),
    Entry("=, <>, !=, <, <=, >, >=", "condition", "Comparison of numbers with numbers, text with text "
          "(by code point, case- and blank-sensitive).", "Unknown (neither true nor false) if a side is NULL."),
    Entry("a BETWEEN low AND high", "condition", "low <= a AND a <= high."),
    Entry("a IN (x, y, …), a IN (subquery)", "condition", "a equals one of the values."),
    Entry("a LIKE pattern, a ILIKE pattern", "condition", "% matches any text, _ one character; LIKE is "
          "case-sensitive, ILIKE not. There is no escape character."),
    Entry("a IS NULL, a IS NOT NULL", "condition", "Tests for NULL.", "Never NULL."),
    Entry("CASE WHEN … THEN … ELSE … END, COALESCE(a, b, …)", "the type of the results",
          "Conditional value; COALESCE is the first argument that is not NULL."),
    Entry("CAST(x AS type)", "type", "SMALLINT, INTEGER, BIGINT round approximate numbers half away "
          "from zero (2.5 → 3); CHAR(n) cuts or blank-pads to n characters, VARCHAR(n) cuts; "
          "DOUBLE PRECISION, REAL; POINT, CIRCLE, POLYGON from a string of numbers."),
    Entry("IN_UNIT(x, 'unit')", "DOUBLE, in unit", "x converted to a VOUnit. The unit of x comes from the "
          "columns' metadata through the expression (pmra * 2 is mas/yr; SQRT(POWER(pmra, 2) + POWER(pmdec, 2)) "
          "too); angles count as ratios only when nothing else converts, so pmra * distance gives km/s "
          "(the 4.74 rule). An expression of unknown unit, or units that cannot convert, is refused."),
)

_MATH = {
    "ABS": ("absolute value", "the type of x"), "ACOS": ("arc cosine, radians", "DOUBLE"),
    "ASIN": ("arc sine, radians", "DOUBLE"), "ATAN": ("arc tangent, radians", "DOUBLE"),
    "ATAN2": ("arc tangent of y/x, radians, in the quadrant of (x, y)", "DOUBLE"),
    "CEILING": ("smallest integer ≥ x", "DOUBLE"), "COS": ("cosine of radians", "DOUBLE"),
    "COT": ("cotangent of radians", "DOUBLE"), "DEGREES": ("radians to degrees", "DOUBLE"),
    "EXP": ("e to the power x", "DOUBLE"), "FLOOR": ("largest integer ≤ x", "DOUBLE"),
    "LOG": ("natural logarithm", "DOUBLE"), "LOG10": ("base-10 logarithm", "DOUBLE"),
    "MOD": ("remainder of x / y, with the sign of x (MOD(-7, 3) = -1)", "integer for integers, else DOUBLE"),
    "PI": ("π", "DOUBLE"), "POWER": ("x to the power y", "DOUBLE"), "RADIANS": ("degrees to radians", "DOUBLE"),
    "RAND": ("a random number in [0, 1)", "DOUBLE"),
    "ROUND": ("x rounded to n decimals (default 0), halves away from zero (2.5 → 3, -2.5 → -3)",
              "integer for an integer, else DOUBLE"),
    "SIN": ("sine of radians", "DOUBLE"), "SQRT": ("square root", "DOUBLE"), "TAN": ("tangent of radians", "DOUBLE"),
    "TRUNCATE": ("x cut to n decimals (default 0), toward zero", "DOUBLE"),
}
_ARG_NAMES = {0: "", 1: "x", 2: "x, y"}
_DOMAIN_TEXT = {
    "LOG": "x ≤ 0", "LOG10": "x ≤ 0", "SQRT": "x < 0", "ASIN": "x outside [-1, 1]", "ACOS": "x outside [-1, 1]",
    "EXP": "the result would overflow (x > 709.78)",
    "POWER": "x < 0 with a fractional y, x = 0 with y < 0, or the result would overflow",
}

_GEOMETRY = (
    Entry("POINT('ICRS', ra, dec)", "POINT", "A position.", unit="deg"),
    Entry("CIRCLE('ICRS', ra, dec, radius), CIRCLE('ICRS', point, radius)", "CIRCLE", "A cone.", unit="deg"),
    Entry("BOX('ICRS', ra, dec, width, height)", "POLYGON", "A box in RA and Dec around a centre; "
          "a box reaching past a pole stops at the pole.", unit="deg"),
    Entry("POLYGON('ICRS', ra1, dec1, ra2, dec2, ra3, dec3, …)", "POLYGON",
          "Great-circle edges; of the two regions they bound the smaller one is meant.", unit="deg"),
    Entry("REGION('stc-s')", "the shape", "An STC-S region: Position, Circle, Box, Polygon, and Union, "
          "Intersection, Not of regions (the combinations inside CONTAINS and INTERSECTS).", unit="deg"),
    Entry("CONTAINS(a, b)", "INTEGER", "1 if a is inside b, else 0; write 1 = CONTAINS(…) in WHERE."),
    Entry("INTERSECTS(a, b)", "INTEGER", "1 if a and b overlap, else 0."),
    Entry("DISTANCE(p, q), DISTANCE(ra1, dec1, ra2, dec2)", "DOUBLE", "Great-circle distance.", unit="deg"),
    Entry("AREA(shape)", "DOUBLE", "Area on the sphere.", unit="deg**2"),
    Entry("CENTROID(shape)", "POINT", "Centre of a shape.", unit="deg"),
    Entry("COORD1(point), COORD2(point)", "DOUBLE", "RA and Dec of a point.", unit="deg"),
    Entry("COORDSYS(shape)", "VARCHAR", "The coordinate system written in the shape."),
)

_AGGREGATES = {
    "COUNT": ("COUNT(*), COUNT(x), COUNT(DISTINCT x)", "BIGINT", "Number of rows, or of non-NULL values.",
              "NULLs are not counted; never NULL."),
    "SUM": ("SUM(x)", "integer for integers, else DOUBLE", "Sum.", "NULLs are ignored; NULL for no values."),
    "AVG": ("AVG(x)", "DOUBLE", "Mean, in double precision.", "NULLs are ignored; NULL for no values."),
    "MIN": ("MIN(x)", "the type of x", "Smallest value (text by code point).", "NULLs are ignored."),
    "MAX": ("MAX(x)", "the type of x", "Largest value (text by code point).", "NULLs are ignored."),
}


def _math_entries() -> tuple[Entry, ...]:
    out = []
    for name, (_lo, hi) in sorted(MATH_FUNCTIONS.items()):
        meaning, returns = _MATH[name]
        args = _ARG_NAMES[hi] if name not in ("ROUND", "TRUNCATE") else "x [, n]"
        nulls = "NULL if an argument is NULL"
        if name in DOMAINS:
            nulls += f", or if {_DOMAIN_TEXT[name]}"
        if name == "MOD":
            nulls += ", or if y = 0"
        out.append(Entry(f"{name}({args})", returns, meaning[0].upper() + meaning[1:] + ".", nulls + "."))
    return tuple(out)


def sections() -> list[Section]:
    assert set(_AGGREGATES) == AGGREGATES and set(GEOM_FUNCTIONS) <= {
        n for e in _GEOMETRY for n in GEOM_FUNCTIONS if n in e.form}, "the reference misses a function"
    udfs = tuple(Entry(u.form.split(" -> ")[0], u.return_type, u.description,
                       "Aggregate: NULLs are ignored." if u.aggregate else "See the description.")
                 for u in UDFS.values())
    return [
        Section("Operators and expressions", "", _OPERATORS),
        Section("Mathematical functions", "Angles are radians unless the name says degrees.", _math_entries()),
        Section("Aggregate functions", "With GROUP BY one value per group, else one for all rows.",
                tuple(Entry(*v) for v in _AGGREGATES.values())),
        Section("Geometry", "Coordinates in degrees; the coordinate system may be left out.", _GEOMETRY),
        Section("Built-in user-defined functions", "Declared in the TAP capabilities (TAPRegExt); a "
                "function the data centre publishes under the same name replaces the built-in one.", udfs),
    ]
