"""SAMP: a page in headless Chromium sends a result and a table through the Web Profile to a real hub,
and a SAMP client registered for table.load.votable receives a URL it can fetch without a session."""

from __future__ import annotations

import io
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from astropy.io.votable import parse_single_table
from playwright.sync_api import sync_playwright
from pyvo.samp import SAMPHubServer, SAMPIntegratedClient

from .conftest import LiveTap

pytestmark = [pytest.mark.django_db, pytest.mark.browser]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


class AutoConsent:
    """The hub's consent dialog, answering yes to every web page (the user clicking 'allow')."""

    queue_request: queue.Queue[Any]
    queue_result: queue.Queue[bool]

    def __init__(self) -> None:
        self.asked: list[Any] = []
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.is_set():
            asking = getattr(self, "queue_request", None)
            if asking is None:
                self._stop.wait(0.05)
                continue
            try:
                request = asking.get(timeout=0.1)
            except queue.Empty:
                continue
            self.asked.append(request)
            self.queue_result.put(True)

    def stop(self) -> None:
        self._stop.set()


class Receiver:
    """A stand-in for TOPCAT: a SAMP client that records table.load.votable notifications."""

    def __init__(self, hub: SAMPHubServer) -> None:
        self.received: queue.Queue[dict[str, str]] = queue.Queue()
        self.client = SAMPIntegratedClient(name="Test TOPCAT", description="receives tables")
        self.client.connect(hub=hub)
        self.client.bind_receive_notification("table.load.votable", self._on_table)

    def _on_table(self, private_key: str, sender_id: str, mtype: str, params: dict[str, str], extra: Any) -> None:
        self.received.put(params)


def deliver_late(hub: SAMPHubServer, seconds: float) -> None:
    """The hub delivers each notification `seconds` after notifyAll answered, as a hub on a busy
    machine may: astropy's hub then drops a notification whose sender has already unregistered."""
    deliver = hub._notify_

    def late(*args: Any) -> Any:
        time.sleep(seconds)
        return deliver(*args)

    hub._notify_ = late


@pytest.fixture
def samp(tmp_path: Path) -> Iterator[tuple[SAMPHubServer, Receiver, AutoConsent]]:
    consent = AutoConsent()
    hub = SAMPHubServer(web_profile=True, web_profile_dialog=consent, lockfile=str(tmp_path / "samp.lock"), mode="single")
    deliver_late(hub, 2.0)
    hub.start()
    receiver = Receiver(hub)
    try:
        yield hub, receiver, consent
    finally:
        receiver.client.disconnect()
        hub.stop()
        consent.stop()


def send_from_page(url: str, button_name: str, before_leaving: Callable[[], None] | None = None) -> str:
    """Click the button in headless Chromium; in a thread of its own, so a session browser of
    another test module (Playwright's sync API, one per thread) cannot get in the way."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(_click(url, button_name, before_leaving))
        except Exception as exc:  # handed to the test's thread below
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=120)
    assert outcome, "the browser did not finish"
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return str(outcome[0])


def _click(url: str, button_name: str, before_leaving: Callable[[], None] | None) -> str:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.goto(url)
            page.get_by_role("button", name=button_name).first.click()
            # Polled from here: wait_for_function evaluates its text with eval(), which the page's
            # Content-Security-Policy (script-src 'self') refuses.
            status = page.locator("#samp-status")
            for _ in range(300):
                text = status.text_content() or ""
                if len(text) > 20 and not text.startswith("Connecting"):
                    break
                page.wait_for_timeout(100)
            sent = str(status.text_content())
            if before_leaving:
                before_leaving()
                page.goto("about:blank")
            return sent
        finally:
            browser.close()


def fetched_rows(url: str) -> int:
    response = requests.get(url, timeout=60)  # no cookie, no credentials: what TOPCAT can do
    assert response.status_code == 200
    return len(parse_single_table(io.BytesIO(response.content)).array)


def test_a_result_page_sends_the_result_to_a_samp_client(live_tap: LiveTap, samp: Any) -> None:
    _, receiver, consent = samp
    created = requests.post(f"{live_tap.url}/async", data={"LANG": "ADQL", "QUERY": "SELECT TOP 25 source_id, ra, dec FROM gaia.source",
                                                             "PHASE": "RUN"}, allow_redirects=False, timeout=60)
    job_id = created.headers["Location"].rsplit("/", 1)[1]
    status = send_from_page(f"{live_tap.base}/tap/jobs/{job_id}/", "Send to TOPCAT/Aladin")
    assert "Sent" in status, status
    params = receiver.received.get(timeout=90)  # the browser, the hub and the receiver share two cores with the suite
    assert consent.asked, "the hub asked for consent"
    assert params["url"].startswith(f"{live_tap.base}/tap/results/")
    assert fetched_rows(params["url"]) == 25
    assert requests.get(params["url"][:-3] + "xyz", timeout=30).status_code == 404  # a forged link fails


def test_a_table_page_sends_the_table_to_a_samp_client(live_tap: LiveTap, samp: Any) -> None:
    _, receiver, _ = samp
    status = send_from_page(f"{live_tap.base}/tap/", "rows to TOPCAT/Aladin")  # "Send all 2,000 rows ...": the count is known
    assert "Sent" in status, status
    params = receiver.received.get(timeout=90)  # as above: the browser, hub and receiver share two cores
    assert params["name"] in ("gaia.source", "gaia.source (first 10000 rows)")
    assert fetched_rows(params["url"]) == 2000


def test_a_page_stays_on_the_hub_after_sending_and_leaves_when_the_user_leaves_the_page(live_tap: LiveTap, samp: Any) -> None:
    _, receiver, _ = samp
    before = set(receiver.client.get_registered_clients())  # the hub itself
    seen_before_leaving: list[Any] = []

    def receive_then_look() -> None:  # in the browser's thread, before the page goes away
        seen_before_leaving.append(receiver.received.get(timeout=90))
        seen_before_leaving.append(set(receiver.client.get_registered_clients()) - before)

    status = send_from_page(f"{live_tap.base}/tap/", "rows to TOPCAT/Aladin", before_leaving=receive_then_look)
    assert "Sent" in status, status
    table, page_clients = seen_before_leaving
    assert table["name"].startswith("gaia.source")  # delivered 2 s after notifyAll answered
    assert len(page_clients) == 1, "the page was still registered when its table arrived"
    for _ in range(100):
        if set(receiver.client.get_registered_clients()) == before:
            break
        time.sleep(0.1)
    assert set(receiver.client.get_registered_clients()) == before, "the page unregistered as it went away"
