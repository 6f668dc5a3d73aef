"""Files imported into MyDB: CSV, VOTable, FITS table or Parquet, read as content and bounded.

An import is a query job: the file becomes a private TAP upload (Parquet under
``<VAR_DIR>/uploads``) and the job stores ``SELECT * FROM TAP_UPLOAD.<name>`` under the
chosen MyDB name, so the quota, the history, sharing and the "nothing half-made" rule of
query results hold for imports too; it is also how a VO client imports (TAP UPLOAD plus
TABLE_NAME). This module only turns bytes into an Arrow table:

- CSV and VOTable go through apps/formats/readers.py (a CSV is never a file name; a
  VOTable that points anywhere is refused before astropy sees it);
- FITS and Parquet are read from an in-memory buffer (they cannot refer to other files),
  and their headers (TFIELDS/NAXIS2, the Parquet footer) are checked against the limits
  before any data is decoded; compressed FITS is refused rather than unpacked.

Units, UCDs and descriptions the file declares travel as Arrow field metadata
(``unit``/``ucd``/``description``), which planning.upload_table reads back. No Django import.
"""

from __future__ import annotations

import io
import re
import warnings
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from apps.formats.readers import Limits, ReaderError, open_votable, read_csv, without_paths

FORMATS = ("csv", "votable", "fits", "parquet")
_SUFFIXES = {".csv": "csv", ".vot": "votable", ".xml": "votable", ".votable": "votable", ".fits": "fits", ".fit": "fits",
             ".fts": "fits", ".parquet": "parquet", ".pq": "parquet"}
_FITS_MAGIC, _PARQUET_MAGIC, _GZIP_MAGIC = b"SIMPLE  =", b"PAR1", b"\x1f\x8b"
META_KEYS = ("unit", "ucd", "description")


def guess_format(filename: str, data: bytes) -> str:
    """The format by the content's first bytes, then by the name's suffix; CSV when nothing else fits."""
    head = data[:16].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data[:4] == _PARQUET_MAGIC:
        return "parquet"
    if data[:9] == _FITS_MAGIC:
        return "fits"
    if head[:1] == b"<":
        return "votable"
    for suffix, fmt in _SUFFIXES.items():
        if filename.lower().endswith(suffix):
            return fmt
    return "csv"


def clean_name(name: str) -> str:
    """A column name usable unquoted in ADQL on every engine."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name.strip()).lower()
    return (cleaned if cleaned[:1].isalpha() else f"c_{cleaned}")[:64]


def read_import(data: bytes, fmt: str, limits: Limits) -> pa.Table:
    """The file as one Arrow table, columns renamed for ADQL, with unit/ucd/description metadata."""
    if data[:2] == _GZIP_MAGIC:
        raise ReaderError("The file is gzip-compressed: unpack it and import the plain file.")
    meta: dict[str, dict[str, str]] = {}
    try:
        if fmt == "csv":
            table = read_csv(data, limits)
        elif fmt == "votable":
            table, meta = _votable(data, limits)
        elif fmt == "fits":
            table, meta = _fits(data, limits)
        elif fmt == "parquet":
            table, meta = _parquet(data, limits)
        else:
            raise ReaderError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    except ReaderError:
        raise
    except (ValueError, TypeError, OSError, KeyError, IndexError, pa.ArrowException) as exc:
        raise ReaderError(f"The {fmt} file cannot be read: {without_paths(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}") from None
    if table.num_columns == 0:
        raise ReaderError("The file has no columns.")
    return _named(table, meta)


def _named(table: pa.Table, meta: dict[str, dict[str, str]]) -> pa.Table:
    names = [clean_name(n) for n in table.column_names]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ReaderError("Two columns have the same name once made ADQL-safe: " + ", ".join(doubled) + ".")
    fields = []
    for old, new, column in zip(table.column_names, names, table.columns, strict=True):
        extra = {k: v for k, v in meta.get(old, {}).items() if v}
        fields.append(pa.field(new, column.type, metadata=extra or None))
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))


# --- VOTable -------------------------------------------------------------------------------------

def _votable(data: bytes, limits: Limits) -> tuple[pa.Table, dict[str, dict[str, str]]]:
    table = open_votable(data, limits).get_first_table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy warns about every small deviation from the standard
        astro = table.to_table(use_names_over_ids=True)
    meta = {}
    for f, name in zip(table.fields, astro.colnames, strict=True):
        meta[name] = {"unit": str(f.unit or ""), "ucd": f.ucd or "", "description": str(f.description or "")}
    return pa.table([_masked_column(astro[n]) for n in astro.colnames], names=list(astro.colnames)), meta


def _masked_column(column: Any) -> pa.Array:
    data = np.ma.asarray(column)
    mask = np.ma.getmaskarray(data)
    values = np.ma.getdata(data)
    if values.ndim > 1:  # an array in every cell: kept as text, like TAP uploads
        return pa.array([None if mask[i].any() else str(v.tolist()) for i, v in enumerate(values)], pa.string())
    if values.dtype.kind in "OSU":
        cells = [None if m else (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)) for v, m in zip(values, mask, strict=True)]
        return pa.array(cells, pa.string())
    if values.dtype.kind == "f":
        mask = mask | np.isnan(values)
    if values.dtype.byteorder not in ("=", "|"):
        values = values.astype(values.dtype.newbyteorder("="))
    return pa.array(values, mask=mask if mask.any() else None)


# --- FITS ----------------------------------------------------------------------------------------

def _fits(data: bytes, limits: Limits) -> tuple[pa.Table, dict[str, dict[str, str]]]:
    from astropy.io import fits
    from astropy.table import Table

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hdul = fits.open(io.BytesIO(data), memmap=False, lazy_load_hdus=True)
        try:
            hdu = next((h for h in hdul[1:] if isinstance(h, fits.BinTableHDU | fits.TableHDU)), None)
            if hdu is None:
                raise ReaderError("The FITS file has no table extension (an image cannot be imported as a table).")
            header = hdu.header
            columns, rows = int(header.get("TFIELDS", 0)), int(header.get("NAXIS2", 0))
            limits.check_columns(columns, "FITS table")
            limits.check_cells(columns * rows, "FITS table")
            astro = Table(hdu.data, copy=False)
            meta = {}
            for i, col in enumerate(hdu.columns, start=1):
                meta[col.name] = {"unit": str(col.unit or ""), "ucd": str(header.get(f"TUCD{i}", "")),
                                  "description": str(header.get(f"TCOMM{i}", "") or "")}
            arrays = [_masked_column(astro[n]) for n in astro.colnames]
        finally:
            hdul.close()
    return pa.table(arrays, names=list(astro.colnames)), meta


# --- Parquet -------------------------------------------------------------------------------------

def _parquet(data: bytes, limits: Limits) -> tuple[pa.Table, dict[str, dict[str, str]]]:
    source = pq.ParquetFile(pa.BufferReader(data))  # a buffer: never a path or a URL
    columns, rows = source.metadata.num_columns, source.metadata.num_rows
    limits.check_columns(columns, "Parquet file")
    limits.check_cells(columns * rows, "Parquet file")
    uncompressed = sum(source.metadata.row_group(i).total_byte_size for i in range(source.metadata.num_row_groups))
    limits.check_bytes(uncompressed, "Parquet file")
    table = source.read()
    meta = {}
    for f in table.schema:
        given = {k.decode(): v.decode("utf-8", "replace") for k, v in (f.metadata or {}).items()}
        meta[f.name] = {k: given.get(k, "") for k in META_KEYS}
    return table.replace_schema_metadata(None), meta
