"""Column types of a CSV file decided by the whole file, and the cells that do not fit, with line and column.

pyarrow alone infers a CSV column's type from the first block and turns a
numeric column into text when one stray cell (``notanumber``) sits in it, or
fails later with no line. Here the file is read twice, streaming, as text:

1. :func:`scan_csv` counts, per column, the cells that read as integers,
   numbers, booleans or timestamps over every row; a column is numeric when
   at least :data:`MAJORITY` of its non-empty cells are numbers (or when the
   sidecar declares it numeric); the other cells of it are *bad cells*,
   remembered with their line in the file and the column's name;
2. :func:`convert_batch` turns each text batch into the decided types, bad
   cells becoming NULL (the publisher chose to load with NULLs and a report;
   the default is to refuse the file, see files.open_catalogue).

Line numbers count the header as line 1 and assume one line per row (a
quoted value spanning lines shifts them; the column is still right).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

MAJORITY = 0.99  # a column is numeric when this share of its non-empty cells are numbers
KEPT_BAD_CELLS = 20  # reported one by one; the rest are counted
_INT = r"^\s*[+-]?\d{1,18}\s*$"
_FLOAT = r"^\s*[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|infinity|nan)\s*$"
_BOOL = r"^\s*(true|false)\s*$"
_DECLARED = {"SMALLINT": pa.int64(), "INTEGER": pa.int64(), "BIGINT": pa.int64(), "REAL": pa.float64(), "DOUBLE": pa.float64(),
                     "BOOLEAN": pa.bool_(), "CHAR": pa.string(), "VARCHAR": pa.string(), "CLOB": pa.string()}
_PATTERNS = {pa.int64(): _INT, pa.float64(): _FLOAT, pa.bool_(): _BOOL}


@dataclass(frozen=True)
class BadCell:
    line: int
    column: str
    value: str
    expected: str

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.value!r} is not {self.expected}"


@dataclass
class _Counts:
    cells: int = 0
    ints: int = 0
    floats: int = 0
    bools: int = 0
    timestamps: bool = True


@dataclass
class CsvScan:
    """What the first pass learnt: the names, the decided types, the rows and the bad cells."""

    names: list[str]
    types: dict[str, pa.DataType]
    rows: int = 0
    bad_cells: list[BadCell] = field(default_factory=list)
    bad_cell_count: int = 0

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([(n, self.types[n]) for n in self.names])


def _read_options(block_size: int) -> pcsv.ReadOptions:
    return pcsv.ReadOptions(block_size=block_size, use_threads=False)


def open_text_reader(path: Path, block_size: int) -> pcsv.CSVStreamingReader:
    """The file as text columns (empty and NA-like cells as NULL), streamed."""
    with pcsv.open_csv(path, read_options=_read_options(block_size)) as probe:
        names = probe.schema.names
    convert = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
    return pcsv.open_csv(path, read_options=_read_options(block_size), convert_options=convert)


def _count(counts: _Counts, column: pa.Array) -> None:
    values = column.drop_null()
    counts.cells += len(values)
    if not len(values):
        return
    counts.ints += pc.sum(pc.match_substring_regex(values, _INT)).as_py() or 0
    counts.floats += pc.sum(pc.match_substring_regex(values, _FLOAT, ignore_case=True)).as_py() or 0
    counts.bools += pc.sum(pc.match_substring_regex(values, _BOOL, ignore_case=True)).as_py() or 0
    if counts.timestamps:
        try:
            pc.cast(values, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            counts.timestamps = False


def _decide(counts: _Counts, declared: pa.DataType | None) -> pa.DataType:
    if declared is not None:
        return declared
    n = counts.cells
    if n == 0:
        return pa.string()
    for wanted, have in ((pa.int64(), counts.ints), (pa.float64(), counts.floats), (pa.bool_(), counts.bools)):
        if have == n:
            return wanted
    if counts.timestamps:
        return pa.timestamp("us")
    if counts.floats >= MAJORITY * n:
        return pa.int64() if counts.ints == counts.floats else pa.float64()
    return pa.string()


def _invalid(column: pa.Array, wanted: pa.DataType) -> pa.Array:
    """True where a non-null cell does not read as ``wanted``."""
    pattern = _PATTERNS.get(wanted)
    if pattern is None:
        return pa.array([False] * len(column), type=pa.bool_())
    ok = pc.match_substring_regex(column, pattern, ignore_case=True)
    return pc.fill_null(pc.invert(ok), False)


def scan_csv(path: Path, block_size: int, declared: dict[str, str] | None = None) -> CsvScan:
    """First pass over the whole file: decide each column's type, find the cells that do not fit."""
    declared_types = {k.lower(): _DECLARED.get(v.upper()) for k, v in (declared or {}).items() if v}
    with open_text_reader(path, block_size) as reader:
        names = reader.schema.names
        counts = {n: _Counts() for n in names}
        rows = 0
        for batch in reader:
            for name, column in zip(names, batch.columns, strict=True):
                _count(counts[name], column)
            rows += batch.num_rows
    wanted = {n: _decide(counts[n], declared_types.get(n.lower())) for n in names}
    scan = CsvScan(names, wanted, rows)
    if any(t in _PATTERNS and counts[n].cells for n, t in wanted.items()):
        _find_bad_cells(path, block_size, scan)
    return scan


def _find_bad_cells(path: Path, block_size: int, scan: CsvScan) -> None:
    offset = 0
    with open_text_reader(path, block_size) as reader:
        for batch in reader:
            for name, column in zip(scan.names, batch.columns, strict=True):
                invalid = _invalid(column, scan.types[name])
                bad = pc.sum(invalid).as_py() or 0
                if not bad:
                    continue
                scan.bad_cell_count += bad
                for index in pc.indices_nonzero(invalid).to_pylist()[: KEPT_BAD_CELLS - len(scan.bad_cells)]:
                    scan.bad_cells.append(BadCell(offset + index + 2, name, str(column[index].as_py()), _describe(scan.types[name])))
            offset += batch.num_rows


def _describe(wanted: pa.DataType) -> str:
    return {pa.int64(): "an integer", pa.float64(): "a number", pa.bool_(): "true or false"}.get(wanted, str(wanted))


def convert_batch(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A text batch in the decided types; bad cells become NULL."""
    arrays = []
    for column, target in zip(batch.columns, schema, strict=True):
        wanted = target.type
        if wanted == pa.string():
            arrays.append(column)
            continue
        cleaned = pc.if_else(_invalid(column, wanted), pa.scalar(None, pa.string()), pc.utf8_trim_whitespace(column))
        if wanted == pa.bool_():
            arrays.append(pc.equal(pc.utf8_lower(cleaned), "true"))
        else:
            arrays.append(pc.cast(cleaned, wanted))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def converted_batches(path: Path, block_size: int, schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    """Second pass: the file in the types the first pass decided."""
    with open_text_reader(path, block_size) as reader:
        for batch in reader:
            yield convert_batch(batch, schema)
