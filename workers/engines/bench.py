"""Download benchmark: our Arrow stream beside PostgreSQL's own COPY.

    from workers.engines.bench import bench_download
    result = bench_download()            # the configured PostgreSQL engine, 1M rows x 10 columns
    print(result.report())

Both are measured in the same run on the same table, alternately, and the
median of ``repeat`` runs is reported: the machines are noisy, the ratio is
what counts (goal: Arrow at least half of COPY's rows/s).
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from . import get_engine
from .base import TableName

COLUMNS = ("id bigint, ra double precision, dec double precision, mag real, flag smallint, n integer, "
           "name text, ok boolean, seen timestamp, flux double precision")
FILL = ("SELECT i, i * 0.00036, (i % 180) - 89.5, 10 + (i % 50) / 10.0, i % 3, i * 7, 'star ' || i, i % 2 = 0, "
        "'2020-01-01'::timestamp + i * interval '1 second', i * 1.5 FROM generate_series(1, {rows}) i")


@dataclass(frozen=True)
class DownloadBench:
    rows: int
    columns: int
    copy_s: float  # median seconds to read COPY (query) TO STDOUT, text format, discarding it
    arrow_s: float  # median seconds to iterate engine.stream(query) as Arrow batches
    copy_rows_per_s: float
    arrow_rows_per_s: float
    ratio: float  # arrow_rows_per_s / copy_rows_per_s

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def report(self) -> str:
        return (f"PostgreSQL download, {self.rows:,} rows x {self.columns} columns: "
                f"Arrow stream {self.arrow_rows_per_s:,.0f} rows/s, COPY TO STDOUT {self.copy_rows_per_s:,.0f} rows/s, "
                f"ratio {self.ratio:.2f}")


def bench_download(engine: Any = None, *, rows: int = 1_000_000, repeat: int = 3) -> DownloadBench:
    """Rows/s of ``engine.stream`` (default: ``get_engine('postgresql')``) of a
    ``rows`` x 10-column table beside ``COPY (query) TO STDOUT`` of the same
    query. The table ``bench.download_<rows>`` is created once and kept."""
    if engine is None:
        engine = get_engine("postgresql")
    table = _ensure_table(engine, rows)
    query = f'SELECT * FROM "{table.schema}"."{table.name}"'
    copy_times, arrow_times = [], []
    for _ in range(repeat):
        copy_times.append(_time_copy(engine, query))
        arrow_times.append(_time_arrow(engine, query, rows))
    copy_s, arrow_s = statistics.median(copy_times), statistics.median(arrow_times)
    return DownloadBench(rows, 10, copy_s, arrow_s, rows / copy_s, rows / arrow_s, copy_s / arrow_s)


def _ensure_table(engine: Any, rows: int) -> TableName:
    table = TableName("bench", f"download_{rows}")
    engine.ensure_schema(table.schema)
    with engine.connect() as conn:
        found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{table.schema}.{table.name}"]).fetchone()
        if not found[0]:
            conn.execute(f"CREATE TABLE {table.schema}.{table.name} ({COLUMNS})")
            conn.execute(f"INSERT INTO {table.schema}.{table.name} " + FILL.format(rows=int(rows)))
            conn.commit()
            conn.execute(f"ANALYZE {table.schema}.{table.name}")
            conn.commit()
    return table


def _time_copy(engine: Any, query: str) -> float:
    started = time.perf_counter()
    with engine.connect() as conn, conn.cursor() as cur, cur.copy(f"COPY ({query}) TO STDOUT") as copy:
        for _ in copy:
            pass
    return time.perf_counter() - started


def _time_arrow(engine: Any, query: str, rows: int) -> float:
    started = time.perf_counter()
    got = sum(batch.num_rows for batch in engine.stream(query, timeout_s=600, job_id=f"bench-{uuid.uuid4().hex}"))
    elapsed = time.perf_counter() - started
    if got != rows:
        raise AssertionError(f"the stream returned {got} rows, expected {rows}")
    return elapsed


if __name__ == "__main__":  # python -m workers.engines.bench (with the portal's environment)
    import django

    django.setup()
    print(bench_download().report())
