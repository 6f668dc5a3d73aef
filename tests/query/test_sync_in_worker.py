"""A heavy synchronous query runs in a worker while the request waits; a small one stays in the web process."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.query import actions, sync_in_worker
from apps.query.models import QueryJob
from apps.query.routing import sync_in_worker as runs_in_worker
from apps.query.uploads import Upload
from apps.uws import phases

from .conftest import star_table

ROOT = Path(__file__).resolve().parents[2]
QUERY = "SELECT source_id, mag FROM TAP_UPLOAD.stars ORDER BY source_id"


def _rows(result: Any) -> list[tuple[int, float]]:
    out: list[tuple[int, float]] = []
    for batch in result.batches:
        out += list(zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True))
    return out


def test_spark_and_big_parquet_scans_go_to_a_worker_small_ones_and_server_engines_do_not(settings: Any) -> None:
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 1000
    assert runs_in_worker("spark", None) and runs_in_worker("spark", 10)
    assert runs_in_worker("duckdb", 1001) and not runs_in_worker("duckdb", 1000)
    assert not runs_in_worker("duckdb", None)  # unknown size: as before, in the web process
    assert not runs_in_worker("postgresql", 10**9)  # the scan runs in the database server; the web process streams rows


@pytest.mark.django_db
def test_a_heavy_sync_query_is_run_by_a_worker_and_streams_the_same_rows(users: Any, stars: Upload, settings: Any) -> None:
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 5000  # the upload has 1000 rows: small
    small = actions.run_sync(users.owner, query=QUERY, uploads=[stars])
    in_process = _rows(small)
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 500  # now it is heavy
    heavy = actions.run_sync(users.owner, query=QUERY, uploads=[stars])
    assert _rows(heavy) == in_process and len(in_process) == 1000
    small_job, heavy_job = QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC).order_by("created")
    assert small_job.worker == "" and heavy_job.worker != ""  # only the heavy one was run by a worker
    assert heavy_job.phase == phases.COMPLETED and heavy_job.row_count == 1000
    assert heavy_job.result_table == ""  # the table the worker handed over is dropped once streamed
    assert not list(Path(settings.MYDB_DIR).rglob("sync_*"))


@pytest.mark.django_db
def test_a_heavy_sync_query_that_fails_in_the_worker_fails_the_request_with_the_reason(users: Any, stars: Upload,
                                                                                       settings: Any) -> None:
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 500
    with pytest.raises(actions.QueryError) as error:
        actions.run_sync(users.owner, query="SELECT CAST(name AS INTEGER) AS x FROM TAP_UPLOAD.stars", uploads=[stars])
    assert error.value.message
    job = QueryJob.objects.get(source=QueryJob.SOURCE_TAP_SYNC)
    assert job.phase == phases.ERROR and job.worker != ""


def _peak_rss_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, the peak resident size, to the current size


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def _worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "daiquiri", "worker", "--pool", "solo", "-n", name, "--loglevel", "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )


@pytest.mark.django_db(transaction=True)
def test_a_heavy_sync_query_under_a_real_worker_leaves_the_web_process_memory_flat(users: Any, tmp_path: Path, settings: Any,
                                                                                   monkeypatch: Any) -> None:
    """The same big aggregate, in the web process and then handed to a real worker: only the first grows this process."""
    from kombu import Connection

    from daiquiri.celery import app

    big = tmp_path / "big.parquet"
    pq.write_table(star_table(3_000_000), big, row_group_size=200_000)
    upload = Upload("stars", big)
    query = "SELECT TOP 3 name, COUNT(*) AS n FROM TAP_UPLOAD.stars GROUP BY name ORDER BY n DESC, name"
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 10**9
    _peak_rss_reset()
    before = _peak_rss_mb()
    expected = [b.to_pylist() for b in actions.run_sync(users.owner, query=query, uploads=[upload]).batches]
    grown_in_process = _peak_rss_mb() - before

    broker = "redis://127.0.0.1:6379/12"  # a broker of its own: other tests' workers use 13
    db = django_settings.DATABASES["default"]
    env = {**os.environ, "DB_ENGINE": "postgresql", "DB_NAME": db["NAME"], "CELERY_BROKER_URL": broker,
           "REDIS_URL": broker, "MYDB_DIR": str(settings.MYDB_DIR), "SCIENCE_DIR": str(settings.SCIENCE_DIR),
           "DEFAULT_ENGINE": "duckdb", "C_FORCE_ROOT": "1", "CELERY_TASK_ALWAYS_EAGER": "false",
           "DAIQUIRI_VAR_DIR": str(tmp_path / "var")}
    with Connection(broker) as conn:
        conn.default_channel.client.flushdb()
    name = f"sync-{uuid.uuid4().hex[:6]}@test"
    worker = _worker(name, env, tmp_path / "worker.log")
    app.conf.task_always_eager = False  # the conftest fixture restores it

    def to_that_worker(task: str, *args: Any) -> None:  # its broker, not the one of the other tests' workers
        app.loader.import_default_modules()
        with Connection(broker) as conn:
            app.tasks[task].apply_async(args, connection=conn)

    monkeypatch.setattr(sync_in_worker, "send_task", to_that_worker)
    # Unstamped, as a message from a web process with this worker's configuration would be (its settings differ
    # from this test process's in the storage folders only): workers/checked.py runs it.
    monkeypatch.setattr("apps.core.fingerprint.stamp_task_message", lambda headers=None, **kwargs: None)
    try:
        time.sleep(3)  # the worker's start (the request would wait for it anyway, up to its time limit)
        settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 1000
        _peak_rss_reset()
        before = _peak_rss_mb()
        try:
            got = [b.to_pylist() for b in actions.run_sync(users.owner, query=query, uploads=[upload], timeout_s=60).batches]
        except actions.QueryError as exc:
            raise AssertionError((tmp_path / "worker.log").read_text()[-3000:]) from exc
        grown_in_worker = _peak_rss_mb() - before
    finally:
        worker.terminate()
        worker.wait(20)
    assert got == expected, (tmp_path / "worker.log").read_text()
    assert QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC).order_by("-created").first().worker == name  # type: ignore[union-attr]
    # The aggregate's hash table held 3M names here (40+ MB alone; less late in a suite, whose freed heap it reuses).
    assert grown_in_process > 16, grown_in_process
    assert grown_in_worker < grown_in_process / 4, (grown_in_worker, grown_in_process)


def _job_updates(queries: Any) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE") and "query_queryjob" in q["sql"]]


@pytest.mark.django_db
def test_a_small_result_from_the_worker_is_published_to_the_request_without_a_table(users: Any, stars: Upload,
                                                                                     settings: Any) -> None:
    assert settings.REDIS_URL  # the request subscribes to its job's channel there
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 5000
    expected = _rows(actions.run_sync(users.owner, query=QUERY, uploads=[stars]))
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 500
    with CaptureQueriesContext(connection) as queries:
        got = _rows(actions.run_sync(users.owner, query=QUERY, uploads=[stars]))
    assert got == expected
    assert not [sql for sql in _job_updates(queries) if "result_table" in sql]  # no table named in the job, none dropped
    job = QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC).order_by("-created").first()
    assert job is not None and job.worker != "" and job.row_count == 1000  # the worker's name, written with the end
    assert not list(Path(settings.MYDB_DIR).rglob("sync_*"))


@pytest.mark.django_db
def test_a_result_above_the_published_size_comes_through_a_table_that_is_dropped(users: Any, stars: Upload, settings: Any,
                                                                                 monkeypatch: Any) -> None:
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 5000
    expected = _rows(actions.run_sync(users.owner, query=QUERY, uploads=[stars]))
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 500
    monkeypatch.setattr("workers.query_execution.INLINE_RESULT_BYTES", 1000)  # the 1000 rows are ~16 kB
    with CaptureQueriesContext(connection) as queries:
        got = _rows(actions.run_sync(users.owner, query=QUERY, uploads=[stars]))
    assert got == expected
    assert [sql for sql in _job_updates(queries) if "result_table" in sql]  # named in the job by the worker
    assert QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC).order_by("-created").first().result_table == ""  # type: ignore[union-attr]
    assert not list(Path(settings.MYDB_DIR).rglob("sync_*"))


def test_a_published_result_nobody_receives_is_refused_so_the_worker_writes_a_table() -> None:
    batch = pa.record_batch({"x": [1, 2, 3]})
    assert not sync_in_worker.hand_back_inline(uuid.uuid4().hex, [batch], batch.schema, "w@test")


@pytest.mark.django_db
def test_the_worker_takes_the_job_from_the_message_of_a_subscribed_request_without_reading_it(users: Any, stars: Upload,
                                                                                              settings: Any) -> None:
    settings.QUERY_SYNC_IN_WORKER_ABOVE_ROWS = 500
    with CaptureQueriesContext(connection) as queries:
        assert len(_rows(actions.run_sync(users.owner, query=QUERY, uploads=[stars]))) == 1000
    worker_reads = [q["sql"] for q in queries.captured_queries  # the worker's look-up: the whole job, if EXECUTING
                    if q["sql"].startswith("SELECT") and '"query_queryjob"."native_sql"' in q["sql"] and "'EXECUTING'" in q["sql"]]
    assert worker_reads == []


@pytest.mark.django_db
def test_a_worker_sent_the_job_of_a_request_no_longer_waiting_looks_it_up_and_runs_nothing(users: Any) -> None:
    from workers.query_execution import run_sync_part

    fields = {"owner_id": users.owner.pk, "queue": "default", "engine": "duckdb", "language": "ADQL",
              "native_sql": "SELECT 1 AS x", "result_columns": []}
    job_id = str(uuid.uuid4())  # nobody subscribed to it, and no such job: it has ended
    run_sync_part(job_id, {}, 5.0, "w@test", fields)
    assert not QueryJob.objects.filter(pk=job_id).exists()
    assert not list(Path(django_settings.MYDB_DIR).rglob("sync_*"))
