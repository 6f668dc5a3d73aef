"""What several engines share: names, the abort flag, the timeout watcher."""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from types import TracebackType

import pyarrow as pa
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from .base import EngineError, QueryAborted, QueryTimeout, TableName

# Table and schema names we create: plain identifiers, so they are safe as
# file names and need no quoting rules of their own in any engine.
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
JOB_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
ABORT_KEY = "daiquiri:engines:abort:{}"
log = logging.getLogger(__name__)
POLL_S = 0.1


def check_name(table: TableName) -> TableName:
    for part in (table.schema, table.name):
        if not NAME_RE.match(part):
            raise EngineError(f"'{part}' is not a valid table or schema name: use letters, digits and _ "
                              "(starting with a letter), at most 63 characters")
    return table


def check_job_id(job_id: str) -> str:
    if not JOB_ID_RE.match(job_id):
        raise EngineError(f"invalid job id {job_id!r}")
    return job_id


def secret_hash(*parts: str, size: int = 24) -> str:
    """A keyed hash (SECRET_KEY) of ``parts``: the same in every process, guessable by nobody."""
    try:
        secret = str(settings.SECRET_KEY)
    except ImproperlyConfigured:  # a bare engine without the portal's settings: the same key, from the environment
        secret = os.environ.get("SECRET_KEY", "")
    key = secret.encode()
    return hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()[:size]


def run_tag(job_id: str) -> str:
    """What a job is called where other database users can look (PostgreSQL's
    application_name, MariaDB's PROCESSLIST, Spark tags): never the job id itself."""
    return secret_hash("run", check_job_id(job_id))


def view_name(table: TableName) -> str:
    """The one-part name a native query reads a stored table by on DuckDB and Spark."""
    return f"{table.schema}__{table.name}"[:40] + "_" + hashlib.sha256(f"{table.schema}.{table.name}".encode()).hexdigest()[:8]


def request_abort(job_id: str) -> None:
    """Raise the abort flag of ``job_id``; watchers in any process poll it."""
    cache.set(ABORT_KEY.format(check_job_id(job_id)), True, timeout=24 * 3600)


def abort_requested(job_id: str) -> bool:
    return bool(cache.get(ABORT_KEY.format(job_id)))


class Watch:
    """A thread that calls ``interrupt()`` at the deadline or when the job's
    abort flag is raised, and remembers why (``reason``).

    Use as a context manager around the statement; afterwards call
    ``raise_if_stopped()`` when the statement failed, to turn the engine's
    own cancellation error into QueryTimeout or QueryAborted.
    """

    def __init__(self, job_id: str, timeout_s: float, interrupt: Callable[[], None],
                 *, enforce_timeout: bool = True, repeat_s: float | None = None) -> None:
        self.job_id = check_job_id(job_id)
        self.timeout_s = timeout_s
        self.interrupt = interrupt
        self.enforce_timeout = enforce_timeout
        # Interrupt again every repeat_s seconds until the statement ends: for
        # engines (Spark) where an interrupt only reaches work already started.
        self.repeat_s = repeat_s
        self.reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{job_id}", daemon=True)

    def __enter__(self) -> Watch:
        if abort_requested(self.job_id):
            raise QueryAborted("the query was aborted")
        self._deadline = time.monotonic() + self.timeout_s
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            if self.enforce_timeout and time.monotonic() >= self._deadline:
                self.reason = "timeout"
            elif abort_requested(self.job_id):
                self.reason = "abort"
            else:
                continue
            break
        while self.reason is not None:
            try:
                self.interrupt()
            except Exception:
                log.warning("interrupting job %s failed", self.job_id, exc_info=True)
            if self.repeat_s is None or self._stop.wait(self.repeat_s):
                return

    def raise_if_stopped(self) -> None:
        if self.reason == "timeout":
            raise QueryTimeout(f"the query ran longer than the time limit of {self.timeout_s:g} s")
        if self.reason == "abort":
            raise QueryAborted("the query was aborted")


def timeout_error(timeout_s: float) -> QueryTimeout:
    return QueryTimeout(f"the query ran longer than the time limit of {timeout_s:g} s")


def with_schema(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """The reader's batches, or one empty batch so a caller always learns the schema."""
    empty = True
    for batch in reader:
        empty = False
        yield batch
    if empty:
        yield pa.RecordBatch.from_pylist([], schema=reader.schema)
