"""What a worker does with a job: claim it, run it on its engine, store the result, finish it.

Every state change is a conditional UPDATE on the phase, so a job claimed
twice (a redelivered message, the reaper re-sending it) runs once, and a job
aborted while running is never turned back into COMPLETED.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Count, Subquery
from django.db.models.functions import Coalesce
from django.db.models.lookups import LessThan
from django.utils import timezone

from apps.activity.actions import do_record_event
from apps.adql import AdqlError
from apps.core.tasks import send_task
from apps.uws import phases

from . import kinds, live
from .models import QueryJob
from .planning import Plan, QueryError, default_table_name, error_message, mydb_schema, plan_from_record, plan_query
from .queues import Queue, get_queue
from .quotas import human_bytes, quota_for, used_by
from .sync import reap_sync
from .uploads import Upload

log = logging.getLogger(__name__)

CLAIMED, BUSY, GONE = "claimed", "busy", "gone"


def claim(job_id: str, worker: str) -> str:
    """QUEUED -> EXECUTING for exactly one worker, within the owner's concurrency limit."""
    job = QueryJob.objects.filter(pk=job_id, phase=phases.QUEUED).values("owner_id", "queue").first()
    if job is None:
        return GONE
    # One conditional UPDATE: still QUEUED, and fewer of the owner's jobs EXECUTING in this queue than
    # its limit. Two claims at the very same instant may both pass the count (no lock, to keep the
    # claim one round trip); the limit is a fairness rule, so that rare overshoot is accepted.
    running = (QueryJob.objects.filter(owner_id=job["owner_id"], queue=job["queue"], phase=phases.EXECUTING)
               .order_by().values("queue").annotate(n=Count("pk")).values("n"))
    now = timezone.now()
    claimed = (QueryJob.objects.filter(pk=job_id, phase=phases.QUEUED)
               .filter(LessThan(Coalesce(Subquery(running), 0), get_queue(job["queue"]).concurrency))
               .update(phase=phases.EXECUTING, start_time=now, heartbeat=now, worker=worker[:255]))
    if claimed == 1:
        return CLAIMED
    return BUSY if QueryJob.objects.filter(pk=job_id, phase=phases.QUEUED).exists() else GONE


class Heartbeat(threading.Thread):
    """Marks the job alive; when the job was aborted elsewhere, cancels it here (DuckDB runs in this process)."""

    def __init__(self, job_id: str, engine: Any) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id, self.engine = job_id, engine
        self.stopped = threading.Event()

    def run(self) -> None:
        beat = timedelta(seconds=settings.QUERY_HEARTBEAT_SECONDS)
        last = timezone.now()
        try:
            while not self.stopped.wait(1.0):
                if timezone.now() - last >= beat:
                    last = timezone.now()
                    QueryJob.objects.filter(pk=self.job_id, phase=phases.EXECUTING).update(heartbeat=last)
                phase = QueryJob.objects.filter(pk=self.job_id).values_list("phase", flat=True).first()
                if phase in (phases.ABORTED, phases.ERROR) and not self.stopped.is_set():  # aborted or reaped elsewhere
                    self.engine.abort(self.job_id)
                    return
        except Exception:
            log.warning("heartbeat of job %s failed", self.job_id, exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()


def _engine(name: str) -> Any:
    from workers.engines import get_engine  # type: ignore[attr-defined,unused-ignore]

    return get_engine(name)


def create_uploads(engine: Any, plan: Plan) -> None:
    """Copy uploaded tables into a server engine for the job (DuckDB and Spark read the files)."""
    for upload, table in plan.uploads:
        parquet = pq.ParquetFile(upload.path)
        engine.ingest(table, parquet.iter_batches(batch_size=65536), parquet.schema_arrow, replace=True)


def local_stream(plan: Plan, owner: User | None, timeout_s: float) -> Iterator[pa.RecordBatch]:
    """Run a TAP_SCHEMA query in a private DuckDB connection holding this user's TAP_SCHEMA."""
    from django.contrib.auth.models import AnonymousUser

    from apps.metadata.tap_schema import register_tap_schema

    from .planning import private_tables

    conn = duckdb.connect(":memory:")
    timer = threading.Timer(timeout_s, conn.interrupt)
    try:
        register_tap_schema(conn, owner or AnonymousUser(), private_tables(owner))
        # Native SQL runs here too: like the engine's connection, this one reads no file but TAP uploads.
        uploads = "'" + str(Path(settings.VAR_DIR).resolve() / "uploads").replace("'", "''") + "/'"
        conn.execute(f"SET allowed_directories = [{uploads}]")
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
        timer.start()
        try:
            reader = conn.sql(plan.sql).to_arrow_reader(65536)
            yield from reader
        except duckdb.Error as exc:
            if not timer.is_alive():
                raise QueryError(f"The query ran longer than the time limit ({timeout_s:g} s).") from None
            raise QueryError(f"The query failed: {exc}") from None
    finally:
        timer.cancel()
        conn.close()


def store_local(plan: Plan, owner: User | None, engine: Any, into: Any, timeout_s: float) -> Any:
    """A TAP_SCHEMA query's result, written into the owner's MyDB by ``engine``."""
    from workers.engines.base import StoredResult

    batches = local_stream(plan, owner, timeout_s)
    first = next(batches, None)
    if first is None:
        schema = pa.schema([])
        rows = engine.ingest(into, iter(()), schema)
        return StoredResult(into, rows, 0)
    size = first.nbytes

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal size
        yield first
        for batch in batches:
            size += batch.nbytes
            yield batch

    rows = engine.ingest(into, counted(), first.schema)
    return StoredResult(into, rows, size)


def drop_uploads(engine: Any, plan: Plan) -> None:
    for _, table in plan.uploads:
        try:
            engine.drop(table)
        except Exception:
            log.warning("could not drop upload table %s", table, exc_info=True)


def _finish(job_id: str, **fields: Any) -> bool:
    """EXECUTING -> a final phase; False when the job left EXECUTING meanwhile (aborted, reaped)."""
    done = QueryJob.objects.filter(pk=job_id, phase=phases.EXECUTING).update(end_time=timezone.now(), **fields) == 1
    job = QueryJob.objects.filter(pk=job_id).first()
    if job is not None:
        live.notify(job)
        if done:
            do_record_event(kinds.QUERY_FINISHED, user=job.owner, summary=f"query job {job.id} {job.phase}", job=str(job.id),
                            phase=job.phase, rows=job.row_count, engine=job.engine)
    return done


def _quota_message(owner: User | None, used: int, quota: int, extra: int = 0) -> str:
    if extra:
        return (f"The result ({human_bytes(extra)}) does not fit in your space for results: {human_bytes(used)} of "
                f"{human_bytes(quota)} used. Delete some tables in MyDB (or ask for more space) and run the query again.")
    return (f"Your space for results is full ({human_bytes(used)} of {human_bytes(quota)} used). "
            "Delete some tables in MyDB (or ask for more space) and run the query again.")


def execute_job(job_id: str, worker: str) -> str:
    """Run one job to a final phase. Returns what happened with the claim."""
    outcome = claim(job_id, worker)
    if outcome != CLAIMED:
        return outcome
    job = QueryJob.objects.select_related("owner").get(pk=job_id)
    live.notify(job)
    queue = get_queue(job.queue)
    try:
        plan, room = _plan(job, queue)
    except (AdqlError, QueryError) as exc:
        _finish(job_id, phase=phases.ERROR, error=error_message(exc))
        return CLAIMED
    try:
        engine = _engine(plan.engine)
    except Exception as exc:
        log.exception("engine %s unavailable for job %s", plan.engine, job_id)
        _finish(job_id, phase=phases.ERROR, error=f"The {plan.engine} engine is not available: {exc}")
        return CLAIMED
    heartbeat = Heartbeat(job_id, engine)
    heartbeat.start()
    try:
        _run(job, queue, plan, engine, room)
    finally:
        heartbeat.stop()
        _dispatch_waiting(job.owner_id, job.queue)
    return CLAIMED


def _plan(job: QueryJob, queue: Queue) -> tuple[Plan, int]:
    """The plan, and the room left in the owner's space for results."""
    used, quota = used_by(job.owner, scratch=job.scratch), quota_for(job.owner, scratch=job.scratch)
    if used >= quota:
        raise QueryError(_quota_message(job.owner, used, quota))
    fresh = job.queued is not None and timezone.now() - job.queued < timedelta(seconds=settings.QUERY_REPLAN_AFTER_SECONDS)
    if job.plan and job.native_sql and fresh:  # planned moments ago by do_run_job: catalogue and rights unchanged
        plan = plan_from_record(job)
    else:
        limits = [n for n in (job.maxrec, queue.row_limit) if n is not None]
        plan = plan_query(job.owner, query=job.query, language=job.language, maxrec=min(limits) if limits else None,
                          uploads=[Upload.from_json(u) for u in job.uploads], job_id=str(job.id))
    job.engine, job.native_sql = plan.engine, plan.sql
    job.result_columns = [asdict(c) for c in plan.columns]
    # Anonymous results share one space: their names come from the (unguessable) job id only.
    job.table_name = (job.table_name or default_table_name(job)) if job.owner_id else f"job_{job.id.hex}"
    job.result_schema, job.result_table = mydb_schema(job.owner_id), job.table_name
    QueryJob.objects.filter(pk=job.pk).update(engine=job.engine, native_sql=job.native_sql, result_columns=job.result_columns,
                                              table_name=job.table_name)
    return plan, quota - used


def _run(job: QueryJob, queue: Queue, plan: Plan, engine: Any, room: int) -> None:
    from workers.engines.base import EngineError, QueryAborted, QueryTimeout, TableName

    job_id = str(job.id)
    into = TableName(job.result_schema, job.result_table)
    timeout = queue.timeout_for(job.execution_duration)
    try:
        if plan.local:
            stored = store_local(plan, job.owner, engine, into, float(timeout))
        else:
            create_uploads(engine, plan)
            stored = engine.execute(plan.sql, into=into, timeout_s=float(timeout), job_id=job_id, scope=plan.scope)
    except QueryAborted:
        _finish(job_id, phase=phases.ABORTED)
        return
    except QueryTimeout:
        _finish(job_id, phase=phases.ERROR, error=f"The query ran longer than the time limit of the {queue.name} queue "
                f"({timeout} s) and was stopped. Use the long queue, or narrow the query (a TOP, a tighter WHERE).")
        return
    except (EngineError, AdqlError, QueryError) as exc:
        _finish(job_id, phase=phases.ERROR, error=error_message(exc))
        return
    except Exception as exc:
        log.exception("job %s failed", job_id)
        _finish(job_id, phase=phases.ERROR, error=f"The query failed: {exc}")
        return
    finally:
        drop_uploads(engine, plan)
    _store(job, queue, engine, stored, into, room)


def _store(job: QueryJob, queue: Queue, engine: Any, stored: Any, into: Any, room: int) -> None:
    job_id = str(job.id)
    if stored.bytes > room:  # measured before the run; others' jobs may have finished since, so look again
        used, quota = used_by(job.owner, scratch=job.scratch), quota_for(job.owner, scratch=job.scratch)
        if used + stored.bytes > quota:
            engine.drop(into)
            _finish(job_id, phase=phases.ERROR, error=_quota_message(job.owner, used, quota, stored.bytes))
            return
    limits = [n for n in (job.maxrec, queue.row_limit) if n is not None]
    maxrec = min(limits) if limits else None  # the engine ran with LIMIT maxrec + 1 to see overflow
    rows, overflow = stored.rows, False
    if maxrec is not None and stored.rows > maxrec:
        rows, overflow = maxrec, True
    done = _finish(job_id, phase=phases.COMPLETED, row_count=rows, overflow=overflow, size_bytes=stored.bytes,
                   result_schema=into.schema, result_table=into.name, table_name=into.name)
    if not done:  # aborted or reaped while the engine was writing: keep nothing
        engine.drop(into)
        return
    from .sharing import ensure_resource

    ensure_resource(QueryJob.objects.select_related("owner").get(pk=job_id))  # so its owner can share it


def _dispatch_waiting(owner_id: int | None, queue: str) -> None:
    """A slot freed: send this owner's oldest waiting jobs again (claim() decides)."""
    limit = get_queue(queue).concurrency
    waiting = QueryJob.objects.filter(owner_id=owner_id, queue=queue, phase=phases.QUEUED).order_by("created")
    for job_id in waiting.values_list("id", flat=True)[:limit]:
        send_task("workers.query.run_query", str(job_id))


# ---- the reaper -----------------------------------------------------------------------

def reap(*, worker: str | None = None, booted: datetime | None = None) -> dict[str, int]:
    """EXECUTING jobs without a heartbeat turn ERROR; QUEUED ones the broker lost are sent again.

    ``worker``: this worker just started (at ``booted``), so its own EXECUTING jobs
    claimed before then are from a previous life and end at once, without waiting
    for the heartbeat to go stale.
    """
    now = timezone.now()
    reaped = _reap_executing(now, worker, booted)
    reap_sync(now)  # synchronous queries whose web process stopped beating for them (apps/query/sync.py)
    return {"reaped": reaped, "requeued": _resend_lost(now, booted), "destroyed": _destroy_expired(now)}


def _reap_executing(now: datetime, worker: str | None, booted: datetime | None) -> int:
    dead = QueryJob.objects.filter(phase=phases.EXECUTING).exclude(source=QueryJob.SOURCE_TAP_SYNC)
    stale = dead.filter(heartbeat__lt=now - timedelta(seconds=settings.QUERY_STALE_AFTER_SECONDS))
    if worker and booted is not None:
        stale = stale | dead.filter(worker=worker, start_time__lt=booted)
    reaped = 0
    for job in stale.distinct():
        done = QueryJob.objects.filter(pk=job.pk, phase=phases.EXECUTING).update(
            phase=phases.ERROR, end_time=now,
            error="The worker running this query stopped (it was restarted or ran out of memory). Please run the query again.",
        )
        if done:
            reaped += 1
            if job.result_table or job.table_name:
                _drop_partial(job)
            job.refresh_from_db()
            live.notify(job)
    return reaped


def _resend_lost(now: datetime, booted: datetime | None) -> int:
    """Send again the QUEUED jobs whose message is gone: the database, not the broker, says what is waiting.

    A message is lost when the worker holding it was killed, or the broker restarted without
    its data. When the broker still holds messages, workers are catching up and the jobs behind
    them are not lost: nothing is sent, so a long backlog is never doubled. When it is empty, a
    job QUEUED for longer than QUERY_REQUEUE_AFTER_SECONDS (or, at a worker's start, since before
    it started) has no message left. A duplicate costs one refused claim. ``queued`` is left as
    it is: it dates the plan (``_plan`` re-plans old jobs, so rights revoked meanwhile count).
    """
    if _messages_waiting() > 0:
        return 0
    cutoff = now - timedelta(seconds=settings.QUERY_REQUEUE_AFTER_SECONDS)
    if booted is not None:
        cutoff = max(cutoff, booted)
    lost = QueryJob.objects.filter(phase=phases.QUEUED, queued__lt=cutoff)
    requeued = 0
    for job_id in lost.order_by("queued").values_list("id", flat=True)[:RESEND_AT_MOST]:
        send_task("workers.query.run_query", str(job_id))
        requeued += 1
    return requeued


RESEND_AT_MOST = 1000  # per sweep; the next sweep sends the rest once these are taken


def _messages_waiting() -> int:
    """Messages waiting in the task queue of the broker (0 with eager tasks, or when it cannot say)."""
    from celery import current_app
    from kombu.exceptions import ChannelError

    if current_app.conf.task_always_eager:
        return 0
    try:
        with current_app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(current_app.conf.task_default_queue, passive=True).message_count)
    except ChannelError:  # the queue does not exist (Redis drops empty lists): nothing waits
        return 0


def _destroy_expired(now: Any) -> int:
    """UWS destruction: jobs past their destruction time go, with their results."""
    from .actions import do_delete_job

    expired = QueryJob.objects.filter(destruction__lt=now).exclude(phase__in=phases.ACTIVE)[:100]
    count = 0
    for job in expired:
        try:
            do_delete_job(job)
            count += 1
        except Exception:
            log.warning("could not destroy expired job %s", job.id, exc_info=True)
    return count


def _drop_partial(job: QueryJob) -> None:
    """Engines never leave half tables, but a table finished just before the crash may exist."""
    from workers.engines.base import TableName

    name = job.result_table or job.table_name
    try:
        _engine(job.engine).drop(TableName(job.result_schema or mydb_schema(job.owner_id), name))
    except Exception:
        log.info("nothing to drop for reaped job %s", job.id, exc_info=True)
