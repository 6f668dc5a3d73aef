"""What a data centre trips on when publishing: stray CSV cells, failed ingests, deleting and withdrawing tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from apps.activity.models import Event
from apps.metadata import kinds
from apps.metadata.actions import (
    do_delete_table,
    do_discover_schema,
    do_ingest_file,
    do_publish_table,
    do_restore_table,
    do_set_access_level,
    do_withdraw_table,
)
from apps.metadata.catalog import parquet_path, visible_tables
from apps.metadata.models import Table
from apps.metadata.storage import live_tables
from tests.conftest import FourUsers


def stray_cell_csv(path: Path, rows: int = 3000, bad_line: int = 1501) -> Path:
    """``rows`` rows of positions, with ``notanumber`` in ``ra`` on line ``bad_line`` of the file (the header is line 1)."""
    lines = ["source_id,ra,dec,name"] + [f"{i},{i * 0.1:.3f},{-i * 0.01:.3f},star {i}" for i in range(rows)]
    lines[bad_line - 1] = f"{bad_line - 2},notanumber,1.0,odd star"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_one_stray_cell_is_refused_with_its_line_and_column_and_nothing_is_stored(
        owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    users = owner_is_publisher
    with pytest.raises(ValidationError, match=r"line 1501, column ra: 'notanumber' is not a number"):
        do_ingest_file(users.owner, stray_cell_csv(tmp_path / "cat.csv"), schema="survey", table="sources", engine="duckdb",
                       chunk_rows=500)
    assert not parquet_path("survey", "sources").exists() and not Table.objects.filter(name="sources").exists()
    failure = Event.objects.get(kind=kinds.INGEST_FAILED)
    assert failure.details["bad_cells"] == [{"line": 1501, "column": "ra", "value": "notanumber", "expected": "a number"}]
    assert "line 1501, column ra" in failure.summary


def test_a_stray_cell_loads_as_null_with_a_report_when_the_publisher_chooses_so(
        owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    users, report = owner_is_publisher, {}
    table = do_ingest_file(users.owner, stray_cell_csv(tmp_path / "cat.csv"), schema="survey", table="sources", engine="duckdb",
                           chunk_rows=500, bad_cells="null", report=report)
    columns = {c.name: c.datatype for c in table.columns.all()}
    assert columns == {"source_id": "BIGINT", "ra": "DOUBLE", "dec": "DOUBLE", "name": "VARCHAR"}  # no silent type change
    assert table.row_count == 3000 and table.position_columns == ["ra", "dec"]
    assert report == {"count": 1, "cells": [{"line": 1501, "column": "ra", "value": "notanumber", "expected": "a number"}]}
    assert Event.objects.get(kind=kinds.INGESTED).details["bad_cells"]["count"] == 1


def test_a_column_that_is_mostly_text_stays_text(owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("id,code\n" + "".join(f"{i},{'J' if i % 3 else ''}{i}\n" for i in range(300)))
    table = do_ingest_file(owner_is_publisher.owner, path, schema="survey", table="codes", engine="duckdb")
    assert {c.name: c.datatype for c in table.columns.all()} == {"id": "BIGINT", "code": "VARCHAR"}


def test_a_sidecar_declares_a_columns_type(owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    from astropy.io.votable.tree import Field, Resource, TableElement, VOTableFile

    path = tmp_path / "cat.csv"
    path.write_text("id,code\n" + "".join(f"{i},{i}\n" for i in range(50)))
    vot = VOTableFile()
    resource = Resource()
    vot.resources.append(resource)
    element = TableElement(vot)
    resource.tables.append(element)
    element.fields.extend([Field(vot, name="id", datatype="long"), Field(vot, name="code", datatype="char", arraysize="*")])
    vot.to_xml(str(tmp_path / "cat.csv.vot"))
    table = do_ingest_file(owner_is_publisher.owner, path, schema="survey", table="codes", engine="duckdb")
    assert table.columns.get(name="code").datatype in ("VARCHAR", "CHAR")


def test_deleting_a_table_deletes_its_data_and_frees_its_name(owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    users = owner_is_publisher
    path = stray_cell_csv(tmp_path / "cat.csv", rows=100, bad_line=50)
    table = do_ingest_file(users.owner, path, schema="survey", table="sources", engine="duckdb", bad_cells="null")
    assert parquet_path("survey", "sources").exists()
    do_delete_table(users.owner, table)
    assert not parquet_path("survey", "sources").exists() and live_tables("duckdb", "survey", "sources") == []
    assert do_discover_schema(users.owner, "survey", engine="duckdb") == []  # nothing comes back
    again = do_ingest_file(users.owner, path, schema="survey", table="sources", engine="duckdb", bad_cells="null")
    assert again.row_count == 100
    assert Event.objects.filter(kind=kinds.TABLE_DELETED, details__data_deleted=True).count() == 1


def test_data_left_without_a_description_is_a_clear_refusal_not_a_traceback(
        owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    users = owner_is_publisher
    path = stray_cell_csv(tmp_path / "cat.csv", rows=100, bad_line=50)
    table = do_ingest_file(users.owner, path, schema="survey", table="sources", engine="duckdb", bad_cells="null")
    do_delete_table(users.owner, table, drop_data=False)  # only the description goes
    with pytest.raises(ValidationError, match=r"already holds data called survey\.sources that no table describes"):
        do_ingest_file(users.owner, path, schema="survey", table="sources", engine="duckdb", bad_cells="null")


def test_a_withdrawn_table_is_hidden_from_everyone_and_comes_back_when_restored(
        owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    users = owner_is_publisher
    table = do_ingest_file(users.owner, stray_cell_csv(tmp_path / "cat.csv", rows=100, bad_line=50), schema="survey", table="sources",
                           engine="duckdb", bad_cells="null")
    do_set_access_level(users.owner, table, "public")
    do_publish_table(users.owner, table)
    everyone = [users.owner, users.member, users.outsider, users.anonymous]
    assert all(visible_tables(u).filter(pk=table.pk).exists() for u in everyone)
    do_withdraw_table(users.owner, table)
    assert not any(visible_tables(u, action).filter(pk=table.pk).exists() for u in everyone for action in ("read", "query"))
    assert parquet_path("survey", "sources").exists()  # the data is kept
    do_discover_schema(users.owner, "survey", engine="duckdb")
    assert Table.objects.get(pk=table.pk).withdrawn  # discovery does not bring it back
    do_restore_table(users.owner, Table.objects.get(pk=table.pk))
    assert all(visible_tables(u).filter(pk=table.pk).exists() for u in everyone)


def described_table(users: FourUsers, tmp_path: Path) -> Table:
    """An ingested table with everything a publisher writes filled in."""
    import datetime

    table = do_ingest_file(users.owner, stray_cell_csv(tmp_path / "cat.csv", rows=100, bad_line=50), schema="survey", table="sources",
                           engine="duckdb", bad_cells="null")
    table.title, table.description, table.utype = "Survey sources", "Positions of the survey's sources", "ivo://example/utype"
    table.citation, table.doi, table.licence = "Doe et al. (2026), A&A 1, 1", "10.5281/zenodo.1234567", "CC-BY-4.0"
    table.creators = [{"name": "Doe, Jane", "affiliation": "Observatory", "orcid": "0000-0002-1825-0097"}]
    table.published_on, table.data_updated_on = datetime.date(2026, 1, 2), datetime.date(2026, 3, 4)
    table.save()
    ra = table.columns.get(name="ra")
    ra.unit, ra.ucd, ra.description, ra.principal = "deg", "pos.eq.ra;meta.main", "Right ascension", True
    ra.save()
    return table


TABLE_FIELDS = ("title", "description", "utype", "citation", "doi", "licence", "creators", "published_on", "data_updated_on",
                "position_columns")


def test_the_metadata_sidecar_round_trips_everything_the_publisher_wrote(
        owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    import io

    from apps.metadata.actions import do_import_metadata
    from apps.metadata.votable import metadata_votable

    table = described_table(owner_is_publisher, tmp_path)
    before = {key: getattr(table, key) for key in TABLE_FIELDS}
    exported = metadata_votable(table)
    Table.objects.filter(pk=table.pk).update(title="", description="", utype="", citation="", doi="", licence="", creators=[],
                                             published_on=None, data_updated_on=None)
    table.columns.update(unit="", ucd="", description="", principal=False)
    table = Table.objects.get(pk=table.pk)
    do_import_metadata(owner_is_publisher.owner, table, io.BytesIO(exported))
    table = Table.objects.get(pk=table.pk)
    assert {key: getattr(table, key) for key in TABLE_FIELDS} == before
    ra = table.columns.get(name="ra")
    assert (ra.unit, ra.ucd, ra.description, ra.principal) == ("deg", "pos.eq.ra;meta.main", "Right ascension", True)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("doi", "https://doi.org/10.5281/zenodo.1", "Did you mean '10.5281/zenodo.1'"),
    ("doi", "my dataset", "is not a DOI"),
    ("licence", "cc-by-4.0", "Write the licence as 'CC-BY-4.0'"),
    ("licence", "free for all", "is not a licence we know"),
])
def test_a_doi_or_licence_that_is_not_one_is_refused(owner_is_publisher: FourUsers, science: Path, field: str, value: str,
                                                       message: str) -> None:
    from tests.metadata.conftest import make_table

    table = make_table(owner_is_publisher)
    setattr(table, field, value)
    with pytest.raises(ValidationError, match=message):
        table.full_clean()


def test_a_licence_may_be_the_url_of_its_text(owner_is_publisher: FourUsers, science: Path) -> None:
    from tests.metadata.conftest import make_table

    table = make_table(owner_is_publisher)
    table.licence, table.doi = "https://example.org/our-data-licence.html", "10.1000/182"
    table.full_clean()


def test_discovering_a_schema_that_does_not_exist_creates_nothing_and_lists_what_there_is(
        owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    from apps.metadata.models import Schema

    do_ingest_file(owner_is_publisher.owner, stray_cell_csv(tmp_path / "cat.csv", rows=10, bad_line=5), schema="survey", table="sources",
                   engine="duckdb", bad_cells="null")
    with pytest.raises(ValidationError, match=r"duckdb has no schema 'suvrey' with tables\. It holds: survey\."):
        do_discover_schema(owner_is_publisher.owner, "suvrey", engine="duckdb")
    assert not Schema.objects.filter(name="suvrey").exists()


def test_a_query_privilege_lets_its_holders_read_the_table_too_and_nobody_else(owner_is_publisher: FourUsers, science: Path) -> None:
    from apps.access.actions import do_grant
    from apps.access.permissions import actions_of, has_privilege
    from tests.metadata.conftest import make_table

    users = owner_is_publisher
    table = make_table(users, level="private")
    do_grant(users.owner, table.resource, "query", group=users.group)  # one grant, not two
    assert actions_of(users.owner, table.resource) == {"read", "query", "grant"}
    assert actions_of(users.member, table.resource) == {"read", "query"}
    assert actions_of(users.outsider, table.resource) == set() and actions_of(users.anonymous, table.resource) == set()
    assert has_privilege(users.member, "read", table.resource) and not has_privilege(users.outsider, "read", table.resource)
    for user, sees in ((users.owner, True), (users.member, True), (users.outsider, False), (users.anonymous, False)):
        assert visible_tables(user, "read").filter(pk=table.pk).exists() is sees
        assert visible_tables(user, "query").filter(pk=table.pk).exists() is sees


def test_a_read_privilege_does_not_let_its_holders_query(owner_is_publisher: FourUsers, science: Path) -> None:
    from apps.access.actions import do_grant
    from apps.access.permissions import actions_of
    from tests.metadata.conftest import make_table

    users = owner_is_publisher
    table = make_table(users, level="private")
    do_grant(users.owner, table.resource, "read", group=users.group)
    assert actions_of(users.member, table.resource) == {"read"}
    assert not visible_tables(users.member, "query").filter(pk=table.pk).exists()


def test_a_fits_column_arrow_cannot_hold_is_named(owner_is_publisher: FourUsers, science: Path, tmp_path: Path) -> None:
    import numpy as np
    from astropy.io import fits

    path = tmp_path / "complex.fits"
    columns = [fits.Column(name="id", format="K", array=np.arange(5)),
               fits.Column(name="visibility", format="M", array=np.arange(5) * (1 + 1j))]
    fits.BinTableHDU.from_columns(columns).writeto(path)
    with pytest.raises(ValidationError, match=r"FITS column visibility \(format M\) cannot be read"):
        do_ingest_file(owner_is_publisher.owner, path, schema="survey", table="vis", engine="duckdb")
    assert "visibility" in Event.objects.get(kind=kinds.INGEST_FAILED).details["reason"]


def test_the_withdraw_command_hides_restores_and_deletes_with_the_data(owner_is_publisher: FourUsers, science: Path,
                                                                       tmp_path: Path) -> None:
    import io

    from django.core.management import call_command

    table = do_ingest_file(owner_is_publisher.owner, stray_cell_csv(tmp_path / "cat.csv", rows=10, bad_line=5), schema="survey",
                           table="sources", engine="duckdb", bad_cells="null")
    out = io.StringIO()
    call_command("withdraw", "survey.sources", stdout=out)
    assert Table.objects.get(pk=table.pk).withdrawn and "its data kept" in out.getvalue()
    call_command("withdraw", "survey.sources", "--restore", stdout=out)
    assert not Table.objects.get(pk=table.pk).withdrawn
    call_command("withdraw", "survey.sources", "--delete-data", stdout=out)
    assert not Table.objects.filter(pk=table.pk).exists() and not parquet_path("survey", "sources").exists()
