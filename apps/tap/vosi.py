"""VOSI 1.1 documents of the TAP service: capabilities (TAPRegExt 1.1), availability, tables.

Built from plain data (URLs, limits, TAP_SCHEMA rows), so the tables document
and TAP_SCHEMA always say the same thing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree as ET

from apps.adql import adql_name

VR = "http://www.ivoa.net/xml/VOResource/v1.0"
VS = "http://www.ivoa.net/xml/VODataService/v1.1"
TR = "http://www.ivoa.net/xml/TAPRegExt/v1.0"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
CAP = "http://www.ivoa.net/xml/VOSICapabilities/v1.0"
# ESA's TAP+ extension: astroquery's TapPlus reads esatapplus:flags (by that literal name) on every column and
# fails without it. VODataService's column allows no foreign attribute (taplint: E-TMV-BENV), so only a TAP+
# client is served it (``tap_plus``). The flag bits are ESA's (position, flux, key...); we claim none: "0".
ESA = "http://esa.int/xml/EsaTapPlus"
AVAIL = "http://www.ivoa.net/xml/VOSIAvailability/v1.0"
TABLES = "http://www.ivoa.net/xml/VOSITables/v1.0"
for _prefix, _ns in (("vr", VR), ("vs", VS), ("tr", TR), ("xsi", XSI), ("vosi", CAP), ("avail", AVAIL), ("vtm", TABLES), ("esatapplus", ESA)):
    ET.register_namespace(_prefix, _ns)

CONTENT_TYPE = "text/xml; charset=utf-8"
TAPREGEXT = "ivo://ivoa.net/std/TAPRegExt"
BASIC_AA = "ivo://ivoa.net/sso#BasicAA"

GEOMETRY_FUNCTIONS = ("AREA", "BOX", "CENTROID", "CIRCLE", "CONTAINS", "COORD1", "COORD2", "COORDSYS", "DISTANCE",
                      "INTERSECTS", "POINT", "POLYGON")
# ADQL 2.1 optional features the parser and translator implement: (feature type, forms).
ADQL_FEATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("adqlgeo", GEOMETRY_FUNCTIONS),
    ("adql-string", ("LOWER", "UPPER", "ILIKE")),
    ("adql-offset", ("OFFSET",)),
    ("adql-type", ("CAST",)),
    ("adql-unit", ("IN_UNIT",)),
    ("adql-common-table", ("WITH",)),
    ("adql-sets", ("UNION", "EXCEPT", "INTERSECT")),
)


@dataclass(frozen=True)
class OutputFormat:
    mime: str
    aliases: tuple[str, ...] = ()
    ivo_id: str = ""


@dataclass(frozen=True)
class Language:
    name: str
    versions: tuple[tuple[str, str], ...]  # (version, ivo-id or "")
    description: str
    features: bool = False  # the ADQL optional features and UDFs apply


@dataclass(frozen=True)
class Limits:
    retention_default: int  # seconds
    retention_hard: int
    duration_default: int
    duration_hard: int
    rows_default: int
    rows_hard: int
    upload_bytes: int


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _xsi_type(element: ET.Element, value: str) -> None:
    element.set(_q(XSI, "type"), value)


def _declare(root: ET.Element, **namespaces: str) -> ET.Element:
    """Declare prefixes used only inside xsi:type values (ElementTree declares only those of names)."""
    for prefix, ns in namespaces.items():
        root.set(f"xmlns:{prefix}", ns)
    return root


def _serialize(root: ET.Element) -> bytes:
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


# --- capabilities ----------------------------------------------------------

def _interface(capability: ET.Element, url: str, *, use: str = "full", xsi_type: str = "vs:ParamHTTP",
               role: str | None = None, secured_url: str = "", secured_first: bool = False) -> None:
    """An anonymous interface, and with ``secured_url`` its HTTP Basic twin (password or API token), which
    challenges a request without credentials (401), as Java clients need before they send any."""
    if secured_url and secured_first:  # the capabilities of the secured family: its own interface is the standard one
        _one_interface(capability, secured_url, use, xsi_type, role, BASIC_AA)
        _one_interface(capability, url, use, xsi_type, None, None)
        return
    _one_interface(capability, url, use, xsi_type, role, None)
    if secured_url:  # not role="std" too: one standard interface per capability (taplint W-CAP-CPI2)
        _one_interface(capability, secured_url, use, xsi_type, None, BASIC_AA)


def _one_interface(capability: ET.Element, url: str, use: str, xsi_type: str, role: str | None, security: str | None) -> None:
    interface = _sub(capability, "interface")
    _xsi_type(interface, xsi_type)
    if role:
        interface.set("role", role)
        interface.set("version", "1.1")
    _sub(interface, "accessURL", url, use=use)
    if security:
        _sub(interface, "securityMethod", standardID=security)


def _language(capability: ET.Element, language: Language, udfs: Sequence[tuple[str, str]]) -> None:
    element = _sub(capability, "language")
    _sub(element, "name", language.name)
    for version, ivo_id in language.versions:
        _sub(element, "version", version, **({"ivo-id": ivo_id} if ivo_id else {}))
    _sub(element, "description", language.description)
    if not language.features:
        return
    if udfs:
        udf_list = _sub(element, "languageFeatures", type=f"{TAPREGEXT}#features-udf")
        for form, description in udfs:
            feature = _sub(udf_list, "feature")
            _sub(feature, "form", form)
            if description:
                _sub(feature, "description", description)
    for kind, forms in ADQL_FEATURES:
        features = _sub(element, "languageFeatures", type=f"{TAPREGEXT}#features-{kind}")
        for form in forms:
            _sub(_sub(features, "feature"), "form", form)


def _limits(capability: ET.Element, limits: Limits) -> None:
    for tag, default, hard in (("retentionPeriod", limits.retention_default, limits.retention_hard),
                               ("executionDuration", limits.duration_default, limits.duration_hard)):
        element = _sub(capability, tag)
        _sub(element, "default", str(default))
        _sub(element, "hard", str(hard))
    for tag, default, hard, unit in (("outputLimit", limits.rows_default, limits.rows_hard, "row"),
                                     ("uploadLimit", limits.upload_bytes, limits.upload_bytes, "byte")):
        element = _sub(capability, tag)
        _sub(element, "default", str(default), unit=unit)
        _sub(element, "hard", str(hard), unit=unit)


def capabilities_document(base_url: str, *, auth_url: str = "", languages: Sequence[Language], formats: Sequence[OutputFormat],
                          limits: Limits, udfs: Sequence[tuple[str, str]] = (), ivoid: str = "",
                          secured_first: bool = False) -> bytes:
    """TAP capabilities; with ``secured_first`` (served at the auth URL) the secured interfaces come first and the
    TAP one is role="std", so clients given that URL (taplint, TOPCAT) stay on it."""
    root = _declare(ET.Element(_q(CAP, "capabilities")), vr=VR, vs=VS, tr=TR)
    tap = _sub(root, "capability", standardID="ivo://ivoa.net/std/TAP")
    _xsi_type(tap, "tr:TableAccess")
    if ivoid:  # the capability's description is the one place VOSI leaves for the service's registry identifier
        _sub(tap, "description", f"The TAP service registered as {ivoid}.")
    _interface(tap, base_url, use="base", role="std", secured_url=auth_url, secured_first=secured_first)
    for language in languages:
        _language(tap, language, udfs)
    for fmt in formats:
        element = _sub(tap, "outputFormat", **({"ivo-id": fmt.ivo_id} if fmt.ivo_id else {}))
        _sub(element, "mime", fmt.mime)
        for alias in fmt.aliases:
            _sub(element, "alias", alias)
    for method in ("upload-inline", "upload-http", "upload-https"):
        _sub(tap, "uploadMethod", **{"ivo-id": f"{TAPREGEXT}#{method}"})
    _limits(tap, limits)
    for standard, path in (("ivo://ivoa.net/std/VOSI#capabilities", "capabilities"),
                           ("ivo://ivoa.net/std/VOSI#availability", "availability"),
                           ("ivo://ivoa.net/std/VOSI#tables-1.1", "tables")):
        _interface(_sub(root, "capability", standardID=standard), f"{base_url}/{path}",
                   secured_url=f"{auth_url}/{path}" if path == "tables" else "", secured_first=secured_first,
                   use="base" if path == "tables" else "full")  # tables/{name} lies below: pyvo's AuthSession needs base
    examples = _sub(root, "capability", standardID="ivo://ivoa.net/std/DALI#examples")
    _interface(examples, f"{base_url}/examples", xsi_type="vr:WebBrowser")
    return _serialize(root)


# --- availability --------------------------------------------------------------

def availability_document(available: bool, up_since: dt.datetime | None, note: str) -> bytes:
    root = ET.Element(_q(AVAIL, "availability"))
    _sub(root, _q(AVAIL, "available"), "true" if available else "false")
    if up_since is not None:
        _sub(root, _q(AVAIL, "upSince"), up_since.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
    _sub(root, _q(AVAIL, "note"), note)
    return _serialize(root)


# --- tables ----------------------------------------------------------------------

def _column(parent: ET.Element, row: Mapping[str, Any], tap_plus: bool) -> None:
    column = _sub(parent, "column")
    if tap_plus:
        column.set(_q(ESA, "flags"), "0")
    _sub(column, "name", adql_name(row["column_name"]))
    for field in ("description", "unit", "ucd", "utype"):
        if row.get(field):
            _sub(column, field, str(row[field]))
    datatype = _sub(column, "dataType", row["datatype"])
    _xsi_type(datatype, "vs:VOTableType")
    if row.get("arraysize"):
        datatype.set("arraysize", str(row["arraysize"]))
    if row.get("xtype"):
        datatype.set("extendedType", str(row["xtype"]))
    for flag in ("indexed", "principal", "std"):
        if row.get(flag):
            _sub(column, "flag", flag)


def _table(parent: ET.Element | None, row: Mapping[str, Any], columns: Iterable[Mapping[str, Any]],
           keys: Iterable[tuple[Mapping[str, Any], list[Mapping[str, Any]]]], tag: str = "table",
           tap_plus: bool = False) -> ET.Element:
    table = ET.Element(tag) if parent is None else _sub(parent, tag)
    table.set("type", "view" if row.get("table_type") == "view" else "output")
    _sub(table, "name", row["table_name"])
    if row.get("description"):
        _sub(table, "description", str(row["description"]))
    if row.get("utype"):
        _sub(table, "utype", str(row["utype"]))
    for column in columns:
        _column(table, column, tap_plus)
    for key, key_columns in keys:
        foreign = _sub(table, "foreignKey")
        _sub(foreign, "targetTable", key["target_table"])
        for pair in key_columns:
            fk = _sub(foreign, "fkColumn")
            _sub(fk, "fromColumn", pair["from_column"])
            _sub(fk, "targetColumn", pair["target_column"])
        if key.get("description"):
            _sub(foreign, "description", str(key["description"]))
    return table


def _grouped(rows: Mapping[str, list[dict[str, Any]]]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[Any]]]:
    columns: dict[str, list[dict[str, Any]]] = {}
    for c in sorted(rows["columns"], key=lambda c: c.get("column_index") or 0):
        columns.setdefault(c["table_name"], []).append(c)
    key_columns: dict[str, list[dict[str, Any]]] = {}
    for kc in rows["key_columns"]:
        key_columns.setdefault(kc["key_id"], []).append(kc)
    keys: dict[str, list[Any]] = {}
    for k in rows["keys"]:
        keys.setdefault(k["from_table"], []).append((k, key_columns.get(k["key_id"], [])))
    return columns, keys


def tableset_document(rows: Mapping[str, list[dict[str, Any]]], *, detail: bool = True, tap_plus: bool = False,
                      only: Sequence[str] = ()) -> bytes:
    """The VOSI tableset of TAP_SCHEMA-shaped rows; without ``detail``, tables without columns (detail=min).
    ``only`` keeps the named tables (TAP+'s ``tables=a,b``); ``tap_plus`` adds ESA's column flags."""
    wanted = {n.lower() for n in only}
    root = _declare(ET.Element(_q(TABLES, "tableset")), vs=VS)
    columns, keys = _grouped(rows)
    for s in rows["schemas"]:
        schema = _sub(root, "schema")
        _sub(schema, "name", s["schema_name"])
        if s.get("description"):
            _sub(schema, "description", str(s["description"]))
        if s.get("utype"):
            _sub(schema, "utype", str(s["utype"]))
        for t in rows["tables"]:
            if t["schema_name"] == s["schema_name"] and (not wanted or t["table_name"].lower() in wanted):
                name = t["table_name"]
                _table(schema, t, columns.get(name, []) if detail else [], keys.get(name, []) if detail else [],
                       tap_plus=tap_plus)
    return _serialize(root)


def table_document(rows: Mapping[str, list[dict[str, Any]]], name: str) -> bytes | None:
    """VOSI 1.1 tables/{name}: one table with its columns, or None if the user may not see it."""
    columns, keys = _grouped(rows)
    for t in rows["tables"]:
        if t["table_name"].lower() == name.lower():
            element = _table(None, t, columns.get(t["table_name"], []), keys.get(t["table_name"], []),
                             tag=_q(TABLES, "table"))
            _declare(element, vs=VS)
            return _serialize(element)
    return None
