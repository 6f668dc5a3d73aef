"""Queues: who may submit to which, answered by reads that write nothing."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.access.actions import do_grant
from apps.access.models import Resource
from apps.query.queues import RESOURCE_TYPE, SUBMIT, check_queue, do_create_queue_resources, queues_for


def _writes(queries: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_it_lists_and_checks_queues_without_writing_a_row(users: Any) -> None:
    Resource.objects.filter(type=RESOURCE_TYPE).delete()  # as for a queue added to the settings since the last migration
    with CaptureQueriesContext(connection) as queries:
        anonymous = [q.name for q in queues_for(users.anonymous)]
        registered = [q.name for q in queues_for(users.outsider)]
        check_queue(users.outsider, "long")
    assert (anonymous, registered) == (["quick"], ["quick", "long"])
    assert _writes(queries) == []
    assert not Resource.objects.filter(type=RESOURCE_TYPE).exists()


def test_it_answers_alike_before_and_after_the_queue_rows_exist(users: Any) -> None:
    Resource.objects.filter(type=RESOURCE_TYPE).delete()
    before = {u: [q.name for q in queues_for(u)] for u in (users.anonymous, users.outsider)}
    do_create_queue_resources()
    do_create_queue_resources()  # idempotent, as after every migration
    after = {u: [q.name for q in queues_for(u)] for u in (users.anonymous, users.outsider)}
    assert before == after
    assert Resource.objects.filter(type=RESOURCE_TYPE).count() == 2


def test_a_queue_granted_to_one_user_is_theirs_alone(users: Any, settings: Any) -> None:
    settings.QUERY_QUEUES = {**settings.QUERY_QUEUES, "night": {"time_limit": 60, "who": ""}}
    do_create_queue_resources()
    do_grant(None, Resource.objects.get(type=RESOURCE_TYPE, name="night"), SUBMIT, user=users.member)
    assert "night" in [q.name for q in queues_for(users.member)]
    assert "night" not in [q.name for q in queues_for(users.outsider)]
