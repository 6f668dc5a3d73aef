"""Open connections to the science PostgreSQL kept for the next query, one small pool per login.

Why: opening a connection (a new server process, authentication, its catalogue caches) took
longer than the small query it served, and a sync TAP query opened one or two of them.

- A pool is keyed by the whole connection string, so by login role: a connection made for the
  reader role only ever serves the reader role, one made for a principal's role only that role.
- A connection comes back clean: on its return it is reset with ``DISCARD ALL`` (settings,
  temporary tables, prepared statements, advisory locks, LISTENs, the application_name set for a
  job); so psycopg prepares no statement on it. One left inside a transaction, in a COPY or
  broken is closed, never pooled.
- Taking a connection never waits: with none idle a new one is opened, and on its return one
  beyond ``size`` idle is closed. So the pool bounds idle connections, never concurrency.
- Before a connection is handed out, its socket is looked at (no round trip): one the server has
  ended meanwhile is closed. One idle past ``CHECK_AFTER_S`` is also checked with an empty query
  (a network may drop a connection silently); one past ``MAX_IDLE_S`` or ``MAX_AGE_S`` is closed.
- No thread of its own (psycopg_pool resets returned connections in a worker thread, so the
  next statement of the same request would wait for that thread; and each pool there brings threads).
- Before a fork (Celery's pool children) every idle connection is closed: a child must never
  talk on its parent's socket.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
from collections import OrderedDict
from types import TracebackType
from typing import Any

import psycopg
from psycopg.pq import ConnStatus, ExecStatus, TransactionStatus

CHECK_AFTER_S = 30.0
MAX_IDLE_S = 300.0
MAX_AGE_S = 3600.0
MAX_POOLS = 64  # logins with idle connections kept (the reader, the service user, principals' roles)


class _Idle:
    __slots__ = ("born", "conn", "since")

    def __init__(self, conn: psycopg.Connection[Any], since: float, born: float) -> None:
        self.conn, self.since, self.born = conn, since, born


class _Pool:
    def __init__(self, conninfo: str, size: int) -> None:
        self.conninfo, self.size = conninfo, size
        self.idle: list[_Idle] = []  # last returned at the end: the warmest is taken first
        self.lock = threading.Lock()

    def take(self) -> tuple[psycopg.Connection[Any], float] | None:
        now = time.monotonic()
        while True:
            with self.lock:
                if not self.idle:
                    return None
                item = self.idle.pop()
            if now - item.since > MAX_IDLE_S or now - item.born > MAX_AGE_S or not _usable(item, now):
                _close(item.conn)
                continue
            return item.conn, item.born

    def give_back(self, conn: psycopg.Connection[Any], born: float) -> None:
        if not _reset(conn):
            return
        with self.lock:
            if len(self.idle) < self.size:
                self.idle.append(_Idle(conn, time.monotonic(), born))
                return
        _close(conn)

    def close(self) -> None:
        with self.lock:
            items, self.idle = self.idle, []
        for item in items:
            _close(item.conn)


_pools: OrderedDict[str, _Pool] = OrderedDict()
_lock = threading.Lock()


def _pool(conninfo: str, size: int) -> _Pool:
    with _lock:
        pool = _pools.get(conninfo)
        if pool is None:
            pool = _pools[conninfo] = _Pool(conninfo, size)
            while len(_pools) > MAX_POOLS:
                _, oldest = _pools.popitem(last=False)
                oldest.close()
        _pools.move_to_end(conninfo)
        return pool


BASE_NAME = "daiquiri"


def pooled(conninfo: str, *, size: int, application_name: str = BASE_NAME, autocommit: bool = False) -> Lease:
    """A connection for ``conninfo``, taken from its pool or opened now (so a failure to connect is raised
    here), for a ``with`` block that behaves like ``with psycopg.connect(...)``: committed at its end,
    rolled back on an exception; then reset and kept, or closed."""
    pool = _pool(conninfo, size)
    taken = pool.take() if size > 0 else None
    if taken is None:
        conn = psycopg.connect(conninfo, application_name=BASE_NAME, autocommit=autocommit)
        conn.prepare_threshold = None  # DISCARD ALL drops server-side prepared statements: psycopg must keep none
        born = time.monotonic()
    else:
        conn, born = taken
        conn.autocommit = autocommit
    lease = Lease(pool if size > 0 else None, conn, born)
    if application_name != BASE_NAME:  # a job's tag, for abort(job_id) to find it (DISCARD ALL resets it)
        try:
            _set_name(conn, application_name)
        except BaseException:
            lease.__exit__(*sys.exc_info())
            raise
    return lease


class Lease:
    """One use of a pooled connection: ``with pooled(...) as conn``."""

    def __init__(self, pool: _Pool | None, conn: psycopg.Connection[Any], born: float) -> None:
        self.pool, self.conn, self.born = pool, conn, born

    def __enter__(self) -> psycopg.Connection[Any]:
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        conn = self.conn
        try:
            if exc_type is None and not conn.autocommit and not conn.closed:
                conn.commit()
            else:
                _rollback(conn)
        finally:
            if self.pool is not None:
                self.pool.give_back(conn, self.born)
            else:
                _close(conn)


def _set_name(conn: psycopg.Connection[Any], name: str) -> None:
    if conn.autocommit:
        conn.execute("SELECT set_config('application_name', %s, false)", [name])
        return
    conn.autocommit = True  # a session setting, made outside the caller's transaction
    try:
        conn.execute("SELECT set_config('application_name', %s, false)", [name])
    finally:
        conn.autocommit = False


def _rollback(conn: psycopg.Connection[Any]) -> None:
    """Roll back what the block left open; a connection that cannot (mid-COPY, broken) is closed."""
    try:
        if not conn.closed and conn.pgconn.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            conn.rollback()
    except Exception:  # any failure here means: do not keep it
        _close(conn)


def _usable(item: _Idle, now: float) -> bool:
    """Whether an idle connection may be handed out: its reset succeeded, and, idle long, it still answers."""
    conn = item.conn
    if conn.closed or conn.broken or not _reset_done(conn) or not _not_hung_up(conn):
        return False
    if now - item.since <= CHECK_AFTER_S:
        return True
    try:
        conn.autocommit = True
        conn.execute("")
        return True
    except psycopg.Error:
        return False


def _not_hung_up(conn: psycopg.Connection[Any]) -> bool:
    """No round trip: a server that ended the session (restart, pg_terminate_backend) said so on the socket."""
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
        if readable:
            conn.pgconn.consume_input()
        return conn.pgconn.status == ConnStatus.OK and not conn.pgconn.is_busy()
    except (OSError, ValueError, psycopg.Error):
        return False


def _reset(conn: psycopg.Connection[Any]) -> bool:
    """Start bringing a returned connection back to a new session's state; False (and closed) if it cannot be.

    ``DISCARD ALL`` is sent now and its answer read when the connection is next taken (``_reset_done``):
    the session is clean (locks released, temporary tables gone) as soon as the server has run it, and
    nobody waits for the round trip."""
    if conn.closed or conn.broken or conn.pgconn.transaction_status != TransactionStatus.IDLE:
        _close(conn)
        return False
    conn.autocommit = True
    try:
        conn.pgconn.send_query(b"DISCARD ALL")
    except psycopg.Error:
        _close(conn)
        return False
    return True


def _reset_done(conn: psycopg.Connection[Any]) -> bool:
    """Read the answer of the reset sent on return: True when it succeeded and the connection is idle."""
    try:
        ok = True
        while (result := conn.pgconn.get_result()) is not None:
            ok = ok and result.status == ExecStatus.COMMAND_OK
        return ok and conn.pgconn.transaction_status == TransactionStatus.IDLE
    except psycopg.Error:
        return False


def _close(conn: psycopg.Connection[Any]) -> None:
    try:
        conn.close()
    except psycopg.Error:
        pass


def close_all() -> None:
    """Close every idle pooled connection (engines being reset, a fork coming)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        pool.close()


def idle_count(conninfo: str) -> int:
    """How many idle connections the pool of ``conninfo`` holds (tests, diagnostics)."""
    with _lock:
        pool = _pools.get(conninfo)
    return len(pool.idle) if pool is not None else 0


os.register_at_fork(before=close_all)
