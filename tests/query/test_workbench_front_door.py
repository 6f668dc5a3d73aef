"""The front door: a home page with the published collections and the ways in, the contact form
(to the managers only, rate-limited), the favicon, and the generated engines-and-queues page."""

from __future__ import annotations

from typing import Any

import pytest
from django.core import mail
from django.test import Client

from apps.core.models import SiteProfile
from apps.metadata.models import Table
from tests.metadata.conftest import make_table

pytestmark = pytest.mark.django_db

MESSAGE = {"name": "Vera", "email": "vera@example.org", "subject": "Gaia DR3 question", "message": "Where is the parallax column?"}


def test_the_home_page_shows_published_collections_with_row_counts_and_the_tap_url(users: Any) -> None:
    from apps.metadata.models import PUBLIC

    public = make_table(users, "stars", PUBLIC)
    Table.objects.filter(pk=public.pk).update(row_count=1234567, citation="Rubin et al. 1970", title="The stars")
    make_table(users, "secrets")  # private: an anonymous visitor does not see it
    page = Client().get("/").content.decode()
    assert "The stars" in page and "1,234,567" in page and "Rubin et al. 1970" in page
    assert "secrets" not in page
    assert 'id="tap-url">http://testserver/tap<' in page
    assert 'href="/query/limits/"' in page and 'href="/contact/"' in page
    assert 'rel="icon"' in page


def test_the_favicon_is_served(users: Any) -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("img/favicon.svg")


def test_the_contact_form_mails_the_managers_with_the_sender_as_reply_to_only(users: Any, settings: Any) -> None:
    SiteProfile.objects.create(contact_email="help@portal.example")
    response = Client().post("/contact/", {**MESSAGE, "email": "vera@example.org"})
    assert response.status_code == 302
    sent = mail.outbox[-1]
    assert sent.to == ["help@portal.example"] and sent.reply_to == ["vera@example.org"]
    assert "Gaia DR3 question" in sent.subject and "parallax" in sent.body


def test_the_contact_form_is_no_relay_and_refuses_header_injection(users: Any) -> None:
    SiteProfile.objects.create(contact_email="help@portal.example")
    client = Client()
    client.post("/contact/", {**MESSAGE, "to": "victim@example.com", "subject": "hi\r\nBcc: victim@example.com"})
    assert all(m.to == ["help@portal.example"] and not m.bcc for m in mail.outbox)
    assert all("\n" not in m.subject for m in mail.outbox)
    bad = client.post("/contact/", {**MESSAGE, "email": "a@b.c\r\nBcc: victim@example.com"})
    assert bad.status_code == 400


def test_the_contact_form_is_rate_limited_per_address(users: Any, settings: Any) -> None:
    SiteProfile.objects.create(contact_email="help@portal.example")
    settings.CONTACT_PER_HOUR = 2
    client = Client()
    assert [client.post("/contact/", MESSAGE).status_code for _ in range(3)] == [302, 302, 429]
    assert len(mail.outbox) == 2
    assert "wait" in client.post("/contact/", MESSAGE).content.decode()


def test_a_robot_filling_the_hidden_field_sends_nothing(users: Any) -> None:
    SiteProfile.objects.create(contact_email="help@portal.example")
    assert Client().post("/contact/", {**MESSAGE, "website": "http://spam.example"}).status_code == 302
    assert mail.outbox == []


def test_the_limits_page_lists_queues_and_engines_from_the_settings(users: Any, settings: Any) -> None:
    page = Client().get("/query/limits/").content.decode()
    for name, queue in settings.QUERY_QUEUES.items():
        assert f"<code>{name}</code>" in page and f"{int(queue['time_limit'])} s" in page
    assert "<code>duckdb</code>" in page


def test_managers_markdown_pages_are_rendered_safely_and_versioned(users: Any) -> None:
    from apps.core.models import DocPage

    page = DocPage.objects.create(slug="getting-started", title="Getting started",
                                  body="# Hello\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>"
                                       "[x](javascript:alert(1)) <img src=x onerror=alert(1)> [ok](https://example.org)")
    page.body += "\n\nMore."
    page.save()
    page.save()  # nothing changed: no new version
    assert list(page.versions.values_list("number", flat=True)) == [2, 1]
    html = Client().get("/docs/getting-started/").content.decode()
    assert "<table>" in html and 'href="https://example.org"' in html and "Version 2" in html
    assert "<script>alert" not in html and "javascript:" not in html and "onerror" not in html
    index = Client().get("/docs/").content.decode()
    assert 'href="/docs/getting-started/"' in index and 'href="/query/adql/"' in index and 'href="/query/limits/"' in index
    DocPage.objects.filter(pk=page.pk).update(published=False)
    assert Client().get("/docs/getting-started/").status_code == 404


def test_the_home_page_shows_the_latest_published_news(users: Any) -> None:
    from datetime import date

    from apps.core.models import NewsItem

    for day in range(1, 6):
        NewsItem.objects.create(title=f"Release {day}", body=f"**DR{day}** is out. <script>x</script>", date=date(2026, 11, day))
    NewsItem.objects.create(title="Draft", date=date(2026, 11, 20), published=False)
    page = Client().get("/").content.decode()
    assert "Release 5" in page and "Release 3" in page and "Release 2" not in page and "Draft" not in page
    assert "<strong>DR5</strong>" in page and "<script>x" not in page
    assert page.index("Release 5") < page.index("Release 4")
