"""Parquet with the VOParquet metadata, read back by pyarrow and astropy."""

from __future__ import annotations

import io
import warnings

import pyarrow as pa
import pyarrow.parquet as pq
from astropy.io import votable
from astropy.table import Table
from lxml import etree

from apps.adql import ColumnInfo as Column
from apps.formats import ResultInfo

from . import sample
from .conftest import render


def test_it_writes_the_rows_and_nulls() -> None:
    t = pq.read_table(io.BytesIO(render("parquet")))
    assert t.column_names == [c.name for c in sample.COLUMNS]
    assert t["id"].to_pylist() == [1, 2, None, 2**40, 5]
    assert t["name"].to_pylist()[:3] == ["M 31", "a <b> & 'c' \"d\"", None]
    assert t["variable"].to_pylist() == [True, False, None, True, False]
    assert t["pos"].to_pylist()[2] is None and t["pos"].to_pylist()[0] == [10.5, 41.25]
    assert t["obs_time"].to_pylist()[0] == "2020-01-02T03:04:05.000000"


def test_it_embeds_the_votable_metadata_as_voparquet_says(xsd: etree.XMLSchema) -> None:
    meta = pq.ParquetFile(io.BytesIO(render("parquet", info=ResultInfo(query="SELECT * FROM cat.src")))).metadata.metadata
    assert meta[b"IVOA.VOTable-Parquet.version"] == b"1.0"
    content = meta[b"IVOA.VOTable-Parquet.content"]
    assert xsd.validate(etree.fromstring(content)), xsd.error_log
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = votable.parse(io.BytesIO(content), verify="exception").get_first_table()
    assert b"<DATA>" not in content
    fields = {f.name: f for f in table.fields}
    assert [f.name for f in table.fields] == [c.name for c in sample.COLUMNS]
    assert str(fields["ra"].unit) == "deg" and fields["ra"].ucd == "pos.eq.ra;meta.main"
    assert fields["ra"].description == "Right ascension (ICRS)" and fields["pos"].xtype == "point"


def test_astropy_reads_it_as_a_voparquet_table(tmp_path: object) -> None:
    path = f"{tmp_path}/result.parquet"
    # astropy's reader fails on null strings (len(None)), so this checks numeric columns only.
    with open(path, "wb") as f:
        f.write(render("parquet", [b.select(["id", "ra", "mag"]) for b in sample.batches()], [sample.COLUMNS[i] for i in (0, 3, 4)]))
    t = Table.read(path, format="parquet.votable")
    assert str(t["ra"].unit) == "deg" and t["ra"].description == "Right ascension (ICRS)"
    assert [t["id"][i] for i in (0, 1, 3, 4)] == [1, 2, 2**40, 5] and t["mag"][0] == 12.25


def test_it_writes_row_groups_as_the_batches_come() -> None:
    document = render("parquet", sample.big_batches(600_000), [])
    f = pq.ParquetFile(io.BytesIO(document))
    assert f.metadata.num_rows == 600_000 and f.metadata.num_row_groups >= 2


def test_it_makes_repeated_column_names_unique() -> None:
    data = [pa.RecordBatch.from_arrays([pa.array([1, 2]), pa.array([3, 4])], names=["x", "x"])]
    columns = [Column("x", "INTEGER", unit="m"), Column("x", "INTEGER", unit="s")]
    document = render("parquet", data, columns)
    t = pq.read_table(io.BytesIO(document))
    assert t.column_names == ["x", "x_2"] and t["x_2"].to_pylist() == [3, 4]
    content = pq.ParquetFile(io.BytesIO(document)).metadata.metadata[b"IVOA.VOTable-Parquet.content"]
    fields = votable.parse(io.BytesIO(content)).get_first_table().fields
    assert [(f.name, str(f.unit)) for f in fields] == [("x", "m"), ("x_2", "s")]
    assert Table.read(io.BytesIO(render("fits", data, columns)), format="fits").colnames == ["x", "x_2"]
