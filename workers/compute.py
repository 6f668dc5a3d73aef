"""Celery tasks of compute jobs (and the clean-up of Temporary file roots).

``dispatch_jobs`` fills a domain's free slots, fairest first; ``run_job``
starts one container and ``watch_job`` waits for it in slices of a few
seconds, re-queueing itself, so a long job never holds a worker that query
jobs need (late acks: a watcher whose worker died is delivered again);
``reap_jobs`` re-watches unwatched jobs and ends those whose container vanished;
it and ``clean_temporary_files`` are periodic work (daiquiri/celery.py runs them).
"""

from __future__ import annotations

from celery import shared_task

from apps.compute import actions
from apps.compute.actions import dispatch, dispatch_later, execute_job, reap
from apps.compute.models import ComputeJob
from apps.files.actions import do_clean_temporary_roots, do_remove_stale_uploads
from apps.uws import phases


@shared_task(name="workers.compute.dispatch_jobs", ignore_result=True)
def dispatch_jobs(domain_id: int) -> list[str]:
    return dispatch(domain_id)


@shared_task(name="workers.compute.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(job_id: str) -> str:
    """Start the container; then watch it in short slices (a long job never holds a worker)."""

    phase = execute_job(job_id)
    if phase == phases.EXECUTING:
        watch_job.delay(job_id)
    else:
        _slot_free(job_id)
    return phase


@shared_task(name="workers.compute.watch_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def watch_job(job_id: str) -> str | None:
    phase = actions.watch_job(job_id)
    if phase is None:
        watch_job.delay(job_id)  # still running: look again (the wait itself paces this)
    else:
        _slot_free(job_id)
    return phase


def _slot_free(job_id: str) -> None:
    domain_id = ComputeJob.objects.filter(pk=job_id).values_list("domain_id", flat=True).first()
    if domain_id is not None:
        dispatch_later(domain_id)


@shared_task(name="workers.compute.reap_jobs", ignore_result=True)
def reap_jobs() -> int:
    return reap()


@shared_task(name="workers.compute.clean_temporary_files", ignore_result=True)
def clean_temporary_files() -> int:
    return do_clean_temporary_roots() + do_remove_stale_uploads()
