"""The admin index reads the way a data manager thinks: one Accounts section, one kind of Groups,
and the publishing pages (ingest, discover) reachable from the index itself."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client


@pytest.fixture
def manager_client(db: None) -> Client:
    admin = User.objects.create_superuser("boss", "boss@example.org", "boss-password")
    client = Client()
    client.force_login(admin)
    return client


def captions(html: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<caption>(.*?)</caption>", html, re.S)]


def test_the_index_has_one_accounts_section_and_one_groups_section(manager_client: Client) -> None:
    html = manager_client.get("/admin/").content.decode()
    sections = captions(html)
    assert sections.count("Accounts") == 1, sections
    assert "Authentication and Authorization" not in sections
    assert sum("group" in s.lower() for s in sections) == 1, sections  # the research groups; staff roles live in Accounts
    assert "Staff roles (admin permissions)" in html and "E-mail addresses" in html.replace("Email", "E-mail")


def test_ingest_and_discover_are_reachable_from_the_index(manager_client: Client) -> None:
    html = manager_client.get("/admin/").content.decode()
    for page in ("/admin/metadata/schema/ingest/", "/admin/metadata/schema/discover/"):
        assert f'href="{page}"' in html, page
        assert manager_client.get(page).status_code == 200


def test_an_app_page_still_lists_only_its_own_models(manager_client: Client) -> None:
    html = manager_client.get("/admin/access/").content.decode()
    assert "Staff roles" not in html and "Ingest a file" not in html
