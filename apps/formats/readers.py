"""Readers for tables that come from people we do not trust: CSV and VOTable content, bounded.

What these readers get is content, never a file name and never a place to look
for more. The attacks they close:

- a "CSV" whose whole content is a path: astropy's readers take a str as a file
  name. :func:`read_csv` hands pyarrow an in-memory buffer, which can only be data;
- a VOTable that points elsewhere (``<STREAM href="file:///…">``, XInclude, a
  DOCTYPE with entities): :func:`check_votable` makes one expat pass first and
  refuses any of them, so astropy (which opens STREAM hrefs with urlopen) only
  ever sees a self-contained document;
- input that is small but expensive (a million columns in 10 MB, ``nrows`` that
  makes astropy allocate gigabytes): columns and cells are counted, or bounded
  from the byte count, before any parser builds a table.

:class:`Limits` carries the bounds (``None``: unbounded, for publishers' ingest);
:class:`ReaderError` (a ValueError) says what is wrong with the content, never
where anything lives on the server (:func:`without_paths`). No Django import.
"""

from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from typing import IO, Any
from xml.parsers import expat

import pyarrow as pa
import pyarrow.csv as pacsv

XINCLUDE_NAMESPACE = "http://www.w3.org/2001/XInclude"
CSV_HEADER_BYTES = 1 << 20  # the header line of a CSV file must end within this
_SCAN_CHUNK = 1 << 20


class ReaderError(ValueError):
    """The content cannot be read safely or at all; the message is for the person who sent it."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what a reader builds; None: no bound (trusted input)."""

    max_columns: int | None = None
    max_cells: int | None = None
    max_bytes: int | None = None  # of the arrays a reader allocates (VOTable FIELDs declare fixed-size arrays)

    @property
    def max_elements(self) -> int | None:
        """XML elements besides TR/TD: FIELDs with their DESCRIPTION, VALUES, LINK… and the document frame."""
        return None if self.max_columns is None else 10 * self.max_columns + 1000

    def check_columns(self, count: int, what: str) -> None:
        if self.max_columns is not None and count > self.max_columns:
            raise ReaderError(f"The {what} has more than {self.max_columns} columns; that is the limit for uploads.")

    def check_cells(self, count: int, what: str) -> None:
        if self.max_cells is not None and count > self.max_cells:
            raise ReaderError(f"The {what} has more than {self.max_cells} cells (rows times columns); that is the limit for uploads.")


    def check_bytes(self, count: int, what: str) -> None:
        if self.max_bytes is not None and count > self.max_bytes:
            raise ReaderError(f"The {what} would take more than {self.max_bytes // 2**20} MiB in memory (rows times the sizes "
                              "its FIELDs declare); that is the limit for uploads.")


UNBOUNDED = Limits()

_PATH = re.compile(r"(?<![\w:/.~-])/(?:[\w.~+-]+/)+[\w.~+-]*")  # two or more components: /etc/hostname, not km/s


def without_paths(message: str) -> str:
    """The message with absolute file paths replaced by ``<path>``: readers' errors quote the content, not the server."""
    return _PATH.sub("<path>", message)


# --- CSV -----------------------------------------------------------------------------------------

_CSV_FIELD = re.compile(rb'(?:"(?:[^"]|"")*"|[^,"\r\n]*)(,|\r\n|\n|\r|$)')


def csv_header_columns(data: bytes, limits: Limits) -> int:
    """Count the header's columns (quotes respected), stopping as soon as the limit is passed."""
    head = data[:CSV_HEADER_BYTES]
    count, position = 0, 0
    while True:
        match = _CSV_FIELD.match(head, position)
        if match is None:
            raise ReaderError("The CSV header line is malformed (a stray quote?).")
        count += 1
        limits.check_columns(count, "CSV file")
        end = match.group(1)
        if end != b",":
            if end == b"" and len(data) > len(head):
                raise ReaderError(f"The CSV header line is longer than {CSV_HEADER_BYTES} bytes.")
            return count
        position = match.end()


def read_csv(data: bytes, limits: Limits) -> pa.Table:
    """A CSV file with a header line, from memory. Types are inferred over the whole file;
    empty cells are nulls; dates and times become timestamps, anything exotic text."""
    columns = csv_header_columns(data, limits)
    if not data.endswith((b"\n", b"\r")):
        data += b"\n"  # pyarrow wants the last line ended: a header alone is an empty table
    rows = max(data.count(b"\n"), data.count(b"\r")) + 1  # an upper bound, known before parsing
    limits.check_cells(columns * rows, "CSV file")
    options = pacsv.ReadOptions(block_size=max(len(data) + 1, 1 << 16), use_threads=False)  # one block: types from all rows
    try:
        table = pacsv.read_csv(pa.BufferReader(data), read_options=options,
                               convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ReaderError(f"The CSV file cannot be read: {without_paths(str(exc))}") from None
    limits.check_columns(table.num_columns, "CSV file")  # the header count and pyarrow's agree; belt and braces
    _check_names(table.column_names)
    return pa.table([_plain_column(table.column(i)) for i in range(table.num_columns)], names=table.column_names)


def _check_names(names: list[str]) -> None:
    if any(not n.strip() for n in names):
        raise ReaderError("Every column of the CSV file needs a name in the header line.")
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise ReaderError(f"The column name {name!r} appears twice in the CSV header.")
        seen.add(name.lower())


def _plain_column(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """The types every engine takes: integers, floats, booleans, text and timestamps (ms, UTC)."""
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind) or pa.types.is_string(kind):
        return column
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        if pa.types.is_timestamp(kind) and kind.tz is not None:
            column = column.cast(pa.timestamp(kind.unit))  # the UTC instant, as the engines store timestamps
        return column.cast(pa.timestamp("ms"))
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise ReaderError("A column of the CSV file is not UTF-8 text.") from None


# --- VOTable ---------------------------------------------------------------------------------------

_TYPE_BYTES = {"boolean": 1, "bit": 1, "unsignedByte": 1, "short": 2, "int": 4, "long": 8, "char": 1, "unicodeChar": 2,
               "float": 4, "double": 8, "floatComplex": 8, "doubleComplex": 16}
_ARRAY_BYTES = {**_TYPE_BYTES, "unicodeChar": 4}  # in astropy's numpy arrays (str is UCS-4)
_FIRST_ALLOCATION = 512  # rows astropy allocates before the first row, then 1.5 times more each time


@dataclass(frozen=True)
class _FieldCost:
    stream_bytes: int  # the fewest bytes one cell takes in BINARY/BINARY2: bounds rows from the stream's length
    memory_bytes: int  # what one cell takes in astropy's arrays, mask included


def _field_cost(datatype: str, arraysize: str | None) -> _FieldCost:
    """A FIELD's cost per row. A fixed ``arraysize`` of 20000x10000 is 1.6 GB a row, however short the document."""
    size = _TYPE_BYTES.get(datatype, 1)
    if not arraysize:
        return _FieldCost(size, _ARRAY_BYTES.get(datatype, 1) + 1)
    if "*" in arraysize:
        return _FieldCost(4, 9)  # a length prefix; an object pointer (the values are bounded by the document)
    try:
        count = math.prod(int(part) for part in arraysize.split("x"))
    except ValueError:
        return _FieldCost(1, 9)  # astropy refuses it
    stream = (count + 7) // 8 if datatype == "bit" else count * size
    return _FieldCost(stream, count * (_ARRAY_BYTES.get(datatype, 1) + 1))


@dataclass
class _TableScan:
    nrows: int = 0
    fields: int = 0
    row_stream_bytes: int = 0
    row_memory_bytes: int = 0
    rows: int = 0  # TR elements
    cells: int = 0  # TD elements
    binary2: bool = False
    stream_chars: int = 0

    def data_rows(self) -> int:
        """The rows the data holds: TRs seen, or what the stream's length allows."""
        per_row = max(1, self.row_stream_bytes + (math.ceil(self.fields / 8) if self.binary2 else 0))
        return max(self.rows, (self.stream_chars * 3 // 4) // per_row)

    def allocated_rows(self) -> int:
        """The most rows astropy allocates: the nrows it is told, or the data rows as its arrays grow."""
        rows = self.data_rows()
        return max(self.nrows, max(_FIRST_ALLOCATION, math.ceil(1.5 * rows)) if rows else 0)

    def estimated_cells(self) -> int:
        return max(self.cells, max(self.nrows, self.data_rows()) * self.fields)

    def estimated_bytes(self) -> int:
        return self.allocated_rows() * self.row_memory_bytes


@dataclass
class _VOTableScan:
    limits: Limits
    tables: list[_TableScan] = field(default_factory=list)
    elements: int = 0
    columns: int = 0
    closed_cells: int = 0  # of the tables already ended: astropy reads every table of the document
    closed_bytes: int = 0
    in_stream: bool = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        namespace, _, local = name.rpartition("}")
        if namespace == XINCLUDE_NAMESPACE:
            raise ReaderError("The VOTable includes other documents (XInclude); send one self-contained document.")
        if local in ("TD", "TR"):
            self._count_data(local)
            return
        self.elements += 1
        if self.limits.max_elements is not None and self.elements > self.limits.max_elements:
            raise ReaderError(f"The VOTable has more than {self.limits.max_elements} elements besides rows and cells.")
        handler = getattr(self, f"_start_{local.lower()}", None)
        if handler is not None:
            handler(attrs)

    def _count_data(self, local: str) -> None:
        if not self.tables:
            return
        table = self.tables[-1]
        if local == "TD":
            table.cells += 1
            self.limits.check_cells(self.closed_cells + table.cells, "VOTable")
        else:
            table.rows += 1

    def _start_table(self, attrs: dict[str, str]) -> None:
        try:
            nrows = max(0, int(attrs.get("nrows", "0")))  # read as astropy reads it: int(), so "+5" and " 5" count
        except ValueError:
            nrows = 0  # astropy refuses it
        self.tables.append(_TableScan(nrows=nrows))

    def _start_field(self, attrs: dict[str, str]) -> None:
        self.columns += 1
        self.limits.check_columns(self.columns, "VOTable")
        if self.tables:
            table = self.tables[-1]
            table.fields += 1
            cost = _field_cost(attrs.get("datatype", ""), attrs.get("arraysize"))
            table.row_stream_bytes += cost.stream_bytes
            table.row_memory_bytes += cost.memory_bytes

    def _start_binary2(self, attrs: dict[str, str]) -> None:
        if self.tables:
            self.tables[-1].binary2 = True

    def _start_stream(self, attrs: dict[str, str]) -> None:
        if any(key.rpartition("}")[2].lower() == "href" for key in attrs):
            raise ReaderError("The VOTable refers to data elsewhere (STREAM href); send the data inside the document.")
        if attrs.get("encoding", "base64") != "base64":
            raise ReaderError("A VOTable STREAM must be base64-encoded (compressed streams are refused).")
        self.in_stream = True

    def end(self, name: str) -> None:
        local = name.rpartition("}")[2]
        if local == "STREAM":
            self.in_stream = False
        elif local == "TABLE" and self.tables:
            self.closed_cells += self.tables[-1].estimated_cells()
            self.closed_bytes += self.tables[-1].estimated_bytes()
            self.limits.check_cells(self.closed_cells, "VOTable")
            self.limits.check_bytes(self.closed_bytes, "VOTable")

    def text(self, data: str) -> None:
        if self.in_stream and self.tables:
            self.tables[-1].stream_chars += len(data)


def _refuse_doctype(*_args: Any) -> int:
    raise ReaderError("The VOTable declares a DOCTYPE; entities and external definitions are refused.")


def check_votable(source: bytes | IO[bytes], limits: Limits) -> None:
    """Refuse a VOTable that refers to anything outside itself or would build more than ``limits`` allow.

    One expat pass (namespaces resolved, no DOCTYPE, so no entities of any kind);
    a file object is read in chunks and left where it was found.
    """
    scan = _VOTableScan(limits)
    parser = expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.ExternalEntityRefHandler = _refuse_doctype
    parser.StartElementHandler = scan.start
    parser.EndElementHandler = scan.end
    parser.CharacterDataHandler = scan.text
    parser.buffer_text = True
    try:
        if isinstance(source, bytes):
            parser.Parse(source, True)
        else:
            start = source.tell()
            while chunk := source.read(_SCAN_CHUNK):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
            source.seek(start)
    except expat.ExpatError as exc:
        raise ReaderError(f"The VOTable is not well-formed XML: {exc}") from None
    if not scan.tables:
        raise ReaderError("The document has no VOTable TABLE.")


def open_votable(source: bytes | IO[bytes], limits: Limits) -> Any:
    """An astropy VOTableFile of content that passed :func:`check_votable`."""
    import warnings

    from astropy.io.votable import parse

    check_votable(source, limits)
    fileobj = io.BytesIO(source) if isinstance(source, bytes) else source
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns about every small VOTable deviation
        try:
            return parse(fileobj, verify="ignore")
        except Exception as exc:  # astropy raises many kinds for bad VOTables
            raise ReaderError(f"The VOTable cannot be read: {without_paths(str(exc))}") from None
