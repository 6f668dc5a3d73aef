"""UWS 1.1 job sub-resources: one small handler each, dispatched from a dict.

The handlers know the protocol (which methods, parameters, answers and
redirects UWS asks for) and nothing about storage: they call a ``JobStore``
that the service (TAP) implements over its models and actions. A handler
returns a ``Reply``; the web layer turns it into an HTTP response.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from . import phases
from .documents import CONTENT_TYPE, JobSummary, job_document, parameters_document, results_document, timestamp
from .parameters import DESTRUCTION, EXECUTIONDURATION, JobParameter, ParameterError

TEXT = "text/plain; charset=utf-8"
MAX_WAIT_S = 60.0  # blocking WAIT never holds a connection longer than this

JobT = TypeVar("JobT")
T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = TEXT
    location: str | None = None  # for 303 See Other


class UwsError(Exception):
    """A request UWS refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class JobStore(Protocol[JobT]):
    """What the handlers need from the service that keeps the jobs."""

    def summary(self, job: JobT) -> JobSummary: ...
    def job_url(self, job: JobT) -> str: ...
    def list_url(self) -> str: ...
    def run(self, job: JobT) -> None: ...
    def abort(self, job: JobT) -> None: ...
    def delete(self, job: JobT) -> None: ...
    def set_execution_duration(self, job: JobT, seconds: int) -> None: ...
    def set_destruction(self, job: JobT, when: dt.datetime) -> None: ...
    def set_parameters(self, job: JobT, parameters: Mapping[str, str]) -> None: ...
    def wait(self, job: JobT, timeout_s: float, while_phase: str | None) -> JobT: ...
    def error_body(self, job: JobT) -> tuple[bytes, str]: ...


@dataclass(frozen=True)
class Request(Generic[JobT]):
    """One call on a job: the method and its parameters (names lower-cased)."""

    method: str
    params: Mapping[str, str]
    job: JobT
    store: JobStore[JobT]


Handler = Callable[[Request[JobT]], Reply]


def _text(value: str) -> Reply:
    return Reply(body=value.encode(), content_type=TEXT)


def _see_job(req: Request[JobT]) -> Reply:
    return Reply(status=303, location=req.store.job_url(req.job))


def _only_pending(summary: JobSummary, what: str) -> None:
    if summary.phase != phases.PENDING:
        raise UwsError(f"{what} can only be changed while the job is PENDING; it is {summary.phase}.", 409)


def _read(req: Request[JobT], parameter: JobParameter[T]) -> T:
    """A parameter this request must give, read by its one declaration (parameters.py)."""
    _required(req, parameter.name)
    try:
        return parameter.read(req.params)
    except ParameterError as exc:
        raise UwsError(str(exc)) from None


# --- GET ------------------------------------------------------------------

def get_job(req: Request[JobT]) -> Reply:
    job = req.job
    if "wait" in req.params:
        wanted = req.params.get("phase", "").strip().upper() or None
        if wanted is not None and wanted not in phases.ALL:
            raise UwsError(f"{wanted!r} is not a UWS phase.")
        current = req.store.summary(job).phase
        if current in phases.WAITABLE and (wanted is None or wanted == current):
            limit = _wait_seconds(req.params["wait"])
            if limit > 0:
                job = req.store.wait(job, limit, wanted)
    return Reply(body=job_document(req.store.summary(job)), content_type=CONTENT_TYPE)


def _wait_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise UwsError(f"WAIT must be a number of seconds, not {value!r}.") from None
    return MAX_WAIT_S if seconds < 0 else min(seconds, MAX_WAIT_S)  # -1 means "as long as you allow"


def get_phase(req: Request[JobT]) -> Reply:
    return _text(req.store.summary(req.job).phase)


def get_execution_duration(req: Request[JobT]) -> Reply:
    return _text(str(req.store.summary(req.job).execution_duration))


def _time_text(value: dt.datetime | None) -> Reply:
    return _text(timestamp(value) if value else "")


def get_destruction(req: Request[JobT]) -> Reply:
    return _time_text(req.store.summary(req.job).destruction)


def get_quote(req: Request[JobT]) -> Reply:
    return _time_text(req.store.summary(req.job).quote)


def get_owner(req: Request[JobT]) -> Reply:
    return _text(req.store.summary(req.job).owner_id or "")


def get_run_id(req: Request[JobT]) -> Reply:
    return _text(req.store.summary(req.job).run_id)


def get_parameters(req: Request[JobT]) -> Reply:
    summary = req.store.summary(req.job)
    return Reply(body=parameters_document(summary.parameters, summary.by_reference), content_type=CONTENT_TYPE)


def get_results(req: Request[JobT]) -> Reply:
    return Reply(body=results_document(req.store.summary(req.job).results), content_type=CONTENT_TYPE)


def get_error(req: Request[JobT]) -> Reply:
    summary = req.store.summary(req.job)
    if summary.error is None:
        raise UwsError("This job has no error.", 404)
    body, content_type = req.store.error_body(req.job)
    return Reply(body=body, content_type=content_type)


# --- POST -----------------------------------------------------------------

def post_job(req: Request[JobT]) -> Reply:
    """ACTION=DELETE, PHASE=RUN/ABORT, or new parameter values."""
    if req.params.get("action", "").strip().upper() == "DELETE":
        return delete_job(req)
    params = {k: v for k, v in req.params.items() if k != "phase"}
    if params:
        _only_pending(req.store.summary(req.job), "Parameters")
        req.store.set_parameters(req.job, params)
    if "phase" in req.params:
        return post_phase(req)
    return _see_job(req)


def post_phase(req: Request[JobT]) -> Reply:
    action = req.params.get("phase", "").strip().upper()
    phase = req.store.summary(req.job).phase
    if action == phases.RUN:
        if phase != phases.PENDING and phase != phases.HELD:
            raise UwsError(f"Only a PENDING job can be run; this one is {phase}.", 409)
        req.store.run(req.job)
    elif action == phases.ABORT:
        if phase not in phases.FINAL:  # aborting a finished job changes nothing
            req.store.abort(req.job)
    else:
        raise UwsError(f"PHASE must be RUN or ABORT, not {action!r}.")
    return _see_job(req)


def post_execution_duration(req: Request[JobT]) -> Reply:
    seconds = _read(req, EXECUTIONDURATION)
    _only_pending(req.store.summary(req.job), "EXECUTIONDURATION")
    req.store.set_execution_duration(req.job, seconds)
    return _see_job(req)


def post_destruction(req: Request[JobT]) -> Reply:
    when = _read(req, DESTRUCTION)  # never None: the value is required
    if when is not None:
        req.store.set_destruction(req.job, when)
    return _see_job(req)


def post_parameters(req: Request[JobT]) -> Reply:
    _only_pending(req.store.summary(req.job), "Parameters")
    if req.params:
        req.store.set_parameters(req.job, req.params)
    return _see_job(req)


def _required(req: Request[JobT], name: str) -> str:
    value = req.params.get(name)
    if value is None or not value.strip():
        raise UwsError(f"{name.upper()} is required.")
    return value


# --- DELETE ---------------------------------------------------------------

def delete_job(req: Request[JobT]) -> Reply:
    req.store.delete(req.job)
    return Reply(status=303, location=req.store.list_url())


# (sub-resource, method) -> handler. "" is the job itself.
HANDLERS: dict[tuple[str, str], Handler[object]] = {
    ("", "GET"): get_job,
    ("", "POST"): post_job,
    ("", "DELETE"): delete_job,
    ("phase", "GET"): get_phase,
    ("phase", "POST"): post_phase,
    ("executionduration", "GET"): get_execution_duration,
    ("executionduration", "POST"): post_execution_duration,
    ("destruction", "GET"): get_destruction,
    ("destruction", "POST"): post_destruction,
    ("quote", "GET"): get_quote,
    ("owner", "GET"): get_owner,
    ("runid", "GET"): get_run_id,
    ("parameters", "GET"): get_parameters,
    ("parameters", "POST"): post_parameters,
    ("results", "GET"): get_results,
    ("error", "GET"): get_error,
}
RESOURCES = frozenset(name for name, _ in HANDLERS)


def dispatch(resource: str, request: Request[JobT]) -> Reply:
    """Run the handler for ``resource``; UwsError for unknown ones or methods."""
    if resource not in RESOURCES:
        raise UwsError(f"A UWS job has no resource {resource!r}.", 404)
    handler = HANDLERS.get((resource, request.method.upper()))
    if handler is None:
        raise UwsError(f"{request.method} is not allowed on {resource or 'the job'}.", 405)
    return handler(request)  # type: ignore[arg-type]  # the table is generic over the job type
