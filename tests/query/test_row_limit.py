"""The outer row limit of a query (TOP, MAXREC) travels from the plan to the engine as a value."""

from __future__ import annotations

from typing import Any

import pytest

from apps.metadata.actions import do_generate_catalogue
from apps.query.planning import plan_query


@pytest.fixture
def gaia(db: None) -> Any:
    return do_generate_catalogue(None, "gaia.source", rows=100, engine="duckdb")


@pytest.mark.parametrize(("query", "maxrec", "expected"), [
    ("SELECT TOP 10 source_id FROM gaia.source", None, 10),
    ("SELECT TOP 10 source_id FROM gaia.source", 3, 4),  # MAXREC + 1: one row more shows the overflow
    ("SELECT source_id FROM gaia.source", 500, 501),
    ("SELECT source_id FROM gaia.source", None, None),
    ("SELECT source_id FROM gaia.source -- TOP 5 LIMIT 5", None, None),  # words in a comment limit nothing
])
def test_the_plan_carries_the_outer_row_limit(gaia: Any, query: str, maxrec: int | None, expected: int | None) -> None:
    assert plan_query(None, query=query, maxrec=maxrec).row_limit == expected
