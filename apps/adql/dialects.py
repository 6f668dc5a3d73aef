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
        """The built-in ADQL maths functions; ``args`` are emitted SQL."""
        fn = {"LOG": "LN", "CEILING": "CEILING", "RAND": "RANDOM"}.get(name, name)
        if name == "RAND":
            return "RANDOM()"
        if name == "TRUNCATE":
            return self.truncate(args)
        if name == "MOD":
            return f"MOD({args[0]}, {args[1]})"
        return f"{fn}({', '.join(args)})"

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
        if name in ("ROUND", "TRUNCATE") and len(args) == 2:
            fn = "ROUND" if name == "ROUND" else "TRUNC"
            return f"CAST({fn}(CAST({args[0]} AS NUMERIC), {args[1]}) AS DOUBLE PRECISION)"
        if name == "MOD":
            return f"MOD(CAST({args[0]} AS NUMERIC), CAST({args[1]} AS NUMERIC))"
        return super().math(name, args)

    def mod(self, a: str, b: str) -> str:
        return f"CAST(MOD(CAST({a} AS NUMERIC), CAST({b} AS NUMERIC)) AS DOUBLE PRECISION)"


class DuckDB(Dialect):
    name = "duckdb"

    def math(self, name: str, args: list[str]) -> str:
        if name == "MOD":
            return f"FMOD({args[0]}, {args[1]})"
        return super().math(name, args)

    def truncate(self, args: list[str]) -> str:
        if len(args) == 1:
            return f"TRUNC({args[0]})"
        return f"(TRUNC({args[0]} * POWER(10, {args[1]})) / POWER(10, {args[1]}))"

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
        if name == "MOD":
            return f"MOD({args[0]}, {args[1]})"
        return super().math(name, args)

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


_DIALECTS: dict[str, Dialect] = {
    "postgresql": PostgreSQL(), "mariadb": MariaDB(), "duckdb": DuckDB(), "spark": Spark(),
}


def get_dialect(name: str) -> Dialect:
    try:
        return _DIALECTS[name]
    except KeyError:
        raise AdqlError(f"unknown SQL dialect {name!r}; choose one of {', '.join(DIALECTS)}") from None
