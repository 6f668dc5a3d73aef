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
