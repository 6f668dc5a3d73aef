"""What the TAP service declares and how a job looks through UWS: formats, languages, limits, the job store."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from apps import formats
from apps.adql.udfs import UDFS
from apps.metadata.catalog import metadata_version
from apps.metadata.models import Function, Schema
from apps.query import actions, live
from apps.query.models import QueryJob
from apps.query.queues import Queue, QueueError, all_queues, check_queue, get_queue, queue_or_default, queues_for
from apps.uws import phases
from apps.uws.documents import ErrorSummary, JobSummary, Result
from apps.uws.handlers import UwsError
from apps.uws.parameters import ACTION, DESTRUCTION, EXECUTIONDURATION, PHASE

from . import params as p
from .vosi import Language, Limits, OutputFormat

TAPREGEXT = "ivo://ivoa.net/std/TAPRegExt"
_IVO_IDS = {"votable-td": "output-votable-td", "votable-b": "output-votable-binary", "votable-b2": "output-votable-binary2"}
_ALIASES = {"votable": "votable", "votable-td": "votable/td", "votable-b": "votable/b", "votable-b2": "votable/b2",
            "csv": "csv", "tsv": "tsv", "fits": "fits", "parquet": "parquet", "ecsv": "ecsv", "json": "json"}
WAIT_POLL_S = 0.2  # the longest pause between two looks at a job's phase in a blocking WAIT
WAIT_FIRST_POLL_S = 0.005

# UWS parameter name -> QueryJob field (and how to read it).
_JOB_FIELDS = {"query": "query", "lang": "language", "maxrec": "maxrec", "responseformat": "response_format",
               "format": "response_format", "runid": "run_id", "queue": "queue"}
# Parameters that change the job otherwise than by being stored (their own resources, or the request itself).
_NOT_STORED = frozenset(x.name for x in (EXECUTIONDURATION, DESTRUCTION, PHASE, ACTION, p.REQUEST))


def output_formats() -> list[OutputFormat]:
    return [OutputFormat(f.mime_type, (_ALIASES[key],), f"{TAPREGEXT}#{_IVO_IDS[key]}" if key in _IVO_IDS else "")
            for key, f in formats.FORMATS.items()]


def languages() -> list[Language]:
    adql = Language("ADQL", (("2.0", "ivo://ivoa.net/std/ADQL#v2.0"), ("2.1", "ivo://ivoa.net/std/ADQL#v2.1")),
                    "The Astronomical Data Query Language", features=True)
    native = [Language(engine, (("1.0", ""),), f"The SQL of the {engine} engine (read-only SELECT, published tables only)")
              for engine in _engines_in_use()]
    return [adql, *native]


NATIVE_LANGUAGES = ("postgresql", "mariadb", "duckdb", "spark")


def check_language(value: str) -> str:
    """LANG as sent, if the capabilities declare it (a name, or name-version); else a ParameterError naming those."""
    lang = value.strip() or p.ADQL
    declared = languages()
    names = {d.name.lower() for d in declared} | {f"{d.name}-{v}".lower() for d in declared for v, _ in d.versions}
    # Also accepted, undeclared: "SQL" (the default engine's own) and any engine's name, which the planner judges.
    if lang.lower() not in names | {"sql", *NATIVE_LANGUAGES}:
        offered = ", ".join(f"{d.name} ({', '.join(v for v, _ in d.versions)})" for d in declared)
        raise p.ParameterError(f"Unknown query language {lang!r}: this service offers {offered}.")
    return lang


_ENGINES_BY_VERSION: dict[str, frozenset[str]] = {}  # metadata version -> engines of published schemas (one entry)


def _engines_in_use() -> list[str]:
    """The default engine and those holding published schemas: the native languages that can work here.

    Asked by every sync query (LANG is checked against them), so remembered in this process under the
    metadata version, which any change to a schema bumps.
    """
    version = metadata_version()
    used = _ENGINES_BY_VERSION.get(version)
    if used is None:
        used = frozenset(Schema.objects.filter(published=True).values_list("engine", flat=True))
        _ENGINES_BY_VERSION.clear()
        _ENGINES_BY_VERSION[version] = used
    return sorted(used | {str(settings.DEFAULT_ENGINE)})


def upload_max_bytes() -> int:
    return int(getattr(settings, "TAP_UPLOAD_MAX_BYTES", 16 * 1024 * 1024))


def limits() -> Limits:
    queues = all_queues()
    default = get_queue(None)
    retention = int(settings.QUERY_DESTRUCTION_DAYS) * 86400
    rows = [q.row_limit for q in queues if q.row_limit]
    return Limits(retention_default=retention, retention_hard=retention,
                  duration_default=default.time_limit, duration_hard=max(q.time_limit for q in queues),
                  rows_default=default.row_limit or max(rows, default=10**9), rows_hard=max(rows, default=10**9),
                  upload_bytes=upload_max_bytes())


def udf_forms() -> list[tuple[str, str]]:
    """TAPRegExt UDF forms of the published user-defined functions: ``name(arg TYPE, ...) -> TYPE``."""

    published = list(Function.objects.filter(published=True))
    overridden = {f.name.lower() for f in published}  # a published function replaces a built-in one
    forms = [(u.form, u.description) for name, u in UDFS.items() if name not in overridden]
    for f in published:
        signature = f.signature.strip() or f"{f.name}()"
        forms.append((f"{signature} -> {f.return_type}", f.description))
    return forms


# --- jobs through UWS ----------------------------------------------------------

def queue_for_duration(user: Any, named: str | None, seconds: int) -> str | None:
    """The queue a job runs in, given the EXECUTIONDURATION asked for: the named queue if it allows that long;
    without a name, the default queue if it does, or else the shortest queue the user may use that does.
    A duration no such queue allows is refused (QueueError) rather than silently cut."""
    if seconds <= 0:
        return named
    if named:
        queue = check_queue(user, named)
        if queue.time_limit < seconds:
            raise QueueError(f"EXECUTIONDURATION={seconds} s is longer than the {queue.name} queue allows "
                             f"({queue.time_limit} s).")
        return queue.name
    allowed = queues_for(user)
    fitting = sorted((q for q in allowed if q.time_limit >= seconds), key=lambda q: (q.name != get_queue(None).name, q.time_limit))
    if fitting:
        return fitting[0].name
    raise QueueError(_too_long(user, seconds, allowed))


def _too_long(user: Any, seconds: int, allowed: list[Queue]) -> str:
    longest = max(allowed, key=lambda q: q.time_limit, default=None)
    message = f"EXECUTIONDURATION={seconds} s is longer than any queue you may use allows"
    message += f" (the longest, {longest.name}, allows {longest.time_limit} s)." if longest else "."
    if not getattr(user, "is_authenticated", False) and max((q.time_limit for q in all_queues()), default=0) >= seconds:
        message += " Log in (use /tap/auth) for the longer queues."
    return message


# The Gaia archive's format names (astroquery's TapPlus sends them); "_gzip" gzips the body as well.
GAIA_NAMES = {"votable_plain": "votable-td", "votable_gzip": "votable", "csv_gzip": "csv"}
GZIP_SUFFIX = "_gzip"


# ESA's TAP+ serves these gzipped whatever the client accepts, and astroquery (whose http.client leaves the
# body as sent) expects it: it gunzips them itself, and cannot read a plain FITS body of a sync query at all.
TAP_PLUS_GZIPPED = {"votable", "fits", "ecsv"}


def resolve(value: str | None, *, tap_plus: bool = False) -> tuple[formats.Format, bool]:
    """The Format of a RESPONSEFORMAT value, and whether the body is gzipped (a Gaia archive name says so,
    and so does a name TAP+ compresses when a TAP+ client asks)."""
    name = "".join((value or "").split()).lower()
    gzipped = name.endswith(GZIP_SUFFIX) or (tap_plus and name in TAP_PLUS_GZIPPED)
    return formats.resolve_format(GAIA_NAMES.get(name, value)), gzipped


def format_of(job: QueryJob, *, tap_plus: bool = False) -> tuple[formats.Format, bool]:
    try:
        return resolve(job.response_format, tap_plus=tap_plus)
    except formats.UnknownFormat:
        return formats.FORMATS["votable"], False


def job_parameters(job: QueryJob) -> dict[str, str]:
    """The job's parameters as the client sent them, with the current values of the ones we use."""
    shown = {k: str(v) for k, v in (job.parameters or {}).items()
             if k not in _JOB_FIELDS and k != "upload" and not k.startswith("upload_uri_")}
    shown["query"] = job.query
    shown["lang"] = job.language
    if job.maxrec is not None:
        shown["maxrec"] = str(job.maxrec)
    if job.response_format:
        shown["responseformat"] = job.response_format
    if job.engine:  # which engine ran it, and why (apps/query/routing.py); ENGINE chooses one
        shown["engine"], shown["engine_reason"] = job.engine, job.engine_reason
    if job.uploads:
        shown["upload"] = ";".join(f"{u['name']},{(job.parameters or {}).get('upload_uri_' + u['name'], 'param:' + u['name'])}"
                                   for u in job.uploads)
    return shown


def family(request: HttpRequest) -> str:
    """The URL family the request came through: "tap:auth" (challenges for credentials) or "tap"."""
    match = request.resolver_match
    return "tap:auth" if match is not None and match.namespace == "tap:auth" else "tap"


def tap_url(request: HttpRequest, name: str, *args: Any) -> str:
    """An absolute URL in the request's own family, so a client logged in at /tap/auth stays there."""
    return request.build_absolute_uri(reverse(f"{family(request)}:{name}", args=list(args)))


class TapJobStore:
    """The UWS JobStore over QueryJob and the query actions."""

    def __init__(self, request: HttpRequest, pending_uploads: list[Any] | None = None) -> None:
        self.request = request
        self.pending_uploads = pending_uploads  # new UPLOAD tables sent with this request, already stored

    def job_url(self, job: QueryJob) -> str:
        return tap_url(self.request, "job", job.id)

    def list_url(self) -> str:
        return tap_url(self.request, "async")

    def summary(self, job: QueryJob) -> JobSummary:
        queue = queue_or_default(job.queue)
        results: tuple[Result, ...] = ()
        if job.phase == phases.COMPLETED:
            href = tap_url(self.request, "job_result", job.id)
            results = (Result("result", href, format_of(job)[0].mime_type),)
        error = ErrorSummary(job.error or "The query failed.") if job.phase == phases.ERROR else None
        quote = None
        if not job.is_final:
            quote = (job.start_time or timezone.now()) + dt.timedelta(seconds=queue.timeout_for(job.execution_duration))
        return JobSummary(
            job_id=str(job.id), phase=job.phase, owner_id=job.owner.username if job.owner is not None else None,
            creation_time=job.created, run_id=job.run_id, quote=quote, start_time=job.start_time, end_time=job.end_time,
            execution_duration=queue.timeout_for(job.execution_duration), destruction=job.destruction,
            parameters=job_parameters(job), by_reference=frozenset({"upload"}) if job.uploads else frozenset(),
            results=results, error=error,
        )

    def run(self, job: QueryJob) -> None:
        actions.do_run_job(job)

    def abort(self, job: QueryJob) -> None:
        actions.do_abort_job(job)

    def delete(self, job: QueryJob) -> None:
        actions.do_delete_job(job)

    def set_execution_duration(self, job: QueryJob, seconds: int) -> None:
        # A longer duration than the job's queue allows moves it to a queue that does, or is refused.
        fields: dict[str, Any] = {"execution_duration": seconds}
        if seconds > queue_or_default(job.queue).time_limit:
            fields["queue"] = _longer_queue(job, seconds)
        _update(job, **fields)

    def set_destruction(self, job: QueryJob, when: dt.datetime) -> None:
        limit = job.created + dt.timedelta(days=int(settings.QUERY_DESTRUCTION_DAYS))
        _update(job, destruction=min(when, limit))

    def set_parameters(self, job: QueryJob, parameters: Mapping[str, str]) -> None:
        fields: dict[str, Any] = {}
        extra = dict(job.parameters or {})
        for name, value in parameters.items():
            if name in _NOT_STORED:
                continue
            target = _JOB_FIELDS.get(name)
            if target == "maxrec":
                fields[target] = p.MAXREC.read(parameters)
            elif target:
                fields[target] = value
            elif name != "upload":
                extra[name] = value
        if self.pending_uploads is not None:
            fields["uploads"] = [*(job.uploads or []), *(u.as_json() for u in self.pending_uploads)]
        if EXECUTIONDURATION.name in parameters:
            seconds = EXECUTIONDURATION.read(parameters)
            if "queue" in fields:  # named in this request: it must allow the duration
                fields["queue"] = _checked(lambda: queue_for_duration(job.owner, fields["queue"], seconds))
            elif seconds > queue_or_default(job.queue).time_limit:
                fields["queue"] = _longer_queue(job, seconds)
            fields["execution_duration"] = seconds
        fields["parameters"] = extra
        _update(job, **fields)
        when = DESTRUCTION.read(parameters)
        if when is not None:
            self.set_destruction(job, when)

    def wait(self, job: QueryJob, timeout_s: float, while_phase: str | None) -> QueryJob:
        # A phase change wakes the wait (live.PhaseChanges); without Redis, short first polls: a small job
        # changes phase within milliseconds, and pyvo's job.wait() blocks here.
        start, deadline = job.phase, time.monotonic() + timeout_s
        with live.PhaseChanges(str(job.pk)) as changes:
            pause = WAIT_POLL_S if changes.notified else WAIT_FIRST_POLL_S
            job.refresh_from_db(fields=["phase"])  # subscribed now: a change from here on wakes the pause
            while job.phase == start and time.monotonic() < deadline:
                changes.pause(min(pause, max(0.0, deadline - time.monotonic())))
                pause = min(pause * 1.5, WAIT_POLL_S)
                job.refresh_from_db(fields=["phase"])
        job.refresh_from_db()
        return job

    def error_body(self, job: QueryJob) -> tuple[bytes, str]:
        return formats.error_votable(job.error or "The query failed.", query=job.query), VOTABLE_TYPE


VOTABLE_TYPE = "application/x-votable+xml"


def _checked(choose: Any) -> Any:
    try:
        return choose()
    except QueueError as exc:
        raise UwsError(str(exc)) from None


def _longer_queue(job: QueryJob, seconds: int) -> str | None:
    return _checked(lambda: queue_for_duration(job.owner, None, seconds))


def _update(job: QueryJob, **fields: Any) -> None:
    try:
        updated = actions.do_update_job(job, **fields)
    except actions.QueryError as exc:
        raise UwsError(exc.message, 409 if "PENDING" in exc.message else 400) from None
    except QueueError as exc:
        raise UwsError(str(exc)) from None
    for name in fields:
        setattr(job, name, getattr(updated, name))
