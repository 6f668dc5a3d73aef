"""The UWS documents are valid UWS 1.1 and say what the job is."""

from __future__ import annotations

import datetime as dt

import pytest

from apps.uws import documents as d
from apps.uws import phases

from .schemas import assert_valid

NOW = dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC)
NS = {"uws": d.UWS_NS, "xlink": d.XLINK_NS}


def a_job(**changes: object) -> d.JobSummary:
    fields: dict[str, object] = dict(
        job_id="abc", phase=phases.COMPLETED, owner_id="alice", creation_time=NOW, run_id="mine",
        start_time=NOW, end_time=NOW, execution_duration=60, destruction=NOW + dt.timedelta(days=7),
        parameters={"query": "SELECT 1 < 2", "lang": "ADQL", "upload": "t,http://x/y"}, by_reference=frozenset({"upload"}),
        results=(d.Result("result", "http://host/tap/async/abc/results/result", "application/x-votable+xml", 12),),
    )
    fields.update(changes)
    return d.JobSummary(**fields)  # type: ignore[arg-type]


def test_it_writes_a_valid_job_document() -> None:
    tree = assert_valid(d.job_document(a_job()))
    assert tree.get("version") == "1.1"
    assert tree.findtext("uws:phase", namespaces=NS) == "COMPLETED"
    assert tree.find("uws:parameters/uws:parameter[@id='query']", NS).text == "SELECT 1 < 2"
    assert tree.find("uws:parameters/uws:parameter[@id='upload']", NS).get("byReference") == "true"
    result = tree.find("uws:results/uws:result", NS)
    assert result.get(f"{{{d.XLINK_NS}}}href").endswith("/results/result")
    assert tree.findtext("uws:creationTime", namespaces=NS) == "2026-11-21T06:00:00Z"


def test_it_writes_nil_times_and_owner_of_a_pending_anonymous_job() -> None:
    job = a_job(phase=phases.PENDING, owner_id=None, start_time=None, end_time=None, results=(), run_id="")
    tree = assert_valid(d.job_document(job))
    assert tree.find("uws:ownerId", NS).get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    assert tree.find("uws:runId", NS) is None


def test_it_writes_the_error_summary_as_a_uws_message() -> None:
    job = a_job(phase=phases.ERROR, results=(), error=d.ErrorSummary("Unknown table foo."))
    tree = assert_valid(d.job_document(job))
    summary = tree.find("uws:errorSummary", NS)
    assert summary.get("type") == "fatal" and summary.get("hasDetail") == "false"
    assert summary.findtext("uws:message", namespaces=NS) == "Unknown table foo."


def test_it_writes_a_valid_job_list() -> None:
    refs = [d.JobRef("a", "http://h/tap/async/a", phases.PENDING, "r", "alice", NOW), d.JobRef("b", "http://h/tap/async/b", phases.ERROR)]
    tree = assert_valid(d.job_list_document(refs))
    assert [j.get("id") for j in tree.findall("uws:jobref", NS)] == ["a", "b"]
    assert_valid(d.job_list_document([]))


def test_it_writes_valid_results_and_parameters() -> None:
    assert_valid(d.results_document(a_job().results))
    assert_valid(d.parameters_document({"query": "SELECT TOP 1 * FROM t"}))


def test_it_reads_timestamps_with_or_without_zone() -> None:
    assert d.parse_timestamp("2026-11-21T06:00:00Z") == NOW
    assert d.parse_timestamp("2026-11-21T06:00:00") == NOW
    with pytest.raises(ValueError):
        d.parse_timestamp("tomorrow")


def test_it_checks_phase_filters() -> None:
    assert phases.parse_phase_filter(["executing", "ERROR"]) == ["EXECUTING", "ERROR"]
    with pytest.raises(ValueError):
        phases.parse_phase_filter(["DONE"])
