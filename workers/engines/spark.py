"""Spark over the same Parquet files as DuckDB.

Through Spark Connect (``SPARK_REMOTE=sc://127.0.0.1:15002``; the server is
started by scripts/services.d/20-spark, a standalone cluster's by 21-spark-cluster)
or an in-process session (``SPARK_REMOTE=local``, on ``SPARK_MASTER``). Where the
executors run is the Connect server's business: pointing the portal at a cluster
is only a setting. Tables are read with the trusted fragment
``parquet.`<path>``` (``sql_from``). ``execute`` has Spark write the result as a
folder of Parquet parts under a temporary name in MYDB_DIR, renamed into place;
``stream`` (sync queries) takes the result as the Arrow batches Spark Connect
sends, as they arrive, with no Parquet round trip (a local session still writes
and reads Parquet: its collect would hold the whole result in memory). Each job's
operations carry the tag ``daiquiri-<run tag>``; a watcher thread interrupts the
tag at the time limit or when the abort flag is set. Reading stored tables
(fetch, introspect, ingest, drop, rename) needs no Spark: it is the shared Parquet store.

Native SQL (a ``Scope``) runs in a session other than the engine's own one
(``newSession()``: on Spark Connect a server-side session of its own) where
``spark.sql.runSQLOnFiles`` is off, so no ``parquet.`<path>``` can be named, and
the only tables are temporary views of the scope's tables with their allowed
columns (``view_name``), made with the DataFrame reader. A fresh session costs
more than the query on small data (the first query of a session plans and lists
files cold), so such sessions are pooled: one query at a time, its views dropped
afterwards; a session whose views could not all be dropped is ended, never reused.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from .base import EngineError, IntrospectedTable, QueryAborted, QueryTimeout, Scope, StoredResult, TableName
from .common import Watch, check_name, request_abort, run_tag, view_name
from .limits import Limits
from .parquet import ParquetStore, remove

SESSION_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.parquet.compression.codec": "zstd",
}
SCOPED_CONF = {**SESSION_CONF, "spark.sql.runSQLOnFiles": "false"}
POOL_SIZE = 4  # idle scoped sessions kept
POOL_IDLE_S = 300.0  # an idle scoped session older than this is ended (Connect servers expire idle sessions)
log = logging.getLogger(__name__)


class SparkEngine:
    name = "spark"
    dialect = "spark"

    def __init__(self, remote: str, science_dir: Path, mydb_dir: Path, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()
        self.remote = self.limits.spark_remote or remote  # a queue may have a Connect server (executors) of its own
        self.store = ParquetStore(science_dir, mydb_dir)
        self._session: Any = None
        self._lock = threading.Lock()
        self._idle: list[tuple[Any, float]] = []  # scoped sessions with no views, and since when

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
                builder = SparkSession.builder.config("spark.ui.enabled", "false")
                for key, value in {**self.limits.spark_jvm(), **SESSION_CONF, **self.limits.spark_conf()}.items():
                    builder = builder.config(key, value)
                return builder.getOrCreate()
            # create(), not getOrCreate(): that returns the process's first Connect session whatever its
            # URL, so a second engine (another server, say a cluster's) would run on the first one's server.
            session = SparkSession.builder.remote(self.remote).create()
            for key, value in {**SESSION_CONF, **self.limits.spark_conf()}.items():
                session.conf.set(key, value)
            return session
        except Exception as e:
            raise EngineError(f"cannot reach Spark at {self.remote}: {e}") from e

    @contextmanager
    def scoped_session(self, scope: Scope) -> Iterator[Any]:
        """A session other than the engine's own for one native query: no SQL on files, views of the scope's
        tables only. Taken from the pool (or made), its views dropped afterwards before it goes back."""
        session = self._take_scoped()
        views: list[str] = []
        try:
            self._register_views(session, scope, views)
            yield session
        except (EngineError, QueryTimeout, QueryAborted):
            self._release(session, views)  # the query's own failure leaves the session as it was
            raise
        except BaseException:
            self._end_session(session)  # anything else (the connection, an abandoned stream): never reused
            raise
        self._release(session, views)

    def _release(self, session: Any, views: list[str]) -> None:
        """Back to the pool once its views are dropped; ended when any could not be."""
        if not self._drop_views(session, views):
            self._end_session(session)
            return
        with self._lock:
            if len(self._idle) < POOL_SIZE:
                self._idle.append((session, time.monotonic()))
                return
        self._end_session(session)

    def _take_scoped(self) -> Any:
        with self._lock:
            while self._idle:
                session, since = self._idle.pop()
                if time.monotonic() - since < POOL_IDLE_S:
                    return session
                self._end_session(session)
        try:
            session = self.spark.newSession()  # Connect: a server-side session of its own, never the default one
            for key, value in {**SCOPED_CONF, **self.limits.spark_conf()}.items():
                session.conf.set(key, value)
        except Exception as e:
            raise EngineError(f"Spark failed: {_first_line(e)}") from e
        return session

    def _register_views(self, session: Any, scope: Scope, views: list[str]) -> None:
        """Temporary views of the scope's tables with their allowed columns; ``views`` lists those made."""
        from pyspark.sql import functions as F

        try:
            for table in scope.tables:
                path = self.store.path(table.table)
                if not path.exists():
                    continue  # dropped since planning: the query fails on the missing name
                frame = session.read.options(**self.store.read_options(table.table)).parquet(str(self.store.read_location(table.table)))
                columns = [F.col("`" + c.replace("`", "``") + "`") for c in table.columns if c in frame.columns]
                name = table.view or view_name(table.table)
                views.append(name)
                frame.select(*columns).createOrReplaceTempView(name)
        except Exception as e:
            raise EngineError(f"Spark failed: {_first_line(e)}") from e

    def _drop_views(self, session: Any, views: list[str]) -> bool:
        """Drop the query's views; False when any could not be (the session must then not be reused)."""
        try:
            return all([session.catalog.dropTempView(name) for name in dict.fromkeys(views)])
        except Exception:
            log.warning("could not drop a scoped session's views", exc_info=True)
            return False

    def _end_session(self, session: Any) -> None:
        if session is not self._session and self.remote != "local":  # a local newSession() shares the context
            try:
                session.stop()
            except Exception:
                log.warning("could not end a Spark session", exc_info=True)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for session, _ in idle:
            self._end_session(session)
        if self._session is not None and self.remote != "local":
            self._session.stop()
        self._session = None

    def setup(self) -> None:
        """Nothing to prepare: storage is the Parquet folders; the session starts on first use."""

    def ensure_schema(self, schema: str) -> None:
        """Nothing to create: a schema is a folder, made when its first table is written."""

    def sql_from(self, table: TableName) -> str:
        """The trusted FROM fragment reading a Parquet table (for apps.adql TableInfo.sql_from)."""
        return self.store.sql_from(table, "spark")

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
               scope: Scope | None = None, row_limit: int | None = None) -> Iterator[pa.RecordBatch]:
        """Spark Connect: the Arrow batches the server sends, as they arrive (a few MB each). A local
        session: Spark writes Parquet parts, read back in batches. Constant memory here either way."""
        if self.remote == "local":
            yield from self._stream_via_parquet(sql, timeout_s, job_id, batch_rows, scope)
            return
        with self._session_for(scope) as spark, self._watched(spark, job_id, timeout_s):
            with self._tagged(spark, job_id):
                parts = _arrow_parts(spark, self._frame(spark, sql))
                first = next(parts)  # sends the request, under the tag, in this thread
            empty = True
            for part in itertools.chain([first], parts):
                for batch in part.to_batches(max_chunksize=batch_rows):
                    empty = False
                    yield batch
            if empty:
                yield pa.RecordBatch.from_pylist([], schema=first.schema)

    def _stream_via_parquet(self, sql: str, timeout_s: float, job_id: str, batch_rows: int,
                            scope: Scope | None) -> Iterator[pa.RecordBatch]:
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
    @contextmanager
    def _session_for(self, scope: Scope | None) -> Iterator[Any]:
        if scope is None:
            yield self.spark
            return
        with self.scoped_session(scope) as session:
            yield session

    def _write(self, sql: str, path: Path, timeout_s: float, job_id: str, scope: Scope | None) -> None:
        with self._session_for(scope) as spark, self._watched(spark, job_id, timeout_s), self._tagged(spark, job_id):
            self._frame(spark, sql).write.parquet(str(path), mode="error")

    def _frame(self, spark: Any, sql: str) -> Any:
        """The statement as a DataFrame, planned by the server only when it runs.

        On Spark Connect, ``spark.sql()`` first sends the statement as a command that the server analyses at
        once, and running the frame analyses it all over again: each analysis lists the table's files and runs a
        one-task Spark job that reads a Parquet footer for the schema, on a cluster shipped to an executor (the
        command alone: 0.2-1.0 s on this machine's loaded standalone cluster, 0.2-0.4 s on its local[2] server).
        The SQL relation sent with the execution itself is analysed once, and its errors come back from the
        run. A local session analyses in this process: nothing to save there."""
        if self.remote == "local":
            return spark.sql(_select(sql))
        from pyspark.sql.connect.dataframe import DataFrame
        from pyspark.sql.connect.plan import SQL

        return DataFrame(SQL(_select(sql)), spark)

    @contextmanager
    def _tagged(self, spark: Any, job_id: str) -> Iterator[None]:
        """Operations started inside carry the job's tag (tags are per thread: concurrent jobs stay apart)."""
        tag = _tag(job_id)
        spark.addTag(tag)
        if self.remote == "local":  # a classic session cancels by job group (also per thread)
            spark.sparkContext.setJobGroup(tag, f"daiquiri job {job_id}", interruptOnCancel=True)
        try:
            yield
        finally:
            spark.removeTag(tag)
            if self.remote == "local":
                spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)

    @contextmanager
    def _watched(self, spark: Any, job_id: str, timeout_s: float) -> Iterator[Watch]:
        """Interrupt the job's operations at the time limit or on abort; Spark's errors become ours."""
        from pyspark.errors import PySparkException

        tag = _tag(job_id)

        def interrupt() -> None:
            spark.interruptTag(tag)
            if self.remote == "local":
                spark.sparkContext.cancelJobGroup(tag)

        with Watch(job_id, timeout_s, interrupt, repeat_s=1.0) as watch:
            try:
                yield watch
            except (EngineError, QueryTimeout, QueryAborted):
                raise
            except PySparkException as e:
                raise _error(e, watch) from e
            except Exception as e:  # gRPC and connection failures
                if watch.reason:
                    raise _error(e, watch) from e
                raise EngineError(f"Spark failed: {e}") from e
        watch.raise_if_stopped()


def _tag(job_id: str) -> str:
    return f"daiquiri-{run_tag(job_id)}"


def _select(sql: str) -> str:
    """The statement as a subquery: a command (DROP, INSERT, CREATE VIEW ...) cannot parse there."""
    return f"SELECT * FROM (\n{sql}\n) AS q"


def _arrow_parts(spark: Any, frame: Any) -> Iterator[pa.Table]:
    """The result as the Arrow tables Spark Connect streams (at least one, empty when there are no rows).
    ``toArrow()`` would gather them all first (and ask for the schema in a round trip of its own)."""
    from pyspark.sql.pandas.types import to_arrow_schema
    from pyspark.sql.types import StructType

    schema = None
    sent = False
    for part in spark.client.to_table_as_iterator(frame._plan.to_proto(spark.client), frame._plan.observations):
        if isinstance(part, StructType):
            schema = part
            continue
        sent = True
        yield part
    if not sent:
        if schema is None:
            raise EngineError("Spark sent neither rows nor a schema")
        yield to_arrow_schema(schema, timezone="UTC").empty_table()


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _error(e: Exception, watch: Watch) -> Exception:
    if watch.reason == "timeout":
        return QueryTimeout(f"the query ran longer than the time limit of {watch.timeout_s:g} s")
    if watch.reason == "abort" or "OPERATION_CANCELED" in str(e):
        return QueryAborted("the query was aborted")
    message = str(e).split("\n\nJVM stacktrace:")[0].strip()
    return EngineError(message.splitlines()[0] if message else type(e).__name__)
