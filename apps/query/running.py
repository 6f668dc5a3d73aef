"""What a web request (TAP sync) and a worker (a query job) both do around an engine run.

Uploaded tables are copied into a server engine for the run and dropped after it
(``create_uploads``/``drop_uploads``); a TAP_SCHEMA query runs in a private DuckDB
connection that holds the user's own TAP_SCHEMA (``local_stream``). The worker side of a
job (claim, heartbeat, run, store, reap) is in workers/query_execution.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User

from apps.metadata.tap_schema import register_tap_schema
from workers.engines.base import Engine

from .planning import Plan, QueryError, private_tables

log = logging.getLogger(__name__)


def create_uploads(engine: Engine, plan: Plan) -> None:
    """Copy uploaded tables into a server engine for the job (DuckDB and Spark read the files)."""
    for upload, table in plan.uploads:
        parquet = pq.ParquetFile(upload.path)
        engine.ingest(table, parquet.iter_batches(batch_size=65536), parquet.schema_arrow, replace=True)


def drop_uploads(engine: Engine, plan: Plan) -> None:
    for _, table in plan.uploads:
        try:
            engine.drop(table)
        except Exception:
            log.warning("could not drop upload table %s", table, exc_info=True)


def local_stream(plan: Plan, owner: User | None, timeout_s: float) -> Iterator[pa.RecordBatch]:
    """Run a TAP_SCHEMA query in a private DuckDB connection holding this user's TAP_SCHEMA."""
    conn = duckdb.connect(":memory:")
    timer = threading.Timer(timeout_s, conn.interrupt)
    try:
        register_tap_schema(conn, owner or AnonymousUser(), private_tables(owner))
        # Native SQL runs here too: like the engine's connection, this one reads no file but TAP uploads.
        uploads = "'" + str(Path(settings.VAR_DIR).resolve() / "uploads").replace("'", "''") + "/'"
        conn.execute(f"SET allowed_directories = [{uploads}]")
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        timer.start()
        try:
            reader = conn.sql(plan.sql).to_arrow_reader(65536)
            yield from reader
        except duckdb.Error as exc:
            if not timer.is_alive():
                raise QueryError(f"The query ran longer than the time limit ({timeout_s:g} s).") from None
            raise QueryError(f"The query failed: {exc}") from None
    finally:
        timer.cancel()
        conn.close()
