"""A synchronous query's bookkeeping: with Redis the per-user limit is counted there and the job with its
activity record is written once, when it ends, with the ends of other queries in one commit (nothing touches
the portal database before the first byte); without Redis the job is written and counted in the database first. Either way the job ends up in
its owner's history, the limit holds, and long queries show while they run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.activity.kinds import QUERY_SUBMITTED
from apps.activity.models import Event
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
    assert job.start_time and job.end_time and job.created <= job.start_time <= job.end_time  # created when asked, not when written
    assert Event.objects.filter(kind=QUERY_SUBMITTED, user=user, details__job=str(job.pk)).count() == 1
    assert job in jobs_for(user)  # the user's history lists it


def _commits_of(jobs: list[QueryJob]) -> set[str]:
    """The transactions that inserted ``jobs`` (PostgreSQL's xmin)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT xmin::text FROM {QueryJob._meta.db_table} WHERE id = ANY(%s)", [[j.pk for j in jobs]])
        return {row[0] for row in cursor.fetchall()}


def test_with_a_write_window_the_ends_of_queries_finishing_together_are_written_in_one_commit(settings: Any) -> None:
    settings.QUERY_SYNC_WRITE_MS = 10_000  # longer than the test: only the flush below writes them
    user = make_user("batched")
    results = [actions.run_sync(user, query=QUERY) for _ in range(3)]
    for result in results:
        assert sum(b.num_rows for b in result.batches) == 3  # each query has ended, its slot free
    assert sync_jobs(owner=user) == []  # waiting for the window, in the writer's thread
    assert sync.ends.flush(10)
    jobs = sync_jobs(owner=user)
    assert [(j.phase, j.row_count) for j in jobs] == [(phases.COMPLETED, 3)] * 3
    assert len(_commits_of(jobs)) == 1
    assert Event.objects.filter(kind=QUERY_SUBMITTED, user=user).count() == 3
    assert all(j.start_time and j.end_time and j.created <= j.start_time <= j.end_time for j in jobs)  # created when asked, not when written


def test_a_batch_that_cannot_be_committed_whole_is_written_one_by_one(settings: Any) -> None:
    settings.QUERY_SYNC_WRITE_MS = 10_000
    kept, gone = make_user("kept"), make_user("gone-meanwhile")
    results = [actions.run_sync(kept, query=QUERY), actions.run_sync(gone, query=QUERY)]
    for result in results:
        assert sum(b.num_rows for b in result.batches) == 3
    gone.delete()  # its job now points to nobody: the batch's commit fails on that reference
    assert sync.ends.flush(10)
    assert [j.phase for j in sync_jobs(owner=kept)] == [phases.COMPLETED]
    assert not QueryJob.objects.filter(pk=results[1].job.pk).exists()
    assert sync.heartbeats.tracked() == set()  # neither is beaten for any more


def test_a_flush_writes_the_waiting_ends_without_waiting_for_the_window(settings: Any) -> None:
    settings.QUERY_SYNC_WRITE_MS = 10_000
    user = make_user("waiting")
    result = actions.run_sync(user, query=QUERY)
    assert sum(b.num_rows for b in result.batches) == 3
    started = time.monotonic()
    assert sync.ends.flush(10)  # what a process does as it exits (registered with atexit)
    assert time.monotonic() - started < 5
    assert [j.phase for j in sync_jobs(owner=user)] == [phases.COMPLETED]


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


def test_an_end_its_writer_never_wrote_is_written_by_the_heartbeat(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.QUERY_HEARTBEAT_SECONDS = 1
    settings.QUERY_SYNC_STALE_AFTER_SECONDS = 2
    user = make_user("dropped")
    lost: list[sync.SyncRecord] = []
    monkeypatch.setattr(sync.ends, "submit", lost.append)  # a writer that never gets to it
    result = actions.run_sync(user, query=QUERY)
    assert sum(b.num_rows for b in result.batches) == 3
    assert len(lost) == 1 and not sync_jobs(owner=user)

    def written_by_a_beat() -> bool:
        sync.heartbeats.beat_now()  # a beat finds it ended over a beat ago, and not written
        return [(j.phase, j.row_count) for j in sync_jobs(owner=user)] == [(phases.COMPLETED, 3)]

    assert wait_for(written_by_a_beat, 20)
    sync.write_ends(lost)  # late after all: nothing is written twice
    assert Event.objects.filter(kind=QUERY_SUBMITTED, details__job=str(result.job.pk)).count() == 1
