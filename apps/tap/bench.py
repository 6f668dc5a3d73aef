"""TAP sync throughput beside the raw engine, on generated data (``manage.py bench`` calls ``bench_*``).

The scenario makes a Gaia-like table of ``rows`` rows in a temporary folder on DuckDB
(the embedded default), inside a transaction that is rolled back afterwards, so
nothing stays published. It then downloads ``SELECT * FROM <table>`` through
``/tap/sync`` (parameter parsing, access checks, planning, streaming encoder; no
network) as VOTable BINARY2 and CSV, and reads the same SQL straight from the
engine as Arrow batches (the raw rate: no encoding at all).
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import transaction
from django.test import Client, override_settings

from apps.metadata.actions import do_generate_catalogue
from apps.metadata.catalog import catalog_for
from apps.query.planning import plan_query
from workers.engines import get_engine, reset_engines

_CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tap-bench"}}


def _download(client: Client, table: str, fmt: str, rows: int) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.get("/tap/sync", {"LANG": "ADQL", "QUERY": f"SELECT * FROM {table}", "RESPONSEFORMAT": fmt,
                                        "MAXREC": str(rows)})
    if response.status_code != 200:
        raise RuntimeError(f"TAP sync answered {response.status_code}: {response.content[:500]!r}")
    chunks: Iterator[bytes] = response.streaming_content  # type: ignore[attr-defined]
    size = sum(len(chunk) for chunk in chunks)
    return time.perf_counter() - started, size


def _raw(table: str) -> float:
    from django.contrib.auth.models import AnonymousUser


    catalog_for(AnonymousUser())  # same warm-up as the TAP path gets
    plan = plan_query(None, query=f"SELECT * FROM {table}", language="ADQL")
    engine = get_engine(plan.engine)
    started = time.perf_counter()
    count = sum(batch.num_rows for batch in engine.stream(plan.sql, timeout_s=600.0, job_id=uuid.uuid4().hex))
    seconds = time.perf_counter() - started
    if count == 0:
        raise RuntimeError("the engine returned no rows")
    return seconds


def bench_tap_sync(rows: int = 100_000) -> dict[str, Any]:
    """TAP sync rows/s (VOTable BINARY2 and CSV) of a ``rows``-row result beside the engine's raw rate."""

    with tempfile.TemporaryDirectory(prefix="tap-bench-") as folder, override_settings(
        SCIENCE_DIR=Path(folder) / "science", MYDB_DIR=Path(folder) / "mydb", VAR_DIR=Path(folder) / "var",
        CACHES=_CACHES, ALLOWED_HOSTS=["testserver"], DEFAULT_ENGINE="duckdb",
    ):
        reset_engines()
        try:
            with transaction.atomic():
                table = do_generate_catalogue(None, "gaia.source", rows=rows, engine="duckdb").qualified_name
                client = Client()
                _download(client, table, "votable", 1000)  # warm caches and the engine once
                raw_s = _raw(table)
                vot_s, vot_bytes = _download(client, table, "votable/b2", rows)
                csv_s, csv_bytes = _download(client, table, "csv", rows)
                transaction.set_rollback(True)  # nothing of the scenario stays in the portal database
        finally:
            reset_engines()
    raw, votable, csv = rows / raw_s, rows / vot_s, rows / csv_s
    return {
        "rows": rows, "engine": "duckdb",
        "tap_votable_rows_per_s": round(votable), "tap_csv_rows_per_s": round(csv), "raw_engine_rows_per_s": round(raw),
        "votable_vs_raw": round(votable / raw, 3), "csv_vs_raw": round(csv / raw, 3),
        "votable_bytes": vot_bytes, "csv_bytes": csv_bytes,
    }
