"""Anonymous access to public data; private tables only for those granted, over HTTP Basic with a token."""

from __future__ import annotations

import io
from typing import Any

from astropy.io.votable import parse_single_table
from django.test import Client
from lxml import etree

from apps.access.actions import do_grant
from apps.accounts.actions import do_create_token
from apps.metadata.actions import do_set_access_level
from apps.metadata.models import PRIVATE
from tests.uws.schemas import assert_valid

from .conftest import basic_auth

QUERY = {"LANG": "ADQL", "QUERY": "SELECT TOP 3 ra, dec FROM ztf.lightcurves"}


def make_private(demo: list[Any], users: Any) -> None:
    ztf = next(t for t in demo if t.qualified_name == "ztf.lightcurves")
    do_set_access_level(None, ztf, PRIVATE)
    do_grant(None, ztf.resource, "query", user=users.owner)
    do_grant(None, ztf.resource, "read", user=users.owner)


def table_names(content: bytes) -> set[str]:
    return {t.findtext("name") for t in assert_valid(content).iter("table")}


def test_anonymous_clients_query_public_tables(client: Client, demo: Any) -> None:
    response = client.get("/tap/sync", QUERY)
    assert response.status_code == 200
    assert len(parse_single_table(io.BytesIO(b"".join(response.streaming_content))).array) == 3


def test_a_private_table_is_seen_and_queried_only_with_credentials(client: Client, users: Any, demo: Any) -> None:
    make_private(demo, users)
    assert "ztf.lightcurves" not in table_names(client.get("/tap/tables").content)
    refused = client.get("/tap/sync", QUERY)
    assert refused.status_code == 400
    assert etree.fromstring(refused.content).find(".//{*}INFO[@name='QUERY_STATUS']").get("value") == "ERROR"
    outsider = client.get("/tap/sync", QUERY, HTTP_AUTHORIZATION=basic_auth(users.outsider))
    assert outsider.status_code == 400
    owner = basic_auth(users.owner)
    assert "ztf.lightcurves" in table_names(client.get("/tap/tables", HTTP_AUTHORIZATION=owner).content)
    allowed = client.get("/tap/sync", QUERY, HTTP_AUTHORIZATION=owner)
    assert allowed.status_code == 200
    assert len(parse_single_table(io.BytesIO(b"".join(allowed.streaming_content))).array) == 3
    _, key = do_create_token(users.owner, "script")
    assert client.get("/tap/sync", QUERY, HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    wrong = client.get("/tap/sync", QUERY, HTTP_AUTHORIZATION="Token not-a-token")
    assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Basic")
