"""CSV (RFC 4180, with a header row) and TSV (IANA text/tab-separated-values), a batch at a time.

CSV goes through ``pyarrow.csv`` (quoting only where needed). An engine that writes the same CSV
itself (PostgreSQL's COPY) may send its text instead: ``engine_csv_matches`` says for which columns
its rules are ours, ``engine_csv_chunks`` adds our header. TSV cannot quote,
so it is joined element-wise here: tabs and line breaks inside values become
spaces, which is what the TSV media type asks of producers.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from apps.adql.catalog import ColumnInfo

from .columns import ARRAY, BOOL, BYTES, CHAR, FLOAT, INT, UNICODE, ColumnPlan, make_plans
from .parallel import encode_batches
from .votable import byte_lists, concatenated


def _as_text(arr: pa.Array, p: ColumnPlan) -> pa.Array:
    """Arrays (geometries) and byte strings as space-separated numbers, like the DALI text forms."""
    if p.kind == ARRAY:
        text = pc.binary_join(pc.cast(arr, pa.list_(pa.string())), " ")
        return text
    if p.kind == BYTES:
        return pc.if_else(pc.is_null(arr), pa.scalar(None, pa.string()), pc.binary_join(pc.cast(byte_lists(arr), pa.list_(pa.string())), " "))
    return arr


def _csv_columns(arrays: Sequence[pa.Array], plans: Sequence[ColumnPlan]) -> list[pa.Array]:
    return [_as_text(a, p) if p.kind in (ARRAY, BYTES) else a for a, p in zip(arrays, plans, strict=True)]


def csv_chunks(batches: Iterator[list[pa.Array]], plans: Sequence[ColumnPlan]) -> Iterator[bytes | pa.Buffer]:
    names = [p.name for p in plans]
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")

    def encode(arrays: list[pa.Array]) -> bytes:
        sink = io.BytesIO()
        pacsv.write_csv(pa.RecordBatch.from_arrays(_csv_columns(arrays, plans), names=names), sink, options)
        return sink.getvalue()

    yield _csv_header(names)
    yield from encode_batches(batches, encode)


def engine_csv_matches(columns: Sequence[ColumnInfo], schema: pa.Schema) -> bool:
    """Whether an engine's CSV of rows with this Arrow ``schema`` is what ``csv_chunks`` writes for ``columns``.

    The engine's rules (PostgreSQL's COPY as workers/engines/postgresql.py drives it): NULL an empty
    field; text, timestamps (ISO 8601 with 'T' and microseconds, UTC), dates and lists always quoted,
    numbers and booleans (true/false) never; lists as numbers joined by spaces. Numbers read as the same
    doubles but may be spelled otherwise: floats in their shortest exact form with another exponent at
    times (1e-05 for 0.00001), NaN, Infinity and -Infinity for nan, inf and -inf (what Java and Python
    readers both take), exact decimals (NUMERIC) with their scale's digits (0.00100). These hold where the
    plan takes the column as the engine gives it; a column the plan would convert (a REAL widened to
    double, text read as a geometry, binary) does not match.
    """
    empty = pa.RecordBatch.from_pylist([], schema=schema)
    for plan, field in zip(make_plans(columns, empty), schema, strict=True):
        t = field.type
        if plan.kind in (CHAR, UNICODE):
            ok = pa.types.is_string(t) or pa.types.is_timestamp(t) or pa.types.is_date(t)
        elif plan.kind in (INT, FLOAT, BOOL):
            ok = t == plan.arrow_type
        elif plan.kind == ARRAY:
            ok = t == plan.arrow_type and not pa.types.is_boolean(t.value_type)
        else:
            ok = False
        if not ok:
            return False
    return True


def engine_csv_chunks(rows: Iterator[bytes | memoryview], columns: Sequence[ColumnInfo], schema: pa.Schema) -> Iterator[bytes | memoryview]:
    """Our header row, then the engine's CSV rows as they come (see ``engine_csv_matches``)."""
    plans = make_plans(columns, pa.RecordBatch.from_pylist([], schema=schema))
    yield _csv_header([p.name for p in plans])
    yield from rows


def _csv_header(names: Sequence[str]) -> bytes:
    return (",".join('"' + n.replace('"', '""') + '"' for n in names) + "\n").encode()


def _tsv_cell(arr: pa.Array, p: ColumnPlan) -> pa.Array:
    if p.kind == BOOL:
        text = pc.if_else(arr, "true", "false")
    elif p.kind == FLOAT or p.kind not in (ARRAY, BYTES):
        text = pc.cast(arr, pa.string())
        if pa.types.is_string(text.type) and p.kind != FLOAT and len(text) and pc.any(pc.match_substring_regex(text, "[\t\n\r]")).as_py():
            text = pc.replace_substring_regex(text, "[\t\n\r]", " ")
    else:
        text = _as_text(arr, p)
    return pc.fill_null(text, "")


def tsv_chunks(batches: Iterator[list[pa.Array]], plans: Sequence[ColumnPlan]) -> Iterator[bytes | pa.Buffer]:
    yield ("\t".join(p.name.replace("\t", " ") for p in plans) + "\n").encode()

    def encode(arrays: list[pa.Array]) -> bytes | pa.Buffer:
        if not arrays or len(arrays[0]) == 0:
            return b""
        cells: list[pa.Array | pa.Scalar] = []
        for i, (a, p) in enumerate(zip(arrays, plans, strict=True)):
            if i:
                cells.append(pa.scalar("\t"))
            cells.append(_tsv_cell(a, p))
        cells.append(pa.scalar("\n"))
        return concatenated(pc.binary_join_element_wise(*cells, ""))

    yield from encode_batches(batches, encode)
