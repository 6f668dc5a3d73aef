"""Translation speed, for the project's benchmark command."""

from __future__ import annotations

import statistics
import time

from .catalog import Catalog, ColumnInfo, TableInfo
from .translate import translate

CONE_QUERY = ("SELECT TOP 100 source_id, ra, dec, phot_g_mean_mag FROM gaia.source "
              "WHERE 1=CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10, 20, 0.1))")

_CATALOG = Catalog([TableInfo("gaia", "source", (
    ColumnInfo("source_id", "BIGINT"), ColumnInfo("ra", "DOUBLE", unit="deg"),
    ColumnInfo("dec", "DOUBLE", unit="deg"), ColumnInfo("phot_g_mean_mag", "REAL", unit="mag"),
))])


def bench_translation(n: int = 1000, dialect: str = "postgresql") -> dict[str, float]:
    """Median and 95th percentile (ms) of translating a typical cone query."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        translate(CONE_QUERY, dialect, catalog=_CATALOG, maxrec=2000)
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"n": float(n), "median_ms": statistics.median(times),
            "p95_ms": times[int(0.95 * (len(times) - 1))], "max_ms": times[-1]}


if __name__ == "__main__":
    for d in ("postgresql", "mariadb", "duckdb", "spark"):
        print(d, bench_translation(dialect=d))
