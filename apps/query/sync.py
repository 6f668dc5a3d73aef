"""Synchronous queries (TAP sync, cone search): the per-user limit, the stream, the heartbeat, the reaper's part.

A synchronous query runs inside a web request, recorded as a QueryJob of source ``tap-sync``
(its owner's history) with a QUERY_SUBMITTED activity record. Where they are written depends on
where the per-user limit is counted (``start_sync``):

- with Redis (sync_slots.py), the query takes a slot there, and its job and activity record are
  written when it ends, by the process's end writer (``EndWriter``): the ends of all the queries
  that finished within QUERY_SYNC_WRITE_MS in one commit, in a thread of its own, normally
  after the response has gone. Nothing touches the portal database before the first byte, and
  a stream of small queries costs one commit per batch instead of one per query. A query still
  running at the next heartbeat is written then, EXECUTING, so long queries show in the history
  (and can be aborted) while they run. If the web process dies before its end writer has written,
  the records of its last queries are lost, as their responses may be; one written EXECUTING is
  ended by the reaper, as below;
- without Redis (or when it fails), the job is written EXECUTING before the query, counted
  among its owner's live sync jobs in the database (``check_sync_limit``), and finished as its
  stream ends.

A job written EXECUTING must never outlive its request, whatever ends it:

- rows done, or the query fails: the stream finishes the job (COMPLETED/ERROR);
- the client goes away mid-stream: closing the stream finishes it (ABORTED);
- the response is dropped before its first row (a client gone during planning):
  the stream never starts, so nothing would run its ``finally``. The heartbeat
  thread holds the result weakly and ends such an orphan in ERROR;
- the web process dies: its heartbeats stop, and ``reap_sync`` (run by the
  reaper) ends the job in ERROR once it is QUERY_SYNC_STALE_AFTER_SECONDS silent
  (a Redis slot expires alike).

The records are written in ``bookkeeping()`` transactions, which do not wait for the disk on
PostgreSQL: a flush costs far more than a small query itself.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.activity.actions import new_event
from apps.activity.kinds import QUERY_SUBMITTED
from apps.activity.models import Event
from apps.adql import ColumnInfo
from apps.uws import phases
from workers.engines.base import CsvText

from . import sync_slots
from .models import QueryJob
from .planning import QueryError, error_message

log = logging.getLogger(__name__)
_Batches = Generator[pa.RecordBatch, None, None] | Generator[bytes | memoryview, None, None]

CLIENT_KEY = "client_address"  # in an anonymous sync job's parameters: whose slot it takes
INTERRUPTED = "The download was interrupted: the client closed the connection."
ORPHANED = "The synchronous query was interrupted before its result was sent."
PROCESS_GONE = "The synchronous query was interrupted: the web server process running it stopped."


class SyncLimitReached(QueryError):
    """Too many synchronous queries at once for this user (or client address); try again after ``retry_after`` s."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@contextmanager
def bookkeeping() -> Iterator[None]:
    """A transaction for a sync job's records that commits without waiting for its WAL flush (PostgreSQL).

    Visible to every other session as soon as it commits, like any other; only a crash of the database
    server in the next fraction of a second could lose it, and with it nothing but the history row of a
    query whose client is gone too. Elsewhere (SQLite, MariaDB) it is a plain transaction.
    """
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def _stale_before(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.QUERY_SYNC_STALE_AFTER_SECONDS)


def _live_sync_jobs() -> QuerySet[QueryJob]:
    return QueryJob.objects.filter(phase=phases.EXECUTING, source=QueryJob.SOURCE_TAP_SYNC, heartbeat__gte=_stale_before())


def check_sync_limit(job: QueryJob) -> None:
    """Refuse (and delete) ``job`` when its owner already has ``QUERY_SYNC_CONCURRENCY`` live sync queries.

    The count without Redis. After the job is written, among the jobs that came first (by creation time,
    then id): in a burst the earliest run and the later ones are refused, rather than every one refusing
    every other. Like ``claim``, no lock: a request whose insert commits in the very milliseconds
    of another's count may be missed by it, so a burst can overshoot by such a racer; never more.
    """
    live = _live_sync_jobs().filter(Q(created__lt=job.created) | Q(created=job.created, pk__lte=job.pk))
    if job.owner_id is not None:
        live = live.filter(owner_id=job.owner_id)
    else:
        live = live.filter(owner_id=None, **{f"parameters__{CLIENT_KEY}": _client_of(job)})
    limit = int(settings.QUERY_SYNC_CONCURRENCY)
    if live.count() <= limit:
        return
    job.delete()
    Event.objects.filter(kind=QUERY_SUBMITTED, details__job=str(job.pk)).delete()  # it did not run after all
    raise _limit_reached(job, limit)


def _client_of(job: QueryJob) -> str:
    return str((job.parameters or {}).get(CLIENT_KEY, ""))


def _limit_reached(job: QueryJob, limit: int) -> SyncLimitReached:
    who = "you have" if job.owner_id is not None else "your address has"
    return SyncLimitReached(f"Too many synchronous queries at once: {who} {limit} running. Wait for one to finish, "
                            "or use the asynchronous service (/tap/async) for long queries.",
                            int(settings.QUERY_SYNC_RETRY_AFTER_SECONDS))


def record_failed_sync(job: QueryJob, error: str) -> None:
    """Write ``job`` (not saved yet) as failed before it ran (a query that cannot be planned): one commit."""
    job.phase, job.error, job.end_time = phases.ERROR, error, timezone.now()
    with bookkeeping():
        job.save(force_insert=True)


class SyncRecord:
    """A running sync query's job as its web process keeps it: written yet or not, its slot, its outcome."""

    def __init__(self, job: QueryJob, slot: sync_slots.Slot | None) -> None:
        self.job, self.slot = job, slot
        self.written = slot is None  # without a slot the job was written (and counted) before it ran
        self.outcome: dict[str, Any] | None = None  # how it ended, once it has (written by the end writer when deferred)
        self.ended_at = 0.0  # time.monotonic() of the end
        self.done = False  # its end is written
        self.lock = threading.Lock()  # the heartbeat thread and the end both write it

    @property
    def deferred(self) -> bool:
        """Whether its records are written when it ends, by the end writer (the limit is counted in Redis)."""
        return self.slot is not None

    def write_running(self) -> None:
        """Write the job EXECUTING now if it is not written yet (a long query; one a worker runs)."""
        with self.lock:
            if self.written or self.outcome is not None:
                return
            with bookkeeping():
                _insert(self.job)
            self.written = True

    def write_end(self) -> None:
        """Write how the query ended now (a query counted without Redis; the heartbeat's late write)."""
        write_ends([self])


def write_ends(records: list[SyncRecord]) -> None:
    """How ``records`` ended, in one commit: new jobs and their activity records inserted together (two
    statements, whatever their number), jobs already written (long queries) brought to their end.

    A record whose end is already written (by the heartbeat thread, or a test's end) is skipped. If the
    commit fails, nothing of it is written and the records are ready to be written again.
    """
    with ExitStack() as held:
        for record in records:  # everyone else holds one record's lock at a time: taking several cannot deadlock
            held.enter_context(record.lock)
        todo = [record for record in records if not record.done and record.outcome is not None]
        new = [record.job for record in todo if not record.written]
        for record in todo:
            if not record.written:
                for name, value in (record.outcome or {}).items():
                    setattr(record.job, name, value)
        with bookkeeping():
            # bulk_create sends no post_save: the one receiver (sharing.py) cares only for jobs with a stored result.
            QueryJob.objects.bulk_create(new)
            Event.objects.bulk_create([_submitted(job) for job in new])
            for record in todo:
                if record.written:  # a job already finished (or reaped) is left alone
                    QueryJob.objects.filter(pk=record.job.pk, phase=phases.EXECUTING).update(**(record.outcome or {}))
        for record in todo:
            record.written = record.done = True
    for record in todo:
        heartbeats.forget(str(record.job.pk))


def _submitted(job: QueryJob) -> Event:
    return new_event(QUERY_SUBMITTED, user=job.owner, summary=f"ran a synchronous query ({job.id})", job=str(job.id),
                     source=job.source)


def _insert(job: QueryJob) -> None:
    job.save(force_insert=True)  # ``created`` stays the request's start (a default, not auto_now_add)
    _submitted(job).save(force_insert=True)


class EndWriter:
    """Writes how sync queries ended (``write_ends``), many in one commit, in one thread per process.

    A query's end waits at most QUERY_SYNC_WRITE_MS for others to join it. Written one by one
    after each response, the commits cost the web process ~0.7 ms of CPU per query, which the next
    request of a client sending small queries met (measured with ``manage.py bench --only latency``).
    At 0 each end is written at once, in the thread that ends the query (the tests: their
    transaction holds the users the records point to).
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[SyncRecord | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        atexit.register(self.flush)  # uvicorn's graceful stop: the last batch is written, not dropped

    def submit(self, record: SyncRecord) -> None:
        if int(settings.QUERY_SYNC_WRITE_MS) <= 0:
            _write_or_forget([record])
            return
        with self._lock:
            self._idle.clear()
            self._queue.put(record)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sync-end-writer", daemon=True)
                self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Write what is waiting now and wait until it is written (a process about to exit; tests)."""
        self._queue.put(None)  # wakes the thread out of its wait for more
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch:
                try:
                    _write_or_forget(batch)
                finally:
                    connection.close()  # back to the pool until the next batch
            with self._lock:
                if self._queue.empty():
                    self._idle.set()

    def _collect(self) -> list[SyncRecord]:
        """The next end, and those that come within QUERY_SYNC_WRITE_MS of it (or until a flush)."""
        first = self._queue.get()
        if first is None:
            return []
        batch = [first]
        deadline = time.monotonic() + int(settings.QUERY_SYNC_WRITE_MS) / 1000
        while (left := deadline - time.monotonic()) > 0:
            try:
                record = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if record is None:
                break
            batch.append(record)
        return batch


def _write_or_forget(batch: list[SyncRecord]) -> None:
    """``write_ends``; if the commit fails, record by record (one bad record does not lose the others), and an
    end that cannot be written is logged and forgotten: its response has gone, nobody else is to be told, and
    a job written while it ran goes silent, so the reaper ends it."""
    try:
        write_ends(batch)
        return
    except Exception:
        if len(batch) == 1:
            log.exception("could not write the end of sync query %s", batch[0].job.pk)
            heartbeats.forget(str(batch[0].job.pk))
            return
        log.warning("writing %d sync query ends in one commit failed; writing them one by one", len(batch), exc_info=True)
    for record in batch:
        _write_or_forget([record])


ends = EndWriter()


def start_sync(job: QueryJob) -> SyncRecord:
    """The record of ``job`` (planned, not saved), within its owner's limit; SyncLimitReached past it.

    With Redis the query takes a slot there and nothing is written yet; otherwise the job is written,
    committed before the count, so concurrent requests see each other.
    """
    limit = int(settings.QUERY_SYNC_CONCURRENCY)
    slot = sync_slots.take(sync_slots.owner_key(job.owner_id, _client_of(job)), str(job.pk), limit)
    if slot is False:
        raise _limit_reached(job, limit)
    if isinstance(slot, sync_slots.Slot):
        return SyncRecord(job, slot)
    job.created = timezone.now()  # the count orders by it: the time of writing, as close to the commit as can be
    with bookkeeping():
        _insert(job)
    check_sync_limit(job)
    return SyncRecord(job, None)


def finish_sync(record: SyncRecord, phase: str, *, rows: int = 0, overflow: bool = False, error: str = "") -> None:
    """EXECUTING -> ``phase``: the slot is free at once; the records are written after the response when deferred.

    Forgotten by the heartbeat thread only once written: if writing fails (say, a generator finalised
    where no query may run), the thread finds the stream gone and ends the job itself.
    """
    if record.outcome is not None:
        return
    record.outcome = {"phase": phase, "row_count": rows, "overflow": overflow, "error": error, "end_time": timezone.now()}
    if record.job.worker:  # a worker ran it and handed its rows back without writing the job (sync_in_worker.py)
        record.outcome["worker"] = record.job.worker
    record.ended_at = time.monotonic()
    if record.slot is not None:
        sync_slots.release(record.slot)
    if record.deferred:
        ends.submit(record)
    else:
        record.write_end()


@dataclass
class _Progress:
    rows: int = 0
    overflow: bool = False


class SyncResult:
    """A streamed synchronous result. ``overflow`` is known once ``batches`` is exhausted.

    From an engine that wrote the CSV itself (``source`` a CsvText, its rows already cut at ``maxrec``),
    ``csv`` holds that text and ``batches`` is empty.
    """

    def __init__(self, record: SyncRecord, columns: list[ColumnInfo], source: Iterator[pa.RecordBatch] | CsvText,
                 maxrec: int | None) -> None:
        self.job = record.job
        self.columns = columns
        self.tables: list[tuple[str, str]] | None = None  # the (schema, table) pairs an ADQL query reads
        self._progress = _Progress()
        self.csv: Iterator[bytes | memoryview] | None = None
        self.csv_schema = source.schema if isinstance(source, CsvText) else None
        stream: _Batches
        if isinstance(source, CsvText):
            stream = self.csv = _csv_stream(record, source, self._progress)
            self.batches: Iterator[pa.RecordBatch] = iter(())
        else:
            stream = self.batches = _stream(record, source, maxrec, self._progress)
        # Tracked weakly: a stream nobody holds any more (and never started) is an orphan.
        heartbeats.track(record, stream)

    @property
    def overflow(self) -> bool:
        return self._progress.overflow

    @property
    def rows(self) -> int:
        return self._progress.rows


def _stream(record: SyncRecord, source: Iterator[pa.RecordBatch], maxrec: int | None,
            progress: _Progress) -> Generator[pa.RecordBatch, None, None]:
    with _finishing(record, source, progress):
        for batch in source:
            if maxrec is not None and progress.rows + batch.num_rows > maxrec:
                progress.overflow = True
                batch = batch.slice(0, maxrec - progress.rows)
            progress.rows += batch.num_rows
            if batch.num_rows:
                yield batch
            if progress.overflow:
                break


def _csv_stream(record: SyncRecord, source: CsvText, progress: _Progress) -> Generator[bytes | memoryview, None, None]:
    with _finishing(record, source, progress):
        yield from source
        progress.rows, progress.overflow = source.rows, source.overflow


@contextmanager
def _finishing(record: SyncRecord, source: object, progress: _Progress) -> Iterator[None]:
    """Finish the job as the stream ends: COMPLETED, ERROR, or ABORTED when it is closed before its end."""
    phase, error = phases.COMPLETED, ""
    try:
        yield
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
        finish_sync(record, phase, rows=progress.rows, overflow=progress.overflow, error=error)


class SyncHeartbeats:
    """One thread per process beats for every sync query it streams: one UPDATE and one Redis call per beat.

    The thread runs only while there is something to beat for, and holds a database
    connection only during a beat (the pool is small). A query not written yet is written
    EXECUTING at its first beat.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[str, tuple[SyncRecord, weakref.ref[_Batches]]] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()

    def track(self, record: SyncRecord, stream: _Batches) -> None:
        with self._lock:
            self._results[str(record.job.pk)] = (record, weakref.ref(stream))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sync-heartbeats", daemon=True)
                self._thread.start()

    def forget(self, job_id: str) -> None:
        with self._lock:
            self._results.pop(job_id, None)

    def forget_all(self) -> list[str]:
        """Stop beating for every query, free their slots and write nothing more of them (a test's end); the ids
        of those whose job this thread wrote meanwhile (outside the caller's transaction)."""
        with self._lock:
            items, self._results = list(self._results.values()), {}
        written = []
        for record, _ in items:
            with record.lock:  # a write under way ends first; none starts after
                record.outcome = record.outcome or {"phase": phases.ABORTED}
                if record.deferred and record.written:
                    written.append(str(record.job.pk))
                record.written = record.done = True
            if record.slot is not None:
                sync_slots.release(record.slot)
        return written

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
                items = list(self._results.values())
            try:
                self._beat(items)
            except Exception:
                log.warning("sync query heartbeat failed", exc_info=True)
            finally:
                connection.close()  # back to the pool until the next beat

    def _beat(self, items: list[tuple[SyncRecord, weakref.ref[_Batches]]]) -> None:
        running = [record for record, ref in items if record.outcome is None and ref() is not None]
        # Dropped before streaming began: nobody else will finish them. (Ended ones wait for their response.)
        orphans = [record for record, ref in items if record.outcome is None and ref() is None]
        # Redis first: a slot then never outlives the job's heartbeat in the database.
        sync_slots.refresh(record.slot for record in running if record.slot is not None)
        for record in running:
            try:
                record.write_running()
            except Exception:
                log.warning("could not write the running sync query %s", record.job.pk, exc_info=True)
        written = [str(record.job.pk) for record in running if record.written]
        if written:
            QueryJob.objects.filter(pk__in=written, phase=phases.EXECUTING).update(heartbeat=timezone.now())
        for record in orphans:
            try:
                finish_sync(record, phases.ERROR, error=ORPHANED)
            finally:
                self.forget(str(record.job.pk))  # tried once: if that failed, the job goes silent and the reaper ends it
        # Ended a beat ago and still not written: the response that was to write it was never sent.
        late = time.monotonic() - float(settings.QUERY_HEARTBEAT_SECONDS)
        for record, _ in items:
            if record.outcome is not None and not record.done and record.ended_at < late:
                try:
                    record.write_end()
                finally:
                    self.forget(str(record.job.pk))


heartbeats = SyncHeartbeats()


def reap_sync(now: datetime) -> int:
    """Sync jobs whose process stopped beating (killed, crashed) end in ERROR; returns how many."""
    stale = Q(heartbeat__lt=_stale_before(now)) | Q(heartbeat__isnull=True)
    return QueryJob.objects.filter(stale, phase=phases.EXECUTING, source=QueryJob.SOURCE_TAP_SYNC).update(
        phase=phases.ERROR, end_time=now, error=PROCESS_GONE)
