"""Job status pushed to open pages: one Channels group per owner.

With a cross-process channel layer (Redis) workers send to the group; with the
embedded in-memory layer nothing crosses processes, so the consumer polls the
database instead (apps/query/consumers.py).

Every change of a job's phase also wakes the web requests blocked on it (UWS WAIT):
``notify`` publishes the job's id on Redis, and ``PhaseChanges`` waits for that message
between its looks at the database; without Redis it is a plain pause between looks.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from types import TracebackType
from typing import Any

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
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
    """Tell the owner's open pages, off the job's critical path, and wake WAITs on it; a failed push never fails the job."""
    publish_change(str(job.pk))
    if job.owner_id is None or not cross_process():
        return
    status = job_status(job)
    threading.Thread(target=_send, args=(job.owner_id, status), name="query-notify", daemon=True).start()


def _send(owner_id: int, status: dict[str, Any]) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group_name(owner_id), {"type": "job.status", "job": status})
    except Exception:  # the page's slow poll catches up
        log.warning("could not push the status of job %s", status["id"], exc_info=True)


# ---- waking a blocking WAIT -------------------------------------------------------------

PHASE_CHANNEL = "daiquiri:query-job-phase:"


@functools.cache
def _redis() -> redis.Redis | None:
    url = str(getattr(settings, "REDIS_URL", "") or "")
    return redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0) if url else None


def publish_change(job_id: str) -> None:
    """Wake whoever waits on the job (a UWS WAIT, a request whose sync query a worker runs)."""
    client = _redis()
    if client is None:
        return
    try:
        client.publish(PHASE_CHANNEL + job_id, "1")
    except redis.RedisError:  # a WAIT still sees the change at its next look at the database
        log.warning("could not publish the phase change of job %s", job_id, exc_info=True)


class PhaseChanges:
    """``pause(s)`` returns after ``s`` seconds, or as soon as ``notify`` was called for the job (with Redis).

    Subscribed on entry: a caller looks at the job's phase after entering, so no change is missed.
    """

    def __init__(self, job_id: str) -> None:
        self.channel = PHASE_CHANNEL + job_id
        self._pubsub: Any = None

    @property
    def notified(self) -> bool:
        """Whether changes wake ``pause`` (else it only sleeps)."""
        return self._pubsub is not None

    def __enter__(self) -> PhaseChanges:
        client = _redis()
        if client is not None:
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._pubsub = pubsub
            except redis.RedisError:
                log.warning("cannot subscribe to the phase changes of a job: WAIT polls", exc_info=True)
        return self

    def pause(self, seconds: float) -> bytes | None:
        """Wait; what was published on the job's channel, if anything (a worker may send a small result there)."""
        if self._pubsub is None:
            time.sleep(seconds)
            return None
        deadline = time.monotonic() + seconds
        try:
            while (left := deadline - time.monotonic()) > 0:
                message = self._pubsub.get_message(timeout=left)
                if message is not None:
                    return bytes(message["data"])
        except redis.RedisError:
            self._close()
            time.sleep(max(0.0, deadline - time.monotonic()))
        return None

    def _close(self) -> None:
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except redis.RedisError:
                pass
            self._pubsub = None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._close()
