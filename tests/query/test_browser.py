"""End to end in headless Chromium: write a query -> run -> watch it finish -> view -> plot -> download."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

from apps.uws import phases

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop in this thread
playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("QUERY_SCREENSHOTS", "")  # a folder: save what the user saw, for a look by eye


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--headless"])
        yield browser
        browser.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_user_writes_runs_watches_views_plots_and_downloads(users: Any, stars: Any, run_job: Any, live_server: Any,
                                                              browser: Any, tmp_path: Any) -> None:
    seed = run_job(users.owner, "SELECT * FROM TAP_UPLOAD.stars", uploads=[stars], table_name="stars")
    assert seed.phase == phases.COMPLETED, seed.error
    client = Client()
    client.force_login(users.owner)
    context = browser.new_context(accept_downloads=True)
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                          "url": live_server.url}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    # Write: the editor highlights, the schema browser inserts names.
    page.goto(f"{live_server.url}/query/")
    editor = page.locator("#query-text")
    editor.fill("SELECT source_id, ra, dec, mag FROM ")
    page.locator("#browser summary", has_text="mydb").first.click()
    page.locator('button.insert[data-insert="mydb.stars"]').click()
    editor.press("End")
    editor.type(" WHERE mag < 16 ORDER BY mag")
    assert "mydb.stars WHERE mag < 16" in editor.input_value()
    assert page.locator("#query-highlight .tok-kw", has_text="SELECT").count() == 1
    page.fill("#query-table-name", "bright")
    _shot(page, "1-query-page")

    # Run, and watch it finish (the page follows the job's phase and reloads on completion).
    page.click("#run-query")
    page.wait_for_url("**/query/jobs/*/")
    page.locator("#job-phase", has_text="COMPLETED").wait_for()

    # View: pages of rows, sorted by the engine.
    page.locator("#page-info", has_text="of ").wait_for()
    total = int(page.locator("#page-info").inner_text().split(" of ")[1].replace(",", ""))
    assert total > 100
    assert page.locator("#result-table tbody tr").count() == 100
    page.locator('#result-table .sort[data-column="mag"]').click()
    page.locator("#result-table .sort[aria-sort=ascending]").wait_for()
    # (locators, not wait_for_function: that evaluates text with eval(), which the page's CSP refuses)
    playwright_api.expect(page.locator("#page-info")).to_have_text(re.compile(r"^Rows 1"))
    first_mags = page.eval_on_selector_all("#result-table tbody tr td:nth-child(4)", "tds => tds.slice(0, 5).map(t => parseFloat(t.textContent))")
    assert first_mags == sorted(first_mags)
    page.click("#page-next")
    page.locator("#page-info", has_text="Rows 101").wait_for()
    _shot(page, "2-result")

    # Plot: a colour scatter and a sky plot are drawn on the canvas.
    for kind in ("colour", "sky", "histogram"):
        page.select_option("#plot-kind", kind)
        page.click("#plot-draw")
        page.locator(f"#plot[data-drawn='{kind}']").wait_for()
        inked = page.evaluate("""() => { const c = document.querySelector('#plot'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++; return n; }""")
        assert inked > 500, kind
        _shot(page, f"3-plot-{kind}")

    # Download: CSV, streamed.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="CSV").click()
    path = tmp_path / "bright.csv"
    download_info.value.save_as(path)
    lines = path.read_text().splitlines()
    assert lines[0].replace('"', "") == "source_id,ra,dec,mag" and len(lines) == total + 1
    assert not errors, errors
    context.close()
