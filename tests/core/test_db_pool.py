"""The portal's PostgreSQL connection pool: bounded by settings, never shared across a fork, refused with
persistent connections (each ASGI request thread kept its own and PostgreSQL ran out of connections)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

POOLED = """
import django
django.setup()
from django.db import connection

def backend():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    connection.close()  # back to the pool
    return pid
"""  # a child process's set-up: Django, and the server process of a pooled connection

FORKER = POOLED + """
import os

before = backend()
reader, writer = os.pipe()
child = os.fork()
if child == 0:
    os.write(writer, str(backend()).encode())
    os._exit(0)
os.waitpid(child, 0)
print(before, os.read(reader, 64).decode(), backend(), connection.settings_dict["OPTIONS"]["pool"]["max_size"])
"""


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DB_POOL") and k != "DB_CONN_MAX_AGE"}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
                          env={**clean, "DJANGO_SETTINGS_MODULE": "daiquiri.settings", "PYTHONPATH": str(ROOT), **env})


@pytest.mark.skipif(os.environ.get("DB_ENGINE") != "postgresql", reason="the pool is PostgreSQL's")
def test_a_forked_child_never_uses_its_parents_pooled_connection() -> None:
    result = run(FORKER, DB_NAME="postgres", DB_POOL_MAX_SIZE="3")
    assert result.returncode == 0, result.stderr[-3000:]
    before, child, after, size = (int(x) for x in result.stdout.split())
    assert size == 3
    # Without closing the pool before the fork, the child would take the parent's idle pooled connection
    # (the same server process: two clients on one socket); and the parent still works afterwards.
    assert child != before and child != after


def test_persistent_connections_are_refused_with_the_pool() -> None:
    result = run("import django; django.setup()", DB_ENGINE="postgresql", DB_CONN_MAX_AGE="60")
    assert result.returncode != 0 and "DB_CONN_MAX_AGE must be 0 while the connection pool is on" in result.stderr


def test_the_pool_is_on_by_default_and_bounded() -> None:
    code = ("import django; django.setup(); from django.conf import settings as s; d = s.DATABASES['default']; "
            "print(d['CONN_MAX_AGE'], d['OPTIONS']['pool']['max_size'], d['OPTIONS']['application_name'])")
    result = run(code, DB_ENGINE="postgresql")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["0", "10", "daiquiri-portal"]


KILLED = POOLED + """
import psycopg

idle = backend()
settings = connection.settings_dict
with psycopg.connect(host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname="postgres", autocommit=True) as admin:
    admin.execute("SELECT pg_terminate_backend(%s)", [idle])  # as a database restart does to every idle connection
print(idle, backend())
"""


@pytest.mark.skipif(os.environ.get("DB_ENGINE") != "postgresql", reason="the pool is PostgreSQL's")
def test_a_pooled_connection_the_server_ended_is_replaced_not_handed_to_the_next_query() -> None:
    """After a database restart, a web request or a worker's job taking an idle pooled connection got an error;
    the pool now checks a connection as it is taken, and opens a new one for a dead one."""
    result = run(KILLED, DB_NAME="postgres", DB_POOL_MAX_SIZE="1")
    assert result.returncode == 0, result.stderr[-3000:]
    killed, fresh = (int(x) for x in result.stdout.split())
    assert fresh != killed
