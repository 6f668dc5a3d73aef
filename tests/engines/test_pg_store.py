"""Storing a small result on PostgreSQL (``execute``: an async job's table in the owner's MyDB schema) takes
three round trips: the reader's settings, job tag and ``CREATE TABLE … AS`` in one pipeline, its COMMIT, then
the service user's ownership, grant and size in one pipeline with its COMMIT. Which MyDB schemas exist is
remembered per process; a schema dropped meanwhile is made again and the statement run once more."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from workers.engines import pool
from workers.engines.base import EngineError, TableName

from .test_postgresql import exists

QUERY = "SELECT id, ra, name FROM cat.stars ORDER BY id LIMIT 10"


class Tracer:
    """The protocol messages the client sends on every connection opened since it started (libpq's trace)."""

    def __init__(self) -> None:
        self.traced: list[tuple[Any, psycopg.Connection[Any]]] = []

    def watch(self, conn: psycopg.Connection[Any]) -> None:
        out = tempfile.TemporaryFile()
        conn.pgconn.trace(out.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)  # lines: F/B, length, message, content
        self.traced.append((out, conn))

    def sent(self) -> list[str]:
        """The messages sent since the last call, as 'type content'; tracing goes on afterwards."""
        traced, self.traced = self.traced, []
        messages = []
        for out, conn in traced:
            if not conn.closed:
                conn.pgconn.untrace()  # flushes it
            out.seek(0)
            for line in out.read().splitlines():
                if line.startswith(b"F\t"):
                    fields = line.decode(errors="replace").split("\t")
                    messages.append(" ".join(fields[2:]))
            if not conn.closed:
                self.watch(conn)
        return messages


def waited_for(messages: list[str]) -> list[str]:
    """The messages the client waits for an answer to: one per round trip. The pool's DISCARD ALL on a
    connection's return is left out: it is sent then and its answer read when the connection is next taken."""
    return [m for m in messages if m.split(" ")[0] in ("Sync", "Query") and "DISCARD ALL" not in m]


@pytest.fixture
def tracer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Tracer]:
    pool.close_all()  # every connection the engine uses from here on is opened, and traced, from its start
    tracer = Tracer()
    real = psycopg.connect

    def tracing(*args: Any, **kwargs: Any) -> psycopg.Connection[Any]:
        conn = real(*args, **kwargs)
        tracer.watch(conn)
        return conn

    monkeypatch.setattr(psycopg, "connect", tracing)
    yield tracer
    pool.close_all()


def owner_and_readers(pg: Any, table: TableName) -> tuple[str, list[str]]:
    with psycopg.connect(pg.url) as conn:
        owner, acl = conn.execute("SELECT tableowner, (SELECT array_agg(DISTINCT grantee::text) FROM "
                                  "information_schema.role_table_grants g WHERE g.table_schema = t.schemaname "
                                  "AND g.table_name = t.tablename AND privilege_type = 'SELECT') "
                                  "FROM pg_tables t WHERE schemaname = %s AND tablename = %s",
                                  [table.schema, table.name]).fetchone()
    return owner, sorted(acl or [])


def test_storing_a_small_result_takes_three_round_trips(pg: Any, mydb: str, job_id: str, tracer: Tracer) -> None:
    pg.execute(QUERY, into=TableName(mydb, "first"), timeout_s=30, job_id=job_id)  # makes the schema, opens connections
    tracer.sent()
    into = TableName(mydb, "second")
    result = pg.execute(QUERY, into=into, timeout_s=30, job_id=job_id)
    sent = waited_for(tracer.sent())
    assert result.rows == 10 and result.bytes > 0
    # The reader's pipeline (BEGIN, limits and job tag, CREATE TABLE AS) ends with one Sync, then its COMMIT;
    # the service user's pipeline (BEGIN, owner, grant, size, COMMIT) with one Sync. No schema lookup.
    # (Listed connection by connection: the order between the two connections is not kept.)
    assert sorted(sent) == ['Query  "COMMIT"', "Sync", "Sync"], sent
    with psycopg.connect(pg.url) as conn:
        service_user = conn.execute("SELECT current_user").fetchone()[0]
    assert owner_and_readers(pg, into) == (service_user, sorted({service_user, pg.reader}))


def test_a_mydb_schema_dropped_since_it_was_seen_is_made_again(pg: Any, mydb: str, job_id: str) -> None:
    pg.execute(QUERY, into=TableName(mydb, "before"), timeout_s=30, job_id=job_id)  # the schema is known from here on
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{mydb}" CASCADE')
    into = TableName(mydb, "after")
    result = pg.execute(QUERY, into=into, timeout_s=30, job_id=job_id)
    assert result.rows == 10 and exists(pg, into) and not exists(pg, TableName(mydb, "before"))
    assert pg.reader in owner_and_readers(pg, into)[1]
    page = list(pg.fetch(into, limit=3))
    assert page[0].column("id").to_pylist() == [0, 1, 2]


def test_a_missing_schema_the_query_names_is_the_querys_error(pg: Any, mydb: str, job_id: str) -> None:
    pg.execute(QUERY, into=TableName(mydb, "known"), timeout_s=30, job_id=job_id)
    with pytest.raises(EngineError, match='schema "nosuch" does not exist'):
        pg.execute("SELECT nosuch.f(1) AS x", into=TableName(mydb, "bad"), timeout_s=30, job_id=job_id)
    assert not exists(pg, TableName(mydb, "bad"))
