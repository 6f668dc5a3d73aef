"""Ready-to-run ADQL examples, written once for the table pages, the query page
and TAP's /examples. Names are delimited where ADQL needs it (reserved words,
mixed case), so an example never fails on a column called e.g. "size"."""

from __future__ import annotations

from apps.adql import adql_name

TAP_SCHEMA_TABLES = "SELECT schema_name, table_name, description\nFROM TAP_SCHEMA.tables\nORDER BY schema_name, table_name"


def table_ref(schema: str, table: str) -> str:
    return f"{adql_name(schema)}.{adql_name(table)}"


def first_rows(table: str, rows: int = 10) -> str:
    return f"SELECT TOP {rows} * FROM {table}"


def cone_search(table: str, ra: str, dec: str, ra0: float, dec0: float, radius: float) -> str:
    """Objects within ``radius`` degrees of (ra0, dec0), nearest first."""
    point = f"POINT('ICRS', {adql_name(ra)}, {adql_name(dec)})"
    return (f"SELECT TOP 100 *, DISTANCE({point}, POINT('ICRS', {ra0}, {dec0})) AS dist\n"
            f"FROM {table}\nWHERE 1 = CONTAINS({point}, CIRCLE('ICRS', {ra0}, {dec0}, {radius}))\nORDER BY dist")


def histogram(table: str, column: str, width: float = 1) -> str:
    """Counts per bin of ``width`` in ``column``."""
    col = adql_name(column)
    binned = f"FLOOR({col})" if width == 1 else f"FLOOR({col} / {width}) * {width}"
    return f"SELECT {binned} AS bin, COUNT(*) AS n\nFROM {table}\nGROUP BY {binned}\nORDER BY bin"
