"""Public browse pages: schemas, tables (with a sample and example queries), search; constant query counts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from astropy.io.votable import parse
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.metadata.models import INTERNAL, PRIVATE, PUBLIC
from apps.metadata.storage import write_parquet
from tests.conftest import FourUsers

from .conftest import make_table


def _data(schema: str = "survey", table: str = "stars") -> None:
    t = pa.table({"source_id": np.arange(3), "ra": [10.5, 11.0, 12.0], "dec": [-5.0, -5.5, -6.0], "mag": np.float32([12, 13, 14])})
    write_parquet(schema, table, iter(t.to_batches()), t.schema, replace=True)


def _get(client: Client, url: str) -> tuple[Any, int]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    return response, len(ctx.captured_queries)


def test_the_schema_list_shows_what_visitors_may_see(users: FourUsers, science: Path, client: Client) -> None:
    make_table(users, "open", PUBLIC)
    make_table(users, "closed", PRIVATE)
    page = client.get("/data/").content.decode()
    assert "survey.open" in page and "survey.closed" not in page
    client.force_login(users.owner)
    assert "survey.closed" in client.get("/data/").content.decode()


def test_list_pages_take_a_constant_number_of_queries(users: FourUsers, science: Path, client: Client) -> None:
    make_table(users, "t0", PUBLIC)
    client.force_login(users.outsider)
    client.get("/")  # the site profile (header, footer) is read once, then cached
    counts = {}
    for url in ("/data/", "/data/survey/", "/data/search?q=survey"):
        _, counts[url] = _get(client, url)
    for i in range(1, 6):
        make_table(users, f"t{i}", PUBLIC, schema="other" if i % 2 else "survey")
    for url in ("/data/", "/data/survey/", "/data/search?q=survey"):
        response, n = _get(client, url)
        assert response.status_code == 200 and n == counts[url], url


def test_the_table_page_has_citation_columns_sample_and_examples(users: FourUsers, science: Path, client: Client) -> None:
    table = make_table(users, "stars", PUBLIC)
    table.citation, table.licence, table.doi = "Doe et al. (2026)", "CC-BY-4.0", "10.1234/x"
    table.save()
    _data()
    response = client.get("/data/survey/stars/")
    page = response.content.decode()
    assert response.status_code == 200
    for text in ("Doe et al. (2026)", "CC-BY-4.0", "https://doi.org/10.1234/x", "pos.eq.ra;meta.main", "deg",
                 "SELECT TOP 10 * FROM survey.stars", "CIRCLE(&#x27;ICRS&#x27;, 10.5, -5.0, 0.1)", "11.0", "@misc{survey_stars_",
                 "doi = {10.1234/x}"):
        assert text in page, text


def test_the_table_page_takes_a_constant_number_of_queries(users: FourUsers, science: Path, client: Client) -> None:
    make_table(users, "stars", PUBLIC)
    _data()
    client.get("/")  # the site profile (header, footer) is read once, then cached
    _, few = _get(client, "/data/survey/stars/")
    make_table(users, "wide", PUBLIC, columns=[{"name": f"c{i}", "datatype": "DOUBLE"} for i in range(40)])
    t = pa.table({f"c{i}": np.zeros(3) for i in range(40)})
    write_parquet("survey", "wide", iter(t.to_batches()), t.schema)
    response, many = _get(client, "/data/survey/wide/")
    assert response.status_code == 200 and few == many


def test_hidden_tables_are_not_found(users: FourUsers, science: Path, client: Client) -> None:
    make_table(users, "closed", PRIVATE)
    make_table(users, "members", INTERNAL)
    assert client.get("/data/survey/closed/").status_code == 404
    assert client.get("/data/survey/members/").status_code == 404
    client.force_login(users.outsider)
    assert client.get("/data/survey/closed/").status_code == 404
    assert client.get("/data/survey/members/").status_code == 200


def test_a_description_without_data_access_shows_no_sample(users: FourUsers, science: Path, client: Client) -> None:
    make_table(users, "stars", INTERNAL, metadata_level=PUBLIC)
    _data()
    page = client.get("/data/survey/stars/").content.decode()
    assert "Right ascension" in page and "A sample of the rows" not in page and "log in" in page


def test_search_finds_tables_and_columns(users: FourUsers, science: Path, client: Client) -> None:
    make_table(users, "stars", PUBLIC)
    make_table(users, "closed", PRIVATE)
    page = client.get("/data/search?q=pos.eq.ra").content.decode()
    assert "survey.stars</a>.<code>ra</code>" in page and "closed" not in page
    assert "survey.stars" in client.get("/data/search?q=STARS+survey").content.decode()


def test_metadata_downloads_as_a_votable(users: FourUsers, science: Path, client: Client, tmp_path: Path) -> None:
    make_table(users, "stars", PUBLIC)
    response = client.get("/data/survey/stars/metadata.vot")
    path = tmp_path / "m.vot"
    path.write_bytes(response.content)
    fields = {f.name: f for f in parse(str(path)).get_first_table().fields}
    assert fields["ra"].ucd == "pos.eq.ra;meta.main" and str(fields["ra"].unit) == "deg"


def test_the_admin_console_lists_and_edits_tables(users: FourUsers, science: Path, client: Client) -> None:
    users.owner.is_superuser = True
    users.owner.save()
    table = make_table(users, "stars", PUBLIC)
    client.force_login(users.owner)
    assert client.get("/admin/metadata/table/?q=stars").status_code == 200
    page = client.get(f"/admin/metadata/table/{table.pk}/change/").content.decode()
    assert "Import metadata" in page and "pos.eq.ra;meta.main" in page
    assert client.get("/admin/metadata/schema/ingest/").status_code == 200
    assert client.get("/admin/metadata/schema/discover/").status_code == 200


def test_a_publisher_ingests_and_publishes_through_the_admin_alone(users: FourUsers, science: Path, client: Client, settings: Any,
                                                                   django_capture_on_commit_callbacks: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from apps.metadata.models import Table

    users.owner.is_superuser = users.owner.is_staff = True
    users.owner.save()
    client.force_login(users.owner)
    upload = SimpleUploadedFile("cat.csv", b"ra,dec,mag\n10.0,-5.0,12.5\n11.0,-6.0,13.5\n")
    with django_capture_on_commit_callbacks(execute=True):  # the worker runs at once (eager Celery)
        response = client.post("/admin/metadata/schema/ingest/", {"file": upload, "schema": "mine", "table": "cat",
                                                                   "engine": "duckdb", "publish": ""})
    assert response.status_code == 302
    status = client.get(response["Location"]).content.decode()
    table = Table.objects.get(name="cat")
    assert "Loaded 2 rows into" in status and table.qualified_name in status
    assert table.row_count == 2 and not table.published
    assert not list((Path(settings.VAR_DIR) / "uploads" / "ingest").iterdir())  # the upload is gone
    client.post("/admin/metadata/table/", {"action": "publish", "_selected_action": [table.pk]})
    table.refresh_from_db()
    assert table.published
    client.logout()
    assert client.get("/data/mine/cat/").status_code == 404  # still private: published for the owner only
    client.force_login(users.owner)
    response = client.post(f"/admin/metadata/table/{table.pk}/change/", {
        **_change_form(table), "access_level": PUBLIC, "metadata_access_level": PUBLIC,
    })
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    client.logout()
    assert client.get("/data/mine/cat/").status_code == 200


def _change_form(table: Any) -> dict[str, Any]:
    columns = list(table.columns.all())
    data: dict[str, Any] = {
        "schema": table.schema_id, "name": table.name, "type": table.type, "title": "Mine", "description": "A catalogue",
        "utype": "", "order": 0, "published": "on", "access_level": table.access_level, "metadata_access_level": table.metadata_access_level,
        "row_count": table.row_count or "", "size_bytes": "", "licence": "", "doi": "", "citation": "", "creators": "[]",
        "published_on": "", "data_updated_on": "", "position_columns": '["ra", "dec"]',
        "columns-TOTAL_FORMS": len(columns), "columns-INITIAL_FORMS": len(columns), "columns-MIN_NUM_FORMS": 0, "columns-MAX_NUM_FORMS": 1000,
    }
    for i, c in enumerate(columns):
        data.update({f"columns-{i}-id": c.pk, f"columns-{i}-table": table.pk, f"columns-{i}-order": c.order, f"columns-{i}-name": c.name,
                     f"columns-{i}-datatype": c.datatype, f"columns-{i}-arraysize": c.arraysize, f"columns-{i}-xtype": c.xtype,
                     f"columns-{i}-unit": "deg" if c.name != "mag" else "mag", f"columns-{i}-ucd": "", f"columns-{i}-description": "",
                     f"columns-{i}-access_level": "public"})
    return data


def test_a_failed_background_ingest_says_why(users: FourUsers, science: Path, client: Client, django_capture_on_commit_callbacks: Any) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    users.owner.is_superuser = users.owner.is_staff = True
    users.owner.save()
    client.force_login(users.owner)
    upload = SimpleUploadedFile("cat.fits", b"this is not FITS")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/metadata/schema/ingest/", {"file": upload, "schema": "mine", "table": "cat", "engine": "duckdb"})
    status = client.get(response["Location"]).content.decode()
    assert "The ingest failed and left no table behind" in status
    client.force_login(users.outsider)
    assert client.get(response["Location"]).status_code in (302, 404)  # not the outsider's (nor staff)


def test_staff_without_publishing_permissions_may_not_ingest(users: FourUsers, science: Path, client: Client) -> None:
    users.outsider.is_staff = True
    users.outsider.save()
    client.force_login(users.outsider)
    assert client.get("/admin/metadata/schema/ingest/").status_code == 403
    assert client.get("/admin/metadata/schema/discover/").status_code == 403


def test_a_datacite_record_describes_the_table(users: FourUsers, science: Path, client: Client) -> None:
    table = make_table(users, "stars", PUBLIC)
    table.doi, table.licence, table.title = "10.1234/x", "CC-BY-4.0", "Stars"
    table.creators = [{"name": "Doe, Jane", "nameIdentifiers": [{"nameIdentifier": "0000-0002-1825-0097"}]}]
    table.save()
    record = client.get("/data/survey/stars/datacite.json").json()["data"]["attributes"]
    assert record["doi"] == "10.1234/x" and record["titles"] == [{"title": "Stars"}]
    assert record["creators"][0]["name"] == "Doe, Jane" and record["types"]["resourceTypeGeneral"] == "Dataset"
    assert record["url"].endswith("/data/survey/stars/") and record["sizes"] == ["3 rows", "4 columns"]
    assert client.get("/data/survey/closed/datacite.json").status_code == 404
