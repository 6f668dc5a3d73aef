"""Simple Cone Search 1.03, one service per published table with positions.

``/conesearch/<schema>/<table>?RA=..&DEC=..&SR=..[&VERB=1|2|3][&MAXREC=n]``.
The search is an ADQL CONTAINS(POINT, CIRCLE) run through the query service,
so each engine uses its own spatial index (pg_sphere/q3c on PostgreSQL).
Errors are VOTables with INFO name="Error", answered with HTTP 200 as SCS asks.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator

import pyarrow as pa
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import escape
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from apps import formats
from apps.accounts.addresses import client_address
from apps.adql import AdqlError, ColumnInfo
from apps.core.streaming import streaming_response
from apps.datalink.results import describe_result
from apps.metadata.catalog import tables_with_columns
from apps.metadata.models import Table
from apps.query import actions
from apps.query.planning import error_message
from apps.query.queues import QueueError
from workers.engines.base import EngineError

AnyUser = User | AnonymousUser
MAX_SR = 10.0  # degrees: larger cones belong in a TAP query
VERBOSITY = (1, 2, 3)
# SCS 1.03 wants these UCD1 names on the id and position columns.
UCD_ID, UCD_RA, UCD_DEC = "ID_MAIN", "POS_EQ_RA_MAIN", "POS_EQ_DEC_MAIN"


class ConeError(ValueError):
    pass


def scs_error(message: str) -> HttpResponse:
    text = escape(message)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
            f'<INFO ID="Error" name="Error" value="{text}"/>\n'
            f'<RESOURCE type="results"><INFO name="QUERY_STATUS" value="ERROR">{text}</INFO></RESOURCE>\n'
            '</VOTABLE>\n')
    return HttpResponse(body.encode(), content_type="text/xml; charset=utf-8")


def cone_tables(user: AnyUser) -> list[Table]:
    return [t for t in tables_with_columns(user) if t.position_columns]


def _number(request: HttpRequest, name: str) -> float:
    raw = request.GET.get(name, request.GET.get(name.lower(), "")).strip()
    if not raw:
        raise ConeError(f"{name} is required (decimal degrees).")
    try:
        value = float(raw)
    except ValueError:
        raise ConeError(f"{name} must be a number of degrees, not {raw!r}.") from None
    if not math.isfinite(value):
        raise ConeError(f"{name} must be a finite number.")
    return value


def parse_cone(request: HttpRequest) -> tuple[float, float, float, int, int | None]:
    ra, dec, sr = _number(request, "RA"), _number(request, "DEC"), _number(request, "SR")
    if not 0.0 <= ra <= 360.0:
        raise ConeError("RA must be between 0 and 360 degrees.")
    if not -90.0 <= dec <= 90.0:
        raise ConeError("DEC must be between -90 and 90 degrees.")
    if sr < 0 or sr > MAX_SR:
        raise ConeError(f"SR must be between 0 and {MAX_SR:g} degrees.")
    verb_raw = request.GET.get("VERB", request.GET.get("verb", "2")).strip() or "2"
    if not verb_raw.isdigit() or int(verb_raw) not in VERBOSITY:
        raise ConeError("VERB must be 1, 2 or 3.")
    maxrec_raw = request.GET.get("MAXREC", request.GET.get("maxrec", "")).strip()
    if maxrec_raw and not maxrec_raw.isdigit():
        raise ConeError("MAXREC must be a non-negative whole number.")
    return ra, dec, sr, int(verb_raw), int(maxrec_raw) if maxrec_raw else None


def position(table: Table) -> tuple[str, str]:
    ra, dec = table.position_columns or ("", "")
    return str(ra), str(dec)


def id_column(table: Table) -> str:
    columns = list(table.visible_columns)  # type: ignore[attr-defined]
    for column in columns:
        if column.ucd.lower().startswith("meta.id") and "meta.main" in column.ucd.lower():
            return str(column.name)
    return str(columns[0].name)


def selected_columns(table: Table, verb: int) -> list[str]:
    ra, dec = position(table)
    key = [id_column(table), ra, dec]
    if verb == 1:
        chosen = key
    else:
        names = [c.name for c in table.visible_columns if verb == 3 or c.principal]  # type: ignore[attr-defined]
        chosen = key + [n for n in names if n not in key]
    return list(dict.fromkeys(chosen))


def cone_query(table: Table, ra: float, dec: float, sr: float, verb: int) -> str:
    ra_col, dec_col = position(table)
    columns = ", ".join(f'"{c}"' for c in selected_columns(table, verb))
    return (f"SELECT {columns} FROM {table.qualified_name} "
            f"WHERE 1 = CONTAINS(POINT('ICRS', {ra_col}, {dec_col}), CIRCLE('ICRS', {ra!r}, {dec!r}, {sr!r}))")


def _scs_columns(columns: list[ColumnInfo], table: Table) -> list[ColumnInfo]:
    ra, dec = position(table)
    ucds = {id_column(table): UCD_ID, ra: UCD_RA, dec: UCD_DEC}
    return [dataclasses.replace(c, ucd=ucds[c.name]) if c.name in ucds else c for c in columns]


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    services = [{"table": t, "url": request.build_absolute_uri(reverse("conesearch:search", args=[t.schema.name, t.name]))}
                for t in cone_tables(request.user)]  # type: ignore[arg-type]
    return render(request, "conesearch/index.html", {"services": services})


@csrf_exempt
@require_safe
def search(request: HttpRequest, schema: str, table: str) -> HttpResponseBase:
    user: AnyUser = request.user  # type: ignore[assignment]
    found = next((t for t in cone_tables(user) if t.schema.name == schema and t.name == table), None)
    if found is None:
        return scs_error(f"There is no cone search for {schema}.{table} (or you may not query it).")
    try:
        ra, dec, sr, verb, maxrec = parse_cone(request)
    except ConeError as exc:
        return scs_error(str(exc))
    query = cone_query(found, ra, dec, sr, verb)
    try:
        result = actions.run_sync(user, query=query, language="ADQL", maxrec=maxrec, response_format="votable",
                                  client_address=client_address(request))
    except (AdqlError, actions.QueryError, QueueError, EngineError) as exc:
        return scs_error(error_message(exc))
    info = formats.ResultInfo(query=query, table_name=found.name, description=found.description)
    describe_result(info, user, query, result.columns)  # provenance INFOs, DataLink descriptors

    def batches() -> Iterator[pa.RecordBatch]:
        yield from result.batches
        info.overflow = result.overflow

    chunks = formats.write(formats.FORMATS["votable-b2"], batches(), _scs_columns(result.columns, found), info)
    return streaming_response(request, chunks, "text/xml; charset=utf-8")
