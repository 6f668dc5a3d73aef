"""Fixtures of the metadata tests: a private science folder and a published demo table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from apps.metadata.actions import do_create_schema, do_create_table, do_publish_table
from apps.metadata.models import PRIVATE, PUBLIC, Table
from tests.conftest import FourUsers

COLUMNS = [
    {"name": "source_id", "datatype": "BIGINT", "ucd": "meta.id;meta.main", "principal": True, "description": "Identifier"},
    {"name": "ra", "datatype": "DOUBLE", "unit": "deg", "ucd": "pos.eq.ra;meta.main", "description": "Right ascension"},
    {"name": "dec", "datatype": "DOUBLE", "unit": "deg", "ucd": "pos.eq.dec;meta.main", "description": "Declination"},
    {"name": "mag", "datatype": "REAL", "unit": "mag", "ucd": "phot.mag", "description": "Magnitude"},
]


def reset_engines() -> None:
    """Engines are created once per process from settings: forget them when a test changes those."""
    try:
        from workers.engines import reset_engines as reset
    except ImportError:
        return
    reset()


@pytest.fixture
def science(settings: Any, tmp_path: Path) -> Iterator[Path]:
    """Each test writes its Parquet tables in its own folder (engineers run tests in parallel)."""
    settings.SCIENCE_DIR = tmp_path / "science"
    settings.MYDB_DIR = tmp_path / "mydb"
    settings.VAR_DIR = tmp_path / "var"
    settings.SCIENCE_DIR.mkdir()
    reset_engines()
    yield Path(settings.SCIENCE_DIR)
    reset_engines()


@pytest.fixture
def owner_is_publisher(users: FourUsers) -> FourUsers:
    users.owner.is_staff = True
    users.owner.save()
    return users


def make_table(users: FourUsers, name: str = "stars", level: str = PRIVATE, *, schema: str = "survey", engine: str = "duckdb",
               metadata_level: str | None = None, published: bool = True, columns: list[dict[str, Any]] | None = None) -> Table:
    """A table owned by ``users.owner`` (a publisher) in ``schema`` (public schema metadata)."""
    from apps.metadata.models import Schema

    if not users.owner.is_staff:
        users.owner.is_staff = True
        users.owner.save(update_fields=["is_staff"])
    s = Schema.objects.filter(name=schema).first() or do_create_schema(users.owner, schema, engine=engine, access_level=PUBLIC,
                                                                       published=True)
    t = do_create_table(users.owner, s, name, columns=columns if columns is not None else COLUMNS, access_level=level,
                        metadata_access_level=metadata_level, description=f"The {name} of the survey", row_count=3)
    if published:
        do_publish_table(users.owner, t)
    return t
