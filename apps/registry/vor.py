"""VOResource 1.1 records (with VODataService 1.2 and VORegistry types), built from plain data (no Django).

``resource_element(ResourceData)`` writes one ``ri:Resource`` in the element order the
schemas demand: title, shortName, identifier, altIdentifier (the DOI), curation
(publisher, creators, dates, contact), content (subjects, description, source,
referenceURL, type, relationships), then what the type adds: rights and capabilities
for services, a tableset and a MOC coverage for catalogue services, the managed
authority for a registry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from xml.etree import ElementTree as ET

from .oai import RI, VR, XSI, stamp

VS = "http://www.ivoa.net/xml/VODataService/v1.1"
VG = "http://www.ivoa.net/xml/VORegistry/v1.0"
TR = "http://www.ivoa.net/xml/TAPRegExt/v1.0"
ET.register_namespace("vs", VS)
ET.register_namespace("vg", VG)
ET.register_namespace("tr", TR)
SPDX = "https://spdx.org/licenses/"


@dataclass(frozen=True)
class Creator:
    name: str
    orcid: str = ""


@dataclass
class ResourceData:
    identifier: str  # ivo://authority/path
    xsi_type: str  # vs:CatalogService, vg:Authority, vg:Registry
    title: str
    description: str
    publisher: str
    reference_url: str
    contact_name: str
    contact_email: str = ""
    short_name: str = ""
    doi: str = ""
    creators: Sequence[Creator] = ()
    dates: Sequence[tuple[str, str]] = ()  # (YYYY-MM-DD, role: Created/Updated)
    subjects: Sequence[str] = ("astronomy",)
    source: str = ""  # the citation (a bibliographic reference)
    content_type: str = ""  # e.g. Catalog
    licence: str = ""  # an SPDX id (CC-BY-4.0) or free text
    capabilities: Sequence[ET.Element] = ()
    tableset: ET.Element | None = None
    moc: str = ""  # ASCII MOC (IVOA MOC 2.0), ICRS
    managed_authority: str = ""  # for a vg:Registry / vg:Authority
    related: Sequence[tuple[str, str, str]] = field(default_factory=tuple)  # (relationshipType, title, ivo-id)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _curation(root: ET.Element, data: ResourceData) -> None:
    curation = _sub(root, "curation")
    _sub(curation, "publisher", data.publisher)
    for creator in data.creators:
        element = _sub(curation, "creator")
        _sub(element, "name", creator.name)
        if creator.orcid:
            _sub(element, "altIdentifier", creator.orcid if creator.orcid.startswith("http") else f"https://orcid.org/{creator.orcid}")
    for date, role in data.dates:
        _sub(curation, "date", date, role=role)
    contact = _sub(curation, "contact")
    _sub(contact, "name", data.contact_name)
    if data.contact_email:
        _sub(contact, "email", data.contact_email)


def _content(root: ET.Element, data: ResourceData) -> None:
    content = _sub(root, "content")
    for subject in data.subjects or ("astronomy",):
        _sub(content, "subject", subject)
    _sub(content, "description", data.description or data.title)
    if data.source:
        _sub(content, "source", data.source)
    _sub(content, "referenceURL", data.reference_url)
    if data.content_type:
        _sub(content, "type", data.content_type)
    for kind, title, ivo_id in data.related:
        relationship = _sub(content, "relationship")
        _sub(relationship, "relationshipType", kind)
        _sub(relationship, "relatedResource", title, **({"ivo-id": ivo_id} if ivo_id else {}))


def _rights(root: ET.Element, licence: str) -> None:
    if not licence:
        return
    spdx = licence.replace(" ", "-")
    if all(c.isalnum() or c in "-." for c in spdx):
        _sub(root, "rights", licence, rightsURI=f"{SPDX}{spdx}.html")
    else:
        _sub(root, "rights", licence)


def _coverage(root: ET.Element, moc: str) -> None:
    if moc:
        coverage = _sub(root, "coverage")
        _sub(coverage, "spatial", moc)


def resource_element(data: ResourceData, *, created: dt.datetime, updated: dt.datetime) -> ET.Element:
    root = ET.Element(f"{{{RI}}}Resource", {"created": stamp(created), "updated": stamp(updated), "status": "active"})
    root.set(f"{{{XSI}}}type", data.xsi_type)
    for prefix, ns in (("vr", VR), ("vs", VS), ("vg", VG), ("tr", TR)):  # prefixes used only in xsi:type values
        root.set(f"xmlns:{prefix}", ns)
    _sub(root, "title", data.title)
    if data.short_name:
        _sub(root, "shortName", data.short_name[:16])
    _sub(root, "identifier", data.identifier)
    if data.doi:
        _sub(root, "altIdentifier", f"doi:{data.doi.removeprefix('https://doi.org/').removeprefix('doi:')}")
    _curation(root, data)
    _content(root, data)
    if data.xsi_type == "vg:Authority":
        _sub(root, "managingOrg", data.publisher)
        return root
    _rights(root, data.licence)
    for capability in data.capabilities:
        root.append(capability)
    if data.xsi_type == "vg:Registry":
        _sub(root, "full", "false")
        _sub(root, "managedAuthority", data.managed_authority)
    elif data.xsi_type == "vs:CatalogService":
        _coverage(root, data.moc)
        if data.tableset is not None:
            root.append(data.tableset)
    return root


def digest(element: ET.Element) -> str:
    """What a change of content is measured by: the record without its dates."""
    saved: dict[str, str] = {name: element.attrib.pop(name) for name in ("created", "updated") if name in element.attrib}
    text = ET.tostring(element, encoding="unicode")
    element.attrib.update(saved)
    return hashlib.sha256(text.encode()).hexdigest()


def capability(standard_id: str, url: str, *, xsi_type: str = "vs:ParamHTTP", cap_type: str = "", role: str = "std",
               version: str = "", use: str = "base", max_records: int | None = None) -> ET.Element:
    element = ET.Element("capability", {"standardID": standard_id})
    if cap_type:
        element.set(f"{{{XSI}}}type", cap_type)
    interface = _sub(element, "interface", role=role, **({"version": version} if version else {}))
    interface.set(f"{{{XSI}}}type", xsi_type)
    _sub(interface, "accessURL", url, use=use)
    if max_records is not None:  # vg:Harvest: how many records one OAI-PMH answer holds
        _sub(element, "maxRecords", str(max_records))
    return element
