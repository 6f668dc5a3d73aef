"""MariaDB through PyMySQL.

- Results go to the database ``mydb_<user id>``: ``CREATE TABLE`` under a
  temporary name, then ``RENAME TABLE`` (MariaDB DDL is not transactional,
  so a failure drops the temporary table and never touches the final name).
- Each statement carries ``SET STATEMENT max_statement_time=<limit> FOR`` and
  a ``/* daiquiri:<tag> */`` comment (``run_tag(job_id)``, never the job id);
  ``abort(job_id)`` from any process finds that comment in PROCESSLIST and
  runs ``KILL QUERY``.
- Native SQL (a ``Scope``) runs as the principal's own account
  (``<prefix>u<id>``@``%``, a password derived from SECRET_KEY), whose column
  grants are brought to exactly the scope before each query (under GET_LOCK),
  with CREATE and INSERT on its own MyDB database only (for CREATE TABLE … AS);
  MariaDB shows such an account no other database, table, column or thread.
- Users' MyDB schemas (``mydb_<id>``, the tables the portal makes on its own)
  live in server databases named after the database of SCIENCE_MARIADB_URL:
  ``<database>_mydb_<id>`` (``server_database``), so two portals on one server
  never share them; science schemas are the databases the operator names.
  That database holds ``daiquiri_installation`` (the owning portal's SITE_URL):
  ``installation_problem`` (a system check) refuses to start a portal on
  another's database.
- PyMySQL does not enable multi-statements, so one call is one statement.
- Geometry values are DALI text ("ra dec ...") as the ADQL dialect emits them.
- A science table with positions (``sky_columns``) gets a hidden, indexed
  ``_healpix_29`` column at ingest (the NESTED order-29 HEALPix index, NULL for
  no position): the ADQL translator's pruning ranges (apps/adql/pruning.py)
  turn a cone into a B-tree range scan on it. ``introspect`` does not show it,
  so it reaches users only when a publisher declares it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa
import pymysql
import pymysql.cursors
from pymysql.constants import FIELD_TYPE

from apps.adql.catalog import SkyIndex

from .base import MYDB_PREFIX, EngineError, IntrospectedTable, QueryAborted, QueryTimeout, Scope, StoredResult, TableName
from .common import Watch, check_job_id, check_name, request_abort, run_tag, secret_hash
from .types import adql_from_native, with_names

SYSTEM_DATABASES = frozenset({"mysql", "information_schema", "performance_schema", "sys"})
MARKER = "daiquiri_installation"
ER_STATEMENT_TIMEOUT = 1969
ER_QUERY_INTERRUPTED = 1317
INSERT_ROWS = 2000
HEALPIX_COLUMN = "_healpix_29"  # as HATS names it (hats.py)
# Position columns found by name when the Arrow fields carry no UCD (metadata b"ucd").
POSITION_NAMES = (("ra", "dec"), ("raj2000", "dej2000"), ("ra_deg", "dec_deg"), ("ra_icrs", "de_icrs"))
# Science and MyDB text compares as ADQL wants: case- and trailing-space-sensitive.
COLLATION = "CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin"


class MariaDBEngine:
    name = "mariadb"
    dialect = "mariadb"

    def __init__(self, url: str, *, installation: str = "") -> None:
        self.installation = installation
        self._ready = False
        self._admin_conn: pymysql.connections.Connection[Any] | None = None
        self._admin_pid = 0
        self._admin_lock = threading.Lock()
        parsed = urlparse(url)
        if parsed.scheme not in ("mysql", "mariadb"):
            raise EngineError("SCIENCE_MARIADB_URL must look like mysql://user:password@host:3306/database")
        self.params: dict[str, Any] = {
            "host": parsed.hostname or "127.0.0.1", "port": parsed.port or 3306,
            "user": unquote(parsed.username or "root"), "password": unquote(parsed.password or ""),
            "database": None,  # every name we use is qualified; the URL's database may not exist yet
        }
        self.database = url_database(url)
        # Accounts are server-wide: portals sharing a server keep theirs apart.
        self._account_prefix = f"dq_{secret_hash('mariadb', self.params['host'], str(self.database), size=6)}_"

    def connect(self, account: str | None = None, **extra: Any) -> pymysql.connections.Connection[Any]:
        """A connection as the service user, or as a principal's ``account`` (see ``enter_scope``)."""
        params = {**self.params, "user": account, "password": _password(account)} \
            if account else self.params
        try:
            return pymysql.connect(**params, charset="utf8mb4", autocommit=True, **extra)
        except pymysql.Error as e:
            raise EngineError(f"cannot connect to the MariaDB science database: {e}") from e

    def server_database(self, schema: str) -> str:
        return server_database(self.database, schema)

    def _server(self, table: TableName) -> TableName:
        """Where ``table`` lives on the server (users' MyDB under the portal's database name)."""
        return check_name(TableName(self.server_database(table.schema), table.name))

    def account_of(self, principal: str) -> str:
        account = self._account_prefix + principal
        check_name(TableName(account, "x"))
        return account

    def enter_scope(self, scope: Scope) -> str:
        """Create the principal's account if needed and bring its grants to exactly ``scope``."""
        self._ensure_setup()
        account = self.account_of(scope.principal)
        who = f"'{account}'@'%'"  # a checked plain name
        scope = Scope(scope.principal, self.server_database(scope.home),
                      tuple(replace(t, table=self._server(t.table)) for t in scope.tables))
        with self._admin_lock:  # one kept connection (per process): a new one costs more than the whole sync
            if self._admin_conn is None or not self._admin_conn.open or self._admin_pid != os.getpid():
                self._admin_conn, self._admin_pid = self.connect(), os.getpid()
            else:
                self._admin_conn.ping(reconnect=True)
            self._sync(self._admin_conn, account, who, scope)
        return account

    def sql_from(self, table: TableName) -> str:
        """`database`.`table` on the server: a MyDB schema under the portal's database name (``server_database``)."""
        return _qualified(self._server(table))

    def ensure_schema(self, schema: str) -> None:
        """Create the server database of ``schema`` (also done on every write: this is for callers that prepare)."""
        database = self._server(TableName(schema, "x")).schema
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {_ident(database)} {COLLATION}")

    def close(self) -> None:
        with self._admin_lock:
            if self._admin_conn is not None and self._admin_pid == os.getpid():
                self._admin_conn.close()
            self._admin_conn = None

    def _sync(self, conn: pymysql.connections.Connection[Any], account: str, who: str, scope: Scope) -> None:
        with conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {_ident(scope.home)} {COLLATION}")
            cur.execute("SELECT GET_LOCK(%s, 30)", [account])
            try:
                cur.execute("SELECT 1 FROM mysql.user WHERE User = %s AND Host = '%%'", [account])
                if cur.fetchone() is None:
                    cur.execute(f"CREATE USER IF NOT EXISTS {who} IDENTIFIED BY '{_password(account)}'")  # hex digits
                cur.execute("SELECT 1 FROM mysql.db WHERE User = %s AND Host = '%%' AND Db = %s AND Create_priv = 'Y' "
                            "AND Insert_priv = 'Y'", [account, _db_pattern(scope.home)])
                if cur.fetchone() is None:
                    cur.execute(f"GRANT CREATE, INSERT ON {_ident(_db_pattern(scope.home))}.* TO {who}")
                _sync_grants(cur, who, account, scope)
            finally:
                cur.execute("SELECT RELEASE_LOCK(%s)", [account])

    def _ensure_setup(self) -> None:
        if not self._ready:
            self.setup()
            self._ready = True

    def setup(self) -> None:
        """Claim the portal's database for this installation (MyDB databases are created on first use)."""
        database = self.database
        if not database or database in SYSTEM_DATABASES:
            return  # installation_problem explains; nothing of ours to mark
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {_ident(database)} {COLLATION}")
            cur.execute(f"CREATE TABLE IF NOT EXISTS {_ident(database)}.{MARKER} (site_url VARCHAR(255) NOT NULL)")
            cur.execute(f"INSERT INTO {_ident(database)}.{MARKER} SELECT %s FROM DUAL "
                        f"WHERE NOT EXISTS (SELECT 1 FROM {_ident(database)}.{MARKER})", [self.installation])
            cur.execute(f"SELECT site_url FROM {_ident(database)}.{MARKER}")
            owners = sorted({r[0] for r in cur.fetchall()})
        if self.installation not in owners:  # never write into another portal's tables
            raise EngineError(f"the MariaDB database {database} belongs to the portal at {', '.join(owners)}")

    # ---- the Engine protocol ---------------------------------------------------
    def execute(self, sql: str, *, into: TableName, timeout_s: float, job_id: str,
                scope: Scope | None = None) -> StoredResult:
        check_name(into)
        check_job_id(job_id)
        if scope is not None and into.schema != scope.home:
            raise EngineError(f"results of {scope.principal} are stored in {scope.home} only")
        account = self.enter_scope(scope) if scope is not None else None
        self._ensure_setup()
        logical, into = into, self._server(into)
        tmp = TableName(into.schema, f"_tmp_{uuid.uuid4().hex[:16]}")
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {_ident(into.schema)} {COLLATION}")
            if _exists(cur, into):
                raise EngineError(f"a table named {into.name} already exists in {into.schema}")
            try:
                rows = self._create_as(tmp, sql, job_id, timeout_s, account)
                try:
                    cur.execute(f"RENAME TABLE {_qualified(tmp)} TO {_qualified(into)}")
                except pymysql.Error as e:
                    raise EngineError(f"a table named {into.name} already exists in {into.schema}") from e
            except BaseException:
                cur.execute(f"DROP TABLE IF EXISTS {_qualified(tmp)}")
                raise
            cur.execute("SELECT COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) FROM information_schema.TABLES "
                        "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s", [into.schema, into.name])
            size = cur.fetchone()
        return StoredResult(logical, int(rows), int(size[0]) if size else 0)

    def _create_as(self, tmp: TableName, sql: str, job_id: str, timeout_s: float, account: str | None) -> int:
        """CREATE TABLE tmp AS the query, as ``account`` (or the service user)."""
        with self.connect(account) as conn, conn.cursor() as cur:
            with Watch(job_id, timeout_s, lambda: self._kill(conn.thread_id()), enforce_timeout=False) as watch:
                try:
                    rows = cur.execute(_statement(f"CREATE TABLE {_qualified(tmp)} AS\n{sql}", job_id, timeout_s))
                except pymysql.Error as e:
                    raise _error(e, timeout_s) from e
            watch.raise_if_stopped()
        return int(rows)

    def stream(self, sql: str, *, timeout_s: float, job_id: str, batch_rows: int = 65536,
               scope: Scope | None = None, row_limit: int | None = None) -> Iterator[pa.RecordBatch]:
        check_job_id(job_id)
        account = self.enter_scope(scope) if scope is not None else None
        return self._stream(_statement(sql, job_id, timeout_s), job_id, timeout_s, batch_rows, account)

    def fetch(self, table: TableName, *, offset: int = 0, limit: int | None = None,
              order_by: str | None = None, descending: bool = False) -> Iterator[pa.RecordBatch]:
        query = f"SELECT * FROM {_qualified(self._server(check_name(table)))}"
        if order_by is not None:  # NULLS LAST, as on the other engines
            query += f" ORDER BY {_ident(order_by)} IS NULL, {_ident(order_by)} {'DESC' if descending else 'ASC'}"
        if limit is not None or offset:
            query += f" LIMIT {int(limit) if limit is not None else 2**63 - 1}"
        if offset:
            query += f" OFFSET {int(offset)}"
        return self._stream(query, None, 3600, 65536)

    def abort(self, job_id: str) -> None:
        request_abort(job_id)
        self.cancel(job_id)

    def cancel(self, job_id: str) -> None:
        """KILL QUERY the statement tagged with the job's comment (no Django needed)."""
        marker = f"/* daiquiri:{run_tag(job_id)} */%"
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE %s AND ID <> CONNECTION_ID()",
                        [marker])
            for (thread,) in cur.fetchall():
                try:
                    cur.execute(f"KILL QUERY {int(thread)}")
                except pymysql.Error:
                    pass  # it finished meanwhile

    def introspect(self, schema: str, table: str | None = None) -> list[IntrospectedTable]:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(INTROSPECT_SQL, {"schema": self.server_database(schema), "table": table})
            rows = cur.fetchall()
        tables: dict[str, dict[str, Any]] = {}
        for name, comment, estimate, column, native, col_comment, indexed in rows:
            t = tables.setdefault(name, {"description": comment or "", "rows": estimate, "columns": [], "sky": None})
            if column == HEALPIX_COLUMN:  # our pruning index (see ingest), not a column of the catalogue
                t["sky"] = _sky_of(col_comment)
                continue
            native = "boolean" if native.lower().startswith("tinyint(1)") else native
            info = with_names(adql_from_native(native), column, indexed=bool(indexed))

            t["columns"].append(replace(info, description=col_comment or ""))
        if table is not None and table not in tables:
            raise EngineError(f"no table {schema}.{table}")
        return [IntrospectedTable(schema, name, tuple(t["columns"]), description=t["description"], sky=t["sky"],
                                  rows=None if t["rows"] is None else int(t["rows"]))
                for name, t in tables.items()]

    def ingest(self, table: TableName, batches: Iterator[pa.RecordBatch], schema: pa.Schema, *,
               replace: bool = False) -> int:
        self._ensure_setup()
        logical, table = check_name(table), self._server(table)
        tmp = TableName(table.schema, f"_tmp_{uuid.uuid4().hex[:16]}")
        columns = ", ".join(f"{_ident(f.name)} {_ddl_type(f.type)}" for f in schema)
        sky = None if logical.schema.startswith(MYDB_PREFIX) else sky_columns(schema)  # users' tables stay as given
        if sky is not None:
            # The comment names the positions, so that introspect can give the table's SkyIndex.
            comment = json.dumps({"healpix_of": list(sky)}).replace("\\", "\\\\").replace("'", "''")
            columns += (f", {_ident(HEALPIX_COLUMN)} BIGINT COMMENT '{comment}', "
                        f"INDEX ({_ident(HEALPIX_COLUMN)})")
        placeholders = ", ".join(["%s"] * (len(schema) + (sky is not None)))
        rows = 0
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {_ident(table.schema)} {COLLATION}")
            if not replace and _exists(cur, table):
                raise EngineError(f"a table named {logical.name} already exists in {logical.schema}")
            cur.execute(f"CREATE TABLE {_qualified(tmp)} ({columns}) {COLLATION}")
            try:
                insert = f"INSERT INTO {_qualified(tmp)} VALUES ({placeholders})"
                for batch in batches:
                    values = [_to_python(batch.column(i)) for i in range(batch.num_columns)]
                    if sky is not None:
                        values.append(healpix_29(batch.column(sky[0]), batch.column(sky[1])))
                    chunk = list(zip(*values, strict=True))
                    for start in range(0, len(chunk), INSERT_ROWS):
                        cur.executemany(insert, chunk[start:start + INSERT_ROWS])
                    rows += batch.num_rows
                if replace and _exists(cur, table):
                    old = TableName(table.schema, f"_old_{uuid.uuid4().hex[:16]}")
                    cur.execute(f"RENAME TABLE {_qualified(table)} TO {_qualified(old)}, "
                                f"{_qualified(tmp)} TO {_qualified(table)}")  # one atomic swap
                    cur.execute(f"DROP TABLE {_qualified(old)}")
                else:
                    cur.execute(f"RENAME TABLE {_qualified(tmp)} TO {_qualified(table)}")
            except BaseException as e:
                cur.execute(f"DROP TABLE IF EXISTS {_qualified(tmp)}")
                if isinstance(e, pymysql.Error):
                    raise EngineError(f"cannot store the table: {e.args[-1]}") from e
                raise
        return rows

    def drop(self, table: TableName) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            try:
                cur.execute(f"DROP TABLE {_qualified(self._server(check_name(table)))}")
            except pymysql.Error as e:
                raise EngineError(f"no table {table.schema}.{table.name}") from e

    def rename(self, table: TableName, new: TableName) -> None:
        table, new = self._server(check_name(table)), self._server(check_name(new))
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"CREATE DATABASE IF NOT EXISTS {_ident(new.schema)} {COLLATION}")
            try:
                cur.execute(f"RENAME TABLE {_qualified(table)} TO {_qualified(new)}")
            except pymysql.Error as e:
                raise EngineError(str(e.args[-1])) from e

    # ---- helpers -----------------------------------------------------------------
    def _kill(self, thread_id: int) -> None:
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"KILL QUERY {int(thread_id)}")

    def _stream(self, statement: str, job_id: str | None, timeout_s: float,
                batch_rows: int, account: str | None = None) -> Iterator[pa.RecordBatch]:
        conn = self.connect(account, cursorclass=pymysql.cursors.SSCursor)
        try:
            with conn.cursor() as cur:
                watch = Watch(job_id, timeout_s, lambda: self._kill(conn.thread_id()),
                              enforce_timeout=False) if job_id else None
                if watch is not None:
                    watch.__enter__()
                try:
                    try:
                        cur.execute(statement)
                        schema = _arrow_schema(cur.description or ())
                        empty = True
                        while rows := cur.fetchmany(batch_rows):
                            empty = False
                            yield _batch(rows, schema)
                        if empty:
                            yield pa.RecordBatch.from_pylist([], schema=schema)
                    except pymysql.Error as e:
                        raise _error(e, timeout_s) from e
                finally:
                    if watch is not None:
                        watch.__exit__(None, None, None)
                if watch is not None:
                    watch.raise_if_stopped()
        finally:
            conn.close()


# ---- statements, names and errors --------------------------------------------------
def _statement(sql: str, job_id: str, timeout_s: float) -> str:
    return f"/* daiquiri:{run_tag(job_id)} */ SET STATEMENT max_statement_time={max(0.001, timeout_s):.3f} FOR\n{sql}"


def url_database(url: str) -> str | None:
    """The database SCIENCE_MARIADB_URL names (the portal's own), if any."""
    return urlparse(url).path.lstrip("/") or None


def server_database(database: str | None, schema: str) -> str:
    """The server database of a logical schema: ``mydb_*`` under the portal's own database name."""
    if database and schema.startswith(MYDB_PREFIX):
        return f"{database}_{schema}"
    return schema


def installation_problem(url: str, installation: str) -> str | None:
    """Why this portal must not use the MariaDB server at ``url`` (None: it may)."""
    engine = MariaDBEngine(url, installation=installation)
    database = engine.database
    if not database:
        return "SCIENCE_MARIADB_URL names no database: name one of this portal's own (mysql://user@host/<database>)."
    if database in SYSTEM_DATABASES:
        return f"SCIENCE_MARIADB_URL names the system database {database}: name one of this portal's own."
    if len(server_database(database, "mydb_" + "9" * 12)) > 63:
        return f"The database name {database} in SCIENCE_MARIADB_URL is too long (at most 40 characters)."
    try:
        with engine.connect() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                        [database, MARKER])
            if cur.fetchone() is None:
                return None
            cur.execute(f"SELECT site_url FROM {_ident(database)}.{MARKER}")
            owners = {r[0] for r in cur.fetchall()}
    except (EngineError, pymysql.Error):
        return None  # the server is down: queries will say so; nothing is touched meanwhile
    if owners and installation not in owners:
        return (f"The MariaDB database {database} belongs to the portal at {', '.join(sorted(owners))}: "
                "give this portal a database of its own in SCIENCE_MARIADB_URL.")
    return None


def _db_pattern(database: str) -> str:
    """A database name as a database-level GRANT reads it: ``_`` is a wildcard there unless escaped."""
    return database.replace("_", "\\_")


def _password(account: str | None) -> str:
    return secret_hash("mariadb-account", account or "", size=40)


def _wanted_columns(cur: Any, scope: Scope) -> set[tuple[str, str, str]]:
    """The scope's (database, table, column) triples that exist on the server."""
    wanted: set[tuple[str, str, str]] = set()
    for table in scope.tables:
        if table.columns:
            cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                        "AND TABLE_NAME = %s", [table.table.schema, table.table.name])
            present = {r[0] for r in cur.fetchall()}
            wanted |= {(table.table.schema, table.table.name, c) for c in table.columns if c in present}
    return wanted


def _sync_grants(cur: Any, who: str, account: str, scope: Scope) -> None:
    """Column SELECT grants of ``account`` become exactly the scope's (existing) columns; any other
    table or database privilege (but CREATE, INSERT on its home) is revoked."""
    wanted = _wanted_columns(cur, scope)
    cur.execute("SELECT Db, Table_name, Column_name FROM mysql.columns_priv WHERE User = %s AND Host = '%%'",
                [account])
    held = {(r[0], r[1], r[2]) for r in cur.fetchall()}
    for verb, triples in (("REVOKE", held - wanted), ("GRANT", wanted - held)):
        by_table: dict[tuple[str, str], list[str]] = {}
        for db, table, column in sorted(triples):
            by_table.setdefault((db, table), []).append(column)
        for (db, table), columns in by_table.items():
            cols = ", ".join(_ident(c) for c in columns)
            target = _qualified(TableName(db, table))
            cur.execute(f"REVOKE SELECT ({cols}) ON {target} FROM {who}" if verb == "REVOKE" else
                        f"GRANT SELECT ({cols}) ON {target} TO {who}")
    cur.execute("SELECT Db, Table_name FROM mysql.tables_priv WHERE User = %s AND Host = '%%' AND Table_priv <> ''",
                [account])
    for db, table in cur.fetchall():
        cur.execute(f"REVOKE ALL PRIVILEGES ON {_qualified(TableName(db, table))} FROM {who}")
    cur.execute("SELECT Db FROM mysql.db WHERE User = %s AND Host = '%%' AND Db <> %s",
                [account, _db_pattern(scope.home)])
    for (db,) in cur.fetchall():
        cur.execute(f"REVOKE ALL PRIVILEGES ON {_ident(db)}.* FROM {who}")


def sky_columns(schema: pa.Schema) -> tuple[str, str] | None:
    """The (ra, dec) columns of a positional table: by UCD (``pos.eq.ra``/``pos.eq.dec`` in the
    fields' metadata), else by a usual name pair; both floating-point. None: no positions."""
    numeric = [f for f in schema if pa.types.is_floating(f.type) or pa.types.is_decimal(f.type)]
    by_ucd: dict[str, str] = {}
    for f in numeric:
        ucd = (f.metadata or {}).get(b"ucd", b"").decode(errors="replace").lower().split(";")
        for word in ("pos.eq.ra", "pos.eq.dec"):
            if word in ucd and (word not in by_ucd or "meta.main" in ucd):
                by_ucd[word] = f.name
    if len(by_ucd) == 2:
        return by_ucd["pos.eq.ra"], by_ucd["pos.eq.dec"]
    names = {f.name.lower(): f.name for f in numeric}
    for ra, dec in POSITION_NAMES:
        if ra in names and dec in names:
            return names[ra], names[dec]
    return None


def _sky_of(comment: str | None) -> SkyIndex | None:
    """The SkyIndex that ingest's comment on ``_healpix_29`` records (None for a column made elsewhere)."""
    try:
        ra, dec = json.loads(comment or "")["healpix_of"]
    except (ValueError, KeyError, TypeError):
        return None
    return SkyIndex(str(ra), str(dec), column=HEALPIX_COLUMN) if isinstance(ra, str) and isinstance(dec, str) else None


def healpix_29(ra: pa.Array, dec: pa.Array) -> list[int | None]:
    """The NESTED order-29 HEALPix index of each position, vectorised; None where there is no valid position."""
    import astropy.units as u
    from astropy_healpix import lonlat_to_healpix

    lon = np.asarray(ra.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    lat = np.asarray(dec.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
    valid = np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90)
    index = np.zeros(len(lon), dtype=np.int64)
    if valid.any():
        index[valid] = lonlat_to_healpix(np.mod(lon[valid], 360.0) * u.deg, lat[valid] * u.deg, 1 << 29,
                                         order="nested")
    return [int(i) if ok else None for i, ok in zip(index.tolist(), valid.tolist(), strict=True)]


def _ident(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _qualified(table: TableName) -> str:
    return f"{_ident(table.schema)}.{_ident(table.name)}"


def _exists(cur: Any, table: TableName) -> bool:
    cur.execute("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                [table.schema, table.name])
    return cur.fetchone() is not None


def _error(e: pymysql.Error, timeout_s: float) -> Exception:
    code = e.args[0] if e.args else None
    if code == ER_STATEMENT_TIMEOUT:
        return QueryTimeout(f"the query ran longer than the time limit of {timeout_s:g} s")
    if code == ER_QUERY_INTERRUPTED:
        return QueryAborted("the query was aborted")
    return EngineError(str(e.args[-1]) if e.args else str(e))


# ---- types ---------------------------------------------------------------------------
def _arrow_schema(description: Any) -> pa.Schema:
    fields = []
    for name, code, _display, length, *_ in description:
        boolean = code == FIELD_TYPE.TINY and length == 1  # BOOLEAN is TINYINT(1)
        fields.append(pa.field(name, pa.bool_() if boolean else _ARROW.get(code, pa.string())))
    return pa.schema(fields)


_ARROW = {
    FIELD_TYPE.TINY: pa.int16(), FIELD_TYPE.SHORT: pa.int16(), FIELD_TYPE.INT24: pa.int32(),
    FIELD_TYPE.LONG: pa.int32(), FIELD_TYPE.LONGLONG: pa.int64(), FIELD_TYPE.YEAR: pa.int16(),
    FIELD_TYPE.FLOAT: pa.float32(), FIELD_TYPE.DOUBLE: pa.float64(),
    FIELD_TYPE.DECIMAL: pa.float64(), FIELD_TYPE.NEWDECIMAL: pa.float64(),
    FIELD_TYPE.DATETIME: pa.timestamp("us"), FIELD_TYPE.TIMESTAMP: pa.timestamp("us"),
    FIELD_TYPE.DATE: pa.timestamp("us"), FIELD_TYPE.BIT: pa.int64(),
}


def _batch(rows: Any, schema: pa.Schema) -> pa.RecordBatch:
    columns = list(zip(*rows, strict=True))
    arrays = []
    for values, field in zip(columns, schema, strict=True):
        if pa.types.is_boolean(field.type):
            values = tuple(None if v is None else bool(v) for v in values)
        elif pa.types.is_floating(field.type):
            values = tuple(None if v is None else float(v) for v in values)
        elif pa.types.is_timestamp(field.type):
            values = tuple(v if v is None or isinstance(v, dt.datetime) else
                           dt.datetime.combine(v, dt.time()) if isinstance(v, dt.date) else None for v in values)
        elif pa.types.is_int64(field.type):
            values = tuple(int.from_bytes(v, "big") if isinstance(v, bytes) else v for v in values)
        elif pa.types.is_string(field.type):
            values = tuple(v.decode(errors="replace") if isinstance(v, bytes) else
                           (None if v is None else str(v)) for v in values)
        arrays.append(pa.array(values, type=field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _ddl_type(t: pa.DataType) -> str:
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_int8(t) or pa.types.is_int16(t) or pa.types.is_uint8(t):
        return "SMALLINT"
    if pa.types.is_int32(t) or pa.types.is_uint16(t):
        return "INT"
    if pa.types.is_integer(t):
        return "BIGINT"
    if pa.types.is_float16(t) or pa.types.is_float32(t):
        return "FLOAT"
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "DOUBLE"
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return "DATETIME(6)"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "LONGBLOB"
    return "LONGTEXT"  # strings, and lists as DALI text


def _to_python(array: pa.Array) -> list[Any]:
    t = array.type
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [None if v is None else " ".join(repr(x) for x in v) for v in array.to_pylist()]
    if pa.types.is_timestamp(t) and t.tz is not None:
        return [None if v is None else v.replace(tzinfo=None) for v in array.cast(pa.timestamp("us")).to_pylist()]
    if pa.types.is_decimal(t):
        return [None if v is None else float(v) for v in array.to_pylist()]
    return list(array.to_pylist())

INTROSPECT_SQL = """
SELECT c.TABLE_NAME, t.TABLE_COMMENT, t.TABLE_ROWS, c.COLUMN_NAME, c.COLUMN_TYPE, c.COLUMN_COMMENT,
       EXISTS (SELECT 1 FROM information_schema.STATISTICS s WHERE s.TABLE_SCHEMA = c.TABLE_SCHEMA
               AND s.TABLE_NAME = c.TABLE_NAME AND s.COLUMN_NAME = c.COLUMN_NAME)
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA = %(schema)s AND (%(table)s IS NULL OR c.TABLE_NAME = %(table)s)
  AND c.TABLE_NAME NOT LIKE '\\_tmp\\_%%' AND c.TABLE_NAME NOT LIKE '\\_old\\_%%'
ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION
"""
