"""What differs between the SQL engines we emit for: quoting, functions, types."""

from __future__ import annotations

from .errors import AdqlError

DIALECTS = ("postgresql", "mariadb", "duckdb", "spark")


class Dialect:
    name = "base"
    lower_unquoted = False  # does the engine fold unquoted names to lower case?

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


class PostgreSQL(Dialect):
    name = "postgresql"
    lower_unquoted = True

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


class MariaDB(Dialect):
    name = "mariadb"

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


class Spark(Dialect):
    name = "spark"

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
