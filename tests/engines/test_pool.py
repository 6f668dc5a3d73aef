"""The science PostgreSQL connections kept between queries (workers/engines/pool.py): clean on reuse, one pool
per login role, never a dead or busy connection handed out, none shared with a forked child."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from workers.engines import pool
from workers.engines.base import Scope
from workers.engines.common import run_tag


def _admin_one(pg: Any, sql: str, params: list[Any]) -> Any:
    with psycopg.connect(pg.url, autocommit=True) as conn:
        row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        return row[0] if row else None


def _advisory_locks_of(pg: Any, pid: int) -> int:
    return int(_admin_one(pg, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = %s", [pid]))


@pytest.fixture
def principal_role(pg: Any, mydb: str) -> Iterator[str]:
    scope = Scope(f"u{uuid.uuid4().int % 10**9}", mydb, ())
    role = pg.enter_scope(scope)
    yield role
    pool.close_all()
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')  # type: ignore[arg-type]
        conn.execute(f'DROP ROLE "{role}"')  # type: ignore[arg-type]


def test_a_setting_a_temporary_table_and_a_lock_of_one_query_are_gone_for_the_next(pg: Any) -> None:
    pool.close_all()
    with pg.connect(reader=True) as conn:
        conn.execute("SET search_path TO nowhere")
        conn.execute("SELECT set_config('statement_timeout', '1234', false)")
        conn.execute("CREATE TEMPORARY TABLE leak (x int)")
        conn.execute("SELECT pg_advisory_lock(4242)")
        first = conn.info.backend_pid
    # Released on return, not when the connection is next taken: nobody waits behind an idle pooled session.
    deadline = time.monotonic() + 10
    while _advisory_locks_of(pg, first) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _advisory_locks_of(pg, first) == 0
    with pg.connect(reader=True) as conn:
        assert conn.info.backend_pid == first  # the same session, reused
        assert conn.execute("SHOW search_path").fetchone()[0] == '"$user", public'  # type: ignore[index]
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"  # type: ignore[index]
        assert conn.execute("SELECT to_regclass('pg_temp.leak')").fetchone()[0] is None  # type: ignore[index]


def test_a_connection_of_one_role_never_serves_another(pg: Any, principal_role: str) -> None:
    pool.close_all()
    seen: dict[str, set[int]] = {principal_role: set(), pg.reader: set()}
    for _ in range(3):
        for login in (principal_role, pg.reader):
            lease = pg.connect(role=login) if login == principal_role else pg.connect(reader=True)
            with lease as conn:
                assert conn.execute("SELECT current_user, session_user").fetchone() == (login, login)
                seen[login].add(conn.info.backend_pid)
    assert len(seen[principal_role]) == 1 and len(seen[pg.reader]) == 1  # each reused ...
    assert not seen[principal_role] & seen[pg.reader]  # ... by its own role only


def test_a_jobs_name_is_set_for_its_query_and_reset_after(pg: Any, job_id: str) -> None:
    pool.close_all()
    with pg.connect(job_id, reader=True) as conn:
        assert conn.execute("SHOW application_name").fetchone()[0] == f"daiquiri:{run_tag(job_id)}"  # type: ignore[index]
        pid = conn.info.backend_pid
    with pg.connect(reader=True) as conn:
        assert conn.info.backend_pid == pid
        assert conn.execute("SHOW application_name").fetchone()[0] == "daiquiri"  # type: ignore[index]


def test_a_connection_ended_by_the_server_or_returned_mid_statement_is_not_handed_out(pg: Any) -> None:
    pool.close_all()
    with pg.connect(reader=True) as conn:
        killed = conn.info.backend_pid
    assert _admin_one(pg, "SELECT pg_terminate_backend(%s, 5000)", [killed]) is True
    with pg.connect(reader=True) as conn:
        assert conn.info.backend_pid != killed
        busy = conn.info.backend_pid
    with pytest.raises(psycopg.Error), pg.connect(reader=True) as conn:
        assert conn.info.backend_pid == busy
        conn.pgconn.send_query(b"SELECT pg_sleep(0.2)")  # still running when the block ends
    with pg.connect(reader=True) as conn:
        assert conn.info.backend_pid != busy
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_failed_statements_roll_back_and_the_connection_is_kept(pg: Any) -> None:
    pool.close_all()
    with pytest.raises(psycopg.errors.UndefinedTable), pg.connect(reader=True) as conn:
        pid = conn.info.backend_pid
        conn.execute("SELECT * FROM no_such_table")
    with pg.connect(reader=True) as conn:
        assert conn.info.backend_pid == pid
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_idle_connections_are_bounded_not_the_number_in_use(pg: Any) -> None:
    pool.close_all()
    leases = [pg.connect(reader=True) for _ in range(pg.pool_size + 3)]  # more at once than are kept
    pids = {lease.__enter__().info.backend_pid for lease in leases}
    assert len(pids) == pg.pool_size + 3
    for lease in leases:
        lease.__exit__(None, None, None)
    assert pool.idle_count(pg._reader_conninfo) == pg.pool_size


def test_a_forked_child_starts_with_no_pooled_connection_of_its_parent(pg: Any) -> None:
    pool.close_all()
    with pg.connect(reader=True):
        pass
    assert pool.idle_count(pg._reader_conninfo) == 1
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        os._exit(0 if pool.idle_count(pg._reader_conninfo) == 0 else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with pg.connect(reader=True) as conn:  # the parent goes on with a fresh one
        assert conn.execute("SELECT 1").fetchone() == (1,)
