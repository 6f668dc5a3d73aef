"""Side effects of the core app: workers report themselves alive, and leave."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.utils import timezone

from .fingerprint import configuration_fingerprint
from .models import WorkerHeartbeat

FORGET_AFTER = timedelta(days=1)


def do_record_heartbeat(name: str, started: datetime, fingerprint: str | None = None) -> None:
    """Mark a worker process alive now, with its configuration (default: this process's); rows of workers silent for a day go."""
    fingerprint = configuration_fingerprint() if fingerprint is None else fingerprint
    now = timezone.now()
    WorkerHeartbeat.objects.update_or_create(name=name[:255], defaults={"started": started, "seen": now, "fingerprint": fingerprint})
    WorkerHeartbeat.objects.filter(seen__lt=now - FORGET_AFTER).delete()


def do_forget_worker(name: str) -> None:
    """A worker stops cleanly: it is no longer counted at once, without waiting for its row to go stale."""
    WorkerHeartbeat.objects.filter(name=name[:255]).delete()
