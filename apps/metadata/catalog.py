"""The metadata a query is checked against, as the ADQL library wants it.

``catalog_for(user)`` is called for every query and every TAP request, so it
is built in a constant number of queries and cached per user under a
metadata version that any change to metadata or privileges bumps.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet

from apps.access.permissions import allowed_resources
from apps.adql import Catalog, ColumnInfo, FunctionInfo, TableInfo
from apps.adql.errors import AdqlError

from .models import INTERNAL, PRIVATE, Column, Function, Schema, Table

AnyUser = User | AnonymousUser
TAP_SCHEMA = "TAP_SCHEMA"
VERSION_KEY = "metadata:version"
PARQUET_ENGINES = ("duckdb", "spark")


class EngineMixError(AdqlError):
    """A query joins tables that live in different engines."""


def _new_version() -> None:
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)


def bump_metadata_version(*args: Any, **kwargs: Any) -> None:
    """Signal handler: every cached catalogue is stale from now on.

    Bumped again when the transaction commits: another process may have built
    a catalogue from the not yet committed state under the first new version.
    Code that changes metadata with QuerySet.update() or bulk_create() (no
    signals) must call this itself.
    """
    _new_version()
    transaction.on_commit(_new_version)


def metadata_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex
        cache.add(VERSION_KEY, version, None)
        version = cache.get(VERSION_KEY, version)
    return str(version)


# --- visibility ----------------------------------------------------------------

def visible_tables(user: AnyUser, action: str = "query") -> QuerySet[Table]:
    """Published tables of published schemas the user may ``action`` ('read' or 'query'), as one query."""
    # The table's own privileges decide: a private table shared with a group is visible to its members
    # even inside a schema whose description is private.
    tables = Table.objects.filter(published=True, withdrawn=False, schema__published=True)
    return tables.filter(resource__in=allowed_resources(user, action, "table"))


def visible_schemas(user: AnyUser) -> QuerySet[Schema]:
    """Published schemas whose description the user may read, or that hold a table they may see."""
    readable = Q(resource__in=allowed_resources(user, "read", "schema")) | Q(id__in=visible_tables(user, "read").values("schema_id"))
    return Schema.objects.filter(readable, published=True)


def column_filter(user: AnyUser) -> dict[str, Any]:
    """Which column access levels the user passes; private columns need ``grant`` on the table (owners, managers)."""
    if user.is_authenticated and user.is_superuser:
        return {}
    if not user.is_authenticated:
        return {"levels": {"public"}}
    return {"levels": {"public", INTERNAL}, "private_tables": allowed_resources(user, "grant", "table").values("id")}


def visible_columns(user: AnyUser) -> QuerySet[Column]:
    """Columns whose own access level the user passes (the table's privileges are checked separately)."""
    columns = Column.objects.all()
    rule = column_filter(user)
    if not rule:
        return columns
    q = Q(access_level__in=rule["levels"])
    if "private_tables" in rule:
        q |= Q(access_level=PRIVATE, table__resource__in=rule["private_tables"])
    return columns.filter(q)


def tables_with_columns(user: AnyUser, action: str = "query") -> QuerySet[Table]:
    """Visible tables with schema and visible columns loaded: three queries whatever their number."""
    tables = visible_tables(user, action).select_related("schema")
    return tables.prefetch_related(Prefetch("columns", queryset=visible_columns(user), to_attr="visible_columns"))


# --- ADQL catalogue --------------------------------------------------------------

def parquet_path(schema: str, table: str) -> Path:
    """Where DuckDB/Spark tables live: a file, or a folder of parts."""
    return Path(settings.SCIENCE_DIR) / schema / f"{table}.parquet"


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def parquet_sql_from(engine: str, schema: str, table: str) -> str | None:
    """A FROM fragment reading the Parquet storage directly, so no view needs to exist in the engine."""
    path = parquet_path(schema, table)
    target = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
    if engine == "duckdb":
        return f"read_parquet({_sql_string(target)})"
    if engine == "spark":
        return "parquet.`" + str(path).replace("`", "``") + "`"
    return None


def column_info(column: Column) -> ColumnInfo:
    return ColumnInfo(
        name=column.name, datatype=column.datatype, arraysize=column.arraysize or None, xtype=column.xtype or None,
        unit=column.unit, ucd=column.ucd, description=column.description, utype=column.utype,
        principal=column.principal, indexed=column.indexed,
    )


def table_info(table: Table, columns: Iterable[Column] | None = None) -> TableInfo:
    """TableInfo of one table; ``columns`` (visible ones) default to all of them."""
    cols = list(columns if columns is not None else getattr(table, "visible_columns", None) or table.columns.all())
    engine = table.schema.engine
    sql_from = parquet_sql_from(engine, table.schema.name, table.name) if engine in PARQUET_ENGINES else None
    return TableInfo(schema=table.schema.name, name=table.name, columns=tuple(column_info(c) for c in cols),
                     description=table.description, sql_from=sql_from)


def _user_key(user: AnyUser) -> str:
    return str(user.pk) if user.is_authenticated else "anonymous"


def _catalog_parts(user: AnyUser) -> tuple[list[TableInfo], list[FunctionInfo]]:
    from .tap_schema import tap_schema_infos

    key = f"metadata:catalog:{metadata_version()}:{_user_key(user)}"
    parts = cache.get(key)
    if parts is None:
        infos = [table_info(t, t.visible_columns) for t in tables_with_columns(user)]  # type: ignore[attr-defined]
        functions = [FunctionInfo(f.name, f.return_type, dict(f.sql)) for f in Function.objects.filter(published=True)]
        parts = (infos + list(tap_schema_infos()), functions)
        cache.set(key, parts, 3600)
    return parts


def catalog_for(user: AnyUser, *, extra: Iterable[TableInfo] = ()) -> Catalog:
    """Every published table and column ``user`` may query, TAP_SCHEMA and ``extra`` (uploads, MyDB)."""
    tables, functions = _catalog_parts(user)
    return Catalog([*tables, *extra], functions)


def engine_for(tables: Iterable[tuple[str, str]]) -> str:
    """The engine holding all these (schema, table) pairs; refuses queries across engines."""
    schemas = {schema for schema, _ in tables if schema}
    published = {s for s in schemas if s.upper() != TAP_SCHEMA}
    engines = dict(Schema.objects.filter(name__in=published).values_list("name", "engine")) if published else {}
    found = set(engines.values())
    if len(found) > 1:
        where = ", ".join(f"{name} ({engine})" for name, engine in sorted(engines.items()))
        raise EngineMixError(f"This query joins tables held by different database engines: {where}. "
                             "Query each engine separately (e.g. save one result to MyDB and upload it).")
    if not found:
        return str(settings.DEFAULT_ENGINE)
    engine = found.pop()
    if any(s.upper() == TAP_SCHEMA for s in schemas) and engine != "duckdb":
        raise EngineMixError(f"TAP_SCHEMA cannot be joined with tables held by {engine}; query it on its own.")
    return engine
