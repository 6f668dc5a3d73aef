"""TAP 1.1 TAP_SCHEMA, generated per user from the published metadata.

Nothing is stored: for a query on TAP_SCHEMA the query service calls
``register_tap_schema(connection, user)``, which registers the five tables
as Arrow views private to that DuckDB connection (so two users' queries never
see each other's TAP_SCHEMA). The TableInfos point at those views through
``sql_from``; users still write ``TAP_SCHEMA.tables`` in ADQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa
from django.core.cache import cache

from apps.adql import ColumnInfo, TableInfo, adql_name

from .catalog import TAP_SCHEMA, AnyUser, metadata_version, tables_with_columns, visible_schemas
from .datatypes import votable_type

# (name, ADQL type, description, ucd): the standard columns of each TAP_SCHEMA table.
Spec = tuple[str, str, str]
SPECS: dict[str, tuple[str, list[Spec]]] = {
    "schemas": ("The schemas of this service", [
        ("schema_name", "VARCHAR", "Fully qualified schema name"),
        ("utype", "VARCHAR", "UType of the schema"),
        ("description", "VARCHAR", "Description of the schema"),
        ("schema_index", "INTEGER", "Recommended sort order when listing schemas"),
    ]),
    "tables": ("The tables of this service", [
        ("schema_name", "VARCHAR", "The schema this table belongs to"),
        ("table_name", "VARCHAR", "Fully qualified table name"),
        ("table_type", "VARCHAR", "One of: table, view"),
        ("utype", "VARCHAR", "UType of the table"),
        ("description", "VARCHAR", "Description of the table"),
        ("table_index", "INTEGER", "Recommended sort order when listing tables"),
    ]),
    "columns": ("The columns of the tables of this service", [
        ("table_name", "VARCHAR", "Fully qualified table name"),
        ("column_name", "VARCHAR", "Column name"),
        ("datatype", "VARCHAR", "VOTable datatype"),
        ("arraysize", "VARCHAR", "VOTable arraysize"),
        ("xtype", "VARCHAR", "VOTable xtype"),
        ("size", "INTEGER", "Deprecated length of fixed-size arrays (use arraysize)"),
        ("description", "VARCHAR", "Description of the column"),
        ("utype", "VARCHAR", "UType of the column"),
        ("unit", "VARCHAR", "Unit in VOUnit syntax"),
        ("ucd", "VARCHAR", "UCD of the column"),
        ("indexed", "INTEGER", "1 if the column is indexed, else 0"),
        ("principal", "INTEGER", "1 if the column is principal, else 0"),
        ("std", "INTEGER", "1 if the column is defined by a standard, else 0"),
        ("column_index", "INTEGER", "Recommended sort order when listing columns"),
    ]),
    "keys": ("Foreign keys between tables of this service", [
        ("key_id", "VARCHAR", "Unique key identifier"),
        ("from_table", "VARCHAR", "Fully qualified table name"),
        ("target_table", "VARCHAR", "Fully qualified table name"),
        ("description", "VARCHAR", "Description of the key"),
        ("utype", "VARCHAR", "UType of the key"),
    ]),
    "key_columns": ("The columns of the foreign keys", [
        ("key_id", "VARCHAR", "Key identifier from TAP_SCHEMA.keys"),
        ("from_column", "VARCHAR", "Column in the from_table"),
        ("target_column", "VARCHAR", "Column in the target_table"),
    ]),
}
_STD_KEYS = [
    ("schemas_tables", "tables", "schemas", "schema_name", "schema_name"),
    ("tables_columns", "columns", "tables", "table_name", "table_name"),
    ("tables_keys_from", "keys", "tables", "from_table", "table_name"),
    ("tables_keys_target", "keys", "tables", "target_table", "table_name"),
    ("keys_key_columns", "key_columns", "keys", "key_id", "key_id"),
]
_ARROW = {"VARCHAR": pa.string(), "INTEGER": pa.int32()}
_PRINCIPAL = {"schema_name", "table_name", "column_name", "datatype", "unit", "ucd", "description", "key_id", "from_table", "target_table"}


def view_name(table: str) -> str:
    """The connection-local DuckDB view that holds one TAP_SCHEMA table."""
    return f"tap_schema_{table}"


def tap_schema_infos() -> list[TableInfo]:
    return [
        TableInfo(
            schema=TAP_SCHEMA, name=name, description=description, sql_from=f'"{view_name(name)}"',
            columns=tuple(ColumnInfo(col, dtype, arraysize="*" if dtype == "VARCHAR" else None, description=desc,
                                     principal=col in _PRINCIPAL) for col, dtype, desc in specs),
        )
        for name, (description, specs) in SPECS.items()
    ]


def _arrow(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = pa.schema([(col, _ARROW[dtype]) for col, dtype, _ in SPECS[name][1]])
    return pa.Table.from_pylist(rows, schema=schema)


def _own_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """TAP_SCHEMA describes itself."""
    tables, columns = [], []
    for t_index, (name, (description, specs)) in enumerate(SPECS.items()):
        qualified = f"{TAP_SCHEMA}.{name}"
        tables.append({"schema_name": TAP_SCHEMA, "table_name": qualified, "table_type": "table", "utype": None,
                       "description": description, "table_index": 100000 + t_index})
        for c_index, (col, dtype, desc) in enumerate(specs):
            vo, size, xtype = votable_type(dtype)
            columns.append({"table_name": qualified, "column_name": adql_name(col), "datatype": vo, "arraysize": size, "xtype": xtype,
                            "size": None, "description": desc, "utype": None, "unit": None, "ucd": None, "indexed": 0,
                            "principal": int(col in _PRINCIPAL), "std": 1, "column_index": c_index})
    schema = {"schema_name": TAP_SCHEMA, "utype": None, "description": "Metadata of the tables of this TAP service (TAP 1.1)",
              "schema_index": 100000}
    return [schema], tables, columns


def _none(text: str) -> str | None:
    return text or None


def tap_schema_rows(user: AnyUser, private: Sequence[TableInfo] = ()) -> dict[str, list[dict[str, Any]]]:
    """The rows of the five tables for ``user``: three queries, then cached until metadata or privileges change.

    ``private`` are the user's own tables the caller knows of (MyDB, results shared with them): listed after the
    published ones, never cached (they change with every saved result), and only for a logged-in user."""
    key = f"metadata:tap_schema:{metadata_version()}:{user.pk if user.is_authenticated else 'anonymous'}"
    rows = cache.get(key)
    if rows is None:
        rows = _tap_schema_rows(user)
        cache.set(key, rows, 3600)
    if private and user.is_authenticated:
        rows = _with_private(rows, private)
    return rows  # type: ignore[no-any-return]


def _with_private(rows: dict[str, list[dict[str, Any]]], private: Sequence[TableInfo]) -> dict[str, list[dict[str, Any]]]:
    """A copy of ``rows`` with ``private`` tables (and their schemas) before TAP_SCHEMA's own."""
    out = {name: list(values) for name, values in rows.items()}
    own_at = next((i for i, t in enumerate(out["tables"]) if t["schema_name"] == TAP_SCHEMA), len(out["tables"]))
    known = {s["schema_name"] for s in out["schemas"]}
    schema_at = next((i for i, s in enumerate(out["schemas"]) if s["schema_name"] == TAP_SCHEMA), len(out["schemas"]))
    for t_index, info in enumerate(private):
        if info.schema not in known:
            known.add(info.schema)
            out["schemas"].insert(schema_at, {"schema_name": info.schema, "utype": None, "schema_index": 50000 + schema_at,
                                              "description": "Your own tables (MyDB) and those shared with you"})
            schema_at += 1
        qualified = f"{info.schema}.{adql_name(info.name)}"
        out["tables"].insert(own_at + t_index, {"schema_name": info.schema, "table_name": qualified, "table_type": "table",
                                                "utype": None, "description": _none(info.description),
                                                "table_index": 50000 + t_index})
        for c_index, c in enumerate(info.columns):
            vo, size, xtype = votable_type(c.datatype, c.arraysize or "", c.xtype or "")
            out["columns"].append({
                "table_name": qualified, "column_name": adql_name(c.name), "datatype": vo, "arraysize": size, "xtype": xtype,
                "size": int(size) if size and size.isdigit() else None, "description": _none(c.description),
                "utype": _none(c.utype), "unit": _none(c.unit), "ucd": _none(c.ucd), "indexed": int(c.indexed),
                "principal": int(c.principal), "std": 0, "column_index": c_index,
            })
    return out


def _tap_schema_rows(user: AnyUser) -> dict[str, list[dict[str, Any]]]:
    schemas, tables, columns = _own_rows()
    for index, s in enumerate(visible_schemas(user)):
        schemas.insert(index, {"schema_name": s.name, "utype": _none(s.utype), "description": _none(s.description or s.title),
                               "schema_index": index})
    for t_index, t in enumerate(tables_with_columns(user, "read")):
        qualified = t.qualified_name
        tables.insert(t_index, {"schema_name": t.schema.name, "table_name": qualified, "table_type": t.type, "utype": _none(t.utype),
                                "description": _none(t.description or t.title), "table_index": t_index})
        for c_index, c in enumerate(t.visible_columns):  # type: ignore[attr-defined]
            vo, size, xtype = votable_type(c.datatype, c.arraysize, c.xtype)
            columns.append({
                "table_name": qualified, "column_name": adql_name(c.name), "datatype": vo, "arraysize": size, "xtype": xtype,
                "size": int(size) if size and size.isdigit() else None, "description": _none(c.description), "utype": _none(c.utype),
                "unit": _none(c.unit), "ucd": _none(c.ucd), "indexed": int(c.indexed), "principal": int(c.principal),
                "std": int(c.std), "column_index": c_index,
            })
    keys = [{"key_id": k, "from_table": f"{TAP_SCHEMA}.{f}", "target_table": f"{TAP_SCHEMA}.{t}", "description": None, "utype": None}
            for k, f, t, _, _ in _STD_KEYS]
    key_columns = [{"key_id": k, "from_column": fc, "target_column": tc} for k, _, _, fc, tc in _STD_KEYS]
    return {"schemas": schemas, "tables": tables, "columns": columns, "keys": keys, "key_columns": key_columns}


def tap_schema_tables(user: AnyUser, private: Sequence[TableInfo] = ()) -> dict[str, pa.Table]:
    """TAP_SCHEMA.schemas, tables, columns, keys, key_columns as Arrow tables for ``user``."""
    return {name: _arrow(name, rows) for name, rows in tap_schema_rows(user, private).items()}


def register_tap_schema(connection: Any, user: AnyUser, private: Sequence[TableInfo] = ()) -> None:
    """Make TAP_SCHEMA queryable on this DuckDB connection for this query (views local to the connection)."""
    for name, table in tap_schema_tables(user, private).items():
        connection.register(view_name(name), table)
