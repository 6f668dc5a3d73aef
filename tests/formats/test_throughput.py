"""Writer output stays byte for byte what it was while the writers get faster, and TAP sync keeps up with the engine.

The digests below were taken from the writers before the throughput work (issue 13); a change that alters
any byte of any format on these tricky values fails here. If a pinned library (pyarrow, astropy) changes the
bytes on purpose, print the new digests with ``python -m tests.formats.test_throughput`` and say why in the commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from apps.adql import ColumnInfo as Column
from apps.formats import FORMATS, ResultInfo, write

from .sample import COLUMNS as SAMPLE_COLUMNS
from .sample import batches as sample_batches

TRICKY_COLUMNS = [
    Column("id", "BIGINT"), Column("flux", "DOUBLE", unit="mJy"), Column("mag", "REAL"), Column("label", "VARCHAR"),
    Column("ok", "BOOLEAN"), Column("seen", "TIMESTAMP"), Column("area", "CIRCLE", unit="deg"), Column("raw", "VARBINARY"),
    Column("flag", "SMALLINT"), Column("note", "NVARCHAR"),
]


def tricky_batches() -> list[pa.RecordBatch]:
    """NULLs in every column, NaN and infinities, quotes, separators, line breaks, XML specials, non-ASCII text
    (also arriving only in a later batch of a ``char`` column), zoned timestamps, byte strings, circles."""
    utc = dt.UTC
    first = pa.record_batch({
        "id": pa.array([1, None, -(2**63) + 1, 2**53 + 1], pa.int64()),
        "flux": pa.array([1.5, float("nan"), float("inf"), None]),
        "mag": pa.array([-float("inf"), 1e-7, None, 3.4028235e38], pa.float32()),
        "label": pa.array(['a,"b"', "line\nbreak\r\n", None, "tab\tand <x> & y"]),
        "ok": pa.array([True, None, False, True]),
        "seen": pa.array([dt.datetime(2020, 1, 1, 0, 0, 0, 1, tzinfo=utc), None, dt.datetime(1970, 1, 1, tzinfo=utc),
                          dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=utc)], pa.timestamp("us", tz="UTC")),
        "area": pa.array([[1.0, 2.0, 0.5], None, [359.9, -89.9, 1e-9], [0.0, 0.0, 0.0]], pa.list_(pa.float64())),
        "raw": pa.array([b"\x00\xff", None, b"", b"abc"], pa.binary()),
        "flag": pa.array([None, 0, -32768, 32767], pa.int16()),
        "note": pa.array(["Ωmega", "日本語", None, "emoji \U0001f600"]),
    })
    later = pa.record_batch({
        "id": pa.array([5, 6], pa.int64()), "flux": pa.array([-0.0, 1e300]), "mag": pa.array([None, 0.1], pa.float32()),
        "label": pa.array(["café", ""]), "ok": pa.array([None, False]),
        "seen": pa.array([None, dt.datetime(2000, 2, 29, 12, tzinfo=utc)], pa.timestamp("us", tz="UTC")),
        "area": pa.array([None, [1.0, 1.0, 1.0]], pa.list_(pa.float64())), "raw": pa.array([b"\x01", None], pa.binary()),
        "flag": pa.array([1, None], pa.int16()), "note": pa.array([None, "ok"]),
    })
    return [first, later]


def wide_batches() -> Iterator[pa.RecordBatch]:
    """Enough rows (150k, three batches) that chunks are cut and joined, with a few NULLs."""
    rng = np.random.default_rng(13)
    for start in (0, 65536, 131072):
        n = min(65536, 150_000 - start)
        yield pa.record_batch({
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "flux": pa.array(rng.normal(0, 1e3, n), mask=rng.random(n) < 0.01),
            "mag": pa.array(rng.random(n).astype(np.float32) * 20),
            "label": pa.array([f"src {i}" for i in range(start, start + n)]),
            "ok": pa.array(rng.random(n) > 0.5, mask=rng.random(n) < 0.01),
            "seen": pa.array((np.int64(1_600_000_000_000_000) + np.arange(n, dtype=np.int64) * 1_000_003), pa.timestamp("us")),
            "area": pa.array([[float(i % 360), 1.0, 0.25] for i in range(n)], pa.list_(pa.float64())),
            "raw": pa.array([bytes([i % 256]) for i in range(n)], pa.binary()),
            "flag": pa.array(rng.integers(-5, 5, n, dtype=np.int16)),
            "note": pa.array(["ü"] * n),
        })


CASES = {
    "sample": (SAMPLE_COLUMNS, sample_batches),
    "tricky": (TRICKY_COLUMNS, tricky_batches),
    "wide": (TRICKY_COLUMNS, lambda: list(wide_batches())),
}


def digest(key: str, case: str) -> str:
    columns, make = CASES[case]
    info = ResultInfo(query="SELECT * FROM t", total_rows=sum(b.num_rows for b in make()))
    out = hashlib.sha256()
    for chunk in write(FORMATS[key], iter(make()), columns, info):
        out.update(chunk)
    return out.hexdigest()


EXPECTED: dict[tuple[str, str], str] = {
    ("csv", "sample"): "b825f6531db81461d86e4637243ee4745d6b80098c0800f6601bd8386b63953e",
    ("ecsv", "sample"): "ddabecc22911e9a2943a95d5be1bdd3807288fd329afbacce59af77a94936c5a",
    ("fits", "sample"): "34f60c5f54d54cb5fac3e83dd032915fd8b2085612e4c5c0c666227be166bad1",
    ("json", "sample"): "7c9f59db0d630f492eb422fe4bc982036ff9bca0bbd591340a902355ee9041fd",
    ("parquet", "sample"): "af0b5af095fd7da9a68cace12660eed5467df410be4970899f168d06d720c27c",
    ("tsv", "sample"): "633439754e98e2107f3cdc4958cbc5ec112935721a03543b91dc35852fb76472",
    ("votable", "sample"): "50542a04ec077a6e4967c4377529ac3614a34c6215105468f634360a8e880448",
    ("votable-b", "sample"): "9cebbcf2f8c62331d81f666dbe5c0d524a9eac07652d41ed8c7bbecf4f1b042c",
    ("votable-b2", "sample"): "50542a04ec077a6e4967c4377529ac3614a34c6215105468f634360a8e880448",
    ("votable-td", "sample"): "a375020599779927cffcc447fc10d96f4160ce6688cd5f5c579c3525e9992941",
    ("csv", "tricky"): "932d9b641fefdbcc3b426a7436fbf71734e274930a4e818a197189d782c2e433",
    ("ecsv", "tricky"): "9a0264ebca7389e2fba96e0f1d9f30cee440ac0b268d392e59bfac1344b60c05",
    ("fits", "tricky"): "b4bec206c42c78938477cecf6b3645b2fcac8ba93fb1e6368746534e770905b8",
    ("json", "tricky"): "be82796cf48699d719cd50b5c9ba12173792086ea792b364f77364942e27f78f",
    ("parquet", "tricky"): "590d31dbd376aa613a9bbd27dec53a69ae523aed11636dce9ccc49517278f59a",
    ("tsv", "tricky"): "c8797e41e5ea9416d041e1cf14448f0bd04f0a8685317fe216583c688f8f53ba",
    ("votable", "tricky"): "3f1de78b1ddef48bb63059bf96f8f8a390616c01b6b2223789a0dc7d7388a361",
    ("votable-b", "tricky"): "8710fc336e5ff443c8c59b6bfd44a47905167ba0e1c00b06181a9ec078479b4c",
    ("votable-b2", "tricky"): "3f1de78b1ddef48bb63059bf96f8f8a390616c01b6b2223789a0dc7d7388a361",
    ("votable-td", "tricky"): "eaf46cd4daa0d95ca33755c066b472b9b6d22e5dc80999e1c34ea0da7a2aa39d",
    ("csv", "wide"): "f145f5ec471304dedda91cbe58c00a24e1b0caad9e0954d39ef48d12b10a0982",
    ("ecsv", "wide"): "7e6660784a5f2f6e4595cd46c9223699274d816ca9827f975018e7a90a6e758d",
    ("fits", "wide"): "5c3b261a5e398c75563ca0d8a45337d41d9ef8e4de6e70a8cc2eb39c84da1ec1",
    ("json", "wide"): "ad052e910ea228dd16503a34b931ee71c14494032b1b927995505d686ab3c1e0",
    ("parquet", "wide"): "67c7f8a1dd6a2b6cfd925aebc17ff1403109be1968e64010a00b5a215588bd7a",
    ("tsv", "wide"): "8cfd22e05a0b4270c02d61b7c25cf4243e38c4aa0f145321b4deb7f7a6ee0119",
    ("votable", "wide"): "74810fbbe1c337d1a71db9410ea40b2cdea97e519f672733355e794a3d0798af",
    ("votable-b", "wide"): "f489cc6bdffb56a2d65577b7cf2b52d4bc07ef4a6e938e42b1ced90bb876ce94",
    ("votable-b2", "wide"): "74810fbbe1c337d1a71db9410ea40b2cdea97e519f672733355e794a3d0798af",
    ("votable-td", "wide"): "2be18907b3bbd13adeb69e724cb0a25156cb46eb8e9df7f2742280c7b02c6644",
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("key", sorted(FORMATS))
def test_it_writes_the_same_bytes_as_before(key: str, case: str) -> None:
    assert digest(key, case) == EXPECTED[(key, case)]


if __name__ == "__main__":  # the digests of today's writers, to paste above
    for case_name in sorted(CASES):
        for fmt in sorted(FORMATS):
            print(f'    ("{fmt}", "{case_name}"): "{digest(fmt, case_name)}",')


RATIO_ROWS = 200_000


def test_it_streams_csv_through_tap_sync_at_least_half_as_fast_as_duckdb_writes_csv(db: None, settings: object,
                                                                                   tmp_path: Path) -> None:
    """Ours and DuckDB's own CSV writer on the same 200k x 10 Parquet table, in turns, the best of each (noisy
    machines: the bar is half, the benchmark's goal is 0.8)."""
    from django.test import Client

    from apps.query import bench
    from workers.engines import reset_engines

    settings.SCIENCE_DIR, settings.MYDB_DIR = tmp_path / "science", tmp_path / "mydb"  # type: ignore[attr-defined]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",  # type: ignore[attr-defined]
                                   "LOCATION": f"throughput-{uuid.uuid4().hex}"}}
    parquet = bench._duckdb_download_table(RATIO_ROWS, tmp_path)
    reset_engines()
    try:
        table = bench._publish_for_bench("duckdb", bench.DUCKDB_SCHEMA, "download")
        client = Client()
        bench._tap_sync_seconds(client, table, "csv", RATIO_ROWS), bench._duckdb_copy_seconds(parquet, tmp_path / "raw.csv")
        turns = [(bench._tap_sync_seconds(client, table, "csv", RATIO_ROWS), bench._duckdb_copy_seconds(parquet, tmp_path / "raw.csv"))
                 for _ in range(5)]
        # The fastest of five turns each: the run least disturbed by the rest of the machine (the suite starts the
        # Spark cluster's JVMs beside this test; a median of three read 0.40 once while they warmed up).
        ours_s, raw_s = min(t[0] for t in turns), min(t[1] for t in turns)
    finally:
        reset_engines()
    assert raw_s / ours_s >= 0.5, f"TAP sync CSV {RATIO_ROWS / ours_s:,.0f} rows/s, DuckDB COPY {RATIO_ROWS / raw_s:,.0f} rows/s"
