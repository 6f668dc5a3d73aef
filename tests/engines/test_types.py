"""Every engine reports the same ADQL/VOTable types for the same result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from apps.adql import ColumnInfo
from workers.engines.base import TableName
from workers.engines.duckdb import DuckDBEngine
from workers.engines.spark import SparkEngine
from workers.engines.types import adql_from_native, arrow_from_adql, column_from_arrow, columns_from_schema


@pytest.mark.parametrize(("native", "expected"), [
    ("smallint", ("SMALLINT", None, None)), ("int4", ("INTEGER", None, None)), ("bigint", ("BIGINT", None, None)),
    ("real", ("REAL", None, None)), ("double precision", ("DOUBLE", None, None)),
    ("numeric(10,2)", ("DOUBLE", None, None)), ("decimal(10,2) unsigned", ("DOUBLE", None, None)),
    ("character(3)", ("CHAR", "3", None)), ("character varying(20)", ("VARCHAR", "20*", None)),
    ("varchar(255)", ("VARCHAR", "255*", None)), ("text", ("VARCHAR", "*", None)),
    ("boolean", ("BOOLEAN", None, None)), ("timestamp without time zone", ("TIMESTAMP", None, "timestamp")),
    ("timestamp with time zone", ("TIMESTAMP", None, "timestamp")), ("datetime(6)", ("TIMESTAMP", None, "timestamp")),
    ("double precision[]", ("DOUBLE", "*", None)), ("array<double>", ("DOUBLE", "*", None)),
    ("spoint", ("POINT", "2", "point")), ("scircle", ("CIRCLE", "3", "circle")), ("spoly", ("POLYGON", "*", "polygon")),
    ("bytea", ("VARBINARY", "*", None)), ("int(11) unsigned", ("INTEGER", None, None)),
])
def test_native_type_names_map_to_adql(native: str, expected: tuple[str, str | None, str | None]) -> None:
    info = adql_from_native(native)
    assert (info.datatype, info.arraysize, info.xtype) == expected


@pytest.mark.parametrize("datatype", ["SMALLINT", "INTEGER", "BIGINT", "REAL", "DOUBLE", "BOOLEAN", "VARCHAR",
                                      "TIMESTAMP", "POINT", "CIRCLE", "POLYGON"])
def test_arrow_fields_round_trip_adql_types(datatype: str) -> None:
    back = column_from_arrow(arrow_from_adql(ColumnInfo("c", datatype)))
    assert back.datatype == datatype


def test_fixed_size_lists_keep_their_size() -> None:
    info = column_from_arrow(pa.field("pos", pa.list_(pa.float64(), 2)))
    assert (info.datatype, info.arraysize) == ("DOUBLE", "2")


def test_the_same_query_has_the_same_metadata_and_values_on_every_engine(
        pg: Any, maria: Any, spark_remote: str, science: tuple[Path, Path], job_id: str) -> None:
    columns = "id, ra, mag, flag, n, name, ok, seen"
    where = "WHERE id < 10 ORDER BY id"
    duck = DuckDBEngine(*science, threads=1)
    spark = SparkEngine(spark_remote, *science)
    queries = {
        duck: f"SELECT {columns} FROM cat.stars {where}",
        pg: f"SELECT {columns} FROM cat.stars {where}",
        maria: f"SELECT {columns} FROM `{maria.cat}`.stars {where}",
        spark: f"SELECT {columns} FROM {spark.sql_from(TableName('cat', 'stars'))} {where}",
    }
    results = {}
    try:
        for engine, sql in queries.items():
            table = pa.Table.from_batches(list(engine.stream(sql, timeout_s=120, job_id=f"{job_id}-{engine.name}")))
            meta = [(c.name, c.datatype, c.arraysize, c.xtype) for c in columns_from_schema(table.schema)]
            rows = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()} for r in table.to_pylist()]
            results[engine.name] = (meta, rows)
    finally:
        spark.close()
    reference = results["duckdb"]
    assert reference[0] == [("id", "BIGINT", None, None), ("ra", "DOUBLE", None, None), ("mag", "REAL", None, None),
                            ("flag", "SMALLINT", None, None), ("n", "INTEGER", None, None),
                            ("name", "VARCHAR", "*", None), ("ok", "BOOLEAN", None, None),
                            ("seen", "TIMESTAMP", None, "timestamp")]
    for name, result in results.items():
        assert result[0] == reference[0], name
        assert result[1] == reference[1], name
