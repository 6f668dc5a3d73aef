"""The schema -> table -> column tree a user may see, for VOSI /tap/tables and the browse pages."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.adql import ColumnInfo

from .catalog import TAP_SCHEMA, AnyUser, column_info, tables_with_columns, visible_schemas
from .models import Column, Table
from .tap_schema import tap_schema_infos


@dataclass
class TableDoc:
    schema: str
    name: str  # qualified: schema.table, as in TAP_SCHEMA.tables
    type: str = "table"
    title: str = ""
    description: str = ""
    utype: str = ""
    row_count: int | None = None
    columns: list[ColumnInfo] = field(default_factory=list)
    foreign_keys: list[dict[str, str]] = field(default_factory=list)  # {target_table, from_column, target_column}

    @property
    def table_name(self) -> str:
        """The name without its schema."""
        return self.name.split(".", 1)[1]


@dataclass
class SchemaDoc:
    name: str
    title: str = ""
    description: str = ""
    utype: str = ""
    tables: list[TableDoc] = field(default_factory=list)


def table_doc(t: Table, columns: list[Column]) -> TableDoc:
    return TableDoc(t.schema.name, t.qualified_name, t.type, t.title, t.description, t.utype, t.row_count, [column_info(c) for c in columns])


def _tap_schema_doc() -> SchemaDoc:
    doc = SchemaDoc(TAP_SCHEMA, "TAP_SCHEMA", "Metadata of the tables of this TAP service (TAP 1.1)")
    for info in tap_schema_infos():
        doc.tables.append(TableDoc(TAP_SCHEMA, f"{TAP_SCHEMA}.{info.name}", description=info.description, columns=list(info.columns)))
    return doc


def vosi_tables(user: AnyUser, *, with_tap_schema: bool = True) -> list[SchemaDoc]:
    """Schemas, their tables and columns with all metadata, as ``user`` may see them (constant number of queries)."""
    docs = {s.name: SchemaDoc(s.name, s.title, s.description, s.utype) for s in visible_schemas(user)}
    for t in tables_with_columns(user, "read"):
        schema = docs.get(t.schema.name)
        if schema is not None:
            schema.tables.append(table_doc(t, t.visible_columns))  # type: ignore[attr-defined]
    result = list(docs.values())
    if with_tap_schema:
        result.append(_tap_schema_doc())
    return result


def vosi_table(user: AnyUser, qualified_name: str) -> TableDoc | None:
    """One table (``schema.table``, case-insensitive) for /tap/tables/<name>, or None if the user may not see it."""
    for schema in vosi_tables(user):
        for t in schema.tables:
            if t.name.lower() == qualified_name.lower():
                return t
    return None
