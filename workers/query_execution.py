"""What a worker does with a query job: plan it, claim it, run it on its engine, store the result, and reap.

Every change of a job's phase is an action (apps/query/actions.py: ``do_claim_job``,
``do_finish_job``, ``do_end_lost_job``), a conditional UPDATE on the phase, so a job claimed
twice (a redelivered message, the reaper re-sending it) runs once, and a job aborted while
running is never turned back into COMPLETED. A job costs two commits: the claim (before the
engine starts, so a worker killed mid-run leaves an EXECUTING job whose heartbeat goes stale
and the reaper ends it) and the finish (phase, counts, activity record and shared Resource). The
claim's commit does not wait for the disk (PostgreSQL): lost in a crash of the database, it leaves the job
QUEUED, so the finish finds it not EXECUTING and drops the result, and the reaper sends the job again.

The tasks that call this are in workers/query.py; when they run is said in daiquiri/celery.py.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
from celery import current_app
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from kombu.exceptions import ChannelError

from apps.adql import AdqlError
from apps.core.tasks import send_task
from apps.query.actions import BUSY, CLAIMED, GONE, do_beat_job, do_claim_job, do_delete_job, do_end_lost_job, do_finish_job, do_hand_back_sync_result
from apps.query.models import QueryJob
from apps.query.planning import Plan, QueryError, default_table_name, error_message, mydb_schema, plan_from_record, plan_query
from apps.query.queues import Queue, engine_limits, get_queue
from apps.query.quotas import human_bytes, quota_for, used_by
from apps.query.running import create_uploads, drop_uploads, local_stream
from apps.query.sync import reap_sync
from apps.query.sync_in_worker import INLINE_RESULT_BYTES, hand_back_inline, request_waits
from apps.query.uploads import Upload
from apps.uws import phases
from workers.engines import get_engine
from workers.engines.base import Engine, EngineError, QueryAborted, QueryTimeout, StoredResult, TableName

log = logging.getLogger(__name__)

__all__ = ["BUSY", "CLAIMED", "GONE", "Heartbeat", "claim", "execute_job", "reap", "run_sync_part", "store_local"]


def claim(job_id: str, worker: str) -> str:
    """QUEUED -> EXECUTING for exactly one worker, within the owner's concurrency limit (nothing planned)."""
    job = QueryJob.objects.filter(pk=job_id, phase=phases.QUEUED).first()
    return GONE if job is None else do_claim_job(job, worker)


class Heartbeat(threading.Thread):
    """Marks the job alive; when the job was aborted elsewhere, cancels it here (DuckDB runs in this process)."""

    def __init__(self, job_id: str, engine: Engine) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.job_id, self.engine = job_id, engine
        self.stopped = threading.Event()

    def run(self) -> None:
        last = time.monotonic()
        try:
            while not self.stopped.wait(1.0):  # an abort is seen within a second; the beat is written less often
                if time.monotonic() - last >= settings.QUERY_HEARTBEAT_SECONDS:
                    last = time.monotonic()
                    do_beat_job(self.job_id)
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


def store_local(plan: Plan, owner: User | None, engine: Engine, into: TableName, timeout_s: float) -> StoredResult:
    """A TAP_SCHEMA query's result, written into the owner's MyDB by ``engine``."""
    batches = local_stream(plan, owner, timeout_s)
    first = next(batches, None)
    if first is None:
        rows = engine.ingest(into, iter(()), pa.schema([]))
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


def _quota_message(used: int, quota: int, extra: int = 0) -> str:
    if extra:
        return (f"The result ({human_bytes(extra)}) does not fit in your space for results: {human_bytes(used)} of "
                f"{human_bytes(quota)} used. Delete some tables in MyDB (or ask for more space) and run the query again.")
    return (f"Your space for results is full ({human_bytes(used)} of {human_bytes(quota)} used). "
            "Delete some tables in MyDB (or ask for more space) and run the query again.")


# ---- one job ------------------------------------------------------------------------

def execute_job(job_id: str, worker: str) -> str:
    """Run one job to a final phase. Returns what happened with the claim.

    The plan is made (or read back from the job) before the claim, so the claim writes it too.
    """
    job = QueryJob.objects.select_related("owner").filter(pk=job_id, phase=phases.QUEUED).first()
    if job is None:
        return GONE
    queue = get_queue(job.queue)
    try:
        plan, room = _plan(job, queue)
    except (AdqlError, QueryError) as exc:
        outcome = do_claim_job(job, worker)
        if outcome == CLAIMED:
            do_finish_job(job, phases.ERROR, error=error_message(exc))
        return outcome
    outcome = do_claim_job(job, worker, **_planned(job, plan))
    if outcome != CLAIMED:
        return outcome
    try:
        engine = get_engine(plan.engine, engine_limits(queue))  # bounded as the queue says (workers/engines/limits.py)
    except Exception as exc:
        log.exception("engine %s unavailable for job %s", plan.engine, job_id)
        do_finish_job(job, phases.ERROR, error=f"The {plan.engine} engine is not available: {exc}")
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
        raise QueryError(_quota_message(used, quota))
    fresh = job.queued is not None and timezone.now() - job.queued < timedelta(seconds=settings.QUERY_REPLAN_AFTER_SECONDS)
    if job.plan and job.native_sql and fresh:  # planned moments ago by do_run_job: catalogue and rights unchanged
        return plan_from_record(job), quota - used
    limits = [n for n in (job.maxrec, queue.row_limit) if n is not None]
    plan = plan_query(job.owner, query=job.query, language=job.language, maxrec=min(limits) if limits else None,
                      uploads=[Upload.from_json(u) for u in job.uploads], job_id=str(job.id),
                      engine=str((job.parameters or {}).get("engine") or ""))
    return plan, quota - used


def _planned(job: QueryJob, plan: Plan) -> dict[str, Any]:
    """The job's fields the plan decides, written by the claim (the result's place is written once it is stored)."""
    # Anonymous results share one space: their names come from the (unguessable) job id only.
    table_name = (job.table_name or default_table_name(job)) if job.owner_id else f"job_{job.id.hex}"
    return {"engine": plan.engine, "native_sql": plan.sql, "engine_reason": plan.reason, "table_name": table_name,
            "result_columns": [c.as_dict() for c in plan.columns]}


def _run(job: QueryJob, queue: Queue, plan: Plan, engine: Engine, room: int) -> None:
    job_id = str(job.id)
    into = TableName(mydb_schema(job.owner_id), job.table_name)
    timeout = queue.timeout_for(job.execution_duration)
    try:
        if plan.local:
            stored = store_local(plan, job.owner, engine, into, float(timeout))
        else:
            create_uploads(engine, plan)
            stored = engine.execute(plan.sql, into=into, timeout_s=float(timeout), job_id=job_id, scope=plan.scope)
    except QueryAborted:
        do_finish_job(job, phases.ABORTED)
        return
    except QueryTimeout:
        do_finish_job(job, phases.ERROR, error=f"The query ran longer than the time limit of the {queue.name} queue "
                      f"({timeout} s) and was stopped. Use the long queue, or narrow the query (a TOP, a tighter WHERE).")
        return
    except (EngineError, AdqlError, QueryError) as exc:
        do_finish_job(job, phases.ERROR, error=error_message(exc))
        return
    except Exception as exc:
        log.exception("job %s failed", job_id)
        do_finish_job(job, phases.ERROR, error=f"The query failed: {exc}")
        return
    finally:
        drop_uploads(engine, plan)
    _store(job, queue, engine, stored, into, room)


def _store(job: QueryJob, queue: Queue, engine: Engine, stored: StoredResult, into: TableName, room: int) -> None:
    if stored.bytes > room:  # measured before the run; others' jobs may have finished since, so look again
        used, quota = used_by(job.owner, scratch=job.scratch), quota_for(job.owner, scratch=job.scratch)
        if used + stored.bytes > quota:
            engine.drop(into)
            do_finish_job(job, phases.ERROR, error=_quota_message(used, quota, stored.bytes))
            return
    limits = [n for n in (job.maxrec, queue.row_limit) if n is not None]
    maxrec = min(limits) if limits else None  # the engine ran with LIMIT maxrec + 1 to see overflow
    rows, overflow = stored.rows, False
    if maxrec is not None and stored.rows > maxrec:
        rows, overflow = maxrec, True
    done = do_finish_job(job, phases.COMPLETED, row_count=rows, overflow=overflow, size_bytes=stored.bytes,
                         result_schema=into.schema, result_table=into.name, table_name=into.name)
    if not done:  # aborted or reaped while the engine was writing: keep nothing
        engine.drop(into)


def _dispatch_waiting(owner_id: int | None, queue: str) -> None:
    """A slot freed: send this owner's oldest waiting jobs again (the claim decides)."""
    limit = get_queue(queue).concurrency
    waiting = QueryJob.objects.filter(owner_id=owner_id, queue=queue, phase=phases.QUEUED).order_by("created")
    for job_id in waiting.values_list("id", flat=True)[:limit]:
        send_task("workers.query.run_query", str(job_id))


# ---- a synchronous query's heavy work, for the web request that waits (apps/query/sync_in_worker.py) ----

def run_sync_part(job_id: str, record: dict[str, Any], timeout_s: float, worker: str,
                  fields: dict[str, Any] | None = None) -> None:
    """Run the request's statement and hand its rows back (or the reason it failed).

    ``fields``: the job as the request sent it (sync_in_worker.job_fields), when it waits subscribed to its
    job's channel; the subscription then says whether it still waits, without a look at the portal database.
    """
    job = _sync_job(job_id, fields)
    if job is None:  # the request has ended meanwhile
        return
    job.plan, job.worker = record, worker[:255]
    try:
        plan = plan_from_record(job)
        engine = get_engine(plan.engine, engine_limits(get_queue(job.queue)))  # a worker's bounds, not the web's
    except Exception as exc:
        do_hand_back_sync_result(job, error=error_message(exc))
        return
    into = TableName(mydb_schema(job.owner_id), f"sync_{job.id.hex}")
    heartbeat = Heartbeat(job_id, engine)  # the request ended (client gone, time limit): cancel the statement
    heartbeat.start()
    try:
        create_uploads(engine, plan)
        if engine.name in STREAMED_HERE:
            stored = _inline_or_stored(engine, plan, into, timeout_s, job_id, worker)
            if stored is None:
                return  # published to the request, which writes the job with its end
        else:
            stored = engine.execute(plan.sql, into=into, timeout_s=timeout_s, job_id=job_id, scope=plan.scope)
    except QueryTimeout:
        do_hand_back_sync_result(job, error=f"The query ran longer than the time limit ({timeout_s:g} s).")
        return
    except Exception as exc:
        do_hand_back_sync_result(job, error=error_message(exc) if isinstance(exc, (EngineError, QueryError, QueryAborted))
                                 else f"The query failed: {exc}")
        return
    finally:
        heartbeat.stop()
        drop_uploads(engine, plan)
    if not do_hand_back_sync_result(job, table=into, rows=stored.rows, size=stored.bytes):
        engine.drop(into)  # nobody waits for it any more


def _sync_job(job_id: str, fields: dict[str, Any] | None) -> QueryJob | None:
    """The request's job as sent, while the request is seen subscribed; else as written (None: it has ended)."""
    if fields is not None and request_waits(job_id):
        return QueryJob(id=uuid.UUID(job_id), source=QueryJob.SOURCE_TAP_SYNC, phase=phases.EXECUTING, **fields)
    return QueryJob.objects.filter(pk=job_id, phase=phases.EXECUTING, source=QueryJob.SOURCE_TAP_SYNC).first()


# Engines whose rows come through this process anyway (DuckDB runs in it): a small result is handed back
# as it came. Spark writes a stored result from its executors, so there the table is written by Spark.
STREAMED_HERE = {"duckdb"}


def _inline_or_stored(engine: Engine, plan: Plan, into: TableName, timeout_s: float, job_id: str,
                      worker: str) -> StoredResult | None:
    """The statement's rows: None once published to the request (within INLINE_RESULT_BYTES), else
    stored as ``into``, the rows read so far first (one run of the statement either way)."""
    batches = engine.stream(plan.sql, timeout_s=timeout_s, job_id=job_id, scope=plan.scope, row_limit=plan.row_limit)
    held, size = list[pa.RecordBatch](), 0
    for batch in batches:
        held.append(batch)
        size += batch.nbytes
        if size > INLINE_RESULT_BYTES:
            break
    else:
        schema = held[0].schema if held else pa.schema([])
        if hand_back_inline(job_id, held, schema, worker):
            return None

    def counted() -> Iterator[pa.RecordBatch]:
        nonlocal size
        yield from held
        for batch in batches:
            size += batch.nbytes
            yield batch

    rows = engine.ingest(into, counted(), held[0].schema)
    return StoredResult(into, rows, size)


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
        if do_end_lost_job(job, now):
            reaped += 1
            if job.result_table or job.table_name:
                _drop_partial(job)
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
    if current_app.conf.task_always_eager:
        return 0
    try:
        with current_app.connection_for_read() as conn:
            return int(conn.default_channel.queue_declare(current_app.conf.task_default_queue, passive=True).message_count)
    except ChannelError:  # the queue does not exist (Redis drops empty lists): nothing waits
        return 0


def _destroy_expired(now: datetime) -> int:
    """UWS destruction: jobs past their destruction time go, with their results."""
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
    name = job.result_table or job.table_name
    try:
        get_engine(job.engine).drop(TableName(job.result_schema or mydb_schema(job.owner_id), name))
    except Exception:
        log.info("nothing to drop for reaped job %s", job.id, exc_info=True)
