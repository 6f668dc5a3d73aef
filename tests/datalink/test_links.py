"""The {links} endpoint and the service descriptors of results, checked by STILTS datalinklint and votlint."""

from __future__ import annotations

import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from lxml import etree

from apps.datalink.models import LinkTemplate
from tests.conftest import make_user

from .conftest import SPECTRUM, SPECTRUM_ID

VOT = {"v": "http://www.ivoa.net/xml/VOTable/v1.3"}
COLUMNS = ("ID", "access_url", "service_def", "error_message", "semantics", "description", "content_type",
           "content_length", "content_qualifier", "local_semantics", "link_auth", "link_authorized")


def stilts(tool: str, document: bytes, tmp_path: Path, *args: str) -> str:
    path = tmp_path / f"{tool}.xml"
    path.write_bytes(document)
    done = subprocess.run(["stilts", tool, *args, str(path)], capture_output=True, text=True, timeout=120)
    return done.stdout + done.stderr


def rows(document: bytes) -> list[dict[str, str]]:
    root = etree.fromstring(document)
    names = [f.get("name") for f in root.iterfind(".//v:FIELD", VOT)]
    return [dict(zip(names, [td.text or "" for td in tr.iterfind("v:TD", VOT)], strict=True)) for tr in root.iterfind(".//v:TR", VOT)]


def links(client: Client, *ids: str, table: str = "gaia/source") -> Any:
    return client.get(f"/datalink/{table}/links", [("ID", i) for i in ids])


def test_a_links_response_passes_datalinklint_and_votlint(templates: list[LinkTemplate], client: Client, tmp_path: Path) -> None:
    user = make_user("reader")
    client.force_login(user)
    response = links(client, SPECTRUM_ID, "42")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-votable+xml;content=datalink"
    assert [f.get("name") for f in etree.fromstring(response.content).iterfind(".//v:FIELD", VOT)] == list(COLUMNS)
    lint = stilts("datalinklint", response.content, tmp_path)
    assert "Totals: Errors: 0; Warnings: 0" in lint, lint
    votlint = stilts("votlint", response.content, tmp_path)
    assert "ERROR" not in votlint and "WARNING" not in votlint, votlint
    got = rows(response.content)
    assert [(r["ID"], r["description"]) for r in got] == [
        (SPECTRUM_ID, "Spectrum of the source"), (SPECTRUM_ID, "Light curve (TAP query)"),
        (SPECTRUM_ID, "The source in the external archive"), ("42", ""), ("42", "Light curve (TAP query)"),
        ("42", "The source in the external archive")]
    spectrum = got[0]
    assert spectrum["content_length"] == str(len(SPECTRUM)) and spectrum["link_authorized"] == "true"
    assert client.get(spectrum["access_url"].removeprefix("http://127.0.0.1:8000")).status_code in (200, 206)
    assert got[3]["error_message"].startswith("NotFoundFault")  # no spectrum for 42
    assert got[5]["access_url"] == "https://archive.example.org/source/42"


def test_file_links_follow_the_volume_permissions(templates: list[LinkTemplate], client: Client) -> None:
    """Anonymous visitors may not read the data volume: they learn the link needs a login, not the file's size."""
    spectrum = rows(links(client, SPECTRUM_ID).content)[0]
    assert spectrum["link_auth"] == "true" and spectrum["link_authorized"] == "false"
    assert spectrum["content_length"] == ""
    assert client.get(spectrum["access_url"].removeprefix("http://127.0.0.1:8000")).status_code in (401, 403, 404)


def test_an_identifier_enters_a_tap_link_as_an_adql_literal(templates: list[LinkTemplate], client: Client) -> None:
    hostile = "1 OR 1=1; --'"
    light_curve = rows(links(client, hostile).content)[1]
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(light_curve["access_url"]).query)["QUERY"][0]
    assert query == "SELECT * FROM ztf.lightcurves WHERE oid = '1 OR 1=1; --'''"
    url = rows(links(client, "a/../b?c").content)[2]["access_url"]
    assert url == "https://archive.example.org/source/a%2F..%2Fb%3Fc"


def test_bad_requests_are_usage_faults_and_hidden_tables_404(templates: list[LinkTemplate], client: Client, demo: Any) -> None:
    missing = links(client)
    assert missing.status_code == 400 and b"UsageFault" in missing.content
    assert links(client, *[str(i) for i in range(501)]).status_code == 400
    assert links(client, "1", table="gaia/nonesuch").status_code == 404
    gaia = demo[0]
    gaia.published = False
    gaia.save()
    assert links(client, "1").status_code == 404


def test_a_template_without_its_placeholder_or_column_is_refused(demo: Any) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match=r"\{id\}"):
        LinkTemplate(table=demo[0], id_column="source_id", template="https://x.example/", description="x").full_clean()
    with pytest.raises(ValidationError, match="no column"):
        LinkTemplate(table=demo[0], id_column="nope", template="https://x.example/{id}", description="x").full_clean()


def test_the_table_page_lists_the_related_products(templates: list[LinkTemplate], client: Client) -> None:
    page = client.get("/data/gaia/source/").content.decode()
    assert "Related products (DataLink)" in page and "/datalink/gaia/source/links?ID=" in page
    assert all(t.description in page for t in templates)
