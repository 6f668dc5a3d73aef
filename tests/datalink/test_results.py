"""Results say where they come from and how to cite them, and carry DataLink service descriptors TOPCAT follows."""

from __future__ import annotations

import gzip
import io
import urllib.parse
from pathlib import Path
from typing import Any

from astropy.io import fits
from django.test import Client
from lxml import etree

from apps.datalink.models import LinkTemplate
from apps.datalink.results import referenced_tables

from .test_links import VOT, rows, stilts

QUERY = "SELECT TOP 3 s.source_id, s.ra, s.dec FROM gaia.source AS s ORDER BY s.source_id"


def cite(template: LinkTemplate) -> None:
    gaia = template.table
    gaia.citation, gaia.doi, gaia.licence = "Doe et al. 2026, A&A 700, A1", "10.5555/gaia-demo", "CC-BY-4.0"
    gaia.save()


def sync(client: Client, **params: str) -> bytes:
    response = client.get("/tap/sync", {"REQUEST": "doQuery", "LANG": "ADQL", "QUERY": QUERY, **params})
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return gzip.decompress(body) if response.get("Content-Encoding") == "gzip" or body[:2] == b"\x1f\x8b" else body


def test_a_tap_result_carries_provenance_and_a_datalink_descriptor(templates: list[LinkTemplate], client: Client,
                                                                   tmp_path: Path) -> None:
    cite(templates[0])
    document = sync(client, RESPONSEFORMAT="votable/td")
    votlint = stilts("votlint", document, tmp_path)
    assert "ERROR" not in votlint and "WARNING" not in votlint, votlint
    root = etree.fromstring(document)
    infos = {i.get("name"): i.get("value") for i in root.iterfind("v:RESOURCE/v:INFO", VOT)}
    assert infos["QUERY"] == QUERY
    assert infos["server_software"].startswith("Daiquiri ") and infos["request_date"].endswith("Z")
    assert infos["citation"] == "gaia.source: Doe et al. 2026, A&A 700, A1"
    assert infos["doi"] == "gaia.source: https://doi.org/10.5555/gaia-demo"
    assert infos["rights"] == "gaia.source: CC-BY-4.0"
    assert infos["ivoid"].endswith("/tap")
    descriptor = root.find("v:RESOURCE[@type='meta'][@utype='adhoc:service']", VOT)
    assert descriptor is not None
    params = {p.get("name"): p.get("value") for p in descriptor.iterfind("v:PARAM", VOT)}
    assert params["standardID"] == "ivo://ivoa.net/std/DataLink#links-1.1"
    id_param = descriptor.find("v:GROUP[@name='inputParams']/v:PARAM[@name='ID']", VOT)
    field = root.find(f".//v:FIELD[@ID='{id_param.get('ref')}']", VOT)
    assert field is not None and field.get("name") == "source_id"
    # Follow the descriptor as a client does: the first row's identifier to the links endpoint.
    first_id = root.find(".//v:TABLEDATA/v:TR/v:TD", VOT).text
    links = client.get(urllib.parse.urlsplit(params["accessURL"]).path, {"ID": first_id})
    assert links.status_code == 200
    assert {r["ID"] for r in rows(links.content)} == {first_id}


def test_a_result_without_linked_columns_has_no_descriptor_but_still_its_provenance(templates: list[LinkTemplate],
                                                                                     client: Client) -> None:
    root = etree.fromstring(sync(client, QUERY="SELECT TOP 2 ra FROM gaia.source"))
    assert root.find("v:RESOURCE[@type='meta']", VOT) is None
    assert {i.get("name") for i in root.iterfind("v:RESOURCE/v:INFO", VOT)} >= {"request_date", "server_software", "ivoid"}


def test_a_fits_result_says_how_to_cite_it(templates: list[LinkTemplate], client: Client) -> None:
    cite(templates[0])
    with fits.open(io.BytesIO(sync(client, RESPONSEFORMAT="fits"))) as hdus:
        text = repr(hdus[1].header) + repr(hdus[0].header)
    assert "Doe et al. 2026" in text and "CC-BY-4.0" in text


def test_the_tables_of_a_query_come_from_its_parse_tree(demo: Any) -> None:
    query = ("WITH t AS (SELECT oid FROM ztf.lightcurves) SELECT * FROM gaia.source AS g "
             "JOIN t ON g.source_id = t.oid WHERE g.ra IN (SELECT ra FROM Gaia.Source)")
    assert referenced_tables(query) == {("gaia", "source"), ("ztf", "lightcurves")}
    assert referenced_tables("SELEKT nonsense") == set()
