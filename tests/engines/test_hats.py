"""HATS storage (workers/engines/hats.py): partitions, order, margins, bounded memory, resume, and the engines reading it.

The data is generated (fixed seed) where partitioning is hard: dense caps around
both poles, a band across RA 0/360 on the equator, exact poles and RA 0 and 360,
and a thin background over the whole sky.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import astropy.units as u
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from astropy_healpix import boundaries_lonlat

from workers.engines import hats as hats_module
from workers.engines.base import Scope, ScopeTable, TableName
from workers.engines.common import view_name
from workers.engines.duckdb import DuckDBEngine
from workers.engines.hats import HEALPIX_COLUMN, HatsSettings, Pixel, healpix_29, read_hats_info, write_hats
from workers.engines.parquet import ParquetStore

from .conftest import run_python

MARGIN = 60.0  # arcsec: wide enough that the generated clusters put many rows in margins
SETTINGS = HatsSettings(pixel_threshold=400, histogram_order=7, margin_arcsec=MARGIN, row_group_rows=500,
                        batch_rows=2000, buffer_rows=3000, workers=1)


def sky(seed: int = 14, per_cluster: int = 4000) -> pa.Table:
    rng = np.random.default_rng(seed)
    polar_r = 0.5 * np.sqrt(rng.uniform(0, 1, per_cluster))
    north = (rng.uniform(0, 360, per_cluster), 90 - polar_r)
    south = (rng.uniform(0, 360, per_cluster), -90 + 0.5 * np.sqrt(rng.uniform(0, 1, per_cluster)))
    seam = (np.mod(rng.uniform(-0.5, 0.5, per_cluster), 360), rng.uniform(-0.5, 0.5, per_cluster))
    background = (rng.uniform(0, 360, per_cluster), np.degrees(np.arcsin(rng.uniform(-1, 1, per_cluster))))
    exact = (np.array([0.0, 360.0, 0.0, 180.0, 359.9999999, 45.0]), np.array([0.0, 0.0, 90.0, -90.0, 0.0, 0.0]))
    ra = np.concatenate([north[0], south[0], seam[0], background[0], exact[0]])
    dec = np.concatenate([north[1], south[1], seam[1], background[1], exact[1]])
    n = len(ra)
    return pa.table({"id": pa.array(np.arange(n), pa.int64()), "ra": ra, "dec": dec,
                     "mag": pa.array(rng.normal(16, 2, n), pa.float32()), "name": [f"s{i}" for i in range(n)]})


def batches(table: pa.Table, rows: int = 1000) -> Iterator[pa.RecordBatch]:
    yield from table.to_batches(max_chunksize=rows)


@pytest.fixture(scope="module")
def source() -> pa.Table:
    return sky()


@pytest.fixture(scope="module")
def written(source: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hats") / "stars"
    write_hats(batches(source), source.schema, root, ra="ra", dec="dec", settings=SETTINGS)
    return root


def partition_tables(root: Path, margin: bool = False) -> dict[Pixel, pa.Table]:
    info = read_hats_info(root)
    catalogue = info.margin if margin else info.catalogue
    assert catalogue is not None
    found = {}
    for line in (catalogue / "partition_info.csv").read_text().splitlines()[1:]:
        pixel = Pixel(*map(int, line.split(",")))
        found[pixel] = pq.read_table(catalogue / "dataset" / pixel.relative_path())
    return found


def test_every_row_lands_in_exactly_one_partition_whose_pixel_contains_it(source: pa.Table, written: Path) -> None:
    parts = partition_tables(written)
    ids = np.concatenate([t.column("id").to_numpy() for t in parts.values()])
    assert sorted(ids.tolist()) == list(range(source.num_rows))  # every row once
    expected = dict(zip(source.column("id").to_pylist(),
                        healpix_29(source.column("ra").to_numpy(), source.column("dec").to_numpy()).tolist(), strict=True))
    orders = set()
    for pixel, table in parts.items():
        index = table.column(HEALPIX_COLUMN).to_numpy()
        assert np.all(index >> (2 * (29 - pixel.order)) == pixel.pixel)
        assert index.tolist() == [expected[i] for i in table.column("id").to_pylist()]
        assert table.num_rows <= SETTINGS.pixel_threshold or pixel.order == SETTINGS.histogram_order
        orders.add(pixel.order)
    assert len(orders) >= 3  # dense poles split deeper than the background


def test_files_are_sorted_by_healpix_29_in_row_groups_with_statistics(written: Path) -> None:
    info = read_hats_info(written)
    for pixel in info.partitions:
        path = info.dataset / pixel.relative_path()
        index = pq.read_table(path, columns=[HEALPIX_COLUMN]).column(0).to_numpy()
        assert np.all(np.diff(index) >= 0)
        meta = pq.ParquetFile(path).metadata
        assert all(meta.row_group(g).num_rows <= SETTINGS.row_group_rows for g in range(meta.num_row_groups))
        stats = meta.row_group(0).column(0).statistics
        assert stats is not None and stats.has_min_max and stats.min == index[0]
    common = pq.read_schema(info.dataset / "_common_metadata")
    assert common.names[0] == HEALPIX_COLUMN and info.rows == pq.read_metadata(info.dataset / "_metadata").num_rows


def _distance_to_partition_arcsec(pixel: Pixel, points: np.ndarray) -> np.ndarray:
    """Brute force: the nearest of points spaced <= 2 arcsec along the whole boundary of the partition's cell."""
    spatial = pytest.importorskip("scipy.spatial")
    side_arcsec = 58.6323 * 3600 / 2 ** pixel.order
    steps = int(np.ceil(side_arcsec / 2.0))
    lon, lat = boundaries_lonlat([pixel.pixel], steps, 1 << pixel.order, order="nested")
    edge = _vectors(lon.to_value(u.deg).ravel(), lat.to_value(u.deg).ravel())
    bound = 2 * np.sin(np.radians((MARGIN + 1) / 3600) / 2)  # farther points only need to be known as far
    chord, _ = spatial.cKDTree(edge).query(points, k=1, distance_upper_bound=bound)
    return np.degrees(2 * np.arcsin(np.clip(chord / 2, 0, 1))) * 3600


def _vectors(ra: np.ndarray, dec: np.ndarray) -> np.ndarray:
    r, d = np.radians(ra), np.radians(dec)
    return np.stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)], axis=1)


def test_margin_rows_are_exactly_those_within_the_threshold_of_a_partition(source: pa.Table, written: Path) -> None:
    parts = partition_tables(written)
    margins = partition_tables(written, margin=True)
    owner = {i: pixel for pixel, t in parts.items() for i in t.column("id").to_pylist()}
    ids = source.column("id").to_numpy()
    points = _vectors(source.column("ra").to_numpy(), source.column("dec").to_numpy())
    total = 0
    for pixel in parts:
        outside = np.array([owner[i] != pixel for i in ids.tolist()])
        distance = _distance_to_partition_arcsec(pixel, points[outside])
        clear = np.abs(distance - MARGIN) > 0.1  # the brute force is exact to about 0.01 arcsec
        expected = set(ids[outside][clear & (distance <= MARGIN)].tolist())
        got = set(margins[pixel].column("id").to_pylist()) if pixel in margins else set()
        ambiguous = set(ids[outside][~clear].tolist())
        assert got - ambiguous == expected, pixel
        total += len(expected)
    assert total > 200  # the clusters put many rows near boundaries, also at the poles and across RA 0


def test_the_margin_catalogue_is_sorted_and_never_holds_a_partitions_own_rows(written: Path) -> None:
    parts = partition_tables(written)
    for pixel, table in partition_tables(written, margin=True).items():
        index = table.column(HEALPIX_COLUMN).to_numpy()
        assert np.all(np.diff(index) >= 0)
        assert not set(table.column("id").to_pylist()) & set(parts[pixel].column("id").to_pylist())
    props = (read_hats_info(written).margin / "properties").read_text()  # type: ignore[operator]
    assert "dataproduct_type=margin" in props and f"hats_margin_threshold={MARGIN}" in props


def test_the_reader_gives_the_sky_index_rows_and_schema(source: pa.Table, written: Path) -> None:
    info = read_hats_info(written)
    sky = info.sky_index()
    assert (sky.ra, sky.dec, sky.column, sky.order, sky.shift) == ("ra", "dec", HEALPIX_COLUMN, 29, 0)
    assert sky.partition_orders == tuple(sorted({p.order for p in info.partitions}))
    assert info.rows == source.num_rows and info.margin_arcsec == MARGIN
    assert info.schema.names == [HEALPIX_COLUMN, *source.schema.names]


MEMORY_SCRIPT = """
import os, sys, threading, time, numpy as np, pyarrow as pa
from pathlib import Path
from workers.engines.hats import HatsSettings, write_hats
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
peak, running = [0], [True]
def watch():
    while running[0]:
        peak[0] = max(peak[0], rss())
        time.sleep(0.005)
rows, root = int(sys.argv[1]), Path(sys.argv[2])
schema = pa.schema([("id", pa.int64()), ("ra", pa.float64()), ("dec", pa.float64())] + [(f"c{i}", pa.float64()) for i in range(12)])
def stream():
    rng = np.random.default_rng(1)
    for start in range(0, rows, 20_000):
        n = min(20_000, rows - start)
        cols = [np.arange(start, start + n), rng.uniform(0, 360, n), np.degrees(np.arcsin(rng.uniform(-1, 1, n)))]
        yield pa.RecordBatch.from_arrays([pa.array(c) for c in cols + [rng.normal(size=n) for _ in range(12)]], schema=schema)
import astropy_healpix, astropy.units, pyarrow.parquet, pyarrow.ipc  # loaded before measuring
before = rss()
watcher = threading.Thread(target=watch)
watcher.start()
write_hats(stream(), schema, root, ra="ra", dec="dec", settings=HatsSettings(
    pixel_threshold=40_000, histogram_order=6, margin_arcsec=5, row_group_rows=20_000, buffer_rows=60_000, workers=1))
running[0] = False
watcher.join()
print(before, peak[0])
"""


def test_memory_of_a_larger_write_stays_bounded(tmp_path: Path) -> None:
    growth = {}
    for rows in (200_000, 1_000_000):  # 24 MB and 120 MB of data
        done = run_python(f"import sys; sys.argv = ['x', '{rows}', '{tmp_path / str(rows)}']\n" + MEMORY_SCRIPT, timeout=300)
        assert done.returncode == 0, done.stderr
        before, peak = map(int, done.stdout.split())
        growth[rows] = peak - before
        assert read_hats_info(tmp_path / str(rows)).rows == rows
    assert growth[1_000_000] < 1.5 * growth[200_000], growth  # five times the data, not five times the memory
    extra_data = (1_000_000 - 200_000) * 15 * 8
    assert growth[1_000_000] - growth[200_000] < 0.25 * extra_data, growth  # the 96 MB more data cost < 24 MB more memory


def test_it_resumes_after_a_crash_without_redoing_written_partitions(source: pa.Table, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "stars"
    calls = []

    def crash(stage: str, done: int, total: int | None) -> None:
        if stage == "write":
            calls.append(done)
            if len(calls) == 3:
                raise KeyboardInterrupt("power cut")

    with pytest.raises(KeyboardInterrupt):
        write_hats(batches(source), source.schema, root, ra="ra", dec="dec", settings=SETTINGS, progress=crash)
    assert not root.exists()  # readers never see half a catalogue
    build = tmp_path / ".stars.hats-build"
    journal = [json.loads(line) for line in (build / "journal.jsonl").read_text().splitlines()]
    assert len(journal) == 3
    plan = json.loads((build / "state.json").read_text())
    done_files = {i["i"]: build / "out" / "stars" / "dataset" / Pixel(*plan["partitions"][i["i"]]).relative_path() for i in journal}
    stamps = {i: (p.stat().st_ino, p.stat().st_mtime_ns) for i, p in done_files.items()}

    def untouched() -> Iterator[pa.RecordBatch]:
        raise AssertionError("the input was read completely before the crash: it is not read again")
        yield  # pragma: no cover

    redone: list[int] = []
    original = hats_module._write_partition

    def counting(*args: object) -> tuple[int, int, int]:
        redone.append(int(args[1]))  # type: ignore[call-overload]
        return original(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(hats_module, "_write_partition", counting)
    other_buffer = HatsSettings(**{**SETTINGS.__dict__, "buffer_rows": 9999})  # does not shape the files: still resumes
    info = write_hats(untouched(), source.schema, root, ra="ra", dec="dec", settings=other_buffer)
    assert info.rows == source.num_rows and not build.exists()
    assert not set(redone) & set(stamps) and len(redone) == len(plan["partitions"]) - 3
    for i, (inode, mtime) in stamps.items():
        path = root / "stars" / "dataset" / Pixel(*plan["partitions"][i]).relative_path()
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == (inode, mtime)
    ids = pq.read_table(info.dataset, columns=["id"]).column("id").to_pylist()
    assert sorted(ids) == list(range(source.num_rows))


def test_a_process_pool_writes_the_same_partitions(source: pa.Table, written: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hats_module, "POOL_FROM_ROWS", 0)
    settings = HatsSettings(**{**SETTINGS.__dict__, "workers": 2})
    info = write_hats(batches(source), source.schema, tmp_path / "pooled", ra="ra", dec="dec", settings=settings)
    assert info.partitions == read_hats_info(written).partitions
    for pixel in info.partitions:
        assert pq.read_table(info.dataset / pixel.relative_path()).equals(pq.read_table(read_hats_info(written).dataset / pixel.relative_path()))


# ---- the engines read the same files -----------------------------------------------------

@pytest.fixture
def science_with_hats(source: pa.Table, written: Path, tmp_path: Path) -> tuple[Path, Path]:
    science_dir, mydb_dir = tmp_path / "science", tmp_path / "mydb"
    (science_dir / "sky").mkdir(parents=True)
    shutil.copytree(written, science_dir / "sky" / "stars")
    pq.write_table(source, science_dir / "sky" / "plain.parquet")
    return science_dir, mydb_dir


def test_the_store_lists_introspects_fetches_renames_and_drops_a_hats_folder(science_with_hats: tuple[Path, Path],
                                                                          source: pa.Table, tmp_path: Path) -> None:
    science_dir, mydb_dir = science_with_hats
    shutil.rmtree(science_dir / "sky" / "stars")
    store = ParquetStore(science_dir, mydb_dir)
    write_hats(batches(source), source.schema, store.hats_path(TableName("sky", "copy")), ra="ra", dec="dec", settings=SETTINGS)
    assert store.tables("sky") == ["copy", "plain"]
    (found,) = store.introspect("sky", "copy")
    assert [c.name for c in found.columns] == source.schema.names  # _healpix_29, Norder, Dir, Npix are storage
    assert found.rows == source.num_rows and found.sky is not None and found.sky.column == HEALPIX_COLUMN
    page = pa.Table.from_batches(list(store.fetch(TableName("sky", "copy"), offset=5, limit=3, order_by="id")))
    assert page.column("id").to_pylist() == [5, 6, 7] and page.schema.names == source.schema.names
    store.rename(TableName("sky", "copy"), TableName("sky", "moved"))
    assert store.tables("sky") == ["moved", "plain"] and store.rows(TableName("sky", "moved")) == source.num_rows
    store.drop(TableName("sky", "moved"))
    assert store.tables("sky") == ["plain"]


def test_duckdb_returns_the_source_rows_and_prunes_files_by_partition(science_with_hats: tuple[Path, Path],
                                                                      source: pa.Table, job_id: str) -> None:
    engine = DuckDBEngine(*science_with_hats, threads=1)
    rows = pa.Table.from_batches(list(engine.stream("SELECT id, ra, dec, mag, name FROM sky.stars ORDER BY id",
                                                    timeout_s=60, job_id=job_id)))
    assert rows.equals(source.select(["id", "ra", "dec", "mag", "name"]))
    info = read_hats_info(science_with_hats[0] / "sky" / "stars")
    pixel = info.partitions[len(info.partitions) // 2]
    sql = f'SELECT count(*) AS n FROM sky.stars WHERE "Norder" = {pixel.order} AND "Npix" = {pixel.pixel}'
    (batch,) = engine.stream(sql, timeout_s=60, job_id=job_id + "n")
    assert batch.column(0).to_pylist() == [pq.read_metadata(info.dataset / pixel.relative_path()).num_rows]
    plan = "".join(str(r[1]) for r in engine.db.cursor().execute("EXPLAIN ANALYZE " + sql).fetchall())
    assert f"Scanning Files: 1/{len(info.partitions)}" in plan


def test_native_sql_sees_only_the_allowed_columns_of_a_hats_table(science_with_hats: tuple[Path, Path], source: pa.Table,
                                                                   job_id: str) -> None:
    engine = DuckDBEngine(*science_with_hats, threads=1)
    stars = TableName("sky", "stars")
    scope = Scope("u1", "mydb_1", (ScopeTable(stars, ("id", "ra")),))
    (batch,) = engine.stream(f'SELECT count(*) AS n, sum(id) AS s FROM "{view_name(stars)}"', timeout_s=60, job_id=job_id,
                             scope=scope)
    assert batch.to_pylist() == [{"n": source.num_rows, "s": sum(source.column("id").to_pylist())}]
    (batch,) = engine.stream(f'SELECT * FROM "{view_name(stars)}" LIMIT 1', timeout_s=60, job_id=job_id + "c", scope=scope)
    assert batch.schema.names == ["id", "ra"]  # no mag, no _healpix_29, no partition folders


@pytest.mark.slow
def test_spark_returns_the_same_rows_as_the_source(science_with_hats: tuple[Path, Path], source: pa.Table,
                                                   spark_remote: str, job_id: str) -> None:
    from workers.engines.spark import SparkEngine

    science_dir, mydb_dir = science_with_hats
    shutil.rmtree(science_dir / "sky" / "stars")  # a real folder: the Spark server resolves no symlink of ours
    write_hats(batches(source), source.schema, science_dir / "sky" / "stars", ra="ra", dec="dec", settings=SETTINGS)
    engine = SparkEngine(spark_remote, science_dir, mydb_dir)
    try:
        stars = engine.sql_from(TableName("sky", "stars"))
        got = pa.Table.from_batches(list(engine.stream(f"SELECT id, ra, dec, mag, name FROM {stars} t ORDER BY id",
                                                       timeout_s=180, job_id=job_id)))
        assert got.column("id").to_pylist() == source.column("id").to_pylist()
        assert got.column("ra").to_pylist() == source.column("ra").to_pylist()
        assert got.column("name").to_pylist() == source.column("name").to_pylist()
        info = read_hats_info(science_dir / "sky" / "stars")
        pixel = info.partitions[0]
        (batch,) = engine.stream(f"SELECT count(*) AS n FROM {stars} t WHERE t.Norder = {pixel.order} AND t.Npix = {pixel.pixel}",
                                 timeout_s=180, job_id=job_id + "n")
        assert batch.column(0).to_pylist() == [pq.read_metadata(info.dataset / pixel.relative_path()).num_rows]
    finally:
        engine.close()


# ---- the published HATS tools (requirements-dev.txt) ----------------------------------------

def test_the_hats_library_reads_our_catalogue_with_its_margin(written: Path, source: pa.Table) -> None:
    hats = pytest.importorskip("hats")
    from hats.io.validation import is_valid_catalog

    collection = hats.read_hats(written)
    main = collection.main_catalog
    assert main.catalog_info.total_rows == source.num_rows
    assert {(p.order, p.pixel) for p in main.get_healpix_pixels()} == {(p.order, p.pixel) for p in read_hats_info(written).partitions}
    assert (main.catalog_info.ra_column, main.catalog_info.dec_column) == ("ra", "dec")
    margin = hats.read_hats(read_hats_info(written).margin)
    assert margin.catalog_info.margin_threshold == MARGIN
    assert is_valid_catalog(written / "stars", strict=True)


def test_a_hats_import_catalogue_is_read_and_queried_as_it_is(source: pa.Table, tmp_path: Path, job_id: str) -> None:
    pytest.importorskip("hats_import")
    from dask.distributed import Client
    from hats_import.catalog.arguments import ImportArguments
    from hats_import.pipeline import pipeline_with_client

    pq.write_table(source, tmp_path / "input.parquet")
    (tmp_path / "science" / "ext").mkdir(parents=True)
    args = ImportArguments(output_artifact_name="objects", input_file_list=[str(tmp_path / "input.parquet")],
                           file_reader="parquet", ra_column="ra", dec_column="dec", pixel_threshold=3000,
                           highest_healpix_order=6, output_path=str(tmp_path / "science" / "ext"),
                           tmp_dir=str(tmp_path / "tmp"), progress_bar=False)
    with Client(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as client:
        pipeline_with_client(args, client)
    info = read_hats_info(tmp_path / "science" / "ext" / "objects")
    assert info.rows == source.num_rows and (info.ra, info.dec) == ("ra", "dec") and info.partitions
    engine = DuckDBEngine(tmp_path / "science", tmp_path / "mydb", threads=1)
    assert engine.store.tables("ext") == ["objects"]
    got = pa.Table.from_batches(list(engine.stream("SELECT id FROM ext.objects ORDER BY id", timeout_s=60, job_id=job_id)))
    assert got.column("id").to_pylist() == source.column("id").to_pylist()
    pixel = info.partitions[0]
    (batch,) = engine.stream(f'SELECT count(*) AS n, min("{HEALPIX_COLUMN}" >> {2 * (29 - pixel.order)}) AS p FROM ext.objects '
                             f'WHERE "Norder" = {pixel.order} AND "Npix" = {pixel.pixel}', timeout_s=60, job_id=job_id + "p")
    assert batch.to_pylist()[0]["p"] == pixel.pixel


def test_progress_counts_the_three_stages_as_one_bar_in_rows(source: pa.Table, tmp_path: Path) -> None:
    reports: list[tuple[int, int | None]] = []
    write_hats(batches(source), source.schema, tmp_path / "stars", ra="ra", dec="dec", settings=SETTINGS,
               progress=hats_module.progress_in_rows(lambda done, total: reports.append((done, total)), source.num_rows))
    done = [d for d, _ in reports]
    assert done == sorted(done) and reports[-1] == (source.num_rows, source.num_rows)
    assert {total for _, total in reports} == {source.num_rows}
