"""Celery tasks of query jobs: run one, and reap the ones whose worker died.

The portal database is the truth about jobs; broker messages only wake workers.
Late acks (settings) mean a message is removed only after the task returns, so
a killed pool process's job is delivered again; claiming is atomic, so it runs once.
The reaper (apps/query/execution.py ``reap``) runs on worker start, every
QUERY_REAPER_SECONDS in each worker (a timer thread, so no separate beat process
is needed) and from Celery beat. Besides ending jobs whose worker died, it is the
sweep that sends again QUEUED jobs whose message was lost (a worker killed while
holding it, a broker restarted empty): on start, those queued before this worker
started; later, those waiting longer than QUERY_REQUEUE_AFTER_SECONDS.
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings

log = logging.getLogger(__name__)
_stop = threading.Event()
_BOOTED = datetime.now(UTC)  # imported when the worker boots, before it takes any task


def worker_name() -> str:
    from celery import current_task

    hostname = getattr(getattr(current_task, "request", None), "hostname", None)
    return str(hostname or socket.gethostname())


@shared_task(name="workers.query.run_query", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_query(job_id: str) -> str:
    from apps.query.execution import execute_job

    return execute_job(job_id, worker_name())


@shared_task(name="workers.query.reap_jobs", ignore_result=True)
def reap_jobs() -> dict[str, int]:
    from apps.query.execution import reap

    return reap()


@shared_task(name="workers.query.clean_scratch", ignore_result=True)
def clean_scratch() -> int:
    """MyScratch results past QUERY_SCRATCH_DAYS go, with their tables (Celery beat, hourly)."""
    from apps.query.actions import do_clean_scratch

    return do_clean_scratch()


def _reaper_loop(hostname: str) -> None:
    from django.db import connection

    from apps.query.execution import reap

    first = True
    while first or not _stop.wait(settings.QUERY_REAPER_SECONDS):
        try:
            result = reap(worker=hostname, booted=_BOOTED) if first else reap()
            if any(result.values()):
                log.warning("query reaper: %s", result)
        except Exception:
            log.exception("query reaper failed")
        finally:
            connection.close()
        first = False


@worker_ready.connect
def _start_reaper(sender: Any = None, **kwargs: Any) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    threading.Thread(target=_reaper_loop, args=(hostname,), name="query-reaper", daemon=True).start()


@worker_shutting_down.connect
def _stop_reaper(**kwargs: Any) -> None:
    _stop.set()
