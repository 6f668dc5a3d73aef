"""The sweep on the embedded SQLite broker: lost messages are sent again, a backlog is never doubled.

A real broker file (daiquiri.celery.EmbeddedTransport); messages are published
and consumed through kombu exactly as the web server and the worker do.
"""

from __future__ import annotations

import sqlite3
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

from apps.query.models import QueryJob
from apps.uws import phases
from daiquiri.celery import EmbeddedTransport, prepare_sqlite_broker
from workers import query_execution as execution

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
    failures: list[BaseException] = []

    def consume_until(deadline: float) -> None:
        """Take messages as a worker does: a busy broker file ('database is locked') is a connection
        error, and the worker reconnects and goes on (SQLite's lock is not fair, so under a flood of
        producers a poll can wait its whole busy timeout)."""
        while len(received) < 400 and time.monotonic() < deadline:
            try:
                with _connection(url) as conn:
                    queue = conn.SimpleQueue("celery")
                    try:
                        while len(received) < 400 and time.monotonic() < deadline:
                            try:
                                message = queue.get(timeout=0.5)
                            except queue.Empty:
                                continue
                            received.append(int(message.payload["n"]))
                            message.ack()
                    finally:
                        queue.close()
            except EmbeddedTransport.connection_errors:
                continue
            except BaseException as error:  # shown by the test, not lost in the thread
                failures.append(error)
                return

    def produce(client: int) -> None:
        with _connection(url) as conn:
            queue = conn.SimpleQueue("celery")
            for n in range(40):
                queue.put({"n": client * 40 + n})
            queue.close()

    consumer = threading.Thread(target=consume_until, args=(time.monotonic() + 120,))
    consumer.start()
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(produce, range(10)))
    consumer.join(150)
    assert not failures, failures
    assert sorted(received) == list(range(400))


def test_processes_and_threads_starting_together_on_a_new_broker_file_all_get_it_in_wal_mode(tmp_path: Path) -> None:
    """The web server and workers start together on a new install: switching the file to WAL must
    not fail one of them with 'database is locked' (SQLite does not wait for that switch)."""
    for round_ in range(20):
        path = tmp_path / f"broker{round_}.sqlite3"
        EmbeddedTransport._prepared.discard(str(path))
        with ThreadPoolExecutor(12) as pool:
            list(pool.map(_use_new_broker, [str(path)] * 12))
        conn = sqlite3.connect(path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def _use_new_broker(path: str) -> None:
    """Prepare the file as a starting process does, then write to it straight away."""
    prepare_sqlite_broker(f"sqlite:///{path}")
    EmbeddedTransport._prepared.discard(path)  # the next thread prepares it again, as another process would
    conn = sqlite3.connect(path, timeout=30)
    with conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)")
        conn.execute("INSERT INTO t VALUES (1)")
    conn.close()
