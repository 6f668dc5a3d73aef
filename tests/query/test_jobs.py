"""Jobs through the actions on the embedded DuckDB engine: run, fail readably, abort, change, delete."""

from __future__ import annotations

from typing import Any

import pytest

from apps.activity.models import Event
from apps.query import actions, kinds
from apps.query.models import QueryJob
from apps.query.planning import QueryError
from apps.query.queues import QueueError
from apps.uws import phases

pytestmark = pytest.mark.django_db


def test_it_creates_a_pending_job_without_checking_the_query(users: Any) -> None:
    job = actions.do_create_job(users.owner, query="SELEKT nonsense")
    assert job.phase == phases.PENDING
    assert job.destruction is not None


def test_it_runs_a_query_to_completed_with_rows_and_columns(users: Any, stars: Any, run_job: Any) -> None:
    job = run_job(users.owner, "SELECT TOP 5 source_id, ra, mag FROM TAP_UPLOAD.stars ORDER BY source_id", uploads=[stars])
    assert job.phase == phases.COMPLETED, job.error
    assert job.row_count == 5
    assert [c["name"] for c in job.result_columns] == ["source_id", "ra", "mag"]
    assert job.engine == "duckdb" and job.size_bytes and job.size_bytes > 0
    rows = [r for b in actions.result_batches(job) for r in b.column(0).to_pylist()]
    assert rows == [1, 2, 3, 4, 5]


def test_a_bad_query_ends_in_error_with_a_readable_message(users: Any, run_job: Any) -> None:
    job = run_job(users.owner, "SELECT ra FROM\nWHERE")
    assert job.phase == phases.ERROR
    assert job.error.startswith("Query error:") and "line 2" in job.error


def test_an_unknown_table_ends_in_error_naming_it(users: Any, run_job: Any) -> None:
    job = run_job(users.owner, "SELECT * FROM nowhere.nothing")
    assert job.phase == phases.ERROR
    assert "nothing" in job.error


def test_an_unknown_queue_is_refused_when_the_job_is_created(users: Any, run_job: Any) -> None:
    """Refused, not stored: a job naming a queue that does not exist could never be shown or run."""
    before = QueryJob.objects.count()
    with pytest.raises(QueueError, match="eternal"):
        run_job(users.owner, "SELECT 1 AS one FROM TAP_SCHEMA.tables", queue="eternal")
    assert QueryJob.objects.count() == before


def test_anonymous_users_may_not_use_the_long_queue(users: Any, stars: Any, run_job: Any) -> None:
    with pytest.raises(QueueError, match="may not use the long queue"):
        run_job(None, "SELECT TOP 1 ra FROM TAP_UPLOAD.stars", uploads=[stars], queue="long")
    job = run_job(users.outsider, "SELECT TOP 1 ra FROM TAP_UPLOAD.stars", uploads=[stars], queue="long")
    assert job.phase == phases.COMPLETED, job.error


def test_maxrec_truncates_and_flags_overflow(users: Any, stars: Any, run_job: Any) -> None:
    job = run_job(users.owner, "SELECT source_id FROM TAP_UPLOAD.stars", uploads=[stars], maxrec=10)
    assert job.phase == phases.COMPLETED, job.error
    assert job.row_count == 10 and job.overflow
    assert sum(b.num_rows for b in actions.result_batches(job)) == 10


def test_parameters_change_only_while_pending(users: Any, stars: Any, run_job: Any) -> None:
    job = actions.do_create_job(users.owner, query="SELECT 1")
    actions.do_update_job(job, query="SELECT TOP 3 ra FROM TAP_UPLOAD.stars", maxrec=2, execution_duration=30)
    job.refresh_from_db()
    assert job.maxrec == 2 and job.execution_duration == 30
    done = run_job(users.owner, "SELECT TOP 1 ra FROM TAP_UPLOAD.stars", uploads=[stars])
    with pytest.raises(QueryError):
        actions.do_update_job(done, query="SELECT 2")
    with pytest.raises(QueryError):
        actions.do_update_job(job, owner=users.outsider)


def test_aborting_a_queued_job_means_it_never_runs(users: Any, stars: Any, django_capture_on_commit_callbacks: Any) -> None:
    job = actions.do_create_job(users.owner, query="SELECT ra FROM TAP_UPLOAD.stars", uploads=[stars])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        actions.do_run_job(job)
    actions.do_abort_job(job)
    for callback in callbacks:  # the task arrives after the abort
        callback()
    job.refresh_from_db()
    assert job.phase == phases.ABORTED and job.result_table == ""


def test_a_users_abort_is_recorded_as_activity(users: Any, stars: Any) -> None:
    job = actions.do_create_job(users.owner, query="SELECT ra FROM TAP_UPLOAD.stars", uploads=[stars])
    actions.do_abort_job(job)
    event = Event.objects.get(kind=kinds.QUERY_ABORTED)
    assert event.user == users.owner and event.details["job"] == str(job.id) and event.details["phase"] == phases.PENDING


def test_deleting_a_job_deletes_its_stored_data(users: Any, stars: Any, run_job: Any, settings: Any) -> None:
    job = run_job(users.owner, "SELECT ra, dec FROM TAP_UPLOAD.stars", uploads=[stars], table_name="doomed")
    assert job.phase == phases.COMPLETED, job.error
    stored = list(settings.MYDB_DIR.rglob("doomed*"))
    assert stored, "the DuckDB engine keeps results as Parquet under MYDB_DIR"
    actions.do_delete_job(job)
    assert not any(p.exists() for p in stored)
    assert not type(job).objects.filter(pk=job.pk).exists()


def test_anonymous_results_are_named_by_their_job_only(users: Any, stars: Any, run_job: Any) -> None:
    first = run_job(None, "SELECT TOP 2 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="shared")
    second = run_job(None, "SELECT TOP 3 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="shared")
    assert first.phase == second.phase == phases.COMPLETED, first.error + second.error
    assert first.result_table == f"job_{first.id.hex}" and second.result_table == f"job_{second.id.hex}"
    assert [sum(b.num_rows for b in actions.result_batches(j)) for j in (first, second)] == [2, 3]


def test_a_job_run_at_creation_is_queued_in_its_creating_transaction_without_a_second_lock_or_queue_check(
        users: Any, stars: Any, django_capture_on_commit_callbacks: Any) -> None:
    """UWS PHASE=RUN (POST /tap/async): the new row is nobody else's yet and its queue was checked a moment
    ago, so it is queued without SELECT ... FOR UPDATE, a nested savepoint, or the queue's privileges read again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with django_capture_on_commit_callbacks(execute=True), CaptureQueriesContext(connection) as ctx:  # the job runs after
        job = actions.do_create_job(users.owner, query="SELECT TOP 3 source_id FROM TAP_UPLOAD.stars", uploads=[stars],
                                    run=True)
    statements = [q["sql"] for q in ctx.captured_queries]
    assert not [s for s in statements if "FOR UPDATE" in s]
    assert len([s for s in statements if s.startswith("SAVEPOINT")]) <= 1  # the action's own transaction (in the test's)
    assert len([s for s in statements if '"access_resource"."type" = ' in s and "'queue'" in s]) <= 2  # once: the resource, its privilege
    job.refresh_from_db()
    assert job.phase == phases.COMPLETED and job.row_count == 3, job.error  # queued, sent on commit, run (eager)


def test_a_job_run_at_creation_in_a_queue_it_may_not_use_is_still_refused(users: Any) -> None:
    with pytest.raises(QueueError):
        actions.do_create_job(None, query="SELECT 1 AS x", queue="long", run=True)
    assert not QueryJob.objects.exists()


def test_a_job_run_at_creation_with_a_bad_query_ends_in_error_at_once(users: Any) -> None:
    job = actions.do_create_job(users.owner, query="SELEKT nonsense", run=True)
    assert job.phase == phases.ERROR and job.error
    assert QueryJob.objects.get(pk=job.pk).phase == phases.ERROR
