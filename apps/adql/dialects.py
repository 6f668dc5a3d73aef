"""What differs between the SQL engines we emit for: quoting, functions, types."""

from __future__ import annotations

from collections.abc import Callable

from .errors import AdqlError

DIALECTS = ("postgresql", "mariadb", "duckdb", "spark")


class Dialect:
    name = "base"
    title = "SQL"  # how messages name the engine
    lower_unquoted = False  # does the engine fold unquoted names to lower case?
    native_geometry = False  # pg_sphere types (spoint, scircle ...) instead of plain numbers
    full_join = True  # FULL OUTER JOIN
    seeded_rand = False  # does RAND(seed) use its seed?
    zone_crossmatch = True  # neighbour joins by declination zones (crossmatch.py); else q3c_join
    unnest_lists = True  # can a list value be turned into rows (crossmatch zones)?
    ra_window_bounds = False  # crossmatch RA window as lo <= ra <= hi join comparisons (its SQL needs EXCLUDE)
    literal_separator_only = False  # must ivo_string_agg's separator be a string literal?

    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def string(self, value: str) -> str:
        if "\x00" in value:
            raise AdqlError("strings cannot contain the NUL character")
        return "'" + value.replace("'", "''") + "'"

    def concat(self, left: str, right: str) -> str:
        return f"({left} || {right})"

    def concat_all(self, parts: list[str]) -> str:
        return "(" + " || ".join(parts) + ")"

    def double(self, value: float) -> str:
        """An approximate number literal typed DOUBLE (not DECIMAL) by the engine."""
        text = repr(float(value))
        if text in ("inf", "-inf", "nan"):
            raise AdqlError("numbers must be finite")
        text = text if "e" in text else text + "E0"
        return f"({text})" if text.startswith("-") else text  # never "--", a comment

    def collated(self, literal: str) -> str:
        """A string literal as compared: engines other than MariaDB compare bytes already."""
        return literal

    def like(self, left: str, pattern: str, negated: bool, ilike: bool) -> str:
        op = ("NOT " if negated else "") + ("ILIKE" if ilike else "LIKE")
        return f"({left} {op} {pattern})"

    def limit(self, limit: int | None, offset: int | None) -> str:
        out = ""
        if limit is not None:
            out += f" LIMIT {limit}"
        if offset is not None:
            out += f" OFFSET {offset}"
        return out

    def cast_type(self, ty: str, length: int | None) -> str:
        if ty in ("CHAR", "VARCHAR"):
            return f"{ty}({length})" if length is not None else ty
        return "DOUBLE PRECISION" if ty == "DOUBLE" else ty

    def math(self, name: str, args: list[str]) -> str:
        """The built-in ADQL maths functions; ``args`` are emitted SQL.

        Outside a function's domain the answer is NULL on every engine (never an
        error, never NaN or infinity): the guards below are plain CASE expressions.
        """
        guarded = _guarded(name, args)
        if guarded is not None:
            return guarded
        fn = {"LOG": "LN", "CEILING": "CEILING"}.get(name, name)
        if name == "RAND":
            return "RANDOM()"
        if name == "TRUNCATE":
            return self.truncate(args)
        if name == "MOD":
            return self.remainder(args[0], args[1])
        if name == "ROUND":
            return self.round(args[0], args[1] if len(args) > 1 else None)
        return f"{fn}({', '.join(args)})"

    def remainder(self, a: str, b: str) -> str:
        """MOD: the sign follows the dividend (as C, Java and SQL-92 do); MOD(a, 0) is NULL."""
        return f"({a} % NULLIF({b}, 0))"

    def round(self, x: str, digits: str | None) -> str:
        """ROUND: halves away from zero, on approximate numbers too."""
        scale = f"POWER(10, {digits})" if digits is not None else None
        scaled = f"ABS({x}) * {scale}" if scale else f"ABS({x})"
        out = f"SIGN({x}) * FLOOR({scaled} + 0.5E0)"
        return f"({out} / {scale})" if scale else f"({out})"

    def int_div(self, a: str, b: str) -> str:
        """Exact-numeric division (SQL-92): truncated toward zero; by zero it is NULL."""
        return f"CAST(({a} / NULLIF({b}, 0)) AS BIGINT)"

    def div(self, a: str, b: str) -> str:
        """Approximate division; by zero it is NULL."""
        return f"({a} / NULLIF({b}, 0))"

    def order_item(self, sql: str, desc: bool) -> str:
        """NULLs sort as larger than any value (PostgreSQL's rule), said explicitly."""
        return f"{sql} DESC NULLS FIRST" if desc else f"{sql} ASC NULLS LAST"

    def order_by_output(self, alias: str, aggregate_sql: str | None) -> str:
        """An ORDER BY key naming a selected column (``aggregate_sql``: it is an aggregate)."""
        return alias

    def array_element(self, array: str, index: int) -> str:
        """Element ``index`` (from 0) of an array value; SQL arrays count from 1."""
        return f"{array}[{index + 1}]"

    def value_list(self, items: list[str]) -> str:
        """A list value (for unnest_rows)."""
        return f"[{', '.join(items)}]"

    def unnest_rows(self, values: str) -> str:
        """One row per element of a list value, in a select list."""
        return f"UNNEST({values})"

    def position(self, haystack: str, needle: str) -> str:
        """Where ``needle`` first occurs in ``haystack`` (from 1), 0 if nowhere."""
        return f"STRPOS({haystack}, {needle})"

    def string_agg(self, text: str, separator: str) -> str:
        """The texts of a group joined in byte order."""
        return f"STRING_AGG({text}, {separator} ORDER BY {text})"

    def percentile(self, x: str, p: str) -> str:
        """The continuous percentile ``p`` (0..1) of a group's (double) values."""
        return f"PERCENTILE_CONT({p}) WITHIN GROUP (ORDER BY {x})"

    def evaluate_once(self, values: list[tuple[str, str]], body: Callable[[list[str]], str]) -> str:
        """``body`` of the named ``values`` (SQL), each computed once however often used."""
        return body([sql for _, sql in values])

    def as_double(self, sql: str) -> str:
        return f"CAST({sql} AS {self.cast_type('DOUBLE', None)})"

    def as_text(self, sql: str) -> str:
        return f"CAST({sql} AS VARCHAR)"

    def as_int(self, sql: str) -> str:
        return f"CAST({sql} AS BIGINT)"

    def pad(self, text: str, length: int) -> str:
        """CAST(x AS CHAR(n)): cut to n characters or padded with blanks to n."""
        return f"RPAD({text}, {length}, ' ')"

    def cut(self, text: str, length: int) -> str:
        """CAST(x AS VARCHAR(n)): at most n characters."""
        return f"SUBSTRING({text}, 1, {length})"

    def truncate(self, args: list[str]) -> str:
        if len(args) == 1:
            return f"TRUNC({args[0]})"
        return f"TRUNC({args[0]}, {args[1]})"

    def mod(self, a: str, b: str) -> str:
        return f"MOD({a}, {b})"

    def array(self, items: list[str]) -> str:
        return "ARRAY[" + ", ".join(f"CAST({i} AS DOUBLE PRECISION)" for i in items) + "]"

    def int_array(self, items: list[str]) -> str:
        return "ARRAY[" + ", ".join(f"CAST({i} AS INTEGER)" for i in items) + "]"


class PostgreSQL(Dialect):
    name = "postgresql"
    title = "PostgreSQL"
    lower_unquoted = True
    native_geometry = True
    zone_crossmatch = False

    def string_agg(self, text: str, separator: str) -> str:
        return f'STRING_AGG({text}, {separator} ORDER BY {text} COLLATE "C")'

    def evaluate_once(self, values: list[tuple[str, str]], body: Callable[[list[str]], str]) -> str:
        # PostgreSQL copies an argument into every place it is used when it flattens a
        # subquery; behind the OFFSET 0 fence each value is computed once.
        inner = body([f'"_hpx".{self.ident(name)}' for name, _ in values])
        fenced = ", ".join(f"{sql} AS {self.ident(name)}" for name, sql in values)
        return f'(SELECT {inner} FROM (SELECT {fenced} OFFSET 0) AS "_hpx")'

    def double(self, value: float) -> str:
        return f"CAST({super().double(value)} AS DOUBLE PRECISION)"

    def like(self, left: str, pattern: str, negated: bool, ilike: bool) -> str:
        # ADQL has no escape character; PostgreSQL's default is backslash.
        op = ("NOT " if negated else "") + ("ILIKE" if ilike else "LIKE")
        return f"({left} {op} {pattern} ESCAPE '')"

    def math(self, name: str, args: list[str]) -> str:
        # round/trunc with a digit count and mod exist only for numeric.
        if name == "TRUNCATE" and len(args) == 2:
            return f"CAST(TRUNC(CAST({args[0]} AS NUMERIC), {args[1]}) AS DOUBLE PRECISION)"
        return super().math(name, args)

    def remainder(self, a: str, b: str) -> str:
        # % exists for integers and numeric only; the translator passes typed operands.
        return f"CAST(MOD(CAST({a} AS NUMERIC), NULLIF(CAST({b} AS NUMERIC), 0)) AS DOUBLE PRECISION)"

    def mod(self, a: str, b: str) -> str:
        return f"CAST(MOD(CAST({a} AS NUMERIC), CAST({b} AS NUMERIC)) AS DOUBLE PRECISION)"

    def as_text(self, sql: str) -> str:
        return f"CAST({sql} AS TEXT)"


class DuckDB(Dialect):
    name = "duckdb"
    title = "DuckDB"
    ra_window_bounds = True  # its hash join checks comparisons beside the key, cheaper than the modulo test after it

    def percentile(self, x: str, p: str) -> str:
        return f"QUANTILE_CONT({x}, {p})"

    def truncate(self, args: list[str]) -> str:
        if len(args) == 1:
            return f"TRUNC({args[0]})"
        return f"(TRUNC({args[0]} * POWER(10, {args[1]})) / POWER(10, {args[1]}))"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} // NULLIF({b}, 0))"

    def mod(self, a: str, b: str) -> str:
        return f"FMOD({a}, {b})"

    def cast_type(self, ty: str, length: int | None) -> str:
        return {"DOUBLE": "DOUBLE", "CHAR": "VARCHAR"}.get(ty, ty)

    def array(self, items: list[str]) -> str:
        return "[" + ", ".join(f"CAST({i} AS DOUBLE)" for i in items) + "]"

    def int_array(self, items: list[str]) -> str:
        return "[" + ", ".join(f"CAST({i} AS INTEGER)" for i in items) + "]"


class MariaDB(Dialect):
    name = "mariadb"
    title = "MariaDB"
    full_join = False
    seeded_rand = True
    unnest_lists = False
    literal_separator_only = True

    def position(self, haystack: str, needle: str) -> str:
        return f"INSTR({haystack}, {needle})"

    def string_agg(self, text: str, separator: str) -> str:
        return f"GROUP_CONCAT({text} ORDER BY {text} SEPARATOR {separator})"

    def percentile(self, x: str, p: str) -> str:
        raise AdqlError("medians and percentiles are not available on MariaDB (it has them only as "
                        "window functions)")

    def ident(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def string(self, value: str) -> str:
        # MariaDB treats backslash as an escape unless NO_BACKSLASH_ESCAPES.
        return super().string(value.replace("\\", "\\\\"))

    def concat(self, left: str, right: str) -> str:
        return f"CONCAT({left}, {right})"  # || is OR in MariaDB's default mode

    def concat_all(self, parts: list[str]) -> str:
        return "CONCAT(" + ", ".join(parts) + ")"

    def like(self, left: str, pattern: str, negated: bool, ilike: bool) -> str:
        neg = "NOT " if negated else ""
        if ilike:
            return f"(LOWER({left}) {neg}LIKE LOWER({pattern}) ESCAPE '\\0')"
        # The default collations are case-insensitive; ADQL LIKE is not.
        return f"(CAST({left} AS BINARY) {neg}LIKE CAST({pattern} AS BINARY) ESCAPE '\\0')"

    def limit(self, limit: int | None, offset: int | None) -> str:
        if offset is not None and limit is None:
            limit = 2**64 - 1  # MariaDB has no OFFSET without LIMIT
        return super().limit(limit, offset)

    def math(self, name: str, args: list[str]) -> str:
        if name == "RAND":
            return f"RAND({', '.join(args)})"
        return super().math(name, args)

    def truncate(self, args: list[str]) -> str:
        return f"TRUNCATE({args[0]}, {args[1] if len(args) > 1 else 0})"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} DIV NULLIF({b}, 0))"

    def div(self, a: str, b: str) -> str:
        # Without the cast MariaDB divides integers as DECIMAL with 4 decimals.
        return f"({self.as_double(a)} / NULLIF({b}, 0))"

    def remainder(self, a: str, b: str) -> str:
        return f"MOD({a}, NULLIF({b}, 0))"

    def order_item(self, sql: str, desc: bool) -> str:
        # No NULLS FIRST/LAST: sort on "is it NULL" first.
        return f"({sql} IS NULL) DESC, {sql} DESC" if desc else f"({sql} IS NULL) ASC, {sql} ASC"

    def order_by_output(self, alias: str, aggregate_sql: str | None) -> str:
        # order_item tests the key in an expression, where an aggregate's alias is refused
        # (error 1247): repeat the aggregate instead.
        return aggregate_sql if aggregate_sql is not None else alias

    def as_double(self, sql: str) -> str:
        return f"CAST({sql} AS DOUBLE)"

    def as_text(self, sql: str) -> str:
        # Not CAST(... AS CHAR): that takes the connection's (case-insensitive) collation.
        return f"(CONVERT({sql} USING utf8mb4) COLLATE utf8mb4_nopad_bin)"

    def as_int(self, sql: str) -> str:
        return f"CAST({sql} AS SIGNED)"

    def collated(self, literal: str) -> str:
        """A string literal compared case- and blank-sensitively whatever the column's collation."""
        return f"_utf8mb4{literal} COLLATE utf8mb4_nopad_bin"

    def cast_type(self, ty: str, length: int | None) -> str:
        if ty in ("SMALLINT", "INTEGER", "BIGINT"):
            return "SIGNED"
        if ty in ("CHAR", "VARCHAR"):
            return f"CHAR({length})" if length is not None else "CHAR"
        return {"REAL": "DOUBLE", "TIMESTAMP": "DATETIME"}.get(ty, ty)

    def array(self, items: list[str]) -> str:
        # No arrays: the DALI text form "x y ..." instead.
        return "CONCAT_WS(' ', " + ", ".join(items) + ")"

    def int_array(self, items: list[str]) -> str:
        return self.array(items)


class Spark(Dialect):
    name = "spark"
    title = "Spark"
    seeded_rand = True

    def array_element(self, array: str, index: int) -> str:
        return f"{array}[{index}]"  # Spark's arrays count from 0

    def value_list(self, items: list[str]) -> str:
        return f"array({', '.join(items)})"

    def unnest_rows(self, values: str) -> str:
        return f"explode({values})"

    def position(self, haystack: str, needle: str) -> str:
        return f"INSTR({haystack}, {needle})"

    def string_agg(self, text: str, separator: str) -> str:
        return f"ARRAY_JOIN(ARRAY_SORT(COLLECT_LIST({text})), {separator})"

    def percentile(self, x: str, p: str) -> str:
        return f"PERCENTILE({x}, {p})"

    def ident(self, name: str) -> str:
        return "`" + name.replace("`", "``") + "`"

    def string(self, value: str) -> str:
        if "\x00" in value:
            raise AdqlError("strings cannot contain the NUL character")
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"

    def like(self, left: str, pattern: str, negated: bool, ilike: bool) -> str:
        op = ("NOT " if negated else "") + ("ILIKE" if ilike else "LIKE")
        return f"({left} {op} {pattern} ESCAPE '\\u0000')"

    def math(self, name: str, args: list[str]) -> str:
        if name == "RAND":
            return f"RAND({', '.join(args)})"
        return super().math(name, args)

    def round(self, x: str, digits: str | None) -> str:
        # Spark's ROUND is HALF_UP (away from zero); its FLOOR returns BIGINT, which overflows.
        return f"ROUND({x}, {digits})" if digits is not None else f"ROUND({x})"

    def int_div(self, a: str, b: str) -> str:
        return f"({a} DIV NULLIF({b}, 0))"

    def as_text(self, sql: str) -> str:
        return f"CAST({sql} AS STRING)"

    def truncate(self, args: list[str]) -> str:
        scale = f"POWER(10, {args[1]})" if len(args) > 1 else "1"
        x = args[0]
        return (f"(CASE WHEN {x} >= 0 THEN FLOOR({x} * {scale}) ELSE CEIL({x} * {scale}) END"
                f" / {scale})")

    def cast_type(self, ty: str, length: int | None) -> str:
        return {"INTEGER": "INT", "REAL": "FLOAT", "DOUBLE": "DOUBLE", "CHAR": "STRING",
                "VARCHAR": "STRING"}.get(ty, ty)

    def mod(self, a: str, b: str) -> str:
        return f"PMOD({a}, {b})"

    def array(self, items: list[str]) -> str:
        return "ARRAY(" + ", ".join(f"CAST({i} AS DOUBLE)" for i in items) + ")"

    def int_array(self, items: list[str]) -> str:
        return "ARRAY(" + ", ".join(f"CAST({i} AS INT)" for i in items) + ")"


# Arguments outside a function's domain give NULL: (condition for a value, SQL template).
DOMAINS = {
    "LOG": ("{0} > 0", "LN({0})"),
    "LOG10": ("{0} > 0", "LOG10({0})"),
    "SQRT": ("{0} >= 0", "SQRT({0})"),
    "ASIN": ("{0} BETWEEN -1 AND 1", "ASIN({0})"),
    "ACOS": ("{0} BETWEEN -1 AND 1", "ACOS({0})"),
    "EXP": ("{0} <= 709.782712893384E0", "EXP({0})"),  # beyond it a double overflows
    # A negative base needs a whole exponent; zero has no negative powers; no overflow.
    "POWER": ("NOT (({0} < 0 AND {1} <> FLOOR({1})) OR ({0} = 0 AND {1} < 0)) AND "
              "({0} = 0 OR {1} * LN(ABS({0})) <= 709.782712893384E0)", "POWER({0}, {1})"),
}


def _guarded(name: str, args: list[str]) -> str | None:
    domain = DOMAINS.get(name)
    if domain is None:
        return None
    test, value = (part.format(*args) for part in domain)
    return f"(CASE WHEN {test} THEN {value} END)"


_DIALECTS: dict[str, Dialect] = {
    "postgresql": PostgreSQL(), "mariadb": MariaDB(), "duckdb": DuckDB(), "spark": Spark(),
}


def get_dialect(name: str) -> Dialect:
    try:
        return _DIALECTS[name]
    except KeyError:
        raise AdqlError(f"unknown SQL dialect {name!r}; choose one of {', '.join(DIALECTS)}") from None
