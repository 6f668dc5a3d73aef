"""A small PostgreSQL answer costs one round trip on the science connection (its session limits and its rows
in one pipeline), two when a column needs the server's conversion (geometry); the limits are the session's
until the pool resets it."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from workers.engines import pool

QUERY = "SELECT id, ra, spoint(radians(ra), radians(dec)) AS pos FROM cat.stars ORDER BY id LIMIT 10"
PLAIN = "SELECT id, ra, dec, CAST(id AS NUMERIC) / 3 AS third, ra > 180 AS west FROM cat.stars ORDER BY id LIMIT 10"


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[str]]:
    """The protocol messages the client sent so far on connections taken from the pool (libpq's trace)."""
    files: list[tuple[Any, psycopg.Connection[Any]]] = []
    real = pool.pooled

    def tracing(*args: Any, **kwargs: Any) -> pool.Lease:
        lease = real(*args, **kwargs)
        out = tempfile.TemporaryFile()
        lease.conn.pgconn.trace(out.fileno())
        lease.conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)  # lines: F/B, length, message
        files.append((out, lease.conn))
        return lease

    def sent() -> list[str]:
        messages = []
        for out, conn in files:
            conn.pgconn.untrace()  # flushes it
            out.seek(0)
            messages += [line.split(b"\t")[2].decode() for line in out.read().splitlines() if line.startswith(b"F\t")]
        files.clear()
        return messages

    monkeypatch.setattr(pool, "pooled", tracing)
    return sent


def _sync_and_queries(sent: list[str]) -> list[str]:
    return [m for m in sent if m in ("Sync", "Query")]


def test_a_small_answer_of_numbers_and_booleans_takes_one_round_trip(pg: Any, job_id: str, traced: Callable[[], list[str]]) -> None:
    list(pg.stream(PLAIN, timeout_s=30, job_id=job_id, row_limit=10))  # the column types are remembered from here on
    traced()
    (batch,) = pg.stream(PLAIN, timeout_s=30, job_id=job_id, row_limit=10)
    assert batch.num_rows == 10 and batch.schema.names == ["id", "ra", "dec", "third", "west"]
    assert batch.column("third")[0].as_py() == pytest.approx(batch.column("id")[0].as_py() / 3)  # NUMERIC read as a double
    # The pipeline (time limit, time zone, job tag; the rows) ends with one Sync; the Query is the pool's
    # DISCARD ALL on return, whose answer nobody waits for.
    assert _sync_and_queries(traced()) == ["Sync", "Query"]


def test_a_small_answer_with_a_geometry_column_takes_two_round_trips(pg: Any, job_id: str, traced: Callable[[], list[str]]) -> None:
    list(pg.stream(QUERY, timeout_s=30, job_id=job_id, row_limit=10))
    traced()
    (batch,) = pg.stream(QUERY, timeout_s=30, job_id=job_id, row_limit=10)
    assert batch.num_rows == 10 and batch.schema.names == ["id", "ra", "pos"]
    assert len(batch.column("pos")[0].as_py()) == 2  # the point as [ra, dec] in degrees, converted by the server
    assert _sync_and_queries(traced()) == ["Sync", "Query", "Query"]  # the rows again, converted


def test_a_type_first_seen_in_a_small_answer_is_named_without_losing_its_rows(pg: Any, job_id: str) -> None:
    from workers.engines import postgresql

    postgresql._TYPE_NAMES.clear()  # the type names are looked up beside the rows waiting on the cursor
    (batch,) = pg.stream(PLAIN, timeout_s=30, job_id=job_id, row_limit=10)
    assert batch.num_rows == 10 and batch.column("id").type == "int64"


def test_the_settings_of_a_small_answer_do_not_outlive_it_on_the_pooled_connection(pg: Any, job_id: str) -> None:
    list(pg.stream(QUERY, timeout_s=7, job_id=job_id, row_limit=10))
    with pg.connect(reader=True) as conn:
        timeout, name = conn.execute("SELECT current_setting('statement_timeout'), current_setting('application_name')").fetchone()
    assert timeout != "7s" and name == pool.BASE_NAME
