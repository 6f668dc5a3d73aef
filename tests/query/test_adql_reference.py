"""The ADQL reference page: generated from the translator's own tables, linked from the query and TAP pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.html import escape

from apps.adql.parser import MATH_FUNCTIONS
from apps.adql.udfs import UDFS

pytestmark = pytest.mark.django_db


def test_the_reference_lists_every_function_and_udf_with_its_rules(client: Client) -> None:
    page = client.get("/query/adql/").content.decode()
    for name in MATH_FUNCTIONS:
        assert f"<code>{name}(" in page
    for udf in UDFS.values():
        assert f"<code>{udf.name}(" in page and escape(udf.description) in page
    assert "truncated toward zero" in page and "NULLs sort as larger than any value" in page
    assert "or if x ≤ 0." in page  # LOG10's domain, from the dialects' guards


def test_the_query_and_tap_pages_link_to_the_reference(client: Client) -> None:
    assert 'href="/query/adql/"' in client.get("/query/").content.decode()
    assert 'href="/query/adql/"' in client.get("/tap/").content.decode()
