"""Previews: the start of text files, images, FITS headers and the first rows of tables.

Files in volumes come from anybody (uploads, compute jobs), and previews run in
the web process, so every preview is bounded by what it reads, not by what the
file says: text is read up to TEXT_BYTES; a gzip-compressed FITS file (whatever
its name: astropy sniffs the bytes) is unpacked in memory only up to
UNPACKED_BYTES; other compressions are not opened; FITS headers are shown up to
HEADER_BYTES and Parquet files up to TABLE_COLUMNS columns; FITS images become a small PNG
(percentile interval, asinh stretch) read with a stride, never whole. VOTables are shown as text:
no reader ever follows what they point to. Errors never name server paths.
"""

from __future__ import annotations

import gzip
import io
import warnings
from typing import Any, BinaryIO

from apps.formats.readers import without_paths

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
UNPACKED_BYTES = 64 * 1024 * 1024  # of a gzip-compressed FITS file
TABLE_COLUMNS = 1000  # of a Parquet file, shown and read
HEADER_BYTES = 256 * 1024  # of each FITS header shown
IMAGE_SIDE = 800  # FITS images are shown at most this many pixels on their longer side
IMAGE_READ_PIXELS = 4 * IMAGE_SIDE * IMAGE_SIDE  # read (strided) from the file for one picture, whatever its size

_OTHER_COMPRESSIONS = (b"BZh", b"\xfd7zXZ", b"PK\x03\x04", b"\x28\xb5\x2f\xfd")  # bzip2, xz, zip, zstd


class PreviewRefused(ValueError):
    """The file would cost too much to preview; the message says why."""


def _unpacked(fileobj: BinaryIO) -> BinaryIO:
    """The file itself, or its gzip content unpacked in memory up to UNPACKED_BYTES; other compressions
    (and gzip inside gzip, which astropy would unpack again without a bound) are refused."""
    if fileobj.read(6).startswith(b"\x1f\x8b"):
        fileobj.seek(0)
        with gzip.GzipFile(fileobj=fileobj, mode="rb") as packed:
            data = packed.read(UNPACKED_BYTES + 1)
        if len(data) > UNPACKED_BYTES:
            raise PreviewRefused(f"This compressed file is too large to preview (over {UNPACKED_BYTES // 2**20} MiB unpacked).")
        fileobj = io.BytesIO(data)
    fileobj.seek(0)
    if fileobj.read(6).startswith((b"\x1f\x8b", *_OTHER_COMPRESSIONS)):
        raise PreviewRefused("This compressed file cannot be previewed; only gzip is unpacked, once.")
    fileobj.seek(0)
    return fileobj


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
        with fits.open(_unpacked(fileobj), memmap=True, lazy_load_hdus=True) as hdul:
            for index, hdu in enumerate(hdul):
                if index >= MAX_HDUS:
                    break
                entry: dict[str, Any] = {"index": index, "name": hdu.name, "type": type(hdu).__name__, "header": repr(hdu.header)[:HEADER_BYTES]}
                if isinstance(hdu, fits.BinTableHDU | fits.TableHDU):
                    entry["table"] = _fits_rows(hdu)
                elif hdu.header.get("NAXIS", 0):
                    entry["shape"] = [hdu.header.get(f"NAXIS{i}") for i in range(hdu.header["NAXIS"], 0, -1)]
                    entry["image"] = _image_or_none(hdu)
                hdus.append(entry)
    return {"kind": "fits", "hdus": hdus}


def _image_or_none(hdu: Any) -> str | None:
    try:
        return fits_image_png(hdu)
    except (ValueError, TypeError, OSError, IndexError, ImportError):  # a damaged or odd image keeps its header preview
        return None


def fits_image_png(hdu: Any) -> str | None:
    """The image (its first plane for cubes) as a PNG data URL: percentile interval and asinh stretch,
    north up (FITS rows run bottom to top), at most IMAGE_SIDE pixels a side. Rows and columns are read
    with a stride through ``hdu.section``, so a huge image costs about IMAGE_READ_PIXELS, not its size."""
    import base64

    import numpy as np
    from astropy.visualization import AsinhStretch, PercentileInterval
    from PIL import Image

    shape = [int(hdu.header.get(f"NAXIS{i}", 0)) for i in range(int(hdu.header.get("NAXIS", 0)), 0, -1)]
    if len(shape) < 2 or min(shape) <= 0:
        return None
    height, width = shape[-2], shape[-1]
    step = max(1, int(np.ceil(max(height, width) / IMAGE_SIDE)))
    while (height // step + 1) * (width // step + 1) > IMAGE_READ_PIXELS:
        step += 1
    plane = (0,) * (len(shape) - 2)
    data = np.asarray(hdu.section[(*plane, slice(None, None, step), slice(None, None, step))], dtype=float)
    finite = np.isfinite(data)
    if not finite.any():
        return None
    low, high = PercentileInterval(99.5).get_limits(data[finite])
    spread = (data - low) / (high - low) if high > low else np.zeros_like(data)
    scaled = np.where(finite, AsinhStretch(0.1)(np.clip(np.nan_to_num(spread), 0.0, 1.0)), 0.0)
    pixels = (np.flipud(scaled) * 255).round().astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def parquet_preview(fileobj: BinaryIO) -> dict[str, Any]:
    """Schema and first rows of at most TABLE_COLUMNS columns (pyarrow reads them a page at a time)."""
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(fileobj)
    schema = parquet.schema_arrow
    shown = schema.names[:TABLE_COLUMNS]
    columns = [{"name": f.name, "unit": "", "dtype": str(f.type)} for f in schema][:TABLE_COLUMNS]
    batch = next(parquet.iter_batches(batch_size=TABLE_ROWS, columns=shown), None) if parquet.metadata.num_row_groups else None
    rows = [] if batch is None else [[str(v) for v in row.values()] for row in batch.to_pylist()]
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
    except PreviewRefused as exc:
        return {"kind": "error", "message": str(exc)}
    except Exception as exc:  # a damaged file gets a message, not a server error
        return {"kind": "error", "message": f"This file cannot be previewed: {without_paths(str(exc))}"}
    finally:
        fileobj.close()
    return {"kind": None}
