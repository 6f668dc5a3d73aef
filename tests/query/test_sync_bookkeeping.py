"""A synchronous query's bookkeeping: with Redis the per-user limit is counted there and the job with its
activity record is written once, after the response (nothing touches the portal database before the first
byte); without Redis the job is written and counted in the database first. Either way the job ends up in
its owner's history, the limit holds, and long queries show while they run."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import AsyncRequestFactory, Client
from django.test.utils import CaptureQueriesContext

from apps.activity.kinds import QUERY_SUBMITTED
from apps.activity.models import Event
from apps.core import streaming
from apps.core.streaming import after_response, streaming_response
from apps.query import actions, live, sync, sync_slots
from apps.query.models import QueryJob
from apps.query.permissions import jobs_for
from apps.uws import phases
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)  # the body streams, and the records are written, in other threads
QUERY = "SELECT TOP 3 table_name FROM TAP_SCHEMA.tables"
SYNC = {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": QUERY}


@pytest.fixture
def no_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live, "_redis", lambda: None)  # the embedded set-up


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def sync_jobs(**filters: Any) -> list[QueryJob]:
    return list(QueryJob.objects.filter(source=QueryJob.SOURCE_TAP_SYNC, **filters).order_by("created"))


def test_with_redis_a_sync_query_sends_no_portal_statement_before_its_body() -> None:
    assert live._redis() is not None, "the test settings have REDIS_URL"
    client = Client()
    b"".join(client.get("/tap/sync", SYNC).streaming_content)  # type: ignore[attr-defined]  # fills what is remembered
    with CaptureQueriesContext(connection) as ctx:
        response = client.get("/tap/sync", SYNC)  # the view has run the query up to its first rows
    assert response.status_code == 200
    assert [q["sql"] for q in ctx.captured_queries] == []
    assert len(sync_jobs()) == 1  # only the first one is written so far
    with CaptureQueriesContext(connection) as ctx:
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert body.rstrip().endswith(b"</VOTABLE>")
    commits = [q["sql"] for q in ctx.captured_queries if "synchronous_commit" in q["sql"]]
    assert len(commits) == 1  # the job and its activity record: one transaction
    assert [j.phase for j in sync_jobs()] == [phases.COMPLETED] * 2


def test_with_redis_the_job_and_its_activity_record_reach_the_history_with_how_it_ended() -> None:
    user = make_user("historian")
    result = actions.run_sync(user, query=QUERY, maxrec=2)
    assert sum(b.num_rows for b in result.batches) == 2 and result.overflow
    job = QueryJob.objects.get(pk=result.job.pk)
    assert (job.owner, job.phase, job.row_count, job.overflow) == (user, phases.COMPLETED, 2, True)
    assert job.created <= job.start_time <= job.end_time  # created when asked, not when written
    assert Event.objects.filter(kind=QUERY_SUBMITTED, user=user, details__job=str(job.pk)).count() == 1
    assert job in jobs_for(user)  # the user's history lists it


def test_under_asgi_the_records_are_written_after_the_last_byte_is_handed_over() -> None:
    """The deferred work runs in the body's producer thread only after the response has ended."""
    release, ran = threading.Event(), threading.Event()

    def chunks() -> Iterator[bytes]:
        try:
            yield b"rows"
        finally:
            after_response(lambda: (release.wait(20), ran.set()))

    async def fetch() -> bytes:
        response = streaming_response(AsyncRequestFactory().get("/"), chunks(), "text/plain")
        return b"".join([chunk async for chunk in response.streaming_content])  # type: ignore[union-attr]

    body = asyncio.run(fetch())
    assert body == b"rows" and not ran.is_set()  # the client has it all while the deferred work still waits
    release.set()
    assert ran.wait(20)


def test_with_redis_the_limit_holds_and_a_finished_query_frees_its_slot(settings: Any) -> None:
    settings.QUERY_SYNC_CONCURRENCY = 2
    user = make_user("limited")
    held = [actions.run_sync(user, query=QUERY) for _ in range(2)]
    with pytest.raises(sync.SyncLimitReached):
        actions.run_sync(user, query=QUERY)
    assert actions.run_sync(None, query=QUERY, client_address="192.0.2.7").job  # another owner is not refused
    for result in held[:1]:
        assert sum(b.num_rows for b in result.batches) == 3
    assert sum(b.num_rows for b in actions.run_sync(user, query=QUERY).batches) == 3
    assert not sync_jobs(owner=user, phase=phases.EXECUTING)  # held ones are not written yet, refused ones never


def test_with_redis_anonymous_clients_are_limited_per_address(settings: Any) -> None:
    settings.QUERY_SYNC_CONCURRENCY = 1
    held = actions.run_sync(None, query=QUERY, client_address="192.0.2.8")
    with pytest.raises(sync.SyncLimitReached, match="your address has 1 running"):
        actions.run_sync(None, query=QUERY, client_address="192.0.2.8")
    assert actions.run_sync(None, query=QUERY, client_address="192.0.2.9").job
    assert sum(b.num_rows for b in held.batches) == 3


def test_a_slot_whose_process_stops_beating_comes_back_after_the_stale_limit(settings: Any) -> None:
    settings.QUERY_SYNC_STALE_AFTER_SECONDS = 1
    key = sync_slots.owner_key(None, "192.0.2.10")
    assert isinstance(sync_slots.take(key, "gone-process", 1), sync_slots.Slot)
    assert sync_slots.take(key, "next", 1) is False
    assert wait_for(lambda: isinstance(sync_slots.take(key, "next", 1), sync_slots.Slot), 5)


def test_a_long_query_is_written_executing_at_its_first_heartbeat(settings: Any) -> None:
    settings.QUERY_HEARTBEAT_SECONDS = 1
    settings.QUERY_SYNC_STALE_AFTER_SECONDS = 2
    user = make_user("patient")
    result = actions.run_sync(user, query=QUERY)
    sync.heartbeats.beat_now()
    assert wait_for(lambda: [j.phase for j in sync_jobs(owner=user)] == [phases.EXECUTING])
    assert Event.objects.filter(kind=QUERY_SUBMITTED, details__job=str(result.job.pk)).count() == 1
    assert sum(b.num_rows for b in result.batches) == 3
    assert [(j.phase, j.row_count) for j in sync_jobs(owner=user)] == [(phases.COMPLETED, 3)]
    assert Event.objects.filter(kind=QUERY_SUBMITTED, details__job=str(result.job.pk)).count() == 1  # not twice


def test_without_redis_the_job_is_written_and_counted_in_the_database_first(settings: Any, no_redis: None) -> None:
    settings.QUERY_SYNC_CONCURRENCY = 2
    user = make_user("embedded")
    held = [actions.run_sync(user, query=QUERY) for _ in range(2)]
    assert [j.phase for j in sync_jobs(owner=user)] == [phases.EXECUTING] * 2  # visible while they run
    with pytest.raises(sync.SyncLimitReached):
        actions.run_sync(user, query=QUERY)
    assert len(sync_jobs(owner=user)) == 2  # the refused one left no job
    for result in held:
        assert sum(b.num_rows for b in result.batches) == 3
    assert [j.phase for j in sync_jobs(owner=user)] == [phases.COMPLETED] * 2
    assert sum(b.num_rows for b in actions.run_sync(user, query=QUERY).batches) == 3


def test_without_redis_a_sync_request_commits_twice(no_redis: None) -> None:
    client = Client()
    b"".join(client.get("/tap/sync", SYNC).streaming_content)  # type: ignore[attr-defined]
    with CaptureQueriesContext(connection) as ctx:
        b"".join(client.get("/tap/sync", SYNC).streaming_content)  # type: ignore[attr-defined]
    assert len([q for q in ctx.captured_queries if "synchronous_commit" in q["sql"]]) == 2  # the job before, its end after


def test_an_end_whose_response_never_went_out_is_written_by_the_heartbeat(settings: Any) -> None:
    settings.QUERY_HEARTBEAT_SECONDS = 1
    settings.QUERY_SYNC_STALE_AFTER_SECONDS = 2
    user = make_user("dropped")
    result = actions.run_sync(user, query=QUERY)
    streaming._producing.deferred = lost = []  # a response whose deferred work will never run (never sent)
    try:
        assert sum(b.num_rows for b in result.batches) == 3
    finally:
        streaming._producing.deferred = None
    assert len(lost) == 1 and not sync_jobs(owner=user)
    sync.heartbeats.beat_now()
    assert wait_for(lambda: [(j.phase, j.row_count) for j in sync_jobs(owner=user)] == [(phases.COMPLETED, 3)], 10)
    lost[0]()  # late after all: nothing is written twice
    assert Event.objects.filter(kind=QUERY_SUBMITTED, details__job=str(result.job.pk)).count() == 1
