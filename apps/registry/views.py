"""The OAI-PMH endpoint (GET and POST, as the protocol allows) and the tables' coverage: MOC downloads and sky map."""

from __future__ import annotations

import io

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe
from mocpy import MOC

from apps.metadata.views import access_table

from . import oai
from .coverage import sky_map_svg
from .models import TableCoverage
from .repository import PortalRepository


@csrf_exempt  # a harvester posts a form without a session
@require_http_methods(["GET", "HEAD", "POST"])
def oai_pmh(request: HttpRequest) -> HttpResponse:
    params = request.POST if request.method == "POST" else request.GET
    body = oai.respond({k: params.getlist(k) for k in params}, PortalRepository(), timezone.now(),
                       page=settings.REGISTRY_PAGE_SIZE)
    return HttpResponse(body, content_type="text/xml; charset=utf-8")


def _coverage(request: HttpRequest, schema: str, table: str) -> TableCoverage:
    found = access_table(request.user, schema, table)  # type: ignore[arg-type]
    coverage = TableCoverage.objects.filter(table=found).first()
    if coverage is None:
        raise Http404("This table has no sky coverage (yet).")
    return coverage


@require_safe
def coverage_moc(request: HttpRequest, schema: str, table: str, fmt: str) -> HttpResponse:
    """The MOC as IVOA MOC 2.0 ASCII (``.txt``) or FITS (``.fits``)."""
    coverage = _coverage(request, schema, table)
    if fmt == "txt":
        return HttpResponse(coverage.moc + "\n", content_type="text/plain; charset=utf-8")
    hdus = MOC.from_string(coverage.moc, format="ascii").serialize(format="fits")
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    response = HttpResponse(buffer.getvalue(), content_type="application/fits")
    response["Content-Disposition"] = f'attachment; filename="{schema}.{table}.moc.fits"'
    return response


@require_safe
def coverage_map(request: HttpRequest, schema: str, table: str) -> HttpResponse:
    coverage = _coverage(request, schema, table)
    title = f"Sky coverage of {schema}.{table}: {coverage.area_deg2:,.0f} square degrees"
    return HttpResponse(sky_map_svg(coverage.moc, title=title), content_type="image/svg+xml")


def coverage_dispatch(request: HttpRequest, schema: str, table: str, fmt: str) -> HttpResponse:
    if fmt == "svg":
        return coverage_map(request, schema, table)
    if fmt in ("txt", "fits"):
        return coverage_moc(request, schema, table, fmt)
    raise Http404("Coverage comes as .txt or .fits (MOC 2.0), or .svg (a map).")
