"""The workbench in a real browser: import a file into MyDB and query it, rerun from the history, watch a
running query's elapsed time, filter and trim the viewer.

Screenshots of each page go to $WORKBENCH_SHOTS (default /tmp/workbench-shots) for a person to look at.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.query.models import QueryJob
from apps.uws import phases
from tests.conftest import make_user
from tests.e2e.test_signup_to_sharing import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("WORKBENCH_SHOTS", Path(tempfile.gettempdir()) / "workbench-shots"))


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def workbench(settings: Any, tmp_path: Path, live_server: Any) -> Iterator[str]:
    """A live portal storing results in this test's folders, running jobs at once (eager Celery)."""
    from daiquiri.celery import app
    from workers.engines import reset_engines

    settings.SCIENCE_DIR, settings.MYDB_DIR, settings.VAR_DIR = tmp_path / "science", tmp_path / "mydb", tmp_path / "var"
    settings.DEFAULT_ENGINE = "duckdb"
    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    reset_engines()
    yield live_server.url
    reset_engines()
    app.conf.task_always_eager = eager


def _catalogue(path: Path, rows: int = 300) -> Path:
    lines = ["source_id,ra,dec,mag"] + [f"{4611686018427387904 + i},{i * 1.1 % 360:.4f},{(i % 170) - 85},{10 + i % 10}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _import(page: Page, base: str, path: Path, name: str) -> None:
    page.goto(base + "/query/import/")
    page.get_by_label("Table name in MyDB").fill(name)
    page.get_by_label("From your computer").set_input_files(str(path))
    shot(page, "import-form")
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#job-phase")).to_have_text("COMPLETED")


def test_a_user_imports_a_csv_file_into_mydb_and_queries_it(page: Page, workbench: str, tmp_path: Path) -> None:
    make_user("vera")
    log_in(page, workbench, "vera", "vera-password")
    _import(page, workbench, _catalogue(tmp_path / "stars.csv"), "stars")
    expect(page.get_by_role("heading", level=1)).to_contain_text("mydb.stars")
    expect(page.locator("#job-rows")).to_have_text("300")
    expect(page.locator("#result-table tbody tr").first).to_contain_text("4611686018427387904")  # exact, not rounded
    shot(page, "import-job")
    page.goto(workbench + "/query/?query=" + "SELECT COUNT(*) AS n FROM mydb.stars WHERE mag >= 15")
    page.locator("#run-query").click()
    expect(page.locator("#job-phase")).to_have_text("COMPLETED")
    expect(page.locator("#result-table tbody td").first).to_have_text("150")

    page.goto(workbench + "/query/import/")  # a name already taken is said beside the form, nothing is made
    page.get_by_label("Table name in MyDB").fill("stars")
    page.get_by_label("From your computer").set_input_files(str(tmp_path / "stars.csv"))
    page.get_by_role("button", name="Import").click()
    expect(page.locator("#import-error")).to_be_visible()
    shot(page, "import-error")
    assert QueryJob.objects.filter(table_name="stars").count() == 1


def test_a_user_filters_the_history_and_reruns_a_query(page: Page, workbench: str, tmp_path: Path) -> None:
    make_user("vera")
    log_in(page, workbench, "vera", "vera-password")
    _import(page, workbench, _catalogue(tmp_path / "stars.csv"), "stars")
    page.goto(workbench + "/query/?query=" + "SELECT TOP 5 source_id FROM mydb.stars ORDER BY mag")
    page.locator("#run-query").click()
    expect(page.locator("#job-phase")).to_have_text("COMPLETED")
    page.goto(workbench + "/query/jobs/")
    page.get_by_label("Text").fill("ORDER BY mag")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#jobs-table tbody tr[data-job]")
    expect(rows).to_have_count(1)
    shot(page, "history-filtered")
    rows.first.get_by_role("button", name="Rerun").click()
    expect(page.locator("#job-phase")).to_have_text("COMPLETED")
    assert QueryJob.objects.filter(query__contains="ORDER BY mag").count() == 2
    page.goto(workbench + "/query/jobs/")
    expect(page.locator("#jobs-table tbody tr[data-job]")).to_have_count(3)
    shot(page, "history")


def test_a_running_query_shows_its_elapsed_time_limit_and_no_size(page: Page, workbench: str) -> None:
    vera = make_user("vera")
    job = QueryJob.objects.create(owner=vera, query="SELECT * FROM mydb.big", phase=phases.EXECUTING, queue="quick",
                                  start_time=timezone.now() - timedelta(seconds=3), size_bytes=0, engine="duckdb")
    waiting = QueryJob.objects.create(owner=vera, query="SELECT 2", phase=phases.QUEUED, queue="quick", queued=timezone.now())
    log_in(page, workbench, "vera", "vera-password")
    page.goto(workbench + f"/query/jobs/{job.id}/")
    elapsed = page.locator("#job-elapsed")
    expect(elapsed).to_be_visible()
    first = elapsed.inner_text()
    expect(elapsed).not_to_have_text(first, timeout=5000)  # it counts
    expect(page.locator("#job-limit")).to_contain_text("time limit")
    expect(page.locator("#job-size")).to_have_text("\u2013")  # a dash, not "0 bytes"
    shot(page, "running")
    page.goto(workbench + f"/query/jobs/{waiting.id}/")
    expect(page.locator("#job-position")).to_be_visible()
    expect(page.locator("#job-position")).to_have_text("next to start")
    shot(page, "queued")


def test_a_user_filters_the_viewer_and_hides_columns(page: Page, workbench: str, tmp_path: Path) -> None:
    make_user("vera")
    log_in(page, workbench, "vera", "vera-password")
    _import(page, workbench, _catalogue(tmp_path / "stars.csv"), "stars")
    page.get_by_label("Rows per page").select_option("500")
    expect(page.locator("#result-table tbody tr")).to_have_count(300)
    page.get_by_label("Filter rows (ADQL condition)").fill("mag = 12 AND dec > 0")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator("#page-info")).to_contain_text("matching the filter")
    count = page.locator("#result-table tbody tr").count()
    assert 0 < count < 30
    page.locator("#column-picker summary").click()
    page.locator("#column-picker").get_by_label("ra").uncheck()
    expect(page.locator("#result-table thead th").nth(1)).to_be_hidden()
    expect(page.locator("#result-table tbody tr").first.locator("td").nth(1)).to_be_hidden()
    shot(page, "viewer-filtered")
    page.get_by_role("button", name="Clear").click()
    page.get_by_label("Kind").select_option("scatter")  # select points: drag a box on the plot, the table shows those rows
    expect(page.locator("#plot")).to_have_attribute("data-drawn", "scatter")
    page.locator("#plot").scroll_into_view_if_needed()
    box = page.locator("#plot").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.6, steps=5)
    page.mouse.up()
    expect(page.locator("#filter-where")).to_have_value(re.compile(r'^"ra" BETWEEN .* AND "dec" BETWEEN '))
    expect(page.locator("#page-info")).to_contain_text("matching the filter")
    assert 0 < page.locator("#result-table tbody tr").count() < 300
    shot(page, "plot-selection")
    page.get_by_label("Filter rows (ADQL condition)").fill("nosuch > 1")
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator("#filter-error")).to_be_visible()
    shot(page, "viewer-filter-error")


def test_a_visitor_finds_the_data_the_ways_in_and_writes_to_the_managers(page: Page, workbench: str) -> None:
    from django.core import mail

    from apps.core.models import SiteProfile
    from apps.metadata.models import PUBLIC
    from tests.conftest import FourUsers
    from tests.metadata.conftest import make_table

    SiteProfile.objects.create(contact_email="help@portal.example", home_text="Catalogues of the Milky Way.")
    owner = make_user("owner")
    table = make_table(FourUsers(owner, make_user("m"), make_user("o"), None, None), "stars", PUBLIC)  # type: ignore[arg-type]
    type(table).objects.filter(pk=table.pk).update(row_count=1_811_709_771, title="Gaia-like stars", citation="Someone et al. 2026")
    from datetime import date

    from apps.core.models import NewsItem

    NewsItem.objects.create(title="Data release 2", body="Adds **proper motions** for all stars.", date=date(2026, 11, 20))
    page.goto(workbench + "/")
    expect(page.locator("#holdings")).to_contain_text("1,811,709,771")
    expect(page.locator("#news")).to_contain_text("Data release 2")
    expect(page.locator("#tap-url")).to_have_text(workbench + "/tap")
    shot(page, "home")
    page.get_by_role("link", name="Engines, queues and limits").click()
    expect(page.locator("#queues-table")).to_be_visible()
    shot(page, "limits")
    from apps.core.models import DocPage

    DocPage.objects.create(slug="first-steps", title="First steps", body="## Your first query\n\n```sql\nSELECT TOP 10 * FROM survey.stars\n```\n")
    page.get_by_role("link", name="Documentation").click()
    page.get_by_role("link", name="First steps").click()
    expect(page.locator(".doc-page pre")).to_contain_text("SELECT TOP 10")
    shot(page, "doc-page")
    page.get_by_role("link", name="Contact").click()
    page.get_by_label("Name").fill("Vera")
    page.get_by_label("Your e-mail address").fill("vera@example.org")
    page.get_by_label("Subject").fill("A question")
    page.get_by_label("Message").fill("Where is the parallax?")
    shot(page, "contact")
    page.get_by_role("button", name="Send").click()
    expect(page.locator(".messages")).to_contain_text("sent to the portal's managers")
    assert mail.outbox[-1].to == ["help@portal.example"]


def test_a_result_is_published_through_the_approval_flow_and_found_in_tap_schema(page: Page, workbench: str, tmp_path: Path) -> None:
    from apps.query import actions
    from apps.query.models import PublicationRequest

    make_user("vera")
    make_user("curator", is_staff=True, is_superuser=True)
    log_in(page, workbench, "vera", "vera-password")
    _import(page, workbench, _catalogue(tmp_path / "stars.csv", rows=40), "stars")
    page.get_by_label("Title").fill("Forty stars")
    page.get_by_label("Description").fill("Forty stars for the community.")
    page.get_by_label("Citation").fill("Rubin et al. 2026")
    page.get_by_label("Name of the published table").fill("forty_stars")
    shot(page, "publish-request")
    page.get_by_role("button", name="Ask for publication").click()
    expect(page.locator("#publish")).to_contain_text("waiting for a data manager")

    manager = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    manager.goto(workbench + "/admin/login/")
    manager.get_by_label("Username").fill("curator")
    manager.get_by_label("Password").fill("curator-password")
    manager.get_by_role("button", name="Log in").click()
    manager.goto(workbench + "/admin/query/publicationrequest/")
    manager.locator("input[name=_selected_action]").first.check()
    manager.locator("select[name=action]").select_option("approve")
    manager.locator("button[name=index]").click()
    expect(manager.locator(".messagelist")).to_contain_text("community.forty_stars")
    shot(manager, "publish-approved-admin")
    assert PublicationRequest.objects.get().status == PublicationRequest.APPROVED

    page.reload()
    expect(page.locator("#publish")).to_contain_text("approved and published")
    shot(page, "publish-approved")
    from django.contrib.auth.models import AnonymousUser

    found = actions.run_sync(AnonymousUser(), query="SELECT table_name FROM tap_schema.tables WHERE table_name = 'community.forty_stars'")
    assert [b.num_rows for b in found.batches] == [1]


def test_a_sky_density_map_of_a_million_rows_is_counted_by_the_engine(page: Page, workbench: str, tmp_path: Path,
                                                                      django_capture_on_commit_callbacks: Any) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from apps.query import actions
    from apps.query.uploads import Upload

    vera = make_user("vera")
    rng, n = np.random.default_rng(7), 1_000_000
    fields = [pa.field("ra_deg", pa.float64(), metadata={"ucd": "pos.eq.ra;meta.main", "unit": "deg"}),
              pa.field("mag", pa.float64()),
              pa.field("dec_deg", pa.float64(), metadata={"ucd": "pos.eq.dec;meta.main", "unit": "deg"})]
    dec = np.clip(rng.normal(0, 20, n), -90, 90)  # a band along the equator
    pq.write_table(pa.Table.from_arrays([pa.array(rng.uniform(0, 360, n)), pa.array(rng.normal(15, 2, n)), pa.array(dec)],
                                        schema=pa.schema(fields)), tmp_path / "big.parquet")
    with django_capture_on_commit_callbacks(execute=True):
        job = actions.do_run_job(actions.do_create_job(vera, query="SELECT * FROM TAP_UPLOAD.big", table_name="big", queue="long",
                                                       uploads=[Upload("big", tmp_path / "big.parquet")]))
    job.refresh_from_db()
    assert job.row_count == n, job.error
    log_in(page, workbench, "vera", "vera-password")
    page.goto(workbench + f"/query/jobs/{job.id}/")
    page.get_by_label("Kind").select_option("skydensity")
    expect(page.locator("#plot-x")).to_have_value("ra_deg")  # by UCD, not the scatter's X
    expect(page.locator("#plot-y")).to_have_value("dec_deg")
    expect(page.locator("#plot")).to_have_attribute("data-drawn", "skydensity", timeout=60_000)
    expect(page.locator("#plot-note")).to_contain_text("1,000,000 rows in")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#plot").screenshot(path=str(SHOTS / "sky-density-1M.png"))
