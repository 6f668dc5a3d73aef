"""VOSI availability, answered from memory.

Clients and load balancers poll /tap/availability often; checking the
database and the worker heartbeats on every call cost most of the request's
time. Each web process looks at the heartbeats at most once per ``TTL_S`` and
remembers until when the newest one keeps a worker alive (its time plus
WORKER_STALE_AFTER_SECONDS): between looks, the answer follows the clock, so
a worker that froze is reported at the same moment by every process, and no
process says "available" after another said it is not. A worker that starts
is seen within TTL_S; a heartbeat written or removed by this process, or a
settings change, makes the next request look again at once.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Max
from django.utils import timezone

from apps.core.fingerprint import configuration_fingerprint
from apps.core.models import WorkerHeartbeat
from apps.core.workers import eager, no_worker_note

from . import vosi

TTL_S = 2.0
UP_NOTE = "The service is accepting queries."


@dataclass(frozen=True)
class _Look:
    at: float  # time.monotonic() of the look
    alive_until: dt.datetime | None  # a worker of this configuration counts as alive until then
    down_note: str  # why not, once that time has passed (or the database failed)
    database_up: bool


_lock = threading.Lock()
_last: _Look | None = None


def availability_body(up_since: dt.datetime) -> bytes:
    """The VOSI availability document; the database is asked at most once per TTL_S in this process."""
    look = _fresh_look()
    up = look.database_up and (eager() or (look.alive_until is not None and timezone.now() <= look.alive_until))
    return vosi.availability_document(up, up_since if up else None, UP_NOTE if up else look.down_note)


def remembered_availability_body(up_since: dt.datetime) -> bytes | None:
    """The document from memory alone, or None when it is time to look at the database (then ask Django)."""
    look = _last
    if look is None or time.monotonic() - look.at >= TTL_S:
        return None
    return availability_body(up_since)


def _fresh_look() -> _Look:
    global _last
    look = _last
    if look is not None and time.monotonic() - look.at < TTL_S:
        return look
    with _lock:  # one look at a time; the others use its answer
        look = _last
        if look is None or time.monotonic() - look.at >= TTL_S:
            look = _last = _look()
        return look


def _look() -> _Look:
    at = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        newest = WorkerHeartbeat.objects.filter(fingerprint=configuration_fingerprint()).aggregate(newest=Max("seen"))["newest"]
        alive_until = newest + dt.timedelta(seconds=settings.WORKER_STALE_AFTER_SECONDS) if newest is not None else None
        # Without a live worker, async jobs would wait in QUEUED for ever: not available, and why.
        return _Look(at, alive_until, no_worker_note(), True)
    except Exception as exc:  # any database failure means "not available", with the reason
        return _Look(at, None, f"The metadata database cannot be reached: {exc}", False)


def forget(*args: Any, **kwargs: Any) -> None:
    """Signal handler: the next request looks again (a heartbeat came or went, settings changed)."""
    global _last
    _last = None
