"""The query pages: editor and browser, submitting, the job list, the viewer's rows, plots and downloads."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.query.models import QueryJob
from apps.uws import phases

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_of(users: Any) -> Any:
    def make(user: Any) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


def test_the_query_page_has_editor_queues_examples_and_the_users_tables(users: Any, stars: Any, run_job: Any, client_of: Any) -> None:
    run_job(users.owner, "SELECT TOP 2 ra, dec FROM TAP_UPLOAD.stars", uploads=[stars], table_name="pairs")
    page = client_of(users.owner).get("/query/").content.decode()
    assert 'id="query-text"' in page and "query_editor.js" in page
    assert 'value="quick"' in page and 'value="long"' in page
    assert 'data-insert="mydb.pairs"' in page and 'data-insert="ra"' in page
    anonymous = Client().get("/query/").content.decode()
    assert 'value="quick"' in anonymous and 'value="long"' not in anonymous and "mydb.pairs" not in anonymous


def test_submitting_the_form_runs_the_job_and_shows_it(users: Any, client_of: Any, django_capture_on_commit_callbacks: Any) -> None:
    client = client_of(users.owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/query/", {"query": "SELECT COUNT(*) AS n FROM TAP_SCHEMA.tables", "queue": "quick",
                                           "table_name": "counted", "language": "ADQL"})
    assert response.status_code == 302
    job = QueryJob.objects.get(owner=users.owner)
    assert response["Location"] == f"/query/jobs/{job.id}/"
    assert job.table_name == "counted"
    assert client.get(response["Location"]).status_code == 200


def test_a_taken_name_is_refused_on_the_form(users: Any, stars: Any, run_job: Any, client_of: Any) -> None:
    run_job(users.owner, "SELECT TOP 2 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="dup")
    response = client_of(users.owner).post("/query/", {"query": "SELECT 1", "queue": "quick", "table_name": "dup"})
    assert response.status_code == 200 and "already have a table called dup" in response.content.decode()


def test_rerun_fills_the_editor_with_the_old_query(users: Any, client_of: Any) -> None:
    job = QueryJob.objects.create(owner=users.owner, query="SELECT 42 AS answer", queue="long")
    page = client_of(users.owner).get(f"/query/?rerun={job.id}").content.decode()
    assert "SELECT 42 AS answer</textarea>" in page


def test_the_job_list_filters_and_uses_few_queries(users: Any, client_of: Any) -> None:
    for i in range(30):
        QueryJob.objects.create(owner=users.owner, query=f"SELECT {i} AS n -- marker{i}", phase=phases.COMPLETED if i % 3 else phases.ERROR)
    client = client_of(users.owner)
    client.get("/query/jobs/")  # the site profile (header, footer) is read once, then cached
    with CaptureQueriesContext(connection) as queries:
        page = client.get("/query/jobs/").content.decode()
    assert page.count('data-job="') == 30
    assert len(queries) <= 12, [q["sql"] for q in queries]
    assert client.get("/query/jobs/?q=marker7").content.decode().count('data-job="') == 1
    assert client.get("/query/jobs/?phase=ERROR").content.decode().count('data-job="') == 10


def test_the_viewer_pages_and_sorts_through_the_engine(users: Any, stars: Any, run_job: Any, client_of: Any) -> None:
    job = run_job(users.owner, "SELECT source_id, mag FROM TAP_UPLOAD.stars", uploads=[stars])
    client = client_of(users.owner)
    data = client.get(f"/query/jobs/{job.id}/rows?offset=10&limit=5").json()
    assert data["total"] == 1000 and len(data["rows"]) == 5
    top = client.get(f"/query/jobs/{job.id}/rows?limit=3&sort=mag&desc=1").json()["rows"]
    mags = [r[1] for r in top]
    assert mags == sorted(mags, reverse=True)
    assert max(mags) == max(r[1] for b in [client.get(f"/query/jobs/{job.id}/rows?limit=1000").json()] for r in b["rows"])
    assert client.get(f"/query/jobs/{job.id}/rows?sort=nope").status_code == 400


def test_plot_data_samples_points_and_counts_histograms(users: Any, stars: Any, run_job: Any, client_of: Any) -> None:
    job = run_job(users.owner, "SELECT ra, dec, mag, name FROM TAP_UPLOAD.stars", uploads=[stars])
    client = client_of(users.owner)
    points = client.get(f"/query/jobs/{job.id}/plot?x=ra&y=dec&c=mag").json()
    assert len(points["data"]["ra"]) == 1000 and len(points["data"]["mag"]) == 1000
    hist = client.get(f"/query/jobs/{job.id}/plot?x=mag&kind=histogram&bins=20").json()
    assert sum(hist["counts"]) == 1000 and len(hist["edges"]) == 21
    assert client.get(f"/query/jobs/{job.id}/plot?x=name&y=ra").status_code == 400


@pytest.mark.parametrize("fmt,marker", [("csv", b"source_id"), ("votable", b"<VOTABLE"), ("votable-binary2", b"BINARY2"),
                                        ("fits", b"SIMPLE"), ("parquet", b"PAR1")])
def test_downloads_stream_every_format(users: Any, stars: Any, run_job: Any, client_of: Any, fmt: str, marker: bytes) -> None:
    job = run_job(users.owner, "SELECT source_id, ra, dec FROM TAP_UPLOAD.stars", uploads=[stars], table_name="dl")
    response = client_of(users.owner).get(f"/query/jobs/{job.id}/download?format={fmt}")
    assert response.status_code == 200 and response.streaming
    body = b"".join(response.streaming_content)
    assert marker in body[:4000]
    assert "dl." in response["Content-Disposition"]
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode())))
        assert len(rows) == 1001 and rows[0] == ["source_id", "ra", "dec"]


@pytest.mark.django_db(transaction=True)
def test_downloads_stream_under_asgi_without_buffering(users: Any, stars: Any, run_job: Any) -> None:
    """Django buffers a sync iterator served over ASGI; the download view hands ASGI an async one."""
    import asyncio
    import warnings

    from asgiref.sync import sync_to_async
    from django.test import AsyncClient

    job = run_job(users.owner, "SELECT source_id, ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="asgi")

    async def fetch() -> tuple[bool, bytes]:
        client = AsyncClient()
        await sync_to_async(client.force_login)(users.owner)
        response = await client.get(f"/query/jobs/{job.id}/download?format=csv")
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response.is_async, body

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="StreamingHttpResponse must consume")
        is_async, body = asyncio.run(fetch())
    assert is_async and body.count(b"\n") == 1001


def test_results_can_be_renamed_from_the_job_list(users: Any, stars: Any, run_job: Any, client_of: Any) -> None:
    job = run_job(users.owner, "SELECT TOP 2 ra FROM TAP_UPLOAD.stars", uploads=[stars], table_name="old_name")
    client = client_of(users.owner)
    assert f'action="/query/jobs/{job.id}/rename"' in client.get("/query/jobs/").content.decode()
    response = client.post(f"/query/jobs/{job.id}/rename", {"table_name": "new_name", "next": "/query/jobs/?q=new"})
    assert response.status_code == 302 and response["Location"] == "/query/jobs/?q=new"
    job.refresh_from_db()
    assert job.table_name == job.result_table == "new_name"
    elsewhere = client.post(f"/query/jobs/{job.id}/rename", {"table_name": "third", "next": "https://evil.example/"})
    assert elsewhere["Location"] == f"/query/jobs/{job.id}/"


def test_a_bad_query_is_shown_beside_the_editor_with_its_line_and_column(users: Any, client_of: Any) -> None:
    client = client_of(users.owner)
    response = client.post("/query/", {"query": "SELECT ra\nFROM TAP_SCHEMA.tables\nWHERE", "queue": "quick", "language": "ADQL"})
    page = response.content.decode()
    assert response.status_code == 200 and 'id="query-problem"' in page
    assert 'data-error-line="3"' in page and "Line 3, column" in page
    assert not QueryJob.objects.filter(owner=users.owner).exists()  # nothing queued for a typo
    checked = client.post("/query/", {"query": "SELECT table_name FROM TAP_SCHEMA.tables", "queue": "quick", "action": "check"})
    assert "The query is valid: 1 column" in checked.content.decode() and not QueryJob.objects.exists()


def test_rerunning_a_failed_job_points_at_its_error(users: Any, client_of: Any) -> None:
    job = QueryJob.objects.create(owner=users.owner, query="SELECT\n  nope", phase=phases.ERROR,
                                  error="Query error: no column nope (line 2, column 3)")
    page = client_of(users.owner).get(f"/query/?rerun={job.id}").content.decode()
    assert 'data-error-line="2" data-error-column="3"' in page and "no column nope" in page
    detail = client_of(users.owner).get(f"/query/jobs/{job.id}/").content.decode()
    assert 'class="error-line"' in detail and "Line 2, column 3:" in detail


def test_big_integers_reach_the_viewer_without_losing_digits(users: Any, client_of: Any, run_job: Any) -> None:
    job = run_job(users.owner, "SELECT 5517996151535277057 AS source_id, 1 AS n FROM TAP_SCHEMA.schemas")
    assert job.phase == phases.COMPLETED, job.error
    rows = client_of(users.owner).get(f"/query/jobs/{job.id}/rows").json()["rows"]
    assert rows[0] == ["5517996151535277057", 1]
