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


@pytest.mark.django_db
def test_every_page_shows_the_logo_in_the_header_and_the_contact_in_the_footer(client: Client) -> None:
    from apps.core.models import SiteProfile

    SiteProfile.objects.create(logo="/static/img/logo.svg", contact_email="help@archive.example.org")
    for url in ("/docs/", "/contact/", "/accounts/login/"):
        page = client.get(url).content.decode()
        header, footer = page.split("</header>")[0], page.split('<footer class="footer">')[1]
        assert 'class="brand-logo" src="/static/img/logo.svg"' in header, url
        assert 'href="mailto:help@archive.example.org"' in footer, url


@pytest.mark.django_db
def test_the_site_profile_is_read_once_and_a_change_shows_at_once(client: Client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.core.models import SiteProfile

    SiteProfile.objects.create(contact_email="old@archive.example.org")
    client.get("/docs/")
    with CaptureQueriesContext(connection) as queries:
        assert "old@archive.example.org" in client.get("/docs/").content.decode()
    assert not [q for q in queries.captured_queries if "core_siteprofile" in q["sql"]]
    profile = SiteProfile.current()
    profile.contact_email = "new@archive.example.org"
    profile.save()
    assert "new@archive.example.org" in client.get("/docs/").content.decode()


@pytest.mark.django_db
def test_workflow_e_mails_end_with_the_site_and_its_contact_address(settings: Any) -> None:
    from apps.accounts.notifications import notify_managers_of_pending
    from apps.core.models import SiteProfile

    settings.SITE_NAME, settings.SITE_URL = "Leibniz Sky Archive", "https://archive.example.org"
    SiteProfile.objects.create(contact_email="help@archive.example.org")
    make_user("boss", is_superuser=True)
    mail.outbox.clear()
    notify_managers_of_pending(make_user("newcomer"))
    assert mail.outbox and mail.outbox[0].body.endswith(
        "-- \nLeibniz Sky Archive, https://archive.example.org/\nContact: help@archive.example.org\n")


@pytest.mark.django_db
def test_sign_up_e_mails_give_the_contact_address(settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    from apps.core.models import SiteProfile
    from tests.accounts.test_signup_and_approval import sign_up_and_verify

    SiteProfile.objects.create(contact_email="help@archive.example.org")
    mail.outbox.clear()
    sign_up_and_verify(Client(), django_capture_on_commit_callbacks)
    confirmation = next(m for m in mail.outbox if "confirm" in m.subject.lower())
    assert "Contact: help@archive.example.org" in confirmation.body


@pytest.mark.django_db
def test_registry_records_give_the_contact_address_written_in_the_admin(client: Client, settings: Any) -> None:
    from apps.core.models import SiteProfile
    from apps.registry.records import registry_record

    settings.REGISTRY_CONTACT_EMAIL = "fallback@archive.example.org"
    assert registry_record().contact_email == "fallback@archive.example.org"
    SiteProfile.objects.create(contact_email="help@archive.example.org")
    assert registry_record().contact_email == "help@archive.example.org"
    identify = client.get("/registry/oai", {"verb": "Identify"}).content.decode()
    assert "adminEmail>help@archive.example.org</" in identify
