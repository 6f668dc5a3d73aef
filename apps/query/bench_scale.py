"""Issue #14's goals at one table size (``manage.py bench --only scale --rows 10M``): ours beside raw, same files, same run.

The table is the generator's ``gaia_<size>.source`` (``manage.py generate_catalogues --size 10M``; made here
when missing) with a 100k-row probe table ``gaia_<size>.xmatch_probe`` (sources of the table moved by 0.3″).
Every row prints our figure, the raw engine's figure on the same files, and the ratio against the goal:

- cone 0.1° and 1°: median through TAP sync (goal <= 50 ms) beside raw DuckDB given the best hand-written SQL
  (source_id ranges of the cone's HEALPix cells from mocpy, a dec band, the distance), with bytes read
  (``rchar`` of this process: what the reads asked for, page cache or not);
- seed-003 hpx5 aggregate (mean proper motion per HEALPix level-5 cell): TAP sync vs raw DuckDB, the Spark
  engine vs raw Spark on the same files (goal <= 1.2x);
- 100k x N cross-match at 1″: TAP sync (in a child process whose peak RSS is watched: the "web process")
  vs a hand-written zone join on DuckDB; the Spark engine vs the same zone join on Spark; LSDB on the
  HATS files when the table has them and lsdb is installed (requirements-bench.txt) (goal <= 1.2x);
- the goal ratios of TAP sync compare with raw DuckDB given what the portal gives a sync query (ENGINE_WEB_LIMITS:
  2 threads, 512 MB by default; the same engine, bounded alike); the next line shows raw DuckDB with 2 threads
  and 4 GB, so the cost of that bound is visible too;
- seed-001 MaNGA shape on Spark vs raw Spark: the manga scenario (apps/query/bench.py), called here;
- peak RSS of the processes running ours, the web process and the query worker (goal: the 100k x 100M cross-match
  under 1 GB); the CPU seconds of ours include the query worker's too (a sync query above
  QUERY_SYNC_IN_WORKER_ABOVE_ROWS runs there).

Raw DuckDB runs with the sync limits and with memory_limit 4GB and 2 threads; a child above 6 GB is stopped and reported.
"""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.adql import Catalog
from apps.adql.translate import translate
from apps.core.fingerprint import configuration_fingerprint
from apps.core.models import WorkerHeartbeat
from apps.metadata.actions import GAIA_HEALPIX, do_ingest_file, do_publish_table, do_save_function, do_update_table
from apps.metadata.catalog import catalog_for, parquet_path
from apps.metadata.generate import HATS, SORTED, generate_gaia, scale_schema_name, sky_fields
from apps.metadata.models import Table
from apps.query import bench
from apps.query.models import QueryJob
from apps.query.queues import engine_limits, get_queue
from apps.query.sync import ends
from workers.engines import get_engine
from workers.engines.base import TableName
from workers.engines.hats import is_hats, read_hats_info

ROOT = Path(__file__).resolve().parents[2]
Emit = Callable[[str], None]
RAW_DUCKDB: dict[str, str | int | float | list[str]] = {"memory_limit": "4GB", "threads": 2}
CHILD_LIMIT_MB = 6 * 1024
WORKER_LOOK_EVERY = 10  # the child's RSS is read every 20 ms, the workers' every 200 ms
XMATCH_ARCSEC = 1.0
PROBE_ROWS = 100_000
CONE_CENTRES = ((45.0, 20.0), (150.0, -40.0), (210.0, 55.0))  # off the Galactic plane: hundreds to thousands of rows
CONE_COLUMNS = "source_id, ra, dec, phot_g_mean_mag"
HPX5_SHIFT = 35 + 2 * (12 - 5)  # source_id >> 49 is the level-5 cell
SPARK_TIMEOUT_S = 300.0
SPARK_TURNS = 4  # even: ours and raw go first as often


@dataclass(frozen=True)
class ScaleData:
    schema: str
    rows: int
    path: Path  # the table's file, or its HATS folder
    probe_path: Path
    probes: int

    @property
    def hats(self) -> Any:
        """The table's HatsInfo (workers/engines/hats.py), or None for a plain Parquet file."""

        return read_hats_info(self.path) if is_hats(self.path) else None


def row(emit: Emit, name: str, ours: str, raw: str, ratio: str = "") -> None:
    emit(f"  {name:<44} {ours:>22}   {raw:>26}   {ratio}")


def _median_s(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    out = fn()  # warm: plans, caches, file footers
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), out


def _cpu() -> float:
    """CPU seconds of this process so far, all its threads: the work done, whatever the machine's load."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _worker_pids() -> list[int]:
    """Main processes of the live query workers of this configuration on this machine.

    A sync query reading more than QUERY_SYNC_IN_WORKER_ABOVE_ROWS rows runs in one of them: its CPU time and
    memory are ours as much as the web process's. Heartbeats are named ``<node>:<pid>`` (workers/heartbeat.py)."""
    recent = timezone.now() - timedelta(seconds=settings.WORKER_STALE_AFTER_SECONDS)
    names = WorkerHeartbeat.objects.filter(fingerprint=configuration_fingerprint(), seen__gte=recent).values_list("name", flat=True)
    pids = []
    for name in names:
        node, _, pid = name.rpartition(":")
        if node.rpartition("@")[2] == socket.gethostname() and pid.isdigit() and Path(f"/proc/{pid}").exists():
            pids.append(int(pid))
    return pids


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a prefork worker's pool processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            try:
                todo += [int(c) for c in children.read_text().split()]
            except OSError:
                pass  # the thread or process ended meanwhile
    return found


def _workers_cpu(pids: list[int]) -> float:
    """CPU seconds so far of the workers' process trees (processes ended meanwhile are not counted)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in [p for root in pids for p in _process_tree(root)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
    return total


def _workers_rss_mb(pids: list[int]) -> float:
    """The largest resident set among the workers' processes now (each process is bounded on its own)."""
    return max((_rss_of(p) for root in pids for p in _process_tree(root)), default=0.0)


@dataclass(frozen=True)
class Timed:
    seconds: float  # median wall time
    cpu: float  # median CPU seconds of this process (not a server's: meaningless for Spark)
    out: Any  # the last answer


def _interleaved(fns: list[Callable[[], Any]], repeats: int, tap: int = 0) -> list[Timed]:
    """Each of ``fns`` run in turns (each warmed once first): on a shared machine the load changes within a
    minute, and runs taken in turns see the same load. CPU seconds are taken too: under load they say more.
    The first ``tap`` functions go through TAP: their CPU seconds include the query workers' (_worker_pids)."""
    outs = [fn() for fn in fns]
    times: list[list[tuple[float, float]]] = [[] for _ in fns]
    workers = _worker_pids() if tap else []
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            counted = workers if i < tap else []
            started, cpu = time.perf_counter(), _cpu() + _workers_cpu(counted)
            outs[i] = fn()
            times[i].append((time.perf_counter() - started, _cpu() + _workers_cpu(counted) - cpu))
    return [Timed(statistics.median(w for w, _ in t), statistics.median(c for _, c in t), out)
            for t, out in zip(times, outs, strict=True)]


_CPU_OF_OURS = " (ours: web process and query worker)"


def _cpu_ratio(ours: float, raw: float) -> str:
    return f"CPU {ours:.2f} s / {raw:.2f} s = {ours / raw:.2f}x" if raw > 0 else ""


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:,.1f} ms"


def _ratio(ours: float, raw: float, goal: float) -> str:
    ratio = ours / raw if raw > 0 else math.inf
    return f"{ratio:.2f}x raw (goal <= {goal:g}x: {'met' if ratio <= goal else 'missed'})"


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    return 0


def _mb(size: int) -> str:
    return f"{size / 2**20:,.1f} MB" if size < 2**30 else f"{size / 2**30:,.2f} GB"


# ---- the data ------------------------------------------------------------------------------

def ensure_data(rows: int, emit: Emit) -> ScaleData:
    """gaia_<size>.source and its probe table, published; generated only when missing."""

    schema = scale_schema_name("gaia", rows, "duckdb")
    table = Table.objects.filter(schema__name=schema, name="source", published=True).first()
    if table is None or table.row_count != rows or not _store_path(schema, "source").exists():
        emit(f"  generating {schema}.source ({rows:,} rows; `manage.py generate_catalogues --size` makes it ahead)")
        generate_gaia(rows, 42, "duckdb", schema)
    elif not table.healpix_column:  # generated before the generator recorded its sky index
        do_update_table(None, table, **sky_fields("duckdb", schema, HATS if is_hats(_store_path(schema, "source")) else SORTED))
    path = _store_path(schema, "source")
    do_save_function(None, **GAIA_HEALPIX)
    probes = min(PROBE_ROWS, max(rows // 10, 1))
    probe_path = _ensure_probe(schema, path, probes)
    return ScaleData(schema, rows, path, probe_path, probes)


def _store_path(schema: str, table: str) -> Path:
    """The table's file or HATS folder, as the DuckDB engine's store finds it."""

    return Path(get_engine("duckdb").store.path(TableName(schema, table)))  # type: ignore[attr-defined]


def _dataset(path: Path) -> Path:
    """What raw readers open: the file, or a HATS catalogue's dataset folder (its margin cache left out)."""

    return Path(read_hats_info(path).dataset) if is_hats(path) else path


def raw_source(path: Path, files: list[Path] | None = None) -> str:
    """The DuckDB FROM fragment reading the table's files as they are (``files``: only those)."""
    dataset = _dataset(path)
    if files is not None:
        listed = ", ".join(f"'{f}'" for f in files) or f"'{dataset}/none.parquet'"
        return f"read_parquet([{listed}])"
    if dataset.is_dir():
        return f"read_parquet('{dataset}/**/*.parquet', hive_partitioning = true)"
    return f"read_parquet('{dataset}')"


def spark_source(path: Path) -> str:
    return "parquet.`" + str(_dataset(path)) + "`"


def _raw_db(config: dict[str, str | int | float | list[str]] | None = None) -> Any:
    import duckdb

    return duckdb.connect(":memory:", config=dict(config or RAW_DUCKDB))


def sync_limits(rows: int) -> dict[str, str | int | float | list[str]]:
    """What the portal's DuckDB may take for a TAP sync query reading ``rows`` rows: in the web process
    (ENGINE_LIMITS, the default queue's, then ENGINE_WEB_LIMITS), or above QUERY_SYNC_IN_WORKER_ABOVE_ROWS in a
    query worker (the queue's limits; a worker must be running, as scripts/run starts one). Raw DuckDB given the
    same is the same engine; RAW_DUCKDB (2 threads, 4 GB) is shown beside it."""

    in_worker = rows > int(getattr(settings, "QUERY_SYNC_IN_WORKER_ABOVE_ROWS", rows))
    limits = engine_limits(get_queue(None), web=not in_worker)
    return {"threads": limits.threads or 2, "memory_limit": limits.memory_limit or "4GB"}


def _limits_label(config: dict[str, str | int | float | list[str]]) -> str:
    return f"{config['threads']} thread{'s' if config['threads'] != 1 else ''}, {config['memory_limit']}"


def _ensure_probe(schema: str, source: Path, probes: int) -> Path:
    """``<schema>.xmatch_probe``: ``probes`` sources of the table moved 0.3″ north (each has a match)."""

    path = parquet_path(schema, "xmatch_probe")
    table = Table.objects.filter(schema__name=schema, name="xmatch_probe", published=True).first()
    if table is not None and table.row_count == probes and path.exists():
        return path
    tmp = Path(settings.VAR_DIR) / "bench" / f"probe-{uuid.uuid4().hex[:8]}.parquet"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    try:
        _raw_db().execute(
            f"COPY (SELECT CAST(row_number() OVER (ORDER BY source_id) AS BIGINT) AS probe_id, ra, "
            f"least(dec + 0.3 / 3600, 90.0) AS dec FROM (SELECT source_id, ra, dec FROM {raw_source(source)} "
            f"USING SAMPLE reservoir({probes} ROWS) REPEATABLE (7))) TO '{tmp}' (FORMAT parquet)")
        table = do_ingest_file(None, tmp, schema=schema, table="xmatch_probe", engine="duckdb", replace=True,
                               description="Cross-match probes for the scale benchmark")
        do_publish_table(None, table)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# ---- TAP sync ---------------------------------------------------------------------------------

def tap_settings() -> Any:
    from django.test import override_settings

    return override_settings(ALLOWED_HOSTS=["testserver", *settings.ALLOWED_HOSTS],
                             CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                                 "LOCATION": "bench-scale"}})


_clients: list[Any] = []


def tap_sync(query: str, engine: str = "") -> int:
    """Rows of ``query`` through /tap/sync as CSV (the whole path: parameters, checks, planning, engine, encoder).

    One client for the run: a new one would load the middleware again (whitenoise scans the static files).
    """
    from django.test import Client

    if not _clients:
        _clients.append(Client())
    params = {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv", "MAXREC": "100000000"}
    if engine:  # beside raw DuckDB, the same engine: routing by size would send a big query to Spark when configured
        params["ENGINE"] = engine
    response = _clients[0].get("/tap/sync", params)
    if response.status_code != 200:
        raise RuntimeError(f"TAP sync answered {response.status_code}: {response.content[:300]!r}")
    chunks: Iterator[bytes] = response.streaming_content  # type: ignore[attr-defined]
    return sum(chunk.count(b"\n") for chunk in chunks) - 1


def tap_engine() -> str:
    """Which engine the planner chose for the last sync query (routing by size may choose Spark), for the row's label:
    read once the timed runs are over, from its job, which this process's end writer writes off the timed path."""
    ends.flush()
    job = QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC).order_by("-created").values("engine").first()
    return job["engine"] if job else "?"


# ---- cones ---------------------------------------------------------------------------------

def cone_adql(data: ScaleData, ra: float, dec: float, radius: float) -> str:
    return (f"SELECT {CONE_COLUMNS} FROM {data.schema}.source "
            f"WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', {ra}, {dec}, {radius}))")


def _distance_sql(a_ra: str, a_dec: str, b_ra: str, b_dec: str) -> str:
    return (f"2 * asin(sqrt(power(sin(radians({a_dec} - {b_dec}) / 2), 2) + cos(radians({a_dec})) * cos(radians({b_dec})) "
            f"* power(sin(radians({a_ra} - {b_ra}) / 2), 2)))")


def cone_cells(ra: float, dec: float, radius: float) -> list[tuple[int, int]]:
    """The cone's covering HEALPix cells (mocpy) as half-open ranges of order-29 indices."""
    import astropy.units as u
    from mocpy import MOC

    depth = 12 if radius <= 0.2 else 9
    moc = MOC.from_cone(lon=ra * u.deg, lat=dec * u.deg, radius=radius * u.deg, max_depth=depth)
    return [(int(start), int(end)) for start, end in moc.to_depth29_ranges]


def source_id_ranges(cells: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Order-29 ranges as half-open source_id ranges (source_id >> 35 is the level-12 cell)."""
    out: list[tuple[int, int]] = []
    for start, end in cells:
        lo, hi = start >> 34 << 35, -(-end >> 34) << 35
        if out and out[-1][1] >= lo:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


def raw_cone_sql(data: ScaleData, ra: float, dec: float, radius: float) -> str:
    """The best hand-written DuckDB cone: only the cells' files (HATS) or index ranges (sorted file), a dec band, the distance."""
    cells = cone_cells(ra, dec, radius)
    hats = data.hats
    if hats is not None:
        files = [hats.dataset / p.relative_path() for p in hats.partitions if any(p.start < e and s < p.end for s, e in cells)]
        column, ranges, source = "_healpix_29", cells, raw_source(data.path, files)
    else:
        column, ranges, source = "source_id", source_id_ranges(cells), raw_source(data.path)
    where = " OR ".join(f"({column} >= {lo} AND {column} < {hi})" for lo, hi in ranges)
    return (f"SELECT {CONE_COLUMNS} FROM {source} WHERE ({where}) AND dec BETWEEN {dec - radius} AND {dec + radius} "
            f"AND {_distance_sql('ra', 'dec', str(ra), str(dec))} <= radians({radius})")


@dataclass(frozen=True)
class Measured:
    seconds: float  # median wall time
    cpu: float  # median CPU seconds of this process, all threads (the TAP path and the engine run here)
    rows: int  # of the last run
    bytes_read: int  # per run (rchar over the timed runs / their number)


def _measured_in_turns(fns: list[Callable[[], int]], repeats: int) -> list[Measured]:
    """Each of ``fns`` run in turns, each warmed first, so that they see the same load on a shared machine."""
    found = [fn() for fn in fns]
    times: list[list[tuple[float, float]]] = [[] for _ in fns]
    read = [0] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            started, cpu, before = time.perf_counter(), time.process_time(), _rchar()
            found[i] = fn()
            times[i].append((time.perf_counter() - started, time.process_time() - cpu))
            read[i] += _rchar() - before
    return [Measured(statistics.median(w for w, _ in t), statistics.median(c for _, c in t), n, r // repeats)
            for t, n, r in zip(times, found, read, strict=True)]


def _tap_query(adql: str) -> Callable[[], int]:
    return lambda: tap_sync(adql)


def _raw_query(db: Any, sql: str) -> Callable[[], int]:
    return lambda: len(db.execute(sql).fetchall())


FLOOR_RADIUS = 0.002  # degrees: the cheapest cone (a row group or so), so the TAP path's own cost shows


def bench_cones(emit: Emit, data: ScaleData, repeats: int) -> dict[str, float]:
    """Cones through TAP sync and raw DuckDB in turns; the wall time (the goal) and this process's CPU time, which
    load does not inflate. The floor is the smallest cone: what the TAP path costs around any engine."""
    db = _raw_db()
    ra0, dec0 = CONE_CENTRES[0]
    floor, raw_floor = _measured_in_turns([_tap_query(cone_adql(data, ra0, dec0, FLOOR_RADIUS)),
                                           _raw_query(db, raw_cone_sql(data, ra0, dec0, FLOOR_RADIUS))], repeats)
    row(emit, f"cone {FLOOR_RADIUS:g} deg (TAP floor), TAP sync ({tap_engine()})", f"{_ms(floor.seconds)}, CPU {_ms(floor.cpu)}",
        f"raw DuckDB {_ms(raw_floor.seconds)}, CPU {_ms(raw_floor.cpu)}")
    out: dict[str, float] = {"tap_floor_ms": floor.seconds * 1000, "tap_floor_cpu_ms": floor.cpu * 1000}
    for radius in (0.1, 1.0):
        pairs = [_measured_in_turns([_tap_query(cone_adql(data, ra, dec, radius)), _raw_query(db, raw_cone_sql(data, ra, dec, radius))],
                                    repeats) for ra, dec in CONE_CENTRES]
        ours, raw = [p[0] for p in pairs], [p[1] for p in pairs]
        o_med, r_med = statistics.median(m.seconds for m in ours), statistics.median(m.seconds for m in raw)
        o_cpu, r_cpu = statistics.median(m.cpu for m in ours), statistics.median(m.cpu for m in raw)
        row(emit, f"cone {radius:g} deg, TAP sync ({tap_engine()}), median of {len(CONE_CENTRES)}",
            f"{_ms(o_med)} ({sum(m.rows for m in ours):,} rows)", f"raw DuckDB {_ms(r_med)} ({sum(m.rows for m in raw):,})",
            f"goal <= 50 ms: {'met' if o_med <= 0.05 else 'missed'}; {o_med / r_med:.1f}x raw")
        row(emit, f"  CPU per {radius:g} deg cone (median)", f"{_ms(o_cpu)} (floor {_ms(floor.cpu)})", f"raw DuckDB {_ms(r_cpu)}",
            f"ours - floor = {(o_cpu - floor.cpu) / r_cpu:.2f}x raw" if r_cpu > 0 else "")
        row(emit, f"  bytes read per {radius:g} deg cone (median)", _mb(int(statistics.median(m.bytes_read for m in ours))),
            f"raw DuckDB {_mb(int(statistics.median(m.bytes_read for m in raw)))}", f"table {_mb(_size(data.path))}")
        out[f"cone_{radius:g}_ms"], out[f"raw_cone_{radius:g}_ms"] = o_med * 1000, r_med * 1000
        out[f"cone_{radius:g}_cpu_ms"], out[f"raw_cone_{radius:g}_cpu_ms"] = o_cpu * 1000, r_cpu * 1000
    return out


def _size(path: Path) -> int:
    """Bytes of the table's own files (a HATS catalogue's margin cache left out)."""
    dataset = _dataset(path)
    return sum(p.stat().st_size for p in dataset.rglob("*.parquet")) if dataset.is_dir() else dataset.stat().st_size


# ---- seed-003: hpx5 aggregate --------------------------------------------------------------------

def hpx5_adql(data: ScaleData) -> str:
    return (f"SELECT gaia_healpix_index(5, source_id) AS hpx5, COUNT(*) AS n, AVG(pmra) AS pmra, AVG(pmdec) AS pmdec "
            f"FROM {data.schema}.source GROUP BY gaia_healpix_index(5, source_id)")


def hpx5_raw_sql(source: str, shift: str) -> str:
    return f"SELECT {shift} AS hpx5, COUNT(*) AS n, AVG(pmra) AS pmra, AVG(pmdec) AS pmdec FROM {source} GROUP BY 1"


def bench_hpx5(emit: Emit, data: ScaleData, repeats: int) -> dict[str, float]:
    raw_sql = hpx5_raw_sql(raw_source(data.path), f"source_id >> {HPX5_SHIFT}")
    same, wide = _raw_db(sync_limits(data.rows)), _raw_db()
    ours_t, raw_t, wide_t = _interleaved(
        [lambda: tap_sync(hpx5_adql(data), engine="duckdb"), lambda: len(same.execute(raw_sql).fetchall()),
         lambda: len(wide.execute(raw_sql).fetchall())], repeats, tap=1)
    ours, raw, raw_wide = ours_t.seconds, raw_t.seconds, wide_t.seconds
    row(emit, f"seed-003 hpx5 aggregate, TAP sync (ran on {tap_engine()}), {data.rows:,} rows", f"{_ms(ours)} ({ours_t.out:,} cells)",
        f"raw DuckDB {_ms(raw)} ({raw_t.out:,})", f"{_ratio(ours, raw, 1.2)}; raw at the portal's limits for it ({_limits_label(sync_limits(data.rows))})")
    row(emit, f"  same: CPU time{_CPU_OF_OURS}, and raw DuckDB with 2 threads and 4GB", _cpu_ratio(ours_t.cpu, raw_t.cpu), f"raw DuckDB {_ms(raw_wide)}",
        f"{ours / raw_wide:.2f}x: the web process's bound (ENGINE_WEB_LIMITS) included")
    out = {"hpx5_ms": ours * 1000, "raw_hpx5_ms": raw * 1000, "raw_wide_hpx5_ms": raw_wide * 1000,
           "hpx5_cpu_s": ours_t.cpu, "raw_hpx5_cpu_s": raw_t.cpu}
    spark = _spark()
    if spark is None:
        row(emit, "seed-003 hpx5 aggregate, Spark engine", "skipped", "no Spark Connect server")
        return out
    engine, session = spark
    sql = _spark_translation(data, hpx5_adql(data))
    raw_sql = hpx5_raw_sql(spark_source(data.path), f"shiftright(source_id, {HPX5_SHIFT})")
    jvms = _spark_jvms(session, engine.remote)
    ours_t, raw_t = _spark_in_turns([lambda: _engine_rows(engine, sql), lambda: len(session.sql(raw_sql).collect())], jvms)
    (ours_s, found), (raw_s, raw_found) = (ours_t.seconds, ours_t.out), (raw_t.seconds, raw_t.out)
    row(emit, f"seed-003 hpx5 aggregate, Spark engine ({engine.remote})", f"{_ms(ours_s)} ({found:,} cells)",
        f"raw Spark {_ms(raw_s)} ({raw_found:,})", _ratio(ours_s, raw_s, 1.2))
    if jvms:
        row(emit, "  same: CPU time of the Spark JVMs", _cpu_ratio(ours_t.cpu, raw_t.cpu), f"{len(jvms)} JVMs on this machine",
            "its Connect server and executors, with what other clients ran on them meanwhile")
    out.update(spark_hpx5_ms=ours_s * 1000, raw_spark_hpx5_ms=raw_s * 1000, spark_hpx5_cpu_s=ours_t.cpu, raw_spark_hpx5_cpu_s=raw_t.cpu)
    return out


# ---- Spark -----------------------------------------------------------------------------------

def _spark() -> tuple[Any, Any] | None:
    """The portal's Spark engine and a raw Spark Connect session on the same server, or None."""
    if not settings.SPARK_REMOTE:
        return None
    try:
        from pyspark.sql import SparkSession


        engine = get_engine("spark")
        remote = str(settings.SPARK_REMOTE)
        session = SparkSession.builder.remote(remote if remote.startswith("sc://") else "sc://127.0.0.1:15002").getOrCreate()
        session.sql("SELECT 1").collect()
        return engine, session
    except Exception:
        return None


def _spark_in_turns(fns: list[Callable[[], Any]], jvms: list[int]) -> list[Timed]:
    """Like _interleaved, for queries Spark runs: SPARK_TURNS turns, each starting one further along (ours, raw;
    raw, ours), so a load that rises or falls through the turns does not always fall on the same one; the CPU
    seconds are those of the Spark JVMs doing the work (this process only waits)."""
    outs = [fn() for fn in fns]  # warm: plans, the session, the executors' code
    times: list[list[tuple[float, float]]] = [[] for _ in fns]
    for turn in range(SPARK_TURNS):
        for i in [(turn + k) % len(fns) for k in range(len(fns))]:
            started, cpu = time.perf_counter(), _cpu_of(jvms)
            outs[i] = fns[i]()
            times[i].append((time.perf_counter() - started, _cpu_of(jvms) - cpu))
    return [Timed(statistics.median(w for w, _ in t), statistics.median(c for _, c in t), out)
            for t, out in zip(times, outs, strict=True)]


def _spark_jvms(session: Any, remote: str) -> list[int]:
    """The processes of this machine doing a Connect server's work: the server (by the port in its command line,
    as scripts/services.d starts it) and its executors (by its application id); none when it runs elsewhere."""
    port, app_id = remote.rsplit(":", 1)[-1].split("/")[0], str(session.conf.get("spark.app.id"))
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().decode(errors="replace") if proc.name.isdigit() else ""
        except OSError:
            continue  # ended meanwhile
        if (("SparkConnectServer" in command and f"binding.port={port}" in command)
                or ("CoarseGrainedExecutorBackend" in command and app_id in command)):
            found.append(int(proc.name))
    return found


def _cpu_of(pids: list[int]) -> float:
    """CPU seconds so far of these processes (user and system, all their threads)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def _spark_translation(data: ScaleData, adql: str) -> str:
    """The portal's translation of ``adql`` for Spark, its tables read from the same files (the catalogue's metadata kept)."""
    from django.contrib.auth.models import AnonymousUser


    spark = get_engine("spark")
    catalog = catalog_for(AnonymousUser())
    tables = [replace(t, sql_from=spark.sql_from(TableName(t.schema, t.name))) for t in catalog.tables if t.schema == data.schema]
    return translate(adql, "spark", catalog=Catalog(tables, catalog.functions.values())).sql


def _engine_rows(engine: Any, sql: str) -> int:
    return sum(b.num_rows for b in engine.stream(sql, timeout_s=SPARK_TIMEOUT_S, job_id=uuid.uuid4().hex))


# ---- cross-match ---------------------------------------------------------------------------

def xmatch_adql(data: ScaleData) -> str:
    return (f"SELECT p.probe_id, s.source_id FROM {data.schema}.xmatch_probe AS p JOIN {data.schema}.source AS s "
            f"ON 1 = CONTAINS(POINT('ICRS', s.ra, s.dec), CIRCLE('ICRS', p.ra, p.dec, {XMATCH_ARCSEC / 3600!r}))")


def zone_join_sql(probe: str, source: str) -> str:
    """Gray et al.'s zone join, written by hand: zones of the radius's height, neighbours, the ra band (wrapping 0/360)."""
    r = XMATCH_ARCSEC / 3600
    return f"""
        WITH p AS (SELECT probe_id, ra, dec, CAST(floor((dec + 90) / {r}) AS BIGINT) AS zone,
                          {r} / greatest(cos(radians(least(abs(dec) + {r}, 90.0))), 1e-9) AS alpha FROM {probe}),
        pz AS (SELECT probe_id, ra + w.shift AS ra, dec, zone + z.dz AS zone, alpha
               FROM p CROSS JOIN (VALUES (-1), (0), (1)) AS z(dz) CROSS JOIN (VALUES (-360.0), (0.0), (360.0)) AS w(shift)
               WHERE w.shift = 0 OR (w.shift > 0 AND ra < alpha) OR (w.shift < 0 AND ra > 360 - alpha)),
        s AS (SELECT source_id, ra, dec, CAST(floor((dec + 90) / {r}) AS BIGINT) AS zone FROM {source})
        SELECT pz.probe_id, s.source_id FROM pz JOIN s ON s.zone = pz.zone
        WHERE s.ra BETWEEN pz.ra - pz.alpha AND pz.ra + pz.alpha AND s.dec BETWEEN pz.dec - {r} AND pz.dec + {r}
          AND {_distance_sql('s.ra', 's.dec', 'pz.ra', 'pz.dec')} <= radians({r})"""


CHILD = ("import os, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'daiquiri.settings'); django.setup(); "
         "from apps.query.bench_scale import child_entry; child_entry()")


def run_child(data: ScaleData, task: str, repeats: int) -> dict[str, Any]:
    """Run ``task`` (ours through TAP sync) in a fresh process; its RSS is watched from here and stopped above 6 GB."""
    from django.db import connection

    env = {**os.environ, "SCIENCE_DIR": str(settings.SCIENCE_DIR), "MYDB_DIR": str(settings.MYDB_DIR),
           "DAIQUIRI_VAR_DIR": str(settings.VAR_DIR), "DB_NAME": str(connection.settings_dict["NAME"])}  # a test's database too
    args = [sys.executable, "-c", CHILD, task, json.dumps(data.__dict__, default=str), str(repeats)]
    child = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # noqa: S603
    peak, worker_peak, stopped, workers, looks = 0.0, 0.0, False, _worker_pids(), 0
    while child.poll() is None:
        rss = _rss_of(child.pid)
        peak, looks = max(peak, rss), looks + 1
        if looks % WORKER_LOOK_EVERY == 1:  # a walk of the workers' processes: not at every look, to stay light beside ours
            worker_peak = max(worker_peak, _workers_rss_mb(workers))
        if rss > CHILD_LIMIT_MB:
            child.kill()
            stopped = True
        time.sleep(0.02)
    out, err = child.communicate()
    if stopped:
        return {"stopped": True, "peak_mb": peak, "worker_peak_mb": worker_peak}
    if child.returncode != 0:
        raise RuntimeError(f"the {task} child failed: {err[-600:]}")
    return {**json.loads(out.strip().splitlines()[-1]), "peak_mb": peak, "worker_peak_mb": worker_peak}


def _rss_of(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def child_main(task: str, data: ScaleData, repeats: int) -> dict[str, Any]:
    """Inside the child: start-up RSS, then the task's median time, CPU seconds and rows through TAP sync."""
    query = {"xmatch": xmatch_adql, "hpx5": hpx5_adql}[task](data)
    with tap_settings():
        tap_sync(f"SELECT TOP 1 source_id FROM {data.schema}.source")  # the imports and the engine, before measuring
        start_mb = _rss_of(os.getpid())
        (timed,) = _interleaved([lambda: tap_sync(query, engine="duckdb")], repeats, tap=1)
    return {"seconds": timed.seconds, "cpu": timed.cpu, "rows": timed.out, "start_mb": start_mb, "engine": tap_engine()}


def bench_xmatch(emit: Emit, data: ScaleData, repeats: int, lsdb: bool = True) -> dict[str, Any]:
    label = f"{data.probes // 1000}k x {data.rows:,}" if data.probes >= 1000 else f"{data.probes} x {data.rows:,}"
    zone = zone_join_sql(raw_source(data.probe_path), raw_source(data.path))
    same, wide = _raw_db(sync_limits(data.rows)), _raw_db()
    ours = _xmatch_in_turns(data, repeats, [lambda: len(same.execute(zone).fetchall()), lambda: len(wide.execute(zone).fetchall())])
    raw_t, wide_t = ours.pop("raw")
    (raw_s, raw_found), wide_s = (raw_t.seconds, raw_t.out), wide_t.seconds
    where = f"TAP sync (ran on {ours.get('engine', '?')})"
    if ours.get("stopped"):
        row(emit, f"cross-match {label} at 1\", {where}", "stopped above 6 GB", f"zone join {_ms(raw_s)} ({raw_found:,})",
            "goal <= 1.2x: missed")
    else:
        row(emit, f"cross-match {label} at 1\", {where}", f"{_ms(ours['seconds'])} ({ours['rows']:,} pairs)",
            f"DuckDB zone join {_ms(raw_s)} ({raw_found:,})",
            f"{_ratio(ours['seconds'], raw_s, 1.2)}; zone join at the portal's limits for it ({_limits_label(sync_limits(data.rows))})")
        row(emit, f"  same: CPU time{_CPU_OF_OURS}, and the zone join with 2 threads and 4GB", _cpu_ratio(ours["cpu"], raw_t.cpu),
            f"DuckDB zone join {_ms(wide_s)}",
            f"{ours['seconds'] / wide_s:.2f}x: the web process's bound (ENGINE_WEB_LIMITS) included")
    out: dict[str, Any] = {"xmatch_ms": ours.get("seconds", math.inf) * 1000, "raw_xmatch_ms": raw_s * 1000,
                           "raw_wide_xmatch_ms": wide_s * 1000, "xmatch_cpu_s": ours.get("cpu"), "raw_xmatch_cpu_s": raw_t.cpu,
                           "xmatch_pairs": ours.get("rows"), "raw_xmatch_pairs": raw_found,
                           "xmatch_peak_mb": ours["peak_mb"], "xmatch_start_mb": ours.get("start_mb", 0.0),
                           "xmatch_worker_peak_mb": ours["worker_peak_mb"]}
    out.update(_xmatch_spark(emit, data, label))
    if lsdb:
        out.update(_xmatch_lsdb(emit, data, label, ours.get("seconds")))
    else:
        row(emit, f"cross-match {label}, LSDB", "skipped", "not asked for this run")
    return out


def _xmatch_in_turns(data: ScaleData, repeats: int, raws: list[Callable[[], int]]) -> dict[str, Any]:
    """Ours in a fresh child per run (its peak RSS is the web process's; its own timing of the query, after a
    warm run), in turns with the raw runs (timed here): on a shared machine, runs in turns see the same load."""
    children: list[dict[str, Any]] = []
    raw_times: list[list[tuple[float, float]]] = [[] for _ in raws]
    found = [fn() for fn in raws]  # warm
    for _ in range(repeats):
        children.append(run_child(data, "xmatch", 1))
        if children[-1].get("stopped"):
            break
        for i, fn in enumerate(raws):
            started, cpu = time.perf_counter(), _cpu()
            found[i] = fn()
            raw_times[i].append((time.perf_counter() - started, _cpu() - cpu))
    out = {**children[-1], "peak_mb": max(c["peak_mb"] for c in children),
           "worker_peak_mb": max(c["worker_peak_mb"] for c in children)}
    if not out.get("stopped"):
        out["seconds"] = statistics.median(c["seconds"] for c in children)
        out["cpu"] = statistics.median(c["cpu"] for c in children)
    out["raw"] = [Timed(statistics.median(w for w, _ in t), statistics.median(c for _, c in t), n) if t else Timed(math.inf, math.inf, n)
                  for t, n in zip(raw_times, found, strict=True)]
    return out


def _xmatch_spark(emit: Emit, data: ScaleData, label: str) -> dict[str, float]:
    spark = _spark()
    if spark is None:
        row(emit, f"cross-match {label}, Spark engine", "skipped", "no Spark Connect server")
        return {}
    engine, session = spark
    sql = _spark_translation(data, xmatch_adql(data))
    zone = zone_join_sql(spark_source(data.probe_path), spark_source(data.path))
    try:
        ours_t, raw_t = _interleaved([lambda: _engine_rows(engine, sql), lambda: len(session.sql(zone).collect())], 1)
        (ours_s, found), (raw_s, raw_found) = (ours_t.seconds, ours_t.out), (raw_t.seconds, raw_t.out)
    except Exception as exc:
        raw_s, raw_found = _median_s(lambda: len(session.sql(zone).collect()), 1)
        row(emit, f"cross-match {label}, Spark engine", f"failed: {type(exc).__name__}", f"Spark zone join {_ms(raw_s)} ({raw_found:,})",
            f"goal <= 1.2x: missed ({str(exc)[:60]})")
        return {"raw_spark_xmatch_ms": raw_s * 1000}
    row(emit, f"cross-match {label}, Spark engine", f"{_ms(ours_s)} ({found:,} pairs)", f"Spark zone join {_ms(raw_s)} ({raw_found:,})",
        _ratio(ours_s, raw_s, 1.2))
    return {"spark_xmatch_ms": ours_s * 1000, "raw_spark_xmatch_ms": raw_s * 1000}


def _xmatch_lsdb(emit: Emit, data: ScaleData, label: str, ours_s: float | None) -> dict[str, float]:
    """LSDB's crossmatch on the same HATS collection (with its margin), on a local dask cluster of 2 one-thread workers."""
    try:
        import lsdb
        from distributed import Client
    except ImportError:
        row(emit, f"cross-match {label}, LSDB", "lsdb not installed", "pip install -r requirements-bench.txt")
        return {}
    if data.hats is None:
        row(emit, f"cross-match {label}, LSDB", "skipped", "the table is not in the HATS layout")
        return {}
    import pandas as pd

    probes = pd.read_parquet(data.probe_path)

    def run() -> int:
        catalog: Any = lsdb.read_hats(str(data.path), columns=["source_id", "ra", "dec"])
        left = lsdb.from_dataframe(probes, ra_column="ra", dec_column="dec")
        matched = left.crossmatch(catalog, radius_arcsec=XMATCH_ARCSEC, n_neighbors=16, suffix_method="all_columns")
        return len(matched.compute())

    with Client(n_workers=2, threads_per_worker=1, memory_limit="2GB", dashboard_address=None, silence_logs=logging.ERROR):
        seconds, found = _median_s(run, 1)  # the warm run compiles LSDB's numba kernels in each worker
    ratio = f"ours {ours_s / seconds:.2f}x LSDB's time (goal < 1)" if ours_s else ""
    row(emit, f"cross-match {label}, LSDB (2 dask workers)", f"{_ms(seconds)} ({found:,} pairs)", "same HATS files", ratio)
    return {"lsdb_xmatch_ms": seconds * 1000}


# ---- the scenario ---------------------------------------------------------------------------

def _portal_view(data: ScaleData) -> str:
    """What the planner knows of the table (its SkyIndex and row count), as the figures depend on it."""
    from django.contrib.auth.models import AnonymousUser


    found = [t for t in catalog_for(AnonymousUser()).tables if t.schema == data.schema and t.name == "source"]
    if not found:
        return "not in the portal's catalogue"
    info = found[0]
    return f"portal metadata: sky={info.sky}, row_count={info.row_count}"


def bench_scale(emit: Emit, rows: int, *, repeats: int = 5, manga_rows: int | None = None, lsdb: bool = True) -> dict[str, Any]:
    """Every goal row of issue #14 at ``rows`` rows (``manga_rows``: the MaNGA scenario's size; 0 skips it;
    ``lsdb=False`` skips LSDB, whose first run compiles its kernels for minutes)."""

    data = ensure_data(rows, emit)
    hats = data.hats
    layout = f"HATS, {len(hats.partitions)} partitions" if hats is not None else "one Parquet file sorted by source_id"
    emit(f"  {data.schema}.source: {rows:,} rows, {_mb(_size(data.path))}, {layout}; raw DuckDB {RAW_DUCKDB}; {_portal_view(data)}")
    out: dict[str, Any] = {"rows": rows}
    with tap_settings():  # also for the Spark translations: the catalogue from this database, not a shared cache
        out.update(bench_cones(emit, data, repeats))
        out.update(bench_hpx5(emit, data, repeats))
        out.update(bench_xmatch(emit, data, repeats, lsdb))
    hpx5 = run_child(data, "hpx5", 1)
    peak = out["xmatch_peak_mb"]
    row(emit, f"peak RSS of the web process, {rows:,} rows", f"cross-match {peak:,.0f} MB", f"hpx5 aggregate {hpx5['peak_mb']:,.0f} MB",
        f"{peak / 1024:.2f}x the goal of 1 GB ({'met' if peak < 1024 else 'missed'}); at start {out['xmatch_start_mb']:,.0f} MB")
    worker_peak = out["xmatch_worker_peak_mb"]
    row(emit, f"peak RSS of a query worker process, {rows:,} rows", f"cross-match {worker_peak:,.0f} MB",
        f"hpx5 aggregate {hpx5['worker_peak_mb']:,.0f} MB",
        f"{worker_peak / 1024:.2f}x the goal of 1 GB ({'met' if worker_peak < 1024 else 'missed'}): sync queries above "
        f"{settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS:,} rows run there" if worker_peak else "no worker ran them")
    out.update(hpx5_peak_mb=hpx5["peak_mb"], hpx5_worker_peak_mb=hpx5["worker_peak_mb"])
    if manga_rows != 0:
        manga = bench.bench_manga(emit, manga_rows or min(max(rows // 5, 100_000), 2_000_000))
        if "spark" in manga:
            row(emit, "seed-001 MaNGA shape, Spark engine vs raw Spark", _ms(manga["spark"]), f"raw Spark {_ms(manga['raw_spark'])}",
                _ratio(manga["spark"], manga["raw_spark"], 1.2))
        out["manga"] = manga
    return out


def child_entry() -> None:
    """The child of run_child: ``python -c CHILD TASK DATA REPEATS`` (Django is set up before this module loads)."""
    fields = json.loads(sys.argv[2])
    scale = ScaleData(fields["schema"], int(fields["rows"]), Path(fields["path"]), Path(fields["probe_path"]), int(fields["probes"]))
    print(json.dumps(child_main(sys.argv[1], scale, int(sys.argv[3]))))
