"""The sweep on the embedded SQLite broker: lost messages are sent again, a backlog is never doubled.

A real broker file (daiquiri.celery.EmbeddedTransport); messages are published
and consumed through kombu exactly as the web server and the worker do.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from kombu import Connection
from sqlalchemy.pool import NullPool

from apps.query import execution
from apps.query.models import QueryJob
from apps.uws import phases
from daiquiri.celery import EmbeddedTransport

OPTIONS = {"poolclass": NullPool, "connect_args": {"timeout": 30}}


@pytest.fixture
def broker(tmp_path: Path, monkeypatch: Any) -> Iterator[tuple[str, list[str]]]:
    """The app publishes to and counts a broker file of this test's own; sent job ids are recorded too."""
    from daiquiri.celery import app
    from workers.query import run_query

    url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"
    saved = {k: app.conf[k] for k in ("broker_url", "broker_transport", "broker_transport_options", "task_always_eager")}
    app.conf.update(broker_url=url, broker_transport="daiquiri.celery:EmbeddedTransport", broker_transport_options=OPTIONS,
                    task_always_eager=False)
    sent: list[str] = []

    def publish(job_id: str) -> None:
        sent.append(job_id)
        with _connection(url) as conn:
            run_query.apply_async((job_id,), connection=conn)

    monkeypatch.setattr(run_query, "delay", publish)
    yield url, sent
    app.conf.update(saved)


def _connection(url: str) -> Connection:
    return Connection(url, transport=EmbeddedTransport, transport_options=OPTIONS)


def _take_all(url: str) -> int:
    """Consume every waiting message, as a worker would (and acknowledge it)."""
    taken = 0
    with _connection(url) as conn:
        queue = conn.SimpleQueue("celery")
        try:
            while True:
                queue.get(timeout=0.5).ack()
                taken += 1
        except queue.Empty:
            return taken
        finally:
            queue.close()


def _queued(owner: Any, age: timedelta) -> QueryJob:
    return QueryJob.objects.create(owner=owner, query="SELECT 1", phase=phases.QUEUED, queued=timezone.now() - age)


@pytest.mark.django_db
def test_lost_messages_are_sent_again_but_a_waiting_backlog_is_not_doubled(users: Any, broker: tuple[str, list[str]],
                                                                           settings: Any) -> None:
    url, sent = broker
    settings.QUERY_REQUEUE_AFTER_SECONDS = 60
    old = _queued(users.owner, timedelta(minutes=5))
    young = _queued(users.owner, timedelta(seconds=5))
    assert execution.reap()["requeued"] == 1 and sent == [str(old.id)]  # its message was lost; the young one waits
    assert execution.reap()["requeued"] == 0  # one message waits in the broker: workers are catching up
    assert _take_all(url) == 1
    # The broker restarted empty (or a worker died holding the message): the next sweep sends it again.
    assert execution.reap()["requeued"] == 1
    _take_all(url)
    # A worker starting now sends what was queued before it started, however young.
    assert execution.reap(worker="w@host", booted=timezone.now())["requeued"] == 2
    assert sorted(sent[-2:]) == sorted([str(old.id), str(young.id)])


def test_the_sqlite_broker_takes_concurrent_producers_without_losing_a_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broker.sqlite3'}"
    received: list[int] = []

    def consume() -> None:
        deadline = time.monotonic() + 60
        with _connection(url) as conn:
            queue = conn.SimpleQueue("celery")
            while len(received) < 400 and time.monotonic() < deadline:
                try:
                    message = queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                received.append(int(message.payload["n"]))
                message.ack()
            queue.close()

    def produce(client: int) -> None:
        with _connection(url) as conn:
            queue = conn.SimpleQueue("celery")
            for n in range(40):
                queue.put({"n": client * 40 + n})
            queue.close()

    consumer = threading.Thread(target=consume)
    consumer.start()
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(produce, range(10)))
    consumer.join(90)
    assert sorted(received) == list(range(400))
