"""Metadata the validator checks a query against: tables, columns, functions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    datatype: str  # ADQL/VOTable type: DOUBLE, BIGINT, VARCHAR, POINT, TIMESTAMP ...
    arraysize: str | None = None
    xtype: str | None = None
    unit: str = ""
    ucd: str = ""
    description: str = ""
    utype: str = ""
    principal: bool = False
    indexed: bool = False


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    columns: tuple[ColumnInfo, ...]
    description: str = ""
    # Trusted, pre-quoted FROM fragment used verbatim instead of "schema"."name".
    sql_from: str | None = None


@dataclass(frozen=True)
class FunctionInfo:
    """A user-defined function; ``sql`` maps dialect to a name or a template.

    A template contains ``{0}``, ``{1}`` ... (or ``{args}`` for all arguments)
    and is filled with the already-emitted argument SQL.
    """

    name: str
    return_type: str
    sql: dict[str, str] = field(default_factory=dict)


def fold(name: str, delimited: bool) -> str:
    """The lookup key of an identifier: regular ones are case-insensitive."""
    return name if delimited else name.lower()


class Catalog:
    """Tables and functions a query may use, looked up by ADQL case rules."""

    def __init__(self, tables: Iterable[TableInfo], functions: Iterable[FunctionInfo] = ()) -> None:
        self.tables: list[TableInfo] = list(tables)
        self.functions: dict[str, FunctionInfo] = {f.name.lower(): f for f in functions}
        self._by_name: dict[str, list[TableInfo]] = {}
        for t in self.tables:
            self._by_name.setdefault(t.name.lower(), []).append(t)

    def find_tables(self, schema: str | None, name: str, delimited: bool = False,
                    schema_delimited: bool = False) -> list[TableInfo]:
        """All tables matching; a regular identifier matches any case."""
        found = []
        for t in self._by_name.get(name.lower(), []):
            if delimited and t.name != name:
                continue
            if schema is not None:
                if schema_delimited and t.schema != schema:
                    continue
                if not schema_delimited and t.schema.lower() != schema.lower():
                    continue
            found.append(t)
        return found

    def function(self, name: str) -> FunctionInfo | None:
        return self.functions.get(name.lower())

    def table_names(self) -> list[str]:
        return [f"{t.schema}.{t.name}" if t.schema else t.name for t in self.tables]
