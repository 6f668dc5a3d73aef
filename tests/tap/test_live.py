"""The TAP service as VO clients see it: taplint over all stages, pyvo, raw DALI/UWS HTTP, against uvicorn."""

from __future__ import annotations

import io
import re
import subprocess
import time
import urllib.parse

import numpy as np
import pytest
import pyvo
import requests
from astropy.io.votable import parse_single_table
from astropy.table import Table
from lxml import etree

from tests.uws.schemas import assert_valid

from .conftest import LiveTap

# The database must exist for the server: the tests themselves only talk HTTP (their own transaction stays empty).
pytestmark = pytest.mark.django_db
NS = {"uws": "http://www.ivoa.net/xml/UWS/v1.0", "v": "http://www.ivoa.net/xml/VOTable/v1.3"}
TOTALS = re.compile(r"Totals: Errors: (\d+); Warnings: (\d+); Infos: (\d+); Summaries: (\d+); Failures: (\d+)")


def votable(content: bytes) -> etree._Element:
    return etree.fromstring(content)


def query_status(doc: etree._Element) -> list[str]:
    return [i.get("value") for i in doc.iter(f"{{{NS['v']}}}INFO") if i.get("name") == "QUERY_STATUS"]


def authed(live: LiveTap) -> requests.Session:
    session = requests.Session()
    session.auth = live.auth
    return session


ALL_STAGES = ("TMV", "TME", "TMS", "TMC", "CPV", "CAP", "AVV", "QGE", "QPO", "QAS", "UWS", "MDQ", "OBS", "LOC", "UPL", "EXA")


def test_it_passes_taplint_over_all_stages_without_errors_or_warnings(live_tap: LiveTap) -> None:
    run = subprocess.run(["stilts", "taplint", f"tapurl={live_tap.url}", "maxrepeat=3", f"stages={' '.join(ALL_STAGES)}"],
                         capture_output=True, text=True, timeout=600, check=False)
    totals = TOTALS.search(run.stdout)
    assert totals, run.stdout[-3000:] + run.stderr[-2000:]
    problems = "\n".join(line for line in run.stdout.splitlines() if line[:2] in ("E-", "W-"))
    if "'size'" in problems:
        problems += ('\nTAP 1.1 section 4.3: the row of TAP_SCHEMA.columns for its own "size" column must have '
                     'column_name \'"size"\' (delimited, a reserved word); TAP_SCHEMA rows come from apps/metadata/tap_schema.py.')
    assert (int(totals[1]), int(totals[2])) == (0, 0), problems
    for stage in ALL_STAGES:
        assert f"Section {stage}" in run.stdout  # every stage ran
    # The one failure: the ObsLocTAP stage does not check whether the service declares that data model (the
    # ObsCore stage does, and says "no ObsCore tests"); it looks for ivoa.obsplan, which a portal without an
    # observation plan has not got. Anything else failing is a real failure.
    failures = [line.split()[0] for line in run.stdout.splitlines() if line.startswith("F-")]
    assert failures == ["F-LOC-NOTP-1"] and int(totals[5]) == 1, run.stdout[-3000:]
    assert "I-OBS-NODM-1" in run.stdout  # ObsCore: not declared, so not tested


def test_pyvo_runs_sync_queries_with_published_column_metadata(live_tap: LiveTap) -> None:
    service = pyvo.dal.TAPService(live_tap.url)
    result = service.run_sync("SELECT TOP 7 source_id, ra, dec, phot_g_mean_mag FROM gaia.source ORDER BY source_id")
    table = result.to_table()
    assert len(table) == 7 and table["ra"].unit == "deg"
    fields = {f.name: f for f in result.resultstable.fields}
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and fields["source_id"].description
    assert result.resultstable.ID == "result"
    assert list(table["source_id"]) == sorted(table["source_id"])


def test_pyvo_uses_a_declared_user_defined_function(live_tap: LiveTap) -> None:
    table = pyvo.dal.TAPService(live_tap.url).run_sync(
        "SELECT TOP 3 source_id, gaia_healpix_index(12, source_id) AS hpx FROM gaia.source").to_table()
    assert list(table["hpx"]) == [int(s) >> 35 for s in table["source_id"]]


def test_pyvo_runs_async_jobs_and_lists_them_with_basic_auth(live_tap: LiveTap) -> None:
    service = pyvo.dal.TAPService(live_tap.url, session=authed(live_tap))
    result = service.run_async("SELECT TOP 12 source_id FROM gaia.source", maxrec=10)
    assert len(result) == 10  # MAXREC cut it (pyvo deletes the job afterwards)
    job = service.submit_job("SELECT TOP 3 source_id FROM gaia.source")
    job.run().wait(timeout=60)
    assert len(job.fetch_result()) == 3
    jobs = service.get_job_list()
    assert len(jobs) == 1 and jobs[0].phase == "COMPLETED" and jobs[0].ownerid == live_tap.user.username
    assert service.get_job_list(phases=["ERROR"]) == []
    assert pyvo.dal.TAPService(live_tap.url).get_job_list() == []  # anonymous clients see no one's jobs


def test_pyvo_uploads_a_table_inline(live_tap: LiveTap) -> None:
    mine = Table({"id": np.array([1, 2, 3]), "ra": np.array([10.0, 20.0, 30.0]), "label": ["a", "b", "c"]})
    service = pyvo.dal.TAPService(live_tap.url)
    result = service.run_sync("SELECT id, ra * 2 AS twice, label FROM TAP_UPLOAD.mine ORDER BY id", uploads={"mine": mine})
    assert [round(float(v), 3) for v in result.to_table()["twice"]] == [20.0, 40.0, 60.0]
    job = service.submit_job("SELECT COUNT(*) AS n FROM TAP_UPLOAD.mine", uploads={"mine": mine})
    job.run().wait(timeout=60)
    assert job.fetch_result().to_table()["n"][0] == 3


def test_it_uploads_a_table_by_url_from_a_server(live_tap: LiveTap) -> None:
    source = f"{live_tap.url}/sync?" + urllib.parse.urlencode({"LANG": "ADQL", "QUERY": "SELECT TOP 4 source_id, ra FROM gaia.source"})
    response = requests.post(f"{live_tap.url}/sync", data={"LANG": "ADQL", "UPLOAD": f"ids,{source}",
                                                            "QUERY": "SELECT COUNT(*) AS n FROM TAP_UPLOAD.ids"}, timeout=60)
    assert response.status_code == 200, response.text
    assert parse_single_table(io.BytesIO(response.content)).to_table()["n"][0] == 4
    for bad in ("ids,file:///etc/passwd", f"ids,{live_tap.url}/nothing-here"):
        refused = requests.post(f"{live_tap.url}/sync", data={"LANG": "ADQL", "UPLOAD": bad, "QUERY": "SELECT 1 AS x"}, timeout=60)
        assert refused.status_code == 400 and query_status(votable(refused.content)) == ["ERROR"]


def test_it_refuses_an_upload_over_the_size_limit(live_tap: LiveTap) -> None:
    big = "x\n" + "1\n" * (9 * 1024 * 1024)  # 18 MiB of CSV, over the 16 MiB limit
    response = requests.post(f"{live_tap.url}/sync", data={"LANG": "ADQL", "UPLOAD": "big,param:big", "QUERY": "SELECT 1 AS x"},
                             files={"big": ("big.csv", big.encode())}, timeout=120)
    assert response.status_code == 400 and b"limit" in response.content


def test_pyvo_reports_errors_with_the_message(live_tap: LiveTap) -> None:
    service = pyvo.dal.TAPService(live_tap.url)
    with pytest.raises(pyvo.dal.DALQueryError, match="nowhere"):
        service.run_sync("SELECT * FROM gaia.nowhere")
    job = service.submit_job("SELECT nothing FROM gaia.source")
    job.run().wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=60)
    assert job.phase == "ERROR" and "nothing" in job._job.errorsummary.message.content
    with pytest.raises(pyvo.dal.DALQueryError):
        job.raise_if_error()


def test_maxrec_zero_gives_metadata_and_overflow_by_raw_http(live_tap: LiveTap) -> None:
    response = requests.get(f"{live_tap.url}/sync", params={"LANG": "ADQL", "QUERY": "SELECT ra, dec FROM gaia.source", "MAXREC": "0"},
                            timeout=60)
    assert response.status_code == 200
    table = parse_single_table(io.BytesIO(response.content))
    assert len(table.array) == 0 and [f.name for f in table.fields] == ["ra", "dec"]
    assert query_status(votable(response.content)) == ["OK", "OVERFLOW"]
    cut = requests.get(f"{live_tap.url}/sync", params={"LANG": "ADQL", "QUERY": "SELECT source_id FROM gaia.source", "MAXREC": "5"},
                       timeout=60)
    assert len(parse_single_table(io.BytesIO(cut.content)).array) == 5 and query_status(votable(cut.content))[-1] == "OVERFLOW"


@pytest.mark.parametrize(("value", "content_type", "magic"), [
    ("csv", "text/csv", b'"source_id","ra"'), ("text/tab-separated-values", "text/tab-separated-values", b"source_id\tra"),
    ("application/fits", "application/fits", b"SIMPLE  ="), ("parquet", "application/vnd.apache.parquet", b"PAR1"),
    ("votable/td", "application/x-votable+xml;serialization=TABLEDATA", b"<?xml"),
])
def test_it_answers_in_the_requested_format(live_tap: LiveTap, value: str, content_type: str, magic: bytes) -> None:
    response = requests.get(f"{live_tap.url}/sync", params={"LANG": "ADQL", "QUERY": "SELECT TOP 3 source_id, ra FROM gaia.source",
                                                            "RESPONSEFORMAT": value}, timeout=60)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith(content_type)
    assert response.content.startswith(magic)


def test_it_runs_native_sql_of_the_engine_for_those_allowed(live_tap: LiveTap) -> None:
    params = {"LANG": "duckdb", "QUERY": "SELECT count(*) AS n FROM gaia.source"}
    refused = requests.get(f"{live_tap.url}/sync", params=params, timeout=60)
    assert "QUERY_STATUS" in refused.text and "may not write duckdb SQL" in refused.text
    response = authed(live_tap).get(f"{live_tap.url}/sync", params=params, timeout=60)
    assert response.status_code == 200, response.text
    assert parse_single_table(io.BytesIO(response.content)).to_table()["n"][0] == 2000


def test_uws_by_raw_http_wait_execution_duration_and_delete(live_tap: LiveTap) -> None:
    session = authed(live_tap)
    created = session.post(f"{live_tap.url}/async", data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 ra FROM gaia.source"},
                           allow_redirects=False, timeout=30)
    assert created.status_code == 303
    job = created.headers["Location"]
    started = time.monotonic()
    waited = session.get(job, params={"WAIT": "2"}, timeout=30)
    assert time.monotonic() - started >= 1.5  # blocked while PENDING
    assert assert_valid(waited.content).findtext("uws:phase", namespaces=NS) == "PENDING"
    # A statement longer than EXECUTIONDURATION is stopped by the engine: the job ends in ERROR.
    slow = ("SELECT COUNT(*) AS n FROM gaia.source AS a, gaia.source AS b, gaia.source AS c "
            "WHERE SIN(a.ra + b.dec + c.ra) > 0.9999")  # 8e9 rows to filter: no join key, no statistics shortcut
    session.post(job, data={"QUERY": slow, "EXECUTIONDURATION": "1"}, timeout=30)
    session.post(f"{job}/phase", data={"PHASE": "RUN"}, timeout=60)
    doc = assert_valid(session.get(job, params={"WAIT": "30"}, timeout=60).content)
    assert doc.findtext("uws:phase", namespaces=NS) == "ERROR"
    assert "time limit" in doc.findtext("uws:errorSummary/uws:message", namespaces=NS)  # stopped, not failed otherwise
    deleted = session.delete(job, allow_redirects=False, timeout=30)
    assert deleted.status_code == 303 and deleted.headers["Location"] == f"{live_tap.url}/async"
    assert session.get(job, timeout=30).status_code == 404


def test_it_rejects_wrong_credentials_with_a_challenge(live_tap: LiveTap) -> None:
    response = requests.get(f"{live_tap.url}/async", auth=(live_tap.user.username, "wrong"), timeout=30)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Basic")


def test_it_takes_the_older_format_parameter_too(live_tap: LiveTap) -> None:
    response = requests.post(f"{live_tap.url}/sync", data={"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "text/csv",
                                                            "QUERY": "SELECT TOP 2 source_id FROM gaia.source"}, timeout=60)
    assert response.headers["Content-Type"].startswith("text/csv") and response.text.count("\n") == 3
