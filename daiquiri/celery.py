"""The Celery application: settings come from Django's (CELERY_* names).

Every module directly inside ``workers/`` is a task module and is imported by
the worker; engines live in ``workers/engines/`` and are imported by tasks.

``EmbeddedTransport`` is the broker of the embedded set-up (settings: a
``sqlite:///`` broker URL): kombu's SQLAlchemy transport on an SQLite file,
polled every 0.1 s, in WAL mode, readable by its owner only.
"""

import os
import pkgutil
import sqlite3
from pathlib import Path
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, worker_init
from kombu.transport.sqlalchemy import Transport as SQLAlchemyTransport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "daiquiri.settings")

_WORKERS_DIR = Path(__file__).resolve().parent.parent / "workers"

app = Celery("daiquiri", task_cls="workers.checked:CheckedTask")  # runs only tasks of its own configuration
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.imports = [f"workers.{m.name}" for m in pkgutil.iter_modules([str(_WORKERS_DIR)]) if not m.ispkg]


@before_task_publish.connect
def _stamp_configuration(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    from apps.core.fingerprint import stamp_task_message

    stamp_task_message(headers)


@worker_init.connect
def _check_configuration(**kwargs: object) -> None:
    from apps.core.checks import refuse_to_start_if_misconfigured

    refuse_to_start_if_misconfigured()


class EmbeddedTransport(SQLAlchemyTransport):  # type: ignore[misc]
    """kombu's SQLAlchemy transport, tuned for one SQLite file shared by the web server and workers.

    kombu's default poll of 1 s would add up to a second to every job; 0.1 s costs a few
    hundred microseconds of SQLite lock per poll.
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
    """
    path = url.removeprefix("sqlite:///")
    if path in EmbeddedTransport._prepared or not path or path == ":memory:":
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
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
