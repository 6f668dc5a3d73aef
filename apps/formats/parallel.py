"""Encode the slices of a batch on several threads.

Text encodings (CSV, TSV, TABLEDATA) spend their time in Arrow's number
formatting, which releases the GIL: on two idle cores, two threads took CSV
from 1.7M to 2.8M rows/s. On a busy server (several downloads, other work)
threads only add contention (measured: no gain for CSV, TSV slower), so it is
off by default; set DAIQUIRI_FORMATS_THREADS=2 (or more) where cores are spare.
The output order is the row order; memory stays a batch or so.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

WORKERS = max(1, min(int(os.environ.get("DAIQUIRI_FORMATS_THREADS", "1") or 1), os.cpu_count() or 1))
MIN_SLICE_ROWS = 8192  # below this, threads cost more than they save

Encoder = Callable[[list[pa.Array]], "bytes | pa.Buffer"]


def encode_batches(batches: Iterator[list[pa.Array]], encode: Encoder) -> Iterator[bytes | pa.Buffer]:
    if WORKERS == 1:
        for arrays in batches:
            yield encode(arrays)
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
