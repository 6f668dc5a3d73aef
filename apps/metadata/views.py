"""Public browse pages: schemas -> tables -> columns, a table's page, search."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from apps.access.permissions import access_resource, actions_of
from apps.adql import adql_name

from . import examples
from .catalog import tables_with_columns, visible_columns, visible_schemas
from .models import Table
from .storage import sample_rows
from .vosi import vosi_tables
from .votable import metadata_votable

log = logging.getLogger(__name__)
AnyUser = User | AnonymousUser


def _user(request: HttpRequest) -> AnyUser:
    return request.user  # type: ignore[return-value]


def access_table(user: AnyUser, schema: str, table: str, action: str = "read") -> Table:
    """Checked lookup: 404 if the user may not see the table (or it is unpublished and not theirs), 403 if not ``action``."""
    found = Table.objects.select_related("schema", "resource", "schema__resource").filter(schema__name=schema, name=table).first()
    if found is None or found.withdrawn:  # withdrawn: hidden from everyone, its owner too (the admin still lists it)
        raise Http404("No such table.")
    held = actions_of(user, found.resource)
    if not (found.published and found.schema.published) and "grant" not in held:
        raise Http404("No such table.")
    access_resource(user, action, found.resource)
    return found


def schemas(request: HttpRequest) -> HttpResponse:
    return render(request, "metadata/schemas.html", {"schemas": vosi_tables(_user(request), with_tap_schema=False)})


def schema_detail(request: HttpRequest, schema: str) -> HttpResponse:
    user = _user(request)
    found = visible_schemas(user).filter(name=schema).first()
    if found is None:
        raise Http404("No such schema.")
    tables = [t for t in tables_with_columns(user, "read") if t.schema_id == found.pk]
    return render(request, "metadata/schema.html", {"schema": found, "tables": tables})


def _query_url() -> str | None:
    try:
        return reverse("query:index")
    except NoReverseMatch:
        return None


def example_queries(table: Table, columns: list[Any], sample: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Ready-to-run ADQL for this table, from its own metadata (and a real position of its first row)."""
    name = examples.table_ref(table.schema.name, table.name)
    principal = [adql_name(c.name) for c in columns if c.principal][:6] or [adql_name(c.name) for c in columns[:6]]
    found = [("The first rows", examples.first_rows(name)),
             ("How many rows", f"SELECT COUNT(*) AS n FROM {name}"),
             ("The main columns", f"SELECT TOP 100 {', '.join(principal)}\nFROM {name}")]
    pos = table.position_columns
    if pos:
        ra0, dec0 = 180.0, 0.0
        if sample and sample[0].get(pos[0]) is not None:
            ra0, dec0 = round(float(sample[0][pos[0]]), 4), round(float(sample[0][pos[1]]), 4)
        found.append(("A cone search (0.1 degree around a position)", examples.cone_search(name, pos[0], pos[1], ra0, dec0, 0.1)))
    mags = [c.name for c in columns if c.ucd.startswith("phot.mag")]
    if mags:
        found.append((f"A histogram of {mags[0]}", examples.histogram(name, mags[0])))
    return found


def bibtex(table: Table) -> str:
    """A BibTeX entry for the table, from its DataCite-style creators, title, DOI and publication date."""
    authors = " and ".join(c.get("name", "") for c in table.creators if isinstance(c, dict)) or "{Unknown}"
    year = table.published_on.year if table.published_on else (table.created.year if table.created else "")
    fields = [("author", authors), ("title", table.title or table.qualified_name), ("year", str(year)),
              ("howpublished", "Data publication portal, table " + table.qualified_name)]
    if table.doi:
        fields.append(("doi", table.doi))
    key = f"{table.schema.name}_{table.name}_{year}"
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@misc{{{key},\n{body}\n}}"


def _sample(table: Table, limit: int = 10) -> tuple[list[str], list[dict[str, Any]], str]:
    try:
        rows = sample_rows(table.schema.engine, table.schema.name, table.name, limit)
    except Exception as exc:  # the page stays useful when the engine is down
        log.warning("sample of %s failed: %s", table.qualified_name, exc)
        return [], [], "A sample of the rows is not available at the moment."
    return rows.column_names, rows.to_pylist(), ""


def table_detail(request: HttpRequest, schema: str, table: str) -> HttpResponse:
    user = _user(request)
    found = access_table(user, schema, table)
    held = actions_of(user, found.resource)
    columns = list(visible_columns(user).filter(table=found).order_by("order", "id"))
    names, rows, sample_error = _sample(found) if "query" in held else ([], [], "")
    visible = {c.name for c in columns}
    names = [n for n in names if n in visible]  # never show a column the user may not see
    context = {
        "table": found, "columns": columns, "can_query": "query" in held, "can_share": "grant" in held,
        "sample_columns": names, "sample_rows": [[r.get(n) for n in names] for r in rows], "sample_error": sample_error,
        "examples": example_queries(found, columns, rows), "query_url": _query_url(), "bibtex": bibtex(found),
    }
    return render(request, "metadata/table.html", context)


def table_votable(request: HttpRequest, schema: str, table: str) -> HttpResponse:
    """The table's metadata as a VOTable sidecar (FIELDs with units, UCDs and descriptions, no rows)."""
    user = _user(request)
    found = access_table(user, schema, table)
    body = metadata_votable(found, visible_columns(user).filter(table=found).order_by("order", "id"))
    response = HttpResponse(body, content_type="application/x-votable+xml")
    response["Content-Disposition"] = f'attachment; filename="{found.qualified_name}.vot"'
    return response


def datacite(table: Table, columns: int, landing_url: str) -> dict[str, Any]:
    """A DataCite 4 metadata record (JSON, ``attributes`` part) for minting or updating the table's DOI."""
    year = table.published_on.year if table.published_on else timezone.now().year
    record: dict[str, Any] = {
        "types": {"resourceTypeGeneral": "Dataset", "resourceType": "Catalogue table"},
        "titles": [{"title": table.title or table.qualified_name}],
        "creators": [c for c in table.creators if isinstance(c, dict) and c.get("name")] or [{"name": settings.SITE_NAME}],
        "publisher": {"name": settings.SITE_NAME},
        "publicationYear": year,
        "url": landing_url,
        "descriptions": [{"description": table.description, "descriptionType": "Abstract"}] if table.description else [],
        "sizes": [f"{table.row_count} rows", f"{columns} columns"] if table.row_count is not None else [f"{columns} columns"],
        "formats": ["application/x-votable+xml", "text/csv", "application/vnd.apache.parquet"],
        "dates": [{"date": str(d), "dateType": kind} for d, kind in ((table.published_on, "Issued"), (table.data_updated_on, "Updated")) if d],
    }
    if table.doi:
        record["doi"] = table.doi
    if table.licence:
        record["rightsList"] = [{"rights": table.licence, "rightsIdentifier": table.licence.lower(), "rightsIdentifierScheme": "SPDX"}]
    return record


def table_datacite(request: HttpRequest, schema: str, table: str) -> JsonResponse:
    user = _user(request)
    found = access_table(user, schema, table)
    landing = request.build_absolute_uri(reverse("metadata:table", args=[found.schema.name, found.name]))
    record = datacite(found, visible_columns(user).filter(table=found).count(), landing)
    return JsonResponse({"data": {"type": "dois", "attributes": record}}, json_dumps_params={"indent": 2})


def search(request: HttpRequest) -> HttpResponse:
    """Tables and columns whose names, titles, descriptions or UCDs contain the words asked for."""
    user = _user(request)
    q = request.GET.get("q", "").strip()[:200]
    tables, columns = [], []
    if q:
        words = q.split()[:8]
        table_q, column_q = Q(), Q()
        for w in words:
            table_q &= Q(name__icontains=w) | Q(title__icontains=w) | Q(description__icontains=w) | Q(schema__name__icontains=w)
            column_q &= Q(name__icontains=w) | Q(description__icontains=w) | Q(ucd__icontains=w) | Q(unit__iexact=w)
        visible = tables_with_columns(user, "read")
        tables = list(visible.filter(table_q)[:50])
        columns = list(visible_columns(user).filter(column_q, table__in=visible.values("id")).select_related("table", "table__schema")[:100])
    return render(request, "metadata/search.html", {"q": q, "tables": tables, "columns": columns})
