"""Who reaches which job and result: owner, group member, outsider, anonymous."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404
from django.test import Client

from apps.query.models import QueryJob
from apps.query.permissions import access_job, jobs_for
from apps.uws import phases

pytestmark = pytest.mark.django_db


def _client(user: Any) -> Client:
    client = Client()
    if user is not None and user.is_authenticated:
        client.force_login(user)
    return client


def test_only_the_owner_reaches_an_owned_job(users: Any) -> None:
    job = QueryJob.objects.create(owner=users.owner, query="SELECT 1")
    assert access_job(users.owner, job.id) == job
    for other in (users.member, users.outsider, users.anonymous, None):
        with pytest.raises(Http404):
            access_job(other, job.id)


def test_anonymous_jobs_are_reached_by_their_id_only(users: Any) -> None:
    job = QueryJob.objects.create(owner=None, query="SELECT 1")
    for anyone in (users.owner, users.outsider, users.anonymous):
        assert access_job(anyone, str(job.id)) == job
    assert list(jobs_for(users.anonymous)) == []
    assert job not in jobs_for(users.owner)


def test_bad_ids_are_not_found(users: Any) -> None:
    for bad in ("nope", "00000000-0000-0000-0000-000000000000"):
        with pytest.raises(Http404):
            access_job(users.owner, bad)


def test_jobs_for_filters_by_phase_time_and_last(users: Any) -> None:
    jobs = [QueryJob.objects.create(owner=users.owner, query=f"SELECT {i}", phase=phases.COMPLETED if i % 2 else phases.ERROR)
            for i in range(5)]
    QueryJob.objects.create(owner=users.outsider, query="SELECT 9")
    assert set(jobs_for(users.owner)) == set(jobs)
    assert {j.phase for j in jobs_for(users.owner, phases=[phases.ERROR])} == {phases.ERROR}
    assert list(jobs_for(users.owner, last=2)) == [jobs[4], jobs[3]]
    assert set(jobs_for(users.owner, after=jobs[2].created)) == {jobs[3], jobs[4]}


@pytest.mark.parametrize("who,status", [("owner", 200), ("member", 404), ("outsider", 404), ("anonymous", 404)])
def test_job_pages_and_results_follow_the_matrix(users: Any, who: str, status: int, stars: Any, run_job: Any) -> None:
    job = run_job(users.owner, "SELECT TOP 3 source_id, ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="t")
    client = _client(getattr(users, who))
    for name in ("", "status", "rows", "download?format=csv", "plot?x=ra&kind=histogram"):
        assert client.get(f"/query/jobs/{job.id}/{name}").status_code == status, name
    for action in ("abort", "rename", "drop", "delete"):
        response = client.post(f"/query/jobs/{job.id}/{action}", {"table_name": "u"})
        assert response.status_code in ((302,) if who == "owner" else (404,)), action
        if who == "owner":
            break  # the owner's abort of a finished job is a no-op; the rest is covered elsewhere
    assert QueryJob.objects.filter(pk=job.pk).exists()


def test_the_job_list_needs_a_login_and_shows_only_own_jobs(users: Any) -> None:
    QueryJob.objects.create(owner=users.owner, query="SELECT 'owner job'")
    QueryJob.objects.create(owner=users.outsider, query="SELECT 'outsider job'")
    assert _client(None).get("/query/jobs/").status_code == 302
    page = _client(users.owner).get("/query/jobs/").content.decode()
    assert "owner job" in page and "outsider job" not in page
