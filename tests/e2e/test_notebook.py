"""A notebook session in headless Chromium: a user starts JupyterLab from /compute/, it loads through the
portal's proxy (HTTP and WebSocket, served by uvicorn as in production), a cell queries TAP through the
client library and writes a file into the user's volume, and the file shows in the portal's file
manager; a second user reaches neither the page nor its WebSockets. Prints the time from "Start" to a
usable JupyterLab and the memory of the idle session."""

from __future__ import annotations

import time

import docker
import pytest
from playwright.sync_api import Browser, Page, expect

from apps.compute.engine import mount_target
from apps.compute.models import ComputeSession
from apps.compute.sessions import HOME
from tests.compute.conftest import docker_host  # noqa: F401  (fixture)
from tests.compute.test_sessions import (  # noqa: F401  (fixtures)
    Portal,
    asgi_portal,
    lab_domain,
    lab_image,
    lab_roots,
    storage_of,
)
from tests.conftest import make_user

from .test_signup_to_sharing import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
READY_MS = 180_000


def _cell_code(path: str) -> str:
    return (
        "from daiquiri_client import Portal; import pathlib; "
        "df = Portal().query_df('SELECT TOP 3 table_name FROM TAP_SCHEMA.tables ORDER BY table_name'); "
        f"out = pathlib.Path('{path}'); out.write_text('\\n'.join(df['table_name'])); "
        "print('rows', len(df), type(df).__name__, 'wrote', out.name)"
    )


def _idle_memory_mb(docker_url: str, session: ComputeSession) -> float:
    client = docker.DockerClient(base_url=docker_url)
    try:
        stats = client.containers.get(session.container_id).stats(stream=False)
    finally:
        client.close()
    memory = stats["memory_stats"]
    cache = memory.get("stats", {}).get("inactive_file", 0)
    return float(memory["usage"] - cache) / 2**20


def test_a_user_runs_a_notebook_cell_in_a_session_that_only_they_reach(
    page: Page, browser: Browser, asgi_portal: Portal, lab_roots: None, lab_domain: object, lab_image: object, docker_host: str,  # noqa: F811
) -> None:
    base = asgi_portal.url
    ada, bob = make_user("ada"), make_user("bob")
    storage = storage_of(ada)
    storage_of(bob)
    log_in(page, base, "ada", "ada-password")
    failed: list[str] = []  # WebSockets (kernels, events, terminals) and requests the proxy refused or could not serve
    page.on("console", lambda m: failed.append(m.text) if m.type == "error" and ("WebSocket" in m.text or "502" in m.text) else None)
    page.goto(base + "/compute/")
    started = time.monotonic()
    page.locator("#session-form button[type=submit]").click()
    page.get_by_role("link", name="Open JupyterLab").wait_for(timeout=READY_MS)
    page.get_by_role("link", name="Open JupyterLab").click()
    page.locator('.jp-LauncherCard[data-category="Notebook"]').first.wait_for(timeout=READY_MS)
    usable_s = time.monotonic() - started
    session = ComputeSession.objects.get(owner=ada)
    assert page.url.startswith(f"{base}{session.base_url}lab")

    page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    editor.wait_for(timeout=60_000)
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=60_000)  # the kernel's WebSocket is up
    editor.click()
    expect(page.locator(".jp-Notebook .jp-Cell .cm-editor.cm-focused")).to_have_count(1)
    page.keyboard.type(_cell_code(f"{HOME}{mount_target(storage)}/from-notebook.csv"))
    expect(editor).to_contain_text("from-notebook.csv")
    page.keyboard.press("Shift+Enter")
    expect(page.locator(".jp-OutputArea-output").first).to_contain_text("wrote from-notebook.csv", timeout=60_000)
    assert "rows 3 DataFrame" in page.locator(".jp-OutputArea-output").first.inner_text()

    assert not failed, failed
    page.goto(f"{base}/files/v/{storage.pk}/")
    expect(page.get_by_role("link", name="from-notebook.csv", exact=True)).to_be_visible()

    other = browser.new_context()
    bobs = other.new_page()
    log_in(bobs, base, "bob", "bob-password")
    response = bobs.goto(f"{base}{session.base_url}lab")
    assert response is not None and response.status == 404
    opened = bobs.evaluate("""url => new Promise(resolve => {
        const ws = new WebSocket(url);
        ws.onopen = () => resolve('open'); ws.onerror = () => resolve('refused'); ws.onclose = () => resolve('refused');
    })""", f"ws://{asgi_portal.host}{session.base_url}api/events/subscribe")
    assert opened == "refused"
    other.close()

    page.goto(base + "/compute/")  # the lab tab is gone: the session idles
    time.sleep(5)
    print(f"\nnotebook session: Start to usable JupyterLab {usable_s:.1f} s; idle session memory "
          f"{_idle_memory_mb(docker_host, session):.0f} MB (kernel running)")
