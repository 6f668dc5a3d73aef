"""Demo catalogues for `manage.py demo`: small Gaia-, MaNGA- and ZTF-like tables, published publicly."""

from __future__ import annotations

from typing import Any

from fixtures.generator import TABLES
from workers.engines import available_engines

from .actions import GAIA_HEALPIX, do_generate_catalogue, do_save_function
from .progress import ProgressBar

ROWS = {"small": 20_000, "medium": 1_000_000, "large": 10_000_000}


def load_demo(stdout: Any, size: str = "small") -> None:
    rows = ROWS.get(size, ROWS["small"])
    do_save_function(None, **GAIA_HEALPIX)
    for engine in available_engines():
        if engine == "spark":
            continue  # Spark reads the same Parquet files as DuckDB
        for key in TABLES:
            bar = ProgressBar(stdout, f"demo {engine} {key}")
            table = do_generate_catalogue(None, key, rows=rows, engine=engine, progress=bar)
            bar.finish(table.row_count or 0)
