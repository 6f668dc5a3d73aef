"""When the portal's own database is unreachable or saturated, clients get 503 + Retry-After (retry later), not a 500.

A real portal (uvicorn) on the test database: its connections are cut and new ones refused by PostgreSQL
itself (ALLOW_CONNECTIONS false), as a restarting or overloaded server does; then the database comes back.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from django.db import OperationalError as DjangoOperationalError
from psycopg_pool import PoolTimeout

from apps.core.busy import is_busy_database
from tests.tap.conftest import ROOT, _free_port, _wait_until_up

APPLICATION = "daiquiri-busy-test"
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def portal(django_db_setup: None, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A portal with a small pool that gives up after one second; yields its URL and its database's name."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs the portal on PostgreSQL")
    database = connection.settings_dict["NAME"]  # the test database, migrated by django_db_setup
    port = _free_port()
    env = {**os.environ, "DB_NAME": database, "DB_POOL_MAX_SIZE": "2", "DB_POOL_MIN_SIZE": "0", "DB_POOL_TIMEOUT": "1",
           "DB_APPLICATION_NAME": APPLICATION, "DAIQUIRI_VAR_DIR": str(tmp_path), "REDIS_URL": "", "DEBUG": "false",
           "CELERY_TASK_ALWAYS_EAGER": "true", "ALLOWED_HOSTS": "127.0.0.1"}
    with open(tmp_path / "uvicorn.log", "wb") as log:
        process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "uvicorn"), "daiquiri.asgi:application", "--host",
                                    "127.0.0.1", "--port", str(port), "--log-level", "warning"],
                                   cwd=ROOT, env=env, stdout=log, stderr=log)
        try:
            _wait_until_up(f"http://127.0.0.1:{port}/tap/availability", process)
            yield f"http://127.0.0.1:{port}", database
        finally:
            process.terminate()
            process.wait(timeout=20)


def _refuse_connections(database: str, refuse: bool) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {"false" if refuse else "true"}')  # type: ignore[arg-type]
        if refuse:  # the pooled connections the portal holds are cut, as a restart does
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                          (APPLICATION,))


@pytest.mark.django_db  # the test database (migrated), which the portal below serves
def test_a_portal_whose_database_refuses_connections_answers_503_with_retry_after_and_recovers(
        portal: tuple[str, str]) -> None:
    base, database = portal
    page = f"{base}/"  # the home page lists the published tables: read from the portal's database every time
    assert requests.get(page, timeout=30).status_code == 200
    _refuse_connections(database, refuse=True)
    try:
        busy = requests.get(page, timeout=30)
        assert busy.status_code == 503, busy.text[:300]
        assert int(busy.headers["Retry-After"]) > 0
        assert "busy" in busy.text and "Traceback" not in busy.text
    finally:
        _refuse_connections(database, refuse=False)
    assert requests.get(page, timeout=30).status_code == 200  # the pool reconnects by itself


def _wrapped(cause: BaseException) -> DjangoOperationalError:
    error = DjangoOperationalError(str(cause))
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("error", [PoolTimeout("couldn't get a connection after 1.00 sec"),
                                   _wrapped(PoolTimeout("couldn't get a connection")),
                                   _wrapped(psycopg.OperationalError("connection refused"))])
def test_a_pool_timeout_or_a_refused_connection_counts_as_a_busy_database(error: BaseException) -> None:
    assert is_busy_database(error)


@pytest.mark.parametrize("error", [ValueError("a bug"), _wrapped(ValueError("not a database error")), None])
def test_a_bug_is_not_taken_for_a_busy_database(error: Any) -> None:
    assert not is_busy_database(error)
