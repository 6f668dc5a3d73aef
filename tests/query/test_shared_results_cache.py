"""Others' results shared for querying are remembered between sync queries, and forgotten the moment the
sharing changes: a revoked grant, a renamed or dropped table shows in the very next query."""

from __future__ import annotations

from typing import Any

import pytest

from apps.access.actions import do_grant, do_revoke
from apps.adql import AdqlError
from apps.query import actions
from apps.query.models import QueryJob
from apps.query.uploads import Upload
from apps.uws import phases

QUERY = "SELECT source_id, ra, dec, mag FROM TAP_UPLOAD.stars WHERE mag < 15"


@pytest.fixture
def result(users: Any, stars: Upload, run_job: Any) -> QueryJob:
    job = run_job(users.owner, QUERY, uploads=[stars], table_name="bright")
    assert job.phase == phases.COMPLETED, job.error
    return job


def _count(user: Any, table: str) -> int | None:
    """Rows of ``mydb_owner.<table>`` as ``user`` gets them from a sync query; None when refused."""
    try:
        result = actions.run_sync(user, query=f"SELECT COUNT(*) AS n FROM mydb_owner.{table}")
    except (AdqlError, actions.QueryError):
        return None
    batches = list(result.batches)
    return int(batches[0].column(0)[0].as_py())


@pytest.mark.django_db
def test_a_shared_result_revoked_renamed_or_dropped_is_refused_at_once(users: Any, result: QueryJob) -> None:
    assert _count(users.member, "bright") is None
    grant = do_grant(users.owner, result.resource, "query", group=users.group)  # type: ignore[arg-type]
    assert _count(users.member, "bright") == result.row_count
    assert _count(users.member, "bright") == result.row_count  # remembered now
    assert _count(users.outsider, "bright") is None and _count(users.anonymous, "bright") is None
    do_revoke(users.owner, grant)
    assert _count(users.member, "bright") is None
    do_grant(users.owner, result.resource, "query", group=users.group)  # type: ignore[arg-type]
    assert _count(users.member, "bright") == result.row_count
    actions.do_rename_result(result, "brighter")
    assert _count(users.member, "bright") is None
    assert _count(users.member, "brighter") == result.row_count
    actions.do_drop_result(QueryJob.objects.get(pk=result.pk))
    assert _count(users.member, "brighter") is None
