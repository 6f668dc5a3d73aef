"""In headless Chromium: the file manager uploads by XHR, then lists and previews the file.

Playwright runs in a thread of its own: the browser tests of tests/e2e keep a
session-wide sync Playwright (with its event loop) in the main thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client
from playwright.sync_api import Page, expect, sync_playwright

from apps.files.actions import volume_fs
from apps.files.models import Volume
from tests.e2e.conftest import ARGS, CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def in_browser(user: Any, base: str, scenario: Callable[[Page], None]) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                context = browser.new_context()
                context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": base}])
                page = context.new_page()
                page.set_default_timeout(15_000)
                scenario(page)
                browser.close()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=120)
    assert not thread.is_alive(), "the browser scenario did not finish"
    if failure:
        raise failure[0]


def test_a_file_is_uploaded_from_the_page_streamed_by_xhr(users: Any, volume: Volume, live_server: Any, tmp_path: Path) -> None:
    local = tmp_path / "observation log.txt"
    local.write_bytes(b"night 1: clear\n" * 400)

    def scenario(page: Page) -> None:
        page.goto(f"{live_server.url}/files/v/{volume.pk}/")
        page.get_by_label("Files").set_input_files(str(local))
        with page.expect_request(lambda r: r.method == "PUT") as upload:
            page.get_by_role("button", name="Upload").click()
        assert "/upload/?path=observation%20log.txt" in upload.value.url
        expect(page.get_by_role("link", name="observation log.txt", exact=True)).to_be_visible()
        page.get_by_label("Name", exact=True).fill("plots")
        page.get_by_role("button", name="Create folder").click()
        expect(page.get_by_role("link", name="plots/")).to_be_visible()
        page.get_by_role("link", name="Preview observation log.txt").click()
        expect(page.get_by_text("night 1: clear").first).to_be_visible()

    in_browser(users.owner, live_server.url, scenario)
    assert volume_fs(volume).open_read("observation log.txt").read() == local.read_bytes()
