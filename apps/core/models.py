"""Worker heartbeats: which task workers are alive, for VOSI availability and the query pages."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """One running worker process, as it last reported itself (workers/heartbeat.py).

    A worker that stops cleanly deletes its row; a killed one's row goes stale and is removed a day later.
    """

    name = models.CharField(max_length=255, unique=True)  # Celery node name and process id
    started = models.DateTimeField()
    seen = models.DateTimeField(db_index=True)
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Its configuration (apps/core/fingerprint.py).")

    def __str__(self) -> str:
        return self.name
