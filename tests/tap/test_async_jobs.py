"""UWS 1.1 over /tap/async: creation, parameters, phases, errors, deletion, job lists, access (no engine needed)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.test import Client
from lxml import etree

from apps.query.models import QueryJob
from apps.uws import phases
from tests.uws.schemas import assert_valid

from .conftest import basic_auth

NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0", "v": "http://www.ivoa.net/xml/VOTable/v1.3"}


def create(client: Client, **params: Any) -> str:
    response = client.post("/tap/async", {"LANG": "ADQL", **params}, **_auth(params))
    assert response.status_code == 303, response.content
    return str(response["Location"])


def _auth(params: dict[str, Any]) -> dict[str, str]:
    header = params.pop("_auth", None)
    return {"HTTP_AUTHORIZATION": header} if header else {}


def job_doc(client: Client, url: str, **headers: str) -> etree._Element:
    response = client.get(url, **headers)
    assert response.status_code == 200
    return assert_valid(response.content)


def test_it_creates_a_pending_job_and_answers_303(client: Client, demo: Any) -> None:
    url = create(client, QUERY="SELECT TOP 5 source_id FROM gaia.source", RUNID="mine", MAXREC="5")
    assert url.startswith("http://testserver/tap/async/")
    doc = job_doc(client, url)
    assert doc.findtext("uws:phase", namespaces=NS) == phases.PENDING
    assert doc.findtext("uws:runId", namespaces=NS) == "mine"
    params = {p.get("id"): p.text for p in doc.findall("uws:parameters/uws:parameter", NS)}
    assert params["query"] == "SELECT TOP 5 source_id FROM gaia.source" and params["maxrec"] == "5"
    assert doc.findtext("uws:executionDuration", namespaces=NS) == "60"  # the quick queue's limit, not 0
    assert doc.findtext("uws:quote", namespaces=NS)
    assert client.get(url + "/phase").content == b"PENDING"


def test_it_changes_parameters_only_while_pending(client: Client, demo: Any) -> None:
    url = create(client, QUERY="SELECT 1 AS x")
    assert client.post(url + "/parameters", {"QUERY": "SELECT 2 AS y", "MAXREC": "3"}).status_code == 303
    assert client.post(url, {"RUNID": "again"}).status_code == 303
    job = QueryJob.objects.get()
    assert (job.query, job.maxrec, job.run_id) == ("SELECT 2 AS y", 3, "again")
    assert_valid(client.get(url + "/parameters").content)
    QueryJob.objects.update(phase=phases.EXECUTING)
    refused = client.post(url + "/parameters", {"QUERY": "SELECT 3"})
    assert refused.status_code == 409 and b"PENDING" in refused.content


def test_it_keeps_execution_duration_within_the_queue_and_sets_destruction(client: Client, demo: Any) -> None:
    url = create(client, QUERY="SELECT 1 AS x", EXECUTIONDURATION="5")
    assert client.get(url + "/executionduration").content == b"5"
    refused = client.post(url + "/executionduration", {"EXECUTIONDURATION": "99999"})
    assert refused.status_code == 400 and b"longer than any queue you may use" in refused.content
    assert client.get(url + "/executionduration").content == b"5"
    assert QueryJob.objects.get().execution_duration == 5  # what the engine will enforce
    assert client.post(url + "/destruction", {"DESTRUCTION": "2099-01-01T00:00:00Z"}).status_code == 303
    kept = QueryJob.objects.get()
    assert kept.destruction == kept.created + timedelta(days=settings.QUERY_DESTRUCTION_DAYS)  # no longer than the service keeps jobs
    assert client.post(url + "/executionduration", {"EXECUTIONDURATION": "soon"}).status_code == 400


def test_it_chooses_the_queue_from_the_requested_execution_duration(client: Client, users: Any, demo: Any) -> None:
    auth = basic_auth(users.owner)
    quick = create(client, QUERY="SELECT 1 AS x", EXECUTIONDURATION="30", _auth=auth)
    long = create(client, QUERY="SELECT 1 AS x", EXECUTIONDURATION="3600", _auth=auth)
    assert [j.queue for j in QueryJob.objects.order_by("created")] == ["quick", "long"]
    assert client.get(long + "/executionduration", HTTP_AUTHORIZATION=auth).content == b"3600"  # not cut to 60
    moved = client.post(quick + "/executionduration", {"EXECUTIONDURATION": "600"}, HTTP_AUTHORIZATION=auth)
    assert moved.status_code == 303
    assert QueryJob.objects.order_by("created").first().queue == "long"  # type: ignore[union-attr]
    too_long = client.post("/tap/async", {"LANG": "ADQL", "QUERY": "SELECT 1", "EXECUTIONDURATION": "999999"},
                           HTTP_AUTHORIZATION=auth)
    assert too_long.status_code == 400 and b"the longest, long, allows 28800 s" in too_long.content
    named = client.post("/tap/async", {"LANG": "ADQL", "QUERY": "SELECT 1", "QUEUE": "quick", "EXECUTIONDURATION": "600"},
                        HTTP_AUTHORIZATION=auth)
    assert named.status_code == 400 and b"quick queue allows (60 s)" in named.content


def test_it_refuses_an_anonymous_duration_only_a_logged_in_queue_allows(client: Client, demo: Any) -> None:
    response = client.post("/tap/async", {"LANG": "ADQL", "QUERY": "SELECT 1", "EXECUTIONDURATION": "3600"})
    assert response.status_code == 400
    assert b"longest, quick, allows 60 s" in response.content and b"Log in" in response.content
    assert not QueryJob.objects.exists()


def test_it_puts_a_bad_query_in_error_with_a_readable_message(client: Client, demo: Any) -> None:
    url = create(client, QUERY="SELECT nothing FROM gaia.nowhere", PHASE="RUN")
    doc = job_doc(client, url)
    assert doc.findtext("uws:phase", namespaces=NS) == phases.ERROR
    message = doc.findtext("uws:errorSummary/uws:message", namespaces=NS)
    assert "nowhere" in message
    error = client.get(url + "/error")
    assert error["Content-Type"].startswith("application/x-votable+xml")
    info = etree.fromstring(error.content).find(".//v:INFO[@name='QUERY_STATUS']", NS)
    assert info.get("value") == "ERROR" and "nowhere" in info.text
    assert client.get(url + "/results/result").status_code == 404


def test_it_refuses_to_run_twice_and_aborts(client: Client, demo: Any) -> None:
    url = create(client, QUERY="SELECT 1 AS x")
    assert client.post(url + "/phase", {"PHASE": "ABORT"}).status_code == 303
    assert client.get(url + "/phase").content == b"ABORTED"
    assert client.post(url + "/phase", {"PHASE": "RUN"}).status_code == 409
    assert client.post(url + "/phase", {"PHASE": "JUMP"}).status_code == 400


def test_it_deletes_with_303_and_then_answers_404(client: Client, demo: Any) -> None:
    for how in ("DELETE", "ACTION"):
        url = create(client, QUERY="SELECT 1 AS x")
        response = client.delete(url) if how == "DELETE" else client.post(url, {"ACTION": "DELETE"})
        assert response.status_code == 303 and response["Location"] == "http://testserver/tap/async"
        assert client.get(url).status_code == 404


def test_it_lists_own_jobs_with_phase_after_and_last(client: Client, users: Any, demo: Any) -> None:
    auth = basic_auth(users.owner)
    first = create(client, QUERY="SELECT 1 AS x", _auth=auth)
    create(client, QUERY="SELECT nothing FROM nowhere", PHASE="RUN", _auth=auth)
    create(client, QUERY="SELECT 3 AS x")  # anonymous: in nobody's list
    listing = assert_valid(client.get("/tap/async", HTTP_AUTHORIZATION=auth).content)
    refs = listing.findall("uws:jobref", NS)
    assert len(refs) == 2
    assert refs[0].get("{http://www.w3.org/1999/xlink}href").startswith("http://testserver/tap/async/")
    errors = assert_valid(client.get("/tap/async?PHASE=ERROR", HTTP_AUTHORIZATION=auth).content)
    assert [r.findtext("uws:phase", namespaces=NS) for r in errors.findall("uws:jobref", NS)] == ["ERROR"]
    assert len(assert_valid(client.get("/tap/async?LAST=1", HTTP_AUTHORIZATION=auth).content).findall("uws:jobref", NS)) == 1
    created = job_doc(client, first, HTTP_AUTHORIZATION=auth).findtext("uws:creationTime", namespaces=NS)
    after = assert_valid(client.get("/tap/async", {"AFTER": created}, HTTP_AUTHORIZATION=auth).content)
    assert len(after.findall("uws:jobref", NS)) == 1
    assert client.get("/tap/async?PHASE=DONE", HTTP_AUTHORIZATION=auth).status_code == 400
    assert assert_valid(client.get("/tap/async").content).findall("uws:jobref", NS) == []


def test_it_hides_a_users_jobs_from_others(client: Client, users: Any, demo: Any) -> None:
    url = create(client, QUERY="SELECT 1 AS x", _auth=basic_auth(users.owner))
    assert client.get(url).status_code == 404
    assert client.get(url, HTTP_AUTHORIZATION=basic_auth(users.outsider)).status_code == 404
    doc = job_doc(client, url, HTTP_AUTHORIZATION=basic_auth(users.owner))
    assert doc.findtext("uws:ownerId", namespaces=NS) == "owner"


def test_it_does_not_let_a_cross_site_form_act_for_a_logged_in_user(users: Any, demo: Any) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(users.owner)
    url = create(Client(), QUERY="SELECT 1 AS x", _auth=basic_auth(users.owner))
    assert browser.get(url).status_code == 200  # reading with the session is fine
    assert browser.post(url, {"ACTION": "DELETE"}).status_code == 404  # a cookie-only POST counts as anonymous
    assert QueryJob.objects.count() == 1


def test_it_refuses_bad_parameters_with_a_votable_error(client: Client, demo: Any) -> None:
    for params in ({"QUERY": "SELECT 1", "MAXREC": "-1"}, {"QUERY": "SELECT 1", "RESPONSEFORMAT": "image/gif"},
                   {"QUERY": "SELECT 1", "UPLOAD": "t,ftp://example.org/t.xml"}):
        response = client.post("/tap/async", {"LANG": "ADQL", **params})
        assert response.status_code == 400
        assert etree.fromstring(response.content).find(".//v:INFO[@name='QUERY_STATUS']", NS).get("value") == "ERROR"


def test_it_keeps_uploads_with_the_job_and_shows_them_as_one_parameter(client: Client, demo: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post("/tap/async", {"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,param:tfile",
                                          "tfile": SimpleUploadedFile("t.csv", b"a,b\n1,2\n")})
    assert response.status_code == 303
    doc = job_doc(client, response["Location"])
    params = {p.get("id"): p for p in doc.findall("uws:parameters/uws:parameter", NS)}
    assert params["upload"].text == "t,param:tfile" and params["upload"].get("byReference") == "true"
    assert not [name for name in params if name.startswith("upload_uri")]
    job = QueryJob.objects.get()
    assert [u["name"] for u in job.uploads] == ["t"]


def test_it_removes_a_jobs_uploaded_tables_with_the_job(client: Client, demo: Any, django_capture_on_commit_callbacks: Any) -> None:
    from pathlib import Path

    from django.core.files.uploadedfile import SimpleUploadedFile

    url = client.post("/tap/async", {"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,param:f",
                                     "f": SimpleUploadedFile("t.csv", b"a\n1\n")})["Location"]
    path = Path(QueryJob.objects.get().uploads[0]["path"])
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(url).status_code == 303
    assert not path.exists() and not path.parent.exists()


def test_it_refuses_a_bad_destruction_before_making_a_job(client: Client, demo: Any) -> None:
    response = client.post("/tap/async", {"LANG": "ADQL", "QUERY": "SELECT 1", "DESTRUCTION": "someday"})
    assert response.status_code == 400 and not QueryJob.objects.exists()
    import datetime as dt

    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(microsecond=0)
    url = create(client, QUERY="SELECT 1 AS x", DESTRUCTION=soon.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert client.get(url + "/destruction").content.decode() == soon.strftime("%Y-%m-%dT%H:%M:%SZ")
