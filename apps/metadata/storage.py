"""The few things publishing needs from the engines (workers/engines), in one place.

DuckDB and Spark keep tables as Parquet under SCIENCE_DIR, which this module
can also read and write directly: that is the storage contract of those
engines, and it lets demo data be written without starting an engine.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq
from django.core.exceptions import ValidationError

from apps.adql import TableInfo
from apps.adql.translate import translate
from workers.engines import available_engines
from workers.engines import get_engine as engine_factory
from workers.engines.base import Engine, EngineError, TableName

from .catalog import PARQUET_ENGINES, parquet_path

EXACT_COUNT_BELOW = 5_000_000  # count rows exactly where that is cheap; trust the estimate above


class EngineNotConfigured(ValidationError):
    """Shown to publishers like any other refusal."""


def get_engine(name: str) -> Engine:
    if name not in available_engines():
        raise EngineNotConfigured(f"The {name} engine is not configured on this portal.")
    return engine_factory(name)


# --- writing -------------------------------------------------------------------------

Progress = Callable[[int], None]


def _counted(batches: Iterator[pa.RecordBatch], progress: Progress | None) -> Iterator[pa.RecordBatch]:
    done = 0
    for batch in batches:
        yield batch
        done += batch.num_rows
        if progress:
            progress(done)


def write_parquet(schema_name: str, table: str, batches: Iterator[pa.RecordBatch], schema: pa.Schema, *, replace: bool = False) -> int:
    """Write a Parquet table atomically: a hidden file renamed into place once complete."""
    target = parquet_path(schema_name, table)
    if target.exists() and not replace:
        raise FileExistsError(f"{schema_name}.{table} exists already.")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{table}.{uuid.uuid4().hex}.tmp"
    rows = 0
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch, row_group_size=256 * 1024)
                rows += batch.num_rows
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return rows


def store_table(engine_name: str, schema_name: str, table: str, batches: Iterator[pa.RecordBatch], schema: pa.Schema, *,
                replace: bool = False, progress: Progress | None = None) -> int:
    """Create the table in the engine from Arrow batches; no half table on failure. Returns rows."""
    counted = _counted(batches, progress)
    engine = get_engine(engine_name)
    return int(engine.ingest(TableName(schema_name, table), counted, schema, replace=replace))


def drop_table(engine_name: str, schema_name: str, table: str) -> None:
    engine = get_engine(engine_name)
    engine.drop(TableName(schema_name, table))


# --- reading ---------------------------------------------------------------------------

@dataclass
class LiveTable:
    info: TableInfo
    row_count: int | None
    size_bytes: int | None


def _count_rows(engine: Engine, schema_name: str, table: str) -> int | None:
    sql = translate(f'SELECT COUNT(*) AS n FROM "{schema_name}"."{table}"', engine.dialect).sql
    for batch in engine.stream(sql, timeout_s=300, job_id=f"count-{uuid.uuid4().hex}"):
        if batch.num_rows:
            return int(batch.column(0)[0].as_py())
    return None


def live_tables(engine_name: str, schema_name: str, table: str | None = None) -> list[LiveTable]:
    """What the live database holds: columns, types, indexes and row counts."""
    engine = get_engine(engine_name)
    found = []
    try:
        infos = engine.introspect(schema_name, table)
    except EngineError as exc:
        if table:
            return []  # the caller says which table is missing
        raise ValidationError(f"{engine_name}: {exc}") from None
    for info in infos:
        rows = getattr(info, "rows", None)  # exact for Parquet, an estimate from the servers' statistics
        if engine_name not in PARQUET_ENGINES and (rows is None or rows < EXACT_COUNT_BELOW):
            rows = _count_rows(engine, info.schema, info.name)
        found.append(LiveTable(info, rows, table_bytes(engine_name, info.schema, info.name)))
    return found


_SYSTEM_SCHEMAS = {"information_schema", "pg_catalog", "pg_toast", "mysql", "performance_schema", "sys", "main", "temp", "system"}


def engine_schemas(engine_name: str) -> list[str] | None:
    """The schemas ``engine_name`` holds that its readers may see, to pick from; None when the engine cannot say."""
    if engine_name in PARQUET_ENGINES:
        root = parquet_path("x", "x").parent.parent
        return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() else []
    engine = get_engine(engine_name)
    try:
        batches = list(engine.stream("SELECT DISTINCT table_schema FROM information_schema.tables", timeout_s=30,
                                     job_id=f"schemas-{uuid.uuid4().hex}"))
    except Exception:  # an engine that refuses the catalogue query: the caller says less, nothing breaks
        return None
    names = {str(v) for b in batches for v in b.column(0).to_pylist() if v}
    return sorted(n for n in names if n.lower() not in _SYSTEM_SCHEMAS and not n.startswith(("pg_", "_")))


def table_bytes(engine_name: str, schema_name: str, table: str) -> int | None:
    """Size on disk of a Parquet table (the servers keep theirs to themselves)."""
    if engine_name not in PARQUET_ENGINES:
        return None
    path = parquet_path(schema_name, table)
    files = [path] if path.is_file() else list(path.rglob("*.parquet")) if path.is_dir() else []
    return sum(p.stat().st_size for p in files) if files else None


def sample_rows(engine_name: str, schema_name: str, table: str, limit: int = 10) -> pa.Table:
    """The first rows of a published table, for its page."""
    engine = get_engine(engine_name)
    batches = list(engine.fetch(TableName(schema_name, table), limit=limit))
    return pa.Table.from_batches(batches) if batches else pa.table({})
