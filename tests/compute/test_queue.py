"""Fair queueing: recent usage lowers a user's priority; a domain runs at most max_jobs at once."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils import timezone

from apps.compute.actions import JobSpec, dispatch, do_create_job, do_register_domain, queue_order, recent_usage
from apps.compute.models import ComputeDomain, ComputeImage, ComputeJob
from apps.files.models import RootVolume
from apps.uws import phases


def _queued(user: Any, domain: ComputeDomain, image: ComputeImage) -> ComputeJob:
    job = do_create_job(user, JobSpec(image, domain, command="true"), start=False)
    ComputeJob.objects.filter(pk=job.pk).update(phase=phases.QUEUED)
    return job


def test_a_user_with_recent_usage_waits_behind_one_without(users: Any, roots: dict[str, RootVolume], busybox: ComputeImage) -> None:
    domain = do_register_domain("small", public=True, max_jobs=1)
    heavy = do_create_job(users.owner, JobSpec(busybox, domain, command="true"), start=False)
    now = timezone.now()
    ComputeJob.objects.filter(pk=heavy.pk).update(phase=phases.COMPLETED, start_time=now - dt.timedelta(hours=2), end_time=now - dt.timedelta(hours=1))
    first_in_line = _queued(users.owner, domain, busybox)  # submitted first...
    newcomer = _queued(users.member, domain, busybox)
    assert recent_usage({users.owner.pk, users.member.pk}) == {users.owner.pk: 3600.0, users.member.pk: 0.0}
    assert [j.pk for j in queue_order(domain)] == [newcomer.pk, first_in_line.pk]  # ...but runs second

    sent: list[str] = []
    assert dispatch(domain.pk, send=sent.append) == [str(newcomer.pk)]
    assert dispatch(domain.pk, send=sent.append) == []  # the one slot is taken
    ComputeJob.objects.filter(pk=newcomer.pk).update(phase=phases.COMPLETED, end_time=timezone.now())
    assert dispatch(domain.pk, send=sent.append) == [str(first_in_line.pk)]
    assert sent == [str(newcomer.pk), str(first_in_line.pk)]


def test_usage_older_than_the_fairness_window_is_forgotten(users: Any, roots: dict[str, RootVolume], busybox: ComputeImage, settings: Any) -> None:
    settings.COMPUTE_FAIRNESS_HOURS = 24
    domain = do_register_domain("small", public=True, max_jobs=1)
    old = do_create_job(users.owner, JobSpec(busybox, domain, command="true"), start=False)
    now = timezone.now()
    ComputeJob.objects.filter(pk=old.pk).update(phase=phases.COMPLETED, start_time=now - dt.timedelta(days=3), end_time=now - dt.timedelta(days=2))
    assert recent_usage({users.owner.pk}) == {users.owner.pk: 0.0}
    a, b = _queued(users.owner, domain, busybox), _queued(users.member, domain, busybox)
    assert [j.pk for j in queue_order(domain)] == [a.pk, b.pk]
