"""Parquet with the VOTable metadata embedded (IVOA VOParquet convention, Note 1.0).

The file-level key/value metadata carries ``IVOA.VOTable-Parquet.version`` = "1.0"
and ``IVOA.VOTable-Parquet.content``: a VOTable whose first TABLE has the FIELDs
(units, UCDs, descriptions) and no DATA. Columns are written as the other
formats see them (timestamps as DALI ISO text, geometries as lists of doubles),
so the FIELDs describe the Parquet columns exactly.

Parquet puts its footer at the end, so it streams naturally: the writer's
output goes to a small in-memory sink that is emptied after each row group.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from .columns import ColumnPlan, schema_of

VERSION_KEY = b"IVOA.VOTable-Parquet.version"
CONTENT_KEY = b"IVOA.VOTable-Parquet.content"
ROW_GROUP_ROWS = 1 << 17  # ~128k rows a group (as DuckDB writes): big enough for readers, small to hold in memory
ROW_GROUP_BYTES = 32 << 20


class _Sink:
    """A write-only file object for ParquetWriter whose content is taken out as it grows."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def parquet_chunks(batches: Iterator[list[pa.Array]], plans: Sequence[ColumnPlan], votable_metadata: str) -> Iterator[bytes]:
    schema = schema_of(plans).with_metadata({VERSION_KEY: b"1.0", CONTENT_KEY: votable_metadata.encode("utf-8")})
    sink = _Sink()
    writer = pq.ParquetWriter(sink, schema, compression="snappy")
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for arrays in batches:
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        pending.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
        if rows >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
            writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=rows)
            pending, rows, size = [], 0, 0
            yield sink.take()
    if pending:
        writer.write_table(pa.Table.from_batches(pending, schema=schema), row_group_size=rows)
    writer.close()
    yield sink.take()
