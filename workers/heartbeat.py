"""Worker liveness: every worker process reports itself alive to the portal database.

A thread of the worker's main process (started on ``worker_ready``) records a
heartbeat every WORKER_HEARTBEAT_SECONDS (apps/core/actions.py); a clean stop
removes it at once, a killed worker's goes stale. apps/core/workers.py reads
them for VOSI availability and the query pages. The same thread tidies the
embedded broker: kombu's SQLAlchemy transport keeps delivered messages.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from typing import Any

from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings

log = logging.getLogger(__name__)
_stop = threading.Event()
_name: list[str] = []  # this process's heartbeat name, once the worker is ready
PURGE_EVERY_S = 60.0


def _beat(name: str, started: datetime) -> None:
    from django.db import connection

    from apps.core.actions import do_record_heartbeat

    try:
        do_record_heartbeat(name, started)
    except Exception:  # the portal database is away for a moment: say so, beat again later
        log.warning("worker heartbeat failed", exc_info=True)
    finally:
        connection.close()


def _purge_broker() -> None:
    from daiquiri.celery import purge_delivered_messages

    url = str(settings.CELERY_BROKER_URL)
    if url.startswith("sqlite:"):
        try:
            purge_delivered_messages(url)
        except Exception:
            log.warning("could not purge delivered broker messages", exc_info=True)


def _loop(name: str) -> None:
    started, purged = datetime.now(UTC), 0.0
    while not _stop.is_set():
        _beat(name, started)
        if time.monotonic() - purged >= PURGE_EVERY_S:
            _purge_broker()
            purged = time.monotonic()
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

    from apps.core.actions import do_forget_worker

    try:
        do_forget_worker(_name[0])
    except Exception:
        log.warning("could not remove the worker heartbeat", exc_info=True)
    finally:
        connection.close()
