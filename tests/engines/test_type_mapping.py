"""One Arrow binary column gets one ADQL/VOTable type whether it is uploaded, published or produced by a query."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apps.metadata.datatypes import adql_type as published_type
from apps.metadata.datatypes import votable_type
from apps.query.planning import upload_table
from apps.query.uploads import Upload
from workers.engines import Engine
from workers.engines.duckdb import DuckDBEngine
from workers.engines.types import adql_from_native, arrow_from_adql, columns_from_schema


def test_uploaded_published_and_query_produced_binary_columns_have_one_type(science: tuple[Path, Path],
                                                                           tmp_path: Path, job_id: str) -> None:
    file = tmp_path / "bytes.parquet"
    pq.write_table(pa.table({"b": pa.array([b"\x00\x01"], pa.binary())}), file)
    uploaded = upload_table(Upload("bytes", file), None).columns[0].datatype

    published = published_type(pa.binary())

    engine: Engine = DuckDBEngine(*science)
    batch = next(iter(engine.stream("SELECT '\\x00\\x01'::BLOB AS b", timeout_s=10, job_id=job_id)))
    produced = columns_from_schema(batch.schema)[0]

    assert uploaded == published[0] == produced.datatype == "VARBINARY"
    assert published[1] == produced.arraysize == "*"
    assert votable_type("VARBINARY", "*") == ("unsignedByte", "*", None)


@pytest.mark.parametrize("native", ["bytea", "blob", "longblob", "varbinary(255)"])
def test_the_databases_binary_types_are_varbinary(native: str) -> None:
    assert (adql_from_native(native).datatype, adql_from_native(native).arraysize) == ("VARBINARY", "*")


def test_fixed_width_bytes_are_binary_of_that_width() -> None:
    assert published_type(pa.binary(16)) == ("BINARY", "16")
    assert adql_from_native("binary(16)").arraysize == "16"


def test_a_varbinary_column_is_ingested_as_bytes_not_a_list() -> None:
    assert arrow_from_adql(columns_from_schema(pa.schema([("b", pa.binary())]))[0]).type == pa.binary()
