"""Worker liveness: every worker process reports itself alive to the portal database.

A thread of the worker's main process (started on ``worker_ready``) records a
heartbeat every WORKER_HEARTBEAT_SECONDS (apps/core/actions.py) while the
broker answers; a clean stop removes it at once, a killed (or frozen, or
cut-off) worker's goes stale. apps/core/workers.py reads
them for VOSI availability and the query pages. ``purge_broker`` tidies the
embedded broker (kombu's SQLAlchemy transport keeps delivered messages); it is
periodic work, scheduled with the rest in daiquiri/celery.py.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings

from apps.core.actions import do_forget_worker, do_record_heartbeat
from daiquiri.celery import purge_delivered_messages

log = logging.getLogger(__name__)
_stop = threading.Event()
_name: list[str] = []  # this process's heartbeat name, once the worker is ready
BROKER_TIMEOUT_S = 3.0


def beat(name: str, started: datetime) -> bool:
    """Record that this worker is alive, if it can take work: the broker must answer too.

    A worker whose broker is down (Redis restarted, unreachable) takes no job however alive its
    process is; it skips the beat, so availability turns false until the broker is back.
    """
    from django.db import connection


    if not broker_reachable():
        return False
    try:
        do_record_heartbeat(name, started)  # with this worker's configuration fingerprint
        return True
    except Exception:  # the portal database is away for a moment: say so, beat again later
        log.warning("worker heartbeat failed", exc_info=True)
        return False
    finally:
        connection.close()


def broker_reachable() -> bool:
    from celery import current_app

    try:
        with current_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_S)
        return True
    except Exception as exc:  # kombu raises the transport's own errors: any means "not reachable now"
        log.warning("worker heartbeat skipped: the broker cannot be reached (%s)", exc)
        return False


@shared_task(name="workers.heartbeat.purge_broker", ignore_result=True)
def purge_broker() -> int:
    """Delete the embedded broker's delivered messages (nothing to do with Redis)."""

    url = str(settings.CELERY_BROKER_URL)
    return purge_delivered_messages(url) if url.startswith("sqlite:") else 0


def _loop(name: str) -> None:
    started = datetime.now(UTC)
    while not _stop.is_set():
        beat(name, started)
        _stop.wait(settings.WORKER_HEARTBEAT_SECONDS)


@worker_ready.connect
def _start_heartbeat(sender: Any = None, **kwargs: Any) -> None:
    name = f"{getattr(sender, 'hostname', None) or 'worker'}:{os.getpid()}"
    _name.append(name)
    threading.Thread(target=_loop, args=(name,), name="worker-heartbeat", daemon=True).start()


@worker_shutting_down.connect
def _stop_heartbeat(**kwargs: Any) -> None:
    _stop.set()
    if not _name:
        return
    from django.db import connection


    try:
        do_forget_worker(_name[0])
    except Exception:
        log.warning("could not remove the worker heartbeat", exc_info=True)
    finally:
        connection.close()
