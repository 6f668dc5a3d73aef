"""In headless Chromium: the file manager uploads with a progress bar, then lists the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Page, expect

from apps.files.actions import volume_fs
from apps.files.models import Volume
from tests.e2e.conftest import browser, page  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def log_in(tab: Page, user: Any, base: str) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    tab.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])


def test_a_file_is_uploaded_from_the_page_streamed_by_xhr(
    users: Any, volume: Volume, page: Page, live_server: Any, tmp_path: Path  # noqa: F811
) -> None:
    log_in(page, users.owner, live_server.url)
    local = tmp_path / "observation log.txt"
    local.write_bytes(b"night 1: clear\n" * 400)
    page.goto(f"{live_server.url}/files/v/{volume.pk}/")
    page.get_by_label("Files").set_input_files(str(local))
    with page.expect_request(lambda r: r.method == "PUT") as upload:
        page.get_by_role("button", name="Upload").click()
    assert "/upload/?path=observation%20log.txt" in upload.value.url
    expect(page.get_by_role("link", name="observation log.txt", exact=True)).to_be_visible()
    assert volume_fs(volume).open_read("observation log.txt").read() == local.read_bytes()

    page.get_by_label("Name", exact=True).fill("plots")
    page.get_by_role("button", name="Create folder").click()
    expect(page.get_by_role("link", name="plots/")).to_be_visible()
    page.get_by_role("link", name="Preview observation log.txt").click()
    expect(page.get_by_text("night 1: clear").first).to_be_visible()
