"""From query text to engine SQL: the catalog a user may query, the engine, the translation.

Planning has no side effects and talks to no engine, so the web process can
validate a query (and answer with a readable ERROR) before it is queued.

Native SQL also gets a ``Scope`` (workers.engines.base): the stored tables and
columns the permission API lets its owner read on the chosen engine, which the
engine enforces itself (``native_plan``); on DuckDB/Spark the query reads them
by their view names instead of their files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q

from apps.adql import AdqlError, Catalog, ColumnInfo, TableInfo, parse
from apps.adql.dialects import get_dialect
from apps.adql.native import translate_native
from apps.adql.translate import Translation, translate, translate_tree
from apps.metadata.catalog import ProcessCache, catalog_for, engine_for, parquet_sql_from, schema_engines, user_key
from apps.metadata.models import Table
from apps.uws import phases
from workers.engines import available_engines
from workers.engines.base import Scope, ScopeTable, TableName, mydb_schema
from workers.engines.common import view_name
from workers.engines.mariadb import server_database, url_database
from workers.engines.parquet import parquet_sql_from as engine_sql_from
from workers.engines.types import column_from_arrow

from . import routing
from .languages import languages_for, may_use_native
from .models import QueryJob
from .sharing import shared_schema, shared_with
from .uploads import UPLOAD_SCHEMA, Upload

MYDB_SCHEMA = "mydb"
TAP_SCHEMA = "TAP_SCHEMA"
ADQL_LANGUAGES = frozenset({"ADQL", "ADQL-2.0", "ADQL-2.1"})
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class QueryError(Exception):
    """A query we refuse before or while running it, with a message for the user."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass
class Plan:
    engine: str
    translation: Translation
    uploads: list[tuple[Upload, Any]] = field(default_factory=list)  # (upload, TableName) to create first
    local: bool = False  # reads TAP_SCHEMA: run in a private DuckDB connection (see running.local_stream)
    scope: Scope | None = None  # native SQL: what the engine lets it read (None: our own ADQL translation)
    reason: str = ""  # why this engine (routing.py), for the job page and the TAP job
    estimated_rows: int | None = None  # rows it reads, estimated from metadata when the engine was chosen by size

    @property
    def sql(self) -> str:
        return self.translation.sql

    @property
    def columns(self) -> list[ColumnInfo]:
        return self.translation.columns

    @property
    def row_limit(self) -> int | None:
        """The outer LIMIT of ``sql`` (TOP, or MAXREC + 1 to detect overflow); None when unbounded."""
        return self.translation.limit


# ---- names ---------------------------------------------------------------

def check_table_name(owner: User | None, name: str, *, exclude: QueryJob | None = None) -> str:
    """A result name must be a plain lower-case identifier, unique in the owner's MyDB."""
    if not _TABLE_NAME.match(name):
        raise QueryError(f"{name!r} cannot name a table: use a lower-case letter, then up to 62 lower-case letters, digits or _.")
    if owner is not None:
        held = Q(result_table__gt="") | Q(phase__in=phases.ACTIVE)  # stored, or about to be
        taken = QueryJob.objects.filter(held, owner=owner, table_name=name)
        if exclude is not None:
            taken = taken.exclude(pk=exclude.pk)
        if taken.exists():
            raise QueryError(f"You already have a table called {name}: choose another name or delete that one.")
    return name


def default_table_name(job: QueryJob) -> str:
    return f"job_{job.created:%Y%m%d_%H%M%S}_{job.id.hex[:4]}"


def mydb_dir(owner_id: int | None) -> Path:
    return Path(settings.MYDB_DIR).resolve() / (str(owner_id) if owner_id is not None else "anonymous")


def physical_from(engine: str, schema: str, table: str, owner_id: int | None) -> str:
    """The FROM fragment that reads a stored table on ``engine`` (quoted here, trusted by apps.adql)."""
    if engine in ("duckdb", "spark"):  # the shared Parquet store: a file, or a folder of parts (Spark)
        return engine_sql_from(engine, mydb_dir(owner_id) / f"{table}.parquet")
    if engine == "mariadb":  # users' MyDB databases are named after the portal's own (see the engine)
        schema = server_database(url_database(settings.SCIENCE_MARIADB_URL), schema)
    d = get_dialect(engine)
    return f"{d.ident(schema)}.{d.ident(table)}"


# ---- the catalog -----------------------------------------------------------

def adql_type(arrow_type: pa.DataType) -> str:
    """The ADQL datatype of an uploaded column: the one mapping results and published tables use too."""
    return column_from_arrow(pa.field("column", arrow_type)).datatype


def _declared(f: pa.Field) -> dict[str, str]:
    """Unit, UCD and description an imported file declared (apps/query/imports.py keeps them as field metadata)."""
    given = {k.decode(): v.decode("utf-8", "replace") for k, v in (f.metadata or {}).items()}
    return {k: given[k] for k in ("unit", "ucd", "description") if given.get(k)}


def upload_table(upload: Upload, sql_from: str | None) -> TableInfo:
    try:
        schema = pq.read_schema(upload.path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise QueryError(f"The uploaded table {upload.name} cannot be read: {exc}") from None
    declared = [_declared(f) for f in schema]
    columns = tuple(ColumnInfo(f.name, adql_type(f.type), unit=d.get("unit", ""), ucd=d.get("ucd", ""), description=d.get("description", ""))
                    for f, d in zip(schema, declared, strict=True))
    return TableInfo(UPLOAD_SCHEMA, upload.name, columns, f"Uploaded table {upload.name}", sql_from=sql_from)


def mydb_jobs(owner: User | None) -> list[QueryJob]:
    if owner is None:
        return []
    return list(QueryJob.objects.filter(owner=owner).exclude(result_table="").exclude(table_name="").order_by("table_name"))


def mydb_table(job: QueryJob, schema: str = MYDB_SCHEMA, *, engine: str = "") -> TableInfo:
    """A stored result as a table: ``mydb.<name>`` for its owner, ``mydb_<owner>.<name>`` when shared.

    ``engine``: the engine that will read it, when that is another Parquet engine than the one that stored it."""
    columns = tuple(ColumnInfo.from_dict(c) for c in job.result_columns)
    reader = engine if engine in routing.PARQUET_ENGINES and job.engine in routing.PARQUET_ENGINES else job.engine
    sql_from = physical_from(reader, job.result_schema, job.result_table, job.owner_id)
    return TableInfo(schema, job.table_name, columns, f"Result of job {job.id}", sql_from=sql_from)


def shared_tables(user: User | AnonymousUser | None, *, own: bool = False) -> dict[tuple[str, str], tuple[QueryJob, TableInfo]]:
    """Other users' results this user may query, by (schema, table) as the catalogue names them.

    ``own`` adds the user's own results under their shared name too, so a query written by or for
    collaborators (``mydb_alice.t``) also runs for alice.
    """
    found = dict(_shared_by_others(user))
    if own and user is not None and user.is_authenticated:
        for job in mydb_jobs(user):  # type: ignore[arg-type]  # one's own results change all the time: never cached
            job.owner = user  # type: ignore[assignment]  # known: no query per table
            info = mydb_table(job, shared_schema(user))  # type: ignore[arg-type]
            found[(info.schema, info.name)] = (job, info)
    return found


_shared = ProcessCache()


def _shared_by_others(user: User | AnonymousUser | None) -> dict[tuple[str, str], tuple[QueryJob, TableInfo]]:
    """Other users' results shared with ``user``, kept per metadata version: a privilege, a membership or
    a shared result (its resource, its name, the job) that changes bumps it (sharing.connect_signals)."""
    def build() -> dict[tuple[str, str], tuple[QueryJob, TableInfo]]:
        infos = ((job, mydb_table(job, shared_schema(job.owner))) for job in shared_with(user, "query"))  # type: ignore[arg-type]
        return {(info.schema, info.name): (job, info) for job, info in infos}

    found: dict[tuple[str, str], tuple[QueryJob, TableInfo]] = _shared.get(user_key(user), build)
    return found


def private_tables(user: User | AnonymousUser | None) -> list[TableInfo]:
    """The tables only this user sees: their MyDB (``mydb.<name>``) and others' results shared with them
    (``mydb_<owner>.<name>``), for TAP_SCHEMA and VOSI tables. None for anonymous users."""
    if user is None or not user.is_authenticated:
        return []
    own = [mydb_table(job) for job in mydb_jobs(user)]  # type: ignore[arg-type]
    return own + [info for _, info in shared_tables(user).values()]


def science_catalog(user: User | AnonymousUser | None, extra: Sequence[TableInfo]) -> Catalog:
    """The published tables this user may query, plus ``extra`` (apps.metadata owns the first part)."""
    result: Catalog = catalog_for(user or AnonymousUser(), extra=list(extra))
    return result


def engine_for_tables(tables: Sequence[tuple[str, str]], mydb: dict[str, QueryJob],
                      shared: dict[tuple[str, str], tuple[QueryJob, TableInfo]] | None = None) -> str:
    """Which engine holds every table the query reads; refuse a query that spans two."""
    engines: set[str] = set()
    science: list[tuple[str, str]] = []
    for schema, name in tables:
        if shared and (schema, name) in shared:
            engines.add(shared[(schema, name)][0].engine)
        elif schema.lower() == MYDB_SCHEMA:
            engines.add(mydb[name].engine if name in mydb else settings.DEFAULT_ENGINE)
        elif schema.upper() != UPLOAD_SCHEMA:
            science.append((schema, name))
    if science:
        engines.add(engine_for(science))
    if len(engines) > 1:
        raise QueryError(f"This query reads tables held by different engines ({', '.join(sorted(engines))}); "
                         "one query can only read tables of one engine.")
    return engines.pop() if engines else str(settings.DEFAULT_ENGINE)


def _translate(query: str, language: str, dialect: str, catalog: Catalog, maxrec: int | None) -> Translation:
    if language.upper() in ADQL_LANGUAGES:
        return translate(query, dialect, catalog=catalog, maxrec=maxrec)

    return translate_native(query, dialect, catalog=catalog, maxrec=maxrec)


def plan_query(owner: User | AnonymousUser | None, *, query: str, language: str = "ADQL", maxrec: int | None = None,
               uploads: Sequence[Upload] = (), job_id: str = "", engine: str = "") -> Plan:
    """Route to an engine and translate for it, once. Raises AdqlError or QueryError.

    ``engine``: the user's choice (TAP ENGINE, the query form), checked against where the tables can
    be read; empty: routing by size decides (routing.py). Native SQL runs on its own engine.
    """
    real_owner = owner if owner is not None and owner.is_authenticated else None
    if not query.strip():
        raise QueryError("The query is empty.")
    lang = language.strip() or "ADQL"
    requested = engine.strip().lower()
    native_dialect = lang.lower() if lang.lower() in ("postgresql", "mariadb", "duckdb", "spark") else None
    if lang.upper() not in ADQL_LANGUAGES and native_dialect is None and lang.upper() != "SQL":
        raise QueryError(f"Unknown query language {language!r}: use {' or '.join(languages_for(owner))}.")
    if lang.upper() not in ADQL_LANGUAGES and not may_use_native(owner, native_dialect or str(settings.DEFAULT_ENGINE)):
        raise QueryError(f"You may not write {native_dialect or 'native'} SQL here: use ADQL, or ask the data centre for access.")
    if requested and requested not in settings.ENGINES:
        raise QueryError(f"There is no engine called {engine!r}: the engines are {', '.join(settings.ENGINES)}.")
    mydb_by_name = {j.table_name: j for j in mydb_jobs(real_owner)}  # type: ignore[arg-type]
    shared = shared_tables(owner, own=True)
    if lang.upper() not in ADQL_LANGUAGES:
        written_for = native_dialect or str(settings.DEFAULT_ENGINE)
        if requested and requested != written_for:
            raise QueryError(f"This query is {written_for} SQL: it runs on {written_for} only.")
        return _native_or_local(owner, query, lang, written_for, maxrec, mydb_by_name, shared, uploads, job_id)
    return _adql_plan(owner, query, maxrec, mydb_by_name, shared, uploads, job_id, requested)


def _adql_plan(owner: User | AnonymousUser | None, query: str, maxrec: int | None, mydb_by_name: dict[str, QueryJob],
               shared: dict[tuple[str, str], tuple[QueryJob, TableInfo]], uploads: Sequence[Upload], job_id: str,
               requested: str) -> Plan:
    """Parse once, resolve the tables, route (routing.py), translate once for the chosen engine."""
    owner_id = owner.pk if owner is not None and owner.is_authenticated else None
    tree = parse(query)
    guess = str(settings.DEFAULT_ENGINE)  # most queries stay on this engine: its catalogue serves to resolve names
    mydb = [mydb_table(j) for j in mydb_by_name.values()] + [info for _, info in shared.values()]
    created, upload_infos = _uploads_for(uploads, guess, False, owner_id, job_id)
    names = science_catalog(owner, [*mydb, *upload_infos])
    read = [(node, info) for node in routing.table_nodes(tree) if (info := routing.resolve(node, names)) is not None]
    local = any(info.schema.upper() == TAP_SCHEMA for _, info in read)
    holder = "duckdb"
    if local:  # TAP_SCHEMA is made per user in a private DuckDB connection; its results are stored by DuckDB
        try:
            route = routing.route(holder, (holder,), None, requested)
        except routing.RoutingError:
            raise QueryError("A query of TAP_SCHEMA runs on duckdb only.") from None
        route = replace(route, reason="it reads TAP_SCHEMA, which DuckDB answers from the metadata")
    else:
        holder = engine_for_tables([(i.schema, i.name) for _, i in read], mydb_by_name, shared)
        choices = routing.choices_for(holder, True, _available())
        sized = len(choices) > 1 or holder in routing.PARQUET_ENGINES  # DuckDB: sync_in_worker needs the size too
        cost = routing.estimate(tree, _with_row_counts(read, mydb_by_name, shared, uploads)) if sized and settings.QUERY_ROUTING == "size" else None
        try:
            route = routing.route(holder, choices, cost, requested)
        except routing.RoutingError as exc:
            raise QueryError(str(exc)) from None
        if route.engine != holder:  # the same files read by another engine: its own FROM fragments
            names = _repointed(names, route.engine, {(i.schema, i.name) for _, i in read})
    if not route.engine == guess == holder or (local and uploads):  # names resolved for the guess: re-point them
        created, upload_infos = _uploads_for(uploads, route.engine, local, owner_id, job_id)
        stored = [mydb_table(j, engine=route.engine) for j in mydb_by_name.values()]
        stored += [mydb_table(j, info.schema, engine=route.engine) for j, info in shared.values()]
        names = _with_extra(names, [*stored, *upload_infos])
    translation = translate_tree(tree, route.engine, catalog=names, maxrec=maxrec)
    return Plan(route.engine, translation, created, local=local, reason=route.reason,
                estimated_rows=route.estimate.rows if route.estimate else None)


def _available() -> list[str]:
    return available_engines()


def _with_extra(catalog: Catalog, extra: Sequence[TableInfo]) -> Catalog:
    """The catalogue with ``extra`` in place of the MyDB, shared and upload tables of the same names."""
    keys = {(t.schema.lower(), t.name.lower()) for t in extra}
    kept = [t for t in catalog.tables if (t.schema.lower(), t.name.lower()) not in keys]
    return Catalog([*kept, *extra], catalog.functions.values())


def _repointed(catalog: Catalog, engine: str, read: set[tuple[str, str]]) -> Catalog:
    """Published Parquet tables the query reads, with ``engine``'s FROM fragment (DuckDB and Spark read the same files)."""

    def fixed(t: TableInfo) -> TableInfo:
        if (t.schema, t.name) not in read or t.sql_from is None or t.schema.lower().startswith(MYDB_SCHEMA) \
                or t.schema.upper() == UPLOAD_SCHEMA:
            return t
        return replace(t, sql_from=parquet_sql_from(engine, t.schema, t.name))

    return Catalog([fixed(t) for t in catalog.tables], catalog.functions.values())


def _with_row_counts(read: Sequence[tuple[Any, TableInfo]], mydb_by_name: dict[str, QueryJob],
                     shared: dict[tuple[str, str], tuple[QueryJob, TableInfo]],
                     uploads: Sequence[Upload]) -> list[tuple[Any, TableInfo]]:
    """The tables read, with the row counts the metadata knows (published tables, stored results, uploads)."""

    missing = {(i.schema, i.name) for _, i in read if i.row_count is None}
    counts: dict[tuple[str, str], int | None] = {}
    if missing:
        rows = Table.objects.filter(schema__name__in={s for s, _ in missing}, name__in={n for _, n in missing})
        counts = {(s, n): c for s, n, c in rows.values_list("schema__name", "name", "row_count")}
    for (schema, name), (job, _) in shared.items():
        counts[(schema, name)] = job.row_count
    for name, job in mydb_by_name.items():
        counts[(MYDB_SCHEMA, name)] = job.row_count
    for upload in uploads:
        try:
            counts[(UPLOAD_SCHEMA, upload.name)] = pq.read_metadata(upload.path).num_rows
        except (OSError, pa.ArrowInvalid):
            counts[(UPLOAD_SCHEMA, upload.name)] = None
    return [(node, info if info.row_count is not None else replace(info, row_count=counts.get((info.schema, info.name))))
            for node, info in read]


def _native_or_local(owner: User | AnonymousUser | None, query: str, lang: str, dialect: str, maxrec: int | None,
                     mydb_by_name: dict[str, QueryJob], shared: dict[tuple[str, str], tuple[QueryJob, TableInfo]],
                     uploads: Sequence[Upload], job_id: str) -> Plan:
    """Native SQL on its engine with its Scope; when it reads TAP_SCHEMA, in the private DuckDB connection."""
    stored = [(mydb_table(j), j) for j in mydb_by_name.values()] + [(info, j) for j, info in shared.values()]
    native = native_plan(owner, query, dialect, maxrec, stored, uploads, job_id)
    if native is not None:
        return native
    owner_id = owner.pk if owner is not None and owner.is_authenticated else None
    created, tables = _uploads_for(uploads, "duckdb", True, owner_id, job_id)
    mydb = [info for info, _ in stored]
    catalog = science_catalog(owner, [*mydb, *tables])
    return Plan("duckdb", _translate(query, lang, "duckdb", catalog, maxrec), created, local=True,
                reason="it reads TAP_SCHEMA, which DuckDB answers from the metadata")


def native_plan(owner: User | AnonymousUser | None, query: str, engine: str, maxrec: int | None,
                stored: Sequence[tuple[TableInfo, QueryJob]], uploads: Sequence[Upload], job_id: str) -> Plan | None:
    """Native SQL on ``engine`` with its Scope; None when it reads TAP_SCHEMA (run locally, no scope)."""

    owner_id = owner.pk if owner is not None and owner.is_authenticated else None
    created, upload_infos = _uploads_for(uploads, engine, False, owner_id, job_id)
    base = science_catalog(owner, [])
    engines = _schema_engines()
    held: list[tuple[TableInfo, TableName]] = [(t, TableName(t.schema, t.name)) for t in base.tables
                                               if engines.get(t.schema) == engine]
    held += [(info, TableName(job.result_schema, job.result_table)) for info, job in stored
             if job.engine == engine and job.result_schema and job.result_table]
    held += [(info, table) for info, (_, table) in zip(upload_infos, created, strict=True)]
    parquet = engine in ("duckdb", "spark")
    d = get_dialect(engine)
    # On DuckDB/Spark the query reads each table by its view's name: the engine has nothing else.
    renamed = {id(info): replace(info, sql_from=d.ident(view_name(table))) for info, table in held} if parquet else {}
    tables = [renamed.get(id(t), t) for t in [*base.tables, *(i for i, _ in stored), *upload_infos]]
    translation = _translate(query, engine, engine, Catalog(tables, base.functions.values()), maxrec)
    if any(schema.upper() == TAP_SCHEMA for schema, _ in translation.tables):
        return None
    read = set(translation.tables)
    scope = Scope(f"u{owner_id}" if owner_id is not None else "anonymous", mydb_schema(owner_id), tuple(
        ScopeTable(table, tuple(c.name for c in info.columns), view_name(table) if parquet else "")
        for info, table in held if not parquet or (info.schema, info.name) in read))  # a file per view: only what it reads
    return Plan(engine, translation, created, scope=scope)


def _schema_engines() -> dict[str, str]:
    """Which engine holds each published schema."""
    return schema_engines()


def _uploads_for(uploads: Sequence[Upload], engine: str, local: bool, owner_id: int | None,
                 job_id: str) -> tuple[list[tuple[Upload, Any]], list[TableInfo]]:
    """Upload tables for ``engine``: copied into its MyDB space for the job's lifetime (DuckDB and Spark
    may only read their own folders); a TAP_SCHEMA query (``local``) reads the file directly."""

    created: list[tuple[Upload, Any]] = []
    tables: list[TableInfo] = []
    for upload in uploads:
        if local:
            sql_from = "read_parquet(" + get_dialect("duckdb").string(str(upload.path)) + ")"
        else:
            table = TableName(mydb_schema(owner_id), f"up_{job_id.replace('-', '')[:12]}_{upload.name.lower()}"[:63])
            created.append((upload, table))
            sql_from = physical_from(engine, table.schema, table.name, owner_id)
        tables.append(upload_table(upload, sql_from))
    return created, tables


def plan_record(plan: Plan) -> dict[str, Any]:
    """The plan as JSON, kept on the job so a worker starting soon after need not translate again."""
    record: dict[str, Any] = {"local": plan.local, "reason": plan.reason, "estimated_rows": plan.estimated_rows,
                              "uploads": [[u.name, str(u.path), t.schema, t.name] for u, t in plan.uploads]}
    if plan.scope is not None:
        record["scope"] = {"principal": plan.scope.principal, "home": plan.scope.home,
                           "tables": [[t.table.schema, t.table.name, list(t.columns), t.view] for t in plan.scope.tables]}
    return record


def plan_from_record(job: QueryJob) -> Plan:
    translation = Translation(job.native_sql, [ColumnInfo.from_dict(c) for c in job.result_columns], [], [], None)
    uploads = [(Upload(name, Path(path)), TableName(schema, table)) for name, path, schema, table in job.plan.get("uploads", [])]
    scope = None
    if "scope" in job.plan:
        s = job.plan["scope"]
        scope = Scope(s["principal"], s["home"], tuple(ScopeTable(TableName(schema, name), tuple(columns), view)
                                                       for schema, name, columns, view in s["tables"]))
    elif not job.plan.get("local") and (job.language.strip() or "ADQL").upper() not in ADQL_LANGUAGES:
        raise QueryError("This query was planned before native SQL ran with its owner's rights: please run it again.")
    return Plan(job.engine, translation, uploads, local=bool(job.plan.get("local")), scope=scope,
                reason=str(job.plan.get("reason", "")), estimated_rows=job.plan.get("estimated_rows"))


def error_message(exc: BaseException) -> str:
    """What the user reads in the job's error (UWS <message>)."""
    if isinstance(exc, AdqlError):
        where = f" (line {exc.line}, column {exc.column})" if exc.line is not None else ""
        return f"Query error: {exc.message}{where}"
    if isinstance(exc, QueryError):
        return exc.message
    return str(exc) or type(exc).__name__
