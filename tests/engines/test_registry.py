"""get_engine: chosen by settings, created once per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from workers.engines import available_engines, get_engine, mydb_table, reset_engines
from workers.engines.base import EngineError, TableName
from workers.engines.bench import bench_download


@pytest.fixture
def engine_settings(settings: Any, science: tuple[Path, Path]) -> Any:
    settings.SCIENCE_DIR, settings.MYDB_DIR = science
    settings.DEFAULT_ENGINE = "duckdb"
    settings.SCIENCE_POSTGRESQL_URL = settings.SCIENCE_MARIADB_URL = settings.SPARK_REMOTE = ""
    reset_engines()
    yield settings
    reset_engines()


def test_it_creates_each_engine_once_from_settings(engine_settings: Any, pg_url: str) -> None:
    assert available_engines() == ["duckdb"]
    duck = get_engine()
    assert duck is get_engine("duckdb") and duck.name == "duckdb" and duck.dialect == "duckdb"
    with pytest.raises(EngineError, match="not configured"):
        get_engine("postgresql")
    engine_settings.SCIENCE_POSTGRESQL_URL = pg_url
    engine_settings.SCIENCE_MARIADB_URL = "mysql://root@127.0.0.1:3306/mysql"
    engine_settings.SPARK_REMOTE = "sc://127.0.0.1:15002"
    assert available_engines() == ["duckdb", "postgresql", "mariadb", "spark"]
    assert get_engine("postgresql").name == "postgresql" and get_engine("mariadb").dialect == "mariadb"
    assert mydb_table(7, "t") == TableName("mydb_7", "t")


def test_the_duckdb_engine_serves_the_configured_catalogue(engine_settings: Any) -> None:
    (info,) = get_engine().introspect("cat", "stars")
    assert info.rows == 1000


def test_the_download_benchmark_measures_both_sides(pg: Any) -> None:
    result = bench_download(pg, rows=20_000, repeat=1)
    assert result.rows == 20_000 and result.columns == 10
    assert result.arrow_rows_per_s > 0 and result.copy_rows_per_s > 0 and result.ratio > 0
    assert "ratio" in result.report()
