"""VOSI capabilities (TAPRegExt), availability, tables and DALI examples: valid, and saying what the service does."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from lxml import etree

from apps import formats
from tests.uws.schemas import assert_valid

TR = "{http://www.ivoa.net/xml/TAPRegExt/v1.0}"
TAPREGEXT = "ivo://ivoa.net/std/TAPRegExt"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


def test_it_declares_languages_formats_uploads_limits_and_security(client: Client, demo: Any) -> None:
    response = client.get("/tap/capabilities")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/xml")
    root = assert_valid(response.content)
    tap = root.find("capability[@standardID='ivo://ivoa.net/std/TAP']")
    assert tap.get(XSI_TYPE) == "tr:TableAccess"
    # The anonymous root, and its twin that challenges for HTTP Basic credentials.
    assert [i.findtext("accessURL") for i in tap.findall("interface")] == ["http://testserver/tap", "http://testserver/tap/auth"]
    assert [s.get("standardID") for s in tap.findall("interface/securityMethod")] == ["ivo://ivoa.net/sso#BasicAA"]
    assert [i.get("role") for i in tap.findall("interface")] == ["std", None]  # one standard interface (taplint CPI2)
    adql = next(lang for lang in tap.findall("language") if lang.findtext("name") == "ADQL")
    assert [v.text for v in adql.findall("version")] == ["2.0", "2.1"]
    feature_types = {f.get("type").split("#")[1] for f in adql.findall("languageFeatures")}
    assert {"features-adqlgeo", "features-adql-string", "features-adql-offset"} <= feature_types
    assert "duckdb" in [lang.findtext("name") for lang in tap.findall("language")]
    udfs = adql.find(f"languageFeatures[@type='{TAPREGEXT}#features-udf']")
    forms = [f.findtext("form") for f in udfs.findall("feature")]
    assert "gaia_healpix_index(level INTEGER, source_id BIGINT) -> BIGINT" in forms
    # The built-in ivo_ functions (apps/adql/udfs.py), each with a description.
    assert "ivo_healpix_index(order INTEGER, ra DOUBLE, dec DOUBLE) -> BIGINT" in forms
    assert {"ivo_hasword", "ivo_string_agg", "ivo_median"} <= {f.split("(")[0] for f in forms}
    assert all(f.findtext("description") for f in udfs.findall("feature"))
    mimes = [f.findtext("mime") for f in tap.findall("outputFormat")]
    for mime in mimes:
        formats.resolve_format(mime)  # every declared format is accepted
    assert "application/x-votable+xml;serialization=TABLEDATA" in mimes and "application/fits" in mimes
    assert {u.get("ivo-id").split("#")[1] for u in tap.findall("uploadMethod")} == {"upload-inline", "upload-http", "upload-https"}
    assert int(tap.findtext("executionDuration/default")) == 60
    assert tap.find("uploadLimit/hard").get("unit") == "byte"
    standards = {c.get("standardID") for c in root.findall("capability")}
    assert {"ivo://ivoa.net/std/VOSI#tables-1.1", "ivo://ivoa.net/std/VOSI#availability", "ivo://ivoa.net/std/DALI#examples"} <= standards


def test_it_reports_availability(client: Client, db: None) -> None:
    root = assert_valid(client.get("/tap/availability").content)
    assert root.findtext("{http://www.ivoa.net/xml/VOSIAvailability/v1.0}available") == "true"


def test_it_lists_tables_like_tap_schema(client: Client, demo: Any) -> None:
    root = assert_valid(client.get("/tap/tables").content)
    tables = {t.findtext("name"): t for t in root.iter("table")}
    assert {"gaia.source", "TAP_SCHEMA.columns"} <= set(tables)
    ra = next(c for c in tables["gaia.source"].findall("column") if c.findtext("name") == "ra")
    assert (ra.findtext("unit"), ra.findtext("ucd"), ra.findtext("dataType")) == ("deg", "pos.eq.ra;meta.main", "double")
    assert tables["TAP_SCHEMA.columns"].find("foreignKey/targetTable").text == "TAP_SCHEMA.tables"


def test_it_lists_tables_without_columns_on_detail_min_and_serves_each_table(client: Client, demo: Any) -> None:
    root = assert_valid(client.get("/tap/tables?detail=min").content)
    assert root.find(".//column") is None
    one = assert_valid(client.get("/tap/tables/gaia.source").content)
    assert one.findtext("name") == "gaia.source" and one.find("column") is not None
    assert client.get("/tap/tables/gaia.nothing").status_code == 404


def test_it_serves_examples_as_xhtml_with_rdfa(client: Client, demo: Any) -> None:
    response = client.get("/tap/examples")
    assert response.status_code == 200
    root = etree.fromstring(response.content)  # well-formed XML (XHTML)
    ns = {"h": "http://www.w3.org/1999/xhtml"}
    assert root.find("h:body", ns).get("vocab") == "http://www.ivoa.net/rdf/examples#"
    examples = root.findall(".//h:div[@typeof='example']", ns)
    assert len(examples) >= 3
    for example in examples:
        assert example.get("resource") == "#" + example.get("id")
        assert example.find("*[@property='name']", ns).text
        assert example.find("*[@property='query']", ns).text.startswith(("SELECT", "WITH"))
    assert any("CONTAINS" in e.find("*[@property='query']", ns).text for e in examples)


def test_it_shows_the_tap_url_on_its_page(client: Client, demo: Any) -> None:
    page = client.get("/tap/").content.decode()
    assert "http://testserver/tap" in page and "gaia.source" in page and "data-samp-url" in page
    assert '<code id="tap-auth-url">http://testserver/tap/auth</code>' in page and "AuthSession" in page


def test_every_page_shows_the_tap_url_in_its_footer(client: Client, db: None) -> None:
    page = client.get("/").content.decode()
    # No trailing slash: clients append "/sync" to what they are given.
    assert "TAP service: <code>http://testserver/tap</code>" in page
    assert 'href="/tap/"' in page and 'href="/conesearch/"' in page


@pytest.mark.parametrize("fmt", ["votable", "votable/td", "csv"])
def test_an_ivo_histogram_arrives_as_an_integer_array_of_counts(client: Client, demo: Any, fmt: str) -> None:
    import io

    from astropy.io.votable import parse_single_table

    query = {"LANG": "ADQL", "FORMAT": fmt,
             "QUERY": "SELECT ivo_histogram(phot_g_mean_mag, 10, 20, 4) AS h, COUNT(*) AS n FROM gaia.source"}
    response = client.get("/tap/sync", query)
    body = b"".join(response.streaming_content)
    assert response.status_code == 200, body[:500]
    if fmt == "csv":
        histogram, n = body.decode().splitlines()[1].rsplit(",", 1)
        counts = [int(c) for c in histogram.strip('"').split()]
    else:
        table = parse_single_table(io.BytesIO(body))
        field = table.fields[0]
        assert (field.datatype, field.arraysize) == ("int", "*")
        counts, n = list(table.array["h"][0]), table.array["n"][0]
    assert len(counts) == 6 and sum(counts) <= int(n)
