"""In a real browser: sign up → verify e-mail → log in → create group → invite → accept → share."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from apps.access.permissions import has_privilege
from apps.files.actions import do_sync_roots
from apps.files.models import Volume
from tests.conftest import make_user
from tests.files.conftest import configure_roots

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_up(page: Page, base: str) -> None:
    page.goto(base + "/")
    page.get_by_role("link", name="Sign up").click()
    page.get_by_label("Email").fill("vera@example.org")
    page.get_by_label("Username").fill("vera")
    page.get_by_label("Password:", exact=True).fill("Galaxy-rotation-1970")
    page.get_by_label("Password (again)").fill("Galaxy-rotation-1970")
    page.get_by_label("First name").fill("Vera")
    page.get_by_label("Last name").fill("Rubin")
    page.get_by_label("Affiliation").fill("Carnegie")
    page.get_by_role("button", name="Sign Up").click()
    expect(page.get_by_role("heading", name="Verify Your Email Address")).to_be_visible()


def verify_email(page: Page) -> None:
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mail.outbox[-1].body)
    assert link, mail.outbox[-1].body
    page.goto(link.group(0))
    page.get_by_role("button", name="Confirm").click()


def log_in(page: Page, base: str, login: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.get_by_label("User name or e-mail").fill(login)
    page.get_by_label("Password:", exact=True).fill(password)
    page.get_by_role("button", name="Sign In").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def test_a_new_user_signs_up_creates_a_group_invites_and_shares(page: Page, live_server: Any, settings: Any, tmp_path: Path) -> None:
    settings.SITE_URL = live_server.url
    configure_roots(settings, tmp_path / "files")
    do_sync_roots()
    base = live_server.url
    bob = make_user("bob")

    sign_up(page, base)
    verify_email(page)
    log_in(page, base, "vera", "Galaxy-rotation-1970")

    page.get_by_role("link", name="Groups").click()
    page.get_by_label("Name").fill("Dark matter")
    page.get_by_label("Description").fill("Rotation curves")
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name="Dark matter")).to_be_visible()
    page.get_by_label("User name or e-mail").fill("bob")
    page.get_by_role("button", name="Send invitation").click()
    expect(page.get_by_text("bob is invited.")).to_be_visible()

    bob_page = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    log_in(bob_page, base, "bob", "bob-password")
    bob_page.get_by_role("link", name="Groups").click()
    bob_page.get_by_role("button", name="Accept").click()
    expect(bob_page.get_by_role("heading", name="Dark matter")).to_be_visible()
    expect(bob_page.get_by_role("cell", name="Vera Rubin (vera)")).to_be_visible()

    # Vera shares her storage volume with the group, read-only; Bob finds it.
    page.get_by_role("link", name="Files").click()
    page.get_by_role("row", name="Storage").get_by_role("link", name="Share…").click()
    page.get_by_label("May").select_option("read")
    page.get_by_label("Group").select_option(label="Dark matter")
    page.get_by_role("button", name="Share").click()
    expect(page.get_by_role("cell", name="group Dark matter")).to_be_visible()
    volume = Volume.objects.get(owner__username="vera", root__name="Storage")
    assert has_privilege(bob, "read", volume.resource) and not has_privilege(bob, "write", volume.resource)
    bob_page.get_by_role("link", name="Files").click()
    shared = bob_page.get_by_role("region", name="Shared with you")
    expect(shared.get_by_role("link", name=volume.name)).to_be_visible()
    expect(shared).to_contain_text("from vera")
