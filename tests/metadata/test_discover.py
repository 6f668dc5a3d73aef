"""Discovery: metadata from the live database, without overwriting what the publisher wrote."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from django.core.exceptions import ValidationError

from apps.metadata.actions import do_discover_schema
from apps.metadata.models import Table
from apps.metadata.storage import write_parquet
from tests.conftest import FourUsers


def _write(schema: str, table: str, columns: dict[str, np.ndarray]) -> None:
    data = pa.table(columns)
    write_parquet(schema, table, iter(data.to_batches()), data.schema, replace=True)


def test_it_discovers_the_tables_of_a_parquet_schema(users: FourUsers, science: Path) -> None:
    _write("found", "a", {"id": np.arange(10), "ra": np.zeros(10), "flag": np.zeros(10, dtype=np.int16)})
    _write("found", "b", {"name": np.array(["x"] * 4)})
    users.owner.is_staff = True
    tables = do_discover_schema(users.owner, "found", engine="duckdb")
    assert sorted(t.name for t in tables) == ["a", "b"]
    a = Table.objects.get(name="a")
    assert a.row_count == 10 and not a.published and a.access_level == "private" and a.resource.owner == users.owner
    assert [(c.name, c.datatype) for c in a.columns.all()] == [("id", "BIGINT"), ("ra", "DOUBLE"), ("flag", "SMALLINT")]


def test_refreshing_keeps_what_the_publisher_wrote(users: FourUsers, science: Path) -> None:
    _write("found", "a", {"id": np.arange(10), "ra": np.zeros(10), "old": np.zeros(10)})
    users.owner.is_staff = True
    do_discover_schema(users.owner, "found", engine="duckdb")
    table = Table.objects.get(name="a")
    table.title = "Hand-written title"
    table.save()
    table.columns.filter(name="ra").update(unit="deg", ucd="pos.eq.ra;meta.main", description="Right ascension")
    _write("found", "a", {"id": np.arange(25), "ra": np.zeros(25, dtype=np.float32), "new": np.zeros(25, dtype=np.int32)})
    do_discover_schema(users.owner, "found", engine="duckdb", table="a")
    table.refresh_from_db()
    assert table.title == "Hand-written title" and table.row_count == 25
    ra = table.columns.get(name="ra")
    assert (ra.unit, ra.ucd, ra.description, ra.datatype) == ("deg", "pos.eq.ra;meta.main", "Right ascension", "REAL")
    assert [c.name for c in table.columns.all()] == ["id", "ra", "new"]  # 'old' is gone from the data


def test_discovering_a_missing_table_says_so(users: FourUsers, science: Path) -> None:
    users.owner.is_staff = True
    with pytest.raises(ValidationError, match=r"no table found\.nothing"):
        do_discover_schema(users.owner, "found", engine="duckdb", table="nothing")
