"""Demo data only where the operator asked for it, and removable with one command."""

from __future__ import annotations

import io
import re
import signal
import time
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command

from apps.metadata.catalog import parquet_path
from apps.metadata.models import Function, Schema, Table
from tests.query.embedded_portal import start_portal

SCIENCE = "publisher_demo_science_test"
DEMO_SCHEMAS = ("gaia_postgresql", "manga_postgresql", "ztf_postgresql", "gaia", "manga", "ztf")


def test_the_demo_goes_into_the_embedded_engine_only_and_one_command_removes_it(db: None, science: Path, settings: object) -> None:
    settings.SCIENCE_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/unused_by_this_test"  # type: ignore[attr-defined]
    call_command("demo", stdout=io.StringIO())
    assert set(Schema.objects.values_list("engine", flat=True)) == {"duckdb"}  # a configured server gets nothing
    assert Table.objects.count() == 3 and parquet_path("gaia", "source").exists()
    out = io.StringIO()
    call_command("demo", "--remove", stdout=out)
    assert not Table.objects.exists() and not Schema.objects.exists() and not Function.objects.exists()
    assert not parquet_path("gaia", "source").exists()
    assert "Deleted the demo table gaia.source and its data" in out.getvalue()


def _science_schemas() -> set[str]:
    with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{SCIENCE}") as con:
        return {row[0] for row in con.execute("SELECT nspname FROM pg_namespace")}


def _schemas_seen_in_a_browser(base: str) -> list[str]:
    """The schemas the portal's Data page lists, as a visitor sees them in Chromium (screenshot kept)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import ARGS, CHROMIUM
    from tests.e2e.test_publisher import SHOTS

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page()
        page.goto(f"{base}/data/")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "run-with-science-database-data-page.png"), full_page=True)
        text = page.locator("main").inner_text()
        browser.close()
    assert text.strip(), "the Data page showed nothing"
    return [s for s in DEMO_SCHEMAS if re.search(rf"\b{s}\b", text)]


@pytest.mark.slow
@pytest.mark.browser
def test_scripts_run_with_a_configured_science_database_writes_no_demo_tables_and_stops_everything(tmp_path: Path) -> None:
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{SCIENCE}"')  # type: ignore[arg-type]
        con.execute(f'CREATE DATABASE "{SCIENCE}"')  # type: ignore[arg-type]
    before = _science_schemas()
    portal = start_portal(tmp_path / "var", {"SCIENCE_POSTGRESQL_URL": f"postgresql://postgres@127.0.0.1:5432/{SCIENCE}",
                                             "WORKER_HEARTBEAT_SECONDS": "1"})
    try:
        assert "No demo data loaded" in portal.output()
        assert not set(DEMO_SCHEMAS) & _science_schemas() and _science_schemas() <= before | {"public"}
        assert not set(DEMO_SCHEMAS) & set(_schemas_seen_in_a_browser(portal.base))
    finally:
        portal.stop(signal.SIGTERM)
    deadline = time.monotonic() + 30
    while portal.processes() and time.monotonic() < deadline:
        time.sleep(0.25)
    assert portal.processes() == []
