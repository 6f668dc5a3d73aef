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
- ``ingest`` writes Arrow with ADBC's binary COPY into a temporary table that
  is renamed in the same transaction.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from psycopg import sql as pgsql

from .base import EngineError, IntrospectedTable, QueryAborted, QueryTimeout, Scope, StoredResult, TableName
from .common import Watch, check_name, request_abort, run_tag, secret_hash
from .types import adql_from_native, with_names

READER = "daiquiri_reader"
MYDB_PREFIX = "mydb_"
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
PSQL = shutil.which("psql")
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

    def __init__(self, url: str, *, reader_role: str = READER) -> None:
        self.url = url
        self.reader = reader_role
        self._ready = False
        self._lock = threading.Lock()
        database = str(psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "")
        # Roles are cluster-wide: portals on one server, with their own databases, keep their roles apart.
        self._role_prefix = f"{reader_role}_{secret_hash('pg-database', database, size=6)}_"[:50]

    # ---- connections and set-up ------------------------------------------------
    def connect(self, job_id: str | None = None, *, autocommit: bool = False,
                reader: bool = False, role: str | None = None) -> psycopg.Connection[Any]:
        """A connection as the service user, as the read-only role (``reader``) or as a principal's ``role``."""
        app = f"daiquiri:{run_tag(job_id)}" if job_id else "daiquiri"
        try:
            return psycopg.connect(self.login_url(role) if role else self.reader_url if reader else self.url,
                                   application_name=app, autocommit=autocommit)
        except psycopg.Error as e:
            raise EngineError(f"cannot connect to the PostgreSQL science database: {e}") from e

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
            with self.connect(autocommit=True) as own:
                return self.ensure_schema(schema, own)
        if not conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]).fetchone():
            conn.execute(pgsql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(pgsql.Identifier(schema)))
            if schema.startswith(MYDB_PREFIX):
                self._grant_mydb(conn, schema)
            else:
                self._grant_science(conn, schema)
        return None

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
        check_name(into)
        self._ensure_setup()
        if scope is not None and into.schema != scope.home:
            raise EngineError(f"results of {scope.principal} are stored in {scope.home} only")
        if scope is None:
            self.ensure_schema(into.schema)
        role = self.enter_scope(scope) if scope is not None else None  # which makes its home schema
        target = _qualified(into)
        with self.connect(job_id, reader=True, role=role) as conn:
            with Watch(job_id, timeout_s, conn.cancel_safe, enforce_timeout=False) as watch:
                try:
                    with conn.transaction(), conn.cursor() as cur:
                        self._limit(cur, timeout_s)
                        rows = exec_one(conn, pgsql.SQL("CREATE TABLE {} AS\n").format(target).as_string(conn) + sql)
                        watch.raise_if_stopped()  # aborted just as it finished: keep nothing
                except psycopg.errors.DuplicateTable as e:
                    raise EngineError(f"a table named {into.name} already exists in {into.schema}") from e
                except psycopg.Error as e:
                    raise _error(e, timeout_s) from e
        with self.connect() as conn:  # the service user owns results; the reader may read them
            conn.execute(pgsql.SQL("ALTER TABLE {} OWNER TO current_user").format(target))
            conn.execute(pgsql.SQL("GRANT SELECT ON {} TO {}").format(target, pgsql.Identifier(self.reader)))
            size = conn.execute("SELECT pg_total_relation_size(%s::regclass)", [target.as_string(conn)]).fetchone()
        return StoredResult(into, max(rows, 0), int(size[0]) if size else 0)

    def stream(self, sql: str, *, timeout_s: float, job_id: str, batch_rows: int = 65536,
               scope: Scope | None = None) -> Iterator[pa.RecordBatch]:
        self._ensure_setup()
        role = self.enter_scope(scope) if scope is not None else None
        return self._copy_stream(sql, timeout_s=timeout_s, job_id=job_id, reader=True, role=role)

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
            try:
                res = conn.pgconn.prepare(b"", f"SELECT * FROM (\n{sql}\n) AS q LIMIT 0".encode())
                _check(res)
                res = conn.pgconn.describe_prepared(b"")
                _check(res)
            except psycopg.Error as e:
                raise _error(e, 60) from e
            fields = [(res.fname(i) or b"").decode() for i in range(res.nfields)]
            oids = [res.ftype(i) for i in range(res.nfields)]
            types = dict(cur.execute("SELECT oid::int, typname FROM pg_type WHERE oid = ANY(%s)", [oids]).fetchall())
        return [_out_col(name, types.get(oid, "text")) for name, oid in zip(fields, oids, strict=True)]

    def _copy_stream(self, sql: str, *, timeout_s: float, job_id: str | None, reader: bool,
                     role: str | None = None) -> Iterator[pa.RecordBatch]:
        cols = self.describe(sql, reader=reader, role=role)
        if len({c.name for c in cols}) != len(cols):
            raise EngineError("the query returns two columns with the same name; give them distinct aliases")
        if all(c.expr == f'"q".{_ident(c.name)}' for c in cols):
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
                    column_names=names, block_size=4 << 20), convert_options=pcsv.ConvertOptions(
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
            self._limit(cur, 300)
            rows = cur.execute(query).fetchall()
        final = pa.schema([c.final for c in cols])
        arrays = [pa.array([r[i] for r in rows], type=c.final.type) for i, c in enumerate(cols)]
        return [pa.RecordBatch.from_arrays(arrays, schema=final)]


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
        argv = [PSQL or "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d",
                psycopg.conninfo.make_conninfo(**params)]  # type: ignore[arg-type]
        for statement in [*self.setup, f"COPY (\n{self.query}\n) TO STDOUT (FORMAT csv)"]:
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
                with cur.copy(f"COPY ({self.query}) TO STDOUT (FORMAT csv)") as copy:
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


def _out_col(name: str, typname: str) -> OutCol:
    col = f'"q".{_ident(name)}'
    if typname in _SIMPLE:
        t = _SIMPLE[typname]
        return OutCol(name, col, t, pa.field(name, t))
    if typname == "timestamptz":
        t = pa.timestamp("us")
        return OutCol(name, f"({col} AT TIME ZONE 'UTC')", t, pa.field(name, t))
    if typname in ("numeric", "money"):
        return OutCol(name, f"CAST({col} AS DOUBLE PRECISION)", pa.float64(), pa.field(name, pa.float64()))
    if typname == "spoint":
        return _geometry(name, f"ARRAY[DEGREES(long({col})), DEGREES(lat({col}))]", "point")
    if typname == "scircle":
        return _geometry(name, f"ARRAY[DEGREES(long(center({col}))), DEGREES(lat(center({col}))), "
                               f"DEGREES(radius({col}))]", "circle")
    if typname.startswith("_") and typname[1:] in _SIMPLE and typname[1:] not in ("timestamp", "date"):
        inner = _SIMPLE[typname[1:]]
        return OutCol(name, col, pa.string(), pa.field(name, pa.list_(inner)), array=True)
    return OutCol(name, f"CAST({col} AS TEXT)", pa.string(), pa.field(name, pa.string()))


def _geometry(name: str, expr: str, xtype: str) -> OutCol:
    field = pa.field(name, pa.list_(pa.float64()), metadata={"xtype": xtype})
    return OutCol(name, expr, pa.string(), field, array=True)


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
