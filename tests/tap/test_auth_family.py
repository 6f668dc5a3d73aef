"""/tap/auth (the URL family that challenges for credentials), private tables in TAP_SCHEMA and /tables,
ESA's column flags, Gaia archive format names and the doubled slash clients build from a copied root URL."""

from __future__ import annotations

import gzip
import io
from typing import Any

import pytest
from astropy.table import Table
from django.test import Client
from lxml import etree

from apps.query.models import QueryJob
from apps.uws import phases
from tests.uws.schemas import assert_valid

from .conftest import basic_auth

VS_COLUMNS = "{*}schema/table/column"
ESA_FLAGS = "{http://esa.int/xml/EsaTapPlus}flags"


@pytest.mark.parametrize("path", ["sync?LANG=ADQL&QUERY=SELECT+1+AS+x", "async", "tables"])
def test_it_challenges_a_request_without_credentials_on_the_auth_family(client: Client, demo: Any, path: str) -> None:
    response = client.get(f"/tap/auth/{path}")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert b"/tap" in response.content  # says where the anonymous service is


def test_the_auth_family_serves_a_logged_in_client_and_keeps_its_jobs_there(client: Client, demo: Any, users: Any) -> None:
    auth = {"HTTP_AUTHORIZATION": basic_auth(users.owner)}
    sync = client.get("/tap/auth/sync", {"LANG": "ADQL", "QUERY": "SELECT TOP 3 source_id FROM gaia.source"}, **auth)
    assert sync.status_code == 200 and b"QUERY_STATUS" in b"".join(sync.streaming_content)  # type: ignore[attr-defined]
    created = client.post("/tap/auth/async", {"LANG": "ADQL", "QUERY": "SELECT 1 AS x"}, **auth)
    assert created.status_code == 303 and created["Location"].startswith("http://testserver/tap/auth/async/")
    listing = assert_valid(client.get("/tap/auth/async", **auth).content)
    assert [j.get("{http://www.w3.org/1999/xlink}href") for j in listing] == [created["Location"]]
    assert client.get(created["Location"]).status_code == 401  # the job URL challenges too
    assert client.get("/tap/auth/availability").status_code == 200  # VOSI availability stays open
    anonymous = client.get("/tap/sync", {"LANG": "ADQL", "QUERY": "SELECT TOP 1 source_id FROM gaia.source"})
    assert anonymous.status_code == 200, anonymous.content  # /tap stays anonymous


def test_it_declares_the_auth_family_with_its_security_method_in_both_families(client: Client, demo: Any, users: Any) -> None:
    for url, headers in (("/tap/capabilities", {}), ("/tap/auth/capabilities", {"HTTP_AUTHORIZATION": basic_auth(users.owner)})):
        root = assert_valid(client.get(url, **headers).content)
        secured = [(i.findtext("accessURL"), i.find("securityMethod").get("standardID"))
                   for i in root.iter("interface") if i.find("securityMethod") is not None]
        assert ("http://testserver/tap/auth", "ivo://ivoa.net/sso#BasicAA") in secured
        assert ("http://testserver/tap/auth/tables", "ivo://ivoa.net/sso#BasicAA") in secured
        tap = root.find("capability[@standardID='ivo://ivoa.net/std/TAP']")
        std = [i.findtext("accessURL") for i in tap.findall("interface") if i.get("role") == "std"]
        assert std == (["http://testserver/tap"] if url == "/tap/capabilities" else ["http://testserver/tap/auth"])


def test_it_accepts_the_doubled_slash_of_a_root_url_copied_with_its_slash(client: Client, demo: Any) -> None:
    assert client.get("/tap//sync", {"LANG": "ADQL", "QUERY": "SELECT TOP 1 source_id FROM gaia.source"}).status_code == 200
    assert client.get("/tap//tables").status_code == 200
    assert client.get("/tap/auth//tables").status_code == 401


def _mydb_table(owner: Any) -> QueryJob:
    columns = [{"name": "flux", "datatype": "DOUBLE", "unit": "mJy", "ucd": "phot.flux", "description": "The flux"},
               {"name": "label", "datatype": "VARCHAR", "arraysize": "*"}]
    return QueryJob.objects.create(owner=owner, query="SELECT 1", phase=phases.COMPLETED, table_name="my_fluxes",
                                   result_table="t_my_fluxes", result_schema="mydb_x", result_columns=columns, engine="duckdb")


def test_a_users_mydb_tables_appear_in_their_tables_and_tap_schema_only(client: Client, demo: Any, users: Any) -> None:
    _mydb_table(users.owner)
    auth = {"HTTP_AUTHORIZATION": basic_auth(users.owner)}
    root = assert_valid(client.get("/tap/auth/tables", **auth).content)
    tables = {t.findtext("name"): t for t in root.iter("table")}
    mine = tables["mydb.my_fluxes"]
    flux = mine.find("column")
    assert (flux.findtext("name"), flux.findtext("unit"), flux.findtext("ucd"), flux.findtext("description")) == (
        "flux", "mJy", "phot.flux", "The flux")
    assert client.get("/tap/tables/mydb.my_fluxes", **auth).status_code == 200
    query = "SELECT column_name, unit FROM TAP_SCHEMA.columns WHERE table_name = 'mydb.my_fluxes'"
    result = client.get("/tap/sync", {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"}, **auth)
    assert b"".join(result.streaming_content).decode().splitlines()[1:] == ['"flux","mJy"', '"label",']  # type: ignore[attr-defined]
    for headers in ({}, {"HTTP_AUTHORIZATION": basic_auth(users.outsider)}):  # nobody else sees it
        assert b"my_fluxes" not in client.get("/tap/tables", **headers).content
        assert client.get("/tap/tables/mydb.my_fluxes", **headers).status_code == 404


def test_esa_flags_go_to_astroquery_only_and_the_standard_tableset_stays_valid(client: Client, demo: Any) -> None:
    plus = etree.fromstring(client.get("/tap/tables", HTTP_USER_AGENT="astroquery/0.4.10 Python/3.11").content)
    columns = plus.findall(VS_COLUMNS)
    assert columns and all(c.get(ESA_FLAGS) == "0" for c in columns)
    standard = assert_valid(client.get("/tap/tables", HTTP_USER_AGENT="STILTS/3.5").content)
    assert standard.findall(VS_COLUMNS) and not any(c.get(ESA_FLAGS) for c in standard.findall(VS_COLUMNS))
    one = etree.fromstring(client.get("/tap/tables", {"tables": "gaia.source"}, HTTP_USER_AGENT="astroquery/0.4.10").content)
    assert [t.findtext("name") for t in one.iter("table")] == ["gaia.source"]  # TAP+'s tables=... picks tables


@pytest.mark.parametrize(("name", "gzipped", "astropy_format"), [
    ("votable", False, "votable"), ("votable_plain", False, "votable"), ("votable_gzip", True, "votable"),
    ("csv", False, "csv"), ("fits", False, "fits"),
])
def test_it_answers_the_gaia_archives_format_names(client: Client, demo: Any, name: str, gzipped: bool, astropy_format: str) -> None:
    response = client.get("/tap/sync", {"LANG": "ADQL", "QUERY": "SELECT TOP 4 source_id, ra FROM gaia.source",
                                        "RESPONSEFORMAT": name}, HTTP_USER_AGENT="python-requests/2.32")
    assert response.status_code == 200
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert (response.get("Content-Encoding") == "gzip") is gzipped
    if gzipped:
        body = gzip.decompress(body)
    table = Table.read(io.BytesIO(body), format=astropy_format)
    assert len(table) == 4 and list(table.colnames) == ["source_id", "ra"]
    if name == "votable_plain":
        assert b"<TABLEDATA>" in body


@pytest.mark.parametrize(("name", "gzipped"), [("votable", True), ("fits", True), ("ecsv", True), ("votable_plain", False),
                                              ("csv", False), ("json", False)])
def test_tap_plus_clients_get_votable_fits_and_ecsv_gzipped_as_esa_sends_them(client: Client, demo: Any, name: str,
                                                                               gzipped: bool) -> None:
    # astroquery's GETs carry no User-Agent (a bare http.client); it gunzips these formats itself.
    response = client.get("/tap/sync", {"LANG": "ADQL", "QUERY": "SELECT TOP 4 source_id, ra FROM gaia.source",
                                        "RESPONSEFORMAT": name})
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    assert (response.get("Content-Encoding") == "gzip") is gzipped
    assert body.startswith(b"\x1f\x8b") is gzipped


def test_an_unknown_lang_is_refused_naming_only_the_declared_languages(client: Client, demo: Any) -> None:
    capabilities = etree.fromstring(client.get("/tap/capabilities").content)
    declared = [n.text for n in capabilities.iter("name") if n.getparent().tag == "language"]
    response = client.post("/tap/sync", {"LANG": "PQL", "QUERY": "SELECT 1"})
    assert response.status_code == 400
    offered = response.content.decode().split("this service offers ")[1]
    assert all(name in offered for name in declared)
    assert [e for e in ("postgresql", "mariadb", "duckdb", "spark") if e in offered and e not in declared] == []
    assert client.post("/tap/async", {"LANG": "PQL", "QUERY": "SELECT 1"}).status_code == 303  # UWS: fails when run
    ok = client.get("/tap/sync", {"LANG": "ADQL-2.1", "QUERY": "SELECT TOP 1 UPPER('a') AS u FROM gaia.source",
                                  "RESPONSEFORMAT": "csv"})
    assert ok.status_code == 200 and b"".join(ok.streaming_content).splitlines()[1] in (b"A", b'"A"')  # type: ignore[attr-defined]
    strings = [f for f in capabilities.iter("languageFeatures")
               if f.get("type", "").endswith("#features-adql-string")]
    assert {"LOWER", "UPPER", "ILIKE"} <= {form.text for f in strings for form in f.iter("form")}
