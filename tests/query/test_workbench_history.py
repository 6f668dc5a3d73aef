"""The history: filters by text, table, phase, queue, engine and date; rerun with or without edits;
run time and start shown; TAP sync calls from scripts kept apart; the activity page links to the job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.query.models import QueryJob
from apps.query.views import duration
from apps.uws import phases

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _rows(client: Client, query: str) -> int:
    return client.get("/query/jobs/" + query).content.decode().count('data-job="')


def test_the_history_filters_by_table_queue_engine_dates_and_keeps_sync_calls_apart(users: Any) -> None:
    now = timezone.now()
    for i in range(12):
        job = QueryJob.objects.create(owner=users.owner, query=f"SELECT {i} AS n", table_name=f"t{i}",
                                      phase=phases.COMPLETED, queue="long" if i % 2 else "quick", engine="duckdb" if i % 3 else "postgresql",
                                      source=QueryJob.SOURCE_TAP_SYNC if i == 11 else QueryJob.SOURCE_WEB)
        QueryJob.objects.filter(pk=job.pk).update(created=now - timedelta(days=i))
    client = _client(users.owner)
    with CaptureQueriesContext(connection) as queries:
        assert _rows(client, "") == 11  # the sync call is left out
    assert len(queries) <= 14
    assert _rows(client, "?sync=1") == 12
    assert _rows(client, "?table=t1") == 2  # t1, t10
    assert _rows(client, "?queue=long") == 5
    assert _rows(client, "?engine=postgresql") == 4  # 0, 3, 6, 9
    since = (now - timedelta(days=3)).date().isoformat()
    assert _rows(client, f"?since={since}") == 4
    assert _rows(client, f"?since={since}&until={(now - timedelta(days=2)).date().isoformat()}") == 2
    assert _rows(client, "?since=not-a-date") == 11  # a bad date is ignored, not a 500


def test_the_history_shows_start_and_run_time(users: Any) -> None:
    start = timezone.now() - timedelta(minutes=5)
    QueryJob.objects.create(owner=users.owner, query="SELECT 1", phase=phases.COMPLETED, start_time=start, end_time=start + timedelta(seconds=185))
    page = _client(users.owner).get("/query/jobs/").content.decode()
    assert "3 min 5 s" in page and start.strftime("%Y-%m-%d %H:%M:%S") in page
    assert duration(start, start + timedelta(seconds=0.5)) == "0.50 s" and duration(start, None) == ""


def test_a_job_reruns_unchanged_as_a_new_job_and_only_for_its_owner(users: Any, run_job: Any, stars: Any,
                                                                   django_capture_on_commit_callbacks: Any) -> None:
    old = run_job(users.owner, "SELECT TOP 2 ra FROM TAP_UPLOAD.stars", uploads=[stars], queue="quick")
    assert old.phase == phases.COMPLETED, old.error
    assert _client(users.outsider).post(f"/query/jobs/{old.id}/rerun").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(users.owner).post(f"/query/jobs/{old.id}/rerun")
    assert response.status_code == 302
    new = QueryJob.objects.exclude(pk=old.pk).get(owner=users.owner)
    assert new.query == old.query and new.queue == old.queue and new.phase == phases.COMPLETED
    assert new.parameters["rerun_of"] == str(old.id) and new.table_name != old.table_name
    assert response["Location"] == f"/query/jobs/{new.id}/"


def test_the_activity_page_shows_the_query_and_links_the_job(users: Any, run_job: Any, stars: Any) -> None:
    job = run_job(users.owner, "SELECT TOP 1 ra AS three_marker FROM TAP_UPLOAD.stars", uploads=[stars])
    page = _client(users.owner).get("/activity/").content.decode()
    assert f'href="/query/jobs/{job.id}/"' in page
    assert "three_marker" in page


def test_the_viewer_filters_rows_with_an_adql_condition_on_the_stored_table(users: Any, run_job: Any, stars: Any) -> None:
    job = run_job(users.owner, "SELECT * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="cat")
    client = _client(users.owner)
    answer = client.get(f"/query/jobs/{job.id}/rows", {"where": "source_id <= 10 AND mag > 0", "limit": 3, "sort": "source_id", "desc": "1"}).json()
    assert answer["total"] == 10 and [r[0] for r in answer["rows"]] == [10, 9, 8]
    bad = client.get(f"/query/jobs/{job.id}/rows", {"where": "nosuchcolumn > 1"})
    assert bad.status_code == 400 and "nosuchcolumn" in bad.json()["error"].lower()
    assert client.get(f"/query/jobs/{job.id}/rows", {"where": "1=1) --"}).status_code == 400


def test_filtering_a_shared_table_needs_the_right_to_query_it(users: Any, run_job: Any, stars: Any) -> None:
    from apps.access.actions import do_grant

    job = run_job(users.owner, "SELECT * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="cat")
    do_grant(users.owner, job.resource, "read", user=users.member)
    member = _client(users.member)
    refused = member.get(f"/query/jobs/{job.id}/rows", {"where": "source_id < 5"})
    assert refused.status_code == 400 and "query right" in refused.json()["error"]
    assert member.get(f"/query/jobs/{job.id}/rows").status_code == 200  # reading pages still works
    assert _client(users.outsider).get(f"/query/jobs/{job.id}/rows", {"where": "source_id < 5"}).status_code == 404
