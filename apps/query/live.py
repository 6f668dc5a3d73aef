"""Job status pushed to open pages: one Channels group per owner.

With a cross-process channel layer (Redis) workers send to the group; with the
embedded in-memory layer nothing crosses processes, so the consumer polls the
database instead (apps/query/consumers.py).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from apps.uws import phases

from .models import QueryJob
from .queues import queue_or_default

log = logging.getLogger(__name__)


def group_name(owner_id: int | None) -> str:
    return f"query-jobs-{owner_id if owner_id is not None else 'anonymous'}"


def cross_process() -> bool:
    layer = get_channel_layer()
    return layer is not None and type(layer).__name__ != "InMemoryChannelLayer"


def queue_position(job: QueryJob) -> int | None:
    """1 for the next QUEUED job of its queue to start, 2 for the one after…; None unless it waits."""
    if job.phase != phases.QUEUED:
        return None
    ahead = QueryJob.objects.filter(phase=phases.QUEUED, queue=job.queue)
    if job.queued is not None:
        ahead = ahead.filter(queued__lt=job.queued)
    return ahead.exclude(pk=job.pk).count() + 1


def job_status(job: QueryJob) -> dict[str, Any]:
    """What pages show of a job, live: phase, counts, times, the queue's time limit and (waiting) the place in line.

    ``size_bytes`` is None until the result is stored, so pages never print "0 bytes" for a size not known yet;
    ``server_time`` lets a page count the elapsed time with the server's clock.
    """
    limit = queue_or_default(job.queue).timeout_for(job.execution_duration)
    return {
        "id": str(job.id),
        "phase": job.phase,
        "row_count": job.row_count,
        "size_bytes": job.size_bytes if job.phase == phases.COMPLETED and job.result_table else None,
        "error": job.error[:500],
        "table_name": job.table_name,
        "start_time": job.start_time.isoformat() if job.start_time else None,
        "end_time": job.end_time.isoformat() if job.end_time else None,
        "queue": job.queue,
        "time_limit": limit,
        "queue_position": queue_position(job),
        "server_time": timezone.now().isoformat(),
    }


def notify(job: QueryJob) -> None:
    """Tell the owner's open pages, off the job's critical path; a failed push never fails the job."""
    if job.owner_id is None or not cross_process():
        return
    status = job_status(job)
    threading.Thread(target=_send, args=(job.owner_id, status), name="query-notify", daemon=True).start()


def _send(owner_id: int, status: dict[str, Any]) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group_name(owner_id), {"type": "job.status", "job": status})
    except Exception:  # the page's slow poll catches up
        log.warning("could not push the status of job %s", status["id"], exc_info=True)
