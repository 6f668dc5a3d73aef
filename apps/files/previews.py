"""Previews: the start of text files, images, FITS headers and the first rows of tables."""

from __future__ import annotations

import warnings
from typing import Any, BinaryIO

TEXT_SUFFIXES = {
    ".txt", ".csv", ".tsv", ".md", ".rst", ".py", ".json", ".log", ".xml", ".vot", ".yaml", ".yml", ".sh", ".sql", ".ini", ".cfg", ".dat",
    ".ecsv", ".r", ".ipynb",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".webp"}
FITS_SUFFIXES = {".fits", ".fit", ".fts", ".fits.gz", ".fz"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
TEXT_BYTES = 64 * 1024
TABLE_ROWS = 20
MAX_HDUS = 10


def _suffix(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".fits.gz"):
        return ".fits.gz"
    dot = lower.rfind(".")
    return lower[dot:] if dot > 0 else ""


def preview_kind(name: str) -> str | None:
    suffix = _suffix(name)
    for kind, suffixes in (("text", TEXT_SUFFIXES), ("image", IMAGE_SUFFIXES), ("fits", FITS_SUFFIXES), ("parquet", PARQUET_SUFFIXES)):
        if suffix in suffixes:
            return kind
    return None


def _fits_rows(hdu: Any, limit: int = TABLE_ROWS) -> dict[str, Any]:
    """The first rows of a FITS table; memory-mapped, so a huge table is not read."""
    header = hdu.header
    head = hdu.data[:limit]
    names = list(head.dtype.names or ())
    return {
        "columns": [{"name": name, "unit": str(header.get(f"TUNIT{i}", "")), "dtype": str(head.dtype[name])} for i, name in enumerate(names, 1)],
        "rows": [[str(value) for value in row] for row in head.tolist()],
        "total_rows": int(header.get("NAXIS2", len(head))),
    }


def fits_preview(fileobj: BinaryIO) -> dict[str, Any]:
    from astropy.io import fits

    hdus = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with fits.open(fileobj, memmap=True, lazy_load_hdus=True) as hdul:
            for index, hdu in enumerate(hdul):
                if index >= MAX_HDUS:
                    break
                entry: dict[str, Any] = {"index": index, "name": hdu.name, "type": type(hdu).__name__, "header": repr(hdu.header)}
                if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                    entry["table"] = _fits_rows(hdu)
                elif hdu.header.get("NAXIS", 0):
                    entry["shape"] = [hdu.header.get(f"NAXIS{i}") for i in range(hdu.header["NAXIS"], 0, -1)]
                hdus.append(entry)
    return {"kind": "fits", "hdus": hdus}


def parquet_preview(fileobj: BinaryIO) -> dict[str, Any]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(fileobj)
    batch = next(parquet.iter_batches(batch_size=TABLE_ROWS), None)
    rows = [] if batch is None else [[str(v) for v in row.values()] for row in batch.to_pylist()]
    columns = [{"name": f.name, "unit": "", "dtype": str(f.type)} for f in parquet.schema_arrow]
    return {"kind": "table", "table": {"columns": columns, "rows": rows, "total_rows": parquet.metadata.num_rows}}


def make_preview(name: str, fileobj: BinaryIO) -> dict[str, Any]:
    kind = preview_kind(name)
    try:
        if kind == "text":
            data = fileobj.read(TEXT_BYTES + 1)
            return {"kind": "text", "text": data[:TEXT_BYTES].decode("utf-8", "replace"), "truncated": len(data) > TEXT_BYTES}
        if kind == "image":
            return {"kind": "image"}
        if kind == "fits":
            return fits_preview(fileobj)
        if kind == "parquet":
            return parquet_preview(fileobj)
    except Exception as exc:  # a damaged file gets a message, not a server error
        return {"kind": "error", "message": f"This file cannot be previewed: {exc}"}
    finally:
        fileobj.close()
    return {"kind": None}
