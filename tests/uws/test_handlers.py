"""The handler per job sub-resource, over an in-memory job store."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping

import pytest

from apps.uws import documents as d
from apps.uws import handlers as h
from apps.uws import phases

from .schemas import assert_valid

NOW = dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC)


@dataclasses.dataclass
class Job:
    phase: str = phases.PENDING
    params: dict[str, str] = dataclasses.field(default_factory=dict)
    duration: int = 0
    destruction: dt.datetime | None = None
    deleted: bool = False
    waited: float = 0.0


class Store:
    def summary(self, job: Job) -> d.JobSummary:
        error = d.ErrorSummary("bad") if job.phase == phases.ERROR else None
        return d.JobSummary("j1", job.phase, None, NOW, execution_duration=job.duration, destruction=job.destruction,
                            parameters=job.params, error=error)

    def job_url(self, job: Job) -> str:
        return "http://h/async/j1"

    def list_url(self) -> str:
        return "http://h/async"

    def run(self, job: Job) -> None:
        job.phase = phases.QUEUED

    def abort(self, job: Job) -> None:
        job.phase = phases.ABORTED

    def delete(self, job: Job) -> None:
        job.deleted = True

    def set_execution_duration(self, job: Job, seconds: int) -> None:
        job.duration = seconds

    def set_destruction(self, job: Job, when: dt.datetime) -> None:
        job.destruction = when

    def set_parameters(self, job: Job, parameters: Mapping[str, str]) -> None:
        job.params.update(parameters)

    def wait(self, job: Job, timeout_s: float, while_phase: str | None) -> Job:
        job.waited = timeout_s
        return job

    def error_body(self, job: Job) -> tuple[bytes, str]:
        return b"<VOTABLE/>", "application/x-votable+xml"


def call(job: Job, resource: str, method: str = "GET", **params: str) -> h.Reply:
    return h.dispatch(resource, h.Request(method, params, job, Store()))


def test_it_answers_the_job_document_and_text_sub_resources() -> None:
    job = Job(duration=30)
    assert_valid(call(job, "").body)
    assert call(job, "phase").body == b"PENDING"
    assert call(job, "executionduration").body == b"30"
    assert call(job, "quote").body == b""
    assert_valid(call(job, "parameters").body)
    assert_valid(call(job, "results").body)


def test_it_runs_and_aborts_with_303() -> None:
    job = Job()
    reply = call(job, "phase", "POST", phase="RUN")
    assert (reply.status, reply.location, job.phase) == (303, "http://h/async/j1", phases.QUEUED)
    with pytest.raises(h.UwsError) as refused:
        call(job, "phase", "POST", phase="RUN")
    assert refused.value.status == 409
    assert call(job, "phase", "POST", phase="abort").status == 303 and job.phase == phases.ABORTED
    with pytest.raises(h.UwsError):
        call(Job(), "phase", "POST", phase="SLEEP")


def test_it_sets_parameters_only_while_pending() -> None:
    job = Job()
    assert call(job, "", "POST", query="SELECT 1", maxrec="5").status == 303
    assert job.params == {"query": "SELECT 1", "maxrec": "5"}
    call(job, "parameters", "POST", lang="ADQL")
    assert job.params["lang"] == "ADQL"
    job.phase = phases.EXECUTING
    with pytest.raises(h.UwsError) as refused:
        call(job, "parameters", "POST", lang="ADQL-2.0")
    assert refused.value.status == 409


def test_it_sets_execution_duration_and_destruction() -> None:
    job = Job()
    call(job, "executionduration", "POST", executionduration="12")
    assert job.duration == 12
    call(job, "destruction", "POST", destruction="2026-12-01T00:00:00Z")
    assert job.destruction == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    for bad in ({"executionduration": "soon"}, {"executionduration": "-1"}):
        with pytest.raises(h.UwsError):
            call(job, "executionduration", "POST", **bad)
    with pytest.raises(h.UwsError):
        call(job, "destruction", "POST", destruction="never")


def test_it_deletes_by_delete_and_by_action() -> None:
    for method, params in (("DELETE", {}), ("POST", {"action": "DELETE"})):
        job = Job()
        reply = call(job, "", method, **params)
        assert (reply.status, reply.location, job.deleted) == (303, "http://h/async", True)


def test_it_waits_only_for_active_jobs_and_caps_the_wait() -> None:
    job = Job(phase=phases.EXECUTING)
    call(job, "", wait="-1")
    assert job.waited == h.MAX_WAIT_S
    done = Job(phase=phases.COMPLETED)
    call(done, "", wait="10")
    assert done.waited == 0
    other = Job(phase=phases.QUEUED)
    call(other, "", wait="10", phase="EXECUTING")
    assert other.waited == 0


def test_it_serves_the_error_only_for_failed_jobs() -> None:
    assert call(Job(phase=phases.ERROR), "error").body == b"<VOTABLE/>"
    with pytest.raises(h.UwsError) as missing:
        call(Job(), "error")
    assert missing.value.status == 404


def test_it_refuses_unknown_resources_and_methods() -> None:
    with pytest.raises(h.UwsError) as unknown:
        call(Job(), "nothing")
    assert unknown.value.status == 404
    with pytest.raises(h.UwsError) as method:
        call(Job(), "quote", "POST")
    assert method.value.status == 405
