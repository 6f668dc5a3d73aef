"""The publisher's console in a real browser: ingest with a bad cell, delete with data, withdraw and restore, the metadata sidecar.

Screenshots of each page go to $PUBLISHER_SHOTS (default /tmp/publisher-shots) for a person to look at.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from apps.metadata.catalog import parquet_path
from apps.metadata.models import Table
from tests.conftest import make_user
from tests.metadata.test_publishing import stray_cell_csv

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path(os.environ.get("PUBLISHER_SHOTS", Path(tempfile.gettempdir()) / "publisher-shots"))


@pytest.fixture
def science_dir(settings: Any, tmp_path: Path) -> Path:
    from tests.metadata.conftest import reset_engines

    settings.SCIENCE_DIR, settings.MYDB_DIR, settings.VAR_DIR = tmp_path / "science", tmp_path / "mydb", tmp_path / "var"
    settings.SCIENCE_DIR.mkdir()
    reset_engines()
    return Path(settings.SCIENCE_DIR)


def shot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def admin_login(page: Page, base: str) -> None:
    make_user("curator", is_staff=True, is_superuser=True)
    page.goto(base + "/admin/login/")
    page.get_by_label("Username").fill("curator")
    page.get_by_label("Password").fill("curator-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name="Log out").or_(page.get_by_role("button", name="Log out"))).to_be_visible()


def ingest(page: Page, base: str, path: Path, table: str, *, bad_cells_as_null: bool = False) -> None:
    page.goto(base + "/admin/metadata/schema/ingest/")
    page.get_by_label("File").set_input_files(str(path))
    page.get_by_label("Schema").fill("survey")
    page.get_by_label("Table").fill(table)
    if bad_cells_as_null:
        page.get_by_label("Cells that do not fit their column (CSV)").select_option("null")
    page.locator("input[type=submit]").click()
    expect(page.locator("#ingest-status")).to_be_visible()


def run_action(page: Page, base: str, table: Table, action: str) -> None:
    page.goto(base + "/admin/metadata/table/")
    page.locator(f"input[name=_selected_action][value='{table.pk}']").check()
    page.locator("select[name=action]").select_option(action)
    page.locator("button[name=index]").click()


def test_a_csv_with_a_bad_cell_is_reported_with_line_and_column_then_loaded_with_nulls(
        page: Page, live_server: Any, science_dir: Path, tmp_path: Path) -> None:
    base = live_server.url
    admin_login(page, base)
    path = stray_cell_csv(tmp_path / "sources.csv")
    ingest(page, base, path, "sources")
    expect(page.locator("#ingest-status")).to_contain_text("line 1501, column ra: 'notanumber' is not a number")
    shot(page, "ingest-refused")
    assert not Table.objects.filter(name="sources").exists() and not parquet_path("survey", "sources").exists()

    page.get_by_role("link", name="All ingests").click()
    expect(page.locator("#result_list")).to_contain_text("failed")
    shot(page, "ingest-list")

    ingest(page, base, path, "sources", bad_cells_as_null=True)
    expect(page.locator("#ingest-status")).to_contain_text("Loaded 3000 rows")
    expect(page.locator("#bad-cells")).to_contain_text("1501")
    shot(page, "ingest-loaded-with-report")
    table = Table.objects.get(name="sources")
    assert table.columns.get(name="ra").datatype == "DOUBLE"  # no silent type change


def test_deleting_a_table_with_its_data_frees_the_name_and_withdraw_restores(
        page: Page, live_server: Any, science_dir: Path, tmp_path: Path) -> None:
    base = live_server.url
    admin_login(page, base)
    path = stray_cell_csv(tmp_path / "sources.csv", rows=200, bad_line=20)
    ingest(page, base, path, "sources", bad_cells_as_null=True)
    table = Table.objects.get(name="sources")
    run_action(page, base, table, "publish")
    from apps.metadata.actions import do_set_access_level

    do_set_access_level(None, Table.objects.get(pk=table.pk), "public")
    visitor = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    assert visitor.goto(base + "/data/survey/sources/").status == 200  # type: ignore[union-attr]

    run_action(page, base, table, "withdraw")
    expect(page.locator(".messagelist")).to_contain_text("their data is kept")
    shot(page, "withdrawn")
    assert visitor.goto(base + "/data/survey/sources/").status == 404  # type: ignore[union-attr]
    assert parquet_path("survey", "sources").exists()
    run_action(page, base, table, "restore")
    assert visitor.goto(base + "/data/survey/sources/").status == 200  # type: ignore[union-attr]

    run_action(page, base, table, "delete_selected")
    expect(page.locator("#data-deletion-warning")).to_contain_text("This deletes the data too")
    shot(page, "delete-confirmation")
    page.locator("input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("Successfully deleted")
    assert not Table.objects.filter(name="sources").exists() and not parquet_path("survey", "sources").exists()

    ingest(page, base, path, "sources", bad_cells_as_null=True)  # the same name again
    expect(page.locator("#ingest-status")).to_contain_text("Loaded 200 rows")
    shot(page, "reingested")


def test_the_metadata_sidecar_round_trips_through_the_admin(page: Page, live_server: Any, science_dir: Path, tmp_path: Path) -> None:
    from tests.metadata.test_publishing import TABLE_FIELDS, described_table

    base = live_server.url
    admin_login(page, base)
    from django.contrib.auth.models import User

    from tests.conftest import FourUsers

    curator = User.objects.get(username="curator")
    table = described_table(FourUsers(curator, curator, curator, None, None), tmp_path)  # type: ignore[arg-type]
    before = {key: getattr(table, key) for key in TABLE_FIELDS}
    page.goto(base + "/admin/metadata/table/")
    page.locator(f"input[name=_selected_action][value='{table.pk}']").check()
    page.locator("select[name=action]").select_option("export_metadata")
    with page.expect_download() as download:
        page.locator("button[name=index]").click()
    sidecar = tmp_path / "exported.vot"
    download.value.save_as(sidecar)
    Table.objects.filter(pk=table.pk).update(title="", description="", citation="", doi="", licence="", creators=[], published_on=None)

    page.goto(base + f"/admin/metadata/table/{table.pk}/import-metadata/")
    page.get_by_label("VOTable").set_input_files(str(sidecar))
    shot(page, "import-metadata")
    page.locator("input[type=submit]").click()
    expect(page.locator(".messagelist")).to_contain_text("Updated")
    shot(page, "imported-metadata")
    table = Table.objects.get(pk=table.pk)
    assert {key: getattr(table, key) for key in TABLE_FIELDS} == before


def test_a_publisher_shares_a_private_table_with_a_group_and_a_member_queries_it(
        page: Page, live_server: Any, science_dir: Path, tmp_path: Path) -> None:
    from apps.access.actions import do_create_group, do_invite, do_respond_to_invitation
    from apps.metadata.actions import do_ingest_file, do_publish_table
    from tests.e2e.test_signup_to_sharing import log_in

    base = live_server.url
    admin_login(page, base)
    from django.contrib.auth.models import User

    curator = User.objects.get(username="curator")
    table = do_ingest_file(curator, stray_cell_csv(tmp_path / "cat.csv", rows=300, bad_line=20), schema="survey", table="sources",
                           engine="duckdb", bad_cells="null")
    do_publish_table(curator, table)  # published, but private: nobody else sees it yet
    alice, bob = make_user("alice"), make_user("bob")
    make_user("eve")  # an outsider
    team = do_create_group(alice, "Survey team", "Alice's collaborators")
    do_respond_to_invitation(bob, do_invite(alice, team, bob), accept=True)

    page.goto(base + f"/admin/metadata/table/{table.pk}/change/")
    page.get_by_role("link", name="Share").click()
    page.get_by_label("May").select_option(label="query it, and see it (query)")
    page.get_by_label("Group").select_option(label="Survey team")
    shot(page, "share-dialogue")
    page.get_by_role("button", name="Share").click()
    expect(page.get_by_role("cell", name="group Survey team")).to_be_visible()
    shot(page, "shared")

    member = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    log_in(member, base, "bob", "bob-password")
    assert member.goto(base + "/data/survey/sources/").status == 200  # type: ignore[union-attr]
    count = {"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "csv", "QUERY": "SELECT COUNT(*) AS n FROM survey.sources"}
    answer = member.request.get(base + "/tap/sync", params=count)  # the browser session counts for GET
    assert answer.status == 200 and answer.text().split() == ['"n"', "300"], answer.text()

    outsider = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    log_in(outsider, base, "eve", "eve-password")
    assert outsider.goto(base + "/data/survey/sources/").status == 404  # type: ignore[union-attr]
    refused = outsider.request.get(base + "/tap/sync", params=count)
    assert refused.status == 400 and "unknown table 'survey.sources'" in refused.text()


def test_the_site_profile_written_in_the_admin_brands_every_page(page: Page, live_server: Any) -> None:
    base = live_server.url
    admin_login(page, base)
    page.goto(base + "/admin/core/siteprofile/add/")
    page.get_by_label("Home text").fill("The Leibniz sky archive: Gaia and friends.")
    page.get_by_label("Logo").fill("/static/img/favicon.svg")
    page.get_by_label("Contact email").fill("help@archive.example.org")
    page.locator("input[name=_save]").click()
    expect(page.locator(".messages, .messagelist")).to_contain_text("was added successfully")

    visitor = page.context.browser.new_context().new_page()  # type: ignore[union-attr]
    for url in ("/", "/data/", "/docs/"):
        visitor.goto(base + url)
        expect(visitor.locator("header .brand-logo")).to_be_visible()
        expect(visitor.locator("footer #footer-contact")).to_have_text("help@archive.example.org")
    visitor.goto(base + "/")
    expect(visitor.locator("#home-text")).to_contain_text("The Leibniz sky archive")
    shot(visitor, "site-profile-home")
