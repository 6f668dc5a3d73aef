"""Side effects on query jobs. The query pages, TAP sync/async and the admin all call these."""

from __future__ import annotations

import logging
import pathlib
import shutil
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pyarrow as pa
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection, transaction
from django.db.models import BooleanField, Count, Subquery
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.db.models.lookups import LessThan
from django.utils import timezone

from apps import formats
from apps.activity.actions import do_record_event
from apps.adql import AdqlError, ColumnInfo
from apps.core.tasks import send_task
from apps.formats.readers import Limits, ReaderError
from apps.metadata.actions import do_ingest_file, do_publish_table, do_set_access_level
from apps.metadata.models import PUBLIC
from apps.metadata.validators import validate_identifier
from apps.uws import phases
from workers.engines import get_engine
from workers.engines.base import CsvText, Engine, TableName, WritesCsv

from . import kinds, live
from .imports import guess_format, read_import
from .models import PublicationRequest, QueryJob
from .planning import ADQL_LANGUAGES, Plan, QueryError, check_table_name, error_message, plan_query, plan_record
from .queues import Queue, QueueError, check_queue, engine_limits, get_queue
from .quotas import human_bytes, quota_for, used_by
from .routing import sync_in_worker
from .running import create_uploads, drop_uploads, local_stream
from .sharing import drop_resource, ensure_resource, rename_resource
from .sync import CLIENT_KEY, SyncLimitReached, SyncRecord, SyncResult, finish_sync, record_failed_sync, start_sync
from .sync_in_worker import stream_from_worker
from .uploads import Upload

log = logging.getLogger(__name__)
AnyUser = User | AnonymousUser
ENGINE_PARAMETER = "engine"  # in a job's parameters: the engine its user chose (empty: routing decides)

__all__ = [
    "QueryError",
    "SyncLimitReached",
    "SyncResult",
    "do_abort_job",
    "do_beat_job",
    "do_claim_job",
    "do_clean_scratch",
    "do_create_job",
    "do_decide_publication",
    "do_delete_job",
    "do_drop_result",
    "do_end_lost_job",
    "do_finish_job",
    "do_import_table",
    "do_rename_result",
    "do_request_publication",
    "do_rerun_job",
    "do_run_job",
    "do_update_job",
    "result_batches",
    "run_sync",
]


def _owner(user: AnyUser | None) -> User | None:
    return user if user is not None and user.is_authenticated else None  # type: ignore[return-value]


def _engine(name: str, limits: Any = None) -> Engine:
    return get_engine(name, limits)


def _table(job: QueryJob) -> Any:
    return TableName(job.result_schema, job.result_table)


# ---- create, run, change ---------------------------------------------------------

@transaction.atomic
def do_create_job(owner: AnyUser | None, *, query: str, language: str = "ADQL", queue: str | None = None,
                  maxrec: int | None = None, response_format: str = "", uploads: Sequence[Upload] = (),
                  table_name: str = "", run_id: str = "", source: str = QueryJob.SOURCE_WEB,
                  execution_duration: int = 0, parameters: dict[str, Any] | None = None, scratch: bool = False,
                  destruction: datetime | None = None, run: bool = False) -> QueryJob:
    """A PENDING job (QUEUED at once with ``run``, as UWS PHASE=RUN asks), in one transaction.
    Never refuses a bad query: that is found (and reported) when it runs.

    A queue that does not exist, or that this user may not use, is refused here (QueueError), not
    stored: a job naming one could never be shown or run. ``destruction`` may only bring the
    service's own destruction time closer.
    """
    real = _owner(owner)
    checked = check_queue(owner, queue)
    keep_until = timezone.now() + timedelta(days=_keep_days(scratch))
    job = QueryJob.objects.create(
        owner=real, query=query, language=language or "ADQL", queue=checked.name,
        maxrec=maxrec, response_format=response_format, uploads=[u.as_json() for u in uploads],
        table_name=table_name.strip(), run_id=run_id[:255], source=source, execution_duration=max(execution_duration, 0),
        parameters=parameters or {}, scratch=scratch and real is not None,
        destruction=min(destruction, keep_until) if destruction is not None else keep_until,
    )
    do_record_event(kinds.QUERY_SUBMITTED, user=real, summary=f"created query job {job.id}", job=str(job.id), source=source)
    # Queued in the same transaction: nobody else sees the row yet (no lock to take) and its queue was just checked.
    return _queue_job(job, checked) if run else job


def do_rerun_job(old: QueryJob) -> QueryJob:
    """The same query again as a new job (same language, queue, MAXREC and uploads while they exist);
    the result gets a fresh name so the old one stays."""
    uploads = [Upload.from_json(u) for u in old.uploads]
    if any(not u.path.exists() for u in uploads):
        raise QueryError("The tables uploaded with this query are gone: upload them again to rerun it.")
    with transaction.atomic():
        job = do_create_job(old.owner, query=old.query, language=old.language, queue=old.queue, maxrec=old.maxrec,
                            uploads=uploads, parameters={"rerun_of": str(old.id)})
        return do_run_job(job)


def _keep_days(scratch: bool) -> int:
    return int(getattr(settings, "QUERY_SCRATCH_DAYS", 7)) if scratch else int(settings.QUERY_DESTRUCTION_DAYS)


def do_clean_scratch(now: datetime | None = None) -> int:
    """Delete MyScratch jobs (and their tables) older than QUERY_SCRATCH_DAYS; how many went."""
    cutoff = (now or timezone.now()) - timedelta(days=_keep_days(True))
    old = list(QueryJob.objects.filter(scratch=True, created__lt=cutoff))
    for job in old:
        do_delete_job(job)
    return len(old)


def _fail(job: QueryJob, message: str) -> QueryJob:
    job.phase, job.error, job.end_time = phases.ERROR, message, timezone.now()
    job.save(update_fields=["phase", "error", "end_time"])
    transaction.on_commit(lambda: live.notify(job))
    return job


@transaction.atomic
def do_run_job(job: QueryJob, plan: Plan | None = None) -> QueryJob:
    """PENDING/HELD -> QUEUED, or ERROR with a readable message when the query cannot run.

    ``plan``: the one the caller made moments ago for this owner, query and queue (the query page
    checks the query before it makes the job), so the query is translated once per request.
    """
    job = QueryJob.objects.select_for_update().get(pk=job.pk)
    phases.check_transition(job.phase, phases.QUEUED)
    try:
        queue = check_queue(job.owner, job.queue)
    except QueueError as exc:
        return _fail(job, error_message(exc))
    return _queue_job(job, queue, plan)


def _queue_job(job: QueryJob, queue: Queue, plan: Plan | None = None) -> QueryJob:
    """do_run_job's work on a job locked (or created) in the caller's transaction, whose ``queue`` was checked."""
    try:
        if job.owner_id is not None and job.source != QueryJob.SOURCE_TAP_SYNC:
            job.table_name = check_table_name(job.owner, job.table_name) if job.table_name else ""
        plan = plan or plan_query(job.owner, query=job.query, language=job.language, maxrec=_maxrec(job, queue.row_limit),
                                  uploads=[Upload.from_json(u) for u in job.uploads], job_id=str(job.id),
                                  engine=requested_engine(job))
    except (AdqlError, QueryError, QueueError) as exc:
        return _fail(job, error_message(exc))
    job.phase, job.engine, job.native_sql, job.queued, job.error = phases.QUEUED, plan.engine, plan.sql, timezone.now(), ""
    job.result_columns, job.plan, job.engine_reason = [c.as_dict() for c in plan.columns], plan_record(plan), plan.reason
    job.save(update_fields=["phase", "engine", "native_sql", "queued", "error", "table_name", "result_columns", "plan",
                            "engine_reason"])
    job_id = str(job.id)
    transaction.on_commit(lambda: _enqueue(job_id))
    transaction.on_commit(lambda: live.notify(job))
    return job


def requested_engine(job: QueryJob) -> str:
    """The engine the user asked for (TAP ENGINE, the query form's choice), kept in the job's parameters."""
    return str((job.parameters or {}).get(ENGINE_PARAMETER) or "")


def _maxrec(job: QueryJob, row_limit: int | None) -> int | None:
    limits = [n for n in (job.maxrec, row_limit) if n is not None]
    return min(limits) if limits else None


def _enqueue(job_id: str) -> None:
    send_task("workers.query.run_query", job_id)


# ---- a worker's changes of a job's state (workers/query_execution.py runs the job) -----------

CLAIMED, BUSY, GONE = "claimed", "busy", "gone"
LOST = "The worker running this query stopped (it was restarted or ran out of memory). Please run the query again."


def do_claim_job(job: QueryJob, worker: str, **planned: Any) -> str:
    """QUEUED -> EXECUTING for exactly one worker, within the owner's concurrency limit: CLAIMED, BUSY or GONE.

    ``planned``: what the worker will run (engine, native SQL, result names), written by the same UPDATE,
    so a job costs one commit before it runs. The commit comes before the engine starts: a worker killed
    while running leaves an EXECUTING job whose heartbeat goes stale, and the reaper ends it.
    """
    # One conditional UPDATE: still QUEUED, and fewer of the owner's jobs EXECUTING in this queue than
    # its limit. Two claims at the very same instant may both pass the count (no lock, to keep the
    # claim one round trip); the limit is a fairness rule, so that rare overshoot is accepted.
    running = (QueryJob.objects.filter(owner_id=job.owner_id, queue=job.queue, phase=phases.EXECUTING)
               .order_by().values("queue").annotate(n=Count("pk")).values("n"))
    now = timezone.now()
    # Not worth a wait for the disk: a claim lost in a database crash leaves the job QUEUED, so this
    # worker's finish finds it not EXECUTING and drops its result, and the reaper sends the job again.
    claimed = (QueryJob.objects.filter(pk=job.pk, phase=phases.QUEUED)
               .filter(LessThan(Coalesce(Subquery(running), 0), get_queue(job.queue).concurrency))
               .filter(*committed_without_waiting_for_disk())
               .update(phase=phases.EXECUTING, start_time=now, heartbeat=now, worker=worker[:255], **planned))
    if claimed == 1:
        job.phase, job.start_time, job.heartbeat, job.worker = phases.EXECUTING, now, now, worker[:255]
        for name, value in planned.items():
            setattr(job, name, value)
        live.notify(job)
        return CLAIMED
    return BUSY if QueryJob.objects.filter(pk=job.pk, phase=phases.QUEUED).exists() else GONE


def committed_without_waiting_for_disk() -> list[RawSQL]:
    """A condition, always true, that makes the transaction of the statement filtered by it commit before
    the write-ahead log is flushed, on PostgreSQL (``set_config(..., true)``: that transaction only; in
    autocommit, the statement's own). Inside the statement, so the claim stays one round trip (a SET LOCAL
    would add three: BEGIN, SET, COMMIT). A crash of the database server may then lose the last ~0.6 s of
    such commits, never corrupt anything: for writes whose loss is harmless only. Elsewhere: no condition."""
    if connection.vendor != "postgresql":
        return []
    return [RawSQL("set_config('synchronous_commit', 'off', true) = 'off'", (), output_field=BooleanField())]


def do_beat_job(job_id: str) -> None:
    """The worker running ``job_id`` is alive (the reaper ends jobs whose heartbeat goes stale)."""
    # A beat lost in a database crash is followed by the next one: no need to wait for the disk.
    QueryJob.objects.filter(pk=job_id, phase=phases.EXECUTING).filter(*committed_without_waiting_for_disk()).update(
        heartbeat=timezone.now())


@transaction.atomic
def do_finish_job(job: QueryJob, phase: str, **fields: Any) -> bool:
    """EXECUTING -> ``phase`` (COMPLETED, ERROR, ABORTED) with its record, in one transaction.

    False when the job left EXECUTING meanwhile (aborted, reaped): its owner or the reaper decided,
    and the caller drops what it wrote. A stored result of a user gets its Resource (sharing.py).
    ``job`` is the worker's copy (owner loaded), brought up to date here.
    """
    now = timezone.now()
    done = QueryJob.objects.filter(pk=job.pk, phase=phases.EXECUTING).update(phase=phase, end_time=now, **fields) == 1
    if done:
        job.phase, job.end_time = phase, now
        for name, value in fields.items():
            setattr(job, name, value)
        do_record_event(kinds.QUERY_FINISHED, user=job.owner, summary=f"query job {job.id} {job.phase}", job=str(job.id),
                        phase=job.phase, rows=job.row_count, engine=job.engine)
        if phase == phases.COMPLETED and job.owner_id is not None:  # anonymous results are never shared
            ensure_resource(job)  # so its owner can share it
    elif QueryJob.objects.filter(pk=job.pk).exists():
        job.refresh_from_db()  # what its owner or the reaper made of it
    transaction.on_commit(lambda: live.notify(job))
    return done


def do_end_lost_job(job: QueryJob, now: datetime) -> bool:
    """EXECUTING -> ERROR for a job whose worker died (the reaper found its heartbeat stale)."""
    done = QueryJob.objects.filter(pk=job.pk, phase=phases.EXECUTING).update(phase=phases.ERROR, end_time=now, error=LOST)
    if done:
        job.refresh_from_db()
        live.notify(job)
    return bool(done)


def do_hand_back_sync_result(job: QueryJob, *, table: Any = None, rows: int = 0, size: int = 0, error: str = "") -> bool:
    """A worker ran a synchronous query for the web request that waits (sync_in_worker.py): its table, or
    why it failed. The phase stays the request's to change; False when the request has ended meanwhile."""
    fields: dict[str, Any] = {"error": error} if error else {
        "result_schema": table.schema, "result_table": table.name, "size_bytes": size, "row_count": rows}
    fields["worker"] = job.worker  # which worker ran it
    done = QueryJob.objects.filter(pk=job.pk, phase=phases.EXECUTING, source=QueryJob.SOURCE_TAP_SYNC).update(**fields) == 1
    live.publish_change(str(job.pk))
    return done


_UPDATABLE = {"query", "language", "queue", "maxrec", "response_format", "table_name", "run_id", "execution_duration",
              "destruction", "parameters", "uploads"}


@transaction.atomic
def do_update_job(job: QueryJob, **fields: Any) -> QueryJob:
    """Change UWS parameters; only a PENDING job may change (destruction and run id any time)."""
    unknown = set(fields) - _UPDATABLE
    if unknown:
        raise QueryError(f"These job parameters cannot be changed: {', '.join(sorted(unknown))}.")
    job = QueryJob.objects.select_for_update().get(pk=job.pk)
    if job.phase != phases.PENDING and set(fields) - {"destruction", "run_id"}:
        raise QueryError(f"The job is {job.phase}: parameters can only change while it is PENDING.")
    if "queue" in fields:
        fields["queue"] = check_queue(job.owner, fields["queue"]).name
    if "uploads" in fields:
        fields["uploads"] = [u.as_json() if isinstance(u, Upload) else u for u in fields["uploads"]]
    if "execution_duration" in fields:
        fields["execution_duration"] = max(int(fields["execution_duration"] or 0), 0)
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=list(fields))
    return job


@transaction.atomic
def do_abort_job(job: QueryJob) -> QueryJob:
    """Stop a job: the engine cancels a running statement; the worker drops what it wrote."""
    job = QueryJob.objects.select_for_update().get(pk=job.pk)
    if job.is_final:
        return job
    phases.check_transition(job.phase, phases.ABORTED)
    previous, was_running = job.phase, job.phase == phases.EXECUTING
    job.phase, job.end_time = phases.ABORTED, timezone.now()
    job.save(update_fields=["phase", "end_time"])
    do_record_event(kinds.QUERY_ABORTED, user=job.owner, summary=f"aborted query job {job.id}", job=str(job.id),
                    phase=previous)
    if was_running and job.engine:
        engine, job_id = job.engine, str(job.id)
        # Server engines cancel from any process; DuckDB runs inside the worker,
        # whose heartbeat sees ABORTED within a second and cancels there.
        transaction.on_commit(lambda: _abort_on_engine(engine, job_id))
    transaction.on_commit(lambda: live.notify(job))
    return job


def _abort_on_engine(engine: str, job_id: str) -> None:
    try:
        _engine(engine).abort(job_id)
    except Exception:
        log.warning("could not abort job %s on %s", job_id, engine, exc_info=True)


def do_delete_job(job: QueryJob) -> None:
    """Delete the job and its stored result (the data too)."""
    if not job.is_final and job.phase not in (phases.PENDING, phases.HELD):
        do_abort_job(job)
    with transaction.atomic():
        job = QueryJob.objects.select_for_update().get(pk=job.pk)
        if job.result_table:
            _drop_quietly(job)
        do_record_event(kinds.QUERY_DELETED, user=job.owner, summary=f"deleted query job {job.id}", job=str(job.id))
        job.delete()


def _drop_quietly(job: QueryJob) -> None:
    try:
        _engine(job.engine).drop(_table(job))
    except Exception:
        log.warning("could not drop the result of job %s", job.id, exc_info=True)


@transaction.atomic
def do_rename_result(job: QueryJob, new_name: str) -> QueryJob:
    job = QueryJob.objects.select_for_update().get(pk=job.pk)
    if not job.result_table:
        raise QueryError("This job has no stored result to rename.")
    if job.owner_id is None:
        raise QueryError("Results of anonymous jobs cannot be renamed.")
    new_name = check_table_name(job.owner, new_name.strip(), exclude=job)
    if new_name != job.result_table:
        _engine(job.engine).rename(_table(job), TableName(job.result_schema, new_name))
    old = job.table_name
    job.table_name = job.result_table = new_name
    job.save(update_fields=["table_name", "result_table"])
    rename_resource(job)
    do_record_event(kinds.QUERY_RENAMED, user=job.owner, summary=f"renamed table {old} to {new_name}", job=str(job.id))
    return job


@transaction.atomic
def do_drop_result(job: QueryJob) -> QueryJob:
    """Delete the stored result (its data) and keep the job in the history."""
    job = QueryJob.objects.select_for_update().get(pk=job.pk)
    if job.result_table:
        _engine(job.engine).drop(_table(job))
    drop_resource(job)  # the table is gone, and so are its privileges
    job.result_table, job.size_bytes = "", 0
    job.save(update_fields=["result_table", "size_bytes", "resource"])
    do_record_event(kinds.QUERY_DELETED, user=job.owner, summary=f"deleted table {job.table_name}", job=str(job.id))
    return job


# ---- import a file into MyDB ---------------------------------------------------------

def import_limits() -> Limits:
    """What one import may build (QUERY_IMPORT_MAX_COLUMNS / _CELLS / _BYTES; the file itself is bounded by the view)."""
    max_bytes = int(getattr(settings, "QUERY_IMPORT_MAX_BYTES", 256 * 1024 * 1024))
    return Limits(max_columns=int(getattr(settings, "QUERY_IMPORT_MAX_COLUMNS", 1000)),
                  max_cells=int(getattr(settings, "QUERY_IMPORT_MAX_CELLS", 50_000_000)), max_bytes=4 * max_bytes)


def do_import_table(owner: AnyUser, *, table_name: str, data: bytes, filename: str = "", fmt: str = "",
                    queue: str | None = None) -> QueryJob:
    """A file's content as a new MyDB table: a queued job storing ``SELECT * FROM TAP_UPLOAD.<t>``.

    Refused (QueryError, nothing stored) when the user is anonymous, the name is taken or bad, the
    space is full, the file is unreadable or over the limits, or it has more rows than the queue keeps.
    Units, UCDs and descriptions the file declares become the table's column metadata.
    """
    real = _owner(owner)
    if real is None:
        raise QueryError("Log in to import tables into MyDB.")
    name = check_table_name(real, table_name.strip())
    used, quota = used_by(real), quota_for(real)
    if used >= quota:
        raise QueryError(f"Your MyDB space is full ({human_bytes(used)} of {human_bytes(quota)}): delete tables first.")
    chosen = check_queue(real, queue)
    fmt = fmt or guess_format(filename, data)
    try:
        table = read_import(data, fmt, import_limits())
    except ReaderError as exc:
        raise QueryError(str(exc)) from None
    if chosen.row_limit is not None and table.num_rows > chosen.row_limit:
        raise QueryError(f"The file has {table.num_rows} rows; the {chosen.name} queue keeps at most {chosen.row_limit}.")
    folder = pathlib.Path(settings.VAR_DIR) / "uploads" / uuid.uuid4().hex  # where engines may read uploads
    folder.mkdir(parents=True)
    try:
        upload = Upload(name, folder / f"{name}.parquet")
        pq_write(table, upload.path)
        with transaction.atomic():
            job = do_create_job(real, query=f"SELECT * FROM TAP_UPLOAD.{name}", queue=chosen.name, uploads=[upload],
                                table_name=name, parameters={"import": filename[:255], "format": fmt})
            do_record_event(kinds.TABLE_IMPORTED, user=real, summary=f"imported {filename or 'a file'} as {name} ({table.num_rows} rows)",
                            job=str(job.id))
            return do_run_job(job)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def pq_write(table: pa.Table, path: pathlib.Path) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, path)


# ---- publishing a MyDB table to the community -------------------------------------

@transaction.atomic
def do_request_publication(user: AnyUser, job: QueryJob, *, table_name: str, title: str, description: str,
                           citation: str) -> PublicationRequest:
    """Ask the data managers to publish this stored result; they decide in the admin (do_decide_publication)."""

    owner = _owner(user)
    if owner is None or job.owner_id != owner.pk or not job.result_table or job.phase != phases.COMPLETED:
        raise QueryError("Only the owner of a stored result may ask for it to be published.")
    if not (title.strip() and description.strip() and citation.strip()):
        raise QueryError("A published table needs a title, a description and a citation.")
    try:
        validate_identifier(table_name)
    except Exception as exc:
        raise QueryError(f"{table_name!r} cannot be the published table's name: {exc}") from None
    if PublicationRequest.objects.filter(job=job, status=PublicationRequest.PENDING).exists():
        raise QueryError("This table is waiting for a decision already.")
    request = PublicationRequest.objects.create(job=job, requested_by=owner, table_name=table_name.lower(), title=title.strip()[:255],
                                                description=description.strip(), citation=citation.strip())
    do_record_event(kinds.PUBLICATION_REQUESTED, user=owner, summary=f"asked to publish {job.table_name} as {table_name}",
                    job=str(job.id), publication_request=request.pk)
    return request


def do_decide_publication(manager: User, request: PublicationRequest, *, approve: bool, note: str = "",
                          schema: str = "") -> PublicationRequest:
    """Approve (copy the data into a published, public table of ``schema``, default COMMUNITY_SCHEMA) or reject.

    Approval goes through the metadata app's ingest, which leaves nothing if it fails; the request stays
    pending then, and the error (a ValidationError) is for the manager.
    """
    import tempfile

    from .publication import write_result_parquet  # deferred: publication.py imports this module (a cycle)

    if request.status != PublicationRequest.PENDING:
        raise QueryError(f"This request was {request.status} already.")
    table = None
    if approve:
        schema = schema or str(getattr(settings, "COMMUNITY_SCHEMA", "community"))
        with tempfile.TemporaryDirectory(dir=settings.VAR_DIR) as folder:
            path = pathlib.Path(folder) / f"{request.table_name}.parquet"
            write_result_parquet(request.job, path)
            table = do_ingest_file(manager, path, schema=schema, table=request.table_name, engine=settings.DEFAULT_ENGINE, fmt="parquet",
                                   title=request.title, description=request.description, citation=request.citation)
        do_set_access_level(manager, table, PUBLIC)
        if table.schema.access_level != PUBLIC:
            do_set_access_level(manager, table.schema, PUBLIC)
        do_publish_table(manager, table)
    request.status = PublicationRequest.APPROVED if approve else PublicationRequest.REJECTED
    request.note, request.decided_by, request.decided, request.published_table = note, manager, timezone.now(), table
    request.save(update_fields=["status", "note", "decided_by", "decided", "published_table"])
    do_record_event(kinds.PUBLICATION_DECIDED, user=manager, summary=f"{request.status} the publication of {request.title}",
                    publication_request=request.pk, job=str(request.job_id))
    return request


# ---- results ---------------------------------------------------------------------

def result_columns(job: QueryJob) -> list[ColumnInfo]:
    return [ColumnInfo.from_dict(c) for c in job.result_columns]


def result_batches(job: QueryJob, *, offset: int = 0, limit: int | None = None, order_by: str | None = None,
                   descending: bool = False) -> Iterator[pa.RecordBatch]:
    """The stored result (or a page of it), streamed; never more than the job's row count (MAXREC)."""
    if job.phase != phases.COMPLETED or not job.result_table:
        raise QueryError("This job has no stored result.")
    total = job.row_count or 0
    end = total if limit is None else min(total, offset + limit)
    if offset >= end:
        return
    remaining = end - offset
    for batch in _engine(job.engine).fetch(_table(job), offset=offset, limit=remaining, order_by=order_by, descending=descending):
        if batch.num_rows > remaining:
            batch = batch.slice(0, remaining)
        if batch.num_rows:
            yield batch
        remaining -= batch.num_rows
        if remaining <= 0:
            return


# ---- synchronous queries (TAP sync) ------------------------------------------------
# The stream, the per-user limit and the heartbeat live in sync.py.

def run_sync(owner: AnyUser | None, *, query: str, language: str = "ADQL", maxrec: int | None = None,
             uploads: Sequence[Upload] = (), response_format: str = "", timeout_s: float | None = None,
             client_address: str = "", engine: str = "") -> SyncResult:
    """Run a query now and stream its rows (nothing stored). Bad queries raise AdqlError/QueryError;
    one sync query too many for this user (or, anonymous, this ``client_address``) raises SyncLimitReached."""
    real = _owner(owner)
    queue = get_queue(None)
    limit = _maxrec(QueryJob(maxrec=maxrec), queue.row_limit)
    now = timezone.now()
    job = QueryJob(
        owner=real, query=query, language=language or "ADQL", queue=queue.name, maxrec=maxrec,
        response_format=response_format, uploads=[u.as_json() for u in uploads], source=QueryJob.SOURCE_TAP_SYNC,
        phase=phases.EXECUTING, created=now, start_time=now, heartbeat=now, destruction=now + timedelta(days=settings.QUERY_DESTRUCTION_DAYS),
        parameters={**({} if real is not None else {CLIENT_KEY: client_address}), **({ENGINE_PARAMETER: engine} if engine else {})},
    )
    try:  # planned before anything is written: the job, its plan and its activity record then take one commit
        plan = plan_query(owner, query=query, language=job.language, maxrec=limit, uploads=uploads, job_id=str(job.id),
                          engine=requested_engine(job))
    except BaseException as exc:
        record_failed_sync(job, error_message(exc) if isinstance(exc, Exception) else "Interrupted.")
        raise
    job.engine, job.native_sql, job.result_columns = plan.engine, plan.sql, [c.as_dict() for c in plan.columns]
    job.engine_reason = plan.reason
    record = start_sync(job)  # the owner's slot (sync.py: with Redis the job is written when it ends)
    try:
        result = _start_sync(record, plan, limit, float(min(timeout_s, queue.time_limit) if timeout_s else queue.time_limit))
    except BaseException as exc:  # whatever stops it before the stream exists, the job must not stay EXECUTING
        finish_sync(record, phases.ERROR, error=error_message(exc) if isinstance(exc, Exception) else "Interrupted.")
        raise
    if job.language.strip().upper() in ADQL_LANGUAGES:
        result.tables = plan.translation.tables  # what the result's description needs, without parsing again
    return result


def _start_sync(record: SyncRecord, plan: Plan, limit: int | None, timeout: float) -> SyncResult:
    job = record.job
    if plan.local:
        return _primed(record, plan.columns, local_stream(plan, job.owner, timeout), limit)
    if sync_in_worker(plan.engine, plan.estimated_rows):  # heavy work: a worker runs it, this request streams its table
        record.write_running()  # the worker hands its table back through the job
        return _primed(record, plan.columns, stream_from_worker(job, plan, timeout), limit)
    # This runs in the web process, beside its requests: the engine is bounded more tightly (ENGINE_WEB_LIMITS).
    engine = _engine(plan.engine, engine_limits(get_queue(job.queue), web=True))
    text = _engine_csv(engine, plan, job, timeout, limit)
    if text is not None:
        result = SyncResult(record, plan.columns, text, limit)
        text.prime()  # as _primed does: a query failing before its first row is answered 400
        return result
    try:
        create_uploads(engine, plan)
        source = engine.stream(plan.sql, timeout_s=timeout, job_id=str(job.id), scope=plan.scope, row_limit=plan.row_limit)
    except BaseException:
        drop_uploads(engine, plan)
        raise

    def cleaned() -> Iterator[pa.RecordBatch]:
        try:
            yield from source
        finally:
            drop_uploads(engine, plan)

    return _primed(record, plan.columns, cleaned(), limit)


def _engine_csv(engine: Engine, plan: Plan, job: QueryJob, timeout: float, limit: int | None) -> CsvText | None:
    """A CSV result the engine writes itself (PostgreSQL's COPY), where it writes it as apps.formats would."""
    if plan.uploads or not isinstance(engine, WritesCsv) or not _asks_for_csv(job.response_format):
        return None
    return engine.stream_csv(plan.sql, timeout_s=timeout, job_id=str(job.id), maxrec=limit, scope=plan.scope,
                             accept=partial(formats.engine_csv_matches, plan.columns), row_limit=plan.row_limit)


def _asks_for_csv(response_format: str) -> bool:
    try:
        return formats.resolve_format(response_format).key == "csv"
    except formats.UnknownFormat:
        return False


def _primed(record: SyncRecord, columns: list[ColumnInfo], source: Iterator[pa.RecordBatch], limit: int | None) -> SyncResult:
    """Run the query up to its first rows before the response starts: one that fails before any row (out of
    memory, a name only the engine knows, the time limit) is answered 400 with the reason, not a broken 200.
    The result exists first, so its heartbeat beats while the first rows are awaited."""
    primed = _FirstPulled(source)
    result = SyncResult(record, columns, primed, limit)
    primed.pull()
    return result


class _FirstPulled:
    """An engine's batches whose first is pulled ahead (``pull``), then handed out again in order."""

    def __init__(self, source: Iterator[pa.RecordBatch]) -> None:
        self.source, self.first = source, list[pa.RecordBatch]()

    def pull(self) -> None:
        batch = next(self.source, None)
        self.first = [batch] if batch is not None else []

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        return self.first.pop() if self.first else next(self.source)

    def close(self) -> None:
        close = getattr(self.source, "close", None)
        if close is not None:
            close()
