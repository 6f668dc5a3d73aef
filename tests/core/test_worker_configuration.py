"""A worker started with another configuration than the web process is detected and refused."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery.exceptions import Reject
from django.test import Client
from django.utils import timezone

from apps.core.actions import do_record_heartbeat
from apps.core.fingerprint import HEADER, SENT_AT, configuration_fingerprint
from daiquiri.celery import app

from .test_worker_heartbeats import _availability, real_workers  # noqa: F401  (fixture)

ran: list[int] = []


@app.task(name="tests.core.echo")
def echo(value: int) -> int:
    ran.append(value)
    return value


@pytest.fixture
def fresh_fingerprint() -> Iterator[None]:
    configuration_fingerprint.cache_clear()
    yield
    configuration_fingerprint.cache_clear()


def test_the_fingerprint_changes_with_the_science_database_and_shows_no_secret(settings: Any, fresh_fingerprint: None) -> None:
    settings.SCIENCE_POSTGRESQL_URL = "postgresql://daiquiri:s3cret@db/science"
    first = configuration_fingerprint()
    configuration_fingerprint.cache_clear()
    settings.SCIENCE_POSTGRESQL_URL = "postgresql://daiquiri:s3cret@db/other_science"
    assert configuration_fingerprint() != first and "s3cret" not in first and len(first) == 16


@pytest.mark.django_db
def test_a_worker_with_another_configuration_is_not_counted_and_availability_says_why(
        client: Client, real_workers: None) -> None:  # noqa: F811
    do_record_heartbeat("celery@old:7", timezone.now(), fingerprint="0123456789abcdef")
    available, note = _availability(client)
    assert available == "false" and note is not None and "another configuration" in note
    do_record_heartbeat("celery@new:8", timezone.now())  # this process's configuration
    assert _availability(client)[0] == "true"


def test_a_worker_refuses_a_task_queued_with_another_configuration_and_runs_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.checked.BACK_OFF_S", 0)
    ran.clear()
    echo.push_request(is_eager=False, headers={HEADER: "0123456789abcdef"}, id="t1")
    try:
        with pytest.raises(Reject) as refused:
            echo(1)
    finally:
        echo.pop_request()
    assert refused.value.requeue and ran == []  # put back for a matching worker, not run
    echo.push_request(is_eager=False, headers={HEADER: configuration_fingerprint()}, id="t2")
    try:
        assert echo(2) == 2
    finally:
        echo.pop_request()
    assert ran == [2]


def _refused(headers: dict[str, Any], task_id: str) -> Reject:
    """How the worker turns down ``echo`` sent with ``headers`` (it must not run it)."""
    echo.push_request(is_eager=False, headers=headers, id=task_id)
    try:
        with pytest.raises(Reject) as refused:
            echo(1)
    finally:
        echo.pop_request()
    return refused.value


def test_a_task_nobody_with_its_configuration_took_for_a_minute_is_dropped_not_put_back(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.checked.BACK_OFF_S", 0)
    ran.clear()
    assert not _refused({HEADER: "0123456789abcdef", SENT_AT: time.time() - 61}, "t3").requeue  # not put back to loop
    assert _refused({HEADER: "0123456789abcdef", SENT_AT: time.time() - 5}, "t4").requeue  # its worker may be starting
    assert _refused({HEADER: "0123456789abcdef", SENT_AT: "yesterday"}, "t5").requeue  # nonsense: as unknown, not a crash
    assert ran == []


def test_every_task_message_carries_the_senders_fingerprint_and_when_it_was_sent() -> None:
    from daiquiri.celery import _stamp_configuration

    headers: dict[str, Any] = {}
    _stamp_configuration(headers=headers)
    assert headers[HEADER] == configuration_fingerprint()
    assert abs(headers[SENT_AT] - time.time()) < 5


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_reads_the_stamp_of_a_real_message(monkeypatch: pytest.MonkeyPatch, real_workers: None) -> None:  # noqa: F811
    """Through the broker and a worker thread on a queue of its own: the header set on publish is the one the worker checks."""
    import uuid

    from celery.contrib.testing.worker import start_worker

    import workers.checked

    seen: list[str | None] = []
    original = workers.checked.sent_fingerprint
    monkeypatch.setattr(workers.checked, "sent_fingerprint", lambda request: seen.append(original(request)) or original(request))
    ran.clear()
    queue = f"configuration-test-{uuid.uuid4().hex[:8]}"
    with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10, queues=[queue]):
        echo.apply_async((3,), queue=queue)
        deadline = time.monotonic() + 20
        while not ran and time.monotonic() < deadline:
            time.sleep(0.1)
    assert seen == [configuration_fingerprint()] and ran == [3]
