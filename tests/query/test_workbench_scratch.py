"""MyScratch: results that do not count against the MyDB quota, chosen per query, cleaned by age."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from apps.query import actions
from apps.query.models import QueryJob, QueryQuota
from apps.query.quotas import used_by
from apps.uws import phases

pytestmark = pytest.mark.django_db


def test_a_scratch_result_runs_when_mydb_is_full_and_is_not_counted(users: Any, run_job: Any, stars: Any, settings: Any) -> None:
    full = run_job(users.owner, "SELECT TOP 5 * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="a")
    assert full.phase == phases.COMPLETED
    QueryQuota.objects.create(user=users.owner, bytes=1)  # the first result fills the space...
    refused = run_job(users.owner, "SELECT TOP 5 * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="b")
    assert refused.phase == phases.ERROR and "full" in refused.error  # ...and the next is refused
    scratch = run_job(users.owner, "SELECT TOP 5 * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="c", scratch=True)
    assert scratch.phase == phases.COMPLETED, scratch.error
    assert used_by(users.owner) == full.size_bytes and used_by(users.owner, scratch=True) == scratch.size_bytes
    again = run_job(users.owner, "SELECT COUNT(*) AS n FROM mydb.c", scratch=True)
    assert next(actions.result_batches(again)).column(0)[0].as_py() == 5
    settings.QUERY_SCRATCH_BYTES = 1
    over = run_job(users.owner, "SELECT TOP 5 * FROM TAP_UPLOAD.stars", uploads=[stars], scratch=True)
    assert over.phase == phases.ERROR  # MyScratch has a bound of its own


def test_old_scratch_results_are_deleted_and_mydb_ones_kept(users: Any, run_job: Any, stars: Any, settings: Any) -> None:
    settings.QUERY_SCRATCH_DAYS = 3
    keep = run_job(users.owner, "SELECT TOP 2 * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="keep")
    old = run_job(users.owner, "SELECT TOP 2 * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="old", scratch=True)
    new = run_job(users.owner, "SELECT TOP 2 * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="new", scratch=True)
    assert old.destruction is not None and old.destruction - old.created < timedelta(days=4)
    QueryJob.objects.filter(pk__in=[keep.pk, old.pk]).update(created=timezone.now() - timedelta(days=5))
    call_command("clean_scratch")
    assert set(QueryJob.objects.values_list("table_name", flat=True)) == {"keep", "new"}
    assert run_job(users.owner, "SELECT COUNT(*) AS n FROM mydb.old").phase == phases.ERROR  # its data went too
    assert new.phase == phases.COMPLETED


def test_the_query_page_chooses_myscratch_per_query(users: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = Client()
    client.force_login(users.owner)
    assert 'name="scratch"' in client.get("/query/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/query/", {"query": "SELECT TOP 1 table_name FROM tap_schema.tables", "queue": "quick", "scratch": "1"})
    assert response.status_code == 302
    job = QueryJob.objects.get(owner=users.owner)
    assert job.scratch
    assert "MyScratch" in client.get(f"/query/jobs/{job.id}/").content.decode()


def test_every_periodic_task_is_a_registered_task_and_scratch_is_cleaned_hourly(settings: Any) -> None:
    from daiquiri.celery import app

    app.loader.import_default_modules()
    schedule = settings.PERIODIC_TASKS
    assert schedule["workers.query.clean_scratch"] == 3600.0
    assert set(schedule) <= set(app.tasks)
