"""Space for results: per user, per group, the default; over it, ERROR and nothing left behind."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from apps.query.models import QueryJob, QueryQuota
from apps.query.quotas import kept_results, quota_for, used_by
from apps.uws import phases

pytestmark = pytest.mark.django_db


def test_quotas_come_from_the_user_then_the_groups_then_the_default(users: Any, settings: Any) -> None:
    settings.QUERY_QUOTA_BYTES = 1000
    assert quota_for(users.member) == 1000
    QueryQuota.objects.create(group=users.group, bytes=5000)
    assert quota_for(users.member) == 5000 and quota_for(users.outsider) == 1000
    QueryQuota.objects.create(user=users.member, bytes=10)
    assert quota_for(users.member) == 10


def test_a_result_over_quota_ends_in_error_and_leaves_nothing(users: Any, stars: Any, run_job: Any, settings: Any) -> None:
    QueryQuota.objects.create(user=users.owner, bytes=100)
    job = run_job(users.owner, "SELECT * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="big")
    assert job.phase == phases.ERROR
    assert "does not fit in your space for results" in job.error
    assert job.result_table == "" and used_by(users.owner) == 0
    assert not list(settings.MYDB_DIR.rglob("big*"))


def test_a_full_space_refuses_new_jobs_with_a_clear_message(users: Any, stars: Any, run_job: Any) -> None:
    QueryJob.objects.create(owner=users.owner, query="x", phase=phases.COMPLETED, result_table="old", table_name="old",
                            size_bytes=10_000, engine="duckdb", result_schema="mydb_x")
    QueryQuota.objects.create(user=users.owner, bytes=10_000)
    job = run_job(users.owner, "SELECT TOP 1 ra FROM TAP_UPLOAD.stars", uploads=[stars])
    assert job.phase == phases.ERROR and "Your space for results is full" in job.error


def test_the_job_list_shows_the_space_used_against_the_quota_with_a_bar(users: Any, client: Any) -> None:
    QueryQuota.objects.create(user=users.owner, bytes=10_000)
    QueryJob.objects.create(owner=users.owner, query="x", phase=phases.COMPLETED, result_table="big_one", table_name="big_one",
                            size_bytes=8_500, engine="duckdb", result_schema="mydb_x")
    client.force_login(users.owner)
    page = client.get("/query/jobs/").content.decode()
    assert 'role="meter"' in page and 'aria-valuenow="85"' in page and "level-warn" in page
    assert "8.3 KB</strong> of 9.8 KB used" in page and "big_one" in page and "/files/" in page
    client.force_login(users.member)
    page = client.get("/query/jobs/").content.decode()
    assert 'aria-valuenow="0"' in page and "level-ok" in page and "big_one" not in page


def test_the_profile_links_both_spaces(users: Any, client: Any) -> None:
    client.force_login(users.owner)
    page = client.get("/accounts/profile/").content.decode()
    assert "Your space" in page and "/query/jobs/#space" in page and 'href="/files/"' in page


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the query plan is PostgreSQL's")
def test_the_space_used_is_read_from_the_jobs_that_keep_a_result_only(users: Any) -> None:
    """Read before every job runs: thousands of anonymous TAP sync jobs (they keep no result) must not be read."""
    QueryJob.objects.bulk_create(QueryJob(owner=None, query="SELECT 1", phase=phases.COMPLETED) for _ in range(3000))
    QueryJob.objects.bulk_create(QueryJob(owner=None, query="SELECT 1", phase=phases.COMPLETED, result_schema="mydb_anonymous",
                                          result_table=f"job_{n}", size_bytes=100) for n in range(3))
    QueryJob.objects.create(owner=users.owner, query="SELECT 1", phase=phases.COMPLETED, result_table="mine", size_bytes=7)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE query_queryjob")
    assert used_by(None) == 300 and used_by(users.owner) == 7
    plan = kept_results(None).values("size_bytes").explain()
    assert "query_job_kept_result_idx" in plan, plan
