"""VOTable 1.4 results, streamed: TABLEDATA, BINARY and BINARY2.

The document follows DALI 1.1 / TAP 1.1: one RESOURCE type="results" with
INFO QUERY_STATUS=OK before the TABLE and, when MAXREC cut the result,
INFO QUERY_STATUS=OVERFLOW after it. Rows are encoded a whole batch at a
time with numpy/pyarrow (no Python loop over rows or cells):

- BINARY/BINARY2: each run of fixed-width columns is one big-endian numpy
  structured array (the length prefix of a following variable-length column
  included); ``binary_join_element_wise`` then interleaves those runs with the
  variable-length bytes, which yields the row stream in one buffer.
- TABLEDATA: every column becomes text (vectorised casts), and a row is the
  element-wise join of ``<TR><TD>``, the cells and ``</TD></TR>``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .columns import ARRAY, BOOL, BYTES, CHAR, FLOAT, INT, INT_NULL, UNICODE, ColumnPlan

NAMESPACE = "http://www.ivoa.net/xml/VOTable/v1.3"
TABLEDATA, BINARY, BINARY2 = "TABLEDATA", "BINARY", "BINARY2"

_BE = {"boolean": "S1", "unsignedByte": "u1", "short": ">i2", "int": ">i4", "long": ">i8", "float": ">f4", "double": ">f8"}
# Characters XML 1.0 forbids; a string column carrying them would make the document unreadable.
_XML_ILLEGAL = "[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
_RAW_CHUNK = 3 * 256 * 1024  # 768 KiB raw -> 1 MiB of base64; a multiple of 3 so no padding mid-stream


def _attr(name: str, value: str | None) -> str:
    return f" {name}={quoteattr(value)}" if value else ""


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _clean_text(text: str) -> str:
    """Control characters (but tab and line breaks) become "?": XML 1.0 has no place for them."""
    return _CONTROL.sub("?", text)


def info_element(name: str, value: str, content: str = "") -> str:
    body = escape(_clean_text(content))
    return f"<INFO{_attr('name', name)} value={quoteattr(_clean_text(value))}" + (f">{body}</INFO>" if body else "/>")


def field_element(p: ColumnPlan, serialization: str | None, field_id: str = "") -> str:
    attrs = _attr("ID", field_id) + _attr("name", p.name) + _attr("datatype", p.datatype) + _attr("arraysize", p.arraysize)
    attrs += _attr("xtype", p.xtype) + _attr("unit", p.unit) + _attr("ucd", p.ucd) + _attr("utype", p.utype)
    inner = f"<DESCRIPTION>{escape(_clean_text(p.description))}</DESCRIPTION>" if p.description else ""
    if serialization == BINARY and p.kind == INT:
        # BINARY has no null flags: integers need a declared null value.
        inner += f'<VALUES null="{INT_NULL[p.datatype]}"/>'
    return f"<FIELD{attrs}>{inner}</FIELD>" if inner else f"<FIELD{attrs}/>"


def document_head(plans: Sequence[ColumnPlan], *, query: str | None, infos: Sequence[tuple[str, str]],
                  table_name: str, description: str, serialization: str | None, status: str = "OK",
                  field_ids: Mapping[str, str] | None = None) -> str:
    """Everything up to and including the TABLE's FIELDs (and, with a serialization, the opening of DATA)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             f'<VOTABLE version="1.4" xmlns="{NAMESPACE}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n',
             '<RESOURCE type="results">\n', info_element("QUERY_STATUS", status), "\n"]
    if query:
        parts += [info_element("QUERY", query), "\n"]
    parts += [info_element(k, v) + "\n" for k, v in infos]
    parts.append(f'<TABLE ID="result"{_attr("name", table_name)}>\n')
    if description:
        parts.append(f"<DESCRIPTION>{escape(_clean_text(description))}</DESCRIPTION>\n")
    parts += [field_element(p, serialization, (field_ids or {}).get(p.name, "")) + "\n" for p in plans]
    if serialization == TABLEDATA:
        parts.append("<DATA><TABLEDATA>\n")
    elif serialization is not None:
        parts.append(f'<DATA><{serialization}><STREAM encoding="base64">\n')
    return "".join(parts)


def document_tail(serialization: str | None, after: Sequence[tuple[str, str, str]] = (), resources: Sequence[str] = ()) -> str:
    """Closes DATA and TABLE; ``after`` holds (name, value, content) INFOs placed after the TABLE (OVERFLOW, ERROR);
    ``resources`` are more RESOURCE elements after the results (DataLink service descriptors)."""
    if serialization == TABLEDATA:
        parts = ["</TABLEDATA></DATA>\n"]
    elif serialization is not None:
        parts = [f"\n</STREAM></{serialization}></DATA>\n"]
    else:
        parts = []
    parts.append("</TABLE>\n")
    parts += [info_element(n, v, c) + "\n" for n, v, c in after]
    parts.append("</RESOURCE>\n")
    parts += list(resources)
    parts.append("</VOTABLE>\n")
    return "".join(parts)


def metadata_document(plans: Sequence[ColumnPlan], *, table_name: str, description: str,
                      query: str | None = None, infos: Sequence[tuple[str, str]] = ()) -> str:
    """A VOTable with FIELDs and no DATA, as the VOParquet convention embeds."""
    return document_head(plans, query=query, infos=infos, table_name=table_name, description=description,
                         serialization=None) + document_tail(None)


# ---- string preparation -------------------------------------------------------


def ascii_only(arr: pa.Array) -> pa.Array:
    """VOTable 1.4 ``char`` is 7-bit: other characters become '?' (declare the column unicodeChar to keep them)."""
    if len(arr) == 0 or pc.all(pc.string_is_ascii(arr)).as_py() is not False:
        return arr
    return pc.replace_substring_regex(arr, "[^\x00-\x7f]", "?")


def _fit_fixed(arr: pa.Array, p: ColumnPlan) -> pa.Array:
    n = p.fixed_length
    if n is not None and p.kind in (CHAR, UNICODE):
        return pc.utf8_slice_codeunits(arr, 0, n)
    return arr


# ---- binary encodings -----------------------------------------------------------


def _fixed_values(arr: pa.Array, p: ColumnPlan, serialization: str) -> np.ndarray:
    """A column of fixed width as a numpy array of its big-endian cells (nulls filled per serialization)."""
    n = len(arr)
    if p.kind == BOOL:
        out = np.full(n, b"?", dtype="S1")
        valid = ~pc.is_null(arr).to_numpy(zero_copy_only=False)
        vals = pc.fill_null(arr, False).to_numpy(zero_copy_only=False)
        out[valid & vals] = b"T"
        out[valid & ~vals] = b"F"
        return out
    if p.kind == INT:
        fill = INT_NULL[p.datatype] if serialization == BINARY else 0
        return pc.fill_null(arr, fill).to_numpy(zero_copy_only=False).astype(_BE[p.datatype], copy=False)
    if p.kind == FLOAT:
        return pc.fill_null(arr, float("nan")).to_numpy(zero_copy_only=False).astype(_BE[p.datatype], copy=False)
    if p.kind == ARRAY:
        size = p.fixed_length or 0
        return fixed_arrays(arr, p, size)
    if p.kind in (CHAR, BYTES):
        return padded_bytes(arr, p.fixed_length or 0)
    if p.kind == UNICODE:
        return _ucs2(arr, p.fixed_length or 0, pad=True)[0]
    raise AssertionError(p.kind)


def fixed_arrays(arr: pa.Array, p: ColumnPlan, size: int) -> np.ndarray:
    """(n, size) big-endian elements; short or null lists are padded with NaN/null values."""
    n = len(arr)
    dtype = np.dtype(_BE[p.datatype])
    pad: float | int = np.nan if p.datatype in ("float", "double") else INT_NULL.get(p.datatype, 0)
    out = np.full((n, size), pad, dtype=dtype)
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    lengths = np.minimum(lengths, size)
    values = pc.list_flatten(arr)
    offsets = _relative_offsets(arr)[:-1]
    rows = np.repeat(np.arange(n), lengths)
    within = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    flat = values.to_numpy(zero_copy_only=False)
    out[rows, within] = flat[np.repeat(offsets, lengths) + within]
    return out


def _relative_offsets(arr: pa.Array) -> np.ndarray:
    """List offsets counted from the first value of ``list_flatten(arr)`` (a slice starts mid-buffer).

    Lists come compacted by columns.conform (null entries empty), so offsets and flattened values agree.
    """
    offsets = arr.offsets.to_numpy().astype(np.int64)
    return offsets - offsets[0]


def padded_bytes(arr: pa.Array, width: int) -> np.ndarray:
    """Strings/bytes as fixed-width NUL-padded cells (truncated when longer), vectorised."""
    width = max(width, 1)
    n = len(arr)
    if n and pa.types.is_string(arr.type):
        fast = _padded_ascii(arr, width)
        if fast is not None:
            return fast
    out = np.zeros((n, width), dtype=np.uint8)
    if n:
        binary = pc.fill_null(arr, b"") if pa.types.is_binary(arr.type) else pc.cast(pc.fill_null(arr, ""), pa.binary())
        data, starts, lengths = _binary_parts(binary)
        lengths = np.minimum(lengths, width)
        rows = np.repeat(np.arange(n), lengths)
        within = np.arange(len(rows)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[rows, within] = data[np.repeat(starts, lengths) + within]
    return out.view(f"S{width}").reshape(n)


def _padded_ascii(arr: pa.Array, width: int) -> np.ndarray | None:
    """The common case (ASCII, none longer than ``width``): Arrow pads with NULs into one contiguous buffer."""
    padded = pc.utf8_rpad(pc.fill_null(arr, ""), width=width, padding="\0")
    data, starts, lengths = _binary_parts(padded)
    if len(lengths) == 0 or lengths.min() != width or lengths.max() != width:
        return None
    return data[starts[0]:starts[0] + width * len(arr)].view(f"S{width}")


def _binary_parts(arr: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The data buffer, start offsets and lengths of a binary array (no copy of the data)."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4).astype(np.int64)
    data_buf = arr.buffers()[2]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    return data, offsets[:-1], np.diff(offsets)


def _ucs2(arr: pa.Array, width: int, pad: bool) -> tuple[np.ndarray, np.ndarray]:
    """unicodeChar cells: UCS-2 big-endian (characters beyond the BMP become '?'); returns (cells, char counts)."""
    strings = pc.fill_null(arr, "").to_numpy(zero_copy_only=False).astype(str)
    if width:
        strings = strings.astype(f"U{width}")  # truncates
    units = strings.view(np.uint32).reshape(len(strings), -1) if strings.dtype.itemsize else np.zeros((len(strings), 0), np.uint32)
    units = np.where(units > 0xFFFF, ord("?"), units).astype(">u2")
    counts = pc.utf8_length(pc.fill_null(arr, "")).to_numpy(zero_copy_only=False).astype(np.int64)
    if width:
        counts = np.minimum(counts, width)
    if pad:
        cols = units.shape[1]
        if cols < width:
            units = np.concatenate([units, np.zeros((len(units), width - cols), ">u2")], axis=1)
        return units.view(f"S{2 * width}").reshape(len(units)) if width else units, counts
    return units, counts


def _variable_payload(arr: pa.Array, p: ColumnPlan) -> tuple[np.ndarray, pa.Array]:
    """A variable-length column: (element counts for the length prefix, the bytes of each cell as a binary array)."""
    if p.kind == ARRAY:
        arr = pc.fill_null(arr, pa.scalar([], p.arrow_type)) if arr.null_count else arr
        counts = pc.list_value_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
        values = pc.list_flatten(arr).to_numpy(zero_copy_only=False).astype(_BE[p.datatype])
        raw = values.view(np.uint8)
        offsets = np.concatenate([[0], np.cumsum(counts * values.dtype.itemsize)]).astype(np.int32)
        return counts, pa.BinaryArray.from_buffers(pa.binary(), len(arr), [None, pa.py_buffer(offsets), pa.py_buffer(raw)])
    if p.kind == UNICODE:
        units, counts = _ucs2(arr, 0, pad=False)
        keep = np.arange(units.shape[1])[None, :] < counts[:, None]
        raw = units[keep].view(np.uint8) if units.size else np.zeros(0, np.uint8)
        offsets = np.concatenate([[0], np.cumsum(counts * 2)]).astype(np.int32)
        return counts, pa.BinaryArray.from_buffers(pa.binary(), len(arr), [None, pa.py_buffer(offsets), pa.py_buffer(raw)])
    binary = pc.cast(pc.fill_null(arr, ""), pa.binary()) if p.kind == CHAR else pc.fill_null(arr, b"")
    return pc.binary_length(binary).to_numpy(zero_copy_only=False).astype(np.int64), binary


def encode_binary(arrays: Sequence[pa.Array], plans: Sequence[ColumnPlan], serialization: str) -> pa.Buffer | bytes:
    """The rows of one batch in BINARY or BINARY2 layout, as one contiguous buffer."""
    n = len(arrays[0]) if arrays else 0
    if n == 0:
        return b""
    pieces: list[pa.Array] = []
    fields: list[tuple[str, np.dtype]] = []
    values: list[np.ndarray] = []

    def close_run() -> None:
        if not fields:
            return
        run = np.empty(n, dtype=np.dtype(fields))
        for (name, _), v in zip(fields, values, strict=True):
            run[name] = v
        width = run.dtype.itemsize
        pieces.append(pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), n, [None, pa.py_buffer(run)]).cast(pa.binary()))
        fields.clear()
        values.clear()

    if serialization == BINARY2:
        fields.append(("nulls", np.dtype((np.uint8, ((len(plans) + 7) // 8,)))))
        values.append(_null_mask(arrays))
    for i, (arr, p) in enumerate(zip(arrays, plans, strict=True)):
        if p.kind in (CHAR, UNICODE):
            arr = ascii_only(_fit_fixed(arr, p)) if p.kind == CHAR else _fit_fixed(arr, p)
        if p.fixed_length is not None or p.kind in (BOOL, INT, FLOAT):
            v = _fixed_values(arr, p, serialization)
            fields.append((f"c{i}", np.dtype((v.dtype, v.shape[1:])) if v.ndim > 1 else v.dtype))
            values.append(v)
            continue
        counts, payload = _variable_payload(arr, p)
        fields.append((f"n{i}", np.dtype(">u4")))
        values.append(counts)
        close_run()
        pieces.append(payload)
    close_run()
    joined = pieces[0] if len(pieces) == 1 else pc.binary_join_element_wise(*pieces, b"")
    return concatenated(joined)


def concatenated(arr: pa.Array) -> pa.Buffer:
    """The bytes of every cell of a binary array, end to end (a view on its data buffer)."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1, offset=arr.offset * 4)
    return arr.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _null_mask(arrays: Sequence[pa.Array]) -> np.ndarray:
    """BINARY2 row flags: bit 7 of byte 0 is the first column, set when the cell is null.

    Set byte by byte for the columns holding nulls only (a tenth of the cost of packing a cell-per-column array).
    """
    n = len(arrays[0])
    flags = np.zeros((n, (len(arrays) + 7) // 8), dtype=np.uint8)
    for i, arr in enumerate(arrays):
        if arr.null_count:
            flags[:, i // 8] |= pc.is_null(arr).to_numpy(zero_copy_only=False).view(np.uint8) << np.uint8(7 - i % 8)
    return flags


class Base64Stream:
    """Base64 of a byte stream fed in pieces; encodes whole 3-byte groups so no '=' appears before the end."""

    def __init__(self) -> None:
        self.carry = b""

    def feed(self, raw: pa.Buffer | bytes) -> Iterator[bytes]:
        view = memoryview(raw)
        if self.carry:
            head = self.carry + bytes(view[:3 - len(self.carry)])
            view = view[3 - len(self.carry):]
            if len(head) < 3:
                self.carry = head
                return
            self.carry = b""
            yield base64.b64encode(head)
        usable = len(view) - len(view) % 3
        for start in range(0, usable, _RAW_CHUNK):
            yield base64.b64encode(view[start:min(start + _RAW_CHUNK, usable)]) + b"\n"
        self.carry = bytes(view[usable:])

    def finish(self) -> bytes:
        carry, self.carry = self.carry, b""
        return base64.b64encode(carry)


# ---- TABLEDATA -----------------------------------------------------------------


def _cell_text(arr: pa.Array, p: ColumnPlan) -> pa.Array:
    """Cell contents as escaped text; null cells become empty strings."""
    if p.kind == BOOL:
        text = pc.if_else(arr, "T", "F")
    elif p.kind == INT:
        text = pc.cast(arr, pa.string())
    elif p.kind == FLOAT:
        text = _float_text(arr)
    elif p.kind == ARRAY:
        elements = pc.list_flatten(arr)
        as_text = _float_text(elements) if p.datatype in ("float", "double") else pc.cast(elements, pa.string())
        mask = pc.is_null(arr) if arr.null_count else None
        offsets = pa.array(_relative_offsets(arr).astype(np.int32))
        text = pc.binary_join(pa.ListArray.from_arrays(offsets, as_text, mask=mask), " ")
    elif p.kind == BYTES:
        text = pc.binary_join(pc.cast(byte_lists(arr), pa.list_(pa.string())), " ")
    else:
        text = _fit_fixed(arr, p)
        if p.kind == CHAR:
            text = ascii_only(text)
        text = _xml_escape(text)
    return pc.fill_null(text, "")


def _float_text(arr: pa.Array) -> pa.Array:
    text = pc.cast(arr, pa.string())
    if pc.any(pc.is_nan(arr)).as_py() or pc.any(pc.is_inf(arr)).as_py():
        text = pc.replace_substring(text, "nan", "NaN")
        text = pc.replace_substring(pc.replace_substring(text, "-inf", "-Inf"), "inf", "+Inf")
        text = pc.replace_substring(text, "-+Inf", "-Inf")
    return text


def byte_lists(arr: pa.Array) -> pa.Array:
    data, starts, lengths = _binary_parts(pc.fill_null(arr, b""))
    values = pa.array(data[np.repeat(starts, lengths) + (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths))])
    return pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)), values)


def _xml_escape(arr: pa.Array) -> pa.Array:
    if len(arr) == 0:
        return arr
    if pc.any(pc.match_substring_regex(arr, "[&<>\x00-\x08\x0b\x0c\x0e-\x1f]")).as_py():
        arr = pc.replace_substring(arr, "&", "&amp;")
        arr = pc.replace_substring(arr, "<", "&lt;")
        arr = pc.replace_substring(arr, ">", "&gt;")
        arr = pc.replace_substring_regex(arr, _XML_ILLEGAL, "?")
    return arr


def encode_tabledata(arrays: Sequence[pa.Array], plans: Sequence[ColumnPlan]) -> pa.Buffer | bytes:
    if not arrays or len(arrays[0]) == 0:
        return b""
    cells: list[pa.Array | pa.Scalar] = [pa.scalar("<TR><TD>")]
    for i, (arr, p) in enumerate(zip(arrays, plans, strict=True)):
        if i:
            cells.append(pa.scalar("</TD><TD>"))
        cells.append(_cell_text(arr, p))
    cells.append(pa.scalar("</TD></TR>\n"))
    return concatenated(pc.binary_join_element_wise(*cells, ""))
