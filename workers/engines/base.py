"""The one small interface every query engine implements.

One file per engine in this folder (duckdb.py, postgresql.py, mariadb.py,
spark.py); ``get_engine(name)`` returns the configured instance, created once
per process. Tasks, the metadata publisher and the result pages talk to
engines only through these methods.

Where data lives:
- ``duckdb`` and ``spark`` share Parquet storage: a published table is
  ``<SCIENCE_DIR>/<schema>/<table>.parquet`` (a file or a folder of parts);
  DuckDB runs in memory with views over those files, so any number of web
  and worker processes read them without locks.
- ``postgresql`` and ``mariadb`` hold published tables in their own schemas.
- A user's results (MyDB) live in the engine that ran the query: a schema
  ``mydb_<user id>`` in PostgreSQL, a database ``<URL's database>_mydb_<user id>``
  in MariaDB (the engine maps the name), Parquet files under
  ``<MYDB_DIR>/<user id>/`` for DuckDB/Spark (``TableName('mydb_<user id>', t)``
  is ``<MYDB_DIR>/<user id>/<t>.parquet``; any other schema is under SCIENCE_DIR).
  ``workers.engines.mydb_table(user_id, name)`` builds that TableName.

Contract details (refined compatibly; read before relying on them):
- Table and schema names we create must match ``[A-Za-z_][A-Za-z0-9_]{0,62}``
  (EngineError otherwise); job ids ``[A-Za-z0-9_.:-]{1,64}``.
- ``execute`` refuses an existing ``into`` (EngineError "already exists").
- ``stream`` yields at least one batch (empty when there are no rows).
- Result columns carry the same ADQL types on every engine: use
  ``workers.engines.types.columns_from_schema(batch.schema)``; geometries are
  DALI lists of degrees (MariaDB: DALI text), marked ``xtype`` in field metadata.
- ``introspect`` returns ``IntrospectedTable`` (a TableInfo with ``rows``);
  on DuckDB/Spark its ``sql_from`` is the trusted Parquet FROM fragment, also
  available as ``engine.sql_from(TableName)``.
- ``abort`` works from any process: PostgreSQL through ``application_name``,
  MariaDB through PROCESSLIST, DuckDB/Spark through a flag in Django's cache
  (so that cache must be shared between processes: Redis in production).
  What the engines show of a job to others is ``common.run_tag(job_id)``, a
  keyed hash: a job id never appears where another database user can read it.
- Native SQL comes with a ``Scope`` (the permission API's answer as stored
  tables and columns); the engine enforces it, the text check in
  apps/adql/native.py is the second layer.
- Every engine has ``setup()`` (idempotent: on PostgreSQL extensions, the
  ``daiquiri_reader`` role, grants; run by ``manage.py engines setup`` and
  lazily on first use), ``ensure_schema(schema)``, ``sql_from(table)`` and
  ``close()``; on PostgreSQL call ``setup()`` again after creating science
  schemas outside ``ingest``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import pyarrow as pa

from apps.adql import TableInfo


@dataclass(frozen=True)
class TableName:
    """A physical table: schema and table as the engine knows them."""

    schema: str
    name: str


MYDB_PREFIX = "mydb_"


def mydb_schema(user_id: int | str | None) -> str:
    """The logical schema of a user's results (MyDB) on every engine; ``mydb_anonymous`` for no user."""
    return MYDB_PREFIX + (str(user_id) if user_id is not None else "anonymous")


@dataclass(frozen=True)
class StoredResult:
    table: TableName
    rows: int
    bytes: int  # size on disk, counted against the owner's quota


@dataclass(frozen=True)
class IntrospectedTable(TableInfo):
    """What ``introspect`` returns: a TableInfo plus the engine's row count
    (an estimate on PostgreSQL/MariaDB, exact for Parquet; None if unknown).
    Columns carry ADQL datatypes (workers/engines/types.py) and ``indexed``."""

    rows: int | None = None


@dataclass(frozen=True)
class ScopeTable:
    """One stored table a principal may read, and the columns they may see of it."""

    table: TableName
    columns: tuple[str, ...]
    view: str = ""  # DuckDB/Spark: the one-part name the query reads it by (``view_name(table)``)


@dataclass(frozen=True)
class Scope:
    """Whose rights a native query runs with, and everything those rights reach on one engine.

    ``principal`` is ``u<user id>`` or ``anonymous``; ``home`` is its MyDB
    schema (where results are written). The engine enforces the scope itself:
    PostgreSQL and MariaDB log in as the principal's own role, whose grants are
    brought to exactly ``tables``; DuckDB and Spark run the query where only
    views of ``tables`` exist and no path can be named.
    """

    principal: str
    home: str
    tables: tuple[ScopeTable, ...] = ()


class QueryTimeout(Exception):
    """The engine stopped the statement at the queue's time limit."""


class QueryAborted(Exception):
    """The statement was cancelled by ``abort``."""


class EngineError(Exception):
    """Any other failure, with a message fit for the user."""


class Engine(Protocol):
    name: str     # 'duckdb' | 'postgresql' | 'mariadb' | 'spark'
    dialect: str  # the apps.adql dialect to translate to

    def execute(self, sql: str, *, into: TableName, timeout_s: float, job_id: str,
                scope: Scope | None = None) -> StoredResult:
        """Run a read-only SELECT (already translated, LIMIT applied) and store
        its result as ``into``. Must not leave a partial table on any failure.
        With a ``scope`` (native SQL) the statement can read nothing outside it;
        without one the SQL is trusted (our own ADQL translation)."""
        ...

    def stream(self, sql: str, *, timeout_s: float, job_id: str, batch_rows: int = 65536,
               scope: Scope | None = None, row_limit: int | None = None) -> Iterator[pa.RecordBatch]:
        """Run a read-only SELECT (within ``scope``, as for ``execute``) and yield its rows as Arrow batches, in
        constant memory (server-side cursor / COPY / Arrow stream). Yields at
        least one batch (empty when there are no rows), so the schema is known.
        Geometries come as DALI lists of degrees (field metadata ``xtype``).
        ``row_limit``: the outer LIMIT the translation put on the statement (TOP, MAXREC), when the caller
        knows it; an engine may answer a small result a quicker way, and a wrong value loses no row."""
        ...

    def fetch(self, table: TableName, *, offset: int = 0, limit: int | None = None,
              order_by: str | None = None, descending: bool = False) -> Iterator[pa.RecordBatch]:
        """Read a stored table, a page of it, or all of it in batches."""
        ...

    def abort(self, job_id: str) -> None:
        """Cancel the running statement of ``job_id`` (from another process)."""
        ...

    def introspect(self, schema: str, table: str | None = None) -> list[IntrospectedTable]:
        """Tables, columns, types, indexes and row counts as the live database has them.
        Raises EngineError when ``table`` is given and does not exist."""
        ...

    def ingest(self, table: TableName, batches: Iterator[pa.RecordBatch], schema: pa.Schema, *, replace: bool = False) -> int:
        """Create ``table`` from Arrow batches, atomically (no half table on failure); return rows."""
        ...

    def drop(self, table: TableName) -> None:
        ...

    def rename(self, table: TableName, new: TableName) -> None:
        ...

    def setup(self) -> None:
        """Idempotent preparation (roles, grants, extensions, folders); run by ``manage.py engines setup``."""
        ...

    def ensure_schema(self, schema: str) -> None:
        """Make ``schema`` exist (a user's MyDB or a science schema) before a table is written into it."""
        ...

    def sql_from(self, table: TableName) -> str:
        """The trusted FROM fragment (quoted) that reads the stored ``table`` on this engine."""
        ...

    def close(self) -> None:
        """Release the connections and sessions this instance holds (``reset_engines``)."""
        ...


class CsvText:
    """A result's rows as CSV text (RFC 4180, no header row) that the engine wrote itself, streamed.

    ``schema`` holds the Arrow types ``stream`` would have given the same rows (what a writer plans its
    columns from). ``rows`` and ``overflow`` (a row past ``maxrec`` was found and left out) are known once
    the chunks are exhausted.
    """

    def __init__(self, schema: pa.Schema, chunks: Callable[[CsvText], Generator[bytes | memoryview, None, None]]) -> None:
        self.schema = schema
        self.rows = 0
        self.overflow = False
        self._chunks = chunks(self)
        self._first: list[bytes | memoryview] = []

    def prime(self) -> None:
        """Run the statement up to its first bytes now: an error before any row raises here."""
        for first in self._chunks:
            if first:
                self._first = [first]
                return

    def __iter__(self) -> Iterator[bytes | memoryview]:
        return self

    def __next__(self) -> bytes | memoryview:
        return self._first.pop() if self._first else next(self._chunks)

    def close(self) -> None:
        self._chunks.close()


@runtime_checkable
class WritesCsv(Protocol):
    """An engine that can write a big result as CSV itself, faster than Arrow batches through the CSV writer."""

    def stream_csv(self, sql: str, *, timeout_s: float, job_id: str, maxrec: int | None,
                   accept: Callable[[pa.Schema], bool], scope: Scope | None = None,
                   row_limit: int | None = None) -> CsvText | None:
        """The rows of ``sql`` (at most ``maxrec``) as CSV text, or None where the engine would write some
        column otherwise than the caller does (``accept`` is asked with the Arrow types) or where the result
        is small enough (``row_limit``, as for ``stream``) for ``stream`` to be quicker. Errors before the
        first row raise at ``CsvText.prime()``."""
        ...
