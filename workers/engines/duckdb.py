"""The embedded default engine: an in-memory DuckDB per process over Parquet.

Each published table ``<SCIENCE_DIR>/<schema>/<table>.parquet`` is a view
``"schema"."table"``; nothing is stored in a database file, so any number of
web and worker processes read the same files without a lock. Results and
MyDB tables are Parquet files (see ``parquet.py``). The connection may only
touch SCIENCE_DIR and MYDB_DIR (``enable_external_access=false`` with
``allowed_directories``, locked), so native SQL cannot read or write other
files. Timeouts and aborts interrupt the statement from a watcher thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

from .base import EngineError, IntrospectedTable, QueryAborted, QueryTimeout, StoredResult, TableName
from .common import Watch, check_name, request_abort, with_schema
from .parquet import ParquetStore, quote_ident, quote_literal, remove


class DuckDBEngine:
    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, science_dir: Path, mydb_dir: Path, *, threads: int | None = None,
                 memory_limit: str | None = None) -> None:
        self.store = ParquetStore(science_dir, mydb_dir)
        for folder in (self.store.science_dir, self.store.mydb_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.db = duckdb.connect(":memory:")
        if threads:
            self.db.execute(f"SET threads = {int(threads)}")
        if memory_limit:
            self.db.execute(f"SET memory_limit = {quote_literal(memory_limit)}")
        allowed = ", ".join(quote_literal(str(d) + "/") for d in (self.store.science_dir, self.store.mydb_dir))
        self.db.execute(f"SET allowed_directories = [{allowed}]")
        self.db.execute("SET enable_external_access = false")
        self.db.execute("SET lock_configuration = true")
        self._lock = threading.Lock()
        self._views: dict[tuple[str, str], str] = {}
        self.sync_views()

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

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self.db.cursor()

    # ---- the Engine protocol ---------------------------------------------------
    def execute(self, sql: str, *, into: TableName, timeout_s: float, job_id: str) -> StoredResult:
        check_name(into)
        if self.store.exists(into):
            raise EngineError(f"a table named {into.name} already exists in {into.schema}")
        self.sync_views()
        tmp = self.store.temp_path(into)
        cur = self._cursor()
        try:
            with Watch(job_id, timeout_s, cur.interrupt) as watch:
                try:
                    row = cur.execute(f"COPY ({sql}) TO {quote_literal(str(tmp))} "
                                      "(FORMAT parquet, COMPRESSION zstd)").fetchone()
                except duckdb.Error as e:
                    raise _engine_error(e, watch) from e
            watch.raise_if_stopped()
            self.store.publish(tmp, into)
        except BaseException:
            remove(tmp)
            raise
        finally:
            cur.close()
        rows = int(row[0]) if row else 0
        return StoredResult(into, rows, self.store.size(into))

    def stream(self, sql: str, *, timeout_s: float, job_id: str, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
        self.sync_views()
        cur = self._cursor()
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


def _engine_error(e: duckdb.Error, watch: Watch) -> Exception:
    """DuckDB's interruption as QueryTimeout/QueryAborted; the rest as EngineError."""
    if watch.reason == "timeout":
        return QueryTimeout(f"the query ran longer than the time limit of {watch.timeout_s:g} s")
    if watch.reason == "abort":
        return QueryAborted("the query was aborted")
    return EngineError(str(e).split("\n\n")[0])
