"""Encode batches on other threads, so that encoding overlaps the engine's stream.

``pipelined`` (the default) encodes batch k on one worker thread while the
caller's thread pulls batch k+1 from the engine: both spend their time in
Arrow/numpy code that releases the GIL, so the PostgreSQL stream and the CSV
encoding of a TAP download overlap (measured: 1M rows through TAP sync from
PostgreSQL as CSV, 5.9 s -> 5.25 s median on a busy 2-core machine). The
engine's generator, and the database work around it, stay in the caller's
thread; the output order is the row order; at most one batch is encoding and
one waiting.

Text encodings (CSV, TSV, TABLEDATA) can also split each batch over several
threads: on two idle cores that took CSV from 1.7M to 2.8M rows/s. On a busy
server (several downloads, other work) those threads only add contention
(measured: no gain for CSV, TSV slower), so it is off by default; set
DAIQUIRI_FORMATS_THREADS=2 (or more) where cores are spare.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import pyarrow as pa

WORKERS = max(1, min(int(os.environ.get("DAIQUIRI_FORMATS_THREADS", "1") or 1), os.cpu_count() or 1))
MIN_SLICE_ROWS = 8192  # below this, threads cost more than they save

Encoder = Callable[[list[pa.Array]], "bytes | pa.Buffer"]
T = TypeVar("T")


def pipelined(batches: Iterable[list[pa.Array]], encode: Callable[[list[pa.Array]], T]) -> Iterator[T]:
    """``encode`` of each batch, in order, computed on one worker thread while the next batch is pulled here.

    ``encode`` runs for one batch at a time, in the batches' order, so it may carry state from one to the next.
    When pulling a batch fails, the batch encoded before it is still handed out first, then the error raised.
    A batch of fewer than MIN_SLICE_ROWS rows with none in flight is encoded here: a small result (a cone
    search's ten rows) then starts no thread, which cost more than its whole encoding.
    """
    pool: ThreadPoolExecutor | None = None
    pending: Future[T] | None = None
    try:
        source = iter(batches)
        while True:
            try:
                arrays = next(source)
            except StopIteration:
                break
            except Exception:
                if pending is not None:
                    yield pending.result()  # the rows before the failure still go out
                raise
            if pending is None and (len(arrays[0]) if arrays else 0) < MIN_SLICE_ROWS:
                yield encode(arrays)
                continue
            pool = pool or ThreadPoolExecutor(1, thread_name_prefix="formats")
            future = pool.submit(encode, arrays)
            if pending is not None:
                yield pending.result()
            pending = future
        if pending is not None:
            yield pending.result()
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)  # a client gone: the queued batch is dropped


def encode_batches(batches: Iterator[list[pa.Array]], encode: Encoder) -> Iterator[bytes | pa.Buffer]:
    if WORKERS == 1:
        yield from pipelined(batches, encode)
        return
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="formats") as pool:
        for arrays in batches:
            n = len(arrays[0]) if arrays else 0
            parts = max(1, min(WORKERS, n // MIN_SLICE_ROWS))
            if parts == 1:
                yield encode(arrays)
                continue
            bounds = [n * i // parts for i in range(parts + 1)]
            slices = [[a.slice(lo, hi - lo) for a in arrays] for lo, hi in itertools.pairwise(bounds)]
            yield b"".join(pool.map(encode, slices))
