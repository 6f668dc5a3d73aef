"""One place for the site's name and address: pages, e-mails and the admin console follow SITE_NAME and SITE_URL."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sites.models import Site
from django.core import mail
from django.test import Client

from apps.core.branding import sync_site_entry
from tests.conftest import make_user


@pytest.mark.django_db
def test_e_mails_name_the_site_not_example_com(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    from tests.accounts.test_signup_and_approval import sign_up_and_verify

    settings.SITE_NAME, settings.SITE_URL = "Leibniz Sky Archive", "https://archive.example.org"
    sync_site_entry()  # what every migrate does
    assert Site.objects.get_current().domain == "archive.example.org"
    mail.outbox.clear()
    sign_up_and_verify(Client(), django_capture_on_commit_callbacks)
    sent = "\n".join(f"{m.subject}\n{m.body}" for m in mail.outbox)
    assert "Leibniz Sky Archive" in sent and "example.com" not in sent


@pytest.mark.django_db
def test_the_admin_console_carries_the_site_name(client: Client, settings: Any) -> None:
    from django.conf import settings as live

    admin = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(admin)
    assert f"{live.SITE_NAME}: administration" in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_the_home_page_shows_the_text_logo_and_contact_written_in_the_admin(client: Client) -> None:
    admin = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post("/admin/core/siteprofile/add/", {"home_text": "The Leibniz archive.\n\nGaia and friends.",
                                                             "logo": "/static/img/logo.svg", "contact_email": "help@archive.example.org"})
    assert response.status_code == 302
    page = Client().get("/").content.decode()
    assert "<p>The Leibniz archive.</p>" in page and 'src="/static/img/logo.svg"' in page
    assert "mailto:help@archive.example.org" in page


@pytest.mark.django_db
def test_a_logo_from_another_site_is_refused_beside_the_field(client: Client) -> None:
    admin = make_user("boss", is_staff=True, is_superuser=True)
    client.force_login(admin)
    response = client.post("/admin/core/siteprofile/add/", {"home_text": "", "logo": "https://evil.example/logo.png", "contact_email": ""})
    assert response.status_code == 200 and "Content-Security-Policy" in response.content.decode()
