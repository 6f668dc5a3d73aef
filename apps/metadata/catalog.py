"""The metadata a query is checked against, as the ADQL library wants it.

``catalog_for(user)`` is called for every query and every TAP request, so it
is built in a constant number of queries and kept in the process's memory
(``ProcessCache``) per user under a metadata version that any change to
metadata or privileges bumps. The version lives in the shared cache (Redis),
so a change made by any process shows in every other at its next request;
``one_metadata_version()`` reads it once for a whole request.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.cache import cache
from django.db import transaction
from django.db.models import Prefetch, Q, QuerySet

from apps.access.permissions import allowed_resources
from apps.adql import Catalog, ColumnInfo, FunctionInfo, TableInfo
from apps.adql.catalog import PartitionedSource, SkyIndex
from apps.adql.errors import AdqlError
from workers.engines.hats import HatsError, is_hats
from workers.engines.parquet import HatsPartitions
from workers.engines.parquet import parquet_sql_from as engine_sql_from

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


_pinned_version: ContextVar[str | None] = ContextVar("metadata_version", default=None)


def metadata_version() -> str:
    pinned = _pinned_version.get()
    if pinned is not None:
        return pinned
    version = cache.get(VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex
        cache.add(VERSION_KEY, version, None)
        version = cache.get(VERSION_KEY, version)
    return str(version)


@contextmanager
def one_metadata_version() -> Iterator[str]:
    """Read the metadata version once for a block (one request): each cached lookup inside costs no trip
    to the cache server. A change committed meanwhile shows from the next request on."""
    token = _pinned_version.set(metadata_version())
    try:
        yield _pinned_version.get() or ""
    finally:
        _pinned_version.reset(token)


T = TypeVar("T")


class ProcessCache:
    """Values computed from metadata and privileges, kept in this process for the current metadata version.

    A new version (any change to metadata or privileges, in any process) empties it at its next lookup;
    at most ``size`` values are kept, the least recently used going first. Values are shared between
    requests and threads: callers must not change them.
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._version = ""
        self._values: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        version = metadata_version()
        with self._lock:
            if version != self._version:
                self._values.clear()
                self._version = version
            elif key in self._values:
                self._values.move_to_end(key)
                return self._values[key]  # type: ignore[no-any-return]
        value = build()
        with self._lock:
            if version == self._version:
                self._values[key] = value
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


def user_key(user: AnyUser | None) -> str:
    """What decides a user's view of metadata and privileges, as a cache key part (a promotion to
    superuser changes it at once; group memberships and privileges bump the version instead)."""
    if user is None or not user.is_authenticated:
        return "anonymous"
    return f"{user.pk}{'s' if user.is_superuser else ''}"


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
    """Where DuckDB/Spark tables live: a file, a folder of parts, or a HATS catalogue folder ``<table>/``."""

    plain = Path(settings.SCIENCE_DIR) / schema / f"{table}.parquet"
    if not plain.exists() and is_hats(plain.with_suffix("")):
        return plain.with_suffix("")
    return plain


def parquet_sql_from(engine: str, schema: str, table: str) -> str | None:
    """A FROM fragment reading the Parquet storage directly, so no view needs to exist in the engine."""

    if engine not in PARQUET_ENGINES:
        return None
    try:
        return engine_sql_from(engine, parquet_path(schema, table))
    except HatsError:
        return None  # unreadable now: the query fails on the table's name, not on a broken fragment


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
                     description=table.description, sql_from=sql_from, sky=sky_index(table), row_count=table.row_count,
                     partitioned=hats_partitions(engine, table.schema.name, table.name) if sql_from else None)


def hats_partitions(engine: str, schema: str, table: str) -> PartitionedSource | None:
    """The partition files of a table stored as HATS, for FROM clauses naming only those a query needs."""

    path = parquet_path(schema, table)
    return HatsPartitions(path) if engine in PARQUET_ENGINES and path.suffix != ".parquet" else None


def sky_index(table: Table) -> SkyIndex | None:
    """Positions, HEALPix index column and HATS partition orders of a table, as the planner wants them."""
    pos = table.position_columns
    if not (isinstance(pos, list) and len(pos) == 2):
        return None
    orders = tuple(sorted(int(o) for o in table.partition_orders or ()))
    if not table.healpix_column:
        return SkyIndex(pos[0], pos[1], partition_orders=orders)
    return SkyIndex(pos[0], pos[1], column=table.healpix_column, order=table.healpix_order, shift=table.healpix_shift,
                    partition_orders=orders)


_catalogs = ProcessCache()


def _catalog(user: AnyUser) -> Catalog:
    from .tap_schema import tap_schema_infos  # deferred: tap_schema.py imports this module (a cycle)

    infos = [table_info(t, t.visible_columns) for t in tables_with_columns(user)]  # type: ignore[attr-defined]
    functions = [FunctionInfo(f.name, f.return_type, dict(f.sql)) for f in Function.objects.filter(published=True)]
    return Catalog(infos + list(tap_schema_infos()), functions)


def catalog_for(user: AnyUser, *, extra: Iterable[TableInfo] = ()) -> Catalog:
    """Every published table and column ``user`` may query, TAP_SCHEMA and ``extra`` (uploads, MyDB)."""
    base = _catalogs.get(("catalog", user_key(user)), lambda: _catalog(user))
    more = list(extra)
    if not more:
        return base  # shared: nobody changes a Catalog (planning makes new ones)
    return Catalog([*base.tables, *more], base.functions.values())


def schema_engines() -> dict[str, str]:
    """Which engine holds each schema (a copy: the cached one is shared)."""
    return dict(_catalogs.get("schema-engines", lambda: dict(Schema.objects.values_list("name", "engine"))))


def engine_for(tables: Iterable[tuple[str, str]]) -> str:
    """The engine holding all these (schema, table) pairs; refuses queries across engines."""
    schemas = {schema for schema, _ in tables if schema}
    published = {s for s in schemas if s.upper() != TAP_SCHEMA}
    every = schema_engines() if published else {}
    engines = {name: every[name] for name in published if name in every}
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
