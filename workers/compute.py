"""Celery tasks of compute jobs (and the clean-up of Temporary file roots).

``dispatch_jobs`` fills a domain's free slots, fairest first; ``run_job`` runs
one container to its end (late acks: a job whose worker died is picked up
again and waits for the container it had started); ``reap_jobs`` ends jobs
whose container disappeared.
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="workers.compute.dispatch_jobs", ignore_result=True)
def dispatch_jobs(domain_id: int) -> list[str]:
    from apps.compute.actions import dispatch

    return dispatch(domain_id)


@shared_task(name="workers.compute.run_job", acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_job(job_id: str) -> str:
    from apps.compute.actions import dispatch_later, execute_job
    from apps.compute.models import ComputeJob

    phase = execute_job(job_id)
    domain_id = ComputeJob.objects.filter(pk=job_id).values_list("domain_id", flat=True).first()
    if domain_id is not None:
        dispatch_later(domain_id)  # a slot is free again
    return phase


@shared_task(name="workers.compute.reap_jobs", ignore_result=True)
def reap_jobs() -> int:
    from apps.compute.actions import reap

    return reap()


@shared_task(name="workers.compute.clean_temporary_files", ignore_result=True)
def clean_temporary_files() -> int:
    from apps.files.actions import do_clean_temporary_roots, do_remove_stale_uploads

    return do_clean_temporary_roots() + do_remove_stale_uploads()
