"""Celery tasks of compute jobs (and the clean-up of Temporary file roots).

``dispatch_jobs`` fills a domain's free slots, fairest first; ``run_job``
starts one container and ``watch_job`` waits for it in slices of a few
seconds, re-queueing itself, so a long job never holds a worker that query
jobs need (late acks: a watcher whose worker died is delivered again);
``reap_jobs`` re-watches unwatched jobs and ends those whose container vanished.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down

log = logging.getLogger(__name__)
_stop = threading.Event()
REAP_EVERY_S = 60.0
CLEAN_EVERY_S = 3600.0


@shared_task(name="workers.compute.dispatch_jobs", ignore_result=True)
def dispatch_jobs(domain_id: int) -> list[str]:
    from apps.compute.actions import dispatch

    return dispatch(domain_id)


@shared_task(name="workers.compute.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(job_id: str) -> str:
    """Start the container; then watch it in short slices (a long job never holds a worker)."""
    from apps.compute.actions import execute_job
    from apps.uws import phases

    phase = execute_job(job_id)
    if phase == phases.EXECUTING:
        watch_job.delay(job_id)
    else:
        _slot_free(job_id)
    return phase


@shared_task(name="workers.compute.watch_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def watch_job(job_id: str) -> str | None:
    from apps.compute import actions

    phase = actions.watch_job(job_id)
    if phase is None:
        watch_job.delay(job_id)  # still running: look again (the wait itself paces this)
    else:
        _slot_free(job_id)
    return phase


def _slot_free(job_id: str) -> None:
    from apps.compute.actions import dispatch_later
    from apps.compute.models import ComputeJob

    domain_id = ComputeJob.objects.filter(pk=job_id).values_list("domain_id", flat=True).first()
    if domain_id is not None:
        dispatch_later(domain_id)


@shared_task(name="workers.compute.reap_jobs", ignore_result=True)
def reap_jobs() -> int:
    from apps.compute.actions import reap

    return reap()


@shared_task(name="workers.compute.clean_temporary_files", ignore_result=True)
def clean_temporary_files() -> int:
    from apps.files.actions import do_clean_temporary_roots, do_remove_stale_uploads

    return do_clean_temporary_roots() + do_remove_stale_uploads()


def _housekeeping() -> None:
    """In every worker (no separate beat process needed): reap jobs each minute, clean Temporary roots each hour."""
    from django.db import connection

    from apps.compute.actions import reap
    from apps.files.actions import do_clean_temporary_roots, do_remove_stale_uploads

    since_clean = CLEAN_EVERY_S
    while not _stop.wait(REAP_EVERY_S):
        try:
            reap()
            since_clean += REAP_EVERY_S
            if since_clean >= CLEAN_EVERY_S:
                since_clean = 0
                do_clean_temporary_roots()
                do_remove_stale_uploads()
        except Exception:
            log.exception("compute/files housekeeping failed")
        finally:
            connection.close()


@worker_ready.connect
def _start_housekeeping(sender: Any = None, **kwargs: Any) -> None:
    threading.Thread(target=_housekeeping, name="compute-housekeeping", daemon=True).start()


@worker_shutting_down.connect
def _stop_housekeeping(**kwargs: Any) -> None:
    _stop.set()
