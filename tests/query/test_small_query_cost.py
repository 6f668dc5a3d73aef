"""What a small request costs: few database queries, bookkeeping that does not wait for the disk, answers from
memory where the answer rarely changes (and forgotten the moment it does), ratios to the cheapest request."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.core.actions import do_forget_worker, do_record_heartbeat
from apps.metadata.actions import do_create_schema, do_generate_catalogue
from apps.query.models import QueryJob
from apps.tap import availability, service
from apps.uws import phases

CONE = ("SELECT TOP 10 source_id, ra, dec FROM gaia.source "
        "WHERE 1 = CONTAINS(POINT(ra, dec), CIRCLE({ra}, 0, 5))")
WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def gaia(db: None) -> Any:
    return do_generate_catalogue(None, "gaia.source", rows=2000, engine="duckdb")


def _sync(client: Client, ra: float = 10.0) -> bytes:
    response = client.get("/tap/sync", {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": CONE.format(ra=ra)})
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert response.status_code == 200, body[:500]
    return body


def _statements(ctx: CaptureQueriesContext) -> list[str]:
    """What the request sent, less the savepoints its transactions become inside the test's own."""
    return [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


def test_a_small_sync_query_makes_a_bounded_number_of_database_queries(client: Client, gaia: Any) -> None:
    _sync(client, 1.0)  # the first request fills what is remembered
    with CaptureQueriesContext(connection) as ctx:
        body = _sync(client, 2.0)
    assert b"<TABLEDATA>" in body or b"<TR>" in body or b"QUERY_STATUS" in body
    statements = _statements(ctx)
    writes = [s for s in statements if s.lstrip().upper().startswith(WRITES)]
    # The job row with its activity record, as it ends: nothing else is written. Nothing is read (the
    # running sync queries are counted in Redis): catalogue, engines, shared results, links are remembered.
    assert len(writes) <= 3, writes
    assert len(statements) <= 8, "\n".join(s[:200] for s in statements)
    assert QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC, phase=phases.COMPLETED).count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="asynchronous commit is a PostgreSQL setting")
def test_sync_bookkeeping_does_not_wait_for_the_disk_on_postgresql(client: Client, gaia: Any) -> None:
    with CaptureQueriesContext(connection) as ctx:
        _sync(client)
    relaxed = [s for s in _statements(ctx) if "synchronous_commit" in s]
    assert len(relaxed) == 1  # the job with its activity record, written as it ends (the limit is counted in Redis)


def test_the_declared_languages_are_remembered_until_a_schema_changes(db: None) -> None:
    assert "mariadb" not in {lang.name for lang in service.languages()}
    with CaptureQueriesContext(connection) as ctx:
        service.languages()
    assert not [s for s in _statements(ctx) if "metadata_schema" in s]
    do_create_schema(None, "survey_mariadb", engine="mariadb", published=True)
    assert "mariadb" in {lang.name for lang in service.languages()}


def test_availability_is_answered_without_a_database_query(client: Client, db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(availability, "TTL_S", 3600.0)  # however slow this machine is today
    first = client.get("/tap/availability").content
    with CaptureQueriesContext(connection) as ctx:
        again = client.get("/tap/availability").content
    assert again == first and b"available>true<" in again
    assert ctx.captured_queries == []


@pytest.mark.django_db
def test_availability_changes_at_once_when_a_worker_comes_or_goes(client: Client, settings: Any) -> None:
    from daiquiri.celery import app

    eager = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    try:
        assert b"available>false<" in client.get("/tap/availability").content
        do_record_heartbeat("celery@cost:1", timezone.now())
        assert b"available>true<" in client.get("/tap/availability").content
        do_forget_worker("celery@cost:1")
        assert b"available>false<" in client.get("/tap/availability").content
    finally:
        app.conf.task_always_eager = eager


@pytest.mark.django_db
def test_a_worker_gone_silent_is_reported_when_its_heartbeat_expires_without_a_database_query(
        client: Client, settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from daiquiri.celery import app

    eager = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    monkeypatch.setattr(availability, "TTL_S", 3600.0)
    try:
        do_record_heartbeat("celery@cost:2", timezone.now())
        assert b"available>true<" in client.get("/tap/availability").content
        # Every process remembers when the newest heartbeat expires, so they all turn at the same moment.
        later = timezone.now() + timedelta(seconds=settings.WORKER_STALE_AFTER_SECONDS + 1)
        monkeypatch.setattr(availability.timezone, "now", lambda: later)
        with CaptureQueriesContext(connection) as ctx:
            body = client.get("/tap/availability").content
        assert b"available>false<" in body and b"No query worker is running" in body
        assert ctx.captured_queries == []
    finally:
        app.conf.task_always_eager = eager


def _cpu_median(request: Callable[[], Any], n: int) -> float:
    """CPU seconds of one request (process time: the measure the machine's load changes least), median of n."""
    samples = []
    for _ in range(n):
        started = time.process_time()
        request()
        samples.append(time.process_time() - started)
    return statistics.median(samples)


def test_a_small_sync_query_costs_a_small_multiple_of_the_cheapest_request(client: Client, gaia: Any) -> None:
    for i in range(3):
        _sync(client, float(i))
        client.get("/health")
    cheapest = _cpu_median(lambda: client.get("/health"), 15)
    small = _cpu_median(lambda: _sync(client, 20.0), 15)
    assert small <= 60 * max(cheapest, 1e-4), (small, cheapest)


def test_without_redis_a_blocking_wait_looks_again_within_milliseconds_then_less_often(monkeypatch: pytest.MonkeyPatch,
                                                                                          db: None) -> None:
    from apps.query import live

    monkeypatch.setattr(live, "_redis", lambda: None)  # the embedded set-up: nothing tells the wait, it polls
    pauses: list[float] = []
    monkeypatch.setattr(service.time, "sleep", pauses.append)
    job = QueryJob.objects.create(query="SELECT 1", phase=phases.QUEUED)
    clock = iter(range(1000))
    monkeypatch.setattr(service.time, "monotonic", lambda: next(clock) * 0.01)
    service.TapJobStore(None).wait(job, 5.0, phases.QUEUED)  # type: ignore[arg-type]
    assert pauses[0] == service.WAIT_FIRST_POLL_S < service.WAIT_POLL_S
    assert pauses[1] > pauses[0] and max(pauses) == service.WAIT_POLL_S


def test_with_redis_a_blocking_wait_wakes_when_the_job_changes_phase_not_at_its_next_poll(monkeypatch: pytest.MonkeyPatch,
                                                                                          transactional_db: None) -> None:
    import threading

    from apps.query import live

    monkeypatch.setattr(service, "WAIT_POLL_S", 20.0)  # polling alone would look again only after 20 s
    job = QueryJob.objects.create(query="SELECT 1", phase=phases.QUEUED)

    def run_it() -> None:
        time.sleep(0.5)
        QueryJob.objects.filter(pk=job.pk).update(phase=phases.EXECUTING)
        live.notify(QueryJob.objects.get(pk=job.pk))  # what every change of phase does (actions)
        connection.close()

    changer = threading.Thread(target=run_it)
    started = time.monotonic()
    changer.start()
    waited = service.TapJobStore(None).wait(job, 30.0, phases.QUEUED)  # type: ignore[arg-type]
    elapsed = time.monotonic() - started
    changer.join()
    assert waited.phase == phases.EXECUTING
    assert elapsed < 10.0, elapsed  # woken by the change (about 0.5 s), far before a 20 s poll


