"""Synchronous queries (TAP sync, cone search): the per-user limit, the stream, the heartbeat, the reaper's part.

A synchronous query runs inside a web request, recorded as a QueryJob of
source ``tap-sync`` in phase EXECUTING while its rows stream. Such a record
must never outlive its request, whatever ends it:

- rows done, or the query fails: ``SyncResult`` finishes the job (COMPLETED/ERROR);
- the client goes away mid-stream: closing the stream finishes it (ABORTED);
- the response is dropped before its first row (a client gone during planning):
  the stream never starts, so nothing would run its ``finally``. The heartbeat
  thread holds the result weakly and ends such an orphan in ERROR;
- the web process dies: its heartbeats stop, and ``reap_sync`` (run by the
  reaper) ends the job in ERROR once it is QUERY_SYNC_STALE_AFTER_SECONDS silent.

``check_sync_limit`` counts the live (not stale) sync jobs of the same user,
or of the same client address for anonymous users, against QUERY_SYNC_CONCURRENCY.
"""

from __future__ import annotations

import logging
import threading
import uuid
import weakref
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyarrow as pa
from django.conf import settings
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.adql.translate import OutputColumn
from apps.uws import phases

from .models import QueryJob
from .planning import QueryError, error_message

log = logging.getLogger(__name__)
_Batches = Generator[pa.RecordBatch, None, None]

CLIENT_KEY = "client_address"  # in an anonymous sync job's parameters: whose slot it takes
INTERRUPTED = "The download was interrupted: the client closed the connection."
ORPHANED = "The synchronous query was interrupted before its result was sent."
PROCESS_GONE = "The synchronous query was interrupted: the web server process running it stopped."


class SyncLimitReached(QueryError):
    """Too many synchronous queries at once for this user (or client address); try again after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _stale_before(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.QUERY_SYNC_STALE_AFTER_SECONDS)


def _live_sync_jobs() -> QuerySet[QueryJob]:
    return QueryJob.objects.filter(phase=phases.EXECUTING, source=QueryJob.SOURCE_TAP_SYNC, heartbeat__gte=_stale_before())


def check_sync_limit(job: QueryJob) -> None:
    """Refuse (and delete) ``job`` when its owner already has ``QUERY_SYNC_CONCURRENCY`` live sync queries.

    Counted after the job is written, among the jobs that came first (by creation time, then id):
    in a burst the earliest run and the later ones are refused, rather than every one refusing
    every other. Like ``claim``, no lock: a request whose insert commits in the very milliseconds
    of another's count may be missed by it, so a burst can overshoot by such a racer; never more.
    """
    live = _live_sync_jobs().filter(Q(created__lt=job.created) | Q(created=job.created, pk__lte=job.pk))
    if job.owner_id is not None:
        live = live.filter(owner_id=job.owner_id)
    else:
        live = live.filter(owner_id=None, **{f"parameters__{CLIENT_KEY}": (job.parameters or {}).get(CLIENT_KEY, "")})
    limit = int(settings.QUERY_SYNC_CONCURRENCY)
    if live.count() <= limit:
        return
    job.delete()
    who = "you have" if job.owner_id is not None else "your address has"
    raise SyncLimitReached(f"Too many synchronous queries at once: {who} {limit} running. Wait for one to finish, "
                           "or use the asynchronous service (/tap/async) for long queries.",
                           int(settings.QUERY_SYNC_RETRY_AFTER_SECONDS))


def finish_sync(job_id: uuid.UUID | str, phase: str, *, rows: int = 0, overflow: bool = False, error: str = "") -> None:
    """EXECUTING -> ``phase``; a job already finished (or reaped) is left alone.

    Forgotten by the heartbeat thread only once written: if this fails (say, a generator finalised
    where no query may run), the thread finds the stream gone and ends the job itself.
    """
    QueryJob.objects.filter(pk=job_id, phase=phases.EXECUTING).update(
        phase=phase, row_count=rows, overflow=overflow, error=error, end_time=timezone.now())
    heartbeats.forget(str(job_id))


@dataclass
class _Progress:
    rows: int = 0
    overflow: bool = False


class SyncResult:
    """A streamed synchronous result. ``overflow`` is known once ``batches`` is exhausted."""

    def __init__(self, job: QueryJob, columns: list[OutputColumn], source: Iterator[pa.RecordBatch], maxrec: int | None) -> None:
        self.job = job
        self.columns = columns
        self._progress = _Progress()
        stream = _stream(job.pk, source, maxrec, self._progress)
        # Tracked weakly: a stream nobody holds any more (and never started) is an orphan.
        heartbeats.track(str(job.pk), stream)
        self.batches: Iterator[pa.RecordBatch] = stream

    @property
    def overflow(self) -> bool:
        return self._progress.overflow

    @property
    def rows(self) -> int:
        return self._progress.rows


def _stream(job_id: uuid.UUID | str, source: Iterator[pa.RecordBatch], maxrec: int | None, progress: _Progress) -> _Batches:
    phase, error = phases.COMPLETED, ""
    try:
        for batch in source:
            if maxrec is not None and progress.rows + batch.num_rows > maxrec:
                progress.overflow = True
                batch = batch.slice(0, maxrec - progress.rows)
            progress.rows += batch.num_rows
            if batch.num_rows:
                yield batch
            if progress.overflow:
                break
    except GeneratorExit:  # closed before the end: the client went away
        phase, error = phases.ABORTED, INTERRUPTED
        raise
    except BaseException as exc:
        phase, error = phases.ERROR, error_message(exc) if isinstance(exc, Exception) else INTERRUPTED
        raise
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
        finish_sync(job_id, phase, rows=progress.rows, overflow=progress.overflow, error=error)


class SyncHeartbeats:
    """One thread per process beats for every sync query it streams, in one UPDATE per beat.

    The thread runs only while there is something to beat for, and holds a database
    connection only during a beat (the pool is small).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[str, weakref.ref[_Batches]] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def track(self, job_id: str, stream: _Batches) -> None:
        with self._lock:
            self._results[job_id] = weakref.ref(stream)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sync-heartbeats", daemon=True)
                self._thread.start()

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._results.pop(job_id, None)

    def tracked(self) -> set[str]:
        with self._lock:
            return set(self._results)

    def beat_now(self) -> None:
        """Beat at once (tests, and a process about to wait a long time)."""
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait(float(settings.QUERY_HEARTBEAT_SECONDS))
            self._wake.clear()
            with self._lock:
                if not self._results:
                    self._thread = None
                    return
                items = list(self._results.items())
            try:
                self._beat(items)
            except Exception:
                log.warning("sync query heartbeat failed", exc_info=True)
            finally:
                connection.close()  # back to the pool until the next beat

    def _beat(self, items: list[tuple[str, weakref.ref[_Batches]]]) -> None:
        alive = [job_id for job_id, ref in items if ref() is not None]
        orphans = [job_id for job_id, ref in items if ref() is None]
        if alive:
            QueryJob.objects.filter(pk__in=alive, phase=phases.EXECUTING).update(heartbeat=timezone.now())
        for job_id in orphans:  # dropped before streaming began: nobody else will finish them
            try:
                finish_sync(job_id, phases.ERROR, error=ORPHANED)
            finally:
                self.forget(job_id)  # tried once: if that failed, the job goes silent and the reaper ends it


heartbeats = SyncHeartbeats()


def reap_sync(now: datetime) -> int:
    """Sync jobs whose process stopped beating (killed, crashed) end in ERROR; returns how many."""
    stale = Q(heartbeat__lt=_stale_before(now)) | Q(heartbeat__isnull=True)
    return QueryJob.objects.filter(stale, phase=phases.EXECUTING, source=QueryJob.SOURCE_TAP_SYNC).update(
        phase=phases.ERROR, end_time=now, error=PROCESS_GONE)
