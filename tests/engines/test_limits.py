"""Bounded engines: memory, threads and spill space per process and per queue (workers/engines/limits.py).

A query larger than memory spills to disk and completes; past the spill space too, it fails with a
message the user reads (a 400 from TAP sync, an ERROR job from TAP async), never a 500 or a dead worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from django.test import Client

from apps.query.models import QueryJob
from apps.query.queues import engine_limits, get_queue
from apps.uws import phases
from workers.engines import Limits, get_engine, reset_engines
from workers.engines.base import EngineError, TableName
from workers.engines.duckdb import OUT_OF_MEMORY, DuckDBEngine

from .conftest import run_python

# 2M groups of a hash aggregate: about 100 MB of DuckDB memory, in a second or two.
GROUPS = "SELECT i % 2000000 AS k, COUNT(*) AS n, MAX(r) AS r FROM (SELECT i, random() AS r FROM range(4000000) t(i)) GROUP BY k"
SETTINGS = "SELECT current_setting('memory_limit') AS m, current_setting('threads') AS t, current_setting('temp_directory') AS d"


def _shown(memory_limit: str) -> str:
    """How DuckDB itself shows ``memory_limit`` once set (it rounds to MiB/GiB)."""
    db = duckdb.connect(":memory:")
    db.execute(f"SET memory_limit = '{memory_limit}'")
    return str(db.execute("SELECT current_setting('memory_limit')").fetchone()[0])  # type: ignore[index]


def _settings(engine: Any) -> dict[str, Any]:
    (batch,) = engine.stream(SETTINGS, timeout_s=30, job_id="limits")
    return {k: v[0] for k, v in batch.to_pydict().items()}


def test_duckdb_may_reorder_rows_without_order_by_but_keeps_an_order_by_under_a_limit(science: tuple[Path, Path]) -> None:
    """Free to reorder, DuckDB reads row groups in parallel under a LIMIT (a cone's MAXREC); ORDER BY still holds."""
    engine = DuckDBEngine(*science, threads=2)
    try:
        (setting,) = engine.stream("SELECT current_setting('preserve_insertion_order') AS p", timeout_s=30, job_id="order")
        assert setting.to_pydict() == {"p": [False]}
        sql = "SELECT i FROM range(1000000) t(i) ORDER BY i DESC LIMIT 300000"
        got = [v for b in engine.stream(sql, timeout_s=30, job_id="order-by") for v in b.column(0).to_pylist()]
        assert got == list(range(999999, 699999, -1))
    finally:
        engine.close()


@pytest.fixture
def spill(tmp_path: Path) -> Path:
    return tmp_path / "spill"


def test_duckdb_reads_back_the_memory_threads_and_spill_folder_it_was_given(science: tuple[Path, Path], spill: Path) -> None:
    engine = DuckDBEngine(*science, threads=1, memory_limit="64MB", temp_directory=str(spill))
    shown = _settings(engine)
    assert shown["m"] == _shown("64MB") and shown["t"] == 1
    assert Path(shown["d"]).parent == spill.resolve()  # a folder of its own under the setting
    engine.close()
    assert not list(spill.iterdir())  # removed with the engine


def test_a_group_by_larger_than_memory_spills_and_completes(science: tuple[Path, Path], spill: Path, mydb: str) -> None:
    bounded = DuckDBEngine(*science, threads=1, memory_limit="40MB", temp_directory=str(spill))
    result = bounded.execute(GROUPS, into=TableName(mydb, "groups"), timeout_s=120, job_id="spills")
    assert result.rows == 2_000_000
    no_spill = DuckDBEngine(*science, threads=1, memory_limit="40MB")  # the same limit, nowhere to spill: it cannot
    with pytest.raises(EngineError, match="needs more memory"):
        no_spill.execute(GROUPS, into=TableName(mydb, "groups2"), timeout_s=120, job_id="fails")
    assert not bounded.store.exists(TableName(mydb, "groups2"))


def test_past_the_spill_space_a_query_fails_with_a_message_for_the_user(science: tuple[Path, Path], spill: Path, mydb: str) -> None:
    engine = DuckDBEngine(*science, threads=1, memory_limit="40MB", temp_directory=str(spill), max_temp_directory_size="1MB")
    with pytest.raises(EngineError) as raised:
        list(engine.stream(GROUPS, timeout_s=120, job_id="too-big"))
    assert str(raised.value).startswith(OUT_OF_MEMORY) and "Out of Memory" in str(raised.value)
    assert _settings(engine)["t"] == 1  # the engine is still usable afterwards


def test_a_spill_folder_left_by_a_dead_process_is_removed(science: tuple[Path, Path], spill: Path) -> None:
    spill.mkdir()
    (spill / "999999999-deadbeef").mkdir()  # no such process
    DuckDBEngine(*science, temp_directory=str(spill)).close()
    assert not (spill / "999999999-deadbeef").exists()


# ---- settings: per process, per queue, per engine --------------------------------------------------

@pytest.fixture
def limits_settings(settings: Any, tmp_path: Path, spill: Path) -> Iterator[Any]:
    settings.SCIENCE_DIR, settings.MYDB_DIR = tmp_path / "science", tmp_path / "mydb"
    settings.ENGINE_LIMITS = {"memory_limit": "256MB", "threads": 2, "temp_directory": str(spill),
                              "max_temp_directory_size": "1GB", "work_mem": "8MB", "tmp_table_size": 2 * 1024**2}
    settings.ENGINE_WEB_LIMITS = {"memory_limit": "100MB", "threads": 1}
    settings.QUERY_QUEUES = {**settings.QUERY_QUEUES, "long": {**settings.QUERY_QUEUES["long"], "limits": {"memory_limit": "300MB"}}}
    reset_engines()
    yield settings
    reset_engines()


def test_each_queue_and_the_web_process_get_their_own_bounded_duckdb(limits_settings: Any) -> None:
    quick, long = get_queue("quick"), get_queue("long")
    assert _settings(get_engine("duckdb"))["m"] == _shown("256MB")  # ENGINE_LIMITS
    assert _settings(get_engine("duckdb", engine_limits(long)))["m"] == _shown("300MB")  # the queue's own
    web = _settings(get_engine("duckdb", engine_limits(quick, web=True)))
    assert web["m"] == _shown("100MB") and web["t"] == 1
    assert get_engine("duckdb", engine_limits(quick)) is get_engine("duckdb")  # one engine per limits, reused


def test_postgresql_queries_run_with_the_work_mem_of_their_limits(limits_settings: Any, pg_url: str) -> None:
    limits_settings.SCIENCE_POSTGRESQL_URL = pg_url
    engine = get_engine("postgresql", Limits(work_mem="12MB"))
    (batch,) = engine.stream("SELECT current_setting('work_mem') AS w", timeout_s=30, job_id="work-mem")
    assert batch.column(0).to_pylist() == ["12MB"]


def test_mariadb_sessions_keep_temporary_tables_in_memory_up_to_the_limit(limits_settings: Any) -> None:
    limits_settings.SCIENCE_MARIADB_URL = "mysql://root@127.0.0.1:3306/mysql"
    engine = get_engine("mariadb", Limits(tmp_table_size=3 * 1024**2))
    (batch,) = engine.stream("SELECT @@tmp_table_size AS t, @@max_heap_table_size AS h", timeout_s=30, job_id="tmp-size")
    assert batch.to_pylist() == [{"t": 3 * 1024**2, "h": 3 * 1024**2}]


def test_bad_sizes_are_refused_before_any_engine_starts() -> None:
    with pytest.raises(ValueError, match="not a memory size"):
        Limits(memory_limit="lots")
    with pytest.raises(ValueError, match="not a memory size"):
        Limits(spark_memory="2 gigs")
    with pytest.raises(ValueError, match="spark_cores"):
        Limits(spark_cores=-1)
    with pytest.raises(ValueError, match="Spark Connect URL"):
        Limits(spark_remote="http://spark.example.org:15002")


# ---- Spark: resources per queue, applied when the queue's session is made --------------------------

def _conf(engine: Any, key: str) -> str:
    return str(engine.spark.conf.get(key))


def test_each_queue_gets_a_spark_session_with_its_cores_and_scheduler_pool(limits_settings: Any, spark_remote: str) -> None:
    limits_settings.SPARK_REMOTE = spark_remote
    limits_settings.QUERY_QUEUES = {**limits_settings.QUERY_QUEUES,
                                    "long": {**limits_settings.QUERY_QUEUES["long"], "limits": {"spark_cores": 3, "spark_pool": "long"}}}
    long, quick = get_engine("spark", engine_limits(get_queue("long"))), get_engine("spark", engine_limits(get_queue("quick")))
    assert long is not quick
    assert _conf(long, "spark.sql.shuffle.partitions") == "6" and _conf(long, "spark.scheduler.pool") == "long"
    assert _conf(quick, "spark.sql.shuffle.partitions") != "6"  # the server's own: the quick queue's session is untouched
    grouped = "SELECT id % 7 AS k, COUNT(*) AS n FROM range(1000) GROUP BY id % 7"
    rows = [r for b in long.stream(grouped, timeout_s=120, job_id="spark-limits") for r in b.to_pylist()]
    assert sorted(r["k"] for r in rows) == list(range(7))


def test_a_queue_may_send_its_spark_jobs_to_a_connect_server_of_its_own(limits_settings: Any, spark_remote: str) -> None:
    from .test_spark_cluster import CLUSTER_REMOTE

    limits_settings.SPARK_REMOTE = spark_remote
    own = get_engine("spark", Limits(spark_remote=CLUSTER_REMOTE))
    shared = get_engine("spark")
    if not _reachable(own):
        pytest.skip(f"no cluster Connect server at {CLUSTER_REMOTE} (scripts/services.d/21-spark-cluster)")
    assert own.remote == CLUSTER_REMOTE  # type: ignore[attr-defined]
    assert _conf(own, "spark.master").startswith("spark://") and _conf(shared, "spark.master").startswith("local")


def _reachable(engine: Any) -> bool:
    try:
        engine.spark.sql("SELECT 1").collect()
    except Exception:
        return False
    return True


def test_a_local_spark_session_runs_with_the_cores_and_memory_of_its_limits(science: tuple[Path, Path]) -> None:
    """SPARK_REMOTE=local in a process of its own: the JVM is started with the limits' master and heap."""
    code = f"""
import django
from django.conf import settings
settings.configure(CACHES={{"default": {{"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}}})
django.setup()
from pathlib import Path
from workers.engines.limits import Limits
from workers.engines.spark import SparkEngine
engine = SparkEngine("local", Path({str(science[0])!r}), Path({str(science[1])!r}), Limits(spark_cores=1, spark_memory="700MB"))
context = engine.spark.sparkContext
heap = context._jvm.java.lang.Runtime.getRuntime().maxMemory() // 2**20
print(context.master, context.defaultParallelism, engine.spark.conf.get("spark.driver.memory"), 500 < heap <= 700)
"""
    done = run_python(code, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["local[1]", "1", "700m", "True"]


# ---- what the user sees ------------------------------------------------------------------------------

def _upload(rows: int = 2000) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("t.csv", ("x\n" + "\n".join(str(i) for i in range(rows)) + "\n").encode())


# Every pair of 2,000 rows is a group: 4M groups, far past 40 MB and 1 MB of spill space.
PAIRS = ("SELECT k, COUNT(*) AS n FROM (SELECT a.x * 100000 + b.x AS k FROM TAP_UPLOAD.t AS a, TAP_UPLOAD.t AS b) AS s "
         "GROUP BY k")


@pytest.fixture
def tight(limits_settings: Any) -> Any:
    limits_settings.ENGINE_LIMITS = {**limits_settings.ENGINE_LIMITS, "memory_limit": "40MB", "threads": 1,
                                     "max_temp_directory_size": "1MB"}
    limits_settings.ENGINE_WEB_LIMITS = {"memory_limit": "40MB", "threads": 1}
    return limits_settings


@pytest.mark.django_db
def test_a_sync_query_over_the_web_process_limit_is_a_400_with_the_reason(tight: Any, client: Client) -> None:
    response = client.post("/tap/sync", {"LANG": "ADQL", "QUERY": PAIRS, "UPLOAD": "t,param:t", "t": _upload()})
    body = b"".join(response.streaming_content) if response.streaming else response.content  # type: ignore[attr-defined]
    assert response.status_code == 400, body[:500]
    assert OUT_OF_MEMORY.encode() in body
    assert QueryJob.objects.get().phase == phases.ERROR


@pytest.mark.django_db
def test_an_async_query_over_its_queue_limit_ends_in_error_with_the_reason(tight: Any, client: Client,
                                                                          django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/tap/async", {"LANG": "ADQL", "QUERY": PAIRS, "UPLOAD": "t,param:t", "t": _upload(),
                                              "PHASE": "RUN"})
    assert response.status_code == 303
    job = QueryJob.objects.get()
    assert job.phase == phases.ERROR and job.error.startswith(OUT_OF_MEMORY)
    error = client.get(response["Location"] + "/error")
    assert error.status_code == 200 and OUT_OF_MEMORY in error.content.decode()
