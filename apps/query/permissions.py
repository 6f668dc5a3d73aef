"""Checked lookups for query jobs: the only way views and the TAP service reach a job."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404

from apps.access.permissions import owns

from .models import QueryJob
from .sharing import may

AnyUser = User | AnonymousUser


def access_job(user: AnyUser | None, job_id: str | uuid.UUID) -> QueryJob:
    """The job, or 404. Anonymous jobs have no owner: their (unguessable) id is the key.

    Other users' jobs answer 404 rather than 403, so job ids leak nothing.
    """
    try:
        key = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except ValueError:
        raise Http404("No such job.") from None
    job = QueryJob.objects.select_related("owner").filter(pk=key).first()
    if job is None:
        raise Http404("No such job.")
    if job.owner_id is None or owns(user, job.owner_id):
        return job
    raise Http404("No such job.")


def jobs_for(user: AnyUser | None, *, phases: Iterable[str] | None = None, after: datetime | None = None,
             last: int | None = None, sync: bool = True) -> QuerySet[QueryJob]:
    """A user's jobs, newest first (UWS job list filters). Anonymous users list nothing.

    Without ``sync``, TAP sync queries are left out: they keep no result to fetch, and scripts send
    thousands of them, which would bury the jobs a user came to look at."""
    if user is None or not user.is_authenticated:
        return QueryJob.objects.none()
    jobs = QueryJob.objects.filter(owner=user)
    if not sync:
        jobs = jobs.exclude(source=QueryJob.SOURCE_TAP_SYNC)
    if phases:
        jobs = jobs.filter(phase__in=list(phases))
    if after is not None:
        jobs = jobs.filter(created__gt=after)
    jobs = jobs.order_by("-created")
    if last is not None:
        jobs = jobs[: max(last, 0)]
    return jobs


def access_readable_job(user: AnyUser | None, job_id: str | uuid.UUID) -> QueryJob:
    """A job to look at: the owner's own, or another user's stored result shared with "read".

    Everyone else gets 404, as in access_job. Changing a job still needs access_job and ownership.
    """
    try:
        return access_job(user, job_id)
    except Http404:
        key = str(job_id)
    job = QueryJob.objects.select_related("owner", "resource").filter(pk=key).first() if _is_uuid(key) else None
    if job is not None and may(user, "read", job):
        return job
    raise Http404("No such job.")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
