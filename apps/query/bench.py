"""The project's benchmark scenarios (``python manage.py bench``): our figure beside the raw engine's.

- latency: submit -> COMPLETED of a trivial async query through a real Celery worker on Redis,
  beside the engine executing the same statement in-process;
- download: rows/s of a 1M x 10 result from PostgreSQL written as CSV and VOTable BINARY2,
  beside PostgreSQL's own ``COPY (query) TO STDOUT``;
- memory: peak RSS of a 10M-row download, measured in a child process, beside the child's baseline
  and a raw COPY of the same rows;
- manga: "galaxies with H-alpha flux > 5 in more than 20% of their good spaxels" on the generated
  MaNGA-like table, through our path (ADQL -> engine) on PostgreSQL and Spark, beside each engine's raw SQL.
Other apps' bench functions (adql, formats, engines, tap) are called when present.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from apps.adql import Catalog, ColumnInfo, TableInfo
from apps.adql.translate import translate

ROOT = Path(__file__).resolve().parents[2]
Emit = Callable[[str], None]

DOWNLOAD_COLUMNS = (
    ColumnInfo("source_id", "BIGINT", ucd="meta.id;meta.main"), ColumnInfo("ra", "DOUBLE", unit="deg", ucd="pos.eq.ra"),
    ColumnInfo("dec", "DOUBLE", unit="deg", ucd="pos.eq.dec"), ColumnInfo("mag_g", "REAL", unit="mag"),
    ColumnInfo("mag_r", "REAL", unit="mag"), ColumnInfo("parallax", "DOUBLE", unit="mas"),
    ColumnInfo("n_obs", "INTEGER"), ColumnInfo("flags", "SMALLINT"), ColumnInfo("variable", "BOOLEAN"),
    ColumnInfo("designation", "VARCHAR"),
)
DOWNLOAD_SELECT = ("SELECT g AS source_id, (g * 0.000337) % 360 AS ra, ((g * 0.000911) % 180) - 90 AS dec, "
                   "(12 + (g % 1000) / 100.0)::real AS mag_g, (11.5 + (g % 997) / 100.0)::real AS mag_r, "
                   "(g % 5000) / 1000.0 AS parallax, (g % 300)::int AS n_obs, (g % 7)::smallint AS flags, "
                   "(g % 13 = 0) AS variable, 'Gaia DR3 ' || g AS designation FROM generate_series(1, {rows}) AS g")
MANGA_QUERY = ("SELECT plateifu, COUNT(*) AS n_good, SUM(CASE WHEN ha_flux > 5 THEN 1 ELSE 0 END) AS n_bright "
               "FROM manga.spaxels WHERE binid >= 0 GROUP BY plateifu "
               "HAVING SUM(CASE WHEN ha_flux > 5 THEN 1 ELSE 0 END) > 0.2 * COUNT(*)")


def _engine(name: str) -> Any:
    from workers.engines import get_engine  # type: ignore[attr-defined,unused-ignore]

    return get_engine(name)


BENCH_PG = "postgresql://postgres@127.0.0.1:5432/daiquiri_bench"


def configure() -> None:
    """Engines the bench needs, on loopback defaults when the settings leave them off."""
    import psycopg

    if not settings.SCIENCE_POSTGRESQL_URL:
        with psycopg.connect(BENCH_PG.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'daiquiri_bench'").fetchone():
                conn.execute("CREATE DATABASE daiquiri_bench")
        settings.SCIENCE_POSTGRESQL_URL = BENCH_PG
    if not settings.SPARK_REMOTE:
        settings.SPARK_REMOTE = "sc://127.0.0.1:15002"


def _pg_url() -> str:
    return str(settings.SCIENCE_POSTGRESQL_URL)


def _pg_engine() -> Any:
    engine = _engine("postgresql")
    engine.setup()  # grants the reader role the schemas made since the engine started
    return engine


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def row(emit: Emit, name: str, ours: str, raw: str, ratio: str = "") -> None:
    emit(f"  {name:<44} {ours:>22}   {raw:>26}   {ratio}")


# ---- latency ------------------------------------------------------------------------

def bench_latency(emit: Emit, n: int) -> dict[str, float]:
    """Median submit -> COMPLETED with a worker on Redis (the goal is < 100 ms)."""
    from celery import current_app as app  # the project's app (daiquiri/__init__.py), not imported by name
    from django.contrib.auth.models import User

    from apps.query import actions
    from apps.query.models import QueryJob
    from apps.query.uploads import Upload
    from apps.uws import phases

    broker = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/12")
    work = Path(settings.VAR_DIR) / "bench"
    work.mkdir(parents=True, exist_ok=True)
    upload = Upload("one", work / "one.parquet")
    pq.write_table(pa.table({"x": [1, 2, 3]}), upload.path)
    user, _ = User.objects.get_or_create(username="bench-latency")
    app.conf.broker_url = broker
    app.conf.task_always_eager = False
    env = {**os.environ, "CELERY_BROKER_URL": broker, "REDIS_URL": broker, "CELERY_TASK_ALWAYS_EAGER": "false", "C_FORCE_ROOT": "1"}
    log = (work / "latency-worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "daiquiri", "worker", "--pool", "solo", "-n",  # noqa: S603
                               f"bench-{uuid.uuid4().hex[:6]}@bench", "--loglevel", "warning", "--without-gossip",
                               "--without-mingle", "--without-heartbeat"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    times: list[float] = []
    parts: list[tuple[float, float, float]] = []
    try:
        query = "SELECT TOP 1 x FROM TAP_UPLOAD.one"
        for i in range(n + 2):  # the first two warm the worker (imports, engine start)
            started = time.perf_counter()
            job = actions.do_run_job(actions.do_create_job(user, query=query, uploads=[upload], source=QueryJob.SOURCE_TAP_ASYNC))
            deadline = started + 60
            while time.perf_counter() < deadline:
                phase = QueryJob.objects.filter(pk=job.pk).values_list("phase", flat=True).first()
                if phase in phases.FINAL:
                    break
                time.sleep(0.001)
            if phase != phases.COMPLETED:
                raise RuntimeError(f"the latency job ended {phase}: {QueryJob.objects.get(pk=job.pk).error}")
            if i >= 2:
                times.append(time.perf_counter() - started)
                job.refresh_from_db()
                assert job.queued and job.start_time and job.end_time
                parts.append(((job.queued - job.created).total_seconds(), (job.start_time - job.queued).total_seconds(),
                              (job.end_time - job.start_time).total_seconds()))
            actions.do_delete_job(job)
    finally:
        worker.terminate()
        worker.wait(20)
    from workers.engines.base import TableName

    engine = _engine("duckdb")
    source = TableName("mydb_bench", "one")
    parquet = pq.ParquetFile(upload.path)
    engine.ingest(source, parquet.iter_batches(), parquet.schema_arrow, replace=True)
    sql = translate(query, "duckdb", catalog=Catalog([TableInfo("TAP_UPLOAD", "one", (ColumnInfo("x", "BIGINT"),),
                                                                sql_from=engine.sql_from(source))])).sql
    raw = []
    for _ in range(n):
        target = TableName("mydb_bench", f"raw_{uuid.uuid4().hex[:8]}")
        started = time.perf_counter()
        engine.execute(sql, into=target, timeout_s=60.0, job_id=uuid.uuid4().hex)
        seconds = time.perf_counter() - started
        raw.append(seconds)
        engine.drop(target)
    med, p90 = statistics.median(times) * 1000, sorted(times)[int(0.9 * (len(times) - 1))] * 1000
    raw_med = statistics.median(raw) * 1000
    row(emit, f"submit -> COMPLETED, median of {n} (Redis)", f"{med:.1f} ms (p90 {p90:.1f})", f"engine execute {raw_med:.1f} ms",
        f"goal < 100 ms: {'met' if med < 100 else 'missed'}")
    split = [statistics.median(p[k] for p in parts) * 1000 for k in range(3)]
    emit(f"    median split: validate+queue {split[0]:.1f} ms, broker+claim {split[1]:.1f} ms, run+store {split[2]:.1f} ms")
    return {"median_ms": med, "p90_ms": p90, "raw_median_ms": raw_med}


# ---- PostgreSQL download -----------------------------------------------------------------

def _copy_rate(sql: str, rows: int, fmt: str = "") -> tuple[float, int]:
    import psycopg

    size = 0
    with psycopg.connect(_pg_url()) as conn, conn.cursor() as cur:
        started = time.perf_counter()
        with cur.copy(f"COPY ({sql}) TO STDOUT{fmt}") as copy:
            for block in copy:
                size += len(block)
        seconds = time.perf_counter() - started
    return rows / seconds, size


def _ensure_pg_table(rows: int) -> str:
    """bench.download with ``rows`` rows, made once by PostgreSQL itself."""
    import psycopg

    with psycopg.connect(_pg_url(), autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
        have = conn.execute("SELECT to_regclass('bench.download') IS NOT NULL").fetchone()
        count = conn.execute("SELECT count(*) FROM bench.download").fetchone()[0] if have and have[0] else -1  # type: ignore[index]
        if count != rows:
            conn.execute("DROP TABLE IF EXISTS bench.download")
            conn.execute("CREATE TABLE bench.download AS " + DOWNLOAD_SELECT.format(rows=rows))
            conn.execute("ANALYZE bench.download")
    return "SELECT * FROM bench.download"


def _formats_write(key: str, batches: Iterator[pa.RecordBatch], columns: Any) -> int:
    from apps import formats

    size = 0
    for chunk in formats.write(formats.FORMATS[key], batches, columns, formats.ResultInfo(query="SELECT * FROM bench.download")):
        size += len(chunk)
    return size


def bench_download(emit: Emit, rows: int) -> dict[str, float]:
    sql = _ensure_pg_table(rows)
    catalog = Catalog([TableInfo("bench", "download", DOWNLOAD_COLUMNS)])
    translation = translate("SELECT * FROM bench.download", "postgresql", catalog=catalog)
    engine = _pg_engine()
    out: dict[str, float] = {}
    raw_text, _ = _copy_rate(sql, rows)
    raw_csv, _ = _copy_rate(sql, rows, " (FORMAT csv, HEADER)")
    raw_binary, _ = _copy_rate(sql, rows, " (FORMAT binary)")
    for key, label, raw, raw_label in (("csv", "CSV", raw_csv, "COPY csv"), ("votable-b2", "VOTable BINARY2", raw_binary, "COPY binary")):
        started = time.perf_counter()
        _formats_write(key, engine.stream(translation.sql, timeout_s=600.0, job_id=uuid.uuid4().hex), translation.columns)
        seconds = time.perf_counter() - started
        ours = rows / seconds
        row(emit, f"download {rows:,} x 10 from PostgreSQL as {label}", f"{ours:,.0f} rows/s", f"{raw_label} {raw:,.0f} rows/s",
            f"{ours / raw:.2f}x (goal >= 0.5; COPY text {raw_text:,.0f} rows/s)")
        out[key] = ours
        out[f"raw_{key}"] = raw
    out["raw_copy_text"] = raw_text
    return out


# ---- peak memory (child process) --------------------------------------------------------------

def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def memory_child(mode: str, rows: int, fmt: str) -> dict[str, float]:
    """Run inside the child: stream ``rows`` rows; report the resident set before and at its highest (MB).

    The RSS is sampled every 20 ms (ru_maxrss would report the start-up peak of imports instead).
    """
    import threading

    from apps import formats

    sql = DOWNLOAD_SELECT.format(rows=rows)
    columns = translate("SELECT * FROM bench.download", "postgresql",
                        catalog=Catalog([TableInfo("bench", "download", DOWNLOAD_COLUMNS)])).columns
    engine = _pg_engine() if mode != "raw" else None
    base = _rss_mb()
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    size = 0
    if engine is None:
        import psycopg

        with psycopg.connect(_pg_url()) as conn, conn.cursor() as cur, cur.copy(f"COPY ({sql}) TO STDOUT") as copy:
            for block in copy:
                size += len(block)
    else:
        batches = engine.stream(f"SELECT * FROM ({sql}) AS t", timeout_s=3600.0, job_id=uuid.uuid4().hex)
        for chunk in formats.write(formats.FORMATS[fmt], batches, columns, formats.ResultInfo(query=sql)):
            size += len(chunk)
    done.set()
    sampler.join()
    return {"baseline_mb": base, "peak_mb": max(peak, _rss_mb()), "seconds": time.perf_counter() - started, "bytes": float(size)}


def _child(mode: str, rows: int, fmt: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "manage.py", "bench", "--memory-child", mode, str(rows), fmt], cwd=ROOT,  # noqa: S603
                         capture_output=True, text=True, check=False, env={**os.environ})
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bench_memory(emit: Emit, rows: int) -> dict[str, float]:
    out: dict[str, float] = {}
    raw = _child("raw", rows, "")
    for fmt in ("csv", "votable-b2"):
        ours = _child("ours", rows, fmt)
        row(emit, f"peak RSS, {rows:,}-row download as {fmt}", f"{ours['peak_mb']:.0f} MB (+{ours['peak_mb'] - ours['baseline_mb']:.0f})",
            f"raw COPY {raw['peak_mb']:.0f} MB (+{raw['peak_mb'] - raw['baseline_mb']:.0f})",
            f"{ours['bytes'] / 1e9:.2f} GB in {ours['seconds']:.0f} s; before streaming {ours['baseline_mb']:.0f} MB")
        out[fmt] = ours["peak_mb"]
    out["raw"] = raw["peak_mb"]
    out.update({f"http_{k}": v for k, v in bench_http_memory(emit, rows).items()})
    return out


def bench_http_memory(emit: Emit, rows: int) -> dict[str, float]:
    """The whole path: a stored 10-column result downloaded as CSV from uvicorn, the server's RSS sampled."""
    import socket
    import urllib.request

    import duckdb
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    from apps.query.models import QueryJob
    from apps.uws import phases
    from workers.engines.base import TableName

    user, _ = User.objects.get_or_create(username="bench-download")
    engine = _engine("duckdb")
    table = TableName(f"mydb_{user.pk}", f"download_{rows}")
    if not engine.store.exists(table):
        tmp = engine.store.temp_path(table)
        source = DOWNLOAD_SELECT.format(rows=rows)
        duckdb.execute(f"COPY (SELECT source_id, ra::DOUBLE AS ra, dec::DOUBLE AS dec, mag_g::REAL AS mag_g, mag_r::REAL AS mag_r, "
                       f"parallax::DOUBLE AS parallax, n_obs, flags, variable, designation FROM ({source})) "
                       f"TO '{tmp}' (FORMAT parquet)")
        engine.store.publish(tmp, table)
    columns = [{"name": c.name, "datatype": c.datatype, "unit": c.unit, "ucd": c.ucd} for c in DOWNLOAD_COLUMNS]
    QueryJob.objects.filter(owner=user).delete()
    job = QueryJob.objects.create(owner=user, query="bench", phase=phases.COMPLETED, engine="duckdb", result_schema=table.schema,
                                  result_table=table.name, table_name=table.name, row_count=rows, result_columns=columns)
    session = SessionStore()
    session.update({SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
                    HASH_SESSION_KEY: user.get_session_auth_hash()})
    session.create()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "daiquiri.asgi:application", "--host", "127.0.0.1",  # noqa: S603
                               "--port", str(port), "--log-level", "warning"], cwd=ROOT, env={**os.environ},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        statm = Path(f"/proc/{server.pid}/statm")

        def rss() -> float:
            return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

        base, peak, size = rss(), 0.0, 0
        request = urllib.request.Request(f"http://127.0.0.1:{port}/query/jobs/{job.id}/download?format=csv",
                                         headers={"Cookie": f"sessionid={session.session_key}"})
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310
            while block := response.read(1 << 20):
                size += len(block)
                peak = max(peak, rss())
        seconds = time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(20)
        job.delete()
    row(emit, f"HTTP download (uvicorn) of a stored {rows:,}-row result as CSV", f"server peak {peak:.0f} MB (+{peak - base:.0f})",
        f"{rows / seconds:,.0f} rows/s", f"{size / 1e9:.2f} GB in {seconds:.0f} s; server at start {base:.0f} MB")
    return {"peak_mb": peak, "baseline_mb": base, "rows_per_s": rows / seconds}


# ---- MaNGA seed case: PostgreSQL vs Spark ---------------------------------------------------

def _manga_data(rows: int) -> Path:
    from fixtures.generator import generate

    folder = Path(settings.VAR_DIR) / "bench" / f"manga_{rows}"
    path = folder / "spaxels.parquet"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        batches = generate("manga.spaxels", rows)
        first = next(batches)
        with pq.ParquetWriter(path, first.schema) as writer:
            writer.write_batch(first)
            for batch in batches:
                writer.write_batch(batch)
    return path


def bench_manga(emit: Emit, rows: int) -> dict[str, float]:
    import psycopg

    from workers.engines.base import TableName

    path = _manga_data(rows)
    schema = pq.read_schema(path)
    from apps.query.planning import adql_type

    columns = tuple(ColumnInfo(f.name, adql_type(f.type)) for f in schema)
    out: dict[str, float] = {}
    for name in ("postgresql", "spark"):
        try:
            engine = _pg_engine() if name == "postgresql" else _engine(name)
        except Exception as exc:
            row(emit, f"MaNGA seed case on {name}", "skipped", str(exc)[:40])
            continue
        if name == "postgresql":
            table = TableName("bench", f"manga_{rows}")
            with psycopg.connect(_pg_url(), autocommit=True) as conn:
                conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
                exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"bench.manga_{rows}",)).fetchone()
            if not (exists and exists[0]):
                parquet = pq.ParquetFile(path)
                engine.ingest(table, parquet.iter_batches(65536), parquet.schema_arrow, replace=True)
                engine.setup()
            info = TableInfo("manga", "spaxels", columns, sql_from=f'"bench"."manga_{rows}"')
        else:
            info = TableInfo("manga", "spaxels", columns, sql_from="parquet.`" + str(path) + "`")
        sql = translate(MANGA_QUERY, name, catalog=Catalog([info])).sql

        def ours(sql: str = sql, engine: Any = engine) -> int:
            return sum(b.num_rows for b in engine.stream(sql, timeout_s=3600.0, job_id=uuid.uuid4().hex))

        ours()  # warm (Spark plans, PostgreSQL cache)
        runs = [_timed(ours) for _ in range(3)]
        ours_s, found = statistics.median(r[0] for r in runs), runs[0][1]
        if name == "postgresql":
            def raw(sql: str = sql, spark: Any = None) -> int:
                with psycopg.connect(_pg_url()) as conn:
                    return len(conn.execute(sql).fetchall())
        else:
            from pyspark.sql import SparkSession

            remote = settings.SPARK_REMOTE if str(settings.SPARK_REMOTE).startswith("sc://") else "sc://127.0.0.1:15002"
            spark = SparkSession.builder.remote(remote).getOrCreate()

            def raw(sql: str = sql, spark: Any = spark) -> int:
                return len(spark.sql(sql).collect())
        raw()
        raw_runs = [_timed(raw) for _ in range(3)]
        raw_s, raw_found = statistics.median(r[0] for r in raw_runs), raw_runs[0][1]
        row(emit, f"MaNGA seed case, {rows:,} spaxels, {name} (median of 3)", f"{ours_s * 1000:,.0f} ms ({found} galaxies)",
            f"raw {name} {raw_s * 1000:,.0f} ms ({raw_found})", f"{raw_s / ours_s:.2f}x of raw speed")
        out[name] = ours_s
        out[f"raw_{name}"] = raw_s
    return out


# ---- the result viewer on a 1M-row result ---------------------------------------------------

def bench_viewer(emit: Emit, rows: int) -> dict[str, float]:
    """A page of 100 rows from the middle of a stored DuckDB result, unsorted and sorted, beside DuckDB's own SQL."""
    import duckdb
    import numpy as np

    from apps.query import actions
    from apps.query.models import QueryJob
    from apps.uws import phases
    from workers.engines.base import TableName

    engine = _engine("duckdb")
    table = TableName("mydb_bench", f"viewer_{rows}")
    rng = np.random.default_rng(7)
    data = pa.table({"source_id": np.arange(rows), "ra": rng.uniform(0, 360, rows), "dec": rng.uniform(-90, 90, rows),
                     "mag": rng.normal(15, 2, rows), **{f"c{i}": rng.normal(0, 1, rows) for i in range(6)}})
    engine.ingest(table, iter(data.to_batches(65536)), data.schema, replace=True)
    job = QueryJob(phase=phases.COMPLETED, engine="duckdb", result_schema=table.schema, result_table=table.name, row_count=rows)
    source = engine.sql_from(table)
    out: dict[str, float] = {}
    for label, order in (("unsorted", None), ("sorted by mag", "mag")):
        def ours(order: str | None = order) -> int:
            return sum(b.num_rows for b in actions.result_batches(job, offset=rows // 2, limit=100, order_by=order))

        def raw(order: str | None = order) -> int:
            sql = f"SELECT * FROM {source}" + (f' ORDER BY "{order}"' if order else "") + f" LIMIT 100 OFFSET {rows // 2}"
            return len(duckdb.execute(sql).fetchall())

        ours(), raw()
        ours_s = statistics.median(_timed(ours)[0] for _ in range(5))
        raw_s = statistics.median(_timed(raw)[0] for _ in range(5))
        row(emit, f"viewer page of 100 rows at row {rows // 2:,} of {rows:,}, {label}", f"{ours_s * 1000:,.1f} ms",
            f"DuckDB SQL {raw_s * 1000:,.1f} ms", f"{raw_s / ours_s:.2f}x of raw speed")
        out[label] = ours_s
    engine.drop(table)
    return out


# ---- other engineers' bench functions -----------------------------------------------------

def bench_others(emit: Emit, quick: bool) -> dict[str, Any]:
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("apps.adql.bench", "bench_translation", {"n": 200 if quick else 1000}),
        ("apps.formats.bench", "bench_writers", {"rows": 100_000 if quick else 1_000_000}),
    ]
    results: dict[str, Any] = {}
    for module_name, fn_name, kwargs in calls:
        try:
            fn = getattr(importlib.import_module(module_name), fn_name)
        except (ImportError, AttributeError):
            continue
        results[f"{module_name}.{fn_name}"] = fn(**kwargs)
    for module_name in ("workers.engines.bench", "apps.tap.bench"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for fn_name in sorted(n for n in dir(module) if n.startswith("bench_") and callable(getattr(module, n))):
            fn = getattr(module, fn_name)
            names = fn.__code__.co_varnames[: fn.__code__.co_argcount + fn.__code__.co_kwonlyargcount]
            kwargs = {"quick": quick} if "quick" in names else {"rows": 100_000} if quick and "rows" in names else {}
            try:
                value = fn(**kwargs)
                results[f"{module_name}.{fn_name}"] = value.report() if hasattr(value, "report") else value
            except Exception as exc:  # one app's failing bench must not hide the others
                results[f"{module_name}.{fn_name}"] = f"failed: {exc}"
    for key, value in results.items():
        emit(f"  {key}: {json.dumps(value, default=str) if not isinstance(value, str) else value}")
    return results
