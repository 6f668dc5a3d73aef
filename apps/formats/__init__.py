"""Result writers: VOTable (TABLEDATA, BINARY, BINARY2), CSV, TSV, ECSV, JSON, FITS and Parquet, streamed.

Pure Python (numpy, pyarrow, astropy.io.fits for header cards); no Django
import. The query service (downloads) and the TAP service (sync/async
results) both call :func:`write` with the engine's Arrow batches and the
ADQL output columns, and send the chunks it yields as they come::

    fmt = resolve_format(request_format)          # raises UnknownFormat
    chunks = write(fmt, engine.fetch(table), translation.columns,
                   ResultInfo(query=adql, overflow=hit_maxrec, total_rows=rows))
    StreamingHttpResponse(chunks, content_type=fmt.mime_type)

Memory stays flat: one batch is encoded at a time, and chunks are 64 KiB to
1 MiB. FITS needs the row count first: with ``total_rows=None`` (or text
columns of unbounded width) it spools to a temporary file; see fits.py.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from .columns import ColumnInfo, ColumnPlan, conform_batch, make_plans, unique_names
from .fits import RowCountMismatch, fits_chunks
from .gaia import ecsv_chunks, json_chunks
from .parallel import encode_batches, pipelined
from .parquet import parquet_chunks
from .text import csv_chunks, engine_csv_chunks, engine_csv_matches, tsv_chunks
from .votable import (
    BINARY,
    BINARY2,
    NAMESPACE,
    TABLEDATA,
    Base64Stream,
    document_head,
    document_tail,
    encode_binary,
    encode_tabledata,
    info_element,
    metadata_document,
)

__all__ = ["FORMATS", "Format", "ResultInfo", "RowCountMismatch", "UnknownFormat", "engine_csv_matches",
           "error_votable", "resolve_format", "write", "write_engine_csv"]

log = logging.getLogger(__name__)
MIN_CHUNK = 64 * 1024
MAX_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Format:
    key: str
    mime_type: str  # the Content-Type to send
    extension: str
    label: str


_VOTABLE = "application/x-votable+xml"
FORMATS: dict[str, Format] = {f.key: f for f in [
    Format("votable", _VOTABLE, "vot", "VOTable (BINARY2)"),
    Format("votable-td", f"{_VOTABLE};serialization=TABLEDATA", "vot", "VOTable (TABLEDATA)"),
    Format("votable-b", f"{_VOTABLE};serialization=BINARY", "vot", "VOTable (BINARY)"),
    Format("votable-b2", f"{_VOTABLE};serialization=BINARY2", "vot", "VOTable (BINARY2)"),
    Format("csv", "text/csv;header=present", "csv", "CSV"),
    Format("tsv", "text/tab-separated-values", "tsv", "TSV"),
    Format("fits", "application/fits", "fits", "FITS binary table"),
    Format("parquet", "application/vnd.apache.parquet", "parquet", "Parquet (with VOTable metadata)"),
    Format("ecsv", "text/x-ecsv", "ecsv", "ECSV (CSV with a typed YAML header)"),
    Format("json", "application/json", "json", "JSON (the Gaia archive's shape)"),
]}
_SERIALIZATION = {"votable": BINARY2, "votable-td": TABLEDATA, "votable-b": BINARY, "votable-b2": BINARY2}

# Media types and short names a client may send, after lower-casing and removing blanks.
_VOTABLE_TYPES = {"votable", "application/x-votable+xml", "application/votable+xml", "text/xml", "application/xml", "xml", "vot"}
_ALIASES = {
    "": "votable",
    "votable/td": "votable-td", "votabletd": "votable-td", "tabledata": "votable-td", "votable-td": "votable-td",
    "votable/b": "votable-b", "votableb": "votable-b", "binary": "votable-b", "votable-b": "votable-b",
    "votable/b2": "votable-b2", "votableb2": "votable-b2", "binary2": "votable-b2", "votable-b2": "votable-b2",
    "csv": "csv", "text/csv": "csv",
    "tsv": "tsv", "text/tab-separated-values": "tsv", "text/tsv": "tsv", "tab-separated-values": "tsv",
    "fits": "fits", "application/fits": "fits", "image/fits": "fits", "application/x-fits": "fits",
    "parquet": "parquet", "application/vnd.apache.parquet": "parquet", "application/x-parquet": "parquet",
    "ecsv": "ecsv", "text/x-ecsv": "ecsv", "text/ecsv": "ecsv",
    "json": "json", "application/json": "json",
}
_BY_SERIALIZATION = {"tabledata": "votable-td", "binary": "votable-b", "binary2": "votable-b2"}


class UnknownFormat(ValueError):
    """A RESPONSEFORMAT/FORMAT value we do not write."""


def accepted_values() -> list[str]:
    """What resolve_format accepts, for error messages and TAPRegExt capabilities."""
    return sorted({*(_VOTABLE_TYPES - {""}), *(a for a in _ALIASES if a), *(f.mime_type for f in FORMATS.values())})


def resolve_format(value: str | None) -> Format:
    """The Format for a TAP RESPONSEFORMAT/FORMAT value (a media type with parameters, or a short name)."""
    text = "".join((value or "").split()).lower()
    base, *params = text.split(";")
    options: dict[str, str] = {}
    for param in params:
        name, _, val = param.partition("=")
        options[name] = val.strip("\"'")
    key: str | None
    if base in _VOTABLE_TYPES:
        key = _BY_SERIALIZATION.get(options.pop("serialization", ""), None) if "serialization" in options else "votable"
        options.pop("charset", None)
        options.pop("content", None)  # e.g. application/x-votable+xml;content=datalink
    else:
        key = _ALIASES.get(base)
        options.pop("charset", None)
        if key == "csv" and options.get("header", "present") == "present":
            options.pop("header", None)
    if key is None or options:
        raise UnknownFormat(f"Unsupported RESPONSEFORMAT {value!r}; accepted values: {', '.join(accepted_values())}")
    return FORMATS[key]


@dataclass
class ResultInfo:
    query: str | None = None
    # MAXREC cut the result: INFO QUERY_STATUS=OVERFLOW after the table. Read once the batches are exhausted,
    # so a sync query may set it while streaming (when it finds the row past MAXREC).
    overflow: bool = False
    table_name: str = "result"
    description: str = ""
    infos: list[tuple[str, str]] = field(default_factory=list)  # more INFO name/value pairs (e.g. request, server time)
    total_rows: int | None = None  # lets FITS stream without spooling
    error: str = ""  # set by the writer when the rows failed and a VOTable reported it (see write())
    field_ids: dict[str, str] = field(default_factory=dict)  # column name -> FIELD ID, for references (DataLink)
    resources: list[str] = field(default_factory=list)  # VOTable RESOURCEs after the results (service descriptors)


def write(fmt: Format, batches: Iterable[pa.RecordBatch], columns: Sequence[ColumnInfo], info: ResultInfo) -> Generator[bytes, None, None]:
    """Encode a result in ``fmt``, one batch at a time; yields chunks of 64 KiB to 1 MiB.

    Nothing happens until the first chunk is asked for; ``close()`` (a client gone) releases
    everything, the FITS spool file included. The first batch is
    read before the header is written: its Arrow schema refines the column
    types (see columns.py).

    An error from ``batches`` (or while encoding) ends a VOTable cleanly: the
    rows sent so far, then INFO QUERY_STATUS=ERROR with the reason after the
    TABLE (DALI 1.1), and no exception, so the HTTP response ends properly and
    clients read the reason (``info.error`` holds it). Without a first batch,
    the document is a plain DALI error VOTable. The other formats have no place
    for a trailer: the error propagates, and the HTTP response is cut without
    its last chunk, so a client sees an incomplete download, never a short
    file that looks whole.
    """
    return _rechunk(_write(fmt, batches, columns, info))


def write_engine_csv(rows: Iterable[bytes | memoryview], columns: Sequence[ColumnInfo], schema: pa.Schema) -> Generator[bytes, None, None]:
    """CSV whose rows an engine wrote itself (``engine_csv_matches`` was true): our header, then its text,
    in chunks of 64 KiB to 1 MiB. An error from ``rows`` propagates, as with ``write``."""
    return _rechunk(engine_csv_chunks(iter(rows), columns, schema))


def _write(fmt: Format, batches: Iterable[pa.RecordBatch], columns: Sequence[ColumnInfo], info: ResultInfo) -> Iterator[bytes]:
    it = iter(batches)
    try:
        first = next(it, None)
    except Exception as exc:
        if fmt.key not in _SERIALIZATION:
            raise
        info.error = _failed(exc)
        yield error_votable(info.error, query=info.query)
        return
    plans = make_plans(columns, first)
    rest: Iterator[pa.RecordBatch] = itertools.chain([first], it) if first is not None else iter(())
    arrays = (conform_batch(b, plans) for b in rest)
    if fmt.key in _SERIALIZATION:
        yield from _votable(_SERIALIZATION[fmt.key], arrays, plans, info)
    elif fmt.key == "csv":
        yield from csv_chunks(arrays, plans)
    elif fmt.key == "tsv":
        yield from tsv_chunks(arrays, plans)
    elif fmt.key == "fits":
        yield from fits_chunks(arrays, unique_names(plans), total_rows=info.total_rows, title=info.table_name, query=info.query,
                               description=info.description, infos=info.infos)
    elif fmt.key == "ecsv":
        yield from ecsv_chunks(arrays, plans, table_name=info.table_name, query=info.query)
    elif fmt.key == "json":
        yield from json_chunks(arrays, plans)
    elif fmt.key == "parquet":
        plans = unique_names(plans)
        meta = metadata_document(plans, table_name=info.table_name, description=info.description, query=info.query, infos=info.infos)
        yield from parquet_chunks(arrays, plans, meta)
    else:
        raise UnknownFormat(fmt.key)


def _votable(serialization: str, arrays: Iterator[list[pa.Array]], plans: Sequence[ColumnPlan], info: ResultInfo) -> Iterator[bytes]:
    yield document_head(plans, query=info.query, infos=info.infos, table_name=info.table_name,
                        description=info.description, serialization=serialization, field_ids=info.field_ids).encode("utf-8")
    stream = Base64Stream()
    try:
        if serialization == TABLEDATA:
            yield from encode_batches(arrays, lambda cols: encode_tabledata(cols, plans))  # pa.Buffers: _rechunk copies them out
        else:
            for pieces in pipelined(arrays, lambda cols: list(stream.feed(encode_binary(cols, plans, serialization)))):
                yield from pieces
    except Exception as exc:
        # The header is out: close the document so clients can read the rows sent and the reason.
        info.error = _failed(exc)
        yield stream.finish() + document_tail(serialization, [("QUERY_STATUS", "ERROR", f"Result incomplete: {info.error}")],
                                              info.resources).encode()
        return
    after = [("QUERY_STATUS", "OVERFLOW", "")] if info.overflow else []
    yield stream.finish() + document_tail(serialization, after, info.resources).encode("utf-8")


def _failed(exc: Exception) -> str:
    # Usually the query's own failure (its caller records it); the traceback helps only with our bugs.
    log.info("result ended early: %s", exc, exc_info=log.isEnabledFor(logging.DEBUG))
    return str(exc) or type(exc).__name__


def _rechunk(pieces: Iterator[bytes | memoryview]) -> Generator[bytes, None, None]:
    """Coalesce small pieces and split big ones, so every chunk but the last is 64 KiB..1 MiB."""
    buffer = bytearray()
    try:
        for piece in pieces:
            view = memoryview(piece)
            if buffer:
                take = MAX_CHUNK - len(buffer)
                buffer += view[:take]
                view = view[take:]
                if len(buffer) < MIN_CHUNK:
                    continue
                yield bytes(buffer)
                buffer.clear()
            start = 0
            while len(view) - start >= MIN_CHUNK:
                cut = min(MAX_CHUNK, len(view) - start)
                yield bytes(view[start:start + cut])
                start += cut
            buffer += view[start:]
    except Exception:
        if buffer:  # what the writer produced before failing (rows of a CSV, say)
            yield bytes(buffer)
        raise
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # closed early (a client gone): the source's cleanup runs now, in this thread
    if buffer:
        yield bytes(buffer)


def error_votable(message: str, *, query: str | None = None) -> bytes:
    """A DALI error document: RESOURCE type="results" with INFO QUERY_STATUS=ERROR holding the message."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n',
             f'<VOTABLE version="1.4" xmlns="{NAMESPACE}">\n',
             '<RESOURCE type="results">\n', info_element("QUERY_STATUS", "ERROR", message or "Error"), "\n"]
    if query:
        parts += [info_element("QUERY", query), "\n"]
    parts.append("</RESOURCE>\n</VOTABLE>\n")
    return "".join(parts).encode("utf-8")
