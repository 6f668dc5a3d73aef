"""MyDB: results named by the user, queryable by later queries, renamable, deletable."""

from __future__ import annotations

from typing import Any

import pytest

from apps.query import actions
from apps.query.planning import QueryError, mydb_table
from apps.uws import phases

pytestmark = pytest.mark.django_db


def test_a_named_result_is_queryable_as_mydb_table(users: Any, stars: Any, run_job: Any) -> None:
    first = run_job(users.owner, "SELECT source_id, mag FROM TAP_UPLOAD.stars WHERE mag < 15", uploads=[stars], table_name="bright")
    assert first.phase == phases.COMPLETED, first.error
    second = run_job(users.owner, "SELECT COUNT(*) AS n, MAX(b.mag) AS faintest FROM mydb.bright AS b")
    assert second.phase == phases.COMPLETED, second.error
    batch = next(actions.result_batches(second))
    assert batch.column(0)[0].as_py() == first.row_count
    assert batch.column(1)[0].as_py() < 15


def test_unnamed_results_get_a_name_in_mydb(users: Any, stars: Any, run_job: Any) -> None:
    job = run_job(users.owner, "SELECT TOP 3 ra FROM TAP_UPLOAD.stars", uploads=[stars])
    assert job.table_name.startswith("job_")
    again = run_job(users.owner, f"SELECT * FROM mydb.{job.table_name}")
    assert again.row_count == 3, again.error


def test_other_users_cannot_query_my_tables(users: Any, stars: Any, run_job: Any) -> None:
    run_job(users.owner, "SELECT TOP 3 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="mine")
    for someone in (users.member, users.outsider, None):
        job = run_job(someone, "SELECT * FROM mydb.mine")
        assert job.phase == phases.ERROR and "mine" in job.error


def test_a_result_can_be_renamed_and_queried_under_its_new_name(users: Any, stars: Any, run_job: Any) -> None:
    job = run_job(users.owner, "SELECT TOP 4 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="before")
    actions.do_rename_result(job, "after")
    assert run_job(users.owner, "SELECT * FROM mydb.after").row_count == 4
    assert run_job(users.owner, "SELECT * FROM mydb.before").phase == phases.ERROR


def test_names_are_unique_and_plain(users: Any, stars: Any, run_job: Any) -> None:
    run_job(users.owner, "SELECT TOP 1 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="taken")
    dup = run_job(users.owner, "SELECT TOP 1 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="taken")
    assert dup.phase == phases.ERROR and "already have a table called taken" in dup.error
    bad = run_job(users.owner, "SELECT TOP 1 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name='x"; DROP')
    assert bad.phase == phases.ERROR and "cannot name a table" in bad.error
    other = run_job(users.outsider, "SELECT TOP 1 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="taken")
    assert other.phase == phases.COMPLETED, other.error
    job = run_job(users.owner, "SELECT TOP 1 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="other")
    with pytest.raises(QueryError):
        actions.do_rename_result(job, "taken")


def test_dropping_a_result_removes_the_data_and_keeps_the_job(users: Any, stars: Any, run_job: Any, settings: Any) -> None:
    job = run_job(users.owner, "SELECT TOP 4 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="gone")
    files = list(settings.MYDB_DIR.rglob("gone*"))
    actions.do_drop_result(job)
    job.refresh_from_db()
    assert job.result_table == "" and job.phase == phases.COMPLETED
    assert not any(p.exists() for p in files)
    assert run_job(users.owner, "SELECT * FROM mydb.gone").phase == phases.ERROR


def test_a_stored_result_is_read_back_as_the_columns_it_was_stored_with(users: Any, stars: Any, run_job: Any) -> None:
    job = run_job(users.owner, "SELECT source_id, ra, mag AS brightness FROM TAP_UPLOAD.stars", uploads=[stars], table_name="cols")
    assert job.phase == phases.COMPLETED, job.error
    stored = actions.result_columns(job)
    assert [c.as_dict() for c in stored] == job.result_columns  # one stored form, read back whole
    assert mydb_table(job).columns == tuple(stored) and [c.name for c in stored] == ["source_id", "ra", "brightness"]
