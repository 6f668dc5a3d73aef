"""Celery tasks of data publication: ingest of large files started from the admin console."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.metadata.actions import run_ingest_job


@shared_task(name="metadata.ingest_file", acks_late=True)
def ingest_file(job_id: str, user_id: int, path: str, remove_after: bool, publish: str, options: dict[str, Any]) -> None:
    run_ingest_job(job_id, user_id, path, remove_after, publish, options)
