"""Sharing MyDB results: a stored result has a Resource; "read" shows it, "query" lets ADQL read it
as mydb_<owner>.<table>; over the matrix owner / group member / outsider / anonymous, on DuckDB and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from django.test import Client

from apps.access.actions import do_grant
from apps.access.models import Privilege, Resource
from apps.query import actions
from apps.query.models import QueryJob
from apps.query.uploads import Upload
from apps.uws import phases

from .test_engines import PG_ADMIN, SUFFIX, _pg_url

QUERY = "SELECT source_id, ra, dec, mag FROM TAP_UPLOAD.stars WHERE mag < 15"


@pytest.fixture(scope="module")
def share_pg() -> Iterator[str]:
    """A scratch science database for this module (test_engines has its own)."""
    name = f"query_share_{SUFFIX}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield psycopg.conninfo.make_conninfo(PG_ADMIN, dbname=name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["duckdb", "postgresql"])
def engine(request: Any, settings: Any, share_pg: str) -> str:
    from workers.engines import reset_engines

    settings.DEFAULT_ENGINE = request.param
    settings.SCIENCE_POSTGRESQL_URL = _pg_url(share_pg)
    reset_engines()
    return str(request.param)


@pytest.fixture
def result(users: Any, stars: Upload, run_job: Any) -> QueryJob:
    job = run_job(users.owner, QUERY, uploads=[stars], table_name="bright")
    assert job.phase == phases.COMPLETED, job.error
    return job


def _client(user: Any) -> Client:
    client = Client()
    if user.is_authenticated:
        client.force_login(user)
    return client


def _share(users: Any, job: QueryJob, *actions_: str) -> None:
    for action in actions_:
        do_grant(users.owner, job.resource, action, group=users.group)


@pytest.mark.django_db
def test_it_gives_a_stored_result_a_resource_owned_by_its_owner(engine: str, users: Any, result: QueryJob) -> None:
    assert result.resource is not None
    assert (result.resource.type, result.resource.owner, result.resource.name) == ("result", users.owner, "mydb_owner.bright")
    page = _client(users.owner).get(f"/query/jobs/{result.id}/")
    assert f'href="/access/resources/{result.resource.pk}/share"'.encode() in page.content


@pytest.mark.django_db
def test_it_shows_a_shared_result_to_readers_only(engine: str, users: Any, result: QueryJob) -> None:
    _share(users, result, "read")
    urls = [f"/query/jobs/{result.id}/", f"/query/jobs/{result.id}/rows?limit=5", f"/query/jobs/{result.id}/download?format=csv",
            f"/query/jobs/{result.id}/plot?x=ra&y=dec"]
    for who, expected in ((users.owner, 200), (users.member, 200), (users.outsider, 404), (users.anonymous, 404)):
        for url in urls:
            response = _client(who).get(url)
            assert response.status_code == expected, (who, url)
    rows = _client(users.member).get(f"/query/jobs/{result.id}/rows?limit=5").json()
    assert len(rows["rows"]) == 5 and rows["total"] == result.row_count
    page = _client(users.member).get(f"/query/jobs/{result.id}/").content.decode()
    assert "Shared with you by" in page and "Share…" not in page and "Delete table" not in page
    assert "Shared with Team (read)" in _client(users.owner).get(f"/query/jobs/{result.id}/").content.decode()


@pytest.mark.django_db
def test_it_lets_only_the_owner_change_a_shared_result(engine: str, users: Any, result: QueryJob) -> None:
    _share(users, result, "read", "query")
    for url in ("drop", "delete", "rename"):
        response = _client(users.member).post(f"/query/jobs/{result.id}/{url}", {"table_name": "stolen"})
        assert response.status_code == 404, url
    assert QueryJob.objects.get(pk=result.pk).result_table == "bright"


@pytest.mark.django_db
def test_it_lets_holders_of_query_read_the_table_in_adql(engine: str, users: Any, result: QueryJob, run_job: Any) -> None:
    _share(users, result, "query")
    sql = "SELECT COUNT(*) AS n, MAX(mag) AS faintest FROM mydb_owner.bright"
    mine = run_job(users.member, sql)
    assert mine.phase == phases.COMPLETED, mine.error
    assert mine.engine == engine
    batch = next(actions.result_batches(mine))
    assert batch.column(0)[0].as_py() == result.row_count and batch.column(1)[0].as_py() < 15
    joined = run_job(users.member, f"SELECT COUNT(*) AS n FROM mydb_owner.bright AS a JOIN mydb.{mine.table_name} AS b ON a.mag <= b.faintest")
    assert joined.phase == phases.COMPLETED, joined.error
    for who in (users.outsider, users.anonymous):
        refused = run_job(who, sql)
        assert refused.phase == phases.ERROR and "bright" in refused.error
    # "query" alone does not show the job page
    assert _client(users.member).get(f"/query/jobs/{result.id}/").status_code == 404


@pytest.mark.django_db
def test_the_schema_browser_lists_tables_shared_for_query(engine: str, users: Any, result: QueryJob) -> None:
    assert "mydb_owner" not in _client(users.member).get("/query/").content.decode()
    _share(users, result, "query")
    assert "mydb_owner" in _client(users.member).get("/query/").content.decode()
    assert "mydb_owner" not in _client(users.outsider).get("/query/").content.decode()


@pytest.mark.django_db
def test_it_deletes_the_resource_and_its_privileges_with_the_table(users: Any, stars: Upload, run_job: Any) -> None:
    first = run_job(users.owner, QUERY, uploads=[stars], table_name="first")
    second = run_job(users.owner, QUERY, uploads=[stars], table_name="second")
    _share(users, first, "read")
    _share(users, second, "read")
    actions.do_rename_result(first, "renamed")
    assert Resource.objects.get(pk=first.resource_id).name == "mydb_owner.renamed"
    actions.do_drop_result(first)
    assert not Resource.objects.filter(pk=first.resource_id).exists()
    assert QueryJob.objects.get(pk=first.pk).resource_id is None
    assert _client(users.member).get(f"/query/jobs/{first.id}/").status_code == 404
    actions.do_delete_job(second)
    assert not Resource.objects.filter(type="result").exists() and not Privilege.objects.filter(resource__type="result").exists()


@pytest.mark.django_db
def test_anonymous_results_get_no_resource(stars: Upload, run_job: Any) -> None:
    from django.contrib.auth.models import AnonymousUser

    job = run_job(AnonymousUser(), QUERY, uploads=[stars])
    assert job.phase == phases.COMPLETED and job.resource is None


@pytest.mark.django_db
def test_the_job_list_lists_results_shared_with_the_reader(users: Any, stars: Upload, run_job: Any) -> None:
    result = run_job(users.owner, QUERY, uploads=[stars], table_name="bright")
    _share(users, result, "read")
    assert "mydb_owner.bright" in _client(users.member).get("/query/jobs/").content.decode()
    assert "Results shared with you" not in _client(users.outsider).get("/query/jobs/").content.decode()
    assert "Results shared with you" not in _client(users.owner).get("/query/jobs/").content.decode()


@pytest.mark.django_db
def test_the_owner_may_use_the_shared_name_too(engine: str, users: Any, result: QueryJob, run_job: Any) -> None:
    same = run_job(users.owner, "SELECT COUNT(*) AS n FROM mydb_owner.bright")
    assert same.phase == phases.COMPLETED, same.error
    assert next(actions.result_batches(same)).column(0)[0].as_py() == result.row_count


@pytest.mark.django_db
def test_the_data_migration_gives_older_results_a_resource(users: Any) -> None:
    import importlib

    from django.apps import apps

    old = QueryJob.objects.create(owner=users.owner, query="x", phase=phases.COMPLETED, result_table="old", table_name="old",
                                  engine="duckdb", result_schema="mydb_x")
    importlib.import_module("apps.query.migrations.0005_result_resources").create_resources(apps, None)
    old.refresh_from_db()
    assert old.resource is not None and old.resource.owner == users.owner and old.resource.name == "mydb_owner.old"
