"""Worker heartbeats: VOSI availability and the query pages say whether a worker would run a query."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from apps.core.actions import do_forget_worker, do_record_heartbeat
from apps.core.models import WorkerHeartbeat
from tests.uws.schemas import assert_valid

AVAIL = "{http://www.ivoa.net/xml/VOSIAvailability/v1.0}"


@pytest.fixture
def real_workers(settings: Any) -> Iterator[None]:
    """Tasks go to workers (not run eagerly in the web process), as in production."""
    from daiquiri.celery import app

    eager = app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = eager


def _availability(client: Client) -> tuple[str | None, str | None]:
    root = assert_valid(client.get("/tap/availability").content)
    return root.findtext(f"{AVAIL}available"), root.findtext(f"{AVAIL}note")


@pytest.mark.django_db
def test_without_a_live_worker_tap_is_unavailable_and_says_why(client: Client, real_workers: None) -> None:
    available, note = _availability(client)
    assert available == "false" and note is not None and "No query worker is running" in note
    do_record_heartbeat("celery@old:1", timezone.now() - timedelta(hours=1))
    WorkerHeartbeat.objects.update(seen=timezone.now() - timedelta(minutes=5))  # killed minutes ago: stale
    assert _availability(client)[0] == "false"


@pytest.mark.django_db
def test_a_fresh_heartbeat_makes_tap_available_until_the_worker_leaves(client: Client, real_workers: None) -> None:
    do_record_heartbeat("celery@host:42", timezone.now())
    assert _availability(client) == ("true", "The service is accepting queries.")
    do_forget_worker("celery@host:42")
    assert _availability(client)[0] == "false"


@pytest.mark.django_db
def test_eager_tasks_count_as_live_workers(client: Client) -> None:
    assert WorkerHeartbeat.objects.count() == 0
    assert _availability(client)[0] == "true"
    assert 'id="workers-notice"' not in client.get("/query/").content.decode()


@pytest.mark.django_db
def test_the_query_pages_show_a_notice_while_no_worker_is_alive(client: Client, real_workers: None) -> None:
    assert 'id="workers-notice"' in client.get("/query/").content.decode()
    do_record_heartbeat("celery@host:42", timezone.now())
    assert 'id="workers-notice"' not in client.get("/query/").content.decode()


@pytest.mark.django_db
def test_heartbeats_of_workers_silent_for_a_day_are_removed(real_workers: None) -> None:
    do_record_heartbeat("celery@gone:1", timezone.now())
    WorkerHeartbeat.objects.update(seen=timezone.now() - timedelta(days=2))
    do_record_heartbeat("celery@host:2", timezone.now())
    assert list(WorkerHeartbeat.objects.values_list("name", flat=True)) == ["celery@host:2"]


@pytest.mark.django_db(transaction=True)  # beat() closes its connection, as the worker's thread must
def test_a_worker_whose_broker_is_unreachable_does_not_count_as_alive(tmp_path: Any) -> None:
    from daiquiri.celery import app
    from workers.heartbeat import beat

    saved = {k: app.conf[k] for k in ("broker_url", "broker_transport", "broker_transport_options")}
    try:
        with socket.socket() as closed:  # a port nobody listens on: connections are refused
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        app.conf.update(broker_url=f"redis://127.0.0.1:{port}/0", broker_transport=None, broker_transport_options={})
        assert beat("celery@cut-off:1", timezone.now()) is False
        assert not WorkerHeartbeat.objects.exists()
        app.conf.update(broker_url=f"sqlite:///{tmp_path / 'broker.sqlite3'}", broker_transport="daiquiri.celery:EmbeddedTransport")
        assert beat("celery@cut-off:1", timezone.now()) is True
        assert WorkerHeartbeat.objects.filter(name="celery@cut-off:1").exists()
    finally:
        app.conf.update(saved)
