"""The Celery application: settings come from Django's (CELERY_* names).

Every module directly inside ``workers/`` is a task module and is imported by
the worker; engines live in ``workers/engines/`` and are imported by tasks.
Apps never import them: they send a task by name (apps/core/tasks.py).

Periodic work is scheduled one way, here: settings.PERIODIC_TASKS names each task and
its interval (the query reaper, the compute reaper, MyScratch and Temporary-file clean-up,
the embedded broker's tidying), and every worker runs that schedule itself, in one thread of
its main process (``run_periodic``), once as it starts and then at each interval. No beat
process is needed or used (``celery beat`` finds no schedule); with several workers each
runs the schedule, which is safe: every periodic task is a conditional UPDATE or a delete
of what is past its time, so a second run finds nothing left to do. The worker's own
liveness heartbeat (workers/heartbeat.py) is not work: it stays a thread of each worker.

``EmbeddedTransport`` is the broker of the embedded set-up (settings: a
``sqlite:///`` broker URL): kombu's SQLAlchemy transport on an SQLite file,
polled every 0.1 s, in WAL mode, readable by its owner only.
"""

import fcntl
import logging
import os
import pkgutil
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from celery import Celery
from celery.fixups.django import DjangoFixup, DjangoWorkerFixup
from celery.signals import before_task_publish, worker_init, worker_ready, worker_shutting_down
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

from apps.core.warmup import preload_sky_libraries

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daiquiri.settings")

log = logging.getLogger(__name__)
_WORKERS_DIR = Path(__file__).resolve().parent.parent / "workers"


class PooledWorkerFixup(DjangoWorkerFixup):  # type: ignore[misc]
    """Between tasks, a connection goes back to the pool as at the end of a Django request; the pool stays.

    Celery's own fix-up closes each prefork child's whole connection pool before and after every task, so every
    job opened a new PostgreSQL connection and set it up again: 12-17 ms of a tiny async job's 45 ms (measured:
    a new server process per job). A child never shares a pool with its parent: settings._close_pools closes
    it before every fork, and the child opens its own at its first query.
    """

    def close_database(self, **kwargs: Any) -> None:
        for conn in self._db.connections.all(initialized_only=True):
            conn.close_if_unusable_or_obsolete()


class PooledDjangoFixup(DjangoFixup):  # type: ignore[misc]
    """Celery's Django fix-up (Django set up in workers, its checks, caches closed after tasks), pooled as above."""

    _worker_fixup: DjangoWorkerFixup | None

    @property
    def worker_fixup(self) -> DjangoWorkerFixup:
        if self._worker_fixup is None:  # made once the worker starts: the app's configuration is read by then
            self._worker_fixup = PooledWorkerFixup(self.app)
        return self._worker_fixup


# Runs only tasks of its own configuration (CheckedTask).
app = Celery("daiquiri", task_cls="workers.checked:CheckedTask", fixups=[lambda app: PooledDjangoFixup(app).install()])
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = [f"workers.{m.name}" for m in pkgutil.iter_modules([str(_WORKERS_DIR)]) if not m.ispkg]


@before_task_publish.connect
def _stamp_configuration(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    # deferred, as below: this module loads before Django is set up (daiquiri/__init__.py imports it)
    from apps.core.fingerprint import stamp_task_message

    stamp_task_message(headers)


@worker_init.connect
def _check_configuration(**kwargs: object) -> None:
    # deferred: the checks read models, which load only once Django is set up
    from apps.core.checks import refuse_to_start_if_misconfigured

    refuse_to_start_if_misconfigured()
    preload_sky_libraries()  # before the pool forks: no child pays it on its first positional query


# ---- periodic work --------------------------------------------------------------------

_periodic_stop = threading.Event()


def run_in_place(name: str) -> None:
    """Run the task ``name`` in this thread (not through the broker, where it would wait behind jobs)."""
    from django.db import connection

    try:  # the worker imported every task module as it booted (importing them again here would reset logging)
        result = app.tasks[name].apply()
        if result.failed():
            log.error("periodic task %s failed: %s", name, result.result)
    finally:
        connection.close()  # this thread's connection would otherwise idle until the next run


def run_periodic(schedule: Mapping[str, float], stop: threading.Event, run: Callable[[str], None] = run_in_place) -> None:
    """Run each task of ``schedule`` (name -> seconds) now, then every ``seconds``, until ``stop`` is set."""
    due = dict.fromkeys(schedule, time.monotonic())
    while due and not stop.is_set():
        for name, at in due.items():
            if at <= time.monotonic() and not stop.is_set():
                try:
                    run(name)
                except Exception:  # one failed run never stops the schedule
                    log.exception("periodic task %s failed", name)
                due[name] = time.monotonic() + float(schedule[name])
        stop.wait(max(0.0, min(due.values()) - time.monotonic()))


@worker_ready.connect
def _start_periodic(**kwargs: object) -> None:
    from django.conf import settings

    schedule = dict(settings.PERIODIC_TASKS)
    threading.Thread(target=run_periodic, args=(schedule, _periodic_stop), name="periodic-tasks", daemon=True).start()


@worker_shutting_down.connect
def _stop_periodic(**kwargs: object) -> None:
    _periodic_stop.set()


class EmbeddedTransport(SQLAlchemyTransport):  # type: ignore[misc]
    """kombu's SQLAlchemy transport, tuned for one SQLite file shared by the web server and workers.

    kombu's default poll of 1 s would add up to a second to every job; 0.1 s costs a few
    hundred microseconds of SQLite lock per poll. Not shorter: at 0.02 s, a worker frozen by
    tests/query/test_embedded_portal.py (SIGSTOP) left a web request that sent a task waiting
    60 s; a poll caught mid-way holds the broker's lock, and polling more often makes that likelier.
    """

    polling_interval = 0.1
    _prepared: set[str] = set()

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        prepare_sqlite_broker(str(client.hostname))


def prepare_sqlite_broker(url: str) -> None:
    """Create the broker file owner-only and in WAL mode (kept in the file: once per process is plenty).

    WAL lets producers read and append while the consumer holds its poll lock only briefly, and
    makes each commit one append instead of a rollback journal's two writes.

    Switching to WAL needs the file to itself, and SQLite answers "database is locked" at once
    (its busy timeout does not apply) when another connection is using it. The web server and
    workers start together on a new file, so every process and thread takes a lock file in turn,
    and only the first one, which finds the file not yet in WAL mode, switches it.
    """
    path = url.removeprefix("sqlite:///")
    if path in EmbeddedTransport._prepared or not path or path == ":memory:":
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(f"{path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # per open file: also orders this process's threads
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        conn = sqlite3.connect(path, timeout=30)
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]  # SQLite answers the mode it kept
                if mode != "wal":
                    log.warning("the broker file %s stays in %s mode: producers and workers will wait on each other", path, mode)
        finally:
            conn.close()
    finally:
        os.close(lock)  # releases the lock
    EmbeddedTransport._prepared.add(path)


def purge_delivered_messages(url: str) -> int:
    """Delete the messages kombu's SQLAlchemy transport has delivered (it keeps them, marked invisible).

    Safe at any time: a delivered message not yet acknowledged is held by its worker, which puts
    it back as a new row if it has to (kombu restores unacknowledged messages that way).
    """
    path = url.removeprefix("sqlite:///")
    if not Path(path).exists():
        return 0
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            return conn.execute("DELETE FROM kombu_message WHERE visible = 0").rowcount
    except sqlite3.OperationalError:  # no table yet: nothing was ever sent
        return 0
    finally:
        conn.close()
