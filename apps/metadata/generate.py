"""Big generated catalogues for benchmarks (``manage.py generate_catalogues --size 100M``).

- Each size has a name (``10m``, ``100m``, ``1b``, ``20k``) and its own schema (``gaia_10m``), so
  generating one size never overwrites another.
- ``gaia.source`` is stored in one of two layouts, both sorted by a HEALPix index so that the row
  groups of a cone's cells are the only ones read:
  ``hats`` (default): the engine's HATS writer (workers/engines/hats.py: HEALPix partitions sorted by
  ``_healpix_29``, a margin cache, bounded memory, resumable after a crash);
  ``sorted``: one Parquet file sorted by ``source_id`` (whose high bits are the level-12 cell) in
  ROW_GROUP-row groups, the layout issue #14 measured first. The rows are written in parts of
  PART_CHUNKS generator chunks under ``<VAR_DIR>/generate/<schema>.<table>-<rows>-<seed>/`` (each a
  finished file renamed into place: a stopped run resumes at the first missing part), then sorted by
  DuckDB under SORT_MEMORY (it spills the rest to disk).
"""

from __future__ import annotations

import re
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from django.conf import settings

from workers.engines.base import TableName
from workers.engines.hats import HEALPIX_COLUMN, HEALPIX_ORDER, progress_in_rows
from workers.engines.parquet import ParquetStore

from .actions import do_generate_catalogue, do_update_table
from .catalog import PARQUET_ENGINES, parquet_path

PART_CHUNKS = 25  # generator chunks (200k rows) per part: 5M rows, about 0.7 GB of Parquet
ROW_GROUP = 100_000
SORT_MEMORY = "1GB"  # DuckDB's limit while sorting; it spills the rest to disk
SUFFIXES = {"k": 10**3, "m": 10**6, "b": 10**9}
HATS, SORTED = "hats", "sorted"
LAYOUTS = (HATS, SORTED)
Progress = Callable[[int, int | None], None]


def parse_size(text: str) -> int:
    """``10M`` -> 10_000_000; ``20000``, ``2.5m``, ``1B`` likewise; anything else is a ValueError."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMbB]?)\s*", text)
    if not found:
        raise ValueError(f"{text!r} is not a size (examples: 20000, 10M, 100M, 1B)")
    rows = float(found[1]) * SUFFIXES.get(found[2].lower(), 1)
    if rows < 1 or rows != int(rows):
        raise ValueError(f"{text!r} is not a whole number of rows of at least 1")
    return int(rows)


def size_label(rows: int) -> str:
    """The shortest exact name of a size: 10_000_000 -> '10m', 20_000 -> '20k', 1234 -> '1234'."""
    for suffix, unit in sorted(SUFFIXES.items(), key=lambda item: -item[1]):
        if rows >= unit and rows % unit == 0:
            return f"{rows // unit}{suffix}"
    return str(rows)


def scale_schema_name(schema: str, rows: int, engine: str) -> str:
    """``gaia`` at 10M rows -> ``gaia_10m`` (``gaia_10m_spark`` outside the default engine)."""
    name = f"{schema}_{size_label(rows)}"
    return name if engine == "duckdb" else f"{name}_{engine}"


def generate_gaia(rows: int, seed: int, engine: str, schema: str, *, layout: str = HATS, progress: Progress | None = None,
                  sort_progress: Progress | None = None) -> Any:
    """Generate and publish ``schema``.source, with the sky index its storage gives the planner (pruning, joins)."""
    writer = gaia_writer(rows, seed, engine, progress, sort_progress, layout)
    table = do_generate_catalogue(None, "gaia.source", rows=rows, seed=seed, engine=engine, progress=progress, schema_name=schema,
                                  writer=writer)
    return do_update_table(None, table, **sky_fields(engine, schema, layout if writer else SORTED))


def sky_fields(engine: str, schema: str, layout: str) -> dict[str, Any]:
    """A HATS copy is indexed by ``_healpix_29`` in its partitions; otherwise source_id carries the level-12 cell."""
    fields: dict[str, Any] = {"position_columns": ["ra", "dec"], "healpix_column": "source_id", "healpix_order": 12,
                              "healpix_shift": 35, "partition_orders": []}
    if layout == HATS:
        info = _parquet_store().hats(TableName(schema, "source"))
        if info is None:
            raise ValueError(f"{schema}.source is not stored as HATS partitions")
        fields.update(healpix_column=HEALPIX_COLUMN, healpix_order=HEALPIX_ORDER, healpix_shift=0,
                      partition_orders=list(info.partition_orders))
    return fields


def gaia_writer(rows: int, seed: int, engine: str, progress: Progress | None = None, sort_progress: Progress | None = None,
                layout: str = HATS) -> Callable[[str, str], int] | None:
    """The writer do_generate_catalogue calls for gaia.source in ``layout``, or None where it has no Parquet files."""
    if engine not in PARQUET_ENGINES:
        return None
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: one of {', '.join(LAYOUTS)}")

    def write(schema: str, table: str) -> int:
        if layout == HATS:
            return write_hats_table(engine, schema, table, rows, seed, progress)
        work = Path(settings.VAR_DIR) / "generate" / f"{schema}.{table}-{rows}-{seed}"
        parts = write_parts(rows, seed, work, progress)
        written = sort_into_file(parts, parquet_path(schema, table), work, sort_progress)
        shutil.rmtree(work, ignore_errors=True)  # the parts are only needed until the table is complete
        _remove_hats_copy(schema, table)
        return written

    return write


def write_hats_table(engine: str, schema: str, table: str, rows: int, seed: int, progress: Progress | None = None) -> int:
    """gaia.source streamed into the engine's HATS writer (bounded memory, resumable, a margin cache)."""
    from fixtures.generator import arrow_schema, generate

    info = _parquet_store().ingest_hats(TableName(schema, table), generate("gaia.source", rows, seed),
                                                arrow_schema("gaia.source"), ra="ra", dec="dec", replace=True,
                                                progress=progress_in_rows(progress, rows) if progress else None)
    return int(info.rows)


def _remove_hats_copy(schema: str, table: str) -> None:
    """A sorted file replaces a HATS folder of the same table (the store would read the folder first otherwise)."""
    folder = parquet_path(schema, table).with_suffix("")
    if folder.is_dir():
        shutil.rmtree(folder)


def write_parts(rows: int, seed: int, folder: Path, progress: Progress | None = None) -> list[Path]:
    """The table's rows as part files in ``folder``, skipping the parts a stopped run finished."""
    from fixtures.generator import CHUNK, gaia_chunks

    folder.mkdir(parents=True, exist_ok=True)
    chunks = -(-rows // CHUNK)
    parts = []
    for number, first in enumerate(range(0, chunks, PART_CHUNKS)):
        part = folder / f"part-{number:05d}.parquet"
        parts.append(part)
        done = min(first * CHUNK, rows)
        if part.exists():
            if progress:
                progress(min((first + PART_CHUNKS) * CHUNK, rows), rows)
            continue
        tmp = folder / f".{part.name}.{uuid.uuid4().hex[:8]}.tmp"
        writer = None
        try:
            for batch in gaia_chunks(rows, seed, first, first + PART_CHUNKS):
                writer = writer or pq.ParquetWriter(tmp, batch.schema, compression="zstd")
                writer.write_batch(batch)
                done += batch.num_rows
                if progress:
                    progress(done, rows)
            if writer:
                writer.close()
            tmp.replace(part)
        finally:
            tmp.unlink(missing_ok=True)
    return parts


def sort_into_file(parts: list[Path], target: Path, work: Path, progress: Progress | None = None) -> int:
    """One Parquet file sorted by source_id in ROW_GROUP-row groups, by DuckDB under SORT_MEMORY (atomic rename)."""
    import duckdb

    spill = work / "spill"
    spill.mkdir(parents=True, exist_ok=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.stem}.{uuid.uuid4().hex[:12]}.tmp"
    db = duckdb.connect(":memory:", config={"memory_limit": SORT_MEMORY, "temp_directory": str(spill),
                                            "preserve_insertion_order": True})
    files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in parts)
    if progress:
        progress(0, 1000)
    done = threading.Event()
    watcher = threading.Thread(target=_report_sort, args=(db, done, progress), daemon=True)
    watcher.start()
    try:
        row = db.execute(f"COPY (SELECT * FROM read_parquet([{files}]) ORDER BY source_id) TO '{tmp}' "
                         f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {ROW_GROUP})").fetchone()
        if target.is_dir():
            shutil.rmtree(target)
        tmp.replace(target)
    finally:
        done.set()
        watcher.join()
        db.close()
        tmp.unlink(missing_ok=True)
    return int(row[0]) if row else 0


def _report_sort(db: object, done: threading.Event, progress: Progress | None) -> None:
    """DuckDB's own progress of the sort, in percent, every second."""
    while progress and not done.wait(1.0):
        try:
            percent = float(db.query_progress())  # type: ignore[attr-defined]
        except Exception:
            return
        if percent >= 0:
            progress(int(percent * 10), 1000)


def _parquet_store() -> ParquetStore:
    """The Parquet storage DuckDB and Spark share (HATS writing and reading are its own, not the Engine protocol's)."""
    return ParquetStore(Path(settings.SCIENCE_DIR), Path(settings.MYDB_DIR))
