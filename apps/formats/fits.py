"""FITS binary table, streamed.

A FITS header states the row count (NAXIS2), every column's width (TFORMn)
and the heap size (PCOUNT) before the first row. We stream in one pass when
the caller knows the row count (``ResultInfo.total_rows``) and every column
has a fixed width. Otherwise (unknown count, ``VARCHAR(*)`` strings or
polygons of varying length) the batches are first spooled to a temporary
Arrow IPC file while counting rows and measuring widths, then the FITS is
written from that file, which is deleted afterwards (also on error or when
the client goes away). Memory stays flat either way; the spool costs disk
(about the size of the result) and one extra pass.

Conventions: nulls are TNULLn for integers, NaN for floats, 0 for logicals,
empty strings for text; descriptions go to TCOMMn, UCDs to TUCDn and utypes
to TUTYPn (the keys STIL/TOPCAT read); variable-length arrays (polygons) use
the heap with 'P' descriptors ('Q' beyond 2 GiB).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from astropy.io import fits

from .columns import ARRAY, BOOL, BYTES, CHAR, FLOAT, INT, INT_NULL, UNICODE, ColumnPlan, schema_of
from .votable import ascii_only, fixed_arrays, padded_bytes

BLOCK = 2880
_CODE = {"boolean": "L", "unsignedByte": "B", "short": "I", "int": "J", "long": "K", "float": "E", "double": "D"}
_BE = {"unsignedByte": "u1", "short": ">i2", "int": ">i4", "long": ">i8", "float": ">f4", "double": ">f8"}
_RESERVED = {"SIMPLE", "EXTEND", "XTENSION", "THEAP", "END", "COMMENT", "HISTORY", "CONTINUE", "BLANK", "BSCALE", "BZERO",
             "DATE", "ORIGIN", "EQUINOX", "RADESYS", "TIMESYS", "INHERIT", "CHECKSUM", "DATASUM", "LONGSTRN"}


class RowCountMismatch(ValueError):
    """The caller's total_rows differs from the rows the batches held (the header was already sent)."""


@dataclass
class Stats:
    rows: int = 0
    widths: dict[int, int] = field(default_factory=dict)  # variable text/bytes columns: max byte length
    max_items: dict[int, int] = field(default_factory=dict)  # variable arrays: max element count
    heap: int = 0  # bytes of variable arrays

    def add(self, arrays: Sequence[pa.Array], plans: Sequence[ColumnPlan]) -> None:
        self.rows += len(arrays[0]) if arrays else 0
        for i, (arr, p) in enumerate(zip(arrays, plans, strict=True)):
            if not _variable(p) or len(arr) == 0:
                continue
            if p.kind == ARRAY:
                counts = pc.list_value_length(arr)
                self.max_items[i] = max(self.max_items.get(i, 0), pc.max(counts).as_py() or 0)
                self.heap += int(pc.sum(counts).as_py() or 0) * np.dtype(_BE[p.datatype]).itemsize
            else:
                longest = pc.max(pc.binary_length(pc.cast(arr, pa.binary()))).as_py() or 0
                self.widths[i] = max(self.widths.get(i, 0), longest)


def _variable(p: ColumnPlan) -> bool:
    return p.kind in (CHAR, UNICODE, BYTES, ARRAY) and p.fixed_length is None


def _bounded(p: ColumnPlan) -> int | None:
    """The bound of an arraysize like '32*', which lets text stream without spooling."""
    if p.arraysize and p.arraysize.endswith("*") and p.arraysize[:-1].isdigit() and p.kind != ARRAY:
        return int(p.arraysize[:-1])
    return None


def _ascii(text: str) -> str:
    return "".join(ch if " " <= ch <= "~" else "?" for ch in text)


@dataclass
class Layout:
    plans: Sequence[ColumnPlan]
    rows: int
    widths: dict[int, int]  # text/bytes byte width per column
    max_items: dict[int, int]  # variable arrays
    heap: int
    descriptor: str = "P"

    def tform(self, i: int) -> str:
        p = self.plans[i]
        if p.kind in (CHAR, UNICODE):
            return f"{max(self.widths[i], 1)}A"
        if p.kind == BYTES:
            return f"{max(self.widths[i], 1)}B"
        if p.kind == ARRAY:
            if i in self.max_items:
                return f"{self.descriptor}{_CODE[p.datatype]}({self.max_items[i]})"
            return f"{p.fixed_length}{_CODE[p.datatype]}"
        return _CODE[p.datatype]

    def dtype(self) -> np.dtype:
        fields: list[tuple[str, np.dtype]] = []
        for i, p in enumerate(self.plans):
            if p.kind in (CHAR, UNICODE, BYTES):
                dt = np.dtype(f"S{max(self.widths[i], 1)}")
            elif p.kind == BOOL:
                dt = np.dtype("S1")
            elif p.kind == ARRAY and i in self.max_items:
                dt = np.dtype((">i4" if self.descriptor == "P" else ">i8", (2,)))
            elif p.kind == ARRAY:
                dt = np.dtype((_BE[p.datatype], (p.fixed_length or 0,)))
            else:
                dt = np.dtype(_BE[p.datatype])
            fields.append((f"c{i}", dt))
        return np.dtype(fields)

    def header(self, title: str, query: str | None, description: str, infos: Sequence[tuple[str, str]]) -> bytes:
        primary = fits.Header([("SIMPLE", True), ("BITPIX", 8), ("NAXIS", 0), ("EXTEND", True)])
        h = fits.Header()
        h["XTENSION"] = ("BINTABLE", "binary table extension")
        h["BITPIX"] = 8
        h["NAXIS"] = 2
        h["NAXIS1"] = (self.dtype().itemsize, "bytes per row")
        h["NAXIS2"] = (self.rows, "rows")
        h["PCOUNT"] = (self.heap, "heap size")
        h["GCOUNT"] = 1
        h["TFIELDS"] = len(self.plans)
        h["EXTNAME"] = _ascii(title or "result")
        for i, p in enumerate(self.plans, start=1):
            h[f"TTYPE{i}"] = _ascii(p.name)
            h[f"TFORM{i}"] = self.tform(i - 1)
            if p.unit:
                h[f"TUNIT{i}"] = _ascii(p.unit)
            if p.kind == INT:
                h[f"TNULL{i}"] = INT_NULL[p.datatype]
            if p.ucd:
                h[f"TUCD{i}"] = _ascii(p.ucd)
            if p.utype:
                h[f"TUTYP{i}"] = _ascii(p.utype)
            if p.description:
                h[f"TCOMM{i}"] = _ascii(p.description)
            if p.xtype:
                h[f"TXTYP{i}"] = (_ascii(p.xtype), "DALI xtype")
        if description:
            h["COMMENT"] = _ascii(description)
        if query:
            h["QUERY"] = (_ascii(query), "ADQL query")
        for name, value in infos:
            # A short name becomes its own keyword; one that is long, odd or structural stays readable as a comment.
            key = name.upper()
            if len(key) <= 8 and key.replace("_", "").replace("-", "").isalnum() and key not in h and key not in _RESERVED:
                h[key] = _ascii(value)
            else:
                h["COMMENT"] = _ascii(f"{name} = {value}")
        return primary.tostring(padding=True).encode("ascii") + h.tostring(padding=True).encode("ascii")


def _text_cells(arr: pa.Array, width: int) -> np.ndarray:
    """NUL-padded fixed-width cells (FITS 'A' is ASCII: other characters become '?'), vectorised."""
    return padded_bytes(ascii_only(arr) if pa.types.is_string(arr.type) else arr, width)


def _encode_rows(arrays: Sequence[pa.Array], layout: Layout, heap_pos: int) -> tuple[np.ndarray, int]:
    """One batch as FITS rows; variable arrays get descriptors into the heap from ``heap_pos`` on,
    column after column (the order ``_heap_blocks`` writes them)."""
    n = len(arrays[0])
    rows = np.zeros(n, dtype=layout.dtype())
    for i, (arr, p) in enumerate(zip(arrays, layout.plans, strict=True)):
        name = f"c{i}"
        if p.kind in (CHAR, UNICODE, BYTES):
            rows[name] = _text_cells(arr, max(layout.widths[i], 1))
        elif p.kind == BOOL:
            cells = np.zeros(n, dtype="S1")
            vals = pc.fill_null(arr, False).to_numpy(zero_copy_only=False)
            valid = ~pc.is_null(arr).to_numpy(zero_copy_only=False)
            cells[valid & vals] = b"T"
            cells[valid & ~vals] = b"F"
            rows[name] = cells
        elif p.kind == INT:
            rows[name] = pc.fill_null(arr, INT_NULL[p.datatype]).to_numpy(zero_copy_only=False)
        elif p.kind == FLOAT:
            rows[name] = pc.fill_null(arr, float("nan")).to_numpy(zero_copy_only=False)
        elif i in layout.max_items:
            counts = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
            item = np.dtype(_BE[p.datatype]).itemsize
            rows[name][:, 0] = counts
            rows[name][:, 1] = heap_pos + (np.cumsum(counts) - counts) * item
            heap_pos += int(counts.sum()) * item
        else:
            rows[name] = fixed_arrays(arr, p, p.fixed_length or 0)
    return rows, heap_pos


def _heap_blocks(arrays: Sequence[pa.Array], layout: Layout) -> Iterator[bytes]:
    """The heap part of one batch, in the order ``_encode_rows`` assigned descriptors."""
    for i in layout.max_items:
        values = pc.list_flatten(arrays[i]).to_numpy(zero_copy_only=False).astype(_BE[layout.plans[i].datatype])
        yield values.tobytes()


def _padding(size: int) -> bytes:
    return b"\0" * ((-size) % BLOCK)


def fits_chunks(batches: Iterator[list[pa.Array]], plans: Sequence[ColumnPlan], *, total_rows: int | None,
                title: str, query: str | None, description: str, infos: Sequence[tuple[str, str]]) -> Iterator[bytes]:
    fixed_widths = {}
    streamable = total_rows is not None
    for i, p in enumerate(plans):
        if p.kind in (CHAR, UNICODE, BYTES):
            width = p.fixed_length if p.fixed_length is not None else _bounded(p)
            if width is None:
                streamable = False
            else:
                fixed_widths[i] = width
        elif p.kind == ARRAY and p.fixed_length is None:
            streamable = False
    if streamable:
        assert total_rows is not None
        layout = Layout(plans, total_rows, fixed_widths, {}, 0)
        yield layout.header(title or "result", query, description, infos)
        yield from _data(batches, layout)
        return
    yield from _spooled(batches, plans, fixed_widths, (title or "result", query, description, infos))


def _data(batches: Iterator[list[pa.Array]], layout: Layout) -> Iterator[bytes]:
    """Main table rows padded to the FITS block (layouts streamed in one pass have no heap)."""
    written = 0
    heap_pos = 0
    for arrays in batches:
        if not arrays or len(arrays[0]) == 0:
            continue
        rows, heap_pos = _encode_rows(arrays, layout, heap_pos)
        written += len(rows)
        if written > layout.rows:
            raise RowCountMismatch(f"the result has more rows than the {layout.rows} announced")
        yield rows.tobytes()
    if written != layout.rows:
        raise RowCountMismatch(f"the result has {written} rows, not the {layout.rows} announced")
    yield _padding(written * layout.dtype().itemsize)


HeaderMeta = tuple[str, str | None, str, Sequence[tuple[str, str]]]  # title, query, description, infos


def _spooled(batches: Iterator[list[pa.Array]], plans: Sequence[ColumnPlan], fixed_widths: dict[int, int],
             meta: HeaderMeta) -> Iterator[bytes]:
    """Spool to a temporary Arrow file (deleted in ``finally``), then write the FITS from it."""
    stats = Stats()
    fd, path = tempfile.mkstemp(prefix="daiquiri-fits-", suffix=".arrow")
    os.close(fd)
    try:
        schema = schema_of(plans)
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, schema) as spool:
            for arrays in batches:
                if not arrays or len(arrays[0]) == 0:
                    continue
                stats.add(arrays, plans)
                spool.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
        widths = {**fixed_widths, **{i: stats.widths.get(i, 0) for i, p in enumerate(plans)
                                     if p.kind in (CHAR, UNICODE, BYTES) and i not in fixed_widths}}
        max_items = {i: stats.max_items.get(i, 0) for i, p in enumerate(plans) if p.kind == ARRAY and p.fixed_length is None}
        layout = Layout(plans, stats.rows, widths, max_items, stats.heap, "P" if stats.heap < 2**31 else "Q")
        yield layout.header(*meta)
        heap_pos = 0
        for arrays in _read_spool(path):
            rows, heap_pos = _encode_rows(arrays, layout, heap_pos)
            yield rows.tobytes()
        if layout.heap:
            for arrays in _read_spool(path):
                yield from _heap_blocks(arrays, layout)
        yield _padding(layout.rows * layout.dtype().itemsize + layout.heap)
    finally:
        os.unlink(path)


def _read_spool(path: str) -> Iterator[list[pa.Array]]:
    with pa.OSFile(path, "rb") as source:
        reader = pa.ipc.open_file(source)
        for k in range(reader.num_record_batches):
            batch = reader.get_batch(k)
            yield [batch.column(i) for i in range(batch.num_columns)]

