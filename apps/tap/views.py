"""TAP 1.1 endpoints: thin views over the query actions, the UWS handlers and the VOSI documents.

VO clients authenticate per request (HTTP Basic or a token; see
apps.accounts.middleware), so the views are csrf_exempt. A browser session
still counts for reading, but a state-changing request that relies on the
session cookie must carry a CSRF token, or it is served as anonymous.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa
from django.contrib.auth.models import AnonymousUser, User
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from apps import formats
from apps.accounts.addresses import client_address
from apps.accounts.authentication import REALM
from apps.adql import AdqlError
from apps.core.streaming import whole_or_streaming_response
from apps.datalink.results import describe_result
from apps.metadata.catalog import one_metadata_version
from apps.metadata.models import Table
from apps.metadata.tap_schema import tap_schema_rows
from apps.query import actions
from apps.query.models import QueryJob
from apps.query.permissions import access_job, jobs_for
from apps.query.planning import check_table_name, error_message, private_tables
from apps.query.queues import QueueError
from apps.registry.records import tap_id
from apps.uws import handlers, phases
from apps.uws.documents import CONTENT_TYPE as UWS_TYPE
from apps.uws.documents import JobRef, job_list_document, parse_timestamp
from apps.uws.parameters import DESTRUCTION, EXECUTIONDURATION, PHASE, RUNID
from workers.engines.base import EngineError

from . import examples as examples_module
from . import params as p
from . import plus, samp, service, vosi
from .availability import availability_body
from .uploads import discard_uploads, parse_upload_param, store_uploads

log = logging.getLogger(__name__)
AnyUser = User | AnonymousUser
STARTED = timezone.now()
_QUERY_ERRORS = (AdqlError, actions.QueryError, QueueError, EngineError)
WHOLE_BELOW = 256 * 1024  # a small result is read before the answer and sent at once (no thread, no queue)


def _no_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse()


def tap_user(request: HttpRequest) -> AnyUser:
    """Who is asking: header credentials always count; a session only for reads or with a CSRF token."""
    user: AnyUser = request.user  # type: ignore[assignment]
    if request.method in ("GET", "HEAD") or getattr(request, "_dont_enforce_csrf_checks", False) or not user.is_authenticated:
        return user
    refused = CsrfViewMiddleware(_no_view).process_view(request, _no_view, (), {})
    return AnonymousUser() if refused is not None else user


def vo_error(message: str, status: int = 400, query: str | None = None) -> HttpResponse:
    """A DALI error: a VOTable with INFO QUERY_STATUS=ERROR."""
    log.info("TAP error %s: %s", status, message)
    return HttpResponse(formats.error_votable(message, query=query), status=status, content_type=service.VOTABLE_TYPE)


def _text(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type=handlers.TEXT)


def _see_other(url: str) -> HttpResponse:
    response = HttpResponse(status=303)
    response["Location"] = url
    return response


def _xml(body: bytes, content_type: str = vosi.CONTENT_TYPE) -> HttpResponse:
    return HttpResponse(body, content_type=content_type)


def _base_url(request: HttpRequest, family: str | None = None) -> str:
    """The service root of the request's family (or of ``family``), without a trailing slash."""
    sync_url = request.build_absolute_uri(reverse(f"{family or service.family(request)}:sync"))
    return sync_url.removesuffix("/sync")


def challenged(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """The /tap/auth twin of a view: a request without valid credentials gets 401 and a Basic challenge."""
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            response = _text("This URL needs a login: send your user name and password (or an API token) "
                             "with HTTP Basic, or use the anonymous service at "
                             f"{_base_url(request, 'tap')}.", 401)
            response["WWW-Authenticate"] = REALM
            return response
        return view(request, *args, **kwargs)
    return wrapper


def tap_plus_session(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A TAP+ login cookie (astroquery's) stands for its user where no other login does. It is SameSite=Strict, so
    only the client that logged in sends it: its POSTs need no CSRF token (a script has none)."""
    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated and plus.COOKIE in request.COOKIES:
            user = plus.session_user(request)
            if user is not None:
                request.user = user
                request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)
    return wrapper


@csrf_exempt
@require_http_methods(["POST"])
def tap_plus_login(request: HttpRequest) -> HttpResponse:
    """ESA's TAP+ login (astroquery's ``login()``): user name and password as a form, answered with a session cookie."""
    try:
        user = plus.check_login(request, request.POST.get("username", ""), request.POST.get("password", ""))
    except plus.LoginRefused as exc:
        return _text(exc.message, exc.status)
    response = _text(f"Logged in as {user.username}.", 200)
    plus.start_session(response, request, user)
    return response


@csrf_exempt
@require_http_methods(["POST"])
def tap_plus_logout(request: HttpRequest) -> HttpResponse:
    response = _text("Logged out.", 200)
    plus.end_session(response, request)
    return response


# --- the service page --------------------------------------------------------------

@require_safe
def root(request: HttpRequest) -> HttpResponse:
    user: AnyUser = request.user  # type: ignore[assignment]
    rows = tap_schema_rows(user)
    counts = published_row_counts()
    tables = [{"name": t["table_name"], "description": t.get("description") or "",
               "samp": samp.table_button(request, user, t["table_name"], counts.get(t["table_name"].lower()))}
              for t in rows["tables"] if t["schema_name"] != "TAP_SCHEMA"]
    return render(request, "tap/root.html", {"tap_url": _base_url(request), "tables": tables})


def published_row_counts() -> dict[str, int]:
    """schema.table (lower case) -> its known row count, for the tables of the service page."""

    found = Table.objects.filter(published=True, row_count__isnull=False).select_related("schema")
    return {t.qualified_name.lower(): int(t.row_count) for t in found if t.row_count is not None}


# --- VOSI ---------------------------------------------------------------------------

@csrf_exempt
@require_safe
def capabilities(request: HttpRequest) -> HttpResponse:
    body = vosi.capabilities_document(_base_url(request, "tap"), auth_url=_base_url(request, "tap:auth"),
                                      languages=service.languages(), formats=service.output_formats(),
                                      limits=service.limits(), udfs=service.udf_forms(), ivoid=tap_id(),
                                      secured_first=service.family(request) == "tap:auth")
    return _xml(body)


@csrf_exempt
@require_safe
def availability(request: HttpRequest) -> HttpResponse:
    return _xml(availability_body(STARTED))


def _tap_schema(request: HttpRequest) -> dict[str, list[dict[str, Any]]]:
    """The TAP_SCHEMA rows of the asking user, their MyDB and shared tables included."""
    user: AnyUser = request.user  # type: ignore[assignment]
    return tap_schema_rows(user, private_tables(user))


def is_tap_plus(request: HttpRequest) -> bool:
    """Whether the client is ESA's TAP+ one (astroquery's TapPlus and Gaia), which needs a column attribute that
    standard validators refuse and gzipped bodies. Its POSTs name it in the User-Agent; its GETs, made with a bare
    http.client, carry no User-Agent at all, which no other VO client (Java, requests, curl, browsers) omits."""
    agent = request.headers.get("User-Agent")
    return agent is None or agent.startswith("astroquery/")


@csrf_exempt
@require_safe
def tables(request: HttpRequest) -> HttpResponse:
    params = p.tap_params(request)
    detail = (params.get("detail") or "max").lower() != "min"
    only = [n.strip() for n in (params.get("tables") or "").split(",") if n.strip()]
    return _xml(vosi.tableset_document(_tap_schema(request), detail=detail, tap_plus=is_tap_plus(request), only=only))


@csrf_exempt
@require_safe
def table(request: HttpRequest, name: str) -> HttpResponse:
    body = vosi.table_document(_tap_schema(request), name)
    if body is None:
        return _text(f"No table {name} (or you may not see it).", 404)
    return _xml(body)


@require_safe
def examples(request: HttpRequest) -> HttpResponse:
    context = {"examples": examples_module.examples_for(request.user), "tap_url": _base_url(request)}  # type: ignore[arg-type]
    return render(request, "tap/examples.html", context, content_type="application/xhtml+xml; charset=utf-8")


# --- sync ---------------------------------------------------------------------------

def _gzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip member
    for chunk in chunks:
        if out := compressor.compress(chunk):
            yield out
    yield compressor.flush()


def _result_response(request: HttpRequest, fmt: formats.Format, chunks: Iterator[bytes], info: formats.ResultInfo, *,
                     gzipped: bool = False) -> HttpResponseBase:
    """The result, streamed (one that ends within WHOLE_BELOW bytes is sent in one piece). A failure after the
    first byte cannot change the status any more: a VOTable then ends with INFO QUERY_STATUS=ERROR after its
    TABLE; CSV and TSV have no such place, so their response is cut short (no final chunk) and the client
    reports an incomplete download instead of a short file."""
    response = whole_or_streaming_response(request, _gzip(chunks) if gzipped else chunks, fmt.mime_type,
                                           whole_below=WHOLE_BELOW)
    if gzipped:  # HTTP clients unpack it; astroquery, which reads the raw body, gunzips it itself
        response["Content-Encoding"] = "gzip"
    if fmt.key in ("fits", "parquet", "csv", "tsv"):
        response["Content-Disposition"] = f'inline; filename="{info.table_name}.{fmt.extension}"'
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def sync(request: HttpRequest) -> HttpResponseBase:
    with one_metadata_version():  # the languages, the catalogue, planning, the result's description: one look
        params = p.tap_params(request)
        query = params.get("query")
        try:
            p.check_request(params)
            language = service.check_language(params.get("lang") or p.ADQL)
            query, maxrec = p.query(params), p.maxrec(params)
            fmt, gzipped = service.resolve(p.response_format(params), tap_plus=is_tap_plus(request))
            uploads = store_uploads(parse_upload_param(params.all("upload")), request.FILES)  # type: ignore[arg-type]
        except (p.ParameterError, formats.UnknownFormat) as exc:
            return vo_error(str(exc), query=query)
        return run_sync_response(request, tap_user(request), query, language, maxrec, fmt, uploads, gzipped=gzipped,
                                 engine=(params.get("engine") or "").strip())


def run_sync_response(request: HttpRequest, user: AnyUser, query: str, language: str, maxrec: int | None, fmt: formats.Format,
                      uploads: list[Any], *, gzipped: bool = False, engine: str = "") -> HttpResponseBase:
    with one_metadata_version():  # planning and the result's description look up cached metadata several times
        try:
            result = actions.run_sync(user, query=query, language=language, maxrec=maxrec, uploads=uploads,
                                      response_format=fmt.mime_type, client_address=client_address(request), engine=engine)
        except actions.SyncLimitReached as exc:
            discard_uploads(uploads)
            response = vo_error(exc.message, status=429, query=query)
            response["Retry-After"] = str(exc.retry_after)
            return response
        except _QUERY_ERRORS as exc:
            discard_uploads(uploads)
            return vo_error(error_message(exc), query=query)
        info = formats.ResultInfo(query=query)
        # provenance INFOs, DataLink descriptors
        describe_result(info, user, query, result.columns, tables=result.tables)  # type: ignore[arg-type]
    info.infos += [("engine", result.job.engine), ("engine_reason", result.job.engine_reason)]  # which ran it, and why

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from result.batches
            info.overflow = result.overflow  # known once the rows are read; the VOTable says it after the table
        finally:
            discard_uploads(uploads)

    if result.csv is not None and result.csv_schema is not None:  # the engine wrote the CSV rows itself (no uploads)
        return _result_response(request, fmt, formats.write_engine_csv(result.csv, result.columns, result.csv_schema), info,
                                gzipped=gzipped)
    return _result_response(request, fmt, formats.write(fmt, batches(), result.columns, info), info, gzipped=gzipped)


# --- async: the job list ---------------------------------------------------------------

@csrf_exempt
@require_http_methods(["GET", "POST"])
def async_jobs(request: HttpRequest) -> HttpResponse:
    params = p.tap_params(request)
    if request.method == "POST":
        return create_job(request)
    try:
        wanted = phases.parse_phase_filter(params.all("phase"))
        after = parse_timestamp(params.get("after") or "") if params.get("after") else None
        last = int(params.get("last") or 0) if params.get("last") else None
        if last is not None and last < 0:
            raise ValueError("LAST must be a positive number.")
    except ValueError as exc:
        return _text(str(exc), 400)
    # Sync queries keep no result to fetch: a listed COMPLETED job whose result fails would mislead clients.
    jobs = jobs_for(tap_user(request), phases=wanted or None, after=after, last=last, sync=False)
    if not wanted:  # UWS 1.1: the default list leaves out archived jobs
        jobs = [j for j in jobs if j.phase != phases.ARCHIVED]  # type: ignore[assignment]
    refs = [JobRef(str(j.id), service.tap_url(request, "job", j.id), j.phase, j.run_id,
                   j.owner.username if j.owner is not None else None, j.created) for j in jobs]
    return _xml(job_list_document(refs), UWS_TYPE)


def create_job(request: HttpRequest) -> HttpResponse:
    """POST /async: a PENDING job (or run at once with PHASE=RUN), answered by 303 to the job."""
    params = p.tap_params(request)
    user = tap_user(request)
    try:
        p.check_request(params)  # LANG is not checked here: UWS creates the job, and running it fails readably
        maxrec = p.maxrec(params)
        response_format = p.response_format(params)
        service.resolve(response_format)
        duration = params.read(EXECUTIONDURATION)
        destruction = params.read(DESTRUCTION)
        uploads = store_uploads(parse_upload_param(params.all("upload")), request.FILES)  # type: ignore[arg-type]
    except (p.ParameterError, formats.UnknownFormat) as exc:
        return vo_error(str(exc), query=params.get("query"))
    table_name = (params.get("table_name") or "").strip()
    try:
        if table_name:  # keep the result in MyDB under this name: how a VO client imports a table (with UPLOAD)
            if not user.is_authenticated:
                raise p.ParameterError("TABLE_NAME saves the result in your MyDB: log in (use /tap/auth).")
            check_table_name(user, table_name)  # type: ignore[arg-type]
    except (p.ParameterError, actions.QueryError) as exc:
        discard_uploads(uploads)
        return vo_error(error_message(exc) if isinstance(exc, actions.QueryError) else str(exc))
    extra = {k: v for k, v in params.last_values().items() if k not in p.KNOWN}
    for name, uri in parse_upload_param(params.all("upload")):
        extra[f"upload_uri_{name}"] = uri
    store = service.TapJobStore(request)
    try:  # the job, its destruction time and its start: one action, one commit
        job = actions.do_create_job(
            user, query=params.read(p.QUERY), language=params.read(p.LANG).strip() or p.ADQL,
            queue=service.queue_for_duration(user, params.read(p.QUEUE) or None, duration), maxrec=maxrec,
            response_format=response_format, uploads=uploads, table_name=table_name, run_id=params.read(RUNID),
            source=QueryJob.SOURCE_TAP_ASYNC, execution_duration=duration, parameters=extra, destruction=destruction,
            run=params.read(PHASE) == phases.RUN,
        )
    except _QUERY_ERRORS as exc:
        discard_uploads(uploads)
        return vo_error(error_message(exc))
    return _see_other(store.job_url(job))


# --- async: one job --------------------------------------------------------------------

@csrf_exempt
@require_http_methods(["GET", "POST", "DELETE"])
def job(request: HttpRequest, job_id: uuid.UUID, resource: str = "") -> HttpResponse:
    params = p.tap_params(request)
    try:
        found = access_job(tap_user(request), job_id)
    except Http404:
        return _text(f"No job {job_id}.", 404)
    pending = None
    try:
        if request.method == "POST" and params.all("upload"):
            pending = store_uploads(parse_upload_param(params.all("upload")), request.FILES)  # type: ignore[arg-type]
        values = {k: v for k, v in params.last_values().items() if not (k == "upload" and pending is not None)}
        reply = handlers.dispatch(resource.lower(), handlers.Request(request.method or "GET", values, found,
                                                                      service.TapJobStore(request, pending)))
    except p.ParameterError as exc:
        return _text(str(exc), 400)
    except handlers.UwsError as exc:
        if pending:
            discard_uploads(pending)
        return _text(str(exc), exc.status)
    if reply.location:
        return _see_other(reply.location)
    return HttpResponse(reply.body, status=reply.status, content_type=reply.content_type)


def _job_result(request: HttpRequest, found: QueryJob, fmt: formats.Format | None = None) -> HttpResponseBase:
    if found.phase != phases.COMPLETED:
        return _text(f"The job is {found.phase}: it has no result.", 404)
    gzipped = False
    if fmt is None:
        fmt, gzipped = service.format_of(found, tap_plus=is_tap_plus(request))
    info = formats.ResultInfo(query=found.query, overflow=found.overflow, total_rows=found.row_count)
    describe_result(info, found.owner or AnonymousUser(), found.query, actions.result_columns(found))
    try:
        batches = actions.result_batches(found)
    except actions.QueryError as exc:
        return _text(exc.message, 404)
    return _result_response(request, fmt, formats.write(fmt, batches, actions.result_columns(found), info), info, gzipped=gzipped)


@csrf_exempt
@require_safe
def job_result(request: HttpRequest, job_id: uuid.UUID) -> HttpResponseBase:
    try:
        found = access_job(tap_user(request), job_id)
    except Http404:
        return _text(f"No job {job_id}.", 404)
    return _job_result(request, found)


# --- signed links for SAMP clients ---------------------------------------------------

@csrf_exempt
@require_safe
def signed_result(request: HttpRequest, token: str) -> HttpResponseBase:
    try:
        job_id = samp.job_id_of(token)
        found = QueryJob.objects.get(pk=job_id)
    except (signing.BadSignature, QueryJob.DoesNotExist, ValueError):
        return _text("This link is not valid or has expired.", 404)
    return _job_result(request, found, formats.FORMATS["votable"])


@csrf_exempt
@require_safe
def signed_query(request: HttpRequest, token: str) -> HttpResponseBase:
    try:
        signed = samp.query_of(token)
    except signing.BadSignature:
        return _text("This link is not valid or has expired.", 404)
    user: AnyUser = AnonymousUser()
    if signed.user_id is not None:
        owner = User.objects.filter(pk=signed.user_id, is_active=True).first()
        if owner is None:
            return _text("This link is not valid any more.", 404)
        user = owner
    return run_sync_response(request, user, signed.query, p.ADQL, signed.maxrec, formats.FORMATS["votable"], [])


# --- a browser page for a job (with the SAMP button) -------------------------------------

@require_safe
def job_page(request: HttpRequest, job_id: uuid.UUID) -> HttpResponse:
    found = access_job(request.user, job_id)  # type: ignore[arg-type]
    context = {
        "job": found, "summary": service.TapJobStore(request).summary(found),
        "samp_url": samp.result_url(request, found) if found.phase == phases.COMPLETED else "",
        "uws_url": request.build_absolute_uri(reverse("tap:job", args=[found.id])),
        "now": dt.datetime.now(dt.UTC),
    }
    return render(request, "tap/job.html", context)
