"""Spark over the same Parquet files as DuckDB.

Through Spark Connect (``SPARK_REMOTE=sc://127.0.0.1:15002``; the server is
started by scripts/services.d/20-spark) or an in-process session
(``SPARK_REMOTE=local``). Tables are read with the trusted fragment
``parquet.`<path>``` (``sql_from``), results are written by Spark as a
folder of Parquet parts under a temporary name in MYDB_DIR and renamed into
place. Each job's operations carry the tag ``daiquiri-<job id>``; a watcher
thread interrupts the tag at the time limit or when the abort flag is set.
Reading stored tables (fetch, introspect, ingest, drop, rename) needs no
Spark: it is the shared Parquet store.

Native SQL (a ``Scope``) runs in a session of its own (``newSession()``: on
Spark Connect a fresh server-side session, released afterwards) where ``spark.sql.runSQLOnFiles`` is off, so no
``parquet.`<path>``` can be named, and the only tables are temporary views of
the scope's tables with their allowed columns (``view_name``), made with the
DataFrame reader. Temporary views belong to their session; the session ends
with the query.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from .base import EngineError, IntrospectedTable, QueryAborted, QueryTimeout, Scope, StoredResult, TableName
from .common import Watch, check_name, request_abort, run_tag, view_name
from .parquet import ParquetStore, remove

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
}


class SparkEngine:
    name = "spark"
    dialect = "spark"

    def __init__(self, remote: str, science_dir: Path, mydb_dir: Path) -> None:
        self.remote = remote
        self.store = ParquetStore(science_dir, mydb_dir)
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def spark(self) -> Any:
        """The process's Spark session (Connect client or local), created on first use."""
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = self._connect()
        return self._session

    def _connect(self) -> Any:
        from pyspark.sql import SparkSession

        # pyspark logs every failed query with its JVM stack trace; the user
        # gets the message through EngineError instead.
        logging.getLogger("SQLQueryContextLogger").setLevel(logging.CRITICAL)

        try:
            if self.remote == "local":
                # A Connect client (here or in a parent process) leaves this set, and
                # the builder would then make a Connect session instead of a classic one.
                os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)
                builder = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
                for key, value in SESSION_CONF.items():
                    builder = builder.config(key, value)
                return builder.getOrCreate()
            session = SparkSession.builder.remote(self.remote).getOrCreate()
            for key, value in SESSION_CONF.items():
                session.conf.set(key, value)
            return session
        except Exception as e:
            raise EngineError(f"cannot reach Spark at {self.remote}: {e}") from e

    def scoped_session(self, scope: Scope) -> Any:
        """A session of its own for one native query: no SQL on files, views of the scope's tables only."""
        from pyspark.sql import functions as F

        try:
            session = self.spark.newSession()  # Connect: a fresh server-side session, never the default one
            for key, value in {**SESSION_CONF, "spark.sql.runSQLOnFiles": "false"}.items():
                session.conf.set(key, value)
            for table in scope.tables:
                path = self.store.path(table.table)
                if not path.exists():
                    continue  # dropped since planning: the query fails on the missing name
                frame = session.read.parquet(str(path))
                columns = [F.col("`" + c.replace("`", "``") + "`") for c in table.columns if c in frame.columns]
                frame.select(*columns).createOrReplaceTempView(table.view or view_name(table.table))
        except Exception as e:
            raise EngineError(f"Spark failed: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from e
        return session

    def _end_session(self, session: Any) -> None:
        if session is not self._session and self.remote != "local":  # a local newSession() shares the context
            try:
                session.stop()
            except Exception:
                logging.getLogger(__name__).warning("could not end a Spark session", exc_info=True)

    def close(self) -> None:
        if self._session is not None and self.remote != "local":
            self._session.stop()
        self._session = None

    def sql_from(self, table: TableName) -> str:
        """The trusted FROM fragment reading a Parquet table (for apps.adql TableInfo.sql_from)."""
        path = self.store.path(table)
        return "parquet.`" + str(path).replace("`", "``") + "`"

    # ---- the Engine protocol ---------------------------------------------------
    def execute(self, sql: str, *, into: TableName, timeout_s: float, job_id: str,
                scope: Scope | None = None) -> StoredResult:
        check_name(into)
        if scope is not None and into.schema != scope.home:
            raise EngineError(f"results of {scope.principal} are stored in {scope.home} only")
        if self.store.exists(into):
            raise EngineError(f"a table named {into.name} already exists in {into.schema}")
        tmp = self.store.temp_path(into)
        try:
            self._write(sql, tmp, timeout_s, job_id, scope)
            self.store.publish(tmp, into)
        except BaseException:
            remove(tmp)
            raise
        return StoredResult(into, self.store.rows(into), self.store.size(into))

    def stream(self, sql: str, *, timeout_s: float, job_id: str, batch_rows: int = 65536,
               scope: Scope | None = None) -> Iterator[pa.RecordBatch]:
        """Spark writes the result as Parquet parts, which are then read in
        batches: constant memory here, whatever the size."""
        folder = self.store.mydb_dir / ".streams"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{uuid.uuid4().hex}.parquet"
        try:
            self._write(sql, tmp, timeout_s, job_id, scope)
            import pyarrow.dataset as ds

            data = ds.dataset(str(tmp), format="parquet")
            empty = True
            for batch in data.to_batches(batch_size=batch_rows):
                empty = False
                yield batch
            if empty:
                yield pa.RecordBatch.from_pylist([], schema=data.schema)
        finally:
            remove(tmp)

    def fetch(self, table: TableName, *, offset: int = 0, limit: int | None = None,
              order_by: str | None = None, descending: bool = False) -> Iterator[pa.RecordBatch]:
        return self.store.fetch(table, offset=offset, limit=limit, order_by=order_by, descending=descending)

    def abort(self, job_id: str) -> None:
        request_abort(job_id)

    def introspect(self, schema: str, table: str | None = None) -> list[IntrospectedTable]:
        return self.store.introspect(schema, table, sql_from=self.sql_from)

    def ingest(self, table: TableName, batches: Iterator[pa.RecordBatch], schema: pa.Schema, *,
               replace: bool = False) -> int:
        return self.store.ingest(table, batches, schema, replace=replace)

    def drop(self, table: TableName) -> None:
        self.store.drop(table)

    def rename(self, table: TableName, new: TableName) -> None:
        self.store.rename(table, new)

    # ---- helpers -----------------------------------------------------------------
    def _write(self, sql: str, path: Path, timeout_s: float, job_id: str, scope: Scope | None) -> None:
        spark = self.scoped_session(scope) if scope is not None else self.spark
        try:
            self._write_in(spark, sql, path, timeout_s, job_id)
        finally:
            if scope is not None:
                self._end_session(spark)

    def _write_in(self, spark: Any, sql: str, path: Path, timeout_s: float, job_id: str) -> None:
        from pyspark.errors import PySparkException

        tag = f"daiquiri-{run_tag(job_id)}"
        spark.addTag(tag)  # tags are per thread: concurrent jobs in one process stay apart
        if self.remote == "local":  # a classic session cancels by job group (also per thread)
            spark.sparkContext.setJobGroup(tag, f"daiquiri job {job_id}", interruptOnCancel=True)

        def interrupt() -> None:
            spark.interruptTag(tag)
            if self.remote == "local":
                spark.sparkContext.cancelJobGroup(tag)

        try:
            with Watch(job_id, timeout_s, interrupt, repeat_s=1.0) as watch:
                try:
                    # Wrapped as a subquery: a command (DROP, INSERT ...) cannot parse there.
                    spark.sql(f"SELECT * FROM (\n{sql}\n) AS q").write.parquet(str(path), mode="error")
                except PySparkException as e:
                    raise _error(e, watch) from e
                except Exception as e:  # gRPC and connection failures
                    if watch.reason:
                        raise _error(e, watch) from e
                    raise EngineError(f"Spark failed: {e}") from e
            watch.raise_if_stopped()
        finally:
            spark.removeTag(tag)
            if self.remote == "local":
                spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)


def _error(e: Exception, watch: Watch) -> Exception:
    if watch.reason == "timeout":
        return QueryTimeout(f"the query ran longer than the time limit of {watch.timeout_s:g} s")
    if watch.reason == "abort" or "OPERATION_CANCELED" in str(e):
        return QueryAborted("the query was aborted")
    message = str(e).split("\n\nJVM stacktrace:")[0].strip()
    return EngineError(message.splitlines()[0] if message else type(e).__name__)
