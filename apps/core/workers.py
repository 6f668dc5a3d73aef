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
from django.utils import timezone

from .models import WorkerHeartbeat

NO_WORKER_NOTE = ("No query worker is running: new queries are accepted but wait in the queue "
                  "until a worker starts again.")


def eager() -> bool:
    return bool(settings.CELERY_TASK_ALWAYS_EAGER or current_app.conf.task_always_eager)


def live_workers() -> int:
    """How many worker processes reported themselves within the stale limit."""
    since = timezone.now() - timedelta(seconds=settings.WORKER_STALE_AFTER_SECONDS)
    return WorkerHeartbeat.objects.filter(seen__gte=since).count()


def workers_alive() -> bool:
    return eager() or live_workers() > 0
