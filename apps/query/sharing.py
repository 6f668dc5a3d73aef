"""Sharing stored results (MyDB tables) through the permission API, as CasJobs/SciServer do.

Each stored result has an access.Resource of type "result" (registered in apps.py), made
when the worker stores it and deleted with the table or the job. Its owner shares it in the
generic dialogue (/access/resources/<id>/share): "read" shows the job page, the viewer, plots
and downloads; "query" lets ADQL read it as ``mydb_<owner username>.<table>``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import post_delete, post_save

from apps.access.actions import do_create_resource
from apps.access.models import Resource
from apps.access.permissions import filter_allowed, has_privilege
from apps.metadata.catalog import bump_metadata_version

from .models import QueryJob

RESOURCE_TYPE = "result"
SHARED_PREFIX = "mydb_"
AnyUser = User | AnonymousUser


def shared_schema(owner: User) -> str:
    """The ADQL schema under which others see ``owner``'s shared results."""
    return f"{SHARED_PREFIX}{owner.get_username()}"


def resource_name(job: QueryJob) -> str:
    return f"{shared_schema(job.owner)}.{job.table_name}" if job.owner else job.table_name


@transaction.atomic
def ensure_resource(job: QueryJob) -> Resource | None:
    """Give a stored result of a user its Resource (anonymous results are never shared)."""
    if job.owner_id is None or not job.result_table:
        return None
    if job.resource_id is not None:
        return job.resource
    resource = do_create_resource(RESOURCE_TYPE, resource_name(job), owner=job.owner)
    QueryJob.objects.filter(pk=job.pk).update(resource=resource)
    job.resource = resource
    return resource


def rename_resource(job: QueryJob) -> None:
    if job.resource_id is not None:
        Resource.objects.filter(pk=job.resource_id).update(name=resource_name(job))


def drop_resource(job: QueryJob) -> None:
    """The table is gone: so are its privileges (a later table of the same name starts unshared)."""
    if job.resource_id is not None:
        Resource.objects.filter(pk=job.resource_id).delete()
        job.resource_id = None


def _job_deleted(sender: Any, instance: QueryJob, **kwargs: Any) -> None:
    if instance.resource_id is not None:
        Resource.objects.filter(pk=instance.resource_id).delete()


def _shared_result_changed(sender: Any, instance: QueryJob, **kwargs: Any) -> None:
    """A job with a shareable result was saved or deleted (renamed, dropped): others' cached lists of the
    results shared with them (planning.shared_tables) are stale. Jobs without one (every sync query) are not."""
    if instance.resource_id is not None:
        bump_metadata_version()


def connect_signals() -> None:
    # post_delete also covers jobs deleted with their owner or from the admin.
    post_delete.connect(_job_deleted, sender=QueryJob, dispatch_uid="query.sharing.job_deleted")
    post_save.connect(_shared_result_changed, sender=QueryJob, dispatch_uid="query.sharing.result_saved")
    post_delete.connect(_shared_result_changed, sender=QueryJob, dispatch_uid="query.sharing.result_deleted")


def shared_with(user: AnyUser | None, action: str) -> QuerySet[QueryJob]:
    """Other users' stored results this user holds ``action`` on (one query, no per-row checks)."""
    if user is None:
        user = AnonymousUser()
    jobs = QueryJob.objects.exclude(result_table="").exclude(owner=None).select_related("owner")
    if user.is_authenticated:
        jobs = jobs.exclude(owner=user)
    return filter_allowed(user, action, jobs, RESOURCE_TYPE).order_by("owner__username", "table_name")


def may(user: AnyUser | None, action: str, job: QueryJob) -> bool:
    if user is None or job.resource_id is None or not job.result_table:
        return False
    return has_privilege(user, action, job.resource)  # type: ignore[arg-type]
