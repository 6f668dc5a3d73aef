"""A heavy synchronous query, run by a worker while the web request waits for it.

routing.sync_in_worker decides (Spark, or a DuckDB scan estimated above
QUERY_SYNC_IN_WORKER_ABOVE_ROWS rows). The request's job stays the web process's
(source ``tap-sync``, EXECUTING, its heartbeat beaten by the web process, finished by
sync.py whatever happens); the worker (workers/query_execution.py ``run_sync_part``) only
runs the statement and hands back its rows, or why it failed.

A result of at most INLINE_RESULT_BYTES (an aggregate, a TOP n) comes back as one Arrow IPC
stream published on the job's channel, to which the request subscribed before sending the task
(``hand_back_inline``): no table written, read and dropped, no statement on the portal database.
Redis says how many subscribers received it; none (the request is gone, or has no Redis), and the
worker writes the table as for a bigger result: a table of the owner's MyDB space whose name the
worker writes into the job (``do_hand_back_sync_result``), which the request streams the same way
as an in-process result, and drops. Bounded by the request's time limit; a request that ends
first (client gone, time limit) finishes its job, and the worker's heartbeat sees that and
cancels the statement on its engine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import redis

from apps.core.tasks import send_task
from apps.uws import phases
from workers.engines import get_engine
from workers.engines.base import TableName

from . import live
from .live import PhaseChanges
from .models import QueryJob
from .planning import Plan, QueryError, plan_record
from .queues import engine_limits, get_queue

log = logging.getLogger(__name__)

HANDOFF_GRACE_S = 5.0  # beyond the time limit: the worker's own limit ends the statement first
POLL_S = 0.2  # the longest pause between two looks at the job without Redis
NOTIFIED_POLL_S = 1.0  # with Redis a hand-back wakes the request at once: the job is looked at only for its end
FIRST_POLL_S = 0.005
# Arrow bytes of a result published through Redis; beyond, through a table. Under Redis's default output
# buffer limit for a subscriber (8 MB for a minute; 32 MB at once closes its connection).
INLINE_RESULT_BYTES = 4 << 20
INLINE_MARK = b"\x00arrow\x00"  # starts a published result; a phase change publishes b"1"


def stream_from_worker(job: QueryJob, plan: Plan, timeout_s: float) -> Iterator[pa.RecordBatch]:
    """Have a worker run ``plan`` for ``job``; wait for its rows (published, or its table: streamed, then dropped)."""
    with PhaseChanges(str(job.pk)) as changes:  # subscribed first: a result published later is not missed
        # Subscribed, the request sends its job in the message: the worker need not read it (the subscription
        # tells it the request still waits); otherwise, or not seen subscribed yet, the worker reads it as before.
        send_task("workers.query.run_sync_part", str(job.id), plan_record(plan), timeout_s,
                  job_fields(job) if changes.notified else None)
        found = _wait_for_result(job, changes, timeout_s + HANDOFF_GRACE_S)
    if isinstance(found, list):
        yield from found
        return
    engine = get_engine(job.engine, engine_limits(get_queue(job.queue), web=True))  # reads the stored table only
    try:
        yield from engine.fetch(found)
    finally:
        engine.drop(found)
        QueryJob.objects.filter(pk=job.pk).update(result_schema="", result_table="", size_bytes=None)


def job_fields(job: QueryJob) -> dict[str, Any]:
    """What the worker needs of the request's job to run its statement (workers/query_execution.py)."""
    return {"owner_id": job.owner_id, "queue": job.queue, "engine": job.engine, "language": job.language,
            "native_sql": job.native_sql, "result_columns": job.result_columns}


def request_waits(job_id: str) -> bool | None:
    """Whether the request that sent ``job_id`` to a worker still waits (is subscribed); None: cannot tell."""
    client = live._redis()
    if client is None:
        return None
    try:
        return any(count for _, count in client.pubsub_numsub(live.PHASE_CHANNEL + job_id))
    except redis.RedisError:
        return None


def hand_back_inline(job_id: str, batches: list[pa.RecordBatch], schema: pa.Schema, worker: str) -> bool:
    """The worker's side: publish ``batches`` to the request that waits. False when nobody received them
    (no request subscribed, no Redis, Redis failing): the caller writes a table instead."""
    client = live._redis()
    if client is None:
        return False
    sink = pa.BufferOutputStream()
    sink.write(INLINE_MARK + worker.encode() + b"\x00")
    with pa.ipc.new_stream(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    try:
        return int(client.publish(live.PHASE_CHANNEL + job_id, sink.getvalue().to_pybytes())) > 0
    except redis.RedisError:
        log.warning("could not publish the result of sync query %s", job_id, exc_info=True)
        return False


def _published(message: bytes | None, job: QueryJob) -> list[pa.RecordBatch] | None:
    if message is None or not message.startswith(INLINE_MARK):
        return None
    worker, _, arrow = message[len(INLINE_MARK):].partition(b"\x00")
    job.worker = worker.decode()  # written with the job's end (sync.finish_sync)
    return list(pa.ipc.open_stream(arrow))


def _wait_for_result(job: QueryJob, changes: PhaseChanges, seconds: float) -> TableName | list[pa.RecordBatch]:
    deadline = time.monotonic() + seconds
    pause = NOTIFIED_POLL_S if changes.notified else FIRST_POLL_S
    while True:
        state = QueryJob.objects.filter(pk=job.pk).values("phase", "result_schema", "result_table", "error").first()
        if state is None or state["phase"] != phases.EXECUTING:
            raise QueryError("The synchronous query was ended while a worker ran it.")
        if state["error"]:
            raise QueryError(state["error"])
        if state["result_table"]:
            return TableName(state["result_schema"], state["result_table"])
        if time.monotonic() >= deadline:
            raise QueryError(f"The query ran longer than the time limit ({seconds - HANDOFF_GRACE_S:g} s); "
                             "use the asynchronous service (/tap/async) for long queries.")
        published = _published(changes.pause(min(pause, max(0.0, deadline - time.monotonic()))), job)
        if published is not None:
            return published
        pause = NOTIFIED_POLL_S if changes.notified else min(pause * 1.5, POLL_S)
