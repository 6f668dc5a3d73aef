"""Workers: atomic claims, per-user concurrency, the reaper, and a real worker killed mid-query."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.query import actions
from apps.query.models import QueryJob
from apps.uws import phases
from workers import query_execution as execution
from workers.engines import get_engine, mydb_table

from .conftest import star_table

ROOT = Path(__file__).resolve().parents[2]


def _queued(owner: Any, **extra: Any) -> QueryJob:
    return QueryJob.objects.create(owner=owner, query="SELECT 1", phase=phases.QUEUED, queued=timezone.now(), **extra)


@pytest.mark.django_db
def test_a_job_is_claimed_once(users: Any) -> None:
    job = _queued(users.owner)
    assert execution.claim(str(job.id), "w1") == execution.CLAIMED
    assert execution.claim(str(job.id), "w2") == execution.GONE
    job.refresh_from_db()
    assert job.phase == phases.EXECUTING and job.worker == "w1" and job.heartbeat is not None


@pytest.mark.django_db
def test_the_per_user_concurrency_limit_keeps_jobs_queued(users: Any, settings: Any) -> None:
    settings.QUERY_QUEUES = {**settings.QUERY_QUEUES, "quick": {**settings.QUERY_QUEUES["quick"], "concurrency": 1}}
    first, second, other = _queued(users.owner), _queued(users.owner), _queued(users.outsider)
    assert execution.claim(str(first.id), "w") == execution.CLAIMED
    assert execution.claim(str(second.id), "w") == execution.BUSY
    assert execution.claim(str(other.id), "w") == execution.CLAIMED
    second.refresh_from_db()
    assert second.phase == phases.QUEUED


@pytest.mark.django_db
def test_the_reaper_ends_jobs_without_heartbeat_and_resends_lost_ones(users: Any, monkeypatch: Any) -> None:
    sent: list[str] = []
    from workers import query as tasks

    monkeypatch.setattr(tasks.run_query, "delay", lambda job_id: sent.append(job_id))
    long_ago = timezone.now() - timedelta(hours=1)
    dead = QueryJob.objects.create(owner=users.owner, query="x", phase=phases.EXECUTING, heartbeat=long_ago, worker="gone@host")
    alive = QueryJob.objects.create(owner=users.owner, query="x", phase=phases.EXECUTING, heartbeat=timezone.now(), worker="w@host",
                                    start_time=timezone.now() - timedelta(minutes=1))
    lost = QueryJob.objects.create(owner=users.owner, query="x", phase=phases.QUEUED, queued=long_ago)
    fresh = _queued(users.owner)
    assert execution.reap() == {"reaped": 1, "requeued": 1, "destroyed": 0}
    dead.refresh_from_db(), alive.refresh_from_db()
    assert dead.phase == phases.ERROR and "worker running this query stopped" in dead.error
    assert alive.phase == phases.EXECUTING
    assert sent == [str(lost.id)] and str(fresh.id) not in sent
    assert execution.reap(worker="w@host", booted=timezone.now() - timedelta(hours=2))["reaped"] == 0  # claimed since boot
    assert execution.reap(worker="w@host", booted=timezone.now())["reaped"] == 1  # a restarted worker ends its old jobs


@pytest.mark.skipif(connection.vendor != "postgresql", reason="asynchronous commit is a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
def test_a_claim_commits_without_waiting_for_the_disk_and_the_finish_still_waits(users: Any) -> None:
    job = _queued(users.owner)
    with CaptureQueriesContext(connection) as ctx:
        assert execution.claim(str(job.id), "w1") == execution.CLAIMED
    statements = [q["sql"] for q in ctx.captured_queries]
    claims = [s for s in statements if s.startswith('UPDATE "query_queryjob"')]
    assert len(claims) == 1 and "set_config('synchronous_commit', 'off', true)" in claims[0]
    assert len(statements) == 2  # one round trip for the claim (the other reads the job), no BEGIN/SET/COMMIT around it
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"  # for that transaction only: the session's other commits wait for the disk
    job.refresh_from_db()
    with CaptureQueriesContext(connection) as ctx:
        assert actions.do_finish_job(job, phases.COMPLETED, row_count=0)
    assert not [q for q in ctx.captured_queries if "synchronous_commit" in q["sql"]]  # a result's record is kept safe


@pytest.mark.django_db
def test_a_claim_lost_in_a_database_crash_only_makes_the_job_run_again(users: Any, stars: Any, monkeypatch: Any) -> None:
    """The claim's commit does not wait for the disk: after a database crash the job may be QUEUED again while
    a worker runs it. That run keeps nothing (its finish finds the job not EXECUTING), and the next delivery runs it."""
    job = QueryJob.objects.create(owner=users.owner, query="SELECT TOP 3 source_id FROM TAP_UPLOAD.stars", phase=phases.QUEUED,
                                  queued=timezone.now(), uploads=[stars.as_json()])
    claim = execution.do_claim_job

    def claimed_then_lost(job: QueryJob, worker: str, **planned: Any) -> str:
        outcome = claim(job, worker, **planned)
        QueryJob.objects.filter(pk=job.pk).update(phase=phases.QUEUED, start_time=None, heartbeat=None, worker="")
        return outcome

    # Held as a broker holds the message: run in place (eager), the job sent again would be claimed and lost
    # again inside this run, over and over, until Python's recursion limit stopped it somewhere.
    sent: list[tuple[str, ...]] = []
    monkeypatch.setattr(execution, "send_task", lambda name, *args: sent.append((name, *args)))
    monkeypatch.setattr(execution, "do_claim_job", claimed_then_lost)
    assert execution.execute_job(str(job.id), "w1") == execution.CLAIMED
    job.refresh_from_db()
    assert job.phase == phases.QUEUED and not job.result_table and job.table_name
    assert sent == [("workers.query.run_query", str(job.id))]  # the freed slot sends the QUEUED job again
    assert not get_engine("duckdb").store.exists(mydb_table(users.owner.pk, job.table_name))  # dropped
    monkeypatch.undo()
    assert execution.execute_job(str(job.id), "w2") == execution.CLAIMED  # the message sent again (the reaper's sweep)
    job.refresh_from_db()
    assert job.phase == phases.COMPLETED and job.row_count == 3, job.error


def _worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "daiquiri", "worker", "--pool", "solo", "-n", name, "--loglevel", "info",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )


def _wait(job: QueryJob, wanted: set[str], seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.phase in wanted:
            return job.phase
        time.sleep(0.2)
    return job.phase


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_leaves_no_job_executing_and_loses_no_queued_job(users: Any, tmp_path: Path) -> None:
    """A real worker on Redis is killed (SIGKILL) mid-query; a second worker's reaper ends the job in
    ERROR and sends a QUEUED job whose message the broker lost."""
    from kombu import Connection

    from daiquiri.celery import app
    from workers.query import run_query

    app.conf.task_always_eager = False  # the conftest fixture restores it

    broker = "redis://127.0.0.1:6379/13"
    pq.write_table(star_table(3000), tmp_path / "big.parquet")
    db = django_settings.DATABASES["default"]
    env = {**os.environ, "DB_ENGINE": "postgresql", "DB_NAME": db["NAME"], "CELERY_BROKER_URL": broker,
           "REDIS_URL": "redis://127.0.0.1:6379/13", "MYDB_DIR": str(tmp_path / "mydb"), "DEFAULT_ENGINE": "duckdb",
           "QUERY_HEARTBEAT_SECONDS": "1", "QUERY_STALE_AFTER_SECONDS": "3", "QUERY_REQUEUE_AFTER_SECONDS": "2",
           "QUERY_REAPER_SECONDS": "1", "C_FORCE_ROOT": "1", "CELERY_TASK_ALWAYS_EAGER": "false",
           "SECRET_KEY": os.environ.get("SECRET_KEY", "test-only-secret-key-test-only-secret-key-test-only"),
           "DAIQUIRI_VAR_DIR": str(tmp_path / "var")}
    with Connection(broker) as conn:
        conn.default_channel.client.flushdb()
    slow = QueryJob.objects.create(
        owner=users.owner, phase=phases.QUEUED, queued=timezone.now(), engine="duckdb",
        query="SELECT COUNT(*) AS n FROM TAP_UPLOAD.big AS a, TAP_UPLOAD.big AS b, TAP_UPLOAD.big AS c WHERE SIN(a.mag * b.mag * c.mag) > 0.5",
        uploads=[{"name": "big", "path": str(tmp_path / "big.parquet")}], queue="long",
    )
    first = _worker(f"qa-{uuid.uuid4().hex[:6]}@test", env, tmp_path / "worker1.log")
    second = None
    try:
        with Connection(broker) as conn:
            run_query.apply_async((str(slow.id),), connection=conn)
        assert _wait(slow, {phases.EXECUTING, phases.ERROR}, 60) == phases.EXECUTING, slow.error + (tmp_path / "worker1.log").read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        lost = QueryJob.objects.create(
            owner=users.owner, phase=phases.QUEUED, queued=timezone.now() - timedelta(minutes=5), engine="duckdb",
            query="SELECT TOP 3 source_id FROM TAP_UPLOAD.big", uploads=[{"name": "big", "path": str(tmp_path / "big.parquet")}],
        )
        second = _worker(f"qb-{uuid.uuid4().hex[:6]}@test", env, tmp_path / "worker2.log")
        assert _wait(slow, {phases.ERROR}, 60) == phases.ERROR, (tmp_path / "worker2.log").read_text()
        assert "worker running this query stopped" in slow.error
        assert _wait(lost, {phases.COMPLETED, phases.ERROR}, 60) == phases.COMPLETED, lost.error or (tmp_path / "worker2.log").read_text()
        assert lost.row_count == 3
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.mark.django_db(transaction=True)
def test_between_tasks_a_worker_hands_its_connection_back_to_the_pool_and_keeps_the_pool() -> None:
    """Celery's own fix-up closed a prefork child's whole pool around every task: a new PostgreSQL connection,
    set up again, for every job (12-17 ms of a tiny async job). Ours ends a task as Django ends a request."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    from daiquiri.celery import PooledDjangoFixup, PooledWorkerFixup, app

    installed = [f for f in app._fixups if isinstance(f, PooledDjangoFixup)]
    assert len(installed) == 1 and isinstance(installed[0].worker_fixup, PooledWorkerFixup)
    assert not any(type(f).__name__ == "DjangoFixup" for f in app._fixups)  # Celery's own is not installed beside it
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
    pool = DatabaseWrapper._connection_pools[connection.alias]  # type: ignore[attr-defined]
    held = connection.connection
    from types import SimpleNamespace

    fixup = installed[0].worker_fixup
    fixup.worker = SimpleNamespace(pool_cls="celery.concurrency.prefork")  # as in a prefork child
    try:
        fixup.on_task_postrun(sender=SimpleNamespace(request=SimpleNamespace(is_eager=False)))  # a task ended
    finally:
        fixup.worker = None
    assert connection.connection is None and held.closed is False  # handed back, still open in the pool
    assert DatabaseWrapper._connection_pools.get(connection.alias) is pool and not pool.closed  # type: ignore[attr-defined]
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)
