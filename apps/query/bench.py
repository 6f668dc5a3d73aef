"""The project's benchmark scenarios (``python manage.py bench``): our figure beside the raw engine's.

- latency: submit -> COMPLETED of a trivial async query through a real Celery worker on Redis,
  beside the engine executing the same statement in-process;
- download: rows/s of a 1M x 10 table through TAP sync, from PostgreSQL as CSV and VOTable BINARY2 beside
  ``psql \\copy`` of the same table, and from DuckDB as CSV beside DuckDB's own COPY TO csv;
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings

from apps import formats
from apps.adql import Catalog, ColumnInfo, TableInfo
from apps.adql.translate import translate
from apps.metadata.actions import do_discover_schema, do_generate_catalogue, do_publish_table, do_set_access_level
from apps.metadata.models import PUBLIC, Table
from apps.query import actions
from apps.query.models import QueryJob
from apps.query.planning import adql_type, plan_query
from apps.uws import phases
from workers.engines import get_engine, reset_engines
from workers.engines.base import Engine, TableName
from workers.engines.parquet import ParquetStore

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


def _engine(name: str) -> Engine:
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
# The portal as scripts/run starts it (scripts/supervise.py: uvicorn and a Celery worker, with the settings
# of this process: portal database, broker, science PostgreSQL), asked over HTTP like a VO client would.
# Each small request is shown beside the cheapest request of the same server (/health: every middleware
# and one database round trip) and beside the raw engine time of the same statement.

LATENCY_TABLE = "gaia_postgresql.source"
CONE = "SELECT TOP 10 source_id, ra, dec, phot_g_mean_mag FROM {table} WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE({ra}, {dec}, 0.1))"
TINY = "SELECT TOP 1 source_id FROM {table} WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE({ra}, {dec}, 0.05))"
CLIENTS = 10


def _cone(template: str, i: int) -> str:
    return template.format(table=LATENCY_TABLE, ra=f"{(37 + 7.3 * i) % 360:.2f}", dec=f"{((11 * i) % 140) - 70:.2f}")


def _cone_table(rows: int) -> None:
    """A published Gaia-like table of ``rows`` rows in the science PostgreSQL, with its q3c index (made once)."""
    import psycopg


    schema, name = LATENCY_TABLE.split(".")
    if not Table.objects.filter(schema__name=schema, name=name, published=True, row_count=rows).exists():
        do_generate_catalogue(None, "gaia.source", rows=rows, engine="postgresql")
    with psycopg.connect(_pg_url(), autocommit=True) as conn:
        conn.execute(f"CREATE INDEX IF NOT EXISTS source_q3c ON {schema}.{name} (q3c_ang2ipix(ra, dec))")
        conn.execute(f"ANALYZE {schema}.{name}")


def _raw_cone_ms(n: int) -> float:
    """The translated cone query on one open PostgreSQL connection: the database's own time, median."""
    import psycopg


    sqls = [plan_query(None, query=_cone(CONE, i), language="ADQL").sql for i in range(n)]
    with psycopg.connect(_pg_url(), autocommit=True) as conn:
        conn.execute(sqls[0]).fetchall()
        times = []
        for sql in sqls:
            started = time.perf_counter()
            conn.execute(sql).fetchall()
            times.append(time.perf_counter() - started)
        return statistics.median(times) * 1000


class _Client:
    """One keep-alive HTTP connection (from its own loopback address: the server sees distinct clients)."""

    def __init__(self, port: int, source: str = "127.0.0.1") -> None:
        import http.client

        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))

    def call(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, bytes, str]:
        from urllib.parse import urlencode

        body = urlencode(form) if form is not None else None
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read(), response.getheader("Location") or ""

    def get(self, path: str, **params: str) -> tuple[int, bytes]:
        from urllib.parse import urlencode

        status, body, _ = self.call("GET", path + ("?" + urlencode(params) if params else ""))
        return status, body


def _sync_params(query: str) -> dict[str, str]:
    return {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "votable"}


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[int(0.9 * (len(ordered) - 1))] * 1000


def _expect(status: int, body: bytes, what: str) -> None:
    if status != 200:
        raise RuntimeError(f"{what} answered {status}: {body[:300]!r}")


def _timed_gets(client: _Client, n: int, path: str, params: Callable[[int], dict[str, str]] | None = None) -> list[float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        status, body = client.get(path, **(params(i) if params else {}))
        times.append(time.perf_counter() - started)
        _expect(status, body, path)
    return times


def _concurrent(port: int, n: int) -> tuple[float, int, int]:
    """CLIENTS clients, each its own connection and address, each sending ``n`` small sync queries: (req/s, done, errors)."""
    import threading

    errors: list[int] = []
    done: list[int] = []

    def client(k: int) -> None:
        http = _Client(port, f"127.0.0.{2 + k}")
        for i in range(n):
            try:
                status, _ = http.get("/tap/sync", **_sync_params(_cone(CONE, 1000 * k + i)))
            except OSError:
                status = 0
            (done if status == 200 else errors).append(status)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return len(done) / seconds, len(done), len(errors)


def _async_once(client: _Client, query: str, *, blocking: bool, split: list[tuple[float, float, float]] | None = None) -> float:
    """POST /tap/async with PHASE=RUN, then wait for COMPLETED: by polling the phase, or by one blocking WAIT
    (what pyvo's ``job.wait()`` sends). Returns the seconds from the POST to the COMPLETED answer; deletes the job.
    ``split`` gets the job's own times: created -> queued, queued -> started, started -> ended."""

    started = time.perf_counter()
    status, body, location = client.call("POST", "/tap/async", {"LANG": "ADQL", "QUERY": query, "PHASE": "RUN"})
    if status != 303:
        raise RuntimeError(f"POST /tap/async answered {status}: {body[:300]!r}")
    path = location.split("://", 1)[-1].split("/", 1)[-1]
    phase = ""
    while phase not in ("COMPLETED", "ERROR", "ABORTED"):
        if blocking:
            status, body = client.get(f"/{path}", WAIT="30", PHASE=phase or "QUEUED")
            phase = body.split(b"<uws:phase>", 1)[-1].split(b"<", 1)[0].decode() if status == 200 else "ERROR"
        else:
            status, body = client.get(f"/{path}/phase")
            phase = body.decode().strip() if status == 200 else "ERROR"
    seconds = time.perf_counter() - started
    job = QueryJob.objects.filter(pk=path.rstrip("/").rsplit("/", 1)[-1]).first()
    if split is not None and job is not None and job.queued and job.start_time and job.end_time:
        split.append(((job.queued - job.created).total_seconds(), (job.start_time - job.queued).total_seconds(),
                      (job.end_time - job.start_time).total_seconds()))
    client.call("DELETE", f"/{path}")
    if phase != "COMPLETED":
        raise RuntimeError(f"the async job ended {phase}")
    return seconds


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


SUPERVISE = ROOT / "scripts" / "supervise.py"


def _web_workers() -> int:
    """WEB_WORKERS, or scripts/run's default for this machine."""
    chosen = os.environ.get("WEB_WORKERS") or subprocess.run([sys.executable, str(SUPERVISE), "--default-web-workers"],  # noqa: S603
                                                             capture_output=True, text=True, check=True).stdout
    return int(chosen.strip())


def _start_portal(port: int, workers: int, log: Any) -> subprocess.Popen[bytes]:
    """scripts/supervise.py with scripts/run's command lines (its defaults for web and pool processes)."""
    # The engines configure() chose, so the portal's configuration (and the fingerprint on its tasks) is this process's.
    env = {**os.environ, "SCIENCE_POSTGRESQL_URL": _pg_url(), "SPARK_REMOTE": str(settings.SPARK_REMOTE), "C_FORCE_ROOT": "1",
           "SITE_URL": f"http://127.0.0.1:{port}", "SUPERVISE_GRACE_S": "3"}
    bin_dir = Path(sys.executable).parent
    worker = f"{bin_dir / 'celery'} -A daiquiri worker --loglevel warning --concurrency {os.environ.get('WORKER_CONCURRENCY', '2')}"
    web = f"{bin_dir / 'uvicorn'} daiquiri.asgi:application --host 127.0.0.1 --port {port} --log-level warning --workers {workers}"
    return subprocess.Popen([sys.executable, str(SUPERVISE), "--worker", worker, "--web", web],  # noqa: S603
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_until_available(port: int, seconds: float = 90.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            status, body = _Client(port).get("/tap/availability")
            if status == 200 and b"available>true<" in body:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the portal did not become available (is the worker running?)")


def bench_latency(emit: Emit, n: int) -> dict[str, float]:
    """Small requests over HTTP to the running portal, each beside /health and the raw engine, in one run."""
    rows = 1_000_000 if n >= 50 else 100_000
    _cone_table(rows)
    raw_ms = _raw_cone_ms(n)
    work = Path(settings.VAR_DIR) / "bench"
    work.mkdir(parents=True, exist_ok=True)
    port, workers = _free_port(), _web_workers()
    with (work / "latency-portal.log").open("wb") as log:
        portal = _start_portal(port, workers, log)
        try:
            _wait_until_available(port)
            out = _latency_rows(emit, port, n, raw_ms, rows, workers)
        finally:
            portal.terminate()
            portal.wait(30)
    return out


def _latency_rows(emit: Emit, port: int, n: int, raw_ms: float, rows: int, workers: int) -> dict[str, float]:
    client = _Client(port)
    _timed_gets(client, 5, "/tap/sync", lambda i: _sync_params(_cone(CONE, 10_000 + i)))  # warm every process a little
    _timed_gets(client, 5, "/health")
    cheapest, _ = _ms(_timed_gets(client, n, "/health"))
    sync, sync_p90 = _ms(_timed_gets(client, n, "/tap/sync", lambda i: _sync_params(_cone(CONE, i))))
    available, _ = _ms(_timed_gets(client, n, "/tap/availability"))
    broker = str(settings.CELERY_BROKER_URL).split(":", 1)[0]
    row(emit, f"sync TOP 10 cone ({rows:,} rows, PostgreSQL), {n} sequential", f"{sync:.1f} ms (p90 {sync_p90:.1f})",
        f"PostgreSQL {raw_ms:.2f} ms; /health {cheapest:.1f} ms", f"{sync / cheapest:.1f}x /health (goal <= 10 ms, <= 3x)")
    row(emit, "GET /tap/availability", f"{available:.1f} ms", f"/health {cheapest:.1f} ms",
        f"{available / cheapest:.1f}x /health (goal <= 2 ms)")
    rate, done, errors = _concurrent(port, n)
    row(emit, f"{CLIENTS} concurrent clients, {n} small sync queries each", f"{rate:.1f} req/s ({errors} errors)",
        f"sequential {1000 / sync:.1f} req/s", f"{done} answered, {workers} web processes (goal >= 108 req/s = 4x DaCHS)")
    client = _Client(port)  # the first one's connection has idled past the server's keep-alive limit
    for _ in range(2):  # the first jobs warm the worker's pool processes
        _async_once(client, _cone(TINY, 0), blocking=False)
    parts: list[tuple[float, float, float]] = []
    polled, polled_p90 = _ms([_async_once(client, _cone(TINY, i), blocking=False, split=parts) for i in range(n)])
    waited, _ = _ms([_async_once(client, _cone(TINY, i), blocking=True) for i in range(max(5, n // 5))])
    row(emit, f"async submit -> COMPLETED, tiny query, polling ({broker})", f"{polled:.1f} ms (p90 {polled_p90:.1f})",
        f"PostgreSQL {raw_ms:.2f} ms; /health {cheapest:.1f} ms", "goal <= 50 ms")
    if parts:
        create, claim, run = (statistics.median(p[k] for p in parts) * 1000 for k in range(3))
        emit(f"    median split: POST -> QUEUED {create:.1f} ms, broker + claim {claim:.1f} ms, run + store {run:.1f} ms")
    row(emit, "async submit -> COMPLETED, blocking WAIT (pyvo's way)", f"{waited:.1f} ms", f"polling {polled:.1f} ms", "")
    return {"health_ms": cheapest, "sync_ms": sync, "sync_p90_ms": sync_p90, "raw_ms": raw_ms, "availability_ms": available,
            "concurrent_req_s": rate, "concurrent_errors": float(errors), "async_ms": polled, "async_wait_ms": waited}


# ---- downloads: TAP sync beside the engines' own bulk export ---------------------------------------
# A 1M x 10 table is published for the run (in a transaction rolled back afterwards, with a private cache)
# and downloaded through /tap/sync: parameters, access checks, planning, the engine's stream, the writer
# and the streaming response; Django's test client reads the body in this process (no network). Beside it:
# `psql \copy (query) TO STDOUT` of the same PostgreSQL table, and DuckDB's own COPY TO a CSV file of the
# same Parquet file. Ours and raw alternate, medians of DOWNLOAD_RUNS: these machines are noisy.

DOWNLOAD_RUNS = 3
DUCKDB_SCHEMA = "bench_duckdb"


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


def _psql_copy_seconds(sql: str, fmt: str) -> float:
    """``psql -c '\\copy (sql) TO STDOUT (fmt)'`` into /dev/null: what a user of the database itself gets."""
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(_pg_url())
    env = {**os.environ, **({"PGPASSWORD": str(params.pop("password"))} if params.get("password") else {})}
    argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", psycopg.conninfo.make_conninfo(**params),  # type: ignore[arg-type]
            "-c", f"\\copy ({sql}) TO STDOUT ({fmt})"]
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True, env=env)  # noqa: S603
    return time.perf_counter() - started


def _duckdb_copy_seconds(parquet: Path, target: Path) -> float:
    """DuckDB's own multi-threaded CSV writer on the same Parquet file (a file: DuckDB writes no pipe)."""
    import duckdb

    with duckdb.connect() as db:
        started = time.perf_counter()
        db.execute(f"COPY (SELECT * FROM read_parquet('{parquet}')) TO '{target}' (HEADER)")
        seconds = time.perf_counter() - started
    target.unlink()
    return seconds


def _tap_sync_seconds(client: Any, table: str, fmt: str, rows: int) -> float:
    """One /tap/sync download of the whole table; checks afterwards that every row came (the job's record, which
    the stream writes as it ends: reading the body here costs nothing that psql's /dev/null does not)."""

    query = f"SELECT * FROM {table}"
    started = time.perf_counter()
    response = client.get("/tap/sync", {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": fmt, "MAXREC": str(rows)})
    if response.status_code != 200:
        raise RuntimeError(f"TAP sync answered {response.status_code}: {response.content[:300]!r}")
    size = 0
    for chunk in response.streaming_content:
        size += len(chunk)
    seconds = time.perf_counter() - started
    job = QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC, query=query).order_by("-created").first()
    if job is None or job.row_count != rows or job.overflow or not size:
        raise RuntimeError(f"TAP sync sent {job.row_count if job else None} rows of {rows}")
    return seconds


def _alternating(ours: Callable[[], float], raw: Callable[[], float]) -> tuple[float, float]:
    """Median seconds of ours and of raw, run in turns after one warm-up of each."""
    ours(), raw()
    pairs = [(ours(), raw()) for _ in range(DOWNLOAD_RUNS)]
    return statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)


def _publish_for_bench(engine: str, schema: str, table: str) -> str:
    """Metadata for a table the engine holds, public (the caller's transaction is rolled back afterwards)."""

    found = do_discover_schema(None, schema, engine=engine, table=table)[0]
    do_set_access_level(None, found.schema, PUBLIC)
    do_set_access_level(None, found, PUBLIC)
    do_publish_table(None, found)
    return found.qualified_name


def _duckdb_download_table(rows: int, folder: Path) -> Path:
    """The download table's rows as Parquet in DuckDB's science folder (schema DUCKDB_SCHEMA)."""
    import duckdb

    path = folder / "science" / DUCKDB_SCHEMA / "download.parquet"
    path.parent.mkdir(parents=True)
    duckdb.execute(f"COPY (SELECT source_id, ra::DOUBLE AS ra, dec::DOUBLE AS dec, mag_g, mag_r, parallax::DOUBLE AS parallax, "
                   f"n_obs, flags, variable, designation FROM ({DOWNLOAD_SELECT.format(rows=rows)})) TO '{path}' (FORMAT parquet)")
    return path


def bench_download(emit: Emit, rows: int) -> dict[str, float]:
    """TAP sync downloads (PostgreSQL: CSV and VOTable BINARY2; DuckDB: CSV) beside psql \\copy and DuckDB's COPY."""
    import tempfile
    from functools import partial

    from django.db import transaction
    from django.test import Client, override_settings


    sql = _ensure_pg_table(rows)
    _pg_engine()
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "download-bench"}}
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="download-bench-") as tmp, override_settings(
        SCIENCE_DIR=Path(tmp) / "science", MYDB_DIR=Path(tmp) / "mydb", CACHES=caches, ALLOWED_HOSTS=["testserver"],
        QUERY_SYNC_WRITE_MS=0,  # each download's job written as it ends, in this transaction, for the row count check
    ):
        folder = Path(tmp)
        parquet = _duckdb_download_table(rows, folder)
        reset_engines()
        try:
            with transaction.atomic():
                pg_table = _publish_for_bench("postgresql", "bench", "download")
                duck_table = _publish_for_bench("duckdb", DUCKDB_SCHEMA, "download")
                client = Client()
                psql_csv = partial(_psql_copy_seconds, sql, "FORMAT csv, HEADER")
                cases: list[tuple[str, str, str, str, str, Callable[[], float]]] = [
                    ("PostgreSQL", "CSV", "csv", pg_table, "psql \\copy csv", psql_csv),
                    ("PostgreSQL", "VOTable BINARY2", "votable/b2", pg_table, "psql \\copy csv", psql_csv),
                    ("DuckDB", "CSV", "csv", duck_table, "DuckDB COPY csv", partial(_duckdb_copy_seconds, parquet, folder / "raw.csv")),
                ]
                for engine, label, fmt, table, raw_label, raw in cases:
                    ours_s, raw_s = _alternating(partial(_tap_sync_seconds, client, table, fmt, rows), raw)
                    row(emit, f"TAP sync {rows:,} x 10 from {engine} as {label}", f"{rows / ours_s:,.0f} rows/s",
                        f"{raw_label} {rows / raw_s:,.0f} rows/s", f"{raw_s / ours_s:.2f}x (goal >= {0.8 if engine == 'DuckDB' else 0.9})")
                    key = f"{engine.lower()}_{fmt.replace('/', '_')}"
                    out[key], out[f"raw_{key}"] = rows / ours_s, rows / raw_s
                transaction.set_rollback(True)  # nothing of the scenario stays in the portal database
        finally:
            reset_engines()
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


    user, _ = User.objects.get_or_create(username="bench-download")

    store = ParquetStore(Path(settings.SCIENCE_DIR), Path(settings.MYDB_DIR))  # where DuckDB keeps results
    table = TableName(f"mydb_{user.pk}", f"download_{rows}")
    if not store.exists(table):
        tmp = store.temp_path(table)
        source = DOWNLOAD_SELECT.format(rows=rows)
        duckdb.execute(f"COPY (SELECT source_id, ra::DOUBLE AS ra, dec::DOUBLE AS dec, mag_g::REAL AS mag_g, mag_r::REAL AS mag_r, "
                       f"parallax::DOUBLE AS parallax, n_obs, flags, variable, designation FROM ({source})) "
                       f"TO '{tmp}' (FORMAT parquet)")
        store.publish(tmp, table)
    columns = [c.as_dict() for c in DOWNLOAD_COLUMNS]
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


    path = _manga_data(rows)
    schema = pq.read_schema(path)

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
        if name == "spark":
            out.update(_manga_spark(emit, engine, info, sql, rows))
            continue

        def ours(sql: str = sql, engine: Any = engine) -> int:
            return sum(b.num_rows for b in engine.stream(sql, timeout_s=3600.0, job_id=uuid.uuid4().hex))

        ours()  # warm (PostgreSQL cache)
        runs = [_timed(ours) for _ in range(3)]
        ours_s, found = statistics.median(r[0] for r in runs), runs[0][1]

        def raw(sql: str = sql) -> int:
            with psycopg.connect(_pg_url()) as conn:
                return len(conn.execute(sql).fetchall())
        raw()
        raw_runs = [_timed(raw) for _ in range(3)]
        raw_s, raw_found = statistics.median(r[0] for r in raw_runs), raw_runs[0][1]
        row(emit, f"MaNGA seed case, {rows:,} spaxels, {name} (median of 3)", f"{ours_s * 1000:,.0f} ms ({found} galaxies)",
            f"raw {name} {raw_s * 1000:,.0f} ms ({raw_found})", f"{raw_s / ours_s:.2f}x of raw speed")
        out[name] = ours_s
        out[f"raw_{name}"] = raw_s
    return out


MANGA_ROWS_QUERY = "SELECT plateifu, ra, dec, binid, ha_flux, hb_flux FROM manga.spaxels WHERE binid >= 0"


def _manga_spark(emit: Emit, engine: Any, info: TableInfo, sql: str, rows: int) -> dict[str, float]:
    """The Spark engine's stream beside raw PySpark's ``toArrow()`` of the same SQL in its own session on the same
    server (the fastest way PySpark gives a result), alternately, median of 5: the seed query (103 galaxies), then a
    result of every good spaxel (the cost of results)."""
    from pyspark.sql import SparkSession

    remote = settings.SPARK_REMOTE if str(settings.SPARK_REMOTE).startswith("sc://") else "sc://127.0.0.1:15002"
    spark = SparkSession.builder.remote(remote).create()
    rows_sql = translate(MANGA_ROWS_QUERY, "spark", catalog=Catalog([info])).sql
    out: dict[str, float] = {}
    for key, label, query in (("spark", "MaNGA seed case", sql), ("spark_rows", "MaNGA good spaxels as a result", rows_sql)):
        def ours(query: str = query) -> int:
            return sum(b.num_rows for b in engine.stream(query, timeout_s=3600.0, job_id=uuid.uuid4().hex))

        def raw(query: str = query) -> int:
            return int(spark.sql(query).toArrow().num_rows)
        ours(), raw()  # warm (plans, file listing, JIT)
        runs = [(_timed(ours), _timed(raw)) for _ in range(5)]
        ours_s, raw_s = statistics.median(r[0][0] for r in runs), statistics.median(r[1][0] for r in runs)
        row(emit, f"{label}, {rows:,} spaxels, Spark engine (median of 5)", f"{ours_s * 1000:,.0f} ms ({runs[0][0][1]:,} rows)",
            f"raw PySpark {raw_s * 1000:,.0f} ms ({runs[0][1][1]:,})", f"{raw_s / ours_s:.2f}x of raw speed")
        out[key], out[f"raw_{key}"] = ours_s, raw_s
    spark.stop()
    return out


# ---- the result viewer on a 1M-row result ---------------------------------------------------

def bench_viewer(emit: Emit, rows: int) -> dict[str, float]:
    """A page of 100 rows from the middle of a stored DuckDB result, unsorted and sorted, beside DuckDB's own SQL."""
    import duckdb
    import numpy as np


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
    for module_name, fn_name, kwargs in calls:  # every one of these modules is part of the project
        results[f"{module_name}.{fn_name}"] = getattr(importlib.import_module(module_name), fn_name)(**kwargs)
    for module_name in ("workers.engines.bench", "apps.tap.bench"):
        module = importlib.import_module(module_name)
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
