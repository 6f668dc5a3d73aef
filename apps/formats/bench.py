"""Writer throughput on generated data: ``bench_writers(rows) -> {format key: rows/s}``.

The data is 10 columns like a typical catalogue query (BIGINT id, three
DOUBLEs, a REAL, an INTEGER, a SMALLINT, a BOOLEAN, a VARCHAR and a DOUBLE
with a few nulls), made once in 64k-row Arrow batches before timing, so the
figures are the writers' own cost: encoding plus handing out the chunks.
Compare them with the engine's raw rate (e.g. PostgreSQL COPY) in the
project's benchmark command.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from apps.adql.catalog import ColumnInfo

from . import FORMATS, ResultInfo, write

BENCH_COLUMNS = [
    ColumnInfo("source_id", "BIGINT", ucd="meta.id;meta.main"), ColumnInfo("ra", "DOUBLE", unit="deg", ucd="pos.eq.ra"),
    ColumnInfo("dec", "DOUBLE", unit="deg", ucd="pos.eq.dec"), ColumnInfo("phot_g_mean_mag", "REAL", unit="mag"),
    ColumnInfo("n_obs", "INTEGER"), ColumnInfo("quality", "SMALLINT"), ColumnInfo("variable", "BOOLEAN"),
    ColumnInfo("designation", "VARCHAR"), ColumnInfo("parallax", "DOUBLE", unit="mas"), ColumnInfo("parallax_error", "DOUBLE", unit="mas"),
]


def generate_batches(rows: int, batch_rows: int = 65536, seed: int = 42) -> Iterator[pa.RecordBatch]:
    """Deterministic catalogue-like rows; ``parallax`` has 5% nulls."""
    rng = np.random.default_rng(seed)
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        ids = np.arange(start, start + n, dtype=np.int64)
        parallax = rng.normal(1.0, 2.0, n)
        yield pa.record_batch([
            pa.array(ids * 1024 + 7), pa.array(rng.random(n) * 360), pa.array(rng.random(n) * 180 - 90),
            pa.array((rng.random(n) * 10 + 10).astype(np.float32)), pa.array(rng.integers(0, 500, n, dtype=np.int32)),
            pa.array(rng.integers(0, 5, n, dtype=np.int16)), pa.array(rng.random(n) > 0.9),
            pc.binary_join_element_wise("Gaia DR3 ", pc.cast(pa.array(ids), pa.string()), ""),
            pa.array(parallax, mask=rng.random(n) < 0.05), pa.array(np.abs(rng.normal(0.1, 0.05, n))),
        ], names=[c.name for c in BENCH_COLUMNS])


def bench_writers(rows: int = 1_000_000, formats: list[str] | None = None) -> dict[str, float]:
    """Rows per second of each writer (all formats by default), the chunks consumed and dropped."""
    return {key: row["rows_per_s"] for key, row in bench_writers_details(rows, formats).items()}


def bench_writers_details(rows: int = 1_000_000, formats: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Per format: seconds, rows/s, output bytes and MB/s."""
    batches = list(generate_batches(rows))
    results: dict[str, dict[str, float]] = {}
    for key in formats or list(FORMATS):
        for _ in write(FORMATS[key], iter(batches[:1]), BENCH_COLUMNS, ResultInfo()):
            pass  # warm up: first-use imports are not the writer's steady cost
        size = 0
        started = time.perf_counter()
        for chunk in write(FORMATS[key], iter(batches), BENCH_COLUMNS, ResultInfo(query="SELECT * FROM bench", total_rows=rows)):
            size += len(chunk)
        seconds = time.perf_counter() - started
        results[key] = {"seconds": seconds, "rows_per_s": rows / seconds, "bytes": float(size), "mb_per_s": size / seconds / 1e6}
    return results


if __name__ == "__main__":  # python -m apps.formats.bench [rows]
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    for fmt, row in bench_writers_details(n).items():
        print(f"{fmt:12s} {row['rows_per_s']:>12,.0f} rows/s {row['mb_per_s']:>8.1f} MB/s {row['bytes'] / 1e6:>8.1f} MB")
