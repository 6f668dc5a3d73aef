"""NUMERIC columns reach Arrow as the very doubles PostgreSQL's own cast gives, though the server no longer casts them."""

from __future__ import annotations

from typing import Any

import pytest

VALUES = ("0.1", "1/3.0", "-2.675", "123456789012345678.123456789", "1e-30", "'NaN'", "'Infinity'", "'-Infinity'", "NULL",
          "0", "-0.0")
SQL = " UNION ALL ".join(f"SELECT {i} AS i, CAST({v} AS numeric) AS x" for i, v in enumerate(VALUES))


@pytest.mark.parametrize("through", ["psql", "psycopg"])
def test_it_streams_numeric_as_the_double_of_the_servers_cast(pg: Any, job_id: str, through: str, monkeypatch: Any) -> None:
    import workers.engines.postgresql as module

    if through == "psycopg":
        monkeypatch.setattr(module, "PSQL", None)
    with pg.connect() as conn:
        expected = [r[0] for r in conn.execute(f"SELECT CAST(x AS double precision) FROM ({SQL}) AS t ORDER BY i").fetchall()]
    got = [v for b in pg.stream(f"SELECT x FROM ({SQL}) AS t ORDER BY i", timeout_s=30, job_id=job_id)
           for v in b.column(0).to_pylist()]
    assert [repr(v) for v in got] == [repr(v) for v in expected]


def test_a_small_page_of_a_numeric_column_is_doubles_too(pg: Any, mydb: str, job_id: str) -> None:
    from workers.engines.base import TableName

    table = TableName(mydb, "numbers")
    pg.execute(f"SELECT i, x FROM ({SQL}) AS t", into=table, timeout_s=30, job_id=job_id)
    page = [v for b in pg.fetch(table, order_by="i", limit=20) for v in b.column("x").to_pylist()]
    assert page[:3] == [0.1, 1 / 3.0, -2.675] and page[8] is None and str(page[5]) == "nan"
