"""ADQL translated for each engine runs there, over catalogues described by ``introspect``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from apps.adql import Catalog, translate
from workers.engines.duckdb import DuckDBEngine
from workers.engines.spark import SparkEngine

CONE = ("SELECT TOP 5 id, DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 0, -89.5)) AS d, "
        "POINT('ICRS', ra, dec) AS pos FROM {schema}.stars "
        "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 0, -89.5, 3)) ORDER BY id")


def run(engine: Any, schema: str, job_id: str) -> pa.Table:
    catalog = Catalog(engine.introspect(schema))
    translation = translate(CONE.format(schema=schema), engine.dialect, catalog=catalog)
    batches = engine.stream(translation.sql, timeout_s=120, job_id=f"{job_id}-{engine.name}")
    return pa.Table.from_batches(list(batches))


def test_a_cone_query_gives_the_same_rows_on_every_engine(
        pg: Any, maria: Any, spark_remote: str, science: tuple[Path, Path], job_id: str) -> None:
    spark = SparkEngine(spark_remote, *science)
    try:
        tables = {"duckdb": run(DuckDBEngine(*science, threads=1), "cat", job_id), "postgresql": run(pg, "cat", job_id),
                  "mariadb": run(maria, maria.cat, job_id), "spark": run(spark, "cat", job_id)}
    finally:
        spark.close()
    ids = tables["duckdb"].column("id").to_pylist()
    assert len(ids) == 5 and ids == sorted(ids)
    for name, table in tables.items():
        assert table.column("id").to_pylist() == ids, name
        assert table.column("d").to_pylist() == pytest.approx(tables["duckdb"].column("d").to_pylist(), abs=1e-9)
    for name in ("duckdb", "postgresql", "spark"):  # MariaDB has no arrays: DALI text instead
        assert tables[name].column("pos").to_pylist()[0] == pytest.approx([0.0, -89.5]), name
