"""PostgreSQL (with pg_sphere and q3c) through psycopg 3.

- Queries log in as ``daiquiri_reader`` (same host and database as the
  service URL, no password: loopback trust/peer, or a password in
  ``~/.pgpass``), a role that may only SELECT the science schemas and create
  tables in the ``mydb_<user id>`` schemas (``setup()`` creates it
  idempotently; the engine runs it once per process). Logging in as the role,
  rather than ``SET ROLE``, means a query cannot switch back to the service
  user with ``set_config('role', ...)``. User SQL is sent with the extended
  protocol, which refuses more than one statement.
- ``execute`` is ``CREATE TABLE … AS`` inside one transaction with a
  ``statement_timeout`` from the queue's limit: a failure leaves nothing.
  Then the service user takes the table over. Three round trips in all
  (pipelines); the second commit waits for the disk and makes the first durable.
- Native SQL (a ``Scope``) logs in as the principal's own role
  (``<reader>_<database tag>_u<id>`` / ``…_anonymous``: NOINHERIT, member of
  nothing, a password derived from SECRET_KEY) whose column grants are
  brought, before each query and under an advisory lock, to exactly the
  scope: the permission API's answer. It may create tables in its own MyDB
  schema only; results are then handed to the service user. ``setup()``
  revokes from PUBLIC the catalogue views that show other users' schemas,
  tables, roles or activity (``LEAKY_CATALOG``).
- Every connection of a job is named ``application_name='daiquiri:<tag>'``
  (``run_tag(job_id)``, a keyed hash: application_name is visible to every
  database user) so ``abort(job_id)`` from any process finds it and
  ``pg_cancel_backend``s it.
- ``stream`` and large ``fetch``es are ``COPY (query) TO STDOUT (FORMAT csv)``
  parsed into Arrow by pyarrow's multi-threaded CSV reader, fed by ``psql``
  in a subprocess (or a psycopg thread when psql is missing), so the Python
  process never touches a row. Geometries become DALI lists of degrees,
  NUMERIC becomes DOUBLE, timestamps are UTC.
- ``stream_csv`` (TAP CSV of a big result) lets COPY write the CSV itself, under the rules the
  CSV writer of apps.formats follows (``_csv_col``), and passes its bytes on untouched; a result
  with a column COPY cannot write that way goes through ``stream`` instead.
- ``ingest`` writes Arrow with ADBC's binary COPY into a temporary table that
  is renamed in the same transaction.
"""

from __future__ import annotations

import functools
import logging
import os
import queue
import re
import select
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from psycopg import sql as pgsql
from psycopg.types.numeric import FloatLoader

from . import pool
from .base import MYDB_PREFIX, CsvText, EngineError, IntrospectedTable, QueryAborted, QueryTimeout, Scope, StoredResult, TableName
from .common import Watch, check_name, request_abort, run_tag, secret_hash
from .types import adql_from_native, with_names

READER = "daiquiri_reader"
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
PSQL = shutil.which("psql")
# psql writes COPY's rows through stdio, which flushes a pipe every 4 KiB: coreutils' stdbuf gives its stdout
# a 1 MiB buffer, so the reader wakes up 85 times for the 1M-row download instead of ~5,000 (its CPU 0.13 s -> 0.02 s).
_STDOUT_IN_BLOCKS = [_stdbuf, "-o", "1M"] if (_stdbuf := shutil.which("stdbuf")) else []
log = logging.getLogger(__name__)
SMALL_PAGE = 10_000  # fetches up to this many rows go through psycopg, not COPY
# Catalogue relations every role may read by default that show what belongs to others: schema, table and
# column names (pg_class, pg_namespace ...), roles (user ids), databases, and sessions (pg_stat_activity's
# application_name). Revoked from PUBLIC in the science database; the service user keeps them.
LEAKY_CATALOG = (
    "pg_stat_activity", "pg_roles", "pg_user", "pg_auth_members", "pg_database", "pg_class", "pg_namespace",
    "pg_attribute", "pg_tables", "pg_views", "pg_matviews", "pg_indexes", "pg_description", "pg_locks",
    "pg_stat_all_tables", "pg_stat_user_tables", "pg_statio_all_tables", "pg_statio_user_tables",
    "pg_stat_all_indexes", "pg_stat_user_indexes", "pg_stat_database", "pg_prepared_xacts", "pg_stat_ssl",
    "pg_stat_gssapi", "pg_stat_progress_vacuum", "pg_stat_progress_create_index", "pg_sequences",
    "pg_policies", "pg_publication_tables", "pg_stat_subscription", "pg_shdescription", "pg_stats_ext",
)
LEAKY_FUNCTIONS = ("pg_stat_get_activity(integer)", "pg_stat_get_backend_activity(integer)",
                   "pg_stat_get_backend_idset()", "pg_stat_get_backend_userid(integer)",
                   "pg_stat_get_progress_info(text)", "pg_get_userbyid(oid)")


class _SchemaGone(Exception):
    """The MyDB schema a result was to be stored in does not exist (dropped since this process saw it)."""


@dataclass(frozen=True)
class OutCol:
    name: str
    expr: str  # SQL over the query's column "q"."name"
    arrow: pa.DataType  # what the CSV text is parsed as
    final: pa.Field  # what the caller gets
    array: bool = False  # PostgreSQL array text {a,b} to turn into a list


class PostgreSQLEngine:
    name = "postgresql"
    dialect = "postgresql"

    def __init__(self, url: str, *, reader_role: str = READER, pool_size: int = 4) -> None:
        self.url = url
        self.reader = reader_role
        self.pool_size = pool_size  # idle connections kept per query login (pool.py); 0: one per statement
        self._ready = False
        self._lock = threading.Lock()
        self._logins: dict[str, str] = {}
        # MyDB schemas known to exist (made or seen by this process): execute skips looking them up; one
        # dropped since is found by the statement's error, made again and the statement retried (execute).
        self._schemas: set[str] = set()
        database = str(psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "")
        # Roles are cluster-wide: portals on one server, with their own databases, keep their roles apart.
        self._role_prefix = f"{reader_role}_{secret_hash('pg-database', database, size=6)}_"[:50]

    # ---- connections and set-up ------------------------------------------------
    def connect(self, job_id: str | None = None, *, autocommit: bool = False,
                reader: bool = False, role: str | None = None) -> psycopg.Connection[Any] | pool.Lease:
        """A connection as the service user, as the read-only role (``reader``) or as a principal's ``role``,
        for a ``with`` block (committed at its end). The query logins' connections come from a pool of this
        process (pool.py: reset on return, never shared between logins); the service user's are opened each time."""
        app = f"daiquiri:{run_tag(job_id)}" if job_id else pool.BASE_NAME
        try:
            if role or reader:
                conninfo = self._login_conninfo(role) if role else self._reader_conninfo
                return pool.pooled(conninfo, size=self.pool_size, application_name=app, autocommit=autocommit)
            return psycopg.connect(self.url, application_name=app, autocommit=autocommit)
        except psycopg.Error as e:
            raise EngineError(f"cannot connect to the PostgreSQL science database: {e}") from e

    def _service(self, *, autocommit: bool = False) -> pool.Lease:
        """A pooled connection as the service user, for the few statements around a job's result: opening
        one (a server process, authentication) cost more than a small job's whole query."""
        try:
            return pool.pooled(self.url, size=self.pool_size, autocommit=autocommit)
        except psycopg.Error as e:
            raise EngineError(f"cannot connect to the PostgreSQL science database: {e}") from e

    @functools.cached_property
    def _reader_conninfo(self) -> str:
        return self.reader_url

    def _login_conninfo(self, role: str) -> str:
        known = self._logins.get(role)
        if known is None:
            known = self._logins[role] = self.login_url(role)  # a derived password: worth computing once
        return known

    @property
    def reader_url(self) -> str:
        params = psycopg.conninfo.conninfo_to_dict(self.url)
        params.pop("password", None)
        params["user"] = self.reader
        return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]

    def role_of(self, principal: str) -> str:
        """The database role native SQL of ``principal`` (``u<id>``, ``anonymous``) runs as."""
        role = self._role_prefix + principal
        check_name(TableName(role, "x"))
        return role

    def login_url(self, role: str) -> str:
        params = psycopg.conninfo.conninfo_to_dict(self.url)
        params["user"], params["password"] = role, _password(role)
        return psycopg.conninfo.make_conninfo(**params)  # type: ignore[arg-type]

    def setup(self) -> None:
        """Idempotent: extensions, the read-only role, its grants on every science schema."""
        with self.connect(autocommit=True) as conn:
            ensure_extensions(conn)
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [self.reader]).fetchone():
                try:
                    conn.execute(pgsql.SQL("CREATE ROLE {} LOGIN").format(pgsql.Identifier(self.reader)))
                except psycopg.errors.DuplicateObject:
                    pass  # another process was quicker
            conn.execute(pgsql.SQL("ALTER ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE").format(
                pgsql.Identifier(self.reader)))
            if not conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[0]:  # type: ignore[index]
                conn.execute(pgsql.SQL("GRANT {} TO current_user").format(pgsql.Identifier(self.reader)))
            for (schema,) in conn.execute(
                    "SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%%' "
                    "AND nspname <> 'information_schema'").fetchall():
                if schema.startswith(MYDB_PREFIX):
                    self._grant_mydb(conn, schema)
                else:
                    self._grant_science(conn, schema)
            hide_catalog(conn, self.reader)
        self._ready = True

    def _ensure_setup(self) -> None:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self.setup()

    def _grant_science(self, conn: psycopg.Connection[Any], schema: str) -> None:
        role, sch = pgsql.Identifier(self.reader), pgsql.Identifier(schema)
        conn.execute(pgsql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(sch, role))
        conn.execute(pgsql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(sch, role))
        conn.execute(pgsql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}").format(sch, role))

    def _grant_mydb(self, conn: psycopg.Connection[Any], schema: str) -> None:
        role, sch = pgsql.Identifier(self.reader), pgsql.Identifier(schema)
        conn.execute(pgsql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(sch, role))
        conn.execute(pgsql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(sch, role))

    def ensure_schema(self, schema: str, conn: psycopg.Connection[Any] | None = None) -> None:
        """Create a schema (a user's MyDB or a science one) with the reader's grants."""
        check_name(TableName(schema, "x"))
        if conn is None:
            with self._service(autocommit=True) as own:
                self.ensure_schema(schema, own)
            self._schemas.add(schema)  # made or seen, committed (autocommit)
            return None
        if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone():
            conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(schema)))
            if schema.startswith(MYDB_PREFIX):
                self._grant_mydb(conn, schema)
            else:
                self._grant_science(conn, schema)
        return None

    def sql_from(self, table: TableName) -> str:
        """``"schema"."table"``: published tables and MyDB schemas keep their names here."""
        check_name(table)
        return f"{_ident(table.schema)}.{_ident(table.name)}"

    def close(self) -> None:
        """Close the idle pooled connections (of every engine object: they are this process's)."""
        pool.close_all()

    # ---- native SQL: the principal's own role -------------------------------------
    def enter_scope(self, scope: Scope) -> str:
        """Create the principal's role if needed and bring its grants to exactly ``scope``; return it.

        Column grants on the scope's tables (only the columns it lists that exist), USAGE on their
        schemas, USAGE and CREATE on its home schema; every other grant the role holds is revoked,
        so a share withdrawn since the last query is withdrawn here too.
        """
        role = self.role_of(scope.principal)
        with self.connect() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [role])  # one sync of a role at a time
            self.ensure_schema(scope.home, conn)
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone():
                conn.execute(pgsql.SQL("CREATE ROLE {} LOGIN NOINHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE "
                                       "NOREPLICATION PASSWORD {}").format(pgsql.Identifier(role),
                                                                          pgsql.Literal(_password(role))))
            wanted = _existing_columns(conn, scope)
            held = {tuple(r) for r in conn.execute(HELD_COLUMNS_SQL, {"role": role}).fetchall()}
            _apply_grants(conn, role, wanted, held)
            schemas = {s for s, _, _ in wanted}
            held_usage = {r[0] for r in conn.execute(HELD_SCHEMAS_SQL, {"role": role}).fetchall()}
            for schema in sorted(held_usage - schemas - {scope.home}):
                conn.execute(pgsql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(pgsql.Identifier(schema),
                                                                                pgsql.Identifier(role)))
            for schema in sorted(schemas - held_usage):
                conn.execute(pgsql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(pgsql.Identifier(schema),
                                                                               pgsql.Identifier(role)))
            if scope.home not in held_usage:
                conn.execute(pgsql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(
                    pgsql.Identifier(scope.home), pgsql.Identifier(role)))
            for schema, table in conn.execute(HELD_TABLES_SQL, {"role": role}).fetchall():
                conn.execute(pgsql.SQL("REVOKE ALL ON {} FROM {}").format(
                    _qualified(TableName(schema, table)), pgsql.Identifier(role)))
        return role

    # ---- the Engine protocol ---------------------------------------------------
    def execute(self, sql: str, *, into: TableName, timeout_s: float, job_id: str,
                scope: Scope | None = None) -> StoredResult:
        """``CREATE TABLE … AS`` as the reader (or the scope's role), then handed to the service user.

        Three round trips for a small result: the reader's settings, job tag and statement in one pipeline,
        its COMMIT, then ownership, grant and size in one pipeline with the service user's COMMIT. Which
        MyDB schemas exist is remembered (``_schemas``): a schema dropped since is made again and the
        statement run once more."""
        check_name(into)
        self._ensure_setup()
        if scope is not None and into.schema != scope.home:
            raise EngineError(f"results of {scope.principal} are stored in {scope.home} only")
        if scope is None and into.schema not in self._schemas:
            self.ensure_schema(into.schema)
        role = self.enter_scope(scope) if scope is not None else None  # which makes its home schema
        try:
            rows = self._create_as(sql, into, timeout_s, job_id, role)
        except _SchemaGone:  # dropped since this process saw it: make it again, run the statement once more
            self._schemas.discard(into.schema)
            if scope is None:
                self.ensure_schema(into.schema)
            else:
                role = self.enter_scope(scope)  # the schema again, and the role's grants on it
            rows = self._create_as(sql, into, timeout_s, job_id, role)
        return StoredResult(into, max(rows, 0), self._hand_over(into))

    def _create_as(self, sql: str, into: TableName, timeout_s: float, job_id: str, role: str | None) -> int:
        """Run ``CREATE TABLE into AS sql`` as the reader (or ``role``) in one transaction; return its rows.

        Its COMMIT does not wait for the disk (``synchronous_commit`` off for this transaction only): the
        service user's commit in ``_hand_over`` follows it and does wait, and PostgreSQL writes its log in
        order, so flushing that commit flushes this one too (it always writes: the table's owner changes
        from the reader or the scope's role to the service user). ``execute`` returns, and the job can be
        marked COMPLETED, only after that flush: a completed job never points at a table a crash lost."""
        text = pgsql.SQL("CREATE TABLE {} AS\n").format(_qualified(into))
        with self.connect(reader=role is None, role=role, autocommit=True) as conn:
            with Watch(job_id, timeout_s, conn.cancel_safe, enforce_timeout=False) as watch:
                try:
                    with conn.cursor() as cur:
                        with conn.pipeline():  # one round trip; the extended protocol refuses a second statement
                            cur.execute("BEGIN")
                            cur.execute(STORE_SETTINGS, [str(max(1, int(timeout_s * 1000))), f"daiquiri:{run_tag(job_id)}"])
                            # translated or scoped SQL, sent without parameters: no placeholder parsing
                            cur.execute(text.as_string(conn) + sql)  # type: ignore[arg-type]
                        rows = cur.rowcount
                    watch.raise_if_stopped()  # aborted just as it finished: keep nothing (the lease rolls back)
                    conn.execute("COMMIT")
                except psycopg.errors.DuplicateTable as e:
                    raise EngineError(f"a table named {into.name} already exists in {into.schema}") from e
                except psycopg.errors.InvalidSchemaName as e:
                    if into.schema in (e.diag.message_primary or ""):
                        raise _SchemaGone(into.schema) from e
                    raise _error(e, timeout_s) from e
                except psycopg.Error as e:
                    raise _error(e, timeout_s) from e
        return rows

    def _hand_over(self, into: TableName) -> int:
        """Give a result table to the service user (the reader keeps SELECT on it); return its size in bytes.

        One round trip: the three statements and the COMMIT go in one pipeline. This COMMIT waits for the
        disk, and makes the reader's table durable with it (see ``_create_as``)."""
        target = _qualified(into)
        with self._service(autocommit=True) as conn, conn.cursor() as cur:
            with conn.pipeline():  # BEGIN and COMMIT written out: psycopg's own BEGIN would be a Sync of its own
                cur.execute("BEGIN")
                cur.execute(pgsql.SQL("ALTER TABLE {} OWNER TO current_user").format(target))
                cur.execute(pgsql.SQL("GRANT SELECT ON {} TO {}").format(target, pgsql.Identifier(self.reader)))
                sized = conn.cursor()
                sized.execute("SELECT pg_total_relation_size(%s::regclass)", [target.as_string(conn)])
                cur.execute("COMMIT")
            size = sized.fetchone()
        return int(size[0]) if size else 0

    def stream(self, sql: str, *, timeout_s: float, job_id: str, batch_rows: int = 65536,
               scope: Scope | None = None, row_limit: int | None = None) -> Iterator[pa.RecordBatch]:
        self._ensure_setup()
        role = self.enter_scope(scope) if scope is not None else None
        if row_limit is not None and row_limit <= SMALL_PAGE:  # a small answer: a psql process and two connections cost more than it
            small = self._small_stream(sql, timeout_s=timeout_s, job_id=job_id, role=role)
            if small is not None:
                return iter(small)
        return self._copy_stream(sql, timeout_s=timeout_s, job_id=job_id, reader=True, role=role)

    def stream_csv(self, sql: str, *, timeout_s: float, job_id: str, maxrec: int | None,
                   accept: Callable[[pa.Schema], bool], scope: Scope | None = None,
                   row_limit: int | None = None) -> CsvText | None:
        """The rows as CSV written by COPY (see ``_csv_col``), at most ``maxrec``; None for a small answer
        (``stream`` needs no process for it) or a column COPY cannot write as the caller does."""
        if row_limit is not None and row_limit <= SMALL_PAGE:
            return None
        self._ensure_setup()
        role = self.enter_scope(scope) if scope is not None else None
        with self.connect(reader=role is None, role=role) as conn, conn.transaction(), conn.cursor() as cur:
            self._limit(cur, 60)
            typed = _describe_types(conn, cur, sql)
        texts = [_csv_col(f'"q".{_ident(name)}', typname) for name, typname in typed]
        schema = pa.schema([_out_col(name, typname).final for name, typname in typed])
        if len(set(schema.names)) != len(typed) or any(t is None for t in texts) or not accept(schema):
            return None
        columns = [f'"q".{_ident(name)}' for name, _ in typed]
        limited = maxrec is None or (row_limit is not None and row_limit <= maxrec + 1)  # the SQL's own LIMIT does
        if limited and all(t and t[0] == c for t, c in zip(texts, columns, strict=True)):
            query, names = sql, [_ident(name) for name, _ in typed]  # a wrapping SELECT would cost the server ~10%
        else:
            names = [f"c{i}" for i in range(len(typed))]
            query = ("SELECT " + ", ".join(f"{t[0]} AS {n}" for t, n in zip(texts, names, strict=True) if t) +
                     f" FROM (\n{sql}\n) AS q" + ("" if limited or maxrec is None else f" LIMIT {maxrec + 1}"))
        quoted = [n for t, n in zip(texts, names, strict=True) if t and t[1]]
        copy = f"COPY (\n{query}\n) TO STDOUT (FORMAT csv" + (f", FORCE_QUOTE ({', '.join(quoted)})" if quoted else "") + ")"
        setup = [f"SET statement_timeout = {max(1, int(timeout_s * 1000))}", "SET TimeZone = 'UTC'",
                 "SET DateStyle = 'ISO'", "SET extra_float_digits = 1", "SET client_encoding = 'UTF8'"]
        return CsvText(schema, lambda text: self._csv_rows(text, copy, setup, timeout_s, job_id, role, maxrec))

    def _csv_rows(self, text: CsvText, copy: str, setup: list[str], timeout_s: float, job_id: str,
                  role: str | None, maxrec: int | None) -> Generator[bytes | memoryview, None, None]:
        """COPY's bytes as they come, but the last record held back: the one past ``maxrec``, if it comes, is cut."""
        url = self.login_url(role) if role else self.reader_url
        source: _PsqlSource | _PsycopgSource = _PsqlSource(url, setup, copy, job_id) if PSQL else \
            _PsycopgSource(self, setup, copy, job_id, True, role)
        records = _Records()
        pump: _Pump | None = None
        try:
            with source as stream:
                pump = _Pump(stream, records)
                yield from pump
        except GeneratorExit:  # the reader stopped early: psql is gone, end the statement too
            try:
                self.cancel(job_id)
            except EngineError:
                log.warning("could not cancel the COPY of %s", job_id, exc_info=True)
            raise
        except OSError as e:
            source.raise_error(timeout_s, e)
        finally:
            if pump is not None:
                pump.join()  # after psql has ended, so its read returns
        source.raise_error(timeout_s, None)
        text.rows = records.count
        if maxrec is not None and records.count > maxrec:
            text.rows, text.overflow = maxrec, True
            yield records.without_last()
        else:
            yield records.rest()

    def fetch(self, table: TableName, *, offset: int = 0, limit: int | None = None,
              order_by: str | None = None, descending: bool = False) -> Iterator[pa.RecordBatch]:
        check_name(table)
        query = pgsql.SQL("SELECT * FROM {}").format(_qualified(table))
        if order_by is not None:
            query += pgsql.SQL(" ORDER BY {} {} NULLS LAST").format(
                pgsql.Identifier(order_by), pgsql.SQL("DESC" if descending else "ASC"))
        if limit is not None:
            query += pgsql.SQL(" LIMIT {}").format(pgsql.Literal(int(limit)))
        if offset:
            query += pgsql.SQL(" OFFSET {}").format(pgsql.Literal(int(offset)))
        with self.connect() as conn:
            text = query.as_string(conn)
            if limit is not None and limit <= SMALL_PAGE:
                return iter(self._small(conn, text))
        return self._copy_stream(text, timeout_s=3600, job_id=None, reader=False)

    def abort(self, job_id: str) -> None:
        request_abort(job_id)
        self.cancel(job_id)

    def cancel(self, job_id: str) -> None:
        """Cancel the job's running statement through the database alone (no Django)."""
        with self.connect(autocommit=True) as conn:
            conn.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = %s AND pid <> pg_backend_pid()", [f"daiquiri:{run_tag(job_id)}"])

    def introspect(self, schema: str, table: str | None = None) -> list[IntrospectedTable]:
        with self.connect() as conn:
            rows = conn.execute(INTROSPECT_SQL, {"schema": schema, "table": table}).fetchall()
        tables: dict[str, dict[str, Any]] = {}
        for name, description, estimate, column, native, col_description, indexed in rows:
            t = tables.setdefault(name, {"description": description or "", "rows": estimate, "columns": []})
            info = with_names(adql_from_native(native), column, indexed=bool(indexed))
            t["columns"].append(_described(info, col_description))
        if table is not None and table not in tables:
            raise EngineError(f"no table {schema}.{table}")
        return [IntrospectedTable(schema, name, tuple(t["columns"]), description=t["description"],
                                  rows=None if t["rows"] is None or t["rows"] < 0 else int(t["rows"]))
                for name, t in tables.items()]

    def ingest(self, table: TableName, batches: Iterator[pa.RecordBatch], schema: pa.Schema, *,
               replace: bool = False) -> int:
        import adbc_driver_postgresql.dbapi as adbc

        check_name(table)
        self._ensure_setup()
        self.ensure_schema(table.schema)
        tmp = f"_ingest_{uuid.uuid4().hex[:16]}"
        reader = pa.RecordBatchReader.from_batches(_plain_schema(schema), (_plain(b) for b in batches))
        with adbc.connect(self.url) as conn, conn.cursor() as cur:
            try:
                rows = cur.adbc_ingest(tmp, reader, mode="create", db_schema_name=table.schema)
                target = f'"{table.schema}"."{table.name}"'  # names checked by check_name
                if replace:
                    cur.execute(f"DROP TABLE IF EXISTS {target}")
                cur.execute(f'ALTER TABLE "{table.schema}"."{tmp}" RENAME TO "{table.name}"')
                cur.execute(f'GRANT SELECT ON {target} TO "{self.reader}"')
                conn.commit()
            except Exception as e:
                conn.rollback()
                if "already exists" in str(e):
                    raise EngineError(f"a table named {table.name} already exists in {table.schema}") from e
                raise EngineError(f"cannot store the table: {e}") from e
        return int(rows) if rows and rows > 0 else 0

    def drop(self, table: TableName) -> None:
        with self.connect() as conn:
            try:
                conn.execute(pgsql.SQL("DROP TABLE {}").format(_qualified(check_name(table))))
            except psycopg.errors.UndefinedTable as e:
                raise EngineError(f"no table {table.schema}.{table.name}") from e

    def rename(self, table: TableName, new: TableName) -> None:
        check_name(table), check_name(new)
        with self.connect() as conn, conn.transaction():
            try:
                if new.schema != table.schema:
                    conn.execute(pgsql.SQL("ALTER TABLE {} SET SCHEMA {}").format(
                        _qualified(table), pgsql.Identifier(new.schema)))
                    table = TableName(new.schema, table.name)
                if new.name != table.name:
                    conn.execute(pgsql.SQL("ALTER TABLE {} RENAME TO {}").format(
                        _qualified(table), pgsql.Identifier(new.name)))
            except psycopg.errors.DuplicateTable as e:
                raise EngineError(f"a table named {new.name} already exists in {new.schema}") from e
            except psycopg.Error as e:
                raise EngineError(str(e.diag.message_primary or e)) from e

    # ---- streaming -------------------------------------------------------------
    def _limit(self, cur: psycopg.Cursor[Any], timeout_s: float) -> None:
        cur.execute("SELECT set_config('statement_timeout', %s, true), set_config('TimeZone', 'UTC', true)",
                    [str(max(1, int(timeout_s * 1000)))])

    def describe(self, sql: str, *, reader: bool = True, role: str | None = None) -> list[OutCol]:
        """The query's columns, and how each is turned into Arrow."""
        with self.connect(reader=reader, role=role) as conn, conn.transaction(), conn.cursor() as cur:
            self._limit(cur, 60)
            return _describe(conn, cur, sql)

    def _small_stream(self, sql: str, *, timeout_s: float, job_id: str, role: str | None) -> list[pa.RecordBatch] | None:
        """A result of at most SMALL_PAGE rows through one psycopg connection, in place of COPY through psql,
        whose process start dominates a small query. None when the statement returns more rows after all
        (its LIMIT was not the outer one).

        One round trip when every column arrives as Arrow wants it (numbers, text, booleans, dates, arrays
        of these): the session's limits and the rows go together in a pipeline. A column the server must
        convert first (geometry, time zones, money, other types as text) costs a second one: the rows again,
        converted. Outside a transaction block (read-only: one statement needs none). The settings last for
        the session, which the pool's DISCARD ALL resets when the connection goes back."""
        page = f" FROM (\n{sql}\n) AS q LIMIT {SMALL_PAGE + 1}"  # bounded memory, whatever the text said
        with self.connect(reader=role is None, role=role, autocommit=True) as conn, conn.cursor() as cur:
            cur.adapters.register_loader("numeric", FloatLoader)  # NUMERIC arrives uncast (see _out_col)
            cols = _limited_session_rows(conn, cur, "SELECT *" + page, timeout_s, job_id)
            if len({c.name for c in cols}) != len(cols):
                raise EngineError("the query returns two columns with the same name; give them distinct aliases")
            if all(c.expr == _as_sent(c.name) for c in cols):
                rows = cur.fetchall()
            else:
                try:
                    rows = cur.execute("SELECT " + ", ".join(f"{c.expr} AS {_ident(c.name)}" for c in cols) + page).fetchall()  # type: ignore[arg-type]  # translated or scoped SQL
                except psycopg.Error as e:
                    raise _error(e, timeout_s) from e
        if len(rows) > SMALL_PAGE:
            return None
        final = pa.schema([c.final for c in cols])
        arrays = [pa.array([r[i] for r in rows], type=c.final.type) for i, c in enumerate(cols)]
        return [pa.RecordBatch.from_arrays(arrays, schema=final)]

    def _copy_stream(self, sql: str, *, timeout_s: float, job_id: str | None, reader: bool,
                     role: str | None = None) -> Iterator[pa.RecordBatch]:
        cols = self.describe(sql, reader=reader, role=role)
        if len({c.name for c in cols}) != len(cols):
            raise EngineError("the query returns two columns with the same name; give them distinct aliases")
        if all(c.expr == _as_sent(c.name) for c in cols):
            query = sql
        else:
            query = "SELECT " + ", ".join(f"{c.expr} AS {_ident(c.name)}" for c in cols) + f" FROM (\n{sql}\n) AS q"
        setup = [f"SET statement_timeout = {max(1, int(timeout_s * 1000))}", "SET TimeZone = 'UTC'"]
        return self._parse(cols, query, setup, timeout_s, job_id, reader, role)

    def _parse(self, cols: list[OutCol], query: str, setup: list[str], timeout_s: float,
               job_id: str | None, reader: bool, role: str | None) -> Iterator[pa.RecordBatch]:
        final = pa.schema([c.final for c in cols])
        names = [f"c{i}" for i in range(len(cols))]
        url = self.login_url(role) if role else self.reader_url if reader else self.url
        source: _PsqlSource | _PsycopgSource = _PsqlSource(url, setup, query, job_id) if PSQL else \
            _PsycopgSource(self, setup, query, job_id, reader, role)
        yielded = False
        try:
            with source as stream:
                csv_reader = pcsv.open_csv(stream, read_options=pcsv.ReadOptions(
                    column_names=names, block_size=4 << 20),
                    parse_options=pcsv.ParseOptions(ignore_empty_lines=False),  # one NULL column is an empty line
                    convert_options=pcsv.ConvertOptions(
                    column_types={n: c.arrow for n, c in zip(names, cols, strict=True)},
                    strings_can_be_null=True, quoted_strings_can_be_null=False, null_values=[""],
                    true_values=["t"], false_values=["f"]))
                try:
                    for batch in csv_reader:
                        yielded = True
                        yield _finish(batch, cols, final)
                finally:
                    csv_reader.close()  # stop its read-ahead thread before the pipe goes
        except GeneratorExit:  # the reader stopped early: psql is gone, end the statement too
            if job_id:
                self.cancel(job_id)
            raise
        except (pa.ArrowInvalid, OSError) as e:
            if "Empty CSV" not in str(e):
                source.raise_error(timeout_s, e)
        source.raise_error(timeout_s, None)
        if not yielded:
            yield pa.RecordBatch.from_pylist([], schema=final)

    def _small(self, conn: psycopg.Connection[Any], text: str) -> list[pa.RecordBatch]:
        """A page of a stored table without a subprocess (psycopg rows -> Arrow)."""
        cols = self.describe(text, reader=False)
        query = "SELECT " + ", ".join(f"{c.expr} AS {_ident(c.name)}" for c in cols) + f" FROM ({text}) AS q"
        with conn.transaction(), conn.cursor() as cur:
            cur.adapters.register_loader("numeric", FloatLoader)  # NUMERIC arrives uncast (see _out_col)
            self._limit(cur, 300)
            rows = cur.execute(query).fetchall()
        final = pa.schema([c.final for c in cols])
        arrays = [pa.array([r[i] for r in rows], type=c.final.type) for i, c in enumerate(cols)]
        return [pa.RecordBatch.from_arrays(arrays, schema=final)]


def _describe(conn: psycopg.Connection[Any], cur: psycopg.Cursor[Any], sql: str) -> list[OutCol]:
    """The columns ``sql`` returns (prepared, never run), and how each is turned into Arrow."""
    return [_out_col(name, typname) for name, typname in _describe_types(conn, cur, sql)]


def _describe_types(conn: psycopg.Connection[Any], cur: psycopg.Cursor[Any], sql: str) -> list[tuple[str, str]]:
    """The names and type names of the columns ``sql`` returns (prepared, never run)."""
    try:
        res = conn.pgconn.prepare(b"", f"SELECT * FROM (\n{sql}\n) AS q LIMIT 0".encode())
        _check(res)
        res = conn.pgconn.describe_prepared(b"")
        _check(res)
    except psycopg.Error as e:
        raise _error(e, 60) from e
    fields = [(res.fname(i) or b"").decode() for i in range(res.nfields)]
    return _type_names(conn, list(zip(fields, [res.ftype(i) for i in range(res.nfields)], strict=True)))


# A stored result's transaction: its time limit and time zone, a commit that does not wait for the disk (the
# service user's commit after it does: see _create_as), and the job tag for abort(job_id) (the session's, until
# the pool's DISCARD ALL).
STORE_SETTINGS = ("SELECT set_config('statement_timeout', %s, true), set_config('TimeZone', 'UTC', true), "
                  "set_config('synchronous_commit', 'off', true), set_config('application_name', %s, false)")
SESSION_LIMITS = ("SELECT set_config('statement_timeout', %s, false), set_config('TimeZone', 'UTC', false), "
                  "set_config('application_name', %s, false)")


def _limited_session_rows(conn: psycopg.Connection[Any], cur: psycopg.Cursor[Any], query: str, timeout_s: float,
                          job_id: str) -> list[OutCol]:
    """Set the session's time limit, time zone and job tag (for ``abort``) and run ``query`` in one round trip,
    on an autocommit connection; its columns (its rows wait in ``cur``)."""
    try:
        with conn.pipeline():
            conn.execute(SESSION_LIMITS, [str(max(1, int(timeout_s * 1000))), f"daiquiri:{run_tag(job_id)}"])
            cur.execute(query)  # type: ignore[arg-type]  # translated or scoped SQL
    except psycopg.Error as e:
        raise _error(e, timeout_s) from e
    described = [(c.name, c.type_code) for c in cur.description or ()]
    return [_out_col(name, typname) for name, typname in _type_names(conn, described)]


def _as_sent(name: str) -> str:
    """A column read as the server sends it (see _out_col)."""
    return f'"q".{_ident(name)}'


_TYPE_NAMES: dict[tuple[str, int], str] = {}  # (database, type oid) -> its name: asked once per process


def _type_names(conn: psycopg.Connection[Any], described: list[tuple[str, int]]) -> list[tuple[str, str]]:
    """(column, type oid) -> (column, type name). An oid names one type for as long as it exists (extensions'
    types too), so the names are remembered rather than looked up in pg_type for every query."""
    database = f"{conn.info.host}:{conn.info.port}/{conn.info.dbname}"
    missing = sorted({oid for _, oid in described if (database, oid) not in _TYPE_NAMES})
    if missing:
        # A cursor of its own: the caller's may hold the rows of the query described.
        for oid, name in conn.execute("SELECT oid::int, typname FROM pg_type WHERE oid = ANY(%s)", [missing]).fetchall():
            _TYPE_NAMES[(database, oid)] = name
    return [(name, _TYPE_NAMES.get((database, oid), "text")) for name, oid in described]


class _Records:
    """Counts the CSV records of a stream and holds the last one back until the end (it may be one too many).

    A line break ends a record when an even number of quotes came before it (RFC 4180: quotes come in
    pairs, doubled inside a quoted value), so line breaks inside quoted values are not counted.
    """

    def __init__(self) -> None:
        self.count = 0
        self._odd = 0  # whether an odd number of quotes came so far
        self._held = bytearray()  # the last complete record, then what came after it
        self._split = 0  # where, in _held, the last complete record ends

    def feed(self, chunk: bytes | bytearray) -> list[bytes | memoryview]:
        """The pieces that can go out now: everything before the last complete record."""
        count, ends, quotes = _record_ends(chunk, self._odd)
        self._odd = (self._odd + quotes) & 1
        self.count += count
        if not count:
            self._held += chunk
            return []
        out: list[bytes | memoryview]
        if count == 1:
            out = [bytes(self._held[:self._split])]
            del self._held[:self._split]
            self._split = len(self._held) + ends[-1]
            self._held += chunk
            return out
        last, end = ends
        out = [bytes(self._held), memoryview(chunk)[:last]]
        self._held, self._split = bytearray(chunk[last:]), end - last
        return out

    def rest(self) -> bytes:
        return bytes(self._held)

    def without_last(self) -> bytes:
        """At the end: nothing, as what is held is the last record (COPY ends each with a line break)."""
        return bytes(self._held[self._split:])


def _record_ends(chunk: bytes | bytearray, odd: int) -> tuple[int, list[int], int]:
    """How many line breaks of ``chunk`` end a record, the offsets just after the last two of them (or
    the one), and the number of quotes in it (``odd``: whether an odd number of quotes came before the chunk).

    The quotes and line breaks become bit masks in 64-bit words: the parity of the quotes up to each byte is
    then six shifts and XORs per word and one running XOR over the words (the way simdjson finds quoted
    strings), a fifth of the work of finding every quote and line break (measured on 1 MiB blocks of
    the 1M-row download).
    """
    data = np.frombuffer(chunk, np.uint8)
    quotes, breaks = _bit_words(data == 34), _bit_words(data == 10)
    inside = quotes.copy()  # bit i: whether an odd number of the word's quotes are at or before i
    for shift in (1, 2, 4, 8, 16, 32):
        inside ^= inside << np.uint64(shift)
    word_odd = (inside >> np.uint64(63)).astype(np.uint64)
    before = np.bitwise_xor.accumulate(word_odd) ^ word_odd ^ np.uint64(odd)  # odd quotes before each word
    inside ^= before * _ALL_BITS
    ends = breaks & ~inside
    last: list[int] = []
    for word in np.flatnonzero(ends)[::-1][:2]:
        bits = int(ends[word])
        while bits and len(last) < 2:
            last.insert(0, int(word) * 64 + bits.bit_length())  # just after the highest line break left
            bits &= ~(1 << (bits.bit_length() - 1))
    return int(np.bitwise_count(ends).sum()), last[-2:], int(np.bitwise_count(quotes).sum())


_ALL_BITS = np.uint64(0xFFFF_FFFF_FFFF_FFFF)


def _bit_words(mask: np.ndarray[Any, np.dtype[np.bool_]]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """A byte mask as bits, byte i at bit i % 64 of word i // 64 (zeros after its end)."""
    packed = np.packbits(mask, bitorder="little")
    if len(packed) % 8:
        packed = np.concatenate([packed, np.zeros(8 - len(packed) % 8, np.uint8)])
    return packed.view("<u8")


class _Pump:
    """Reads the pipe on its own thread and counts its records there, so psql never waits for the consumer
    (measured: psql writing into a pipe read between the consumer's work was ~25% slower than into /dev/null).
    Iterating yields what ``records.feed`` lets go; at most QUEUED reads wait in memory."""

    QUEUED = 16
    BLOCK = 1 << 20
    MIN_CHUNK = 64 << 10  # apps.formats.MIN_CHUNK: the response holds back less than this anyway
    IDLE_MS = 50

    def __init__(self, stream: IO[bytes], records: _Records) -> None:
        _widen_pipe(stream)
        self._fd, self._records = stream.fileno(), records
        self._poll = select.poll()
        self._poll.register(self._fd, select.POLLIN)
        self._queue: queue.Queue[list[bytes | memoryview] | BaseException | None] = queue.Queue(self.QUEUED)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="copy-pump", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        item: list[bytes | memoryview] | BaseException | None = None
        try:
            while block := self._read_block():
                if not self._put(self._records.feed(block)):
                    return
        except BaseException as e:  # handed to the consumer
            item = e
        self._put(item)

    def _read_block(self) -> bytearray:
        """Up to BLOCK bytes: reads until the block is full, the pipe ends, or nothing more is there: at once
        once the block holds what the response sends as one chunk (MIN_CHUNK), else within IDLE_MS, so a slow
        query's rows go out as soon as before. A pipe read returns what one write of the other side put there
        (4 KiB from psql's stdio without stdbuf): counting and handing over each piece cost more than its bytes
        (measured on the 1M-row download: 4,800 pieces, ~0.25 s of this thread)."""
        block = bytearray(self.BLOCK)
        size = 0
        with memoryview(block) as view:
            while size < self.BLOCK:
                if size and not self._poll.poll(0 if size >= self.MIN_CHUNK else self.IDLE_MS):
                    break
                read = os.readv(self._fd, [view[size:]])
                if not read:
                    break
                size += read
        del block[size:]
        return block

    def _put(self, item: list[bytes | memoryview] | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[bytes | memoryview]:
        while (item := self._queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from item

    def join(self) -> None:
        self._stop.set()
        self._thread.join()


def _widen_pipe(stream: IO[bytes]) -> None:
    """Fewer, bigger reads: a 1 MiB pipe (Linux) where the system allows it."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), 1031, 1 << 20)  # F_SETPIPE_SZ
    except (OSError, ImportError):
        pass


class _PsqlSource:
    """``psql`` running the COPY, its stdout read by pyarrow.

    Each ``-c`` string goes to the server as it is: no psql variables or
    backslash commands are interpreted; ``describe`` has already proved with
    the extended protocol that the query is one SELECT.
    """

    def __init__(self, url: str, setup: list[str], query: str, job_id: str | None) -> None:
        self.url, self.setup, self.query, self.job_id = url, setup, query, job_id
        self.stderr = b""

    def __enter__(self) -> IO[bytes]:
        params = psycopg.conninfo.conninfo_to_dict(self.url)
        password = params.pop("password", None)  # through the environment, not the process list
        env = {**os.environ, "PGAPPNAME": f"daiquiri:{run_tag(self.job_id)}" if self.job_id else "daiquiri"}
        if password:
            env["PGPASSWORD"] = str(password)
        argv = [*_STDOUT_IN_BLOCKS, PSQL or "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                psycopg.conninfo.make_conninfo(**params)]  # type: ignore[arg-type]
        copy = self.query if self.query.startswith("COPY (") else f"COPY (\n{self.query}\n) TO STDOUT (FORMAT csv)"
        for statement in [*self.setup, copy]:
            argv += ["-c", statement]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,  # noqa: S603
                                     stderr=subprocess.PIPE, env=env)
        assert self.proc.stdout is not None
        return self.proc.stdout

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None and exc[0] is not None:
            self.proc.kill()  # the reader stopped early: end the COPY
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        self.proc.wait()

    def raise_error(self, timeout_s: float, cause: Exception | None) -> None:
        if self.proc.returncode not in (0, None) or cause is not None:
            raise _message_error(self.stderr.decode(errors="replace"), timeout_s, cause)


class _PsycopgSource:
    """The same COPY through psycopg in a thread, into a pipe (no psql binary)."""

    def __init__(self, engine: PostgreSQLEngine, setup: list[str], query: str, job_id: str | None,
                 reader: bool, role: str | None) -> None:
        self.engine, self.setup, self.query, self.job_id, self.reader = engine, setup, query, job_id, reader
        self.role = role
        self.error: Exception | None = None

    def __enter__(self) -> IO[bytes]:
        r, self._w = os.pipe()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()
        self._r = os.fdopen(r, "rb", buffering=0)
        return self._r

    def _pump(self) -> None:
        try:
            with self.engine.connect(self.job_id, reader=self.reader, role=self.role) as conn, conn.cursor() as cur:
                for statement in self.setup:
                    cur.execute(statement)
                statement = self.query if self.query.startswith("COPY (") else f"COPY ({self.query}) TO STDOUT (FORMAT csv)"
                with cur.copy(statement) as copy:
                    parts: list[bytes] = []
                    size = 0
                    for data in copy:
                        parts.append(bytes(data))
                        size += len(data)
                        if size >= 1 << 20:
                            os.write(self._w, b"".join(parts))
                            parts, size = [], 0
                    os.write(self._w, b"".join(parts))
        except Exception as e:  # handed to the reading thread
            self.error = e
        finally:
            os.close(self._w)

    def __exit__(self, *exc: object) -> None:
        self._r.close()
        self._thread.join()

    def raise_error(self, timeout_s: float, cause: Exception | None) -> None:
        if isinstance(self.error, psycopg.Error):
            raise _error(self.error, timeout_s) from self.error
        if self.error is not None or cause is not None:
            raise EngineError(str(self.error or cause))


# ---- roles and grants -------------------------------------------------------------
# Column grants held by a role (what native SQL of its principal may read).
HELD_COLUMNS_SQL = """
SELECT n.nspname, c.relname, a.attname FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(a.attacl) x
WHERE a.attacl IS NOT NULL AND x.grantee = %(role)s::regrole AND x.privilege_type = 'SELECT'
"""
# Table-level privileges of a role: it gets none (an owner's ALTER OWNER leaves none either).
HELD_TABLES_SQL = """
SELECT DISTINCT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN LATERAL aclexplode(c.relacl) x WHERE c.relacl IS NOT NULL AND x.grantee = %(role)s::regrole
"""
HELD_SCHEMAS_SQL = """
SELECT DISTINCT n.nspname FROM pg_namespace n CROSS JOIN LATERAL aclexplode(n.nspacl) x
WHERE n.nspacl IS NOT NULL AND x.grantee = %(role)s::regrole
"""
EXISTING_COLUMNS_SQL = """
SELECT n.nspname, c.relname, a.attname FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN unnest(%(schemas)s::text[], %(tables)s::text[], %(columns)s::text[]) w(s, t, col)
  ON w.s = n.nspname AND w.t = c.relname AND w.col = a.attname
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f')
"""


def _password(role: str) -> str:
    """The role's password: derived, so every process of this portal can log in as it."""
    return secret_hash("pg-role", role, size=40)


def _existing_columns(conn: psycopg.Connection[Any], scope: Scope) -> set[tuple[str, str, str]]:
    """The scope's (schema, table, column) triples that exist in the database."""
    triples = [(t.table.schema, t.table.name, c) for t in scope.tables for c in t.columns]
    if not triples:
        return set()
    schemas, tables, columns = (list(x) for x in zip(*triples, strict=True))
    rows = conn.execute(EXISTING_COLUMNS_SQL, {"schemas": schemas, "tables": tables, "columns": columns}).fetchall()
    return {(r[0], r[1], r[2]) for r in rows}


def _apply_grants(conn: psycopg.Connection[Any], role: str, wanted: set[tuple[str, str, str]],
                  held: set[tuple[Any, ...]]) -> None:
    """GRANT/REVOKE SELECT on columns, one statement per table, so ``held`` becomes ``wanted``."""
    for verb, triples in (("REVOKE", held - wanted), ("GRANT", wanted - held)):
        by_table: dict[tuple[str, str], list[str]] = {}
        for schema, table, column in sorted(triples):
            by_table.setdefault((schema, table), []).append(column)
        for (schema, table), columns in by_table.items():
            cols = pgsql.SQL(", ").join(pgsql.Identifier(c) for c in columns)
            statement = "REVOKE SELECT ({}) ON {} FROM {}" if verb == "REVOKE" else "GRANT SELECT ({}) ON {} TO {}"
            conn.execute(pgsql.SQL(statement).format(cols, _qualified(TableName(schema, table)),  # type: ignore[arg-type]
                                                     pgsql.Identifier(role)))


def hide_catalog(conn: psycopg.Connection[Any], reader: str) -> None:
    """Revoke from PUBLIC the catalogue views and functions in LEAKY_CATALOG (the service user keeps
    them), and make sure the reader is no member of the roles that read everybody's activity."""
    superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    statements: list[pgsql.SQL | pgsql.Composed] = []
    for name in LEAKY_CATALOG:
        if not conn.execute("SELECT to_regclass(%s)", [f"pg_catalog.{name}"]).fetchone()[0]:  # type: ignore[index]
            continue
        relation = pgsql.SQL("pg_catalog.{}").format(pgsql.Identifier(name))
        if not (superuser and superuser[0]):
            statements.append(pgsql.SQL("GRANT SELECT ON {} TO current_user").format(relation))
        statements.append(pgsql.SQL("REVOKE SELECT ON {} FROM PUBLIC").format(relation))
    for function in LEAKY_FUNCTIONS:
        if conn.execute("SELECT to_regprocedure(%s)", [f"pg_catalog.{function}"]).fetchone()[0]:  # type: ignore[index]
            statements.append(pgsql.SQL(f"REVOKE EXECUTE ON FUNCTION pg_catalog.{function} FROM PUBLIC"))  # type: ignore[arg-type]
    for role in ("pg_read_all_stats", "pg_monitor", "pg_read_all_data"):
        statements.append(pgsql.SQL("REVOKE {} FROM {}").format(pgsql.Identifier(role), pgsql.Identifier(reader)))
    for statement in statements:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:  # a service user that is not a superuser: say so, go on
            log.warning("cannot run %s: the catalogue stays readable; run it as a superuser",
                        statement.as_string(conn))


# ---- types ---------------------------------------------------------------------
_SIMPLE = {
    "int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64(), "float4": pa.float32(), "float8": pa.float64(),
    "bool": pa.bool_(), "text": pa.string(), "varchar": pa.string(), "bpchar": pa.string(), "name": pa.string(),
    "timestamp": pa.timestamp("us"), "date": pa.date32(),
}


_GEOMETRY_DEGREES = {  # pg_sphere values as DALI lists of degrees (NULL stays NULL, not a list of NULLs)
    "spoint": "CASE WHEN {c} IS NOT NULL THEN ARRAY[DEGREES(long({c})), DEGREES(lat({c}))] END",
    "scircle": "CASE WHEN {c} IS NOT NULL THEN ARRAY[DEGREES(long(center({c}))), DEGREES(lat(center({c}))), "
               "DEGREES(radius({c}))] END",
}


def _out_col(name: str, typname: str) -> OutCol:
    col = _as_sent(name)
    if typname in _SIMPLE:
        t = _SIMPLE[typname]
        return OutCol(name, col, t, pa.field(name, t))
    if typname == "timestamptz":
        t = pa.timestamp("us")
        return OutCol(name, f"({col} AT TIME ZONE 'UTC')", t, pa.field(name, t))
    if typname == "numeric":
        # Its text is parsed as a double here (correctly rounded, as the server's cast would): a CAST would make
        # the server convert and format every value again, which halved the rate of a 1M-row download.
        return OutCol(name, col, pa.float64(), pa.field(name, pa.float64()))
    if typname == "money":
        return OutCol(name, f"CAST({col} AS DOUBLE PRECISION)", pa.float64(), pa.field(name, pa.float64()))
    if typname in _GEOMETRY_DEGREES:
        return _geometry(name, _GEOMETRY_DEGREES[typname].format(c=col), "point" if typname == "spoint" else "circle")
    if typname.startswith("_") and typname[1:] in _SIMPLE and typname[1:] not in ("timestamp", "date"):
        inner = _SIMPLE[typname[1:]]
        return OutCol(name, col, pa.string(), pa.field(name, pa.list_(inner)), array=True)
    return OutCol(name, f"CAST({col} AS TEXT)", pa.string(), pa.field(name, pa.string()))


def _geometry(name: str, expr: str, xtype: str) -> OutCol:
    field = pa.field(name, pa.list_(pa.float64()), metadata={"xtype": xtype})
    return OutCol(name, expr, pa.string(), field, array=True)


# How COPY writes a column as apps.formats' CSV writer does: (expression, always quoted), by type name.
_CSV_BOOL = "CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' END"  # constants: {c}::text costs the server ~10%
_CSV_TIMESTAMP = "to_char({c}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US')"
_CSV_INTEGER_ARRAYS = ("_int2", "_int4", "_int8")  # float arrays would write NaN, not nan: they go through stream


def _csv_col(col: str, typname: str) -> tuple[str, bool] | None:
    """The expression COPY writes for ``col`` and whether it is always quoted; None where COPY cannot
    write it as the writer does (the result then goes through ``stream``). Floats and NUMERIC keep their
    own text (the same numbers, see above); timestamps are UTC."""
    if typname in ("int2", "int4", "int8"):
        return col, False
    if typname in ("float4", "float8", "numeric"):
        # Their own text, which reads as the very double the writer would write (for NUMERIC, see _out_col),
        # though spelled otherwise at times: 1e-05 for 0.00001, NaN and Infinity for nan and inf, a NUMERIC's
        # scale digits (0.00100). Casting or testing every value costs the server more than writing the row
        # (measured on a 1M-row download: NUMERIC to double 1.7x, a NaN/Infinity CASE on two REALs 1.25x).
        return col, False
    if typname == "money":  # never NaN
        return f"CAST({col} AS DOUBLE PRECISION)::text", False
    if typname == "bool":
        return _CSV_BOOL.format(c=col), False
    if typname in ("text", "varchar", "bpchar", "name"):
        return col, True
    if typname in ("timestamp", "timestamptz"):
        return _CSV_TIMESTAMP.format(c=col if typname == "timestamp" else f"({col} AT TIME ZONE 'UTC')"), True
    if typname == "date":
        return f"to_char({col}, 'YYYY-MM-DD')", True
    if typname in _CSV_INTEGER_ARRAYS:
        return f"array_to_string({col}, ' ')", True
    if typname in _GEOMETRY_DEGREES:
        return f"array_to_string({_GEOMETRY_DEGREES[typname].format(c=col)}, ' ')", True
    return None


def _finish(batch: pa.RecordBatch, cols: list[OutCol], final: pa.Schema) -> pa.RecordBatch:
    arrays = []
    for array, col in zip(batch.columns, cols, strict=True):
        if col.array:  # "{1.5,2}" -> [1.5, 2.0]
            inner = pc.replace_substring_regex(array, pattern=r"^\{|\}$", replacement="")
            parts = pc.split_pattern(inner, pattern=",")
            array = pc.if_else(pc.equal(inner, ""), pa.scalar([], parts.type), parts).cast(col.final.type)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=final)


def _plain_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, f.type) for f in schema])


def _plain(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays(batch.columns, schema=_plain_schema(batch.schema))


def _described(info: Any, description: str | None) -> Any:
    from dataclasses import replace

    return replace(info, description=description or "")


# ---- errors and names ------------------------------------------------------------
def _error(e: psycopg.Error, timeout_s: float) -> Exception:
    if isinstance(e, psycopg.errors.QueryCanceled):
        return _message_error(str(e), timeout_s, e)
    message = e.diag.message_primary if e.diag and e.diag.message_primary else str(e)
    return EngineError(message)


def _message_error(text: str, timeout_s: float, cause: Exception | None) -> Exception:
    if "statement timeout" in text:
        return QueryTimeout(f"the query ran longer than the time limit of {timeout_s:g} s")
    if "user request" in text or "canceling statement" in text:
        return QueryAborted("the query was aborted")
    match = re.search(r"ERROR:\s+(.*)", text)
    return EngineError(match.group(1) if match else (text.strip() or str(cause)))


def exec_one(conn: psycopg.Connection[Any], text: str) -> int:
    """Run one statement with the extended protocol (which refuses a second
    statement) and no placeholder parsing; return the rows it affected."""
    res = conn.pgconn.exec_params(text.encode(), [])
    _check(res)
    tuples = res.command_tuples
    return int(tuples) if tuples is not None else 0


def _check(res: Any) -> None:
    from psycopg import pq

    if res.status == pq.ExecStatus.FATAL_ERROR:
        raise psycopg.errors.error_from_result(res, encoding="utf-8")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _qualified(table: TableName) -> pgsql.Composed:
    return pgsql.SQL("{}.{}").format(pgsql.Identifier(table.schema), pgsql.Identifier(table.name))


def ensure_extensions(conn: psycopg.Connection[Any]) -> None:
    """q3c and pg_sphere in the science database (needs a superuser the first time).

    Debian's pg_sphere 1.2.0 script declares two DaCHS-compatibility ``@``
    operators on smoc whose commutator clashes on recent PostgreSQL 15 minor
    releases, so CREATE EXTENSION fails; then we run the script without them
    (the objects land in ``public``; every operator we use is there).
    """
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS q3c")
    except psycopg.Error:
        pass  # not installed or not allowed: q3c is an optimisation only
    if conn.execute("SELECT 1 FROM pg_type WHERE typname = 'spoint'").fetchone():
        return
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_sphere")
        return
    except psycopg.Error:
        pass
    row = conn.execute("SELECT setting FROM pg_config WHERE name = 'SHAREDIR'").fetchone()
    if row is None:
        return
    folder = os.path.join(row[0], "extension")
    control = open(os.path.join(folder, "pg_sphere.control")).read()
    version = re.search(r"default_version\s*=\s*'([^']+)'", control)
    if version is None:
        return
    script = open(os.path.join(folder, f"pg_sphere--{version.group(1)}.sql")).read()
    script = script.replace("MODULE_PATHNAME", "$libdir/pg_sphere")
    script = re.sub(r"^\\echo.*$", "", script, flags=re.M)
    script = re.sub(r"CREATE OPERATOR @ \(\s*LEFTARG\s*=\s*(?:bigint|spoint),\s*RIGHTARG\s*=\s*smoc,[^;]*;",
                    "", script)
    with conn.transaction():
        conn.execute(script.encode())  # type: ignore[call-overload]


INTROSPECT_SQL = """
SELECT c.relname, obj_description(c.oid, 'pg_class'), c.reltuples::bigint,
       a.attname, format_type(a.atttypid, a.atttypmod), col_description(c.oid, a.attnum),
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND (a.attnum = ANY(i.indkey)
               OR a.attname = ANY(regexp_split_to_array(pg_get_expr(i.indexprs, i.indrelid), '[^A-Za-z0-9_]+'))))
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
  AND (%(table)s::text IS NULL OR c.relname = %(table)s) AND c.relname NOT LIKE '\\_ingest\\_%%'
ORDER BY c.relname, a.attnum
"""
