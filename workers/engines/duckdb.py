"""The embedded default engine: an in-memory DuckDB per process over Parquet.

Each published table ``<SCIENCE_DIR>/<schema>/<table>.parquet`` is a view
``"schema"."table"``; nothing is stored in a database file, so any number of
web and worker processes read the same files without a lock. Results and
MyDB tables are Parquet files (see ``parquet.py``). The connection may only
touch SCIENCE_DIR and MYDB_DIR (``enable_external_access=false`` with
``allowed_directories``, locked). Timeouts and aborts interrupt the statement
from a watcher thread.

Native SQL (a ``Scope``) runs elsewhere: a second in-memory database with no
file access at all (``enable_external_access=false``, no allowed path,
configuration locked). Each query gets its own cursor, on which the scope's
tables are registered as Arrow datasets of their allowed columns under their
``view_name``; registrations are private to the cursor, so nothing else (no
path, no other user's table, no hidden column) can be named. Its results are
written by pyarrow, not by DuckDB.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from .base import EngineError, IntrospectedTable, QueryAborted, QueryTimeout, Scope, StoredResult, TableName
from .common import Watch, check_name, request_abort, view_name, with_schema
from .limits import spill_folder
from .parquet import ParquetStore, quote_ident, quote_literal, remove


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, science_dir: Path, mydb_dir: Path, *, threads: int | None = None,
                 memory_limit: str | None = None, temp_directory: str = "", max_temp_directory_size: str = "") -> None:
        self.store = ParquetStore(science_dir, mydb_dir)
        for folder in (self.store.science_dir, self.store.mydb_dir):
            folder.mkdir(parents=True, exist_ok=True)
        # Bounded (limits.py): past memory_limit, sorts, joins and aggregates spill to a folder of each database's own.
        self._spill = [spill_folder(temp_directory), spill_folder(temp_directory)]
        self.db = _locked_database(threads, memory_limit, [self.store.science_dir, self.store.mydb_dir],
                                   (self._spill[0], max_temp_directory_size))
        self.native_db = _locked_database(threads, memory_limit, [], (self._spill[1], max_temp_directory_size))
        self._lock = threading.Lock()
        self._views: dict[tuple[str, str], str] = {}
        self.sync_views()

    def close(self) -> None:
        """Close both databases and remove their spill folders."""
        for db in (self.db, self.native_db):
            db.close()
        for folder in self._spill:
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)

    def setup(self) -> None:
        """Nothing to prepare: the folders are made in __init__ and the views on every query (``sync_views``)."""

    def ensure_schema(self, schema: str) -> None:
        """Nothing to create: a schema is a folder, made when its first table is written."""

    # ---- catalogue views -----------------------------------------------------
    def sync_views(self) -> None:
        """Create (or drop) the views that mirror SCIENCE_DIR; cheap when nothing changed."""
        wanted: dict[tuple[str, str], str] = {}
        for schema in self.store.schemas():
            for table in self.store.tables(schema):
                wanted[(schema, table)] = self.sql_from(TableName(schema, table))
        if wanted == self._views:
            return
        with self._lock:
            for key in set(self._views) - set(wanted):
                self.db.execute(f"DROP VIEW IF EXISTS {quote_ident(key[0])}.{quote_ident(key[1])}")
            for (schema, table), source in wanted.items():
                if self._views.get((schema, table)) != source:
                    self.db.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_ident(schema)}")
                    self.db.execute(f"CREATE OR REPLACE VIEW {quote_ident(schema)}.{quote_ident(table)} "
                                    f"AS SELECT * FROM {source}")
            self._views = wanted

    def sql_from(self, table: TableName) -> str:
        """The trusted FROM fragment reading a Parquet table (for apps.adql TableInfo.sql_from)."""
        return self.store.scan_sql(self.store.path(table))

    def _cursor(self, scope: Scope | None = None) -> duckdb.DuckDBPyConnection:
        if scope is None:
            with self._lock:
                return self.db.cursor()
        with self._lock:
            cur = self.native_db.cursor()
        try:
            for table in scope.tables:
                path = self.store.path(table.table)
                if not path.exists():
                    continue  # dropped since planning: the query fails on the missing name
                found = self.store.dataset(table.table)  # a HATS table: its dataset folder
                fields = [found.schema.field(c) for c in table.columns if c in found.schema.names]
                cur.register(table.view or view_name(table.table), self.store.dataset(table.table, pa.schema(fields)))
        except BaseException:
            cur.close()
            raise
        return cur

    # ---- the Engine protocol ---------------------------------------------------
    def execute(self, sql: str, *, into: TableName, timeout_s: float, job_id: str,
                scope: Scope | None = None) -> StoredResult:
        check_name(into)
        if scope is not None and into.schema != scope.home:
            raise EngineError(f"results of {scope.principal} are stored in {scope.home} only")
        if self.store.exists(into):
            raise EngineError(f"a table named {into.name} already exists in {into.schema}")
        self.sync_views()
        tmp = self.store.temp_path(into)
        cur = self._cursor(scope)
        try:
            with Watch(job_id, timeout_s, cur.interrupt) as watch:
                try:
                    rows = _write(cur, sql, tmp) if scope is not None else _copy(cur, sql, tmp)
                except duckdb.Error as e:
                    raise _engine_error(e, watch) from e
            watch.raise_if_stopped()
            self.store.publish(tmp, into)
        except BaseException:
            remove(tmp)
            raise
        finally:
            cur.close()
        return StoredResult(into, rows, self.store.size(into))

    def stream(self, sql: str, *, timeout_s: float, job_id: str, batch_rows: int = 65536,
               scope: Scope | None = None, row_limit: int | None = None) -> Iterator[pa.RecordBatch]:
        self.sync_views()
        cur = self._cursor(scope)
        try:
            with Watch(job_id, timeout_s, cur.interrupt) as watch:
                try:
                    reader = with_schema(cur.sql(sql).to_arrow_reader(batch_rows))
                    yield from reader
                except duckdb.Error as e:
                    raise _engine_error(e, watch) from e
                watch.raise_if_stopped()
        finally:
            cur.close()

    def fetch(self, table: TableName, *, offset: int = 0, limit: int | None = None,
              order_by: str | None = None, descending: bool = False) -> Iterator[pa.RecordBatch]:
        return self.store.fetch(table, offset=offset, limit=limit, order_by=order_by, descending=descending)

    def abort(self, job_id: str) -> None:
        request_abort(job_id)

    def introspect(self, schema: str, table: str | None = None) -> list[IntrospectedTable]:
        return self.store.introspect(schema, table)

    def ingest(self, table: TableName, batches: Iterator[pa.RecordBatch], schema: pa.Schema, *,
               replace: bool = False) -> int:
        rows = self.store.ingest(table, batches, schema, replace=replace)
        self.sync_views()
        return rows

    def drop(self, table: TableName) -> None:
        self.store.drop(table)
        self.sync_views()

    def rename(self, table: TableName, new: TableName) -> None:
        self.store.rename(table, new)
        self.sync_views()


def _locked_database(threads: int | None, memory_limit: str | None, folders: list[Path],
                     spill: tuple[Path | None, str] = (None, "")) -> duckdb.DuckDBPyConnection:
    """An in-memory database that may touch only ``folders`` (none: no file at all), its settings locked.

    ``spill``: the folder its operators spill to beyond ``memory_limit`` (None: none, they fail
    instead) and the most they may write there."""
    db = duckdb.connect(":memory:")
    db.execute("SET enable_progress_bar = false")
    # SQL and ADQL promise no row order without ORDER BY: left free to reorder, DuckDB reads row groups and files
    # in parallel under a LIMIT (MAXREC's, or TOP) too, instead of one by one to keep their order (a 1 degree
    # cone on a 100M-row HATS table: 42 ms with the order kept, 33 ms without, on 2 threads).
    db.execute("SET preserve_insertion_order = false")
    if threads:
        db.execute(f"SET threads = {int(threads)}")
    if memory_limit:
        db.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
    folder, most = spill
    db.execute(f"SET temp_directory = {quote_literal(str(folder) if folder else '')}")
    if most:
        db.execute(f"SET max_temp_directory_size = {quote_literal(most)}")
    if folders:
        db.execute(f"SET allowed_directories = [{', '.join(quote_literal(str(d) + '/') for d in folders)}]")
    db.execute("SET enable_external_access = false")
    db.execute("SET lock_configuration = true")
    return db


def _copy(cur: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    row = cur.execute(f"COPY ({sql}) TO {quote_literal(str(path))} (FORMAT parquet, COMPRESSION zstd)").fetchone()
    return int(row[0]) if row else 0


def _write(cur: duckdb.DuckDBPyConnection, sql: str, path: Path) -> int:
    """The query's rows into a Parquet file by pyarrow: the database itself may write nowhere."""
    reader = cur.sql(sql).to_arrow_reader(65536)
    rows = 0
    with pq.ParquetWriter(str(path), reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def _engine_error(e: duckdb.Error, watch: Watch) -> Exception:
    """DuckDB's interruption as QueryTimeout/QueryAborted; the rest as EngineError."""
    if watch.reason == "timeout":
        return QueryTimeout(f"the query ran longer than the time limit of {watch.timeout_s:g} s")
    if watch.reason == "abort":
        return QueryAborted("the query was aborted")
    if isinstance(e, duckdb.OutOfMemoryException):  # past memory_limit and the spill space (limits.py)
        return EngineError(f"{OUT_OF_MEMORY} ({str(e).splitlines()[0]})")
    return EngineError(str(e).split("\n\n")[0])


OUT_OF_MEMORY = ("The query needs more memory than this service gives one query, even spilling to disk: narrow it "
                 "(a tighter WHERE, fewer columns, a TOP) or run it in a queue with more room")
