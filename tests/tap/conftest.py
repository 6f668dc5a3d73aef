"""Fixtures for the VO services: private folders per test, small demo catalogues, a live server."""

from __future__ import annotations

import base64
import os
import pathlib
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import User

from apps.accounts.actions import do_create_token

DEMO_ROWS = 2000


@pytest.fixture(autouse=True)
def _own_folders(settings: Any, tmp_path: pathlib.Path) -> Iterator[None]:
    """Each test gets its own var dir (uploads, MyDB) and science dir, so parallel runs never collide;
    engines are made afresh for them (DuckDB may only read the folders it was created with)."""
    from workers.engines import reset_engines

    settings.VAR_DIR = tmp_path / "var"
    settings.SCIENCE_DIR = tmp_path / "science"
    settings.MYDB_DIR = tmp_path / "mydb"
    settings.DEFAULT_ENGINE = "duckdb"
    for folder in (settings.VAR_DIR, settings.SCIENCE_DIR, settings.MYDB_DIR):
        pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
    reset_engines()
    yield
    reset_engines()


@pytest.fixture
def demo(db: None) -> list[Any]:
    """The demo Gaia-like and ZTF-like tables, public, in DuckDB (the embedded default)."""
    from apps.metadata.actions import GAIA_HEALPIX, do_generate_catalogue, do_save_function

    do_save_function(None, **GAIA_HEALPIX)
    return [do_generate_catalogue(None, key, rows=DEMO_ROWS, engine="duckdb") for key in ("gaia.source", "ztf.lightcurves")]


def basic_auth(user: User) -> str:
    """An Authorization header with the user name and a fresh API token as the password (what TOPCAT sends)."""
    _, key = do_create_token(user, f"tests {uuid.uuid4().hex[:8]}")
    return "Basic " + base64.b64encode(f"{user.username}:{key}".encode()).decode()


# --- a running portal (uvicorn, as scripts/run serves it) for VO clients -----------------------------------

ROOT = pathlib.Path(__file__).resolve().parents[2]
PG_SCIENCE_DB = "tap_science_test"


@dataclass
class LiveTap:
    base: str  # http://127.0.0.1:PORT
    url: str  # the TAP service URL
    user: User
    token: str
    auth: tuple[str, str]  # HTTP Basic: user name and API token
    pg_table: str | None  # schema.table of the PostgreSQL copy of the demo catalogue
    pg_error: str = ""
    env: dict[str, str] = field(default_factory=dict)  # the server's environment (another server on the same data)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgresql_science(name: str) -> str:
    """A science database; the PostgreSQL engine installs pg_sphere and q3c in it."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            con.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    return f"postgresql://postgres@127.0.0.1:5432/{name}"


def _wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the portal exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"the portal did not answer {url} within {seconds} s")


@pytest.fixture(scope="module")
def live_tap_env() -> dict[str, str]:
    """More environment for the portal of ``live_tap``; a test module overrides it (limits, pool sizes)."""
    return {}


@pytest.fixture(scope="module")
def live_tap(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory,
             live_tap_env: dict[str, str]) -> Iterator[LiveTap]:
    """Demo catalogues (DuckDB, and PostgreSQL with pg_sphere/q3c), a user with an API token, and the portal
    served by uvicorn on the test database. Committed data; flushed afterwards as transactional tests do."""
    from django.conf import settings
    from django.core.management import call_command
    from django.test import override_settings

    from apps.metadata.actions import GAIA_HEALPIX, do_generate_catalogue, do_save_function
    from tests.conftest import make_user

    root = tmp_path_factory.mktemp("live-tap")
    pg_url = _postgresql_science(PG_SCIENCE_DB)
    folders = {"SCIENCE_DIR": root / "science", "VAR_DIR": root / "var", "MYDB_DIR": root / "var" / "mydb"}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with django_db_blocker.unblock(), override_settings(CACHES=caches, SCIENCE_POSTGRESQL_URL=pg_url, **folders):
        from workers.engines import reset_engines

        reset_engines()
        do_save_function(None, **GAIA_HEALPIX)  # a user-defined function, declared in the capabilities
        for key in ("gaia.source", "ztf.lightcurves"):
            do_generate_catalogue(None, key, rows=DEMO_ROWS, engine="duckdb")
        pg_table, pg_error = None, ""
        try:
            pg_table = do_generate_catalogue(None, "gaia.source", rows=DEMO_ROWS, engine="postgresql").qualified_name
        except Exception as exc:  # reported by the PostgreSQL cone search test, not hiding the others
            pg_error = f"{type(exc).__name__}: {exc}"
        reset_engines()
        user = make_user("topcat")
        _, token = do_create_token(user, "TOPCAT")
        port = _free_port()
        env = {
            **os.environ, "DB_NAME": settings.DATABASES["default"]["NAME"], "DAIQUIRI_VAR_DIR": str(folders["VAR_DIR"]),
            "SCIENCE_DIR": str(folders["SCIENCE_DIR"]), "MYDB_DIR": str(folders["MYDB_DIR"]), "SCIENCE_POSTGRESQL_URL": pg_url,
            "REDIS_URL": "",  # a cache of its own: nothing shared with other test servers
            "CELERY_TASK_ALWAYS_EAGER": "true", "DEBUG": "false", "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SITE_URL": f"http://127.0.0.1:{port}", "DEFAULT_ENGINE": "duckdb",
            "QUERY_NATIVE_SQL_FOR": "public",  # registered users may write native SQL; anonymous TAP users may not
            **live_tap_env,
        }
        log = open(root / "uvicorn.log", "wb")  # closed below
        process = subprocess.Popen([str(ROOT / ".venv" / "bin" / "uvicorn"), "daiquiri.asgi:application", "--host", "127.0.0.1",
                                    "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(f"{base}/tap/availability", process)
            yield LiveTap(base, f"{base}/tap", user, token, (user.username, token), pg_table, pg_error, env)
        finally:
            process.terminate()
            process.wait(timeout=20)
            log.close()
            call_command("flush", interactive=False, verbosity=0)
