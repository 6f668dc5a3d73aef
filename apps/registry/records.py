"""The records this portal publishes, assembled from the metadata (what publishers edit in the admin).

- ``ivo://<authority>``: the naming authority (vg:Authority)
- ``ivo://<authority>/registry``: this publishing registry (vg:Registry, its OAI-PMH endpoint)
- ``ivo://<authority>/tap``: the TAP service with every public table (vs:CatalogService)
- ``ivo://<authority>/<schema>/<table>``: each public table (vs:CatalogService): its creators, DOI,
  citation, licence, subjects, MOC coverage, an auxiliary TAP capability and, with positions, its cone search.

``current_records()`` returns (identifier, ResourceData, table id) for what exists now; the
actions compare that with the stored RegistryRecord rows to keep dates and deletions.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.urls import reverse

from apps.core.branding import contact_email
from apps.metadata.catalog import visible_tables
from apps.metadata.models import Table
from apps.metadata.tap_schema import tap_schema_rows
from apps.tap import service, vosi

from .models import RegistryRecord, TableCoverage
from .oai import XSI
from .vor import Creator, ResourceData, capability

TAP_AUX = "ivo://ivoa.net/std/TAP#aux"
CONE_SEARCH = "ivo://ivoa.net/std/ConeSearch"


def authority_id() -> str:
    return f"ivo://{settings.REGISTRY_AUTHORITY}"


def tap_id() -> str:
    return f"{authority_id()}/tap"


def registry_id() -> str:
    return f"{authority_id()}/registry"


def table_id(table: Table) -> str:
    return f"{authority_id()}/{table.schema.name}/{table.name}"


def _url(name: str, *args: str) -> str:
    return f"{settings.SITE_URL}{reverse(name, args=args)}"


def _common(identifier: str, xsi_type: str, title: str, description: str, reference_url: str) -> ResourceData:
    return ResourceData(identifier=identifier, xsi_type=xsi_type, title=title, description=description,
                        publisher=settings.REGISTRY_PUBLISHER, reference_url=reference_url,
                        contact_name=settings.REGISTRY_PUBLISHER, contact_email=contact_email())


def authority_record() -> ResourceData:
    return _common(authority_id(), "vg:Authority", f"The {settings.REGISTRY_AUTHORITY} naming authority",
                   f"Identifiers of the resources published by {settings.SITE_NAME}.", f"{settings.SITE_URL}/")


def registry_record() -> ResourceData:
    data = _common(registry_id(), "vg:Registry", f"{settings.SITE_NAME} publishing registry",
                   f"The OAI-PMH publishing registry of {settings.SITE_NAME}.", f"{settings.SITE_URL}/")
    data.capabilities = [capability("ivo://ivoa.net/std/Registry", _url("registry:oai"), xsi_type="vg:OAIHTTP",
                                    cap_type="vg:Harvest", version="1.0", max_records=settings.REGISTRY_PAGE_SIZE)]
    data.managed_authority = settings.REGISTRY_AUTHORITY
    data.content_type = "Registry"
    return data


def _tap_capabilities(base: str) -> list[ET.Element]:
    document = vosi.capabilities_document(base, auth_url=f"{base}/auth", languages=service.languages(), formats=service.output_formats(),
                                          limits=service.limits(), udfs=service.udf_forms(), ivoid=tap_id())
    return list(ET.fromstring(document))  # noqa: S314  (our own document, just written)


def _tableset(tables: list[Table]) -> ET.Element:
    """The VODataService tableset of ``tables``, as the VOSI tables endpoint describes them to anonymous users."""
    rows = tap_schema_rows(AnonymousUser())
    wanted = {t.qualified_name for t in tables}
    rows = {**rows, "tables": [t for t in rows["tables"] if t["table_name"] in wanted],
            "schemas": [s for s in rows["schemas"] if s["schema_name"] in {t.schema.name for t in tables}]}
    document = ET.fromstring(vosi.tableset_document(rows))  # noqa: S314  (our own document)
    tableset = ET.Element("tableset")
    tableset.extend(list(document))
    xsi_type = f"{{{XSI}}}type"
    for element in tableset.iter():  # client-specific extensions of VOSI (e.g. ESA's column flags) stay out of records
        for name in [n for n in element.attrib if n.startswith("{") and n != xsi_type]:
            del element.attrib[name]
    return tableset


def tap_record(tables: list[Table]) -> ResourceData:
    base = f"{settings.SITE_URL}/tap"
    data = _common(tap_id(), "vs:CatalogService", f"{settings.SITE_NAME} TAP service",
                   f"Table Access Protocol (ADQL) service of {settings.SITE_NAME}.", _url("tap:root"))
    data.content_type = "Catalog"
    data.capabilities = _tap_capabilities(base)
    data.tableset = _tableset(tables)
    data.related = [("IsServiceFor", t.title or t.qualified_name, table_id(t)) for t in tables]
    return data


def _extras(identifier: str) -> RegistryRecord | None:
    return RegistryRecord.objects.filter(identifier=identifier).first()


def _orcid(creator: dict[str, object]) -> str:
    """An ORCID given plainly or DataCite-style (nameIdentifier with nameIdentifierScheme ORCID)."""
    if creator.get("orcid"):
        return str(creator["orcid"])
    scheme = str(creator.get("nameIdentifierScheme") or "").upper()
    return str(creator.get("nameIdentifier") or "") if scheme == "ORCID" else ""


def table_record(table: Table) -> ResourceData:
    identifier = table_id(table)
    data = _common(identifier, "vs:CatalogService", table.title or table.qualified_name,
                   table.description or table.title or table.qualified_name,
                   _url("metadata:table", table.schema.name, table.name))
    extras = _extras(identifier)
    if extras is not None:
        data.subjects = [str(s) for s in extras.subjects if str(s).strip()] or data.subjects
        data.short_name = extras.short_name
    data.creators = [Creator(str(c.get("name")), _orcid(c)) for c in table.creators or [] if isinstance(c, dict) and c.get("name")]
    data.dates = [(d.isoformat(), role) for d, role in ((table.published_on, "Created"), (table.data_updated_on, "Updated")) if d]
    data.doi, data.source, data.licence, data.content_type = table.doi, table.citation, table.licence, "Catalog"
    caps = [capability(TAP_AUX, f"{settings.SITE_URL}/tap", version="1.1")]
    if table.position_columns:
        caps.append(capability(CONE_SEARCH, _url("conesearch:search", table.schema.name, table.name) + "?"))
    data.capabilities = caps
    coverage = TableCoverage.objects.filter(table=table).first()
    data.moc = coverage.moc if coverage else ""
    data.tableset = _tableset([table])
    data.related = [("IsServedBy", f"{settings.SITE_NAME} TAP service", tap_id())]
    return data


def current_records() -> list[tuple[ResourceData, int | None]]:
    tables = list(visible_tables(AnonymousUser(), "read").select_related("schema"))
    records: list[tuple[ResourceData, int | None]] = [(authority_record(), None), (registry_record(), None),
                                                      (tap_record(tables), None)]
    records += [(table_record(t), t.pk) for t in tables]
    return records
