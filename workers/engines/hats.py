"""Big catalogues as HEALPix-partitioned, index-sorted Parquet in the HATS layout (LSDB, hats-import).

What a catalogue written here looks like (a HATS *collection*: the catalogue and its margin cache)::

    <root>/collection.properties            obs_collection, hats_primary_table_url, all_margins
    <root>/<name>/properties                hats_col_ra, hats_col_dec, hats_nrows, hats_max_rows ...
    <root>/<name>/partition_info.csv        Norder,Npix of every partition
    <root>/<name>/dataset/_common_metadata  the Arrow schema
    <root>/<name>/dataset/_metadata         every file's row groups (with statistics)
    <root>/<name>/dataset/Norder=k/Dir=d/Npix=n.parquet   rows of pixel n at order k, sorted by _healpix_29
    <root>/<name>_<t>arcs/...               the margin cache: for each partition, the rows of *other*
                                            partitions within t arcsec of it, in the same layout

``_healpix_29`` is the NESTED HEALPix index at order 29 of each row's position.
A published HATS catalogue (a folder with ``properties`` and ``partition_info.csv``,
or a collection) is read as it is: ``read_hats_info`` gives its SkyIndex, row
count and schema.

How ``write_hats`` works, in bounded memory whatever the size:
1. *read*: the input batches are streamed once; each gets ``_healpix_29``, is
   appended to one spill file, and counted in a histogram at ``histogram_order``.
2. *plan*: pixels are merged top-down into partitions of at most
   ``pixel_threshold`` rows (like hats-import's ``pixel_threshold``).
3. *scatter*: the spill is streamed again; rows go to per-partition spill
   chunks (a bounded buffer flushed to disk), and rows within the margin of a
   neighbouring partition also to that partition's margin chunks.
4. *write*: a process pool sorts each partition by ``_healpix_29`` and writes
   its Parquet file (row groups of ``row_group_rows`` taken one at a time from
   the sort order, statistics on). Each
   finished partition is recorded in a journal: after a crash, calling
   ``write_hats`` again with the same root redoes only what is missing.
5. the metadata files are written and the finished folder renamed into place
   (readers never see half a catalogue).

Memory is bounded by the settings, not the table: a batch, the scatter buffer,
one partition. Arrow's allocator (mimalloc) keeps freed pages for reuse, so
without handing them back after each flush and partition the resident set grew
with the rows written (1M rows: 100 MB, 200k: 75 MB on the test's settings).

Margins: a row at distance <= t from a partition it is not in belongs to that
partition's margin. Candidates come from HEALPix neighbours at a fine order
whose cells are about 4 t wide; the distance to each neighbouring cell is
then measured against points along the cell's edges (exact to ~0.02 arcsec).
"""

from __future__ import annotations

import datetime
import json
import multiprocessing
import os
import shutil
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

from apps.adql.catalog import SkyIndex
from apps.adql.pruning import DIR_STEP

HEALPIX_COLUMN = "_healpix_29"
HEALPIX_ORDER = 29
PARTITION_COLUMNS = ("Norder", "Dir", "Npix")  # hive columns of the dataset folders
HIDDEN_COLUMNS = (HEALPIX_COLUMN, *PARTITION_COLUMNS)  # storage details, not ADQL names (they start with "_" or are paths)
COARSE_EDGE_STEPS = 8  # points per cell edge for a first, rough margin distance
EDGE_STEPS = 128  # for the close calls: spacing <= margin / 16, error <= margin / 2000
POOL_FROM_ROWS = 2_000_000  # below this, starting the pool's interpreters costs more than it saves
PIXEL_SIZE_ARCSEC_ORDER0 = 58.6323 * 3600  # sqrt(4 pi / 12) rad: the side of an order-0 cell

SHAPING = ("pixel_threshold", "histogram_order", "margin_arcsec", "row_group_rows")  # settings that decide the files
Progress = Callable[[str, int, int | None], None]  # (stage: read|scatter|write, done rows, total rows or None)


class HatsError(Exception):
    """A folder that is not a readable HATS catalogue, or settings that cannot work."""


@dataclass(frozen=True)
class HatsSettings:
    pixel_threshold: int = 1_000_000  # at most this many rows per partition (unless one finest pixel holds more)
    histogram_order: int = 10  # the finest partition order; the first pass counts rows at this order
    margin_arcsec: float = 5.0  # 0: no margin cache
    row_group_rows: int = 100_000
    batch_rows: int = 100_000  # rows per batch when streaming the spill files
    buffer_rows: int = 500_000  # rows held in memory before scattered chunks go to disk
    workers: int = 2  # processes sorting and writing partitions (1: in this process)


@dataclass(frozen=True)
class Pixel:
    order: int
    pixel: int

    @property
    def dir(self) -> int:
        return (self.pixel // DIR_STEP) * DIR_STEP  # the layout rule the pruning predicates assume

    @property
    def start(self) -> int:
        """The first ``_healpix_29`` value inside the pixel."""
        return self.pixel << (2 * (HEALPIX_ORDER - self.order))

    @property
    def end(self) -> int:
        return (self.pixel + 1) << (2 * (HEALPIX_ORDER - self.order))

    def relative_path(self) -> str:
        return f"Norder={self.order}/Dir={self.dir}/Npix={self.pixel}.parquet"


@dataclass(frozen=True)
class HatsInfo:
    """What the portal needs to know of a HATS catalogue on disk."""

    root: Path  # the folder the table is (a collection or a catalogue)
    catalogue: Path  # the primary catalogue's folder
    ra: str
    dec: str
    rows: int
    schema: pa.Schema
    partitions: tuple[Pixel, ...]
    margin: Path | None = None
    margin_arcsec: float | None = None
    npix_suffix: str = ".parquet"  # "/": each Npix=n is a folder of files (then Npix is a hive column too)

    @property
    def npix_is_folder(self) -> bool:
        return self.npix_suffix in ("/", "\\")

    @property
    def dataset(self) -> Path:
        return self.catalogue / "dataset"

    @property
    def partition_orders(self) -> tuple[int, ...]:
        return tuple(sorted({p.order for p in self.partitions}))

    def sky_index(self) -> SkyIndex:
        return SkyIndex(self.ra, self.dec, column=HEALPIX_COLUMN, order=HEALPIX_ORDER, shift=0,
                        partition_orders=self.partition_orders)


# ---- HEALPix maths (astropy-healpix, vectorised) ------------------------------------

def healpix_29(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """The NESTED order-29 index of each position (degrees); NaN positions are refused."""
    import astropy.units as u  # here, not at the top: the pool's fresh interpreters only sort and write
    from astropy_healpix import lonlat_to_healpix

    ra = np.asarray(ra, dtype=np.float64)
    dec = np.asarray(dec, dtype=np.float64)
    if np.isnan(ra).any() or np.isnan(dec).any():
        raise HatsError("positions must not be NULL or NaN in a HEALPix-partitioned table")
    return np.asarray(lonlat_to_healpix(np.mod(ra, 360.0) * u.deg, dec * u.deg, 1 << HEALPIX_ORDER, order="nested"),
                      dtype=np.int64)


def _healpix_of(batch: pa.RecordBatch, ra: str, dec: str) -> np.ndarray:
    ra_values = batch.column(ra).to_numpy(zero_copy_only=False)
    dec_values = batch.column(dec).to_numpy(zero_copy_only=False)
    return healpix_29(ra_values, dec_values)


def margin_order(margin_arcsec: float, highest_partition_order: int) -> int:
    """The finest order whose cells are still four margins wide on average: narrow cells near the poles are then
    still wider than the margin, so a cell and its neighbours hold every row within the margin of its rows."""
    order = int(np.floor(np.log2(PIXEL_SIZE_ARCSEC_ORDER0 / (4 * margin_arcsec))))
    order = min(order, HEALPIX_ORDER)
    if order < highest_partition_order:
        raise HatsError(f"a margin of {margin_arcsec:g} arcsec is wider than a quarter of the smallest partition (order "
                        f"{highest_partition_order}); use a smaller margin or a lower histogram_order")
    return order


def plan_partitions(histogram: np.ndarray, histogram_order: int, threshold: int) -> list[Pixel]:
    """Pixels holding at most ``threshold`` rows, as coarse as possible; empty sky gets no partition."""
    sums = [histogram]
    for _ in range(histogram_order):
        sums.append(sums[-1].reshape(-1, 4).sum(axis=1, dtype=np.int64))
    sums.reverse()  # sums[k]: rows per pixel at order k
    found: list[Pixel] = []
    todo = [Pixel(0, p) for p in range(12)]
    while todo:
        pix = todo.pop()
        count = int(sums[pix.order][pix.pixel])
        if count == 0:
            continue
        if count <= threshold or pix.order == histogram_order:
            found.append(pix)
        else:
            todo.extend(Pixel(pix.order + 1, 4 * pix.pixel + i) for i in range(4))
    return sorted(found, key=lambda p: p.start)


class PartitionLookup:
    """Which partition holds a ``_healpix_29`` value (-1: none), by binary search over the partitions' ranges."""

    def __init__(self, partitions: list[Pixel]) -> None:
        self.starts = np.array([p.start for p in partitions], dtype=np.int64)
        self.ends = np.array([p.end for p in partitions], dtype=np.int64)

    def __call__(self, index: np.ndarray) -> np.ndarray:
        found = np.searchsorted(self.starts, index, side="right") - 1
        inside = (found >= 0) & (index < self.ends[np.clip(found, 0, None)])
        return np.where(inside, found, -1)


def _unit_vectors(lon: np.ndarray, lat: np.ndarray, radians: bool = False) -> np.ndarray:
    if not radians:
        lon, lat = np.radians(lon), np.radians(lat)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def margin_pairs(index: np.ndarray, ra: np.ndarray, dec: np.ndarray, lookup: PartitionLookup, order: int,
                 margin_arcsec: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, partition) pairs: row i lies outside that partition, within ``margin_arcsec`` of it."""
    from astropy_healpix import neighbours

    cells = index >> (2 * (HEALPIX_ORDER - order))
    unique, inverse = np.unique(cells, return_inverse=True)
    with np.errstate(invalid="ignore"):  # a corner without a cell comes back as -1
        around = neighbours(unique, 1 << order, order="nested").T  # (cells, 8)
    owner = lookup(unique << (2 * (HEALPIX_ORDER - order)))
    shift = 2 * (HEALPIX_ORDER - order)
    around_owner = np.where(around >= 0, lookup(np.where(around >= 0, around, 0) << shift), -1)
    crossing = (around_owner >= 0) & (around_owner != owner[:, None])
    if not crossing.any():
        return np.empty(0, np.int64), np.empty(0, np.int64)
    cell_rows = crossing[inverse]  # (rows, 8): which neighbour of each row's cell is in another partition
    rows, slot = np.nonzero(cell_rows)
    near_cells = around[inverse[rows], slot]
    targets = around_owner[inverse[rows], slot]
    close = _within(ra[rows], dec[rows], near_cells, order, margin_arcsec)
    pairs = np.unique(np.stack([rows[close], targets[close]], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _within(ra: np.ndarray, dec: np.ndarray, cells: np.ndarray, order: int, margin_arcsec: float) -> np.ndarray:
    """Whether each position is within the margin of its cell, from the nearest of the points along the cell's edges.

    A first pass with few points decides most pairs: the nearest edge point is never nearer than the edge, and
    at most half a spacing farther. Only pairs that this leaves open are measured again with many points.
    """
    coarse_spacing = 2 * PIXEL_SIZE_ARCSEC_ORDER0 / 2 ** order / COARSE_EDGE_STEPS  # an edge is at most ~2 cell sides
    distance = _edge_distance_arcsec(ra, dec, cells, order, COARSE_EDGE_STEPS)
    inside = distance <= margin_arcsec
    open_ = ~inside & (distance - coarse_spacing / 2 <= margin_arcsec)
    if open_.any():
        fine = _edge_distance_arcsec(ra[open_], dec[open_], cells[open_], order, EDGE_STEPS)
        inside[open_] = fine <= margin_arcsec
    return inside


def _edge_distance_arcsec(ra: np.ndarray, dec: np.ndarray, cells: np.ndarray, order: int, steps: int,
                          chunk: int = 1024) -> np.ndarray:
    import astropy.units as u
    from astropy_healpix import boundaries_lonlat

    out = np.empty(len(cells), dtype=np.float64)
    for lo in range(0, len(cells), chunk):
        hi = min(lo + chunk, len(cells))
        lon, lat = boundaries_lonlat(cells[lo:hi], steps, 1 << order, order="nested")
        edge = _unit_vectors(lon.to_value(u.rad), lat.to_value(u.rad), radians=True)  # (n, 4 steps, 3)
        point = _unit_vectors(ra[lo:hi], dec[lo:hi])[:, None, :]
        nearest = np.clip(np.einsum("ijk,ijk->ij", edge, np.broadcast_to(point, edge.shape)).max(axis=1), -1, 1)
        out[lo:hi] = np.degrees(np.arccos(nearest)) * 3600
    return out


# ---- writing --------------------------------------------------------------------------

@dataclass
class _Plan:
    """The build's state on disk (``state.json``): what was read, and how it is partitioned."""

    name: str
    ra: str
    dec: str
    rows: int
    partitions: list[tuple[int, int]]
    settings: dict[str, float | int]
    margin_order: int | None = None
    schema_file: str = "schema.arrow"
    done: dict[str, list[int]] = field(default_factory=dict)  # partition number -> [rows, margin rows]

    def pixels(self) -> list[Pixel]:
        return [Pixel(o, p) for o, p in self.partitions]


def write_hats(batches: Iterable[pa.RecordBatch], schema: pa.Schema, root: Path | str, *, ra: str, dec: str,
               name: str | None = None, settings: HatsSettings | None = None, progress: Progress | None = None,
               replace: bool = False) -> HatsInfo:
    """Write ``batches`` (with position columns ``ra``/``dec`` in degrees) as a HATS collection at ``root``.

    The build happens in a hidden folder beside ``root`` and is renamed into
    place at the end. Interrupted, it resumes where it stopped when called again
    with the same root and settings (the batches are then not read again if
    they had been read completely). Returns what ``read_hats_info`` would.
    """
    settings = settings or HatsSettings()
    root = Path(root)
    name = name or root.name
    if root.exists() and not replace:
        raise HatsError(f"{root} exists already")
    for column in (ra, dec):
        if column not in schema.names:
            raise HatsError(f"no column {column} to place the rows on the sky")
    build = root.parent / f".{root.name}.hats-build"
    plan = _load_plan(build, name, ra, dec, settings)
    if plan is None:
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        plan = _read_and_scatter(iter(batches), schema, build, name, ra, dec, settings, progress)
    _write_partitions(plan, build, settings, progress)
    _write_metadata(plan, build)
    return _publish(build / "out", root, replace)


def _load_plan(build: Path, name: str, ra: str, dec: str, settings: HatsSettings) -> _Plan | None:
    """A build interrupted after its scatter stage, with the same settings, or None."""
    try:
        state = json.loads((build / "state.json").read_text())
        plan = _Plan(**state)
    except (OSError, ValueError, TypeError):
        return None
    wanted = asdict(settings)
    if (plan.name, plan.ra, plan.dec) != (name, ra, dec) or any(plan.settings.get(k) != wanted[k] for k in SHAPING):
        return None
    plan.settings = wanted  # batch sizes and workers may change between runs: the files come out the same
    journal = build / "journal.jsonl"
    if journal.exists():
        for line in journal.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                break  # a line cut by the crash: the partition is redone
            plan.done[str(entry["i"])] = [entry["rows"], entry["margin_rows"]]
    return plan


def _read_and_scatter(batches: Iterator[pa.RecordBatch], schema: pa.Schema, build: Path, name: str, ra: str, dec: str,
                      settings: HatsSettings, progress: Progress | None) -> _Plan:
    out_schema = _with_healpix(schema)
    spill = build / "input.arrow"
    histogram = np.zeros(12 * 4 ** settings.histogram_order, dtype=np.uint32)  # 50 MB at order 10
    shift = 2 * (HEALPIX_ORDER - settings.histogram_order)
    rows = 0
    with ipc.new_file(str(spill), out_schema, options=ipc.IpcWriteOptions(compression="lz4")) as writer:
        for batch in batches:
            if not batch.num_rows:
                continue
            index = _healpix_of(batch, ra, dec)
            cells, counts = np.unique(index >> shift, return_counts=True)
            histogram[cells] += counts.astype(np.uint32)
            writer.write_batch(_add_healpix(batch.cast(schema) if batch.schema != schema else batch, index))
            rows += batch.num_rows
            if progress:
                progress("read", rows, None)
    partitions = plan_partitions(histogram, settings.histogram_order, settings.pixel_threshold)
    del histogram
    order = None
    if settings.margin_arcsec > 0 and partitions:
        order = margin_order(settings.margin_arcsec, max(p.order for p in partitions))
    plan = _Plan(name, ra, dec, rows, [(p.order, p.pixel) for p in partitions], asdict(settings), order)
    with ipc.new_file(str(build / plan.schema_file), out_schema):
        pass
    _scatter(spill, plan, build, settings, progress)
    spill.unlink()
    (build / "state.json").write_text(json.dumps(asdict(plan)))
    return plan


def _with_healpix(schema: pa.Schema) -> pa.Schema:
    if HEALPIX_COLUMN in schema.names:
        schema = schema.remove(schema.get_field_index(HEALPIX_COLUMN))  # recomputed: the positions decide
    return schema.insert(0, pa.field(HEALPIX_COLUMN, pa.int64()))


def _add_healpix(batch: pa.RecordBatch, index: np.ndarray) -> pa.RecordBatch:
    if HEALPIX_COLUMN in batch.schema.names:
        batch = batch.drop_columns([HEALPIX_COLUMN])
    return batch.add_column(0, HEALPIX_COLUMN, pa.array(index, pa.int64()))


class _Chunks:
    """Rows per partition, held up to a bound, then appended to disk as numbered Arrow files."""

    def __init__(self, folder: Path, schema: pa.Schema) -> None:
        self.folder, self.schema = folder, schema
        self.held: dict[int, list[pa.RecordBatch]] = {}
        self.rows = 0
        self.flushes = 0

    def add(self, partition: int, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.held.setdefault(partition, []).append(batch)
            self.rows += batch.num_rows

    def flush(self) -> None:
        for partition, held in self.held.items():
            folder = self.folder / str(partition)
            folder.mkdir(parents=True, exist_ok=True)
            with ipc.new_file(str(folder / f"{self.flushes}.arrow"), self.schema) as writer:
                for batch in held:
                    writer.write_batch(batch)
        self.held, self.rows = {}, 0
        self.flushes += 1
        pa.default_memory_pool().release_unused()  # the allocator would keep the flushed buffers for reuse


def _scatter(spill: Path, plan: _Plan, build: Path, settings: HatsSettings, progress: Progress | None) -> None:
    partitions = plan.pixels()
    lookup = PartitionLookup(partitions)
    with pa.OSFile(str(spill)) as source:  # not mapped: pages read stay out of the resident set
        reader = ipc.open_file(source)
        main, margin = _Chunks(build / "main", reader.schema), _Chunks(build / "margin", reader.schema)
        done = 0
        for i in range(reader.num_record_batches):
            batch = reader.get_batch(i)
            index = batch.column(0).to_numpy()
            owner = lookup(index)
            _split(main, batch, owner)
            if plan.margin_order is not None:
                ra = batch.column(plan.ra).to_numpy(zero_copy_only=False).astype(np.float64)
                dec = batch.column(plan.dec).to_numpy(zero_copy_only=False).astype(np.float64)
                rows, targets = margin_pairs(index, ra, dec, lookup, plan.margin_order, settings.margin_arcsec)
                _split(margin, batch.take(pa.array(rows)), targets)
            if main.rows + margin.rows >= settings.buffer_rows:
                main.flush()
                margin.flush()
            done += batch.num_rows
            if progress:
                progress("scatter", done, plan.rows)
        main.flush()
        margin.flush()


def _split(chunks: _Chunks, batch: pa.RecordBatch, owner: np.ndarray) -> None:
    """Add each row of ``batch`` to the chunk of its partition (``owner``: one partition number per row)."""
    if not len(owner):
        return
    order = np.argsort(owner, kind="stable")
    ordered = batch.take(pa.array(order))
    sorted_owner = owner[order]
    bounds = np.flatnonzero(np.diff(sorted_owner)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(sorted_owner)]])
    for start, end in zip(starts, ends, strict=True):
        chunks.add(int(sorted_owner[start]), ordered.slice(start, end - start))


def _write_partitions(plan: _Plan, build: Path, settings: HatsSettings, progress: Progress | None) -> None:
    """Sort and write every partition not yet recorded in the journal, in a process pool when it pays."""
    for left in (build / "out").rglob(".*.tmp"):  # half-written by a crashed run: its partition is redone
        left.unlink()
    todo = [i for i in range(len(plan.partitions)) if str(i) not in plan.done]
    written = sum(rows for rows, _ in plan.done.values())
    jobs = [(str(build), i, plan.partitions[i], plan.name, _margin_name(plan, settings), settings.row_group_rows) for i in todo]
    with (build / "journal.jsonl").open("a") as journal:
        def record(i: int, rows: int, margin_rows: int) -> None:
            nonlocal written
            journal.write(json.dumps({"i": i, "rows": rows, "margin_rows": margin_rows}) + "\n")
            journal.flush()
            os.fsync(journal.fileno())
            plan.done[str(i)] = [rows, margin_rows]
            written += rows
            if progress:
                progress("write", written, plan.rows)

        remaining = plan.rows - written
        pool = _pool(settings.workers, len(jobs)) if remaining >= POOL_FROM_ROWS else None
        if pool is None:
            for job in jobs:
                record(*_write_partition(*job))
            return
        with pool:
            futures: list[Future[tuple[int, int, int]]] = [pool.submit(_write_partition, *job) for job in jobs]
            try:
                for future in futures:
                    record(*future.result())
            except BaseException:
                for future in futures:
                    future.cancel()
                raise


def _pool(workers: int, jobs: int) -> ProcessPoolExecutor | None:
    """A pool of fresh interpreters (spawn: safe beside threads); None where one cannot or need not be made."""
    if workers <= 1 or jobs <= 1 or multiprocessing.current_process().daemon:
        return None  # a daemonic process (a Celery pool worker) may not have children: write here
    return ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))


def _margin_name(plan: _Plan, settings: HatsSettings) -> str | None:
    if plan.margin_order is None:
        return None
    return f"{plan.name}_{settings.margin_arcsec:g}arcs".replace(".", "_")


def _write_partition(build: str, i: int, partition: tuple[int, int], name: str, margin: str | None,
                     row_group_rows: int) -> tuple[int, int, int]:
    """Sort one partition's chunks by ``_healpix_29`` and write its file (and its margin's); returns row counts."""
    folder = Path(build)
    pixel = Pixel(*partition)
    schema = ipc.open_file(str(folder / "schema.arrow")).schema
    rows = _write_sorted(folder / "main" / str(i), folder / "out" / name / "dataset" / pixel.relative_path(), schema, row_group_rows)
    margin_rows = 0
    if margin is not None:
        margin_rows = _write_sorted(folder / "margin" / str(i), folder / "out" / margin / "dataset" / pixel.relative_path(),
                                    schema, row_group_rows, keep_empty=False)
    return i, rows, margin_rows


def _write_sorted(chunks: Path, target: Path, schema: pa.Schema, row_group_rows: int, keep_empty: bool = True) -> int:
    parts = sorted(chunks.glob("*.arrow")) if chunks.is_dir() else []
    tables = [ipc.open_file(str(p)).read_all() for p in parts]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    if not table.num_rows and not keep_empty:
        target.unlink(missing_ok=True)
        return 0
    order = pc.sort_indices(table, sort_keys=[(HEALPIX_COLUMN, "ascending")])
    rows = table.num_rows
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    # One row group at a time from the sort order: the partition is held once, not twice (unsorted and sorted).
    with pq.ParquetWriter(tmp, table.schema, compression="zstd", write_statistics=True,
                          sorting_columns=[pq.SortingColumn(0)]) as writer:
        for start in range(0, max(table.num_rows, 1), row_group_rows):
            writer.write_table(table.take(order.slice(start, row_group_rows)), row_group_size=row_group_rows)
    os.replace(tmp, target)
    del table, order, tables
    pa.default_memory_pool().release_unused()  # the next partition starts from what is really in use
    return rows


def _write_metadata(plan: _Plan, build: Path) -> None:
    settings = HatsSettings(**plan.settings)  # type: ignore[arg-type]
    schema = ipc.open_file(str(build / plan.schema_file)).schema
    out = build / "out"
    pixels = plan.pixels()
    rows = sum(r for r, _ in plan.done.values())
    _write_catalogue_files(out / plan.name, schema, pixels, {
        "obs_collection": plan.name, "dataproduct_type": "object", "hats_nrows": rows,
        "hats_col_ra": plan.ra, "hats_col_dec": plan.dec, "hats_max_rows": settings.pixel_threshold,
        "hats_order": max((p.order for p in pixels), default=0), "hats_col_healpix": HEALPIX_COLUMN,
        "hats_col_healpix_order": HEALPIX_ORDER, "hats_npix_suffix": ".parquet", **_provenance()})
    collection: dict[str, object] = {"obs_collection": plan.name, "hats_primary_table_url": plan.name}
    margin = _margin_name(plan, settings)
    if margin is not None:
        with_margin = [p for i, p in enumerate(pixels) if plan.done[str(i)][1] > 0]
        _write_catalogue_files(out / margin, schema, with_margin, {
            "obs_collection": margin, "dataproduct_type": "margin", "hats_nrows": sum(m for _, m in plan.done.values()),
            "hats_col_ra": plan.ra, "hats_col_dec": plan.dec, "hats_primary_table_url": plan.name,
            "hats_margin_threshold": settings.margin_arcsec, "hats_col_healpix": HEALPIX_COLUMN,
            "hats_col_healpix_order": HEALPIX_ORDER, "hats_npix_suffix": ".parquet", **_provenance()})
        collection.update(all_margins=margin, default_margin=margin)
    write_properties(out / "collection.properties", collection)


def _provenance() -> dict[str, object]:
    now = datetime.datetime.now(datetime.UTC)
    return {"hats_builder": "daiquiri portal (workers/engines/hats.py)", "hats_creation_date": now.strftime("%Y-%m-%dT%H:%M%Z"),
            "hats_version": "v1.0"}


def _write_catalogue_files(folder: Path, schema: pa.Schema, pixels: list[Pixel], properties: dict[str, object]) -> None:
    dataset = folder / "dataset"
    dataset.mkdir(parents=True, exist_ok=True)
    pq.write_metadata(schema, dataset / "_common_metadata")
    collected: pq.FileMetaData | None = None
    for pixel in pixels:
        meta = pq.read_metadata(dataset / pixel.relative_path())
        meta.set_file_path(pixel.relative_path())
        if collected is None:
            collected = meta
        else:
            collected.append_row_groups(meta)
    if collected is not None:
        collected.write_metadata_file(str(dataset / "_metadata"))
    else:
        pq.write_metadata(schema, dataset / "_metadata")
    lines = ["Norder,Npix", *(f"{p.order},{p.pixel}" for p in pixels)]
    (folder / "partition_info.csv").write_text("\n".join(lines) + "\n")
    write_properties(folder / "properties", properties)


def _publish(built: Path, root: Path, replace: bool) -> HatsInfo:
    build = built.parent
    if root.exists():
        if not replace:
            raise HatsError(f"{root} exists already")
        old = root.parent / f".{root.name}.{uuid.uuid4().hex[:12]}.old"
        os.replace(root, old)
        os.replace(built, root)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(built, root)
    shutil.rmtree(build, ignore_errors=True)
    return read_hats_info(root)


# ---- properties files (java-style key=value) --------------------------------------

def write_properties(path: Path, values: dict[str, object]) -> None:
    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n")

    lines = ["#HATS catalog", *(f"{key}={escape(str(value))}" for key, value in values.items())]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_properties(path: Path) -> dict[str, str]:
    """Keys and values of a java-style properties file (``key=value``, ``key: value`` or ``key value``)."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        cut = min((i for i in (line.find("="), line.find(":"), line.find(" ")) if i > 0), default=len(line))
        key = line[:cut].strip()
        value = line[cut + 1:].strip().lstrip("=:").strip() if cut < len(line) else ""
        values[key] = value.replace("\\n", "\n").replace("\\\\", "\\")
    return values


# ---- reading -----------------------------------------------------------------------

def _catalogue_properties(folder: Path) -> Path | None:
    for name in ("hats.properties", "properties"):
        if (folder / name).is_file():
            return folder / name
    return None


def is_hats(path: Path) -> bool:
    """A HATS catalogue (properties + partition_info.csv or _metadata) or a collection folder."""
    path = Path(path)
    if not path.is_dir():
        return False
    if (path / "collection.properties").is_file():
        return True
    return _catalogue_properties(path) is not None and (
        (path / "partition_info.csv").is_file() or (path / "dataset" / "_metadata").is_file())


_INFO_CACHE: dict[Path, tuple[tuple[float, ...], HatsInfo]] = {}


def read_hats_info(path: Path | str) -> HatsInfo:
    """Positions, row count, schema and partitions of the HATS catalogue (or collection) at ``path``.

    Remembered per process until one of its metadata files changes: the engines ask for every query."""
    root = Path(path)
    stamp = _stamp(root)
    cached = _INFO_CACHE.get(root)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    info = _read_hats_info(root)
    _INFO_CACHE[root] = (_stamp(root), info)
    return info


def _stamp(root: Path) -> tuple[float, ...]:
    """Modification times of the files that describe a catalogue (0 where absent), and of the folder itself."""
    names = ("collection.properties", "properties", "hats.properties", "partition_info.csv", "dataset/_common_metadata")
    times = []
    for name in ("", *names):
        try:
            times.append((root / name).stat().st_mtime_ns if name else root.stat().st_ino)
        except OSError:
            times.append(0)
    return tuple(times)


def _read_hats_info(root: Path) -> HatsInfo:
    catalogue, margin = root, None
    if (root / "collection.properties").is_file():
        collection = read_properties(root / "collection.properties")
        catalogue = root / collection.get("hats_primary_table_url", "")
        name = collection.get("default_margin") or (collection.get("all_margins") or "").split(" ")[0]
        margin = root / name if name and (root / name).is_dir() else None
    found = _catalogue_properties(catalogue) if catalogue.is_dir() else None
    if found is None:
        raise HatsError(f"{root} is not a HATS catalogue (no properties file)")
    props = read_properties(found)
    if props.get("dataproduct_type", "object") not in ("object", "source"):
        raise HatsError(f"{root} is a HATS {props.get('dataproduct_type')} catalogue, not a table of objects or sources")
    ra, dec = props.get("hats_col_ra"), props.get("hats_col_dec")
    if not ra or not dec:
        raise HatsError(f"{found} names no position columns (hats_col_ra, hats_col_dec)")
    partitions = _read_partitions(catalogue)
    schema = _read_schema(catalogue)
    rows = int(props["hats_nrows"]) if props.get("hats_nrows", "").isdigit() else _count_rows(catalogue)
    threshold = None
    if margin is not None and _catalogue_properties(margin) is not None:
        value = read_properties(_catalogue_properties(margin)).get("hats_margin_threshold")  # type: ignore[arg-type]
        threshold = float(value) if value else None
    return HatsInfo(root, catalogue, ra, dec, rows, schema, tuple(partitions), margin, threshold,
                    props.get("hats_npix_suffix") or ".parquet")


def _read_partitions(catalogue: Path) -> list[Pixel]:
    csv = catalogue / "partition_info.csv"
    if csv.is_file():
        lines = [line.split(",") for line in csv.read_text().splitlines() if line.strip()]
        header = [h.strip() for h in lines[0]]
        try:
            o, n = header.index("Norder"), header.index("Npix")
        except ValueError as e:
            raise HatsError(f"{csv} has no Norder/Npix columns") from e
        return [Pixel(int(row[o]), int(row[n])) for row in lines[1:]]
    found = set()
    for file in (catalogue / "dataset").glob("Norder=*/Dir=*/Npix=*"):
        order = int(file.parent.parent.name.split("=")[1])
        found.add(Pixel(order, int(file.name.split("=")[1].split(".")[0])))
    return sorted(found, key=lambda p: p.start)


def _read_schema(catalogue: Path) -> pa.Schema:
    for name in ("_common_metadata", "_metadata"):
        if (catalogue / "dataset" / name).is_file():
            return pq.read_schema(catalogue / "dataset" / name)
    files = sorted((catalogue / "dataset").glob("Norder=*/Dir=*/Npix=*"))
    if not files:
        raise HatsError(f"{catalogue} has no schema (_common_metadata) and no data file")
    return pq.read_schema(files[0])


def _count_rows(catalogue: Path) -> int:
    metadata = catalogue / "dataset" / "_metadata"
    if metadata.is_file():
        return int(pq.read_metadata(metadata).num_rows)
    found = (catalogue / "dataset").glob("Norder=*/Dir=*/Npix=*")
    files = [f for pixel in found for f in ([pixel] if pixel.is_file() else pixel.rglob("*.parquet"))]
    return sum(pq.read_metadata(f).num_rows for f in files)


def visible_schema(schema: pa.Schema) -> pa.Schema:
    """The columns a HATS table shows as its own: without the HEALPix index and the hive partition columns."""
    return pa.schema([f for f in schema if f.name not in HIDDEN_COLUMNS], metadata=schema.metadata)


def progress_in_rows(report: Callable[[int, int | None], None], rows_hint: int | None = None) -> Progress:
    """One (done, total) bar over the three stages, each a third of the work, in rows: ``total`` is the row count
    and ``done`` the rows' worth of work finished (the read, the scatter and the write each count a third)."""
    def progress(stage: str, done: int, total: int | None) -> None:
        whole = total or rows_hint
        if whole is None:
            report(done, None)
            return
        offset = {"read": 0, "scatter": 1, "write": 2}[stage]
        report((offset * whole + min(done, whole)) // 3, whole)

    return progress
