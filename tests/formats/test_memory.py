"""Writers run in constant memory: 2M rows through each, peak memory far below the output size."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace

import pyarrow as pa
import pytest

from apps.formats import FORMATS, ResultInfo, write
from apps.formats.bench import BENCH_COLUMNS, bench_writers, generate_batches

ROWS = 2_000_000
MB = 1024 * 1024


@pytest.mark.parametrize(("key", "total_rows"), [
    ("votable", None), ("votable-td", None), ("csv", None), ("parquet", None),
    ("fits", None),  # spooled: unknown row count and VARCHAR(*) widths
    ("fits", ROWS),  # streamed: row count known, text widths bounded
])
def test_it_keeps_memory_flat_while_writing_many_batches(key: str, total_rows: int | None) -> None:
    """Python/numpy allocations (tracemalloc) and Arrow's pool stay bounded by a few batches, not the result."""
    columns = [replace(c, arraysize="24*") if c.datatype == "VARCHAR" and total_rows else c for c in BENCH_COLUMNS]
    default = pa.default_memory_pool()
    pool = pa.proxy_memory_pool(default)  # its own peak counter, for this test only
    pa.set_memory_pool(pool)
    written = 0
    tracemalloc.start()
    try:
        for chunk in write(FORMATS[key], generate_batches(ROWS), columns, ResultInfo(total_rows=total_rows)):
            written += len(chunk)
        _, python_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        pa.set_memory_pool(default)
    arrow_peak = pool.max_memory()
    assert written > 50 * MB  # the whole result is far bigger than the bounds below
    assert python_peak < 64 * MB, f"{key}: Python/numpy peak {python_peak / MB:.0f} MiB for {written / MB:.0f} MiB written"
    assert arrow_peak < 96 * MB, f"{key}: Arrow peak {arrow_peak / MB:.0f} MiB for {written / MB:.0f} MiB written"


def test_bench_writers_reports_rows_per_second_for_every_format() -> None:
    figures = bench_writers(rows=20_000)
    assert set(figures) == set(FORMATS) and all(rate > 0 for rate in figures.values())
