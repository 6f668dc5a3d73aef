"""The SAMP template tags other pages use: a signed link for a result or a table, nothing for unfinished jobs."""

from __future__ import annotations

from typing import Any

from django.template import Context, Template
from django.test import RequestFactory

from apps.query.models import QueryJob
from apps.tap import samp
from apps.uws import phases

PAGE = Template("{% load samp %}{% samp_result_button job %}|{% samp_table_button 'gaia.source' %}|{% samp_script %}")


def render(job: QueryJob, users: Any) -> str:
    request = RequestFactory().get("/")
    request.user = users.owner
    return PAGE.render(Context({"request": request, "job": job}))


def test_it_renders_signed_links_for_a_finished_result_and_a_table(users: Any) -> None:
    job = QueryJob.objects.create(owner=users.owner, query="SELECT 1", phase=phases.COMPLETED, table_name="mine")
    html = render(job, users)
    result, table, script = html.split("|")
    assert 'data-samp-name="mine"' in result and "http://testserver/tap/results/" in result
    token = result.split("/tap/results/")[1].split('"')[0]
    assert samp.job_id_of(token) == str(job.id)
    signed = samp.query_of(table.split("/tap/links/")[1].split('"')[0])
    assert (signed.query, signed.user_id) == ("SELECT * FROM gaia.source", users.owner.pk)
    assert "js/samp.js" in script


def test_it_renders_no_button_for_a_job_without_a_result(users: Any) -> None:
    job = QueryJob.objects.create(owner=users.owner, query="SELECT 1", phase=phases.EXECUTING)
    assert "data-samp-url" not in render(job, users).split("|")[0]


def test_signed_links_expire(client: Any, users: Any, settings: Any) -> None:
    import pytest
    from django.core import signing

    job = QueryJob.objects.create(owner=users.owner, query="SELECT 1", phase=phases.COMPLETED)
    token = render(job, users).split("/tap/results/")[1].split('"')[0]
    assert samp.job_id_of(token) == str(job.id)
    settings.TAP_RESULT_LINK_SECONDS = -1  # every link is now too old
    with pytest.raises(signing.SignatureExpired):
        samp.job_id_of(token)
    assert client.get(f"/tap/results/{token}").status_code == 404


def test_a_table_button_says_how_many_rows_it_sends_and_names_the_table_so(users: Any) -> None:
    from types import SimpleNamespace

    request = RequestFactory().get("/")
    request.user = users.owner
    button = Template("{% load samp %}{% samp_table_button table %}")
    small = button.render(Context({"request": request, "table": SimpleNamespace(qualified_name="gaia.source", row_count=2000)}))
    assert "Send all 2,000 rows to TOPCAT/Aladin" in small and 'data-samp-name="gaia.source"' in small
    big = button.render(Context({"request": request, "table": SimpleNamespace(qualified_name="gaia.source", row_count=10**6)}))
    assert "Send the first 10,000 rows to TOPCAT/Aladin" in big and 'data-samp-name="gaia.source (first 10000 rows)"' in big
    assert samp.query_of(big.split("/tap/links/")[1].split('"')[0]).maxrec == samp.TABLE_ROWS
    unknown = button.render(Context({"request": request, "table": "ztf.lightcurves"}))
    assert "Send the first 10,000 rows" in unknown
