"""Are task workers alive? Read from the heartbeats workers write (apps/core/models.py).

Queries wait in QUEUED until a worker takes them, so VOSI availability and the query
pages say so when no worker has reported itself for WORKER_STALE_AFTER_SECONDS.
With eager tasks (tests, CELERY_TASK_ALWAYS_EAGER) the web process runs tasks itself:
workers count as alive.
"""

from __future__ import annotations

from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from .fingerprint import configuration_fingerprint
from .models import WorkerHeartbeat

NO_WORKER_NOTE = ("No query worker is running: new queries are accepted but wait in the queue "
                  "until a worker starts again.")
MISMATCH_NOTE = ("A worker is running with another configuration than this web process (another database, broker, "
                 "science engine or storage folder) and takes no job: restart it with the same settings.")


def eager() -> bool:
    return bool(settings.CELERY_TASK_ALWAYS_EAGER or current_app.conf.task_always_eager)


def _recent() -> QuerySet[WorkerHeartbeat]:
    return WorkerHeartbeat.objects.filter(seen__gte=timezone.now() - timedelta(seconds=settings.WORKER_STALE_AFTER_SECONDS))


def live_workers() -> int:
    """How many worker processes with this web process's configuration reported themselves within the stale limit."""
    return _recent().filter(fingerprint=configuration_fingerprint()).count()


def mismatched_workers() -> int:
    """Live workers with another configuration (apps/core/fingerprint.py): they refuse this portal's tasks."""
    return _recent().exclude(fingerprint=configuration_fingerprint()).count()


def no_worker_note() -> str:
    return MISMATCH_NOTE if mismatched_workers() else NO_WORKER_NOTE


def workers_alive() -> bool:
    return eager() or live_workers() > 0
