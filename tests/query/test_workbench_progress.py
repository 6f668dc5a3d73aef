"""While a query runs: elapsed time, the queue's limit, the place in the queue; no size before one is known;
an anonymous result is not titled mydb.…"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.query import live
from apps.query.models import QueryJob
from apps.uws import phases

pytestmark = pytest.mark.django_db


def test_waiting_jobs_know_their_place_in_their_queue(users: Any) -> None:
    now = timezone.now()
    jobs = [QueryJob.objects.create(owner=users.owner, query=f"q{i}", phase=phases.QUEUED, queue="quick", queued=now + timedelta(seconds=i))
            for i in range(3)]
    QueryJob.objects.create(owner=users.member, query="other queue", phase=phases.QUEUED, queue="long", queued=now - timedelta(seconds=9))
    assert [live.job_status(j)["queue_position"] for j in jobs] == [1, 2, 3]
    running = QueryJob.objects.create(owner=users.owner, query="r", phase=phases.EXECUTING, queue="quick", start_time=now)
    status = live.job_status(running)
    assert status["queue_position"] is None and status["time_limit"] > 0 and status["start_time"]


def test_a_running_job_page_shows_elapsed_time_limit_and_no_zero_size(users: Any) -> None:
    job = QueryJob.objects.create(owner=users.owner, query="SELECT 1", phase=phases.EXECUTING, queue="quick",
                                  start_time=timezone.now() - timedelta(seconds=75), size_bytes=0)
    client = Client()
    client.force_login(users.owner)
    page = client.get(f"/query/jobs/{job.id}/").content.decode()
    assert 'id="job-elapsed"' in page and "1 min 15 s" in page
    assert "time limit" in page
    assert "0 bytes" not in page
    assert client.get(f"/query/jobs/{job.id}/status").json()["size_bytes"] is None


def test_an_anonymous_result_is_not_titled_as_a_mydb_table(users: Any) -> None:
    job = QueryJob.objects.create(owner=None, query="SELECT 1", phase=phases.COMPLETED, table_name="job_abc", result_table="job_abc")
    page = Client().get(f"/query/jobs/{job.id}/").content.decode()
    assert "mydb.job_abc" not in page and "<h1>Query result" in page
