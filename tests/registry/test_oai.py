"""The OAI-PMH endpoint harvested as a registry would: every record valid, paging, dates, deletions, errors."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

from django.test import Client
from lxml import etree

from apps.registry.actions import do_sync_records
from apps.registry.models import RegistryRecord

from .schemas import assert_valid_record

NS = {"oai": "http://www.openarchives.org/OAI/2.0/", "ri": "http://www.ivoa.net/xml/RegistryInterface/v1.0",
      "oai_dc": "http://www.openarchives.org/OAI/2.0/oai_dc/", "dc": "http://purl.org/dc/elements/1.1/"}


def oai(client: Client, **params: str) -> etree._Element:
    response = client.get("/registry/oai", params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/xml")
    return etree.fromstring(response.content)


def error_code(root: etree._Element) -> str | None:
    error = root.find("oai:error", NS)
    return None if error is None else error.get("code")


def harvest(client: Client, verb: str = "ListRecords", **params: str) -> tuple[list[etree._Element], int]:
    """Every record or header of a list, following resumption tokens; and how many answers it took."""
    items: list[etree._Element] = []
    root = oai(client, verb=verb, **params)
    answers = 1
    while True:
        assert error_code(root) is None, etree.tostring(root)
        body = root.find(f"oai:{verb}", NS)
        assert body is not None
        items += body.findall("oai:record" if verb == "ListRecords" else "oai:header", NS)
        token = body.find("oai:resumptionToken", NS)
        if token is None or not token.text:
            return items, answers
        root = oai(client, verb=verb, resumptionToken=token.text)
        answers += 1


def test_a_harvest_validates_record_by_record_against_the_ivoa_schemas(demo: Any, client: Client, settings: Any) -> None:
    settings.REGISTRY_PAGE_SIZE = 2
    settings.REGISTRY_AUTHORITY = "data.example.org"
    records, answers = harvest(client, metadataPrefix="ivo_vor")
    assert answers == 3  # 5 records (authority, registry, TAP, two tables) in pages of 2
    identifiers = []
    for record in records:
        resource = record.find("oai:metadata/ri:Resource", NS)
        assert resource is not None
        assert_valid_record(resource)
        identifiers.append(resource.findtext("identifier"))
    assert sorted(identifiers) == ["ivo://data.example.org", "ivo://data.example.org/gaia/source",
                                   "ivo://data.example.org/registry", "ivo://data.example.org/tap",
                                   "ivo://data.example.org/ztf/lightcurves"]


def test_the_table_record_says_how_to_find_cite_and_query_it(demo: Any, client: Client, settings: Any) -> None:
    settings.REGISTRY_AUTHORITY = "data.example.org"
    gaia = demo[0]
    gaia.doi, gaia.licence, gaia.citation = "10.5555/demo.1", "CC-BY-4.0", "Doe et al. 2026, A&A 1, 1"
    gaia.creators = [{"name": "Doe, Jane", "orcid": "0000-0002-1825-0097"}]
    gaia.save()
    root = oai(client, verb="GetRecord", identifier="ivo://data.example.org/gaia/source", metadataPrefix="ivo_vor")
    resource = root.find(".//ri:Resource", NS)
    assert resource is not None
    assert_valid_record(resource)
    assert resource.findtext("altIdentifier") == "doi:10.5555/demo.1"
    assert resource.findtext("curation/creator/name") == "Doe, Jane"
    assert resource.findtext("content/source") == "Doe et al. 2026, A&A 1, 1"
    assert resource.find("rights").get("rightsURI") == "https://spdx.org/licenses/CC-BY-4.0.html"
    standards = {c.get("standardID") for c in resource.findall("capability")}
    assert {"ivo://ivoa.net/std/TAP#aux", "ivo://ivoa.net/std/ConeSearch"} <= standards
    assert [t.findtext("name") for t in resource.findall("tableset/schema/table")] == ["gaia.source"]
    dc = oai(client, verb="GetRecord", identifier="ivo://data.example.org/gaia/source", metadataPrefix="oai_dc")
    assert dc.findtext(".//dc:creator", namespaces=NS) == "Doe, Jane"
    assert dc.findtext(".//dc:identifier", namespaces=NS) == "ivo://data.example.org/gaia/source"


def test_identify_names_the_registry_and_its_formats_and_sets(demo: Any, client: Client, settings: Any) -> None:
    settings.REGISTRY_AUTHORITY = "data.example.org"
    identify = oai(client, verb="Identify")
    assert identify.findtext("oai:Identify/oai:protocolVersion", namespaces=NS) == "2.0"
    assert identify.findtext("oai:Identify/oai:deletedRecord", namespaces=NS) == "persistent"
    own = identify.find("oai:Identify/oai:description/ri:Resource", NS)
    assert own is not None and own.findtext("identifier") == "ivo://data.example.org/registry"
    assert_valid_record(own)
    formats = oai(client, verb="ListMetadataFormats")
    assert {e.text for e in formats.iterfind(".//oai:metadataPrefix", NS)} == {"oai_dc", "ivo_vor"}
    sets = oai(client, verb="ListSets")
    assert [e.text for e in sets.iterfind(".//oai:setSpec", NS)] == ["ivo_managed"]
    headers, _ = harvest(client, "ListIdentifiers", metadataPrefix="oai_dc", set="ivo_managed")
    assert len(headers) == 5


def test_from_and_until_select_by_the_date_a_record_changed(demo: Any, client: Client) -> None:
    t0 = dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)
    do_sync_records(t0)
    unchanged = do_sync_records(t0 + dt.timedelta(days=1))
    assert {r.datestamp for r in unchanged} == {t0}  # nothing changed: no record moves
    ztf = demo[1]
    ztf.title = "ZTF light curves, second release"
    ztf.save()
    t1 = dt.datetime(2026, 2, 1, 12, tzinfo=dt.UTC)
    do_sync_records(t1)
    changed, _ = harvest(client, "ListIdentifiers", metadataPrefix="ivo_vor", **{"from": "2026-02-01"})
    assert [h.findtext("oai:identifier", namespaces=NS) for h in changed] == [r.identifier for r in
                                                                               RegistryRecord.objects.filter(updated=t1)]
    assert len(changed) == 2  # the table, and the TAP service whose tableset names it
    old, _ = harvest(client, "ListIdentifiers", metadataPrefix="ivo_vor", until="2026-01-31T23:59:59Z")
    assert len(old) == 3
    assert error_code(oai(client, verb="ListRecords", metadataPrefix="ivo_vor", **{"from": "2027-01-01"})) == "noRecordsMatch"


def test_an_unpublished_table_is_harvested_as_a_deleted_record(demo: Any, client: Client, settings: Any) -> None:
    settings.REGISTRY_AUTHORITY = "data.example.org"
    do_sync_records()
    gaia = demo[0]
    gaia.published = False
    gaia.save()
    records, _ = harvest(client, metadataPrefix="ivo_vor")
    deleted = [r for r in records if r.find("oai:header", NS).get("status") == "deleted"]
    assert [r.findtext("oai:header/oai:identifier", namespaces=NS) for r in deleted] == ["ivo://data.example.org/gaia/source"]
    assert deleted[0].find("oai:metadata", NS) is None
    gaia.published = True
    gaia.save()
    records, _ = harvest(client, metadataPrefix="ivo_vor")
    assert all(r.find("oai:header", NS).get("status") is None for r in records)


def test_bad_requests_get_the_oai_error_that_names_the_fault(demo: Any, client: Client) -> None:
    assert error_code(oai(client)) == "badVerb"
    assert error_code(oai(client, verb="Explode")) == "badVerb"
    assert error_code(oai(client, verb="ListRecords")) == "badArgument"
    assert error_code(oai(client, verb="Identify", metadataPrefix="oai_dc")) == "badArgument"
    assert error_code(oai(client, verb="ListRecords", metadataPrefix="marc21")) == "cannotDisseminateFormat"
    assert error_code(oai(client, verb="ListRecords", metadataPrefix="oai_dc", **{"from": "yesterday"})) == "badArgument"
    assert error_code(oai(client, verb="ListRecords", metadataPrefix="oai_dc", **{"from": "2026-01-01",
                                                                                    "until": "2026-01-02T00:00:00Z"})) == "badArgument"
    assert error_code(oai(client, verb="GetRecord", metadataPrefix="oai_dc", identifier="ivo://nowhere/x")) == "idDoesNotExist"
    assert error_code(oai(client, verb="ListRecords", resumptionToken="not-a-token")) == "badResumptionToken"
    for offset in (-2, 10_000, "x"):  # a token altered by hand
        forged = base64.urlsafe_b64encode(json.dumps(["ivo_vor", None, None, None, offset]).encode()).decode()
        assert error_code(oai(client, verb="ListRecords", resumptionToken=forged)) == "badResumptionToken"
    repeated = client.get("/registry/oai?verb=Identify&verb=Identify")
    assert error_code(etree.fromstring(repeated.content)) == "badArgument"
    posted = client.post("/registry/oai", {"verb": "Identify"})
    assert posted.status_code == 200 and error_code(etree.fromstring(posted.content)) is None


def test_the_capabilities_and_the_tap_page_name_the_service_identifier(db: None, client: Client, settings: Any) -> None:
    from tests.uws.schemas import assert_valid

    settings.REGISTRY_AUTHORITY = "data.example.org"
    capabilities = assert_valid(client.get("/tap/capabilities").content)
    tap = capabilities.find("capability[@standardID='ivo://ivoa.net/std/TAP']")
    assert tap is not None and "ivo://data.example.org/tap" in tap.findtext("description")
    page = client.get("/tap/").content.decode()
    assert '<code id="tap-ivoid">ivo://data.example.org/tap</code>' in page
