"""TAP job parameters read through their one declaration: the same reason for a bad value wherever it is sent,
and a job, its destruction time and its start made by one action."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from apps.query import actions
from apps.query.models import QueryJob
from apps.uws import phases

from .test_async_jobs import create


@pytest.mark.parametrize(("name", "value", "reason"), [
    ("EXECUTIONDURATION", "-5", b"EXECUTIONDURATION must be at least 0, not -5."),
    ("EXECUTIONDURATION", "soon", b"EXECUTIONDURATION must be a whole number, not 'soon'."),
    ("DESTRUCTION", "tomorrow", b"DESTRUCTION must be an ISO 8601 time, not 'tomorrow'."),
    ("MAXREC", "-1", b"MAXREC must be at least 0, not -1."),
])
def test_a_bad_value_gets_the_same_400_at_creation_and_on_the_job(client: Client, demo: Any, name: str, value: str,
                                                                   reason: bytes) -> None:
    refused = client.post("/tap/async", {"LANG": "ADQL", "QUERY": "SELECT 1 AS x", name: value})
    assert refused.status_code == 400 and reason in refused.content
    # This request's job only: a live-server test's client (TOPCAT, a browser) may still be finishing a request.
    assert not QueryJob.objects.filter(query="SELECT 1 AS x").exists(), list(QueryJob.objects.values_list("source", "query"))
    url = create(client, QUERY="SELECT 1 AS x")
    for target in (url, url + "/parameters", url + "/" + name.lower()):
        if target.endswith("/maxrec"):
            continue  # MAXREC has no resource of its own
        answer = client.post(target, {name: value})
        assert answer.status_code == 400 and reason in answer.content, target


def test_creation_with_destruction_and_phase_run_is_one_action(demo: Any) -> None:
    soon = timezone.now() + timedelta(days=1)
    job = actions.do_create_job(None, query="SELECT TOP 1 source_id FROM gaia.source", destruction=soon, run=True)
    assert (job.phase, job.destruction) == (phases.QUEUED, soon)
    late = actions.do_create_job(None, query="SELECT 1 AS x", destruction=timezone.now() + timedelta(days=10_000))
    assert late.phase == phases.PENDING
    assert late.destruction <= late.created + timedelta(days=settings.QUERY_DESTRUCTION_DAYS, seconds=1)  # never kept longer
