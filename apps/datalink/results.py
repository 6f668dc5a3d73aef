"""What every result says about itself: provenance INFOs and the DataLink service descriptors of its columns.

``describe_result(info, user, query, columns)`` fills a ``formats.ResultInfo`` before it is
written: the request date, the server and its version, the TAP service's ivo:// identifier,
and for each table the query read (as ``user`` may see it) its citation, DOI and licence;
and, for an output column that is a table's DataLink ID column, the FIELD ID and the
``RESOURCE type="meta" utype="adhoc:service"`` pointing at that table's {links} endpoint.
The query's tables come from the ADQL parse tree; native SQL gets the provenance without links.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.urls import reverse
from django.utils import timezone

from apps.adql import AdqlError, ColumnInfo, parse
from apps.adql.ast import TableName
from apps.formats import ResultInfo
from apps.metadata.catalog import ProcessCache, user_key, visible_tables
from apps.metadata.models import Table
from apps.registry.records import tap_id  # the registry owns identifiers

from .links import service_descriptor
from .models import LinkTemplate

log = logging.getLogger(__name__)


@functools.cache
def server_version() -> str:
    pyproject = Path(settings.BASE_DIR) / "pyproject.toml"
    try:
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return "unknown"


def _walk(node: object) -> Iterator[object]:
    yield node
    if isinstance(node, list | tuple):
        for item in node:
            yield from _walk(item)
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            if f.name not in ("table", "cte"):  # filled by validation; not part of the tree
                yield from _walk(getattr(node, f.name))


def referenced_tables(query: str) -> set[tuple[str, str]]:
    """(schema, table) of every table an ADQL query names, lower-cased; empty if it does not parse as ADQL."""
    try:
        tree = parse(query)
    except (AdqlError, RecursionError):
        return set()
    names = set()
    for node in _walk(tree):
        if isinstance(node, TableName) and len(node.parts) >= 2:
            names.add((node.parts[-2].name.lower(), node.parts[-1].name.lower()))
    return names


def _tables(user: User | AnonymousUser, wanted: frozenset[tuple[str, str]]) -> list[Table]:
    if not wanted:
        return []
    candidates = visible_tables(user, "read").filter(name__in={t for _, t in wanted}).select_related("schema")
    return [t for t in candidates if (t.schema.name.lower(), t.name.lower()) in wanted]


_described = ProcessCache()


def _tables_and_templates(user: User | AnonymousUser, wanted: frozenset[tuple[str, str]]) -> tuple[list[Table], list[LinkTemplate]]:
    """The tables read that ``user`` may see, and their link templates: kept per metadata version (a change
    of metadata, privileges or link templates bumps it), so a small query's result costs no query here."""
    def build() -> tuple[list[Table], list[LinkTemplate]]:
        tables = _tables(user, wanted)
        if not tables:
            return [], []
        templates = LinkTemplate.objects.filter(table__in=tables).select_related("table__schema").order_by("table", "id_column")
        return tables, list(templates)

    found: tuple[list[Table], list[LinkTemplate]] = _described.get((user_key(user), wanted), build)
    return found


def provenance(tables: Sequence[Table]) -> list[tuple[str, str]]:
    infos = [("request_date", timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ")), ("server", settings.SITE_URL),
             ("server_software", f"Daiquiri {server_version()}"), ("publisher", settings.REGISTRY_PUBLISHER),
             ("ivoid", tap_id())]
    if settings.REGISTRY_CONTACT_EMAIL:
        infos.append(("contact", settings.REGISTRY_CONTACT_EMAIL))
    for t in tables:
        for name, value in (("citation", t.citation), ("doi", t.doi and f"https://doi.org/{t.doi.removeprefix('https://doi.org/')}"),
                            ("rights", t.licence)):
            if value:
                infos.append((name, f"{t.qualified_name}: {value}"))
    return infos


def _field_id(name: str) -> str:
    return "col_" + re.sub(r"[^A-Za-z0-9_]", "_", name)


def describe_result(info: ResultInfo, user: User | AnonymousUser, query: str, columns: Sequence[ColumnInfo], *,
                    tables: Iterable[tuple[str, str]] | None = None) -> None:
    """``tables``: the (schema, table) pairs the query reads, when the caller knows them from its plan
    (then the query is not parsed a second time)."""
    try:
        wanted = referenced_tables(query) if tables is None else {(s.lower(), t.lower()) for s, t in tables if s}
        _describe(info, user, frozenset(wanted), columns)
    except Exception:  # the rows matter more than their labels: a bug here must not cost anyone a result
        log.exception("result of %r not described", query[:200])


def _describe(info: ResultInfo, user: User | AnonymousUser, wanted: frozenset[tuple[str, str]], columns: Sequence[ColumnInfo]) -> None:
    tables, templates = _tables_and_templates(user, wanted)
    info.infos += provenance(tables)
    by_name = {c.name.lower(): c.name for c in columns}
    seen: set[tuple[int, str]] = set()
    for template in templates:
        column = by_name.get(template.id_column.lower())
        if column is None or (template.table_id, column) in seen:
            continue
        seen.add((template.table_id, column))
        field_id = info.field_ids.setdefault(column, _field_id(column))
        url = settings.SITE_URL + reverse("datalink:links", args=[template.table.schema.name, template.table.name])
        info.resources.append(service_descriptor(url, field_id, "char", "*", name=f"links of {template.table.qualified_name}"))
