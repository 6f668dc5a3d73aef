"""Reading catalogue files (FITS, VOTable, CSV, Parquet) as Arrow batches with their column metadata.

Batches are produced in chunks so a large file never sits in memory as a
whole (FITS is memory-mapped, Parquet and CSV stream; astropy reads a
VOTable whole, which is the format's limit). A VOTable is read only after
apps/formats/readers.py has checked it refers to nothing outside itself
(STREAM href, DOCTYPE entities, XInclude): the file may come from anybody,
and the publisher must not ingest the server's own files by accident. Units, UCDs and descriptions the
file carries are kept; a sidecar VOTable next to a Parquet or CSV file
(``cat.parquet`` + ``cat.vot``) adds them where the file has none.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from apps.adql import ColumnInfo
from apps.formats.readers import UNBOUNDED, open_votable

from .csvtypes import BadCell, converted_batches, scan_csv
from .datatypes import adql_from_votable

FORMATS = ("fits", "votable", "csv", "parquet")
_SUFFIXES = {".fits": "fits", ".fit": "fits", ".fits.gz": "fits", ".vot": "votable", ".xml": "votable", ".votable": "votable",
             ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
SIDECAR_SUFFIXES = (".vot", ".votable", ".xml")


@dataclass
class CatalogueFile:
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]
    total_rows: int | None
    # What the file says of its columns beyond their Arrow types; a datatype only where it says more (sidecar).
    fields: dict[str, ColumnInfo] = field(default_factory=dict)
    description: str = ""
    bad_cells: list[BadCell] = field(default_factory=list)  # loaded as NULL (CSV, when the publisher chose so)
    bad_cell_count: int = 0


REJECT, LOAD_AS_NULL = "reject", "null"  # what to do with CSV cells that do not fit their column's type


class BadCellsError(ValueError):
    """A CSV file with cells that do not fit their column's type, refused before anything is stored."""

    def __init__(self, cells: list[BadCell], count: int) -> None:
        self.cells, self.count = cells, count
        more = f" (and {count - len(cells)} more)" if count > len(cells) else ""
        super().__init__(f"{count} cell(s) do not fit their column's type: " + "; ".join(map(str, cells[:5])) + more
                         + ". Fix the file, declare the column's type in a sidecar VOTable, or load the bad cells as NULL.")


def guess_format(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if name.endswith(suffix):
            return fmt
    raise ValueError(f"Cannot tell the format of {path.name}: use one of {', '.join(FORMATS)} (--format).")


def clean_name(name: str) -> str:
    """A column name usable as a regular ADQL identifier in every engine."""
    cleaned = re.sub(r"[^A-Za-z0-9_]", "_", name.strip()).lower()
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"c_{cleaned}"
    return cleaned[:64]


def open_catalogue(path: Path, fmt: str | None = None, chunk_rows: int = 100_000, bad_cells: str = REJECT) -> CatalogueFile:
    """The file as Arrow batches with its metadata. CSV cells that do not fit their column raise
    BadCellsError, or (``bad_cells="null"``) load as NULL and are listed in ``CatalogueFile.bad_cells``."""
    fmt = fmt or guess_format(path)
    if fmt not in FORMATS:
        raise ValueError(f"Unknown format {fmt!r}: use one of {', '.join(FORMATS)}.")
    sidecar = find_sidecar(path) if fmt in ("csv", "parquet") else None
    side_fields, side_description = read_votable_fields(sidecar) if sidecar else ({}, "")
    if fmt == "csv":
        cat = _csv(path, chunk_rows, {k: v.datatype for k, v in side_fields.items()}, bad_cells)
    else:
        cat = {"fits": _fits, "votable": _votable, "parquet": _parquet}[fmt](path, chunk_rows)
    _merge(cat.fields, side_fields)
    cat.description = cat.description or side_description
    return _renamed(cat)


def find_sidecar(path: Path) -> Path | None:
    for base in (path, path.with_suffix("")):
        for suffix in SIDECAR_SUFFIXES:
            candidate = base.parent / (base.name + suffix)
            if candidate.exists() and candidate != path:
                return candidate
    return None


def _merge(into: dict[str, ColumnInfo], extra: dict[str, ColumnInfo]) -> None:
    """What ``extra`` (a sidecar) says fills what ``into`` (the file itself) leaves empty."""
    lower = {k.lower(): k for k in into}
    for name, meta in extra.items():
        key = lower.get(name.lower(), name)
        have = into.get(key, ColumnInfo(key))
        into[key] = replace(have, **{attr: getattr(meta, attr) for attr in ("unit", "ucd", "description", "utype", "datatype", "arraysize", "xtype")
                                     if not getattr(have, attr)})


def _renamed(cat: CatalogueFile) -> CatalogueFile:
    names = [clean_name(n) for n in cat.schema.names]
    if len(set(names)) != len(names):
        raise ValueError("Two columns of the file have the same name once cleaned: " + ", ".join(sorted(n for n in names if names.count(n) > 1)))
    by_lower = {k.lower(): v for k, v in cat.fields.items()}
    fields = {new: replace(by_lower.get(old.lower(), ColumnInfo(new)), name=new) for old, new in zip(cat.schema.names, names, strict=True)}
    schema = pa.schema([f.with_name(n) for f, n in zip(cat.schema, names, strict=True)])

    def batches() -> Iterator[pa.RecordBatch]:
        for b in cat.batches:
            yield pa.RecordBatch.from_arrays(b.columns, schema=schema)

    return CatalogueFile(schema, batches(), cat.total_rows, fields, cat.description, cat.bad_cells, cat.bad_cell_count)


# --- readers ---------------------------------------------------------------------

def _parquet(path: Path, chunk_rows: int) -> CatalogueFile:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(path)
    schema = pf.schema_arrow
    fields = {}
    for f in schema:  # units/descriptions some writers keep in field metadata
        meta = {k.decode(): v.decode() for k, v in (f.metadata or {}).items()}
        fields[f.name] = ColumnInfo(f.name, unit=meta.get("unit", ""), ucd=meta.get("ucd", ""), description=meta.get("description", ""))
    return CatalogueFile(schema.remove_metadata(), pf.iter_batches(batch_size=chunk_rows), pf.metadata.num_rows, fields)


def _csv(path: Path, chunk_rows: int, declared: dict[str, str], bad_cells: str) -> CatalogueFile:
    """Types from the whole file (or the sidecar's declared types), never from one stray cell (csvtypes.py)."""
    block = max(1 << 16, min(chunk_rows * 100, 1 << 24))  # blocks of roughly chunk_rows rows
    try:
        scan = scan_csv(path, block, declared)
    except pa.ArrowInvalid as exc:
        raise ValueError(f"{path.name} is not a readable CSV file: {str(exc).splitlines()[0]}") from None
    if scan.bad_cell_count and bad_cells != LOAD_AS_NULL:
        raise BadCellsError(scan.bad_cells, scan.bad_cell_count)
    return CatalogueFile(scan.schema, converted_batches(path, block, scan.schema), scan.rows, {}, "", scan.bad_cells, scan.bad_cell_count)


def _fits_column(col: Any, data: np.ndarray) -> pa.Array:
    """One FITS column as Arrow; a column Arrow cannot hold is refused with its name."""
    try:
        return _fits_array(col, data)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise ValueError(f"FITS column {col.name} (format {col.format}) cannot be read: {str(exc).splitlines()[0]}") from None


def _fits_array(col: Any, data: np.ndarray) -> pa.Array:
    if data.dtype.kind == "S":
        return pa.array(np.char.rstrip(np.char.decode(data, "ascii", errors="replace")), type=pa.string())
    if data.dtype.kind == "U":
        return pa.array(data, type=pa.string())
    native = data.astype(data.dtype.newbyteorder("=")) if data.dtype.byteorder not in ("=", "|") else data
    if native.ndim > 1:
        return pa.FixedSizeListArray.from_arrays(pa.array(native.reshape(-1)), native.shape[1])
    null = getattr(col, "null", None)
    mask = native == null if null is not None and native.dtype.kind in "iu" else None
    if native.dtype.kind == "f":
        mask = np.isnan(native)  # NaN is FITS's null for floating-point columns
    return pa.array(native, mask=mask)


def _fits(path: Path, chunk_rows: int) -> CatalogueFile:
    from astropy.io import fits

    hdul = fits.open(path, memmap=True)
    hdu = next((h for h in hdul if isinstance(h, fits.BinTableHDU | fits.TableHDU)), None)
    if hdu is None:
        hdul.close()
        raise ValueError(f"{path.name} has no table extension.")
    header, cols, total = hdu.header, hdu.columns, hdu.header["NAXIS2"]
    fields = {}
    for i, c in enumerate(cols, start=1):
        fields[c.name] = ColumnInfo(c.name, unit=_fits_unit(c.unit or ""), ucd=str(header.get(f"TUCD{i}", "")),
                                   description=str(header.get(f"TCOMM{i}", "") or header.comments[f"TTYPE{i}"] or ""))
    first = hdu.data[:1]
    sample = [_fits_column(c, np.asarray(first[c.name])) for c in cols]
    schema = pa.schema([(c.name, a.type) for c, a in zip(cols, sample, strict=True)])

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for start in range(0, total, chunk_rows):
                rows = hdu.data[start:start + chunk_rows]
                yield pa.RecordBatch.from_arrays([_fits_column(c, np.asarray(rows[c.name])) for c in cols], schema=schema)
        finally:
            hdul.close()

    return CatalogueFile(schema, batches(), total, fields)


def _fits_unit(unit: str) -> str:
    """FITS units mostly read as VOUnits; translate the ones that do not."""
    if not unit:
        return ""
    from astropy import units as u

    try:
        return str(u.Unit(unit, format="fits", parse_strict="raise").to_string("vounit"))
    except (ValueError, TypeError):
        return unit


def _parse_votable(source: Any) -> Any:
    """An astropy VOTableFile of a path or a file object, once it is known to be self-contained."""
    if hasattr(source, "read"):
        return open_votable(source, UNBOUNDED)
    with open(source, "rb") as fileobj:  # one open file for the check and the parse
        return open_votable(fileobj, UNBOUNDED)


def read_votable_fields(path: Any) -> tuple[dict[str, ColumnInfo], str]:
    """FIELD metadata (and the table description) of a VOTable: a path or a file object."""
    return _votable_fields(_parse_votable(path).get_first_table())


def read_votable_sidecar(path: Any) -> tuple[dict[str, ColumnInfo], str, dict[str, str]]:
    """FIELD metadata, the table description and the INFOs (name → value) of the RESOURCE and the TABLE."""
    document = _parse_votable(path)
    table = document.get_first_table()
    infos = {info.name: str(info.value) for resource in document.resources for info in resource.infos if info.name}
    infos.update({info.name: str(info.value) for info in table.infos if info.name})
    return (*_votable_fields(table), infos)


def _votable_fields(table: Any) -> tuple[dict[str, ColumnInfo], str]:
    fields = {f.name: ColumnInfo(f.name, adql_from_votable(f.datatype, f.arraysize, f.xtype), f.arraysize or None, f.xtype or None,
                                 unit=str(f.unit.to_string("vounit")) if f.unit is not None else "", ucd=f.ucd or "",
                                 description=(f.description or "").strip(), utype=f.utype or "")
              for f in table.fields}
    return fields, (table.description or "").strip()


def _astropy_column(col: Any) -> pa.Array:
    data = np.ma.asarray(col)
    mask = np.ma.getmaskarray(data) if np.ma.is_masked(data) else None
    values = np.ma.getdata(data)
    if values.dtype.kind == "O":
        return pa.array([None if m else str(v) for v, m in zip(values, mask if mask is not None else [False] * len(values), strict=True)],
                        type=pa.string())
    if values.dtype.kind in "SU":
        return pa.array(values.astype(str), mask=mask, type=pa.string())
    if values.ndim > 1:
        return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])
    return pa.array(values, mask=mask)


def _votable(path: Path, chunk_rows: int) -> CatalogueFile:
    table = _parse_votable(path).get_first_table()
    fields, description = _votable_fields(table)
    astro = table.to_table(use_names_over_ids=True)
    arrow = pa.table({name: _astropy_column(astro[name]) for name in astro.colnames})
    return CatalogueFile(arrow.schema, iter(arrow.to_batches(max_chunksize=chunk_rows)), arrow.num_rows, fields, description)
