"""CSV written by PostgreSQL's COPY (``stream_csv``) is the CSV apps.formats writes from the Arrow stream.

Differential: the same query through ``stream`` + ``formats.write`` and through ``stream_csv`` +
``formats.write_engine_csv``. Byte for byte, except numbers the database spells otherwise (1e-05 for
0.00001, NaN and Infinity for nan and inf, NUMERIC's scale digits 0.00100): those fields hold the same number.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
import threading
import time
from functools import partial
from typing import Any

import pytest

from apps import formats
from workers.engines.base import CsvText
from workers.engines.postgresql import _Pump, _record_ends, _Records
from workers.engines.types import columns_from_schema

ROWS = 12_000  # past the small-answer path (10,000 rows), so COPY writes it

# Every type the writer renders, with the values that test its rules; row i picks value i % len(values).
COLUMNS = {
    "i2": ("smallint", ["-32768", "0", "32767", "NULL"]),
    "i4": ("integer", ["-2147483648", "7", "NULL"]),
    "i8": ("bigint", ["-9223372036854775808", "9223372036854775807", "42", "NULL"]),
    "f8": ("double precision", ["1.5", "0.1", "1/3.0", "-2.5e300", "1e21", "123456789012345678",
                                "-0.0", "0", "NULL", "5e-324", "1.7976931348623157e308"]),
    "f4": ("real", ["1.5", "0.1", "3.4028235e38", "NULL", "1234.5"]),
    "ok": ("boolean", ["true", "false", "NULL"]),
    "txt": ("text", ["'plain'", "''", "NULL", "'a,b'", "'q\"uote'", "'line\nbreak'", "'cr\r\nlf'", "'Ångström 日本'",
                     "'  padded  '", "'\"'", "'\"\"'", "'NULL'", "'trailing\n'", "'tab\there'"]),
    "vc": ("varchar(12)", ["'short'", "'x,y\n\"z\"'", "NULL"]),
    "ch": ("char(4)", ["'ab'", "NULL"]),
    "ts": ("timestamp", ["'2020-01-02 03:04:05'", "'1999-12-31 23:59:59.123456'", "'0900-01-01 00:00:00'", "NULL"]),
    "tz": ("timestamptz", ["'2020-06-01 12:00:00+02'", "NULL"]),
    "d": ("date", ["'2020-02-29'", "'0099-01-01'", "NULL"]),
    "ia": ("integer[]", ["ARRAY[1,2,3]", "ARRAY[]::integer[]", "NULL", "ARRAY[-5]"]),
    "la": ("bigint[]", ["ARRAY[9223372036854775807, 0]", "NULL"]),
    "pos": ("spoint", ["spoint(radians(10.5), radians(41.25))", "spoint(radians(359.999999), radians(-89.9))", "NULL"]),
    "cone": ("scircle", ["scircle(spoint(radians(1), radians(2)), radians(0.5))", "NULL"]),
}
# Numbers the two spell otherwise: with or without an exponent (1e-05 / 0.00001), NaN and Infinity (nan, inf).
OTHER_FLOATS = {"f8": ["1e-5", "-1.25e-7", "2.2250738585072014e-308", "1234567890123456", "1e20", "'NaN'", "'Infinity'",
                       "'-Infinity'"],
                "f4": ["1e-7", "1.5e-5", "16777216", "1e10", "'NaN'", "'-Infinity'"]}
# NUMERIC keeps its own text (scale digits, NaN): the same doubles.
NUMERIC = ("numeric", ["0.1", "1/3.0", "123456789012345678.123456789", "'NaN'", "NULL", "-2.675", "0.00001", "0.00100",
                       "12345678901234567890", "'Infinity'"])


def _table(pg: Any, mydb: str, columns: dict[str, tuple[str, list[str]]], rows: int) -> str:
    name = f"{mydb}.every_type"
    select = ", ".join(f"CASE i % {len(values)} {' '.join(f'WHEN {k} THEN CAST({v} AS {t})' for k, v in enumerate(values))} END AS {c}"
                       for c, (t, values) in columns.items())
    with pg.connect(autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {mydb}")
        conn.execute(f"CREATE TABLE {name} AS SELECT i, {select} FROM generate_series(0, {rows - 1}) AS i")
        conn.execute(f"GRANT USAGE ON SCHEMA {mydb} TO {pg.reader}")
        conn.execute(f"GRANT SELECT ON {name} TO {pg.reader}")
    return f"SELECT * FROM {name} ORDER BY i"


def _through_arrow(pg: Any, sql: str, job_id: str, maxrec: int | None = None) -> tuple[bytes, list[Any]]:
    batches = list(pg.stream(sql, timeout_s=60, job_id=job_id))
    columns = list(columns_from_schema(batches[0].schema))
    if maxrec is not None:
        batches = [t for t in [pa_table_slice(batches, maxrec)]]
    return b"".join(formats.write(formats.resolve_format("csv"), batches, columns, formats.ResultInfo())), columns


def pa_table_slice(batches: list[Any], rows: int) -> Any:
    import pyarrow as pa

    return pa.Table.from_batches(batches).slice(0, rows).combine_chunks().to_batches()[0]


def _through_copy(pg: Any, sql: str, job_id: str, columns: list[Any], maxrec: int | None = None,
                  row_limit: int | None = None) -> tuple[bytes, CsvText]:
    text = pg.stream_csv(sql, timeout_s=60, job_id=job_id, maxrec=maxrec, accept=partial(formats.engine_csv_matches, columns),
                         row_limit=row_limit)
    assert text is not None, "COPY should write this result"
    return b"".join(formats.write_engine_csv(text, columns, text.schema)), text


def _same_numbers(ours: str, theirs: str) -> bool:
    if ours == theirs:
        return True
    try:
        a, b = float(ours), float(theirs)
    except ValueError:
        return False
    return a == b or (math.isnan(a) and math.isnan(b))


def test_copy_writes_every_type_byte_for_byte_as_the_csv_writer(pg: Any, mydb: str, job_id: str) -> None:
    sql = _table(pg, mydb, COLUMNS, ROWS)
    expected, columns = _through_arrow(pg, sql, job_id)
    got, text = _through_copy(pg, sql, job_id + "c", columns)
    assert got == expected
    assert text.rows == ROWS and not text.overflow
    assert b'"line\nbreak"' in got and b',"2020-01-02T03:04:05.000000",' in got and b",false," in got
    assert b',"10.5 41.25",' in got and b',"",' in got and b",true," in got  # a geometry, an empty string and array


def test_floats_spelled_otherwise_and_numerics_parse_to_the_same_numbers(pg: Any, mydb: str, job_id: str) -> None:
    columns = {**{c: (COLUMNS[c][0], values) for c, values in OTHER_FLOATS.items()}, "num": NUMERIC}
    sql = _table(pg, mydb, columns, ROWS)
    expected, cols = _through_arrow(pg, sql, job_id)
    got, _ = _through_copy(pg, sql, job_id + "c", cols)
    ours, theirs = list(csv.reader(io.StringIO(got.decode()))), list(csv.reader(io.StringIO(expected.decode())))
    assert len(ours) == len(theirs) == ROWS + 1 and ours[0] == theirs[0]
    assert all(_same_numbers(a, b) for r, s in zip(ours, theirs, strict=True) for a, b in zip(r, s, strict=True))
    assert {"NaN", "Infinity", "-Infinity"} <= {v for r in ours for v in r}  # as Java's Double.parseDouble reads them


@pytest.mark.parametrize("own_limit", [False, True])
@pytest.mark.parametrize("maxrec", [ROWS - 1, ROWS, ROWS + 5, 10_001])
def test_copy_keeps_maxrec_and_reports_the_overflow(pg: Any, mydb: str, job_id: str, maxrec: int, own_limit: bool) -> None:
    # Strings with line breaks and quotes every few rows: records are not lines. With its own LIMIT MAXREC + 1
    # (as the translator writes it) the statement is copied as it is, else inside a SELECT with that LIMIT.
    sql = _table(pg, mydb, {"txt": COLUMNS["txt"], "f8": COLUMNS["f8"]}, ROWS) + (f" LIMIT {maxrec + 1}" if own_limit else "")
    expected, columns = _through_arrow(pg, sql, job_id, maxrec=min(maxrec, ROWS))
    got, text = _through_copy(pg, sql, job_id + "c", columns, maxrec=maxrec, row_limit=maxrec + 1 if own_limit else None)
    assert got == expected
    assert (text.rows, text.overflow) == (min(maxrec, ROWS), maxrec < ROWS)


def test_columns_copy_cannot_write_as_the_writer_go_through_the_arrow_stream(pg: Any, mydb: str, job_id: str) -> None:
    sql = _table(pg, mydb, {"fa": ("double precision[]", ["ARRAY[1.5, 'NaN']"]), "n": ("integer", ["1"])}, ROWS)
    schema_columns = list(columns_from_schema(next(iter(pg.stream(sql, timeout_s=60, job_id=job_id))).schema))
    assert pg.stream_csv(sql, timeout_s=60, job_id=job_id, maxrec=None, accept=partial(formats.engine_csv_matches, schema_columns)) is None
    plain = _table(pg, mydb + "b", {"mag": ("real", ["1.5"])}, ROWS)  # REAL declared DOUBLE: the writer widens it
    from workers.engines.types import ColumnInfo

    assert pg.stream_csv(plain, timeout_s=60, job_id=job_id, maxrec=None,
                         accept=partial(formats.engine_csv_matches, [ColumnInfo("i", "INTEGER"), ColumnInfo("mag", "DOUBLE")])) is None
    assert pg.stream_csv(plain + " LIMIT 10", timeout_s=60, job_id=job_id, maxrec=None, accept=lambda schema: True,
                         row_limit=10) is None


def test_a_failing_query_raises_before_its_first_byte(pg: Any, job_id: str) -> None:
    from workers.engines.base import EngineError

    text = pg.stream_csv("SELECT 1 / (i - 1) AS x FROM generate_series(1, 20000) AS i", timeout_s=60, job_id=job_id,
                         maxrec=None, accept=lambda schema: True)
    assert text is not None
    with pytest.raises(EngineError, match="division by zero"):
        text.prime()


def test_records_are_counted_and_the_last_cut_wherever_the_chunks_split() -> None:
    rng = random.Random(7)
    records = [rng.choice([b'1,"a"\n', b'2,"line\nbreak"\n', b'3,"q""\n""x"\n', b',\n', b'4,""\n', b'"\n\n",5\n'])
               for _ in range(400)]
    data = b"".join(records)
    for _ in range(50):
        counter, out, at = _Records(), list[bytes | memoryview](), 0
        while at < len(data):
            size = rng.randint(1, 40) if rng.random() < 0.7 else rng.randint(60, 3000)  # within 64-bit words, across them
            out += counter.feed(data[at:at + size])
            at += size
        assert counter.count == len(records)
        assert b"".join(out) + counter.rest() == data
        assert b"".join(out) + counter.without_last() == data[:-len(records[-1])]


class _CountingRecords(_Records):
    def __init__(self) -> None:
        super().__init__()
        self.feeds = 0

    def feed(self, chunk: bytes | bytearray) -> list[bytes | memoryview]:
        self.feeds += 1
        return super().feed(chunk)


def _pipe_writer(pieces: list[bytes], pause_s: float, release: threading.Event | None = None) -> tuple[Any, threading.Thread]:
    r, w = os.pipe()

    def write() -> None:
        with os.fdopen(w, "wb", buffering=0) as out:
            for piece in pieces:
                out.write(piece)
                time.sleep(pause_s)
            if release is not None:
                release.wait(10)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return os.fdopen(r, "rb", buffering=0), thread


def test_small_writes_into_the_pipe_are_counted_in_blocks() -> None:
    # psql's stdio writes a pipe 4 KiB at a time: each piece counted and handed over alone cost more than its bytes.
    records = [b'%d,"name %d"\n' % (i, i) for i in range(20_000)]
    data = b"".join(records)
    pieces = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    stream, writer = _pipe_writer(pieces, 0.0005)
    counter = _CountingRecords()
    pump = _Pump(stream, counter)
    out = b"".join(pump)
    pump.join()
    writer.join()
    stream.close()
    assert out + counter.rest() == data and counter.count == len(records)
    assert counter.feeds <= len(pieces) // 10, f"{counter.feeds} blocks for {len(pieces)} writes"


def test_rows_of_a_slow_query_go_out_without_waiting_for_a_full_block() -> None:
    release = threading.Event()
    stream, writer = _pipe_writer([b"1\n2\n"], 0, release)
    pump = _Pump(stream, _Records())
    started = time.monotonic()
    first = next(piece for piece in pump if len(piece))
    waited = time.monotonic() - started
    release.set()
    rest = b"".join(pump)
    pump.join()
    writer.join()
    stream.close()
    assert bytes(first) == b"1\n" and rest == b"" and waited < 5  # the writer still held the pipe open


def test_record_ends_are_the_line_breaks_after_an_even_number_of_quotes() -> None:
    rng = random.Random(11)
    for _ in range(2000):
        chunk = bytes(rng.choice(b'a,"\n') for _ in range(rng.randint(1, 700)))
        for odd in (0, 1):
            parity, ends = odd, []
            for i, byte in enumerate(chunk):
                parity ^= byte == ord('"')
                if byte == ord("\n") and not parity:
                    ends.append(i + 1)
            assert _record_ends(chunk, odd) == (len(ends), ends[-2:], chunk.count(b'"')), (chunk, odd)
