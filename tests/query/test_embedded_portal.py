"""The embedded portal of ``scripts/run``, as real processes: load, a killed worker, file modes, a clean stop.

One portal (SQLite, the SQLite broker, a supervised Celery worker, uvicorn) is
started for the module with its own var directory; the tests run in file order
and the last one stops it. Short heartbeat and sweep intervals keep it quick.
"""

from __future__ import annotations

import os
import signal
import stat
import time
from collections.abc import Iterator

import pytest
import requests

from .embedded_portal import Portal, run_load, start_portal, submit, wait_for

FAST = {"WORKER_HEARTBEAT_SECONDS": "1", "WORKER_STALE_AFTER_SECONDS": "3", "QUERY_REAPER_SECONDS": "1",
        "QUERY_REQUEUE_AFTER_SECONDS": "3", "QUERY_HEARTBEAT_SECONDS": "1", "QUERY_STALE_AFTER_SECONDS": "5"}
# Three copies of the demo's 20,000 sources: DuckDB counts for far longer than the test needs.
SLOW = ("SELECT COUNT(*) AS n FROM gaia.source AS a, gaia.source AS b, gaia.source AS c "
        "WHERE a.ra + b.ra + c.ra > 999 AND a.dec * b.dec * c.dec > 0")


@pytest.fixture(scope="module")
def portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Portal]:
    started = start_portal(tmp_path_factory.mktemp("embedded") / "var", FAST)
    yield started
    started.stop(signal.SIGTERM)
    for pid in started.processes():
        os.kill(pid, signal.SIGKILL)


def _until(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.25)
    return False


def test_the_secret_key_and_the_databases_are_readable_by_their_owner_only(portal: Portal) -> None:
    databases = sorted(p.name for p in portal.var.glob("*.sqlite3*"))  # with their -wal and -shm files
    assert {"portal.sqlite3", "broker.sqlite3"} <= set(databases)
    for name in ("secret_key", *databases):
        assert stat.S_IMODE((portal.var / name).stat().st_mode) == 0o600, name
    assert stat.S_IMODE(portal.var.stat().st_mode) == 0o700
    shared = [str(p) for p in portal.var.rglob("*") if not p.is_symlink() and stat.S_IMODE(p.stat().st_mode) & 0o077]
    assert shared == []


def test_concurrent_clients_complete_every_async_job_and_the_worker_survives(portal: Portal) -> None:
    worker = portal.worker_pid()
    result = run_load(portal.tap, jobs=60, clients=10, timeout=300)
    assert result.phases == {"COMPLETED": 60}, portal.output()[-3000:]
    assert result.wrong_rows == []
    assert portal.restarts() == 0 and portal.worker_pid() == worker
    assert portal.available() == (True, "The service is accepting queries.")


def test_a_dead_worker_is_reported_then_restarted_and_no_job_is_left_stuck(portal: Portal) -> None:
    session = requests.Session()
    slow = submit(session, portal.tap, SLOW)
    assert wait_for(session, slow, 60, {"EXECUTING", "COMPLETED", "ERROR"}) == "EXECUTING"
    worker = portal.worker_pid()
    # A frozen worker stops its heartbeats: TAP and the query page say no worker is alive.
    os.kill(worker, signal.SIGSTOP)
    assert _until(lambda: not portal.available()[0], 30), portal.available()
    assert "No query worker is running" in portal.available()[1]
    assert 'id="workers-notice"' in session.get(f"{portal.base}/query/", timeout=30).text
    waiting = [submit(session, portal.tap, f"SELECT TOP {n} source_id FROM gaia.source") for n in (1, 2, 3, 4, 5)]
    assert {wait_for(session, url, 0) for url in waiting} == {"QUEUED"}
    # Killed for good (mid-job): the supervisor starts a new worker, whose start ends the killed job in
    # ERROR and sends again the jobs whose messages died with the old one.
    os.kill(worker, signal.SIGKILL)
    assert _until(lambda: portal.available()[0], 90), portal.output()[-3000:]
    assert portal.restarts() == 1 and portal.worker_pid() != worker
    assert 'id="workers-notice"' not in session.get(f"{portal.base}/query/", timeout=30).text
    assert wait_for(session, slow, 60) == "ERROR"
    assert "worker running this query stopped" in session.get(f"{slow}/error", timeout=30).text
    assert [wait_for(session, url, 120) for url in waiting] == ["COMPLETED"] * 5, portal.output()[-3000:]


def test_stopping_the_portal_stops_every_process_it_started(portal: Portal) -> None:
    assert len(portal.processes()) >= 4  # supervisor, web server, worker and its pool
    # Ctrl-C: the supervisor gives the worker its grace period, then kills what is left; a hang fails the wait.
    assert portal.stop(signal.SIGINT, timeout=60) == 0
    assert portal.processes() == []
