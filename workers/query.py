"""Celery tasks of query jobs: run one, reap the ones whose worker died, clean MyScratch.

The portal database is the truth about jobs; broker messages only wake workers.
Late acks (settings) mean a message is removed only after the task returns, so
a killed pool process's job is delivered again; claiming is atomic, so it runs once.
What a task does is in workers/query_execution.py; when the periodic ones run is said
in one place, daiquiri/celery.py (the reaper also runs once as a worker starts, so that
jobs of its previous life end at once, and QUEUED jobs whose message was lost are sent again).
"""

from __future__ import annotations

import logging
import socket
import threading
from datetime import UTC, datetime
from typing import Any

from celery import current_task, shared_task
from celery.signals import worker_ready
from django.db import connection

from apps.query.actions import do_clean_scratch

from .query_execution import execute_job, reap, run_sync_part

log = logging.getLogger(__name__)
_BOOTED = datetime.now(UTC)  # imported when the worker boots, before it takes any task


def worker_name() -> str:
    hostname = getattr(getattr(current_task, "request", None), "hostname", None)
    return str(hostname or socket.gethostname())


@shared_task(name="workers.query.run_query", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_query(job_id: str) -> str:
    return execute_job(job_id, worker_name())


@shared_task(name="workers.query.run_sync_part", ignore_result=True)
def run_sync_part_task(job_id: str, record: dict[str, Any], timeout_s: float, fields: dict[str, Any] | None = None) -> None:
    """A heavy synchronous query for the web request that waits for it (apps/query/sync_in_worker.py).
    No late ack: a request waits for it only as long as its time limit, so a redelivery would come too late."""
    run_sync_part(job_id, record, timeout_s, worker_name(), fields)


@shared_task(name="workers.query.reap_jobs", ignore_result=True)
def reap_jobs() -> dict[str, int]:
    return reap()


@shared_task(name="workers.query.clean_scratch", ignore_result=True)
def clean_scratch() -> int:
    """MyScratch results past QUERY_SCRATCH_DAYS go, with their tables."""
    return do_clean_scratch()


def _reap_after_restart(hostname: str) -> None:
    """This worker's EXECUTING jobs from before it started are from a previous life: end them now."""
    try:
        result = reap(worker=hostname, booted=_BOOTED)
        if any(result.values()):
            log.warning("query reaper at start: %s", result)
    except Exception:
        log.exception("query reaper at start failed")
    finally:
        connection.close()


@worker_ready.connect
def _reap_on_start(sender: Any = None, **kwargs: Any) -> None:
    hostname = getattr(sender, "hostname", None) or socket.gethostname()
    threading.Thread(target=_reap_after_restart, args=(hostname,), name="query-reaper-at-start", daemon=True).start()
