"""Query pages: write and run a query, the job list, one job with its result, plots and downloads.

Views are thin: parse, ``access_job``, one action, render.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from apps.adql import AdqlError, ColumnInfo
from apps.adql.reference import RULES, sections
from apps.files.actions import access_volume, readable_volumes, volume_fs
from apps.formats.readers import without_paths
from apps.uws import phases
from workers.engines import available_engines

from . import actions, live
from .browser import examples_for, schema_browser
from .downloads import FORMATS, download_response
from .imports import FORMATS as IMPORT_FORMATS
from .languages import languages_for
from .models import QueryJob
from .permissions import access_job, access_readable_job, jobs_for
from .planning import QueryError, check_table_name, error_message, plan_query
from .queues import QueueError, all_queues, check_queue, get_queue, queues_for
from .quotas import human_bytes, quota_for, usage
from .sharing import may, shared_schema, shared_with

PAGE_ROWS_MAX = 1000
PLOT_POINTS_MAX = 20000
DENSITY_BINS = 120  # cells a side of the density plot
SKY_ORDER, SKY_ORDER_MAX = 5, 7  # HEALPix orders of the sky density map: 12288 cells (about 1.8°), at most 196608
_JS_SAFE_INT = 2**53 - 1


_WHERE = re.compile(r"^(?P<message>.*?)\s*\(line (?P<line>\d+), column (?P<column>\d+)\)\s*$", re.S)


@require_GET
def limits(request: HttpRequest) -> HttpResponse:
    """Engines and queues with their limits, generated from the settings: what a query may cost, before running it."""
    mine = {q.name for q in queues_for(request.user)}
    context = {"queues": all_queues(), "mine": mine, "default_queue": get_queue(None).name, "engines": _engine_names(),
               "default_engine": settings.DEFAULT_ENGINE, "quota": human_bytes(int(settings.QUERY_QUOTA_BYTES)),
               "import_max": human_bytes(_import_max_bytes()), "destruction_days": settings.QUERY_DESTRUCTION_DAYS,
               "scratch_quota": human_bytes(quota_for(None, scratch=True)), "scratch_days": getattr(settings, "QUERY_SCRATCH_DAYS", 7)}
    return render(request, "query/limits.html", context)


@require_GET
def adql_reference(request: HttpRequest) -> HttpResponse:
    """Every ADQL operator, function and UDF as this service runs it (apps/adql/reference.py)."""
    return render(request, "query/adql_reference.html", {"rules": RULES, "sections": sections()})


def query_error(text: str) -> dict[str, Any]:
    """A job's error split into message and place, so pages can point at the line and column."""
    text = text.removeprefix("Query error: ")  # the box beside the query says that already
    found = _WHERE.match(text)
    if found is None:
        return {"message": text, "line": None, "column": None}
    return {"message": found["message"], "line": int(found["line"]), "column": int(found["column"])}


def index(request: HttpRequest) -> HttpResponse:
    """The query page: editor, schema browser, examples, queue and result name.

    A query is translated before a job is made, so a mistake is shown beside the editor
    (with its line and column) instead of as a failed job; "Check" stops there.
    """
    form: dict[str, str] = {"query": "", "language": "ADQL", "queue": get_queue(None).name, "table_name": "", "scratch": "",
                            "engine": ""}
    errors: list[str] = []
    problem: dict[str, Any] | None = None
    checked = ""
    if request.method == "POST":
        form.update({k: request.POST.get(k, "").strip() for k in form})
        try:
            owner = request.user if request.user.is_authenticated else None
            queue = check_queue(request.user, form["queue"])
            if form["table_name"]:
                check_table_name(owner, form["table_name"])  # type: ignore[arg-type]
            # Planned once, as the job will run it (the queue's row limit, the chosen engine), and handed to the job.
            plan = plan_query(request.user, query=form["query"], language=form["language"] or "ADQL",  # type: ignore[arg-type]
                              maxrec=queue.row_limit, engine=form["engine"])
            if request.POST.get("action") == "check":
                checked = (f"The query is valid: {len(plan.columns)} column{'s' if len(plan.columns) != 1 else ''}, "
                           f"run on {plan.engine} ({plan.reason}).")
            else:
                job = actions.do_create_job(request.user, query=form["query"], language=form["language"] or "ADQL",
                                            queue=form["queue"], table_name=form["table_name"], scratch=form["scratch"] == "1",
                                            parameters={actions.ENGINE_PARAMETER: form["engine"]} if form["engine"] else None)
                job = actions.do_run_job(job, plan)
                return redirect("query:job", job_id=job.id)
        except AdqlError as exc:
            problem = query_error(error_message(exc))
        except (QueryError, QueueError) as exc:
            errors.append(str(exc))
    elif "rerun" in request.GET:
        old = access_job(request.user, request.GET["rerun"])
        form.update(query=old.query, language=old.language, queue=old.queue)
        if old.phase == phases.ERROR and old.error:
            problem = query_error(old.error)  # fix it where it is
    elif "query" in request.GET:
        form["query"] = request.GET["query"]
    browser = schema_browser(request.user)
    context = {
        "form": form, "errors": errors, "problem": problem, "checked": checked, "queues": queues_for(request.user),
        "browser": browser, "examples": examples_for(browser), "languages": languages_for(request.user),  # type: ignore[arg-type]
        "engines": _engine_names(),
    }
    return render(request, "query/index.html", context)


def duration(start: Any, end: Any) -> str:
    """A run time people read: "0.42 s", "12 s", "3 min 5 s", "2 h 4 min"; empty until both ends are known."""
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 10:
        return f"{seconds:.2f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


_HISTORY_FIELDS = ("id", "scratch", "phase", "query", "table_name", "queue", "engine", "row_count", "size_bytes", "created", "end_time",
                   "start_time", "source", "result_table", "parameters")


def _history_filters(request: HttpRequest) -> dict[str, str]:
    keys = ("q", "table", "phase", "queue", "engine", "since", "until")
    return {k: request.GET.get(k, "").strip() for k in keys}


def _filtered_history(found: Any, f: dict[str, str]) -> Any:
    """The history narrowed by text, table, phase, queue, engine and submission dates (YYYY-MM-DD, inclusive)."""
    if f["q"]:
        found = found.filter(Q(query__icontains=f["q"]) | Q(table_name__icontains=f["q"]) | Q(run_id__icontains=f["q"]))
    if f["table"]:
        found = found.filter(table_name__icontains=f["table"])
    for name in ("phase", "queue", "engine"):
        if f[name]:
            found = found.filter(**{name: f[name]})
    for name, lookup in (("since", "created__date__gte"), ("until", "created__date__lte")):
        day = parse_date(f[name]) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", f[name]) else None
        if day is not None:
            found = found.filter(**{lookup: day})
        else:
            f[name] = ""
    return found


def _engine_names() -> list[str]:
    return sorted(available_engines())


@login_required
def jobs(request: HttpRequest) -> HttpResponse:
    """The history: every job ever submitted, searchable and filterable, with start, run time and rows.

    TAP sync queries from scripts are left out unless asked for (``sync=1``): they would bury the web work.
    """
    with_sync = request.GET.get("sync") == "1"
    mine = jobs_for(request.user, sync=with_sync)
    filters = _history_filters(request)
    page = Paginator(_filtered_history(mine, filters).only(*_HISTORY_FIELDS), 50).get_page(request.GET.get("page"))
    for job in page:
        job.run_time = duration(job.start_time, job.end_time)  # type: ignore[attr-defined]
    shared = shared_with(request.user, "read").only("id", "table_name", "row_count", "size_bytes", "owner__username")[:50]
    keep = {k: v for k, v in filters.items() if v} | ({"sync": "1"} if with_sync else {})
    context = {"page": page, "filters": filters, "phases": phases.ALL, "space": usage(request.user),  # type: ignore[arg-type]
               "queues": [q.name for q in all_queues()], "engines": _engine_names(),
               "shared": shared, "with_sync": with_sync, "keep": urlencode(keep), "filtered": bool(keep)}
    return render(request, "query/jobs.html", context)


@require_POST
def job_rerun(request: HttpRequest, job_id: str) -> HttpResponse:
    """Run a job of the history again, unchanged (editing first goes through the query page's ?rerun=)."""
    try:
        job = actions.do_rerun_job(_owned_job(request, job_id))
    except (QueryError, QueueError) as exc:
        messages.error(request, str(exc))
        return redirect("query:jobs")
    return redirect("query:job", job_id=job.id)


def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job = access_readable_job(request.user, job_id)
    status = live.job_status(job)
    is_owner = _is_owner(request, job)
    shared_name = ""  # what a reader writes in ADQL, when they may query it
    if not is_owner and job.owner is not None and may(request.user, "query", job):
        shared_name = f"{shared_schema(job.owner)}.{job.table_name}"
    columns = actions.result_columns(job)
    context = {"job": job, "columns": columns, "formats": FORMATS, "is_owner": is_owner,
               "status": json.dumps(status), "plot": plot_defaults(columns), "run_time": duration(job.start_time, job.end_time),
               "time_limit": status["time_limit"], "position": status["queue_position"],
               "elapsed": duration(job.start_time, timezone.now()) if job.phase == phases.EXECUTING else "",
               "shared_name": shared_name, "problem": query_error(job.error) if job.error else None,
               "shared_summary": _shared_summary(job) if is_owner else "",
               "publications": list(job.publication_requests.select_related("published_table__schema")) if is_owner else [],
               "query_lines": job.query.splitlines() or [""]}
    return render(request, "query/job.html", context)


def _shared_summary(job: QueryJob) -> str:
    """Who holds what on the result, for its owner: "Team (read, query), bob (read)"."""
    if job.resource is None:
        return ""
    held: dict[str, list[str]] = {}
    for privilege in job.resource.privileges.select_related("user", "group").order_by("action"):
        held.setdefault(str(privilege.holder), []).append(privilege.action)
    return ", ".join(f"{who} ({', '.join(actions)})" for who, actions in sorted(held.items()))


_NUMERIC = ("SMALLINT", "INTEGER", "BIGINT", "REAL", "DOUBLE", "FLOAT")


def plot_defaults(columns: Sequence[ColumnInfo]) -> dict[str, str]:
    """Sensible first axes: RA/Dec by UCD or name when present, else the first numeric columns."""
    numeric = [c.name for c in columns if c.datatype.upper() in _NUMERIC]

    def find(ucd: str, names: tuple[str, ...]) -> str | None:
        for c in columns:
            if c.ucd.lower().startswith(ucd) or c.name.lower() in names:
                return c.name
        return None

    x = find("pos.eq.ra", ("ra", "raj2000", "ra_deg")) or (numeric[0] if numeric else "")
    y = find("pos.eq.dec", ("dec", "dej2000", "dec_deg")) or next((n for n in numeric if n != x), x)
    c = next((n for n in numeric if n not in (x, y) and not n.lower().endswith("_id")), y)
    sky_ra, sky_dec = find("pos.eq.ra", ("ra", "raj2000", "ra_deg")), find("pos.eq.dec", ("dec", "dej2000", "dec_deg"))
    return {"x": x, "y": y, "c": c, "ra": sky_ra or "", "dec": sky_dec or ""}


def _is_owner(request: HttpRequest, job: QueryJob) -> bool:
    return job.owner_id is not None and job.owner_id == request.user.pk


def _owned_job(request: HttpRequest, job_id: str) -> QueryJob:
    job = access_job(request.user, job_id)
    if not _is_owner(request, job):
        raise Http404("No such job.")
    return job


@require_POST
def job_publish(request: HttpRequest, job_id: str) -> HttpResponse:
    """Ask the data managers to publish this MyDB table (they decide in the admin)."""
    job = _owned_job(request, job_id)
    fields = {k: request.POST.get(k, "").strip() for k in ("table_name", "title", "description", "citation")}
    try:
        actions.do_request_publication(request.user, job, **fields)  # type: ignore[arg-type]
    except QueryError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, "Your request was sent to the data managers; this page shows their decision.")
    return redirect("query:job", job_id=job.id)


@require_POST
def job_abort(request: HttpRequest, job_id: str) -> HttpResponse:
    job = actions.do_abort_job(_owned_job(request, job_id))
    messages.info(request, f"Job {job.table_name or job.id} is {job.phase}.")
    return redirect("query:job", job_id=job.id)


@require_POST
def job_delete(request: HttpRequest, job_id: str) -> HttpResponse:
    actions.do_delete_job(_owned_job(request, job_id))
    messages.info(request, "The job and its result were deleted.")
    return redirect("query:jobs")


@require_POST
def job_rename(request: HttpRequest, job_id: str) -> HttpResponse:
    job = _owned_job(request, job_id)
    try:
        actions.do_rename_result(job, request.POST.get("table_name", ""))
        messages.info(request, f"The table is now mydb.{request.POST.get('table_name', '').strip()}.")
    except QueryError as exc:
        messages.error(request, exc.message)
    back = request.POST.get("next", "")
    return redirect(back if back.startswith("/query/") else reverse("query:job", args=[job.id]))


@require_POST
def job_drop(request: HttpRequest, job_id: str) -> HttpResponse:
    job = actions.do_drop_result(_owned_job(request, job_id))
    messages.info(request, f"The table {job.table_name} was deleted; the job stays in your history.")
    return redirect("query:job", job_id=job.id)


@require_GET
def job_status(request: HttpRequest, job_id: str) -> JsonResponse:
    return JsonResponse(live.job_status(access_readable_job(request.user, job_id)))


def _stored(request: HttpRequest, job_id: str) -> QueryJob:
    job = access_readable_job(request.user, job_id)
    if job.phase != phases.COMPLETED or not job.result_table:
        raise Http404("This job has no stored result.")
    return job


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else str(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _JS_SAFE_INT:
        return str(value)  # JSON numbers are doubles in the browser: Gaia source_ids would lose digits
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


@require_GET
def job_rows(request: HttpRequest, job_id: str) -> JsonResponse:
    """One page of the result for the viewer: sorted by the engine, never the whole table in memory."""
    job = _stored(request, job_id)
    try:
        offset = max(int(request.GET.get("offset", 0)), 0)
        limit = min(max(int(request.GET.get("limit", 100)), 1), PAGE_ROWS_MAX)
    except ValueError:
        return JsonResponse({"error": "offset and limit are numbers"}, status=400)
    names = [c.name for c in actions.result_columns(job)]
    sort = request.GET.get("sort") or None
    if sort is not None and sort not in names:
        return JsonResponse({"error": f"no column {sort}"}, status=400)
    where = request.GET.get("where", "").strip()
    if where:
        return _filtered_rows(request, job, where, offset, limit, sort)
    batches = list(actions.result_batches(job, offset=offset, limit=limit, order_by=sort, descending=request.GET.get("desc") == "1"))
    return JsonResponse({"columns": job.result_columns, "rows": _json_rows(batches), "offset": offset, "total": job.row_count})


def _json_rows(batches: list[pa.RecordBatch]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for batch in batches:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        rows.extend([_json_value(v) for v in row] for row in zip(*columns, strict=True))
    return rows


def _adql_name(request: HttpRequest, job: QueryJob) -> str:
    """How this user names the stored table in ADQL; filtering is a query, so it needs the right to query it."""
    if job.owner_id is None or not job.table_name:
        raise QueryError("Only results stored in MyDB can be filtered.")
    if _is_owner(request, job):
        return f"mydb.{job.table_name}"
    if not may(request.user, "query", job):
        raise QueryError("Filtering runs a query on this table, and you may only read it: ask its owner for the query right.")
    return f"{shared_schema(job.owner)}.{job.table_name}"  # type: ignore[arg-type]


def _filtered_rows(request: HttpRequest, job: QueryJob, where: str, offset: int, limit: int, sort: str | None) -> JsonResponse:
    """A page of the rows matching an ADQL condition: translated, checked and run by the engine on the stored
    table like any query of this user (a condition is ADQL the user could run on the query page anyway)."""
    if "--" in where or ";" in where:
        return JsonResponse({"error": "Write one ADQL condition, without comments or ';'."}, status=400)
    order = f' ORDER BY "{sort}"{" DESC" if request.GET.get("desc") == "1" else ""}' if sort else ""
    try:
        table = _adql_name(request, job)
        count = actions.run_sync(request.user, query=f"SELECT COUNT(*) AS n FROM {table} WHERE ({where})", maxrec=1)
        total = next((b.column(0)[0].as_py() for b in count.batches), 0)
        page = actions.run_sync(request.user, query=f"SELECT * FROM {table} WHERE ({where}){order} OFFSET {offset}", maxrec=limit)
        batches = list(page.batches)
    except AdqlError as exc:
        return JsonResponse({"error": query_error(error_message(exc))["message"]}, status=400)
    except (QueryError, actions.SyncLimitReached) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"columns": job.result_columns, "rows": _json_rows(batches), "offset": offset, "total": total, "where": where})


def _numeric(array: pa.ChunkedArray) -> np.ndarray:
    if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_decimal(array.type)):
        raise ValueError("not a numeric column")
    return np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


@require_GET
def job_plot(request: HttpRequest, job_id: str) -> JsonResponse:
    """Data for the quick plots: a sample of points (scatter, sky) or histogram counts over all rows."""
    job = _stored(request, job_id)
    names = [c.name for c in actions.result_columns(job)]
    wanted = [request.GET.get(k, "") for k in ("x", "y", "c")]
    if not wanted[0] or any(w and w not in names for w in wanted):
        return JsonResponse({"error": "choose columns of the result"}, status=400)
    if request.GET.get("kind") == "skydensity":
        return _sky_density(request, job, wanted[0], wanted[1])
    if request.GET.get("kind") == "density":
        return _density(request, job, wanted[0], wanted[1])
    total = job.row_count or 0
    step = max(1, math.ceil(total / PLOT_POINTS_MAX))
    histogram = request.GET.get("kind") == "histogram"
    values: dict[str, list[np.ndarray]] = {w: [] for w in wanted if w}
    seen = 0
    for batch in actions.result_batches(job):
        table = pa.Table.from_batches([batch])
        take = None if histogram else pa.array(range((-seen) % step, batch.num_rows, step))
        for name in values:
            column = table.column(name) if take is None else table.column(name).take(take)
            try:
                values[name].append(_numeric(column))
            except ValueError:
                return JsonResponse({"error": f"{name} is not a numeric column"}, status=400)
        seen += batch.num_rows
    data = {name: np.concatenate(parts) if parts else np.array([]) for name, parts in values.items()}
    units = {c.name: c.unit for c in actions.result_columns(job)}
    if histogram:
        x = data[wanted[0]]
        x = x[np.isfinite(x)]
        bins = min(max(int(request.GET.get("bins", 50) or 50), 1), 500)
        counts, edges = np.histogram(x, bins=bins) if x.size else (np.array([]), np.array([]))
        return JsonResponse({"kind": "histogram", "counts": counts.tolist(), "edges": edges.tolist(), "x": wanted[0],
                             "unit": units.get(wanted[0], ""), "n": int(x.size)})
    out = {name: [None if not math.isfinite(v) else v for v in arr.tolist()] for name, arr in data.items()}
    return JsonResponse({"kind": "points", "data": out, "units": units, "sampled": step > 1, "total": total})


def _engine_rows(request: HttpRequest, query: str, maxrec: int) -> pa.Table:
    """A small aggregate computed by the engine, as the user (the same checks as their own queries)."""
    result = actions.run_sync(request.user, query=query, maxrec=maxrec)
    return pa.Table.from_batches(list(result.batches))


def _density(request: HttpRequest, job: QueryJob, x: str, y: str) -> JsonResponse:
    """A 2-D histogram of two columns over every row, counted by the engine: DENSITY_BINS² cells at most."""
    if not y:
        return JsonResponse({"error": "choose the X and Y columns"}, status=400)
    X, Y, n = f'"{x}"', f'"{y}"', DENSITY_BINS
    try:
        table = _adql_name(request, job)
        ranges = _engine_rows(request, f"SELECT MIN({X}) AS x0, MAX({X}) AS x1, MIN({Y}) AS y0, MAX({Y}) AS y1 FROM {table}", 1)
        bounds = [ranges.column(k)[0].as_py() if ranges.num_rows else None for k in ("x0", "x1", "y0", "y1")]
        if any(b is None for b in bounds):
            return JsonResponse({"kind": "density", "i": [], "j": [], "n": [], "bins": n, "x": [0, 1], "y": [0, 1], "total": 0})
        x0, x1, y0, y1 = (float(b) for b in bounds if b is not None)
        sx, sy = n / ((x1 - x0) or 1), n / ((y1 - y0) or 1)
        cells = _engine_rows(request, f"SELECT i, j, COUNT(*) AS n FROM (SELECT FLOOR(({X} - ({x0!r})) * {sx!r}) AS i, "
                                      f"FLOOR(({Y} - ({y0!r})) * {sy!r}) AS j FROM {table} WHERE {X} IS NOT NULL AND {Y} IS NOT NULL) AS s "
                                      "GROUP BY i, j", (n + 1) ** 2)
    except AdqlError as exc:
        return JsonResponse({"error": query_error(error_message(exc))["message"]}, status=400)
    except (QueryError, actions.SyncLimitReached) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except (TypeError, ValueError):  # MIN/MAX of a text column
        return JsonResponse({"error": f"{x} and {y} must be numeric columns"}, status=400)
    clip = [min(int(v), n - 1) for v in cells.column("i").to_pylist()], [min(int(v), n - 1) for v in cells.column("j").to_pylist()]
    counts = cells.column("n").to_pylist()
    units = {c.name: c.unit for c in actions.result_columns(job)}
    return JsonResponse({"kind": "density", "i": clip[0], "j": clip[1], "n": counts, "bins": n, "x": [x0, x1], "y": [y0, y1],
                         "total": int(sum(counts)), "units": units})


def _sky_density(request: HttpRequest, job: QueryJob, ra: str, dec: str) -> JsonResponse:
    """Counts per HEALPix pixel over all rows, computed by the engine (one GROUP BY), never the rows themselves.

    Each pixel's centre comes back as the mean unit vector of its rows (which does not break at RA 0/360),
    so the browser draws at most 12 * 4**order cells whatever the size of the result.
    """
    if not dec:
        return JsonResponse({"error": "choose the RA and Dec columns"}, status=400)
    try:
        order = min(max(int(request.GET.get("order", SKY_ORDER) or SKY_ORDER), 0), SKY_ORDER_MAX)
    except ValueError:
        return JsonResponse({"error": "order is a number"}, status=400)
    r, d = f'"{ra}"', f'"{dec}"'
    try:
        table = _adql_name(request, job)
        query = (f"SELECT hpx, COUNT(*) AS n, AVG(COS(RADIANS(d)) * COS(RADIANS(r))) AS vx, AVG(COS(RADIANS(d)) * SIN(RADIANS(r))) AS vy, "
                 f"AVG(SIN(RADIANS(d))) AS vz FROM (SELECT ivo_healpix_index({order}, {r}, {d}) AS hpx, {r} AS r, {d} AS d FROM {table} "
                 f"WHERE {r} IS NOT NULL AND {d} IS NOT NULL) AS s GROUP BY hpx")
        result = actions.run_sync(request.user, query=query, maxrec=12 * 4**order)
        cells = pa.Table.from_batches(list(result.batches))
    except AdqlError as exc:
        return JsonResponse({"error": query_error(error_message(exc))["message"]}, status=400)
    except (QueryError, actions.SyncLimitReached) as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    vx, vy, vz = (np.asarray(cells.column(k).to_numpy(zero_copy_only=False), dtype=float) for k in ("vx", "vy", "vz"))
    lon = np.degrees(np.arctan2(vy, vx)) % 360
    lat = np.degrees(np.arctan2(vz, np.hypot(vx, vy)))
    counts = cells.column("n").to_pylist()
    return JsonResponse({"kind": "skydensity", "order": order, "ra": [round(v, 4) for v in lon.tolist()],
                         "dec": [round(v, 4) for v in lat.tolist()], "n": counts, "total": int(sum(counts)),
                         "pixel_deg": math.degrees(math.sqrt(4 * math.pi / (12 * 4**order)))})


@require_GET
def job_download(request: HttpRequest, job_id: str) -> StreamingHttpResponse | HttpResponse:
    job = _stored(request, job_id)
    fmt = request.GET.get("format", "csv")
    if fmt not in FORMATS:
        return HttpResponseBadRequest(f"Unknown format {fmt}; use one of {', '.join(FORMATS)}.")
    return download_response(request, job, fmt, request.build_absolute_uri(reverse("query:job", args=[job.id])))


# ---- import a file into MyDB -------------------------------------------------------

def _import_max_bytes() -> int:
    return int(getattr(settings, "QUERY_IMPORT_MAX_BYTES", 256 * 1024 * 1024))


def _import_source(request: HttpRequest) -> tuple[bytes, str]:
    """The file's content and name: uploaded with the form, or read from one of the user's volumes."""
    limit = _import_max_bytes()
    uploaded = request.FILES.get("file")
    if uploaded is not None:
        if uploaded.size is not None and uploaded.size > limit:
            raise QueryError(f"The file is larger than the import limit of {human_bytes(limit)}.")
        return uploaded.read(), uploaded.name or ""
    volume_id, path = request.POST.get("volume", ""), request.POST.get("path", "").strip().lstrip("/")
    if not volume_id.isdigit() or not path:
        raise QueryError("Choose a file to upload, or a volume and the path of a file in it.")
    volume = access_volume(request.user, int(volume_id), "read")
    try:
        with volume_fs(volume).open_read(path) as handle:
            data = handle.read(limit + 1)
    except (OSError, ValueError) as exc:
        raise QueryError(f"{path} cannot be read from {volume.name}: {without_paths(str(exc))}") from None
    if len(data) > limit:
        raise QueryError(f"The file is larger than the import limit of {human_bytes(limit)}.")
    return data, path.rsplit("/", 1)[-1]


@login_required
def import_table(request: HttpRequest) -> HttpResponse:
    """Import a CSV, VOTable, FITS table or Parquet file as a MyDB table (apps/query/imports.py).

    The page's script sends the form with a progress bar and asks for JSON; without script the
    form posts as usual and the answer is the job page or the form with its error.
    """
    wants_json = request.headers.get("Accept", "").startswith("application/json")
    form = {"table_name": request.POST.get("table_name", "").strip(), "format": request.POST.get("format", ""),
            "queue": request.POST.get("queue", get_queue(None).name), "volume": request.POST.get("volume", ""),
            "path": request.POST.get("path", "")}
    error = ""
    if request.method == "POST":
        try:
            data, filename = _import_source(request)
            fmt = form["format"] if form["format"] in IMPORT_FORMATS else ""
            job = actions.do_import_table(request.user, table_name=form["table_name"], data=data, filename=filename,
                                          fmt=fmt, queue=form["queue"])
        except (QueryError, QueueError) as exc:
            error = str(exc)
        else:
            url = reverse("query:job", args=[job.id])
            return JsonResponse({"job": str(job.id), "url": url}) if wants_json else redirect(url)
        if wants_json:
            return JsonResponse({"error": error}, status=400)
    context = {"form": form, "error": error, "formats": IMPORT_FORMATS, "queues": queues_for(request.user),
               "volumes": readable_volumes(request.user).order_by("name"), "max_bytes": human_bytes(_import_max_bytes()),
               "space": usage(request.user)}  # type: ignore[arg-type]
    return render(request, "query/import.html", context, status=400 if error else 200)
