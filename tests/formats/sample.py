"""A small result with every kind of column, nulls in each, as an engine would hand it over."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from apps.adql import ColumnInfo as Column

COLUMNS = [
    Column("id", "BIGINT", ucd="meta.id;meta.main", description="Source identifier"),
    Column("n_obs", "INTEGER", description="Number of observations"),
    Column("quality", "SMALLINT"),
    Column("ra", "DOUBLE", unit="deg", ucd="pos.eq.ra;meta.main", description="Right ascension (ICRS)", utype="stc:AstroCoords.Position2D.Value2.C1"),
    Column("mag", "REAL", unit="mag", ucd="phot.mag;em.opt.V", description="V magnitude & <flags>"),
    Column("name", "VARCHAR", description="Designation"),
    Column("band", "CHAR", arraysize="3"),
    Column("variable", "BOOLEAN"),
    Column("obs_time", "TIMESTAMP", description="Time of observation"),
    Column("pos", "POINT", unit="deg"),
    Column("footprint", "POLYGON", unit="deg"),
]

IDS = [1, 2, None, 2**40, 5]
N_OBS = [10, None, 30, -(2**31) + 1, 0]
QUALITY = [1, 2, None, -5, 32767]
RA = [10.5, None, float("nan"), 359.999999999, 0.1]
MAG = [12.25, 13.5, None, float("nan"), -1.5]
NAMES = ["M 31", "a <b> & 'c' \"d\"", None, "", "tab\there"]
BANDS = ["V  ", "R", None, "Ks", "g"]
VARIABLE = [True, False, None, True, False]
TIMES = [dt.datetime(2020, 1, 2, 3, 4, 5), dt.datetime(2021, 6, 30, 23, 59, 59, 500000), None,
         dt.datetime(1999, 12, 31), dt.datetime(2000, 1, 1, 12)]
POS = [[10.5, 41.25], [0.0, -90.0], None, [180.0, 0.0], [1.0, 2.0]]
POLYS = [[0.0, 0.0, 1.0, 0.0, 1.0, 1.0], None, [10.0, 10.0, 11.0, 10.0, 11.0, 11.0, 10.0, 11.0], [0.0, 0.0, 1.0, 0.0, 0.5, 1.0], []]

SCHEMA = pa.schema([
    ("id", pa.int64()), ("n_obs", pa.int32()), ("quality", pa.int16()), ("ra", pa.float64()), ("mag", pa.float32()),
    ("name", pa.string()), ("band", pa.string()), ("variable", pa.bool_()), ("obs_time", pa.timestamp("us")),
    ("pos", pa.list_(pa.float64(), 2)), ("footprint", pa.list_(pa.float64())),
])


def batches(split: int = 3) -> list[pa.RecordBatch]:
    """The five rows in two batches, so that every writer crosses a batch boundary."""
    table = pa.table([IDS, N_OBS, QUALITY, RA, MAG, NAMES, BANDS, VARIABLE, TIMES, POS, POLYS], schema=SCHEMA)
    return table.slice(0, split).to_batches() + table.slice(split).to_batches()


def big_batches(rows: int, batch_rows: int = 65536) -> Iterator[pa.RecordBatch]:
    rng = np.random.default_rng(42)
    for start in range(0, rows, batch_rows):
        n = min(batch_rows, rows - start)
        yield pa.record_batch({
            "id": pa.array(np.arange(start, start + n, dtype=np.int64)),
            "ra": pa.array(rng.random(n) * 360), "dec": pa.array(rng.random(n) * 180 - 90),
            "mag": pa.array(rng.random(n).astype(np.float32) * 20),
            "n_obs": pa.array(rng.integers(0, 1000, n, dtype=np.int32)),
            "flag": pa.array(rng.random(n) > 0.5),
            "name": pa.array(np.char.add("src", (np.arange(start, start + n) % 100000).astype(str)).astype(object)),
            "z": pa.array(rng.random(n)), "err": pa.array(rng.random(n)), "quality": pa.array(rng.integers(0, 5, n, dtype=np.int16)),
        })
