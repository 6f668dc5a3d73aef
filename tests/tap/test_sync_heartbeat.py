"""A synchronous query's record never outlives its request: the web process beats for the queries it streams,
a result dropped before its first row ends in ERROR, and the reaper ends those of a process that was killed
(they used to stay EXECUTING for 8 hours, holding the user's slots)."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from apps.query import actions, sync
from apps.query.models import QueryJob
from apps.uws import phases
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)  # the heartbeat thread and other processes see the jobs
QUERY = "SELECT TOP 3 table_name FROM TAP_SCHEMA.tables"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def fast(settings: Any) -> Any:
    settings.QUERY_HEARTBEAT_SECONDS = 1
    settings.QUERY_SYNC_STALE_AFTER_SECONDS = 2
    return settings


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def phase_of(job_id: Any) -> str:
    """The job's phase; "" while it is not written (with Redis, a sync job is written at its first heartbeat or its end)."""
    return str(QueryJob.objects.filter(pk=job_id).values_list("phase", flat=True).first() or "")


def heartbeat_of(job_id: Any) -> Any:
    return QueryJob.objects.filter(pk=job_id).values_list("heartbeat", flat=True).first()


def test_a_result_dropped_before_its_first_row_ends_in_error(fast: Any) -> None:
    user = make_user("dropper")
    result = actions.run_sync(user, query=QUERY)
    job_id = result.job.pk
    del result  # the response was never sent (the client left while the query was planned)
    gc.collect()
    sync.heartbeats.beat_now()
    assert wait_for(lambda: phase_of(job_id) == phases.ERROR)
    assert QueryJob.objects.get(pk=job_id).error == sync.ORPHANED
    assert str(job_id) not in sync.heartbeats.tracked()


def test_a_streaming_query_keeps_beating_and_is_not_reaped(fast: Any) -> None:
    user = make_user("streamer")
    result = actions.run_sync(user, query=QUERY)
    job = result.job
    stale_after = fast.QUERY_SYNC_STALE_AFTER_SECONDS
    # Older than the stale limit, yet alive: its heartbeat moves on.
    assert wait_for(lambda: (heartbeat_of(job.pk) or job.start_time) > job.start_time + timezone.timedelta(seconds=stale_after))
    assert sync.reap_sync(timezone.now()) == 0 and phase_of(job.pk) == phases.EXECUTING
    assert sum(b.num_rows for b in result.batches) == 3
    assert phase_of(job.pk) == phases.COMPLETED


HOLDER = """
import os, sys, time, django
django.setup()
from django.contrib.auth.models import User
from apps.query import actions
result = actions.run_sync(User.objects.get(username=sys.argv[1]), query=sys.argv[2])
print(result.job.pk, flush=True)
time.sleep(600)
"""


def test_the_reaper_ends_the_sync_queries_of_a_killed_process_and_frees_the_slot(fast: Any) -> None:
    fast.QUERY_SYNC_CONCURRENCY = 1
    user = make_user("killed")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "daiquiri.settings", "DB_NAME": django_settings.DATABASES["default"]["NAME"],
           "QUERY_HEARTBEAT_SECONDS": "1", "QUERY_SYNC_STALE_AFTER_SECONDS": "2", "PYTHONPATH": ROOT}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, user.username, QUERY], env=env, cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline().strip() if holder.stdout else ""
        assert line, holder.stderr.read() if holder.stderr else ""
        assert wait_for(lambda: phase_of(line) == phases.EXECUTING)  # written by its first heartbeat at the latest
        job = QueryJob.objects.get(pk=line)
        assert wait_for(lambda: heartbeat_of(job.pk) > job.start_time + timezone.timedelta(seconds=3))
        with pytest.raises(sync.SyncLimitReached):  # the live query holds the user's only slot
            actions.run_sync(user, query=QUERY)
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    assert phase_of(job.pk) == phases.EXECUTING  # nothing ran its cleanup
    # Silent for longer than the stale limit: the slot is free at once, and the reaper closes the record.
    assert wait_for(lambda: heartbeat_of(job.pk) < timezone.now() - timezone.timedelta(seconds=2))
    assert sum(b.num_rows for b in actions.run_sync(user, query=QUERY).batches) == 3
    assert sync.reap_sync(timezone.now()) == 1
    ended = QueryJob.objects.get(pk=job.pk)
    assert ended.phase == phases.ERROR and ended.error == sync.PROCESS_GONE
