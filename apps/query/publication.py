"""Publishing a MyDB table to the community: the result written as Parquet with its column metadata,
for the metadata app's ingest (which stores it in a published schema and describes it).

The actions (do_request_publication, do_decide_publication) are in actions.py; this is the file they hand over.
"""

from __future__ import annotations

import pathlib

import pyarrow as pa
import pyarrow.parquet as pq

from apps.adql import ColumnInfo

from .actions import result_batches, result_columns
from .models import QueryJob

META_KEYS = ("unit", "ucd", "description")


def write_result_parquet(job: QueryJob, path: pathlib.Path) -> int:
    """The job's stored result as a Parquet file whose fields carry unit/ucd/description (ingest reads them)."""
    columns = {c.name: c for c in result_columns(job)}
    writer: pq.ParquetWriter | None = None
    rows = 0
    try:
        for batch in result_batches(job):
            if writer is None:
                fields = [pa.field(f.name, f.type, metadata=_described(columns.get(f.name))) for f in batch.schema]
                writer = pq.ParquetWriter(path, pa.schema(fields))
            writer.write_batch(pa.RecordBatch.from_arrays(batch.columns, schema=writer.schema))
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ValueError("The table has no rows to publish.")
    return rows


def _described(column: ColumnInfo | None) -> dict[str, str] | None:
    """The field metadata ingest reads: the column's unit, UCD and description where it has them."""
    if column is None:
        return None
    return {k: getattr(column, k) for k in META_KEYS if getattr(column, k)} or None
